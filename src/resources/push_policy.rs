//! The managed ECR push policy: exactly the guide's actions, on exactly one repository.
use std::sync::Arc;

use aws_sdk_iam::types::{EntityType, ManagedPolicyDetail};
use serde_json::Value;

use super::change::{Action, Desire, Kind};
use super::ownership::{self, Owner, Tags};
use super::role::aws_tags;
use crate::cloud::aws::{Aws, failure};
use crate::error::{Error, Result};
use crate::policy;

pub type Change = super::change::Change<PolicyOp>;

/// IAM keeps at most five versions of a managed policy.
const MAX_VERSIONS: usize = 5;

/// Also how a policy of an earlier, untagged version is recognised as the tool's, and what
/// `export` writes (IAM cannot change a policy's description: an engine that saw another text
/// would replace the policy).
pub const DESCRIPTION: &str = "Push images to one ECR repository (managed by skyecr-bootstrap)";

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub arn: String,
    pub document: Value,
    pub tags: Tags,
    /// `OWNER/REPO`, canonical: whose setup this policy is.
    pub repository: String,
    /// `--adopt`: take over a policy the tool did not make, or another repository's.
    pub adopt: bool,
    /// A name the plan suggests when this one is taken.
    pub free_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub default_version: String,
    pub document: Value,
    pub versions: Vec<Version>,
    pub description: Option<String>,
    pub tags: Tags,
}

impl Live {
    pub fn owner(&self, repository: &str) -> Owner {
        ownership::owner(
            &self.tags,
            repository,
            self.description.as_deref() == Some(DESCRIPTION),
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub id: String,
    pub is_default: bool,
    /// Seconds since the epoch; orders versions for pruning.
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOp {
    Create,
    /// A new default version, after deleting `prune` when IAM's limit is reached.
    NewVersion {
        prune: Option<String>,
    },
    /// Delete every non-default version (IAM requires it), then the policy.
    Delete {
        versions: Vec<String>,
    },
    /// Mark it as the tool's (an earlier version's policy, or one adopted).
    Tag(Tags),
}

/// Reads every version with its document in one paginated call that needs no account ID,
/// so the policy is observed in the same round as everything else.
/// Finds the policy by name. With `known` (its ARN, when the account is recorded) its tags are
/// read at once, not after it is found.
pub async fn observe(aws: &Aws, name: &str, known: Option<&str>) -> Result<Option<Live>> {
    let early_tags = async {
        match known {
            Some(arn) => Some(tags_of(aws, arn).await),
            None => None,
        }
    };
    let (found, early_tags) = tokio::join!(find(aws, name), early_tags);
    let Some((found, document)) = found? else {
        return Ok(None);
    };
    let tags = match (found.arn(), early_tags) {
        (Some(arn), Some(tags)) if Some(arn) == known => tags?,
        (Some(arn), _) => tags_of(aws, arn).await?,
        (None, _) => Vec::new(),
    };
    let default_version = found.default_version_id().unwrap_or("v1").to_string();
    Ok(Some(Live {
        default_version,
        document,
        versions: found
            .policy_version_list()
            .iter()
            .map(|v| Version {
                id: v.version_id().unwrap_or_default().to_string(),
                is_default: v.is_default_version(),
                created: v.create_date().map(|d| d.secs()).unwrap_or_default(),
            })
            .collect(),
        description: found.description().map(str::to_string),
        tags,
    }))
}

/// The policy's details and its default version's document.
async fn find(aws: &Aws, name: &str) -> Result<Option<(ManagedPolicyDetail, Value)>> {
    let suffix = format!(":policy/{name}");
    let policies = aws
        .read_once("iam:GetAccountAuthorizationDetails", || local_policies(aws))
        .await?;
    let Some(found) = policies
        .iter()
        .find(|p| p.arn().is_some_and(|arn| arn.ends_with(&suffix)))
    else {
        return Ok(None);
    };
    let default_version = found.default_version_id().unwrap_or("v1");
    let raw = found
        .policy_version_list()
        .iter()
        .find(|v| v.is_default_version() || v.version_id() == Some(default_version))
        .and_then(|v| v.document())
        .unwrap_or_default();
    let document = policy::decode_document(raw).map_err(|e| Error::Unreadable {
        action: "iam:GetAccountAuthorizationDetails",
        what: format!("policy {name} version {default_version}"),
        reason: e.to_string(),
    })?;
    Ok(Some((found.clone(), document)))
}

/// The account's own managed policies with all their versions: one listing serves every
/// repository of the run.
async fn local_policies(aws: &Aws) -> Result<Arc<Vec<ManagedPolicyDetail>>> {
    let mut all = Vec::new();
    let mut pages = aws
        .iam
        .get_account_authorization_details()
        .filter(EntityType::LocalManagedPolicy)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error(failure("iam:GetAccountAuthorizationDetails", e)))?;
        all.extend(page.policies().iter().cloned());
    }
    Ok(Arc::new(all))
}

/// The policy's tags: `GetAccountAuthorizationDetails` does not carry them.
async fn tags_of(aws: &Aws, arn: &str) -> Result<Tags> {
    match aws.iam.list_policy_tags().policy_arn(arn).send().await {
        Ok(out) => Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()),
        Err(e) => aws
            .absent(failure("iam:ListPolicyTags", e))
            .map(Option::unwrap_or_default),
    }
}

pub fn diff(desire: &Desire<Spec>, live: Option<&Live>) -> Vec<Change> {
    let spec = desire.spec();
    let change = |action, details, op| Change::new(Kind::Policy, &spec.name, action, details, op);
    let owner = live.map(|l| l.owner(&spec.repository));
    if desire.present().is_none() {
        let (Some(live), Some(owner)) = (live, owner) else {
            return Vec::new();
        };
        if !owner.is_ours() {
            let kept = vec![ownership::kept_reason(&owner)];
            return vec![Change::not_run(
                Kind::Policy,
                &spec.name,
                Action::Keep,
                kept,
            )];
        }
        let versions: Vec<String> = live
            .versions
            .iter()
            .filter(|v| !v.is_default)
            .map(|v| v.id.clone())
            .collect();
        let details = if versions.is_empty() {
            vec![]
        } else {
            vec![format!("with versions {}", versions.join(", "))]
        };
        return vec![change(
            Action::Delete,
            details,
            PolicyOp::Delete { versions },
        )];
    }
    let (Some(live), Some(owner)) = (live, owner) else {
        return vec![change(
            Action::Create,
            vec![format!(
                "ECR push actions on {}",
                repository_of(&spec.document)
            )],
            PolicyOp::Create,
        )];
    };
    let gate = ownership::blocked(
        Kind::Policy,
        &spec.name,
        &owner,
        spec.adopt,
        "--policy-name",
        &spec.free_name,
    );
    if let Some(blocked) = gate {
        return vec![blocked];
    }
    let mut changes: Vec<Change> = ownership::tagging(
        Kind::Policy,
        &spec.name,
        &owner,
        &live.tags,
        &spec.tags,
        PolicyOp::Tag,
    )
    .into_iter()
    .collect();
    if policy::equivalent(&spec.document, &live.document) {
        return changes;
    }
    let prune = (live.versions.len() >= MAX_VERSIONS)
        .then(|| {
            live.versions
                .iter()
                .filter(|v| !v.is_default)
                .min_by_key(|v| (v.created, v.id.clone()))
                .map(|v| v.id.clone())
        })
        .flatten();
    let mut details = vec![format!(
        "new default version replacing {}:",
        live.default_version
    )];
    details.extend(
        policy::differences(&spec.document, &live.document)
            .into_iter()
            .map(|d| format!("  {d}")),
    );
    if let Some(old) = &prune {
        details.push(format!(
            "delete oldest version {old} first (IAM keeps at most {MAX_VERSIONS})"
        ));
    }
    changes.push(
        change(Action::Update, details, PolicyOp::NewVersion { prune }).differing(
            "document",
            spec.document.clone(),
            live.document.clone(),
        ),
    );
    changes
}

fn repository_of(document: &Value) -> String {
    document["Statement"]
        .as_array()
        .and_then(|s| {
            s.iter()
                .find_map(|st| st["Resource"].as_str().filter(|r| *r != "*"))
        })
        .unwrap_or("the repository")
        .to_string()
}

pub async fn apply(aws: &Aws, spec: &Spec, op: &PolicyOp) -> Result<()> {
    match op {
        PolicyOp::Create => aws
            .iam
            .create_policy()
            .policy_name(&spec.name)
            .description(DESCRIPTION)
            .policy_document(spec.document.to_string())
            .set_tags(Some(aws_tags(&spec.tags)))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                let f = failure("iam:CreatePolicy", e);
                if f.is_already_exists() {
                    Ok(())
                } else {
                    Err(aws.error(f))
                }
            }),
        PolicyOp::Tag(tags) => aws
            .iam
            .tag_policy()
            .policy_arn(&spec.arn)
            .set_tags(Some(aws_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws.error(failure("iam:TagPolicy", e))),
        PolicyOp::Delete { versions } => {
            for v in versions {
                if let Err(e) = aws
                    .iam
                    .delete_policy_version()
                    .policy_arn(&spec.arn)
                    .version_id(v)
                    .send()
                    .await
                {
                    aws.gone(failure("iam:DeletePolicyVersion", e))?;
                }
            }
            match aws.iam.delete_policy().policy_arn(&spec.arn).send().await {
                Ok(_) => Ok(()),
                Err(e) => aws.gone_unless_attached(
                    failure("iam:DeletePolicy", e),
                    &format!("policy {}", spec.arn),
                ),
            }
        }
        PolicyOp::NewVersion { prune } => {
            if let Some(old) = prune {
                aws.iam
                    .delete_policy_version()
                    .policy_arn(&spec.arn)
                    .version_id(old)
                    .send()
                    .await
                    .map_err(|e| aws.error(failure("iam:DeletePolicyVersion", e)))?;
            }
            aws.iam
                .create_policy_version()
                .policy_arn(&spec.arn)
                .policy_document(spec.document.to_string())
                .set_as_default(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws.error(failure("iam:CreatePolicyVersion", e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Desire<Spec> {
        Desire::Present(Spec {
            name: "p".into(),
            arn: "arn:aws:iam::123456789012:policy/p".into(),
            document: policy::push_document(
                "arn:aws:ecr:us-east-1:123456789012:repository/skypilot",
            ),
            tags: ownership::tags("acme/app"),
            repository: "acme/app".into(),
            adopt: false,
            free_name: "app-ECR-Push".into(),
        })
    }

    fn live(versions: usize) -> Live {
        Live {
            default_version: format!("v{versions}"),
            document: policy::push_document("*"),
            versions: (1..=versions)
                .map(|i| Version {
                    id: format!("v{i}"),
                    is_default: i == versions,
                    created: 100 + i as i64,
                })
                .collect(),
            description: None,
            tags: ownership::tags("acme/app"),
        }
    }

    #[test]
    fn changed_document_becomes_a_new_version() {
        let changes = diff(&spec(), Some(&live(2)));
        assert_eq!(changes[0].op, Some(PolicyOp::NewVersion { prune: None }));
    }

    #[test]
    fn five_versions_prune_the_oldest_non_default() {
        let mut l = live(5);
        // The default is the oldest: it must survive, v2 goes.
        l.versions[0].is_default = true;
        l.versions[4].is_default = false;
        let changes = diff(&spec(), Some(&l));
        assert_eq!(
            changes[0].op,
            Some(PolicyOp::NewVersion {
                prune: Some("v2".into())
            })
        );
    }

    #[test]
    fn equal_document_is_no_change() {
        let s = spec();
        let l = Live {
            document: s.spec().document.clone(),
            ..live(1)
        };
        assert!(diff(&s, Some(&l)).is_empty());
    }

    #[test]
    fn a_teardown_deletes_the_old_versions_first() {
        let absent = Desire::Absent(spec().spec().clone());
        let changes = diff(&absent, Some(&live(3)));
        assert_eq!(
            changes[0].op,
            Some(PolicyOp::Delete {
                versions: vec!["v1".into(), "v2".into()]
            })
        );
        assert!(diff(&absent, None).is_empty());
    }

    #[test]
    fn a_policy_of_another_repository_is_blocked_unless_adopted() {
        let theirs = Live {
            tags: ownership::tags("acme/web"),
            ..live(1)
        };
        let blocked = diff(&spec(), Some(&theirs));
        assert_eq!(
            (blocked[0].action, blocked[0].op.clone()),
            (Action::Blocked, None)
        );
        assert!(blocked[0].details.join(" ").contains("acme/web"));
        let adopt = Desire::Present(Spec {
            adopt: true,
            ..spec().spec().clone()
        });
        let adopted = diff(&adopt, Some(&theirs));
        assert_eq!(
            adopted[0].op,
            Some(PolicyOp::Tag(vec![(
                ownership::REPOSITORY_KEY.to_string(),
                "acme/app".to_string()
            )]))
        );
        let kept = diff(&Desire::Absent(spec().spec().clone()), Some(&theirs));
        assert_eq!(kept[0].action, Action::Keep);
    }

    #[test]
    fn an_untagged_policy_of_an_earlier_version_is_tagged_not_blocked() {
        let earlier = Live {
            tags: vec![],
            description: Some(DESCRIPTION.into()),
            document: spec().spec().document.clone(),
            ..live(1)
        };
        let changes = diff(&spec(), Some(&earlier));
        assert_eq!(changes.len(), 1);
        assert!(matches!(changes[0].op, Some(PolicyOp::Tag(_))));
    }
}
