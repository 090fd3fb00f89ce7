//! Whose a resource is: the tags the tool puts on what it creates, and what they say.
/// Every role, user, managed policy and ECR repository the tool creates carries both tags; an
/// OIDC provider (shared by every repository) carries only `managed-by`.
pub const MANAGED_BY_KEY: &str = "managed-by";
pub const MANAGED_BY_VALUE: &str = "skyecr-bootstrap";
pub const REPOSITORY_KEY: &str = "skyecr-bootstrap/github-repository";

/// The tags of a resource made for `repository` (`OWNER/REPO`, GitHub's canonical spelling).
pub fn tags(repository: &str) -> Vec<(String, String)> {
    vec![
        (MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into()),
        (REPOSITORY_KEY.into(), repository.into()),
    ]
}

/// The tags of the shared OIDC provider.
pub fn provider_tags() -> Vec<(String, String)> {
    vec![(MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into())]
}
