//! Teardown: what the tool created, removed in reverse dependency order. Planning is pure;
//! `run` is the only writer.
use crate::cloud::aws::{Aws, failure};
use crate::cloud::github::{GitHub, Place};
use crate::config::RepoName;
use crate::error::{Error, Result};
use crate::plan::{Action, Change, Kind, Op, Plan};

/// What exists of everything the tool may have created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remains {
    /// GitHub secrets and variables that exist: (place, name).
    pub secrets: Vec<(Place, String)>,
    pub variables: Vec<(Place, String)>,
    pub user: Option<String>,
    pub access_keys: Vec<String>,
    pub role: Option<String>,
    pub policy: Option<PolicyRemains>,
    pub repository: Option<RepositoryRemains>,
    pub provider: Option<ProviderRemains>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRemains {
    pub name: String,
    pub arn: String,
    pub non_default_versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRemains {
    pub name: String,
    pub holds_images: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRemains {
    pub url: String,
    pub arn: String,
    /// Other roles whose trust policy names this provider.
    pub trusted_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestroyOp {
    Secret(Place, String),
    Variable(Place, String),
    AccessKeys {
        user: String,
        ids: Vec<String>,
    },
    /// Detach the push policy, then delete.
    User {
        name: String,
        policy_arn: String,
    },
    Role {
        name: String,
        policy_arn: String,
    },
    /// Delete every non-default version, then the policy.
    Policy {
        arn: String,
        versions: Vec<String>,
    },
    Repository {
        name: String,
        force: bool,
    },
    Provider {
        arn: String,
    },
}

impl DestroyOp {
    /// Reverse dependency order: GitHub first, so no secret points at a deleted resource.
    pub fn stage(&self) -> u8 {
        match self {
            DestroyOp::Secret(..) | DestroyOp::Variable(..) => 0,
            DestroyOp::AccessKeys { .. } => 1,
            DestroyOp::User { .. } | DestroyOp::Role { .. } => 2,
            DestroyOp::Policy { .. } | DestroyOp::Repository { .. } => 3,
            DestroyOp::Provider { .. } => 4,
        }
    }
}

fn place_label(place: &Place, name: &str) -> String {
    match place {
        Place::Repository => name.to_string(),
        Place::Environment(e) => format!("{name} (environment {e})"),
    }
}

/// Notes for things deliberately left in place (shown, never applied).
pub fn plan(remains: &Remains, policy_arn: &str, force: bool) -> (Plan, Vec<String>) {
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let delete = |kind, name: &str, details: Vec<String>, op: DestroyOp| {
        Change::new(kind, name, Action::Delete, details, Op::Destroy(op))
    };
    for (place, name) in &remains.secrets {
        changes.push(delete(
            Kind::Secret,
            &place_label(place, name),
            vec![],
            DestroyOp::Secret(place.clone(), name.clone()),
        ));
    }
    for (place, name) in &remains.variables {
        changes.push(delete(
            Kind::Variable,
            &place_label(place, name),
            vec![],
            DestroyOp::Variable(place.clone(), name.clone()),
        ));
    }
    if let Some(user) = &remains.user {
        if !remains.access_keys.is_empty() {
            changes.push(delete(
                Kind::AccessKey,
                &remains.access_keys.join(", "),
                vec![format!("of user {user}")],
                DestroyOp::AccessKeys {
                    user: user.clone(),
                    ids: remains.access_keys.clone(),
                },
            ));
        }
        changes.push(delete(
            Kind::User,
            user,
            vec![format!("detach {policy_arn}")],
            DestroyOp::User {
                name: user.clone(),
                policy_arn: policy_arn.to_string(),
            },
        ));
    }
    if let Some(role) = &remains.role {
        changes.push(delete(
            Kind::Role,
            role,
            vec![format!("detach {policy_arn}")],
            DestroyOp::Role {
                name: role.clone(),
                policy_arn: policy_arn.to_string(),
            },
        ));
    }
    if let Some(p) = &remains.policy {
        let details = if p.non_default_versions.is_empty() {
            vec![]
        } else {
            vec![format!(
                "with versions {}",
                p.non_default_versions.join(", ")
            )]
        };
        changes.push(delete(
            Kind::Policy,
            &p.name,
            details,
            DestroyOp::Policy {
                arn: p.arn.clone(),
                versions: p.non_default_versions.clone(),
            },
        ));
    }
    if let Some(r) = &remains.repository {
        if r.holds_images && !force {
            changes.push(Change::new(
                Kind::Repository,
                &r.name,
                Action::Blocked,
                vec![
                    format!("{} holds images; deleting it deletes them.", r.name),
                    "Rerun with --force to delete the repository with its images, or move them first.".into(),
                ],
                Op::Blocked,
            ));
        } else {
            let details = if r.holds_images {
                vec!["and every image in it (--force)".into()]
            } else {
                vec![]
            };
            changes.push(delete(
                Kind::Repository,
                &r.name,
                details,
                DestroyOp::Repository {
                    name: r.name.clone(),
                    force,
                },
            ));
        }
    }
    if let Some(p) = &remains.provider {
        if p.trusted_by.is_empty() {
            changes.push(delete(
                Kind::OidcProvider,
                &p.url,
                vec![],
                DestroyOp::Provider { arn: p.arn.clone() },
            ));
        } else {
            notes.push(format!(
                "keeping OIDC provider {}: other roles trust it ({})",
                p.url,
                p.trusted_by.join(", ")
            ));
        }
    }
    (Plan { changes }, notes)
}

/// Runs one teardown step; anything already gone counts as deleted.
pub async fn run(aws: &Aws, github: &GitHub, repo: &RepoName, op: &DestroyOp) -> Result<()> {
    let gone = |f: crate::error::AwsFailure| -> Result<()> {
        if f.is("NoSuchEntity") || f.is("RepositoryNotFoundException") {
            Ok(())
        } else {
            Err(aws.error(f))
        }
    };
    match op {
        DestroyOp::Secret(place, name) => github.delete_secret(repo, place, name).await,
        DestroyOp::Variable(place, name) => github.delete_variable(repo, place, name).await,
        DestroyOp::AccessKeys { user, ids } => {
            for id in ids {
                if let Err(e) = aws
                    .iam
                    .delete_access_key()
                    .user_name(user)
                    .access_key_id(id)
                    .send()
                    .await
                {
                    gone(failure("iam:DeleteAccessKey", e))?;
                }
            }
            Ok(())
        }
        DestroyOp::User { name, policy_arn } => {
            if let Err(e) = aws
                .iam
                .detach_user_policy()
                .user_name(name)
                .policy_arn(policy_arn)
                .send()
                .await
            {
                gone(failure("iam:DetachUserPolicy", e))?;
            }
            match aws.iam.delete_user().user_name(name).send().await {
                Ok(_) => Ok(()),
                Err(e) => conflict(aws, failure("iam:DeleteUser", e), &format!("user {name}")),
            }
        }
        DestroyOp::Role { name, policy_arn } => {
            if let Err(e) = aws
                .iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(policy_arn)
                .send()
                .await
            {
                gone(failure("iam:DetachRolePolicy", e))?;
            }
            match aws.iam.delete_role().role_name(name).send().await {
                Ok(_) => Ok(()),
                Err(e) => conflict(aws, failure("iam:DeleteRole", e), &format!("role {name}")),
            }
        }
        DestroyOp::Policy { arn, versions } => {
            for v in versions {
                if let Err(e) = aws
                    .iam
                    .delete_policy_version()
                    .policy_arn(arn)
                    .version_id(v)
                    .send()
                    .await
                {
                    gone(failure("iam:DeletePolicyVersion", e))?;
                }
            }
            match aws.iam.delete_policy().policy_arn(arn).send().await {
                Ok(_) => Ok(()),
                Err(e) => conflict(
                    aws,
                    failure("iam:DeletePolicy", e),
                    &format!("policy {arn}"),
                ),
            }
        }
        DestroyOp::Repository { name, force } => match aws
            .ecr
            .delete_repository()
            .repository_name(name)
            .force(*force)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let f = failure("ecr:DeleteRepository", e);
                if f.is("RepositoryNotEmptyException") {
                    return Err(Error::Blocked(format!(
                        "repository {name} holds images (pushed since the plan); rerun destroy with --force to delete them too"
                    )));
                }
                gone(f)
            }
        },
        DestroyOp::Provider { arn } => {
            if let Err(e) = aws
                .iam
                .delete_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .send()
                .await
            {
                gone(failure("iam:DeleteOpenIDConnectProvider", e))?;
            }
            Ok(())
        }
    }
}

/// IAM refuses to delete what still has other attachments: say what to remove.
fn conflict(aws: &Aws, f: crate::error::AwsFailure, what: &str) -> Result<()> {
    if f.is("NoSuchEntity") {
        return Ok(());
    }
    if f.is("DeleteConflict") {
        return Err(Error::Blocked(format!(
            "AWS will not delete {what}: {}.\n  Something this tool did not create is attached to it; remove that first, then rerun destroy.",
            f.message
        )));
    }
    Err(aws.error(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn everything() -> Remains {
        Remains {
            secrets: vec![(Place::Repository, "AWS_ECR_ROLE_ARN".into())],
            variables: vec![(Place::Repository, "AWS_REGION".into())],
            user: Some("u".into()),
            access_keys: vec!["AKIA1".into()],
            role: Some("r".into()),
            policy: Some(PolicyRemains {
                name: "p".into(),
                arn: "arn:p".into(),
                non_default_versions: vec!["v1".into()],
            }),
            repository: Some(RepositoryRemains {
                name: "skypilot".into(),
                holds_images: false,
            }),
            provider: Some(ProviderRemains {
                url: "https://token.actions.githubusercontent.com".into(),
                arn: "arn:prov".into(),
                trusted_by: vec![],
            }),
        }
    }

    #[test]
    fn everything_goes_in_reverse_dependency_order() {
        let (plan, notes) = plan(&everything(), "arn:p", false);
        assert!(notes.is_empty());
        let stages: Vec<u8> = plan.changes.iter().map(|c| c.op.stage()).collect();
        let mut sorted = stages.clone();
        sorted.sort();
        assert_eq!(stages, sorted, "listed in the order they run");
        assert_eq!(plan.changes.len(), 8);
        assert!(plan.changes.iter().all(|c| c.action == Action::Delete));
    }

    #[test]
    fn a_shared_provider_and_a_full_repository_are_kept() {
        let mut r = everything();
        r.provider = r.provider.map(|p| ProviderRemains {
            trusted_by: vec!["other-role".into()],
            ..p
        });
        r.repository = Some(RepositoryRemains {
            name: "skypilot".into(),
            holds_images: true,
        });
        let (plan, notes) = plan(&r, "arn:p", false);
        assert!(notes[0].contains("other-role"));
        assert!(
            !plan
                .changes
                .iter()
                .any(|c| c.resource == Kind::OidcProvider)
        );
        assert!(
            plan.changes
                .iter()
                .any(|c| c.resource == Kind::Repository && c.action == Action::Blocked)
        );
        let (forced, _) = super::plan(&r, "arn:p", true);
        assert!(
            forced
                .changes
                .iter()
                .any(|c| c.resource == Kind::Repository && c.action == Action::Delete)
        );
    }

    #[test]
    fn nothing_left_is_an_empty_plan() {
        let (plan, notes) = plan(&Remains::default(), "arn:p", false);
        assert!(plan.changes.is_empty() && notes.is_empty());
    }
}
