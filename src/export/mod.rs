//! Export: the desired state and what exists, as one model that `terraform` and
//! `cloudformation` write as infrastructure-as-code, with an import for everything that exists.
//! Pure: built from the same `Desired` and `Observed` that `plan` compares.
pub mod cloudformation;
pub mod document;
pub mod files;
pub mod terraform;

use serde_json::Value;

use crate::cloud::github::Place;
use crate::config::{Encryption, RepoName};
use crate::observe::Observed;
use crate::resources::change::Desire;
use crate::resources::{ownership, push_policy, role};
use crate::spec::Desired;

/// Which engine the export is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    // OpenTofu or Terraform ≥ 1.6, with `import` blocks. (Plain comments: doc comments would
    // turn the whole `export --help` into clap's long form.)
    Terraform,
    // A CloudFormation template and the resources-to-import file.
    Cloudformation,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Terraform => "terraform",
            Format::Cloudformation => "cloudformation",
        }
    }

    /// What the engine adopts instead of creating.
    pub fn imports(self, setup: &Setup) -> Vec<Import> {
        match self {
            Format::Terraform => terraform::imports(setup),
            Format::Cloudformation => cloudformation::imports(setup),
        }
    }

    pub fn render(self, setup: &Setup) -> Vec<File> {
        match self {
            Format::Terraform => terraform::render(setup),
            Format::Cloudformation => cloudformation::render(setup),
        }
    }
}

/// One file of an export, its path relative to the export directory (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub contents: String,
}

/// How an existing resource is taken over: the engine's address and the ID it imports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Import {
    pub address: String,
    pub id: String,
}

/// Everything an export describes, in the tool's own terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub account_id: String,
    pub region: String,
    /// GitHub's canonical spelling, as the tags and the subjects use it.
    pub repo: RepoName,
    /// The tags the tool puts on the role, user, policy and repository.
    pub tags: Vec<(String, String)>,
    /// OIDC mode only.
    pub provider: Option<Provider>,
    pub principal: Principal,
    pub policy: Policy,
    pub repository: Repository,
    /// The role ARN secrets (OIDC mode); access keys are never exported.
    pub secrets: Vec<Secret>,
    pub variables: Vec<Variable>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub url: String,
    pub arn: String,
    pub client_id: String,
    pub source: ProviderSource,
}

/// The provider serves every role of the account that trusts GitHub, so an existing one is
/// only referenced, even one the tool created: handing it to one repository's configuration
/// would let that configuration delete it under the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderSource {
    /// Exists: a Terraform data source; left out of a CloudFormation stack.
    Shared,
    /// Missing (`--allow-drift`): created by the engine, tagged as the tool tags it.
    Created,
}

impl Provider {
    pub fn tags(&self) -> Vec<(String, String)> {
        ownership::provider_tags()
    }
}

/// Who pushes: the OIDC role, or the access-key user.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    Role(Role),
    User(User),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub arn: String,
    pub description: &'static str,
    pub trust: Value,
    pub exists: bool,
    /// The push policy is attached to it already.
    pub attached: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub exists: bool,
    pub attached: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub arn: String,
    pub description: &'static str,
    pub document: Value,
    pub exists: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub name: String,
    pub scan_on_push: bool,
    /// Not a setting: what exists is kept (`MUTABLE`, ECR's default, for a new repository).
    pub tag_mutability: String,
    /// `AES256` or `KMS`, as ECR and both engines spell it.
    pub encryption_type: &'static str,
    pub kms_key: Option<String>,
    pub exists: bool,
}

/// The role ARN secret, in the repository or in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub environment: Option<String>,
    pub name: String,
    pub exists: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub value: String,
    pub exists: bool,
}

/// The model of what the settings want, marking what exists. `None` when the desired state
/// holds neither a role nor a user (a teardown), which has nothing to export.
pub fn setup(
    desired: &Desired,
    observed: &Observed,
    repo: &RepoName,
    account_id: &str,
    region: &str,
) -> Option<Setup> {
    let policy_spec = desired.policy.present()?;
    let attached = |arns: &[String]| arns.contains(&policy_spec.arn);
    let principal = match (
        desired.role.as_ref().and_then(Desire::present),
        desired.user.as_ref().and_then(Desire::present),
    ) {
        (Some(spec), _) => Principal::Role(Role {
            name: spec.name.clone(),
            arn: spec.arn.clone(),
            description: role::DESCRIPTION,
            trust: spec.trust.clone(),
            exists: observed.role.is_some(),
            attached: observed
                .role
                .as_ref()
                .is_some_and(|r| attached(&r.holdings.attached)),
        }),
        (None, Some(spec)) => Principal::User(User {
            name: spec.name.clone(),
            exists: observed.user.is_some(),
            attached: observed
                .user
                .as_ref()
                .is_some_and(|u| attached(&u.holdings.attached)),
        }),
        (None, None) => return None,
    };
    let provider = desired
        .provider
        .as_ref()
        .and_then(Desire::present)
        .map(|spec| Provider {
            url: spec.url.clone(),
            arn: spec.arn.clone(),
            client_id: spec.client_id.clone(),
            source: if observed.provider.is_some() {
                ProviderSource::Shared
            } else {
                ProviderSource::Created
            },
        });
    let repository = repository(desired, observed)?;
    let secrets = desired
        .secrets
        .iter()
        .zip(&observed.secrets)
        .filter_map(|(d, live)| {
            d.present().map(|spec| Secret {
                environment: match &spec.place {
                    Place::Repository => None,
                    Place::Environment(e) => Some(e.clone()),
                },
                name: spec.name.clone(),
                exists: live.secret.is_some(),
            })
        })
        .collect();
    let variables = desired
        .variables
        .iter()
        .zip(&observed.variables)
        .filter_map(|(d, live)| {
            d.present().map(|spec| Variable {
                name: spec.name.clone(),
                value: spec.value.clone(),
                exists: live.variable.is_some(),
            })
        })
        .collect();
    Some(Setup {
        account_id: account_id.to_string(),
        region: region.to_string(),
        repo: repo.clone(),
        tags: ownership::tags(&repo.to_string()),
        provider,
        principal,
        policy: Policy {
            name: policy_spec.name.clone(),
            arn: policy_spec.arn.clone(),
            description: push_policy::DESCRIPTION,
            document: policy_spec.document.clone(),
            exists: observed.policy.is_some(),
        },
        repository,
        secrets,
        variables,
    })
}

fn repository(desired: &Desired, observed: &Observed) -> Option<Repository> {
    let spec = desired.repository.present()?;
    let live = observed.repository.as_ref();
    let (encryption_type, kms_key) = match (&spec.encryption, live) {
        (Encryption::Aes256, _) => ("AES256", None),
        // ECR reports the key's ARN even when the settings name an alias or no key at all;
        // both engines compare the text and would replace the repository over a different one.
        (Encryption::Kms(_), Some(l)) if l.encryption_type == "KMS" => ("KMS", l.kms_key.clone()),
        (Encryption::Kms(key), _) => ("KMS", key.clone()),
    };
    Some(Repository {
        name: spec.name.clone(),
        scan_on_push: spec.scan_on_push,
        tag_mutability: live
            .map(|l| l.tag_mutability.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "MUTABLE".into()),
        encryption_type,
        kms_key,
        exists: live.is_some(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    use crate::cloud::aws::Identity;
    use crate::cloud::github::{SecretMeta, Variable as LiveVariable};
    use crate::config::{self, RawSettings};
    use crate::resources::{oidc_provider, repository as ecr, role as iam_role, secret};
    use crate::spec::{self, Intent, RepoIdentity};

    fn desired(extra: serde_json::Value) -> Desired {
        let mut raw = json!({"github_repo": "acme/app", "branches": ["main"]});
        raw.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let file: RawSettings = serde_json::from_value(raw).unwrap();
        let settings = config::validate(&file).unwrap();
        let identity = Identity {
            account_id: "123456789012".into(),
            caller_arn: "arn:aws:iam::123456789012:user/ops".into(),
            partition: "aws".into(),
        };
        let repo = RepoIdentity {
            owner: "acme".into(),
            name: "app".into(),
            ids: Some((1001, 2002)),
        };
        spec::desired(
            &settings,
            &identity,
            "us-east-1",
            &repo,
            None,
            Intent::default(),
        )
        .unwrap()
    }

    fn model(desired: &Desired, observed: &Observed) -> Setup {
        let repo = RepoName {
            owner: "acme".into(),
            name: "app".into(),
        };
        setup(desired, observed, &repo, "123456789012", "us-east-1").unwrap()
    }

    fn nothing(desired: &Desired) -> Observed {
        Observed {
            secrets: desired
                .secrets
                .iter()
                .map(|_| secret::Live {
                    environment_exists: false,
                    secret: None,
                    fingerprint: None,
                    key: None,
                })
                .collect(),
            variables: vec![Default::default(), Default::default()],
            ..Observed::default()
        }
    }

    #[test]
    fn nothing_observed_is_all_to_create_with_a_provider_of_its_own() {
        let d = desired(json!({}));
        let s = model(&d, &nothing(&d));
        assert_eq!(
            s.provider.as_ref().map(|p| p.source),
            Some(ProviderSource::Created)
        );
        let Principal::Role(role) = &s.principal else {
            panic!("OIDC mode exports a role")
        };
        assert!(!role.exists && !role.attached && !s.policy.exists && !s.repository.exists);
        assert_eq!(s.secrets.len(), 1);
        assert!(s.secrets.iter().all(|x| !x.exists));
        assert_eq!(s.tags, ownership::tags("acme/app"));
        assert_eq!(s.repository.tag_mutability, "MUTABLE");
    }

    #[test]
    fn what_exists_is_marked_and_an_existing_provider_is_shared() {
        let d = desired(json!({}));
        let Some(Desire::Present(role_spec)) = &d.role else {
            panic!("OIDC mode wants a role")
        };
        let mut o = nothing(&d);
        o.provider = Some(oidc_provider::Live {
            client_ids: vec!["sts.amazonaws.com".into()],
            trusted_by: vec![],
            tags: crate::resources::ownership::provider_tags(),
        });
        o.role = Some(iam_role::Live {
            trust: role_spec.trust.clone(),
            description: None,
            holdings: crate::resources::holdings::Holdings {
                attached: vec!["arn:aws:iam::123456789012:policy/other".into()],
                ..Default::default()
            },
        });
        o.secrets[0].secret = Some(SecretMeta {
            updated_at: "2026-01-01T00:00:00Z".into(),
        });
        o.variables[1].variable = Some(LiveVariable {
            value: "skypilot".into(),
            updated_at: String::new(),
        });
        let s = model(&d, &o);
        assert_eq!(s.provider.map(|p| p.source), Some(ProviderSource::Shared));
        let Principal::Role(role) = &s.principal else {
            panic!("OIDC mode exports a role")
        };
        // Another policy attached is not the push policy's attachment.
        assert!(role.exists && !role.attached);
        assert!(s.secrets[0].exists);
        let exists: Vec<bool> = s.variables.iter().map(|v| v.exists).collect();
        assert_eq!(exists, [false, true]);
    }

    #[test]
    fn kms_keys_are_written_as_ecr_reports_them() {
        let alias = "arn:aws:kms:us-east-1:123456789012:alias/images";
        let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let d = desired(json!({"encryption": "kms", "kms_key": alias}));
        // Nothing yet: the engine creates it with the settings' alias.
        let s = model(&d, &nothing(&d));
        assert_eq!(
            (
                s.repository.encryption_type,
                s.repository.kms_key.as_deref()
            ),
            ("KMS", Some(alias))
        );
        // Existing: the key ARN ECR reports, which an engine compares as text.
        let mut o = nothing(&d);
        o.repository = Some(ecr::Live {
            scan_on_push: true,
            encryption_type: "KMS".into(),
            kms_key: Some(key.into()),
            tag_mutability: "IMMUTABLE".into(),
            tag_exclusions: Vec::new(),
            holds_images: false,
            arn: "arn:aws:ecr:us-east-1:123456789012:repository/skypilot".into(),
            tags: crate::resources::ownership::tags("acme/app"),
            policy: None,
        });
        let s = model(&d, &o);
        assert_eq!(s.repository.kms_key.as_deref(), Some(key));
        assert_eq!(s.repository.tag_mutability, "IMMUTABLE");
    }

    #[test]
    fn access_key_mode_exports_the_user_and_no_secret() {
        let d = desired(json!({"auth": "access-key"}));
        let s = model(&d, &nothing(&d));
        assert!(
            matches!(&s.principal, Principal::User(u) if u.name == "github-actions-skypilot-ecr")
        );
        assert!(s.provider.is_none() && s.secrets.is_empty());
        assert_eq!(s.variables.len(), 2);
    }

    /// A converged OIDC setup: everything exists, the provider is shared.
    pub fn oidc_setup() -> Setup {
        Setup {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            repo: RepoName {
                owner: "acme".into(),
                name: "app".into(),
            },
            tags: ownership::tags("acme/app"),
            provider: Some(Provider {
                url: "https://token.actions.githubusercontent.com".into(),
                arn: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
                    .into(),
                client_id: "sts.amazonaws.com".into(),
                source: ProviderSource::Shared,
            }),
            principal: Principal::Role(Role {
                name: "GitHubActions-SkyPilot-ECR".into(),
                arn: "arn:aws:iam::123456789012:role/GitHubActions-SkyPilot-ECR".into(),
                description: role::DESCRIPTION,
                trust: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}),
                exists: true,
                attached: true,
            }),
            policy: Policy {
                name: "SkyPilot-ECR-Push".into(),
                arn: "arn:aws:iam::123456789012:policy/SkyPilot-ECR-Push".into(),
                description: push_policy::DESCRIPTION,
                document: json!({"Version": "2012-10-17", "Statement": []}),
                exists: true,
            },
            repository: Repository {
                name: "skypilot".into(),
                scan_on_push: true,
                tag_mutability: "MUTABLE".into(),
                encryption_type: "AES256",
                kms_key: None,
                exists: true,
            },
            secrets: vec![Secret {
                environment: None,
                name: "AWS_ECR_ROLE_ARN".into(),
                exists: true,
            }],
            variables: vec![
                Variable {
                    name: "AWS_REGION".into(),
                    value: "us-east-1".into(),
                    exists: true,
                },
                Variable {
                    name: "ECR_REPOSITORY".into(),
                    value: "skypilot".into(),
                    exists: true,
                },
            ],
        }
    }
}
