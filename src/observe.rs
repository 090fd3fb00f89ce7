//! Observe: read everything the plan compares, concurrently; "not found" is `None`.
//! Everything is found by name, so observing needs no account ID and runs in the same round
//! as the identity and repository reads. A few reads need an ARN (tags, the OIDC provider):
//! when the settings record the account, its ARNs are built up front and those reads join the
//! first round too (`first_round` checks the caller is in that account before anything is used).
use std::future::Future;

use futures::future::try_join_all;

use crate::cloud::aws::{Aws, Identity};
use crate::cloud::github::{GitHub, RepoInfo, SubjectFormat};
use crate::config::{AuthMode, Settings};
use crate::error::{Error, Result};
use crate::resources::{
    access_key, environment, oidc_provider, push_policy, repository, role, secret, user, variable,
};
use crate::spec::{self, Intent};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub provider: Option<oidc_provider::Live>,
    pub role: Option<role::Live>,
    pub policy: Option<push_policy::Live>,
    pub repository: Option<repository::Live>,
    /// The GitHub environments the trust names (OIDC mode).
    pub environments: Vec<environment::Live>,
    /// The KMS key the settings name, described (`None` when they name none).
    pub kms_key: Option<repository::KeyCheck>,
    pub user: Option<user::Live>,
    pub access_key: access_key::Live,
    /// In the order of `spec::secret_places` (as `Desired::secrets`).
    pub secrets: Vec<secret::Live>,
    /// In the order of `spec::VARIABLES` (as `Desired::variables`).
    pub variables: Vec<variable::Live>,
}

/// What every command reads first, in one round with its own reads.
pub struct FirstRound<T> {
    pub identity: Identity,
    /// Read before anything is written anywhere: proves the token can see the repository.
    pub repo: RepoInfo,
    /// The subject GitHub sends for the repository (template and form).
    pub subject: SubjectFormat,
    pub reads: T,
}

/// The identity, the repository and the subject GitHub sends for it, at once with `reads`. A denial that
/// arrives before the identity still names the caller.
pub async fn first_round<T>(
    aws: &Aws,
    github: &GitHub,
    settings: &Settings,
    reads: impl Future<Output = Result<T>>,
) -> Result<FirstRound<T>> {
    // A read at a recorded account's ARNs fails in another account: the account is checked
    // before any read's failure is reported.
    let joined = tokio::try_join!(
        aws.identity(),
        github.repository(&settings.github),
        github.subject_format(&settings.github),
        async { Ok::<_, Error>(reads.await) },
    );
    let (identity, repo, subject, reads) = match joined {
        Ok(all) => all,
        Err(e) => return Err(aws.name_the_caller(e).await),
    };
    if let Some(recorded) = &settings.account_id {
        if *recorded != identity.account_id {
            return Err(Error::WrongAccount {
                recorded: recorded.clone(),
                caller: identity.account_id,
                caller_arn: identity.caller_arn,
            });
        }
        let expected = partition(&aws.region);
        if identity.partition != expected {
            return Err(Error::WrongPartition {
                caller: identity.partition,
                caller_arn: identity.caller_arn,
                region: aws.region.clone(),
                expected,
            });
        }
    }
    match reads {
        Ok(reads) => Ok(FirstRound {
            identity,
            repo,
            subject,
            reads,
        }),
        Err(e) => Err(aws.name_the_caller(e).await),
    }
}

/// The AWS partition a region belongs to.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// The ARNs of what the settings name, when they record the account.
fn recorded_arns<'a>(settings: &'a Settings, region: &'a str) -> Option<spec::Arns<'a>> {
    settings.account_id.as_deref().map(|account_id| spec::Arns {
        partition: partition(region),
        account_id,
        region,
    })
}

/// Reads what the settings name. A teardown reads both auth modes' resources, and what decides
/// whether they may go: which other roles trust the provider, whether the repository holds images.
pub async fn observe(
    aws: &Aws,
    github: &GitHub,
    settings: &Settings,
    intent: Intent,
) -> Result<Observed> {
    let teardown = intent.teardown;
    let oidc = settings.auth == AuthMode::Oidc || teardown;
    let keys = settings.auth == AuthMode::AccessKey || teardown;
    let repo = &settings.github;
    let arns = recorded_arns(settings, &aws.region);
    let arn = |kind: &str, name: &str| arns.as_ref().map(|a| a.iam(kind, name));
    let provider_arn = arn("oidc-provider", settings.issuer.host_path());
    let policy_arn = arn("policy", &settings.policy_name);
    let repository_arn = arns
        .as_ref()
        .map(|a| a.ecr_repository(&settings.ecr_repository));
    let provider = async {
        if oidc {
            let beside = teardown.then_some(settings.role_name.as_str());
            let host_path = settings.issuer.host_path();
            oidc_provider::observe(aws, host_path, beside, provider_arn.as_deref()).await
        } else {
            Ok(None)
        }
    };
    let role = async {
        if oidc {
            role::observe(aws, &settings.role_name).await
        } else {
            Ok(None)
        }
    };
    let user = async {
        if keys {
            user::observe(aws, &settings.user_name).await
        } else {
            Ok(None)
        }
    };
    let places = spec::secret_places(settings, intent);
    let secrets = try_join_all(
        places
            .iter()
            .map(|p| secret::observe(github, repo, p, &settings.secret_name)),
    );
    let variables = try_join_all(
        spec::VARIABLES
            .iter()
            .map(|v| variable::observe(github, repo, v)),
    );
    let key = async {
        if teardown {
            Ok(None)
        } else {
            repository::observe_key(aws, &settings.encryption).await
        }
    };
    let environments = async {
        if oidc && !teardown {
            environment::observe(github, repo, &settings.scopes.environments).await
        } else {
            Ok(Vec::new())
        }
    };
    let (
        provider,
        role,
        policy,
        repository,
        kms_key,
        user,
        access_key,
        secrets,
        variables,
        environments,
    ) = tokio::try_join!(
        provider,
        role,
        push_policy::observe(aws, &settings.policy_name, policy_arn.as_deref()),
        repository::observe(
            aws,
            &settings.ecr_repository,
            teardown,
            repository_arn.as_deref()
        ),
        key,
        user,
        access_key::observe(aws, github, repo, &settings.user_name, keys),
        secrets,
        variables,
        environments,
    )?;
    Ok(Observed {
        provider,
        role,
        policy,
        repository,
        kms_key,
        environments,
        user,
        access_key,
        secrets,
        variables,
    })
}
