//! The IAM user of access-key mode, with the push policy attached.
use super::change::{Action, Desire, Kind};
use crate::cloud::aws::{Aws, failure, is_propagation_lag, retry_propagation};
use crate::error::Result;

pub type Change = super::change::Change<UserOp>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub policy_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub attached_policy_arns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserOp {
    /// Create the user, then attach the push policy.
    Create,
    AttachPolicy,
    /// Detach the push policy, then delete the user (its access keys are gone by then).
    Delete,
}

pub async fn observe(aws: &Aws, name: &str) -> Result<Option<Live>> {
    let (user, attached) = tokio::join!(
        aws.iam.get_user().user_name(name).send(),
        aws.iam
            .list_attached_user_policies()
            .user_name(name)
            .max_items(100)
            .send(),
    );
    if let Err(e) = user {
        return aws.absent(failure("iam:GetUser", e));
    }
    match attached {
        Ok(out) => Ok(Some(Live {
            attached_policy_arns: out
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect(),
        })),
        Err(e) => aws.absent(failure("iam:ListAttachedUserPolicies", e)),
    }
}

pub fn diff(desire: &Desire<Spec>, live: Option<&Live>) -> Vec<Change> {
    let spec = desire.spec();
    let change = |action, details, op| Change::new(Kind::User, &spec.name, action, details, op);
    match (desire, live) {
        (Desire::Absent(_), Some(_)) => vec![change(
            Action::Delete,
            vec![format!("detach {}", spec.policy_arn)],
            UserOp::Delete,
        )],
        (Desire::Absent(_), None) => Vec::new(),
        (Desire::Present(_), None) => vec![change(
            Action::Create,
            vec![format!("attach {}", spec.policy_arn)],
            UserOp::Create,
        )],
        (Desire::Present(_), Some(l)) if !l.attached_policy_arns.contains(&spec.policy_arn) => {
            vec![
                change(
                    Action::Update,
                    vec![format!("attach {}", spec.policy_arn)],
                    UserOp::AttachPolicy,
                )
                .differing(
                    "attached_policies",
                    serde_json::json!([spec.policy_arn]),
                    serde_json::json!(l.attached_policy_arns),
                ),
            ]
        }
        (Desire::Present(_), Some(_)) => Vec::new(),
    }
}

pub async fn apply(aws: &Aws, spec: &Spec, op: &UserOp) -> Result<()> {
    match op {
        UserOp::Create => {
            if let Err(e) = aws.iam.create_user().user_name(&spec.name).send().await {
                let f = failure("iam:CreateUser", e);
                if !f.is_already_exists() {
                    return Err(aws.error(f));
                }
            }
            attach(aws, spec).await
        }
        UserOp::AttachPolicy => attach(aws, spec).await,
        UserOp::Delete => {
            if let Err(e) = aws
                .iam
                .detach_user_policy()
                .user_name(&spec.name)
                .policy_arn(&spec.policy_arn)
                .send()
                .await
            {
                aws.gone(failure("iam:DetachUserPolicy", e))?;
            }
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
        }
    }

    #[test]
    fn the_user_lives_and_dies_with_its_desire() {
        let attached = Live {
            attached_policy_arns: vec![spec().policy_arn],
        };
        let bare = Live {
            attached_policy_arns: vec![],
        };
        let ops = |d: Desire<Spec>, l: Option<&Live>| -> Vec<Option<UserOp>> {
            diff(&d, l).into_iter().map(|c| c.op).collect()
        };
        assert_eq!(ops(Desire::Present(spec()), None), [Some(UserOp::Create)]);
        assert_eq!(
            ops(Desire::Present(spec()), Some(&bare)),
            [Some(UserOp::AttachPolicy)]
        );
        assert!(ops(Desire::Present(spec()), Some(&attached)).is_empty());
        assert_eq!(
            ops(Desire::Absent(spec()), Some(&attached)),
            [Some(UserOp::Delete)]
        );
        assert!(ops(Desire::Absent(spec()), None).is_empty());
    }
}
