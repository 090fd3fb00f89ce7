//! The IAM role GitHub Actions assumes through OIDC; its trust policy is the security boundary.
use serde_json::Value;

use super::change::{Action, Desire, Kind};
use crate::cloud::aws::{
    Aws, failure, is_invalid_principal, is_propagation_lag, retry_propagation,
};
use crate::error::{Error, Result};
use crate::policy;

pub type Change = super::change::Change<RoleOp>;

/// Also what `export` writes: an engine that saw another text would change the role.
pub const DESCRIPTION: &str =
    "GitHub Actions pushes images to Amazon ECR (managed by skyecr-bootstrap)";

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub arn: String,
    pub trust: Value,
    /// The push policy attached to this role.
    pub policy_arn: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub trust: Value,
    pub attached_policy_arns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleOp {
    /// Create the role, then attach the push policy.
    Create,
    UpdateTrust,
    AttachPolicy,
    /// Detach the push policy, then delete the role.
    Delete,
}

/// Reads a role by name (no account ID needed, so it runs in the first round).
pub async fn observe(aws: &Aws, name: &str) -> Result<Option<Live>> {
    let (role, attached) = tokio::join!(
        aws.iam.get_role().role_name(name).send(),
        aws.iam
            .list_attached_role_policies()
            .role_name(name)
            .max_items(100)
            .send(),
    );
    let role = match role {
        Ok(out) => out,
        Err(e) => return aws.absent(failure("iam:GetRole", e)),
    };
    let raw = role
        .role()
        .map(|r| r.assume_role_policy_document().unwrap_or_default())
        .unwrap_or_default();
    let trust = policy::decode_document(raw).map_err(|e| Error::Unreadable {
        action: "iam:GetRole",
        what: format!("the trust policy of role {name}"),
        reason: e.to_string(),
    })?;
    let attached_policy_arns = match attached {
        Ok(out) => out
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
        // Deleted between the two reads: report it as missing, the plan recreates it.
        Err(e) => return aws.absent(failure("iam:ListAttachedRolePolicies", e)),
    };
    Ok(Some(Live {
        trust,
        attached_policy_arns,
    }))
}

/// A role of the account as `ListRoles` shows it, for the account-wide audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub arn: String,
    /// The trust policy as listed (plain JSON, not percent-encoded like `GetRole`'s).
    pub trust: String,
}

/// Every role of the account, page by page.
pub async fn observe_all(aws: &Aws) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut pages = aws.iam.list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error(failure("iam:ListRoles", e)))?;
        out.extend(page.roles().iter().map(|r| {
            Listed {
                name: r.role_name().to_string(),
                arn: r.arn().to_string(),
                trust: r
                    .assume_role_policy_document()
                    .unwrap_or_default()
                    .to_string(),
            }
        }));
    }
    Ok(out)
}

pub fn diff(desire: &Desire<Spec>, live: Option<&Live>) -> Vec<Change> {
    let spec = desire.spec();
    let change = |action, details, op| Change::new(Kind::Role, &spec.name, action, details, op);
    if desire.present().is_none() {
        return match live {
            Some(_) => vec![change(
                Action::Delete,
                vec![format!("detach {}", spec.policy_arn)],
                RoleOp::Delete,
            )],
            None => Vec::new(),
        };
    }
    let Some(live) = live else {
        let mut details: Vec<String> = policy::condition_values(&spec.trust, "sub")
            .into_values()
            .flatten()
            .map(|s| format!("trust {s}"))
            .collect();
        details.push(format!("attach {}", spec.policy_arn));
        return vec![change(Action::Create, details, RoleOp::Create)];
    };
    let mut changes = Vec::new();
    if !policy::equivalent(&spec.trust, &live.trust) {
        let mut details = vec!["trust policy:".to_string()];
        details.extend(
            policy::differences(&spec.trust, &live.trust)
                .into_iter()
                .map(|d| format!("  {d}")),
        );
        changes.push(
            change(Action::Update, details, RoleOp::UpdateTrust).differing(
                "trust_policy",
                spec.trust.clone(),
                live.trust.clone(),
            ),
        );
    }
    if !live.attached_policy_arns.contains(&spec.policy_arn) {
        changes.push(
            change(
                Action::Update,
                vec![format!("attach {}", spec.policy_arn)],
                RoleOp::AttachPolicy,
            )
            .differing(
                "attached_policies",
                serde_json::json!([spec.policy_arn]),
                serde_json::json!(live.attached_policy_arns),
            ),
        );
    }
    changes
}

pub async fn apply(aws: &Aws, spec: &Spec, op: &RoleOp) -> Result<()> {
    match op {
        RoleOp::Create => {
            let created = retry_propagation(aws, is_invalid_principal, || async {
                aws.iam
                    .create_role()
                    .role_name(&spec.name)
                    .description(DESCRIPTION)
                    .assume_role_policy_document(spec.trust.to_string())
                    .send()
                    .await
                    .map(|_| true)
                    .or_else(|e| {
                        let f = failure("iam:CreateRole", e);
                        if f.is_already_exists() {
                            Ok(false)
                        } else {
                            Err(f)
                        }
                    })
            })
            .await?;
            if !created {
                // A concurrent run won the race; make sure its trust is ours.
                update_trust(aws, spec).await?;
            }
            attach(aws, spec).await
        }
        RoleOp::UpdateTrust => update_trust(aws, spec).await,
        RoleOp::AttachPolicy => attach(aws, spec).await,
        RoleOp::Delete => {
            if let Err(e) = aws
                .iam
                .detach_role_policy()
                .role_name(&spec.name)
                .policy_arn(&spec.policy_arn)
                .send()
                .await
            {
                aws.gone(failure("iam:DetachRolePolicy", e))?;
            }
            match aws.iam.delete_role().role_name(&spec.name).send().await {
                Ok(_) => Ok(()),
                Err(e) => aws.gone_unless_attached(
                    failure("iam:DeleteRole", e),
                    &format!("role {}", spec.name),
                ),
            }
        }
    }
}

async fn update_trust(aws: &Aws, spec: &Spec) -> Result<()> {
    retry_propagation(
        aws,
        |f| is_invalid_principal(f) || is_propagation_lag(f),
        || async {
            aws.iam
                .update_assume_role_policy()
                .role_name(&spec.name)
                .policy_document(spec.trust.to_string())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| failure("iam:UpdateAssumeRolePolicy", e))
        },
    )
    .await
}

async fn attach(aws: &Aws, spec: &Spec) -> Result<()> {
    retry_propagation(aws, is_propagation_lag, || async {
        aws.iam
            .attach_role_policy()
            .role_name(&spec.name)
            .policy_arn(&spec.policy_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure("iam:AttachRolePolicy", e))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Spec {
        Spec {
            name: "r".into(),
            arn: "arn:aws:iam::123456789012:role/r".into(),
            trust: policy::trust_policy("arn:p", "h", &["repo:a/b:ref:refs/heads/main".into()]),
            policy_arn: "arn:aws:iam::123456789012:policy/p".into(),
        }
    }

    #[test]
    fn matching_role_has_no_changes_even_when_encoded_differently() {
        let s = spec();
        let mut trust = s.trust.clone();
        trust["Statement"] = json!(trust["Statement"][0].clone());
        let live = Live {
            trust,
            attached_policy_arns: vec![s.policy_arn.clone()],
        };
        assert!(diff(&Desire::Present(s), Some(&live)).is_empty());
    }

    #[test]
    fn widened_trust_and_detached_policy_are_updates() {
        let s = spec();
        let live = Live {
            trust: policy::trust_policy("arn:p", "h", &["repo:a/b:*".into()]),
            attached_policy_arns: vec![],
        };
        let changes = diff(&Desire::Present(s), Some(&live));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].op, Some(RoleOp::UpdateTrust));
        assert!(
            changes[0]
                .details
                .iter()
                .any(|d| d.contains("- ") && d.contains("repo:a/b:*"))
        );
        assert!(
            changes[0]
                .details
                .iter()
                .any(|d| d.contains("+ ") && d.contains("refs/heads/main"))
        );
        assert_eq!(changes[1].op, Some(RoleOp::AttachPolicy));
    }

    #[test]
    fn missing_role_is_created_with_its_subjects() {
        let changes = diff(&Desire::Present(spec()), None);
        assert_eq!(changes[0].action, Action::Create);
        assert!(
            changes[0]
                .details
                .iter()
                .any(|d| d == "trust repo:a/b:ref:refs/heads/main")
        );
    }

    #[test]
    fn an_absent_role_is_deleted_when_it_exists() {
        let live = Live {
            trust: spec().trust,
            attached_policy_arns: vec![spec().policy_arn],
        };
        let changes = diff(&Desire::Absent(spec()), Some(&live));
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].action, changes[0].op.clone()),
            (Action::Delete, Some(RoleOp::Delete))
        );
        assert!(diff(&Desire::Absent(spec()), None).is_empty());
    }
}
