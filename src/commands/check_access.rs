//! `check-access`: would a GitHub Actions job with these claims be allowed to assume the role, and why.
use std::collections::{BTreeMap, BTreeSet};

use crate::audit::{self, Known, Token, Verdict};
use crate::cloud::aws::Aws;
use crate::cloud::github::{GitHub, RepoInfo, SubjectForm};
use crate::config::{OutputFormat, Presentation, Settings, TrustScopes};
use crate::error::{Error, ExitStatus, Result};
use crate::observe::{FirstRound, first_round};
use crate::policy;
use crate::resources::role;
use crate::spec::{self, AUDIENCE, Arns, RepoIdentity};
use crate::ui::access::{self, AccessReport, SubjectResult};
use crate::ui::out;

/// The job being asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// A full ref (`refs/heads/…` or `refs/tags/…`) and `--ref` as it was given.
    Ref {
        full: String,
        given: String,
    },
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
        let Some(given) = git_ref else {
            return Err(Error::Usage(
                "say which job to check: --ref BRANCH (or refs/heads/BRANCH), --ref tags/TAG (or refs/tags/TAG), --environment NAME or --event pull_request".into(),
            ));
        };
        let full = full_ref(&given)?;
        // A job runs on one concrete ref: git's rules, no wildcard, checked before any call.
        let short = full
            .strip_prefix("refs/heads/")
            .or_else(|| full.strip_prefix("refs/tags/"))
            .unwrap_or(&full);
        crate::config::check_branch_flag("--ref", short)?;
        Ok(Job::Ref { full, given })
    }

    /// How a short `--ref` was read, for the answer to say.
    pub fn read_as(&self) -> Option<String> {
        match self {
            Job::Ref { full, given } if full != given => {
                let mut note = format!("--ref {given} read as {full}");
                if !given.starts_with("heads/") && full.starts_with("refs/heads/") {
                    note.push_str(&format!("; for a tag give tags/{given}"));
                }
                Some(note)
            }
            _ => None,
        }
    }

    fn scopes(&self) -> TrustScopes {
        let mut s = TrustScopes::default();
        match self {
            Job::Ref { full: r, .. } => {
                match (r.strip_prefix("refs/heads/"), r.strip_prefix("refs/tags/")) {
                    (Some(b), _) => s.branches.push(b.to_string()),
                    (_, Some(t)) => s.tags.push(t.to_string()),
                    _ => {}
                }
            }
            Job::Environment(e) => s.environments.push(e.clone()),
            Job::PullRequest => {}
        }
        s
    }
}

/// A ref as git spells it in short: `NAME` and `heads/NAME` are branches, `tags/NAME` a tag
/// (git's own reading of `tags/…` and `heads/…`); the full `refs/heads/…` and `refs/tags/…`
/// as they are. Other namespaces (`refs/pull/…`) never start a push or tag job.
fn full_ref(given: &str) -> Result<String> {
    if given.starts_with("refs/heads/") || given.starts_with("refs/tags/") {
        return Ok(given.to_string());
    }
    if given.starts_with("refs/") {
        return Err(Error::Usage(format!(
            "--ref {given:?} is neither a branch nor a tag: use BRANCH, refs/heads/BRANCH, tags/TAG or refs/tags/TAG"
        )));
    }
    Ok(match given.strip_prefix("tags/") {
        Some(tag) => format!("refs/tags/{tag}"),
        None => format!(
            "refs/heads/{}",
            given.strip_prefix("heads/").unwrap_or(given)
        ),
    })
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
        Job::Ref { full, .. } => full.clone(),
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

/// The `apply` that would let the job in: the trust's scopes as they are, and the job's own
/// (every scope is listed: a list on the command line replaces the saved one).
fn apply_to_allow(settings: &Settings, job: &Job) -> String {
    let mut scopes = settings.scopes.clone();
    match job {
        Job::Ref { full: r, .. } => match (r.strip_prefix("refs/heads/"), r.strip_prefix("refs/tags/")) {
            (Some(b), _) => scopes.branches.push(b.to_string()),
            (_, Some(t)) => scopes.tags.push(t.to_string()),
            _ => {}
        },
        Job::Environment(e) => scopes.environments.push(e.clone()),
        // Pull requests come from forks too: trusting them is not a fix to suggest.
        Job::PullRequest => return "pull_request jobs are not trusted on purpose: build and push from a branch or tag instead".into(),
    }
    let mut words = vec![
        "skyecr-bootstrap apply --github-repo".to_string(),
        format!("{}/{}", settings.github.owner, settings.github.name),
    ];
    for (flag, values) in [
        ("--branch", &scopes.branches),
        ("--tag", &scopes.tags),
        ("--environment", &scopes.environments),
    ] {
        let mut seen: Vec<&String> = Vec::new();
        for v in values {
            if seen.contains(&v) {
                continue;
            }
            seen.push(v);
            words.push(flag.to_string());
            words.push(if v.contains(['*', ' ', '?']) {
                format!("'{v}'")
            } else {
                v.clone()
            });
        }
    }
    words.join(" ")
}

/// Where the token's claims come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claims {
    /// `--ref`/`--environment`/`--event`: the claims GitHub sends for such a job, in both
    /// subject forms.
    Job(Job),
    /// `--sub SUBJECT`: that subject, with the repository's own claims.
    Subject(String),
    /// `--claims FILE`: a whole token's claims, as GitHub's OIDC debugger prints them.
    Token(BTreeMap<String, String>),
}

impl Claims {
    /// A claims file's JSON object (`-` reads stdin); values are the token's strings (numbers
    /// and booleans as their text, as IAM compares them).
    pub fn from_file(path: &std::path::Path) -> Result<Claims> {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        }
        .map_err(|e| Error::Usage(format!("cannot read --claims {}: {e}", path.display())))?;
        let refuse = |why: String| {
            Error::Usage(format!(
                "--claims {}: {why}. Give the token's claims as one JSON object, e.g. {{\"sub\": \"repo:acme/app:ref:refs/heads/main\", \"aud\": \"sts.amazonaws.com\"}}",
                path.display()
            ))
        };
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&text) else {
            return Err(refuse("is not a JSON object".into()));
        };
        let mut claims = BTreeMap::new();
        for (key, value) in map {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(refuse(format!(
                        "claim {key:?} is {other}, not one value (GitHub's claims are single strings)"
                    )));
                }
            };
            claims.insert(key, text);
        }
        Ok(Claims::Token(claims))
    }
}

/// The claims of the repository itself, which every job of it carries.
fn repository_claims(repo: &RepoInfo) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("aud", AUDIENCE.to_string()),
        ("repository", format!("{}/{}", repo.owner, repo.name)),
        ("repository_id", repo.repo_id.to_string()),
        ("repository_owner", repo.owner.clone()),
        ("repository_owner_id", repo.owner_id.to_string()),
    ])
}

/// What the tokens are built from besides the claims asked about.
struct Asked<'a> {
    repo: &'a RepoInfo,
    identity_of_repo: &'a RepoIdentity,
    template: Option<&'a [String]>,
    workflow: &'a str,
    issuer: &'a str,
    provider_arn: &'a str,
    session_name: Option<&'a str>,
}

/// The tokens to evaluate: one per subject form GitHub may send (or the one given), with what
/// is known about the keys they leave out.
fn tokens(claims: &Claims, asked: &Asked<'_>) -> Result<Vec<Token>> {
    let Asked {
        repo,
        identity_of_repo,
        template,
        workflow,
        issuer,
        provider_arn,
        session_name,
    } = *asked;
    let full = |short: &str| {
        if short.contains(':') {
            short.to_string()
        } else {
            format!("{issuer}:{short}")
        }
    };
    let token = |claims: BTreeMap<String, String>, known: Known| {
        let mut claims = claims;
        if let Some(name) = session_name {
            claims.insert("sts:RoleSessionName".into(), name.to_string());
        }
        Token {
            provider_arn: provider_arn.to_string(),
            claims,
            known,
        }
    };
    let tokens = match claims {
        Claims::Token(given) => {
            let claims = given.iter().map(|(k, v)| (full(k), v.clone())).collect();
            vec![token(claims, Known::Issuer(issuer.to_string()))]
        }
        Claims::Subject(sub) => {
            let mut claims: BTreeMap<String, String> = repository_claims(repo)
                .into_iter()
                .map(|(k, v)| (full(k), v))
                .collect();
            claims.insert(full("sub"), sub.clone());
            vec![token(claims, Known::Keys(BTreeSet::new()))]
        }
        Claims::Job(job) => {
            let base = job_claims(repo, job, workflow);
            // GitHub leaves `environment` out of a job that runs in none.
            let absent = BTreeSet::from([full("environment")]);
            job_subjects(identity_of_repo, job, template)?
                .into_iter()
                .map(|sub| {
                    let mut claims: BTreeMap<String, String> =
                        base.iter().map(|(k, v)| (full(k), v.clone())).collect();
                    claims.insert(full("sub"), sub);
                    token(claims, Known::Keys(absent.clone()))
                })
                .collect()
        }
    };
    Ok(tokens)
}

pub async fn check_access(
    settings: &Settings,
    presentation: Presentation,
    claims: Claims,
    session_name: Option<String>,
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
    let doc = policy::parse_policy(&live.trust).map_err(|e| Error::Unreadable {
        action: "iam:GetRole",
        what: format!("the trust policy of role {}", settings.role_name),
        reason: e.to_string(),
    })?;
    let identity_of_repo = RepoIdentity {
        owner: repo.owner.clone(),
        name: repo.name.clone(),
        ids: Some((repo.owner_id, repo.repo_id)),
    };
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
    let template = subject.template.as_deref();
    let asked = Asked {
        repo: &repo,
        identity_of_repo: &identity_of_repo,
        template,
        workflow,
        issuer,
        provider_arn: &provider_arn,
        session_name: session_name.as_deref(),
    };
    let tokens = tokens(&claims, &asked)?;
    let results: Vec<SubjectResult> = tokens
        .iter()
        .map(|token| {
            let decision = audit::evaluate(&doc, token);
            let closest_allowed = match decision.verdict {
                Verdict::Denied => audit::closest_allowed_subject(&doc, token, &sub_key),
                _ => None,
            };
            SubjectResult {
                sub: token.claims.get(&sub_key).cloned().unwrap_or_default(),
                allowed: decision.allowed,
                result: decision.verdict,
                statement: decision.statement,
                reason: decision.reason,
                closest_allowed,
                unknown_keys: decision.unknown_keys,
            }
        })
        .collect();
    // GitHub sends one form per repository, and says which; when it does not say, the job
    // must pass in every form. A token given whole is judged as it is.
    let deciding: Vec<&SubjectResult> = match (&claims, template, subject.form) {
        (Claims::Job(_), None, Some(SubjectForm::Immutable)) => {
            results.iter().filter(|r| r.sub.contains('@')).collect()
        }
        (Claims::Job(_), None, Some(SubjectForm::Name)) => {
            results.iter().filter(|r| !r.sub.contains('@')).collect()
        }
        _ => results.iter().collect(),
    };
    let result = if deciding.iter().any(|r| r.result == Verdict::Denied) || deciding.is_empty() {
        Verdict::Denied
    } else if deciding.iter().all(|r| r.result == Verdict::Allowed) {
        Verdict::Allowed
    } else {
        Verdict::Undetermined
    };
    let to_allow = match (&claims, result) {
        (Claims::Job(job), Verdict::Denied) => Some(apply_to_allow(settings, job)),
        _ => None,
    };
    let read_as = match &claims {
        Claims::Job(job) => job.read_as(),
        _ => None,
    };
    let report = AccessReport {
        read_as,
        allowed: result == Verdict::Allowed,
        result,
        to_allow,
        role: settings.role_name.clone(),
        repository: format!("{}/{}", repo.owner, repo.name),
        subjects: results,
    };
    match presentation.output {
        OutputFormat::Json => out::println(&access::json(&report)),
        _ => out::print(&access::text(&report)),
    }
    Ok(match result {
        Verdict::Allowed => ExitStatus::Success,
        Verdict::Denied => ExitStatus::Attention,
        Verdict::Undetermined => ExitStatus::Undetermined,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_refs_expand_as_git_reads_them() {
        for (given, full) in [
            ("main", "refs/heads/main"),
            ("release/1.x", "refs/heads/release/1.x"),
            ("heads/main", "refs/heads/main"),
            ("tags/v1", "refs/tags/v1"),
            ("refs/heads/main", "refs/heads/main"),
            ("refs/tags/v1", "refs/tags/v1"),
        ] {
            assert_eq!(full_ref(given).ok().as_deref(), Some(full), "{given}");
        }
        assert!(full_ref("refs/pull/1/merge").is_err());
        assert!(full_ref("refs/remotes/origin/main").is_err());
    }
}
