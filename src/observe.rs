//! Observe: read everything the plan compares, concurrently; "not found" is `None`.
use futures::future::try_join_all;

use crate::cloud::aws::Aws;
use crate::cloud::github::GitHub;
use crate::error::Result;
use crate::resources::{
    access_key, oidc_provider, push_policy, repository, role, secret, user, variable,
};
use crate::spec::Desired;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub provider: Option<oidc_provider::Live>,
    pub role: Option<role::Live>,
    pub policy: Option<push_policy::Live>,
    pub repository: Option<repository::Live>,
    pub user: Option<user::Live>,
    pub access_key: access_key::Live,
    /// In the order of `Desired::secrets`.
    pub secrets: Vec<secret::Live>,
    /// In the order of `Desired::variables`.
    pub variables: Vec<Option<variable::Live>>,
}

pub async fn observe(aws: &Aws, github: &GitHub, desired: &Desired) -> Result<Observed> {
    let role = async {
        match &desired.role {
            Some(spec) => role::observe(aws, spec).await,
            None => Ok(None),
        }
    };
    let provider = async {
        match &desired.provider {
            Some(spec) => oidc_provider::observe(aws, spec).await,
            None => Ok(None),
        }
    };
    let user = async {
        match &desired.user {
            Some(spec) => user::observe(aws, &spec.name).await,
            None => Ok(None),
        }
    };
    let secrets = try_join_all(desired.secrets.iter().map(|s| secret::observe(github, s)));
    let variables = try_join_all(
        desired
            .variables
            .iter()
            .map(|v| variable::observe(github, v)),
    );
    let (provider, role, policy, repository, user, access_key, secrets, variables) = tokio::try_join!(
        provider,
        role,
        push_policy::observe(aws, &desired.policy),
        repository::observe(aws, &desired.repository),
        user,
        access_key::observe(aws, github, &desired.access_key),
        secrets,
        variables,
    )?;
    Ok(Observed {
        provider,
        role,
        policy,
        repository,
        user,
        access_key,
        secrets,
        variables,
    })
}
