//! Settings + account + region → the desired state: every name, ARN and document, before any write.
use crate::cloud::aws::Identity;
use crate::config::{AuthMode, Settings, TrustScopes};
use crate::policy;
use crate::resources::{oidc_provider, push_policy, repository, role};

/// The audience GitHub puts in tokens for AWS.
pub const AUDIENCE: &str = "sts.amazonaws.com";

/// The repository as GitHub names it in tokens: canonical names, and IDs when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoIdentity {
    pub owner: String,
    pub name: String,
    pub ids: Option<(u64, u64)>,
}

pub struct Desired {
    pub provider: oidc_provider::Spec,
    pub role: Option<role::Spec>,
    pub policy: push_policy::Spec,
    pub repository: repository::Spec,
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

pub fn desired(
    settings: &Settings,
    identity: &Identity,
    region: &str,
    repo: &RepoIdentity,
) -> Desired {
    let arns = Arns {
        partition: &identity.partition,
        account_id: &identity.account_id,
        region,
    };
    let provider_arn = arns.iam("oidc-provider", settings.issuer.host_path());
    let policy_arn = arns.iam("policy", &settings.policy_name);
    let repository_arn = arns.ecr_repository(&settings.ecr_repository);
    let role = (settings.auth == AuthMode::Oidc).then(|| role::Spec {
        name: settings.role_name.clone(),
        arn: arns.iam("role", &settings.role_name),
        trust: policy::trust_policy(
            &provider_arn,
            settings.issuer.host_path(),
            &subjects(repo, &settings.scopes),
        ),
        policy_arn: policy_arn.clone(),
    });
    Desired {
        provider: oidc_provider::Spec {
            url: settings.issuer.url().to_string(),
            arn: provider_arn,
            client_id: AUDIENCE.to_string(),
        },
        role,
        policy: push_policy::Spec {
            name: settings.policy_name.clone(),
            arn: policy_arn,
            document: policy::push_policy(&repository_arn),
        },
        repository: repository::Spec {
            name: settings.ecr_repository.clone(),
            scan_on_push: true,
            encryption: settings.encryption.clone(),
        },
    }
}

/// The `sub` values GitHub issues for the chosen scopes, in every form GitHub may use.
pub fn subjects(repo: &RepoIdentity, scopes: &TrustScopes) -> Vec<String> {
    let mut suffixes = Vec::new();
    if scopes.any_ref {
        suffixes.push("*".to_string());
    }
    suffixes.extend(
        scopes
            .branches
            .iter()
            .map(|b| format!("ref:refs/heads/{b}")),
    );
    suffixes.extend(scopes.tags.iter().map(|t| format!("ref:refs/tags/{t}")));
    // GitHub percent-encodes `:` inside the environment name so the claim stays parsable.
    suffixes.extend(
        scopes
            .environments
            .iter()
            .map(|e| format!("environment:{}", e.replace(':', "%3A"))),
    );

    let mut prefixes = vec![format!("repo:{}/{}", repo.owner, repo.name)];
    if let Some((owner_id, repo_id)) = repo.ids {
        prefixes.push(format!(
            "repo:{}@{owner_id}/{}@{repo_id}",
            repo.owner, repo.name
        ));
    }
    let mut out = Vec::new();
    for prefix in &prefixes {
        for suffix in &suffixes {
            out.push(format!("{prefix}:{suffix}"));
        }
    }
    out
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
            subjects(&repo(Some((1001, 2002))), &scopes),
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
        assert_eq!(subjects(&repo(None), &scopes), vec!["repo:acme/app:*"]);
    }
}
