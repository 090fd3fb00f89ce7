//! The IAM user of access-key mode: it holds exactly the push policy.
use super::change::{Action, Desire, Kind, Part};
use super::holdings::{self, BoundaryChange, Fix, Holdings};
use super::ownership::{self, Owner, Tags};
use super::role::aws_tags;
use crate::cloud::aws::{Aws, failure, is_propagation_lag, retry_propagation};
use crate::error::Result;
use crate::resources::finding::{Finding, Fixes};

pub type Change = super::change::Change<UserOp>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub policy_arn: String,
    pub boundary: Option<String>,
    pub tags: Tags,
    /// `OWNER/REPO`, canonical: whose setup this user is.
    pub repository: String,
    /// `--adopt`: take over a user the tool did not make, or another repository's.
    pub adopt: bool,
    /// A name the plan suggests when this one is taken.
    pub free_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub holdings: Holdings,
}

impl Live {
    /// IAM users have no description: an untagged user of an earlier version is recognised by
    /// the tool's own push policy attached to it.
    pub fn owner(&self, spec: &Spec) -> Owner {
        let vouched = self.holdings.attached.contains(&spec.policy_arn);
        ownership::owner(&self.holdings.tags, &spec.repository, vouched)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserOp {
    /// Create the user (tagged, with its boundary), then attach the push policy.
    Create,
    /// Tag, attach, detach, delete inline policies, set the boundary.
    Fix(Fix),
    /// Detach and delete its policies (IAM requires it), then the user; its keys are gone by then.
    Delete {
        detach: Vec<String>,
        inline: Vec<String>,
    },
}

pub async fn observe(aws: &Aws, name: &str) -> Result<Option<Live>> {
    let (user, attached, inline) = tokio::join!(
        aws.iam.get_user().user_name(name).send(),
        aws.iam
            .list_attached_user_policies()
            .user_name(name)
            .max_items(100)
            .send(),
        aws.iam
            .list_user_policies()
            .user_name(name)
            .max_items(100)
            .send(),
    );
    let user = match user {
        Ok(out) => out,
        Err(e) => return aws.absent(failure("iam:GetUser", e)),
    };
    let Some(user) = user.user() else {
        return Ok(None);
    };
    let attached = match attached {
        Ok(out) => out
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
        Err(e) => return aws.absent(failure("iam:ListAttachedUserPolicies", e)),
    };
    let inline = match inline {
        Ok(out) => out.policy_names().to_vec(),
        Err(e) => return aws.absent(failure("iam:ListUserPolicies", e)),
    };
    Ok(Some(Live {
        holdings: Holdings {
            attached,
            inline,
            boundary: user
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
            tags: user
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        },
    }))
}

pub fn diff(desire: &Desire<Spec>, live: Option<&Live>) -> Vec<Change> {
    let spec = desire.spec();
    let change = |action, details, op| Change::new(Kind::User, &spec.name, action, details, op);
    let Some(live) = live else {
        return match desire {
            Desire::Present(_) => {
                let mut details = vec![format!("attach {}", spec.policy_arn)];
                details.extend(
                    spec.boundary
                        .iter()
                        .map(|b| format!("permissions boundary {b}")),
                );
                vec![change(Action::Create, details, UserOp::Create)]
            }
            Desire::Absent(_) => Vec::new(),
        };
    };
    let owner = &live.owner(spec);
    if desire.present().is_none() {
        if !owner.is_ours() {
            let kept = vec![ownership::kept_reason(owner)];
            return vec![Change::not_run(Kind::User, &spec.name, Action::Keep, kept)];
        }
        let detach = live.holdings.attached.clone();
        return vec![change(
            Action::Delete,
            detach.iter().map(|a| format!("detach {a}")).collect(),
            UserOp::Delete {
                detach,
                inline: live.holdings.inline.clone(),
            },
        )];
    }
    if let Some(blocked) = ownership::blocked(
        Kind::User,
        &spec.name,
        owner,
        spec.adopt,
        "--user-name",
        &spec.free_name,
    ) {
        return vec![blocked];
    }
    let wanted = holdings::Wanted {
        policy_arn: &spec.policy_arn,
        boundary: spec.boundary.as_deref(),
        tags: &spec.tags,
    };
    let fix = holdings::fix(&wanted, &live.holdings);
    if fix.is_empty() {
        return Vec::new();
    }
    let mut c = change(
        Action::Update,
        holdings::details(&fix, owner, &spec.policy_arn),
        UserOp::Fix(fix.clone()),
    );
    c.differences = holdings::differences(&fix, &wanted, &live.holdings);
    vec![c]
}

/// Audit checks of the user itself.
pub fn findings(spec: &Spec, live: &Live, fixes: &Fixes) -> Vec<Finding> {
    let wanted = holdings::Wanted {
        policy_arn: &spec.policy_arn,
        boundary: spec.boundary.as_deref(),
        tags: &spec.tags,
    };
    let fix = holdings::fix(&wanted, &live.holdings);
    holdings::findings(
        Kind::User,
        &spec.name,
        "user-extra-permissions",
        &fix,
        fixes.apply(),
    )
}

/// `UserOp::Create` runs in two parts (`plan::Op::parts`): the user, then the policy attached.
pub async fn apply(aws: &Aws, spec: &Spec, op: &UserOp, part: Part) -> Result<()> {
    match op {
        UserOp::Create if part == Part::Rest => attach(aws, spec).await,
        UserOp::Create => {
            let created = aws
                .iam
                .create_user()
                .user_name(&spec.name)
                .set_permissions_boundary(spec.boundary.clone())
                .set_tags(Some(aws_tags(&spec.tags)))
                .send()
                .await;
            if let Err(e) = created {
                let f = failure("iam:CreateUser", e);
                if !f.is_already_exists() {
                    return Err(aws.error(f));
                }
            }
            Ok(())
        }
        UserOp::Fix(fix) => apply_fix(aws, spec, fix).await,
        UserOp::Delete { detach, inline } => {
            detach_all(aws, spec, detach).await?;
            delete_inline(aws, spec, inline).await?;
            match aws.iam.delete_user().user_name(&spec.name).send().await {
                Ok(_) => Ok(()),
                Err(e) => aws.gone_unless_attached(
                    failure("iam:DeleteUser", e),
                    &format!("user {}", spec.name),
                ),
            }
        }
    }
}

/// Tags first, so a run interrupted half way has already marked the user as the tool's.
async fn apply_fix(aws: &Aws, spec: &Spec, fix: &Fix) -> Result<()> {
    if !fix.tag.is_empty() {
        aws.iam
            .tag_user()
            .user_name(&spec.name)
            .set_tags(Some(aws_tags(&fix.tag)))
            .send()
            .await
            .map_err(|e| aws.error(failure("iam:TagUser", e)))?;
    }
    if fix.attach {
        attach(aws, spec).await?;
    }
    detach_all(aws, spec, &fix.detach).await?;
    delete_inline(aws, spec, &fix.delete_inline).await?;
    match &fix.boundary {
        Some(BoundaryChange::Set(arn)) => aws
            .iam
            .put_user_permissions_boundary()
            .user_name(&spec.name)
            .permissions_boundary(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws.error(failure("iam:PutUserPermissionsBoundary", e))),
        Some(BoundaryChange::Remove) => aws
            .iam
            .delete_user_permissions_boundary()
            .user_name(&spec.name)
            .send()
            .await
            .map(|_| ())
            .or_else(|e| aws.gone(failure("iam:DeleteUserPermissionsBoundary", e))),
        None => Ok(()),
    }
}

async fn detach_all(aws: &Aws, spec: &Spec, arns: &[String]) -> Result<()> {
    for arn in arns {
        if let Err(e) = aws
            .iam
            .detach_user_policy()
            .user_name(&spec.name)
            .policy_arn(arn)
            .send()
            .await
        {
            aws.gone(failure("iam:DetachUserPolicy", e))?;
        }
    }
    Ok(())
}

async fn delete_inline(aws: &Aws, spec: &Spec, names: &[String]) -> Result<()> {
    for name in names {
        if let Err(e) = aws
            .iam
            .delete_user_policy()
            .user_name(&spec.name)
            .policy_name(name)
            .send()
            .await
        {
            aws.gone(failure("iam:DeleteUserPolicy", e))?;
        }
    }
    Ok(())
}

async fn attach(aws: &Aws, spec: &Spec) -> Result<()> {
    retry_propagation(aws, is_propagation_lag, || async {
        aws.iam
            .attach_user_policy()
            .user_name(&spec.name)
            .policy_arn(&spec.policy_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure("iam:AttachUserPolicy", e))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            name: "u".into(),
            policy_arn: "arn:aws:iam::123456789012:policy/p".into(),
            boundary: None,
            tags: ownership::tags("acme/app"),
            repository: "acme/app".into(),
            adopt: false,
            free_name: "github-actions-app-ecr".into(),
        }
    }

    fn live(attached: &[&str], tags: Tags) -> Live {
        Live {
            holdings: Holdings {
                attached: attached.iter().map(|a| a.to_string()).collect(),
                tags,
                ..Holdings::default()
            },
        }
    }

    fn ops(d: Desire<Spec>, l: Option<&Live>) -> Vec<(Action, Option<UserOp>)> {
        diff(&d, l).into_iter().map(|c| (c.action, c.op)).collect()
    }

    #[test]
    fn the_user_lives_and_dies_with_its_desire() {
        let p = spec().policy_arn;
        let ours = live(&[&p], ownership::tags("acme/app"));
        assert_eq!(
            ops(Desire::Present(spec()), None),
            [(Action::Create, Some(UserOp::Create))]
        );
        assert!(ops(Desire::Present(spec()), Some(&ours)).is_empty());
        assert_eq!(
            ops(Desire::Absent(spec()), Some(&ours)),
            [(
                Action::Delete,
                Some(UserOp::Delete {
                    detach: vec![p],
                    inline: vec![]
                })
            )]
        );
        assert!(ops(Desire::Absent(spec()), None).is_empty());
    }

    #[test]
    fn a_user_the_tool_did_not_make_is_blocked_kept_or_adopted() {
        let foreign = live(&["arn:aws:iam::aws:policy/AdministratorAccess"], vec![]);
        assert_eq!(
            ops(Desire::Present(spec()), Some(&foreign)),
            [(Action::Blocked, None)]
        );
        assert_eq!(
            ops(Desire::Absent(spec()), Some(&foreign)),
            [(Action::Keep, None)]
        );
        let adopt = Spec {
            adopt: true,
            ..spec()
        };
        let changes = diff(&Desire::Present(adopt), Some(&foreign));
        assert_eq!(
            changes[0].details,
            [
                "+ tag managed-by=skyecr-bootstrap, skyecr-bootstrap/github-repository=acme/app (--adopt)",
                "attach arn:aws:iam::123456789012:policy/p",
                "- detach arn:aws:iam::aws:policy/AdministratorAccess",
            ]
        );
        // An untagged user holding the tool's push policy is the tool's from before tags.
        let earlier = live(&[&spec().policy_arn], vec![]);
        let tagged = diff(&Desire::Present(spec()), Some(&earlier));
        assert_eq!(tagged[0].action, Action::Update);
        assert!(tagged[0].details[0].contains("earlier version"));
    }
}
