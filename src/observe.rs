//! Observe: read everything the plan compares, concurrently; "not found" is `None`.
use crate::cloud::aws::Aws;
use crate::error::Result;
use crate::resources::{oidc_provider, push_policy, repository, role};
use crate::spec::Desired;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub provider: Option<oidc_provider::Live>,
    pub role: Option<role::Live>,
    pub policy: Option<push_policy::Live>,
    pub repository: Option<repository::Live>,
}

pub async fn observe(aws: &Aws, desired: &Desired) -> Result<Observed> {
    let role = async {
        match &desired.role {
            Some(spec) => role::observe(aws, spec).await,
            None => Ok(None),
        }
    };
    let (provider, role, policy, repository) = tokio::try_join!(
        oidc_provider::observe(aws, &desired.provider),
        role,
        push_policy::observe(aws, &desired.policy),
        repository::observe(aws, &desired.repository),
    )?;
    Ok(Observed {
        provider,
        role,
        policy,
        repository,
    })
}
