//! `check-access`: would a GitHub Actions job with these claims be allowed to assume the role, and why.
use std::collections::BTreeMap;

use crate::audit::{self, Token};
use crate::cloud::aws::Aws;
use crate::cloud::github::{GitHub, RepoInfo, SubjectForm};
use crate::config::{OutputFormat, Presentation, Settings, TrustScopes};
use crate::error::{Error, ExitStatus, Result};
use crate::observe::{FirstRound, first_round};
use crate::policy;
use crate::resources::role;
use crate::spec::{self, AUDIENCE, Arns, RepoIdentity};
use crate::ui::access::{self, AccessReport, SubjectResult};

/// The job being asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    Ref(String),
    Environment(String),
    PullRequest,
}

impl Job {
    /// `--environment` wins (GitHub puts it in `sub` whenever a job runs in one); then a
    /// `pull_request` event; then the ref.
    pub fn from_flags(
        git_ref: Option<String>,
        environments: &[String],
        event: Option<String>,
    ) -> Result<Job> {
        if environments.len() > 1 {
            return Err(Error::Usage("check-access takes one --environment".into()));
        }
        if let Some(e) = environments.first() {
            return Ok(Job::Environment(e.clone()));
        }
        if event.as_deref() == Some("pull_request") {
            return Ok(Job::PullRequest);
        }
        match git_ref {
            Some(r) if r.starts_with("refs/heads/") || r.starts_with("refs/tags/") => {
                // A job runs on one concrete ref: git's rules, no wildcard, checked before any call.
                let short = r
                    .strip_prefix("refs/heads/")
                    .or_else(|| r.strip_prefix("refs/tags/"))
                    .unwrap_or(&r);
                crate::config::check_branch_flag("--ref", short)?;
                Ok(Job::Ref(r))
            }
            Some(r) => Err(Error::Usage(format!(
                "--ref {r:?} is not a full ref: use refs/heads/BRANCH or refs/tags/TAG"
            ))),
            None => Err(Error::Usage(
                "say which job to check: --ref refs/heads/BRANCH, --ref refs/tags/TAG, --environment NAME or --event pull_request".into(),
            )),
        }
    }

    fn scopes(&self) -> TrustScopes {
        let mut s = TrustScopes::default();
        match self {
            Job::Ref(r) => match (r.strip_prefix("refs/heads/"), r.strip_prefix("refs/tags/")) {
                (Some(b), _) => s.branches.push(b.to_string()),
                (_, Some(t)) => s.tags.push(t.to_string()),
                _ => {}
            },
            Job::Environment(e) => s.environments.push(e.clone()),
            Job::PullRequest => {}
        }
        s
    }
}

/// The subjects GitHub may put in the job's token: both forms with the default template.
fn job_subjects(
    repo: &RepoIdentity,
    job: &Job,
    template: Option<&[String]>,
) -> Result<Vec<String>> {
    match (job, template) {
        (Job::PullRequest, None) => {
            let mut subs = vec![format!("repo:{}/{}:pull_request", repo.owner, repo.name)];
            if let Some((o, r)) = repo.ids {
                subs.push(format!("repo:{}@{o}/{}@{r}:pull_request", repo.owner, repo.name));
            }
            Ok(subs)
        }
        (Job::PullRequest, Some(_)) => Err(Error::Usage(
            "check-access --event pull_request is not supported for repositories with a custom OIDC subject template".into(),
        )),
        (job, template) => spec::subjects(repo, &job.scopes(), template).map_err(Error::Usage),
    }
}

/// The claims besides `sub` that GitHub puts in the job's token and AWS STS evaluates: the
/// repository and owner with their IDs, the audience, the ref, the environment, the event and
/// the workflow file (the one the trust pins, else the `workflow` command's).
fn job_claims(repo: &RepoInfo, job: &Job, workflow: &str) -> BTreeMap<&'static str, String> {
    let git_ref = match job {
        Job::Ref(r) => r.clone(),
        // A job in an environment runs on whatever ref started it; the default branch stands in.
        Job::Environment(_) => format!("refs/heads/{}", repo.default_branch),
        Job::PullRequest => "refs/pull/1/merge".to_string(),
    };
    let mut claims = BTreeMap::from([
        ("aud", AUDIENCE.to_string()),
        ("repository", format!("{}/{}", repo.owner, repo.name)),
        ("repository_id", repo.repo_id.to_string()),
        ("repository_owner", repo.owner.clone()),
        ("repository_owner_id", repo.owner_id.to_string()),
        (
            "job_workflow_ref",
            format!("{}/{}/{workflow}@{git_ref}", repo.owner, repo.name),
        ),
        (
            "event_name",
            match job {
                Job::PullRequest => "pull_request",
                _ => "push",
            }
            .to_string(),
        ),
        ("ref", git_ref),
    ]);
    if let Job::Environment(e) = job {
        claims.insert("environment", e.clone());
    }
    claims
}

pub async fn check_access(
    settings: &Settings,
    presentation: Presentation,
    job: Job,
) -> Result<ExitStatus> {
    let github = GitHub::connect()?;
    let aws = Aws::connect(settings).await?;
    let FirstRound {
        identity,
        repo,
        subject,
        reads: live,
    } = first_round(
        &aws,
        &github,
        settings,
        role::observe(&aws, &settings.role_name),
    )
    .await?;
    let Some(live) = live else {
        return Err(Error::Usage(format!(
            "role {} does not exist in this account: nothing can assume it. Run `skyecr-bootstrap apply` first.",
            settings.role_name
        )));
    };
    let doc = policy::parse_policy(&live.trust).map_err(|e| {
        Error::Usage(format!(
            "the trust policy of role {} cannot be read: {e}",
            settings.role_name
        ))
    })?;
    let identity_of_repo = RepoIdentity {
        owner: repo.owner.clone(),
        name: repo.name.clone(),
        ids: Some((repo.owner_id, repo.repo_id)),
    };
    let template = subject.template.as_deref();
    let subjects = job_subjects(&identity_of_repo, &job, template)?;
    let arns = Arns {
        partition: &identity.partition,
        account_id: &identity.account_id,
        region: &aws.region,
    };
    let issuer = settings.issuer.host_path();
    let provider_arn = arns.iam("oidc-provider", issuer);
    let sub_key = format!("{issuer}:sub");
    let workflow = settings
        .pin_workflow
        .as_deref()
        .unwrap_or(crate::workflow::DEFAULT_WORKFLOW_PATH);
    let claims = job_claims(&repo, &job, workflow);
    let results: Vec<SubjectResult> = subjects
        .iter()
        .map(|sub| {
            let mut token_claims: BTreeMap<String, String> = claims
                .iter()
                .map(|(k, v)| (format!("{issuer}:{k}"), v.clone()))
                .collect();
            token_claims.insert(sub_key.clone(), sub.clone());
            let token = Token {
                provider_arn: provider_arn.clone(),
                claims: token_claims,
            };
            let decision = audit::evaluate(&doc, &token);
            let closest_allowed = if decision.allowed {
                None
            } else {
                audit::closest_allowed_subject(&doc, &token, &sub_key)
            };
            SubjectResult {
                sub: sub.clone(),
                allowed: decision.allowed,
                statement: decision.statement,
                reason: decision.reason,
                closest_allowed,
            }
        })
        .collect();
    // GitHub sends one form per repository, and says which; when it does not say, the job
    // must pass in every form.
    let deciding: Vec<&SubjectResult> = match (template, subject.form) {
        (None, Some(SubjectForm::Immutable)) => {
            results.iter().filter(|r| r.sub.contains('@')).collect()
        }
        (None, Some(SubjectForm::Name)) => {
            results.iter().filter(|r| !r.sub.contains('@')).collect()
        }
        _ => results.iter().collect(),
    };
    let allowed = !deciding.is_empty() && deciding.iter().all(|r| r.allowed);
    let report = AccessReport {
        allowed,
        role: settings.role_name.clone(),
        repository: format!("{}/{}", repo.owner, repo.name),
        subjects: results,
    };
    match presentation.output {
        OutputFormat::Json => println!("{}", access::json(&report)),
        _ => print!("{}", access::text(&report)),
    }
    Ok(if allowed {
        ExitStatus::Success
    } else {
        ExitStatus::Attention
    })
}
