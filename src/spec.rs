//! Settings + account + region → the desired state: every name, ARN and document, before any write.
use secrecy::SecretString;

use crate::cloud::aws::Identity;
use crate::cloud::github::Place;
use crate::config::{AuthMode, RepoName, SecretScope, Settings, TrustScopes};
use crate::error::{Error, Result};
use crate::policy;
use crate::resources::change::Desire;
use crate::resources::ownership;
use crate::resources::{
    access_key, oidc_provider, push_policy, repository, role, secret, user, variable,
};

/// The audience GitHub puts in tokens for AWS.
pub const AUDIENCE: &str = "sts.amazonaws.com";

/// The repository as GitHub names it in tokens: canonical names, and IDs when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoIdentity {
    pub owner: String,
    pub name: String,
    pub ids: Option<(u64, u64)>,
}

/// What this run is asked to do beyond converging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Intent {
    /// `apply --force-secrets`.
    pub force_secrets: bool,
    /// `rotate-keys`.
    pub rotate_keys: bool,
    /// `destroy`: the desired state is nothing of the setup, in either auth mode.
    pub teardown: bool,
    /// `destroy --force`: a repository goes with its images.
    pub delete_images: bool,
    /// `destroy --keep-repository`: the repository stays, with its images.
    pub keep_repository: bool,
    /// `--adopt`: take over what exists under the chosen names but is not the tool's.
    pub adopt: bool,
}

/// `None` leaves a resource as it is: switching to access keys keeps the provider and the role.
pub struct Desired {
    pub provider: Option<Desire<oidc_provider::Spec>>,
    pub role: Option<Desire<role::Spec>>,
    pub user: Option<Desire<user::Spec>>,
    /// Always desired one way or the other: in OIDC mode it retires keys delivered before.
    pub access_key: Desire<access_key::Spec>,
    pub policy: Desire<push_policy::Spec>,
    pub repository: Desire<repository::Spec>,
    /// In the order of `secret_places`.
    pub secrets: Vec<Desire<secret::Spec>>,
    pub variables: Vec<Desire<variable::Spec>>,
}

/// The variables the generated workflow reads: the region and the repository name, in this order.
pub const VARIABLES: [&str; 2] = ["AWS_REGION", "ECR_REPOSITORY"];

/// Where the role ARN secret lives, in a stable order (observation and desired state align on
/// it). A teardown also looks in the repository, where an earlier scope may have put it.
pub fn secret_places(settings: &Settings, intent: Intent) -> Vec<Place> {
    let mut places = match settings.secret_scope {
        SecretScope::Repository => vec![Place::Repository],
        SecretScope::Environment => settings
            .scopes
            .environments
            .iter()
            .cloned()
            .map(Place::Environment)
            .collect(),
    };
    if intent.teardown && !places.contains(&Place::Repository) {
        places.insert(0, Place::Repository);
    }
    places
}

/// `Present` when wanted, `Absent` otherwise.
fn wanted<S>(present: bool, spec: S) -> Desire<S> {
    if present {
        Desire::Present(spec)
    } else {
        Desire::Absent(spec)
    }
}

pub struct Arns<'a> {
    pub partition: &'a str,
    pub account_id: &'a str,
    pub region: &'a str,
}

impl Arns<'_> {
    pub fn iam(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:{}:iam::{}:{kind}/{name}",
            self.partition, self.account_id
        )
    }

    pub fn ecr_repository(&self, name: &str) -> String {
        format!(
            "arn:{}:ecr:{}:{}:repository/{name}",
            self.partition, self.region, self.account_id
        )
    }
}

/// The repository's OIDC subject template: `None` is GitHub's default.
pub type SubjectTemplate<'a> = Option<&'a [String]>;

pub fn desired(
    settings: &Settings,
    identity: &Identity,
    region: &str,
    repo: &RepoIdentity,
    template: SubjectTemplate<'_>,
    intent: Intent,
) -> Result<Desired> {
    let oidc = settings.auth == AuthMode::Oidc && !intent.teardown;
    let keys = settings.auth == AuthMode::AccessKey && !intent.teardown;
    // What a teardown removes, it removes in both modes; converging leaves the other mode's
    // provider, role and user alone.
    let managed = |mode: bool| (mode || intent.teardown).then_some(mode);
    let arns = Arns {
        partition: &identity.partition,
        account_id: &identity.account_id,
        region,
    };
    let provider_arn = arns.iam("oidc-provider", settings.issuer.host_path());
    let policy_arn = arns.iam("policy", &settings.policy_name);
    let repository_arn = arns.ecr_repository(&settings.ecr_repository);
    // A teardown needs no trust policy, so a template it could not scope never stops it.
    let trust = if intent.teardown {
        serde_json::Value::Null
    } else {
        let scope = policy::TrustScope {
            subjects: subjects(repo, &settings.scopes, template).map_err(Error::Usage)?,
            ids: repo.ids.filter(|_| settings.pin_ids),
            workflow_refs: settings
                .pin_workflow
                .as_deref()
                .map(|path| workflow_refs(repo, path, &settings.scopes))
                .unwrap_or_default(),
        };
        policy::trust_policy(&provider_arn, settings.issuer.host_path(), &scope)
    };
    let role_arn = arns.iam("role", &settings.role_name);
    let repository = format!("{}/{}", repo.owner, repo.name);
    let tags = ownership::tags(&repository);
    let free = FreeNames::for_repo(&repo.name, settings);
    let boundary = settings.permissions_boundary.clone();
    let role = managed(oidc).map(|present| {
        wanted(
            present,
            role::Spec {
                name: settings.role_name.clone(),
                arn: role_arn.clone(),
                trust,
                policy_arn: policy_arn.clone(),
                boundary: boundary.clone(),
                tags: tags.clone(),
                repository: repository.clone(),
                adopt: intent.adopt,
                free_name: free.role,
            },
        )
    });
    let github = RepoName {
        owner: repo.owner.clone(),
        name: repo.name.clone(),
    };
    let deploy_refs: Vec<(String, &'static str)> = settings
        .scopes
        .branches
        .iter()
        .map(|b| (b.clone(), "branch"))
        .chain(settings.scopes.tags.iter().map(|t| (t.clone(), "tag")))
        .collect();
    let secrets = secret_places(settings, intent)
        .into_iter()
        .map(|place| {
            wanted(
                oidc,
                secret::Spec {
                    repo: github.clone(),
                    place,
                    name: settings.secret_name.clone(),
                    value: SecretString::from(role_arn.clone()),
                    force: intent.force_secrets,
                    deploy_refs: deploy_refs.clone(),
                },
            )
        })
        .collect();
    let variables = VARIABLES
        .iter()
        .zip([region, settings.ecr_repository.as_str()])
        .map(|(name, value)| {
            wanted(
                !intent.teardown,
                variable::Spec {
                    repo: github.clone(),
                    name: name.to_string(),
                    value: value.to_string(),
                },
            )
        })
        .collect();
    Ok(Desired {
        provider: managed(oidc).map(|present| {
            wanted(
                present,
                oidc_provider::Spec {
                    url: settings.issuer.url().to_string(),
                    arn: provider_arn,
                    client_id: AUDIENCE.to_string(),
                },
            )
        }),
        role,
        user: managed(keys).map(|present| {
            wanted(
                present,
                user::Spec {
                    name: settings.user_name.clone(),
                    policy_arn: policy_arn.clone(),
                    boundary,
                    tags: tags.clone(),
                    repository: repository.clone(),
                    adopt: intent.adopt,
                    free_name: free.user,
                },
            )
        }),
        access_key: wanted(
            keys,
            access_key::Spec {
                repo: github.clone(),
                user_name: settings.user_name.clone(),
                rotate: intent.rotate_keys,
            },
        ),
        policy: wanted(
            !intent.teardown,
            push_policy::Spec {
                name: settings.policy_name.clone(),
                arn: policy_arn,
                document: policy::push_document(&repository_arn),
                tags: tags.clone(),
                repository: repository.clone(),
                adopt: intent.adopt,
                free_name: free.policy,
            },
        ),
        repository: wanted(
            !intent.teardown,
            repository::Spec {
                name: settings.ecr_repository.clone(),
                arn: repository_arn.clone(),
                region: region.to_string(),
                scan_on_push: true,
                encryption: settings.encryption.clone(),
                tag_mutability: settings.tag_mutability.clone(),
                delete_images: intent.delete_images,
                keep: intent.keep_repository,
                tags,
                repository,
                adopt: intent.adopt,
                free_name: free.repository,
            },
        ),
        secrets,
        variables,
    })
}

/// The `job_workflow_ref` values that admit `path` on the trusted refs: one per branch and tag
/// pattern, and any ref when an environment or any ref is trusted (an environment's job runs
/// on whatever ref its deployment policy lets in).
pub fn workflow_refs(repo: &RepoIdentity, path: &str, scopes: &TrustScopes) -> Vec<String> {
    let file = format!("{}/{}/{path}", repo.owner, repo.name);
    let mut out: Vec<String> = scopes
        .branches
        .iter()
        .map(|b| format!("{file}@refs/heads/{b}"))
        .chain(scopes.tags.iter().map(|t| format!("{file}@refs/tags/{t}")))
        .collect();
    if scopes.any_ref || !scopes.environments.is_empty() {
        out.push(format!("{file}@*"));
    }
    out
}

/// Names the plan suggests when a chosen name belongs to someone else: the many-repository
/// defaults, made distinct from the name that is taken.
struct FreeNames {
    role: String,
    policy: String,
    repository: String,
    user: String,
}

impl FreeNames {
    fn for_repo(repo: &str, settings: &Settings) -> FreeNames {
        let free = |template: String, taken: &str| {
            if template == taken {
                format!("{taken}-2")
            } else {
                template
            }
        };
        FreeNames {
            role: free(format!("GitHubActions-{repo}-ECR"), &settings.role_name),
            policy: free(format!("{repo}-ECR-Push"), &settings.policy_name),
            repository: free(repo.to_lowercase(), &settings.ecr_repository),
            user: free(
                format!("github-actions-{}-ecr", repo.to_lowercase()),
                &settings.user_name,
            ),
        }
    }
}

/// One trust scope, as the parts of a token's claims it fixes.
struct Scope {
    /// The default template's context: `ref:refs/heads/main`, `environment:prod`, or `*`.
    context: String,
    git_ref: Option<String>,
    environment: Option<String>,
}

fn scopes_of(scopes: &TrustScopes) -> Vec<Scope> {
    let mut out = Vec::new();
    if scopes.any_ref {
        out.push(Scope {
            context: "*".into(),
            git_ref: None,
            environment: None,
        });
    }
    for (prefix, names) in [
        ("refs/heads/", &scopes.branches),
        ("refs/tags/", &scopes.tags),
    ] {
        for name in names {
            let git_ref = format!("{prefix}{name}");
            out.push(Scope {
                context: format!("ref:{git_ref}"),
                git_ref: Some(git_ref),
                environment: None,
            });
        }
    }
    for e in &scopes.environments {
        // GitHub percent-encodes `:` inside the name so the claim stays parsable.
        let encoded = e.replace(':', "%3A");
        out.push(Scope {
            context: format!("environment:{encoded}"),
            git_ref: None,
            environment: Some(encoded),
        });
    }
    out
}

/// The `sub` values GitHub issues for the chosen scopes, in every form GitHub may use.
/// With a custom subject template, the claims come in the template's order; a template that
/// cannot pin both the repository and the scope is refused.
pub fn subjects(
    repo: &RepoIdentity,
    scopes: &TrustScopes,
    template: SubjectTemplate<'_>,
) -> std::result::Result<Vec<String>, String> {
    // Owner and name come from GitHub's answer; a wildcard or `:` in them would widen the trust.
    if !crate::config::is_github_repo(&format!("{}/{}", repo.owner, repo.name)) {
        return Err(format!(
            "the repository name {:?} is not an OWNER/REPO name, so no subject can be built for it",
            format!("{}/{}", repo.owner, repo.name)
        ));
    }
    let scopes = scopes_of(scopes);
    let Some(keys) = template else {
        let mut prefixes = vec![format!("repo:{}/{}", repo.owner, repo.name)];
        if let Some((owner_id, repo_id)) = repo.ids {
            prefixes.push(format!(
                "repo:{}@{owner_id}/{}@{repo_id}",
                repo.owner, repo.name
            ));
        }
        return Ok(prefixes
            .iter()
            .flat_map(|p| scopes.iter().map(move |s| format!("{p}:{}", s.context)))
            .collect());
    };
    let pins_repository = keys
        .iter()
        .any(|k| matches!(k.as_str(), "repo" | "repository" | "repository_id"));
    if !pins_repository {
        return Err(format!(
            "the repository's OIDC subject template ({}) names no repository claim (repo, repository or repository_id), so no trust policy can be limited to {}/{}.\n  Add `repo` to the template (PUT /repos/{}/{}/actions/oidc/customization/sub) or reset it to the default.",
            keys.join(", "),
            repo.owner,
            repo.name,
            repo.owner,
            repo.name
        ));
    }
    let mut out = Vec::new();
    for scope in &scopes {
        let mut parts = Vec::new();
        let mut pins_scope = scope.context == "*";
        for key in keys {
            let value = match key.as_str() {
                "repo" => format!("repo:{}/{}", repo.owner, repo.name),
                "repository" => format!("repository:{}/{}", repo.owner, repo.name),
                "repository_owner" => format!("repository_owner:{}", repo.owner),
                "repository_owner_id" | "repository_id" => {
                    let Some((owner_id, repo_id)) = repo.ids else {
                        return Err(format!(
                            "the subject template uses {key}, but the repository IDs are unknown"
                        ));
                    };
                    let id = if key == "repository_id" {
                        repo_id
                    } else {
                        owner_id
                    };
                    format!("{key}:{id}")
                }
                "context" => {
                    pins_scope = true;
                    scope.context.clone()
                }
                "ref" => match &scope.git_ref {
                    Some(r) => {
                        pins_scope = true;
                        format!("ref:{r}")
                    }
                    None => "ref:*".into(),
                },
                "environment" => match &scope.environment {
                    Some(e) => {
                        pins_scope = true;
                        format!("environment:{e}")
                    }
                    None => {
                        return Err(format!(
                            "the repository's OIDC subject template includes `environment`, which jobs outside an environment do not have, so {} cannot be trusted through it.\n  Use --environment scopes, or remove `environment` from the template.",
                            scope.context
                        ));
                    }
                },
                // Claims the settings do not fix (workflow, actor, …) may take any value.
                other => format!("{other}:*"),
            };
            parts.push(value);
        }
        if !pins_scope {
            return Err(format!(
                "the repository's OIDC subject template ({}) has no context, ref or environment claim, so {} cannot be told apart from any other ref.\n  Add `context` to the template, or use --any-ref knowingly.",
                keys.join(", "),
                scope.context
            ));
        }
        out.push(parts.join(":"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(ids: Option<(u64, u64)>) -> RepoIdentity {
        RepoIdentity {
            owner: "acme".into(),
            name: "app".into(),
            ids,
        }
    }

    #[test]
    fn subjects_cover_every_scope_in_both_forms() {
        let scopes = TrustScopes {
            branches: vec!["main".into()],
            tags: vec!["v*".into()],
            environments: vec!["prod:eu".into()],
            any_ref: false,
        };
        assert_eq!(
            subjects(&repo(Some((1001, 2002))), &scopes, None).unwrap(),
            vec![
                "repo:acme/app:ref:refs/heads/main",
                "repo:acme/app:ref:refs/tags/v*",
                "repo:acme/app:environment:prod%3Aeu",
                "repo:acme@1001/app@2002:ref:refs/heads/main",
                "repo:acme@1001/app@2002:ref:refs/tags/v*",
                "repo:acme@1001/app@2002:environment:prod%3Aeu",
            ]
        );
    }

    #[test]
    fn any_ref_is_the_guides_scope() {
        let scopes = TrustScopes {
            any_ref: true,
            ..Default::default()
        };
        assert_eq!(
            subjects(&repo(None), &scopes, None).unwrap(),
            vec!["repo:acme/app:*"]
        );
    }

    #[test]
    fn custom_templates_keep_their_claim_order() {
        let scopes = TrustScopes {
            branches: vec!["main".into()],
            environments: vec!["prod".into()],
            ..Default::default()
        };
        let keys: Vec<String> = ["repository_owner_id", "repository_id", "context"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            subjects(&repo(Some((1001, 2002))), &scopes, Some(&keys)).unwrap(),
            vec![
                "repository_owner_id:1001:repository_id:2002:ref:refs/heads/main",
                "repository_owner_id:1001:repository_id:2002:environment:prod",
            ]
        );
        let with_workflow: Vec<String> = ["repo", "job_workflow_ref", "context"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            subjects(&repo(None), &scopes, Some(&with_workflow)).unwrap()[0],
            "repo:acme/app:job_workflow_ref:*:ref:refs/heads/main"
        );
    }

    #[test]
    fn unscopable_templates_are_refused() {
        let scopes = TrustScopes {
            branches: vec!["main".into()],
            ..Default::default()
        };
        let no_repo: Vec<String> = ["repository_owner", "context"].map(String::from).to_vec();
        assert!(
            subjects(&repo(None), &scopes, Some(&no_repo))
                .unwrap_err()
                .contains("no repository claim")
        );
        let no_scope: Vec<String> = ["repo", "actor"].map(String::from).to_vec();
        assert!(
            subjects(&repo(None), &scopes, Some(&no_scope))
                .unwrap_err()
                .contains("cannot be told apart")
        );
    }
}
