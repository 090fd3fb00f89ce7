//! The IAM user of access-key mode, with the push policy attached.
use crate::cloud::aws::{Aws, failure, is_propagation_lag, retry_propagation};
use crate::error::Result;
use crate::plan::{Action, Change, Kind, Op};

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
        let f = failure("iam:GetUser", e);
        return if f.is("NoSuchEntity") {
            Ok(None)
        } else {
            Err(aws.error(f))
        };
    }
    match attached {
        Ok(out) => Ok(Some(Live {
            attached_policy_arns: out
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect(),
        })),
        Err(e) => {
            let f = failure("iam:ListAttachedUserPolicies", e);
            if f.is("NoSuchEntity") {
                Ok(None)
            } else {
                Err(aws.error(f))
            }
        }
    }
}

pub fn diff(spec: &Spec, live: Option<&Live>) -> Vec<Change> {
    let change =
        |action, details, op| Change::new(Kind::User, &spec.name, action, details, Op::User(op));
    match live {
        None => vec![change(
            Action::Create,
            vec![format!("attach {}", spec.policy_arn)],
            UserOp::Create,
        )],
        Some(l) if !l.attached_policy_arns.contains(&spec.policy_arn) => vec![
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
        ],
        Some(_) => Vec::new(),
    }
}

pub async fn apply(aws: &Aws, spec: &Spec, op: &UserOp) -> Result<()> {
    if *op == UserOp::Create {
        let created = aws.iam.create_user().user_name(&spec.name).send().await;
        if let Err(e) = created {
            let f = failure("iam:CreateUser", e);
            if !f.is("EntityAlreadyExists") {
                return Err(aws.error(f));
            }
        }
    }
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
