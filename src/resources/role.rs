//! The IAM role GitHub Actions assumes through OIDC; its trust policy is the security boundary,
//! and it holds exactly the push policy.
use serde_json::Value;

use super::change::{Action, Desire, Difference, Kind};
use super::holdings::{self, BoundaryChange, Fix, Holdings};
use super::ownership::{self, Owner, Tags};
use crate::cloud::aws::{
    Aws, failure, is_invalid_principal, is_propagation_lag, retry_propagation,
};
use crate::error::{Error, Result};
use crate::policy;
use crate::resources::finding::{Finding, Fixes};

pub type Change = super::change::Change<RoleOp>;

/// Also how a role of an earlier, untagged version is recognised as the tool's, and what
/// `export` writes (an engine that saw another text would change the role).
pub const DESCRIPTION: &str =
    "GitHub Actions pushes images to Amazon ECR (managed by skyecr-bootstrap)";

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub arn: String,
    pub trust: Value,
    /// The push policy attached to this role.
    pub policy_arn: String,
    pub boundary: Option<String>,
    pub tags: Tags,
    /// `OWNER/REPO`, canonical: whose setup this role is.
    pub repository: String,
    /// `--adopt`: take over a role the tool did not make, or another repository's.
    pub adopt: bool,
    /// A name the plan suggests when this one is taken.
    pub free_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub trust: Value,
    pub description: Option<String>,
    pub holdings: Holdings,
}

impl Live {
    pub fn owner(&self, repository: &str) -> Owner {
        ownership::owner(
            &self.holdings.tags,
            repository,
            self.description.as_deref() == Some(DESCRIPTION),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleOp {
    /// Create the role (tagged, with its boundary), then attach the push policy.
    Create,
    UpdateTrust,
    /// Tag, attach, detach, delete inline policies, set the boundary.
    Fix(Fix),
    /// Detach every managed policy and delete every inline one (IAM requires it), then the role.
    Delete {
        detach: Vec<String>,
        inline: Vec<String>,
    },
}

/// Reads a role by name (no account ID needed, so it runs in the first round).
pub async fn observe(aws: &Aws, name: &str) -> Result<Option<Live>> {
    let (role, attached, inline) = tokio::join!(
        aws.iam.get_role().role_name(name).send(),
        aws.iam
            .list_attached_role_policies()
            .role_name(name)
            .max_items(100)
            .send(),
        aws.iam
            .list_role_policies()
            .role_name(name)
            .max_items(100)
            .send(),
    );
    let role = match role {
        Ok(out) => out,
        Err(e) => return aws.absent(failure("iam:GetRole", e)),
    };
    let Some(role) = role.role() else {
        return Ok(None);
    };
    let trust = policy::decode_document(role.assume_role_policy_document().unwrap_or_default())
        .map_err(|e| Error::Unreadable {
            action: "iam:GetRole",
            what: format!("the trust policy of role {name}"),
            reason: e.to_string(),
        })?;
    // Deleted between the reads: report it as missing, the plan recreates it.
    let attached = match attached {
        Ok(out) => out
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
        Err(e) => return aws.absent(failure("iam:ListAttachedRolePolicies", e)),
    };
    let inline = match inline {
        Ok(out) => out.policy_names().to_vec(),
        Err(e) => return aws.absent(failure("iam:ListRolePolicies", e)),
    };
    Ok(Some(Live {
        trust,
        description: role.description().map(str::to_string),
        holdings: Holdings {
            attached,
            inline,
            boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
            tags: role
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        },
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

/// IAM's largest `ListRoles` page: a thousand roles in one round trip, not ten.
const ROLES_PER_PAGE: i32 = 1000;

/// Every role of the account, page by page: each one is handed to `keep`, and only what it
/// returns is held, so memory stays that of one page however many roles there are.
pub async fn scan_all<T>(aws: &Aws, mut keep: impl FnMut(Listed) -> Option<T>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let mut pages = aws
        .iam
        .list_roles()
        .max_items(ROLES_PER_PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error(failure("iam:ListRoles", e)))?;
        out.extend(page.roles().iter().filter_map(|r| {
            keep(Listed {
                name: r.role_name().to_string(),
                arn: r.arn().to_string(),
                trust: r
                    .assume_role_policy_document()
                    .unwrap_or_default()
                    .to_string(),
            })
        }));
    }
    Ok(out)
}

pub fn diff(desire: &Desire<Spec>, live: Option<&Live>) -> Vec<Change> {
    let spec = desire.spec();
    let change = |action, details, op| Change::new(Kind::Role, &spec.name, action, details, op);
    let Some(live) = live else {
        return match desire {
            Desire::Present(_) => {
                vec![change(Action::Create, create_details(spec), RoleOp::Create)]
            }
            Desire::Absent(_) => Vec::new(),
        };
    };
    let owner = &live.owner(&spec.repository);
    if desire.present().is_none() {
        if !owner.is_ours() {
            let kept = vec![ownership::kept_reason(owner)];
            return vec![Change::not_run(Kind::Role, &spec.name, Action::Keep, kept)];
        }
        let detach = live.holdings.attached.clone();
        return vec![change(
            Action::Delete,
            detach.iter().map(|a| format!("detach {a}")).collect(),
            RoleOp::Delete {
                detach,
                inline: live.holdings.inline.clone(),
            },
        )];
    }
    if let Some(blocked) = ownership::blocked(
        Kind::Role,
        &spec.name,
        owner,
        spec.adopt,
        "--role-name",
        &spec.free_name,
    ) {
        return vec![blocked];
    }
    let mut changes = Vec::new();
    if !policy::equivalent(&spec.trust, &live.trust) {
        changes.push(trust_change(spec, live));
    }
    let wanted = spec.wanted();
    let fix = holdings::fix(&wanted, &live.holdings);
    if !fix.is_empty() {
        let mut c = change(
            Action::Update,
            holdings::details(&fix, owner, &spec.policy_arn),
            RoleOp::Fix(fix.clone()),
        );
        c.differences = holdings::differences(&fix, &wanted, &live.holdings);
        changes.push(c);
    }
    changes
}

/// Audit checks of the role itself (its trust policy is checked by `audit`'s trust rules).
pub fn findings(spec: &Spec, live: &Live, fixes: &Fixes) -> Vec<Finding> {
    let fix = holdings::fix(&spec.wanted(), &live.holdings);
    holdings::findings(
        Kind::Role,
        &spec.name,
        "role-extra-permissions",
        &fix,
        fixes.apply(),
    )
}

/// A trust update, shown and reported one condition value per line (`+ sub …`, `- repository_id
/// 2002`); statements that grant something else are shown whole.
fn trust_change(spec: &Spec, live: &Live) -> Change {
    let (values, whole) = policy::value_changes(&spec.trust, &live.trust);
    let mut details = vec!["trust policy:".to_string()];
    details.extend(values.iter().map(|v| format!("  {}", v.line())));
    details.extend(whole.iter().map(|w| format!("  {w}")));
    let mut change = Change::new(
        Kind::Role,
        &spec.name,
        Action::Update,
        details,
        RoleOp::UpdateTrust,
    );
    change.differences = values
        .iter()
        .map(|v| Difference {
            field: format!("trust_policy {}", v.field()),
            expected: if v.added {
                v.value.clone().into()
            } else {
                Value::Null
            },
            actual: if v.added {
                Value::Null
            } else {
                v.value.clone().into()
            },
        })
        .collect();
    if !whole.is_empty() {
        change.differences.push(Difference {
            field: "trust_policy".into(),
            expected: spec.trust.clone(),
            actual: live.trust.clone(),
        });
    }
    change
}

impl Spec {
    fn wanted(&self) -> holdings::Wanted<'_> {
        holdings::Wanted {
            policy_arn: &self.policy_arn,
            boundary: self.boundary.as_deref(),
            tags: &self.tags,
        }
    }
}

fn create_details(spec: &Spec) -> Vec<String> {
    let mut details: Vec<String> = policy::condition_values(&spec.trust, "sub")
        .into_values()
        .flatten()
        .map(|s| format!("trust {s}"))
        .collect();
    details.push(format!("attach {}", spec.policy_arn));
    if let Some(b) = &spec.boundary {
        details.push(format!("permissions boundary {b}"));
    }
    details
}

pub async fn apply(aws: &Aws, spec: &Spec, op: &RoleOp) -> Result<()> {
    match op {
        RoleOp::Create => {
            let tags = aws_tags(&spec.tags);
            let created = retry_propagation(aws, is_invalid_principal, || async {
                aws.iam
                    .create_role()
                    .role_name(&spec.name)
                    .description(DESCRIPTION)
                    .assume_role_policy_document(spec.trust.to_string())
                    .set_permissions_boundary(spec.boundary.clone())
                    .set_tags(Some(tags.clone()))
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
        RoleOp::Fix(fix) => apply_fix(aws, spec, fix).await,
        RoleOp::Delete { detach, inline } => {
            detach_all(aws, spec, detach).await?;
            for name in inline {
                delete_inline(aws, spec, name).await?;
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

/// Tags first, so a run interrupted half way has already marked the role as the tool's.
async fn apply_fix(aws: &Aws, spec: &Spec, fix: &Fix) -> Result<()> {
    if !fix.tag.is_empty() {
        aws.iam
            .tag_role()
            .role_name(&spec.name)
            .set_tags(Some(aws_tags(&fix.tag)))
            .send()
            .await
            .map_err(|e| aws.error(failure("iam:TagRole", e)))?;
    }
    if fix.attach {
        attach(aws, spec).await?;
    }
    detach_all(aws, spec, &fix.detach).await?;
    for name in &fix.delete_inline {
        delete_inline(aws, spec, name).await?;
    }
    match &fix.boundary {
        Some(BoundaryChange::Set(arn)) => aws
            .iam
            .put_role_permissions_boundary()
            .role_name(&spec.name)
            .permissions_boundary(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws.error(failure("iam:PutRolePermissionsBoundary", e))),
        Some(BoundaryChange::Remove) => aws
            .iam
            .delete_role_permissions_boundary()
            .role_name(&spec.name)
            .send()
            .await
            .map(|_| ())
            .or_else(|e| aws.gone(failure("iam:DeleteRolePermissionsBoundary", e))),
        None => Ok(()),
    }
}

async fn detach_all(aws: &Aws, spec: &Spec, arns: &[String]) -> Result<()> {
    for arn in arns {
        if let Err(e) = aws
            .iam
            .detach_role_policy()
            .role_name(&spec.name)
            .policy_arn(arn)
            .send()
            .await
        {
            aws.gone(failure("iam:DetachRolePolicy", e))?;
        }
    }
    Ok(())
}

async fn delete_inline(aws: &Aws, spec: &Spec, name: &str) -> Result<()> {
    match aws
        .iam
        .delete_role_policy()
        .role_name(&spec.name)
        .policy_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => aws.gone(failure("iam:DeleteRolePolicy", e)),
    }
}

/// IAM's tag type for the tool's tags (the key and value are always set, so building cannot fail).
pub fn aws_tags(tags: &[(String, String)]) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect()
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

    const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

    fn trust(subjects: &[&str]) -> Value {
        let scope = policy::TrustScope {
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            ..policy::TrustScope::default()
        };
        policy::trust_policy("arn:p", "h", &scope)
    }

    fn spec() -> Spec {
        Spec {
            name: "r".into(),
            arn: "arn:aws:iam::123456789012:role/r".into(),
            trust: trust(&["repo:a/b:ref:refs/heads/main"]),
            policy_arn: "arn:aws:iam::123456789012:policy/p".into(),
            boundary: None,
            tags: ownership::tags("a/b"),
            repository: "a/b".into(),
            adopt: false,
            free_name: "GitHubActions-b-ECR".into(),
        }
    }

    fn live(trust: Value, attached: &[&str], tags: Tags) -> Live {
        Live {
            trust,
            description: None,
            holdings: Holdings {
                attached: attached.iter().map(|a| a.to_string()).collect(),
                tags,
                ..Holdings::default()
            },
        }
    }

    fn ours(trust: Value, attached: &[&str]) -> Live {
        live(trust, attached, ownership::tags("a/b"))
    }

    #[test]
    fn matching_role_has_no_changes_even_when_encoded_differently() {
        let s = spec();
        let mut trust = s.trust.clone();
        trust["Statement"] = json!(trust["Statement"][0].clone());
        let l = ours(trust, &[&s.policy_arn]);
        assert!(diff(&Desire::Present(s), Some(&l)).is_empty());
    }

    #[test]
    fn widened_trust_and_detached_policy_are_updates() {
        let s = spec();
        let l = ours(trust(&["repo:a/b:*"]), &[]);
        let changes = diff(&Desire::Present(s.clone()), Some(&l));
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
        assert_eq!(
            changes[1].op,
            Some(RoleOp::Fix(Fix {
                attach: true,
                ..Fix::default()
            }))
        );
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
    fn an_absent_role_of_ours_is_deleted_with_everything_attached() {
        let l = ours(spec().trust, &[&spec().policy_arn, ADMIN]);
        let changes = diff(&Desire::Absent(spec()), Some(&l));
        assert_eq!(
            (changes[0].action, changes[0].op.clone()),
            (
                Action::Delete,
                Some(RoleOp::Delete {
                    detach: vec![spec().policy_arn, ADMIN.into()],
                    inline: vec![]
                })
            )
        );
        assert!(diff(&Desire::Absent(spec()), None).is_empty());
    }

    #[test]
    fn a_role_the_tool_did_not_make_is_blocked_until_adopted() {
        let foreign = live(json!({}), &[ADMIN], vec![]);
        let blocked = diff(&Desire::Present(spec()), Some(&foreign));
        assert_eq!(blocked.len(), 1);
        assert_eq!(
            (blocked[0].action, blocked[0].op.clone()),
            (Action::Blocked, None)
        );
        assert!(blocked[0].details[0].contains("pass --adopt"));
        let adopt = Spec {
            adopt: true,
            ..spec()
        };
        let adopted = diff(&Desire::Present(adopt), Some(&foreign));
        assert_eq!(adopted[0].op, Some(RoleOp::UpdateTrust));
        assert_eq!(
            adopted[1].op,
            Some(RoleOp::Fix(Fix {
                tag: ownership::tags("a/b"),
                attach: true,
                detach: vec![ADMIN.into()],
                ..Fix::default()
            }))
        );
        let kept = diff(&Desire::Absent(spec()), Some(&foreign));
        assert_eq!(kept[0].action, Action::Keep);
    }

    #[test]
    fn another_repositorys_role_is_blocked_with_a_free_name() {
        let theirs = live(
            spec().trust,
            &[&spec().policy_arn],
            ownership::tags("a/other"),
        );
        let blocked = diff(&Desire::Present(spec()), Some(&theirs));
        let text = blocked[0].details.join(" ");
        assert!(text.contains("a/other") && text.contains("--role-name GitHubActions-b-ECR"));
    }

    #[test]
    fn a_role_of_an_earlier_version_is_tagged_not_blocked() {
        let mut earlier = live(spec().trust, &[&spec().policy_arn], vec![]);
        earlier.description = Some(DESCRIPTION.into());
        let changes = diff(&Desire::Present(spec()), Some(&earlier));
        assert_eq!(
            changes.iter().map(|c| c.op.clone()).collect::<Vec<_>>(),
            [Some(RoleOp::Fix(Fix {
                tag: ownership::tags("a/b"),
                ..Fix::default()
            }))]
        );
        assert!(changes[0].details[0].contains("earlier version"));
    }
}
