//! A GitHub environment the trust names: a job in it gets the role's credentials, so its
//! deployment branch policy decides which branches can. Observed and audited.
use futures::future::try_join_all;
use serde_json::Value;

use super::change::Kind;
use crate::cloud::github::{self, GitHub};
use crate::config::{RepoName, shell_word};
use crate::error::Result;
use crate::resources::finding::{Finding, Findings, Severity};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub name: String,
    /// `None`: the environment does not exist (GitHub creates it, unprotected, for the first
    /// job that names it).
    pub exists: bool,
    /// GitHub's `deployment_branch_policy`; `None` lets a workflow on any branch run in it.
    pub branch_policy: Option<Value>,
}

/// Reads the environments the trust names, at once.
pub async fn observe(github: &GitHub, repo: &RepoName, names: &[String]) -> Result<Vec<Live>> {
    try_join_all(names.iter().map(|name| async move {
        let policy = github.deployment_branch_policy(repo, name).await?;
        Ok(Live {
            name: name.clone(),
            exists: policy.is_some(),
            branch_policy: policy.flatten(),
        })
    }))
    .await
}

/// `environment-unprotected`, on the role whose trust names the environment: trust on
/// `environment:NAME` is trust on every branch whose workflows can run a job in NAME; without
/// a deployment branch policy that is any branch.
pub fn findings(role: &str, repo: &RepoName, live: &[Live]) -> Vec<Finding> {
    // Each environment gets its own command.
    let mut found = Findings::on(Kind::Role, role, String::new());
    for env in live.iter().filter(|e| e.branch_policy.is_none()) {
        let state = if env.exists {
            "has no deployment branch or tag policy"
        } else {
            "does not exist, and GitHub creates it without protection for the first job that names it"
        };
        found.add_fixed(
            "environment-unprotected",
            Severity::Medium,
            format!(
                "the trust admits jobs in environment {}, which {state}: a workflow on any branch can run a job there and get the role",
                env.name
            ),
            "protected branches only: a job in it then runs only from a branch with protection rules",
            format!(
                "gh api -X PUT {} -F 'deployment_branch_policy[protected_branches]=true' -F 'deployment_branch_policy[custom_branch_policies]=false'",
                shell_word(&format!(
                    "repos/{repo}/environments/{}",
                    github::enc(&env.name)
                ))
            ),
        );
    }
    found.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_an_environment_that_any_branch_can_use_is_a_finding() {
        let repo = RepoName {
            owner: "acme".into(),
            name: "app".into(),
        };
        let env = |name: &str, exists, policy: Option<Value>| Live {
            name: name.into(),
            exists,
            branch_policy: policy,
        };
        let found = findings(
            "r",
            &repo,
            &[
                env("bare", true, None),
                env("missing", false, None),
                env(
                    "prod",
                    true,
                    Some(json!({"protected_branches": true, "custom_branch_policies": false})),
                ),
            ],
        );
        let ids: Vec<&str> = found.iter().map(|f| f.id).collect();
        assert_eq!(ids, ["environment-unprotected", "environment-unprotected"]);
        assert!(
            found[0].message.contains("environment bare")
                && found[0].message.contains("no deployment branch")
        );
        assert!(
            found[1].message.contains("environment missing")
                && found[1].message.contains("does not exist")
        );
        assert!(found.iter().all(|f| f.severity == Severity::Medium));
    }
}
