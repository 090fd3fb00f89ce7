//! The ECR repository: scan on push, tag mutability, and the encryption chosen at creation (ECR
//! cannot change it later).
use std::sync::Arc;

use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability,
    ImageTagMutabilityExclusionFilter, ImageTagMutabilityExclusionFilterType, ScanFrequency,
    ScanType,
};

use super::change::{Action, Desire, Kind};
use super::ownership::{self, Owner, Tags};
use crate::cloud::aws::{Aws, failure};
use crate::config::{Encryption, TagMutability};
use crate::error::{Error, Result};
use crate::policy::wildcard_match;
use crate::resources::finding::{Finding, Findings, Fixes, Severity};

pub type Change = super::change::Change<RepositoryOp>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub arn: String,
    pub region: String,
    pub scan_on_push: bool,
    pub encryption: Encryption,
    /// `None`: left as it is.
    pub tag_mutability: Option<TagMutability>,
    /// `destroy --force`: a teardown deletes the repository with its images.
    pub delete_images: bool,
    /// `destroy --keep-repository`: a teardown leaves the repository and its images alone.
    pub keep: bool,
    pub tags: Tags,
    /// `OWNER/REPO`, canonical: whose setup this repository is.
    pub repository: String,
    /// `--adopt`: take over a repository the tool did not make, or another setup's.
    pub adopt: bool,
    /// A name the plan suggests when this one is taken.
    pub free_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub scan_on_push: bool,
    /// `AES256`, `KMS` or `KMS_DSSE`, as ECR reports it.
    pub encryption_type: String,
    pub kms_key: Option<String>,
    /// `MUTABLE`, `IMMUTABLE`, `IMMUTABLE_WITH_EXCLUSION` or `MUTABLE_WITH_EXCLUSION`.
    pub tag_mutability: String,
    /// The exclusion filters of a `…_WITH_EXCLUSION` mutability.
    pub tag_exclusions: Vec<String>,
    /// Whether it holds any image (read for a teardown only).
    pub holds_images: bool,
    pub arn: String,
    pub tags: Tags,
    /// The repository policy (who else may pull or push), when it has one.
    pub policy: Option<serde_json::Value>,
}

impl Live {
    /// ECR repositories have no description: an untagged repository of an earlier version is
    /// recognised by the tool's own push policy naming it (`vouched`).
    pub fn owner(&self, repository: &str, vouched: bool) -> Owner {
        ownership::owner(&self.tags, repository, vouched)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryOp {
    Create,
    EnableScanOnPush,
    /// Set the tag mutability the settings ask for.
    SetTagMutability,
    /// Delete the repository (`force`: with its images).
    Delete {
        force: bool,
    },
    /// Mark it as the tool's (an earlier version's repository, or one adopted).
    Tag(Tags),
}

/// Reads the repository; with `count_images`, also whether it holds images (one more call in
/// the same round).
/// With `known` (its ARN, when the account is recorded) the tags are read beside the
/// description, not after it.
pub async fn observe(
    aws: &Aws,
    name: &str,
    count_images: bool,
    known: Option<&str>,
) -> Result<Option<Live>> {
    let images = async {
        if !count_images {
            return Ok(false);
        }
        match aws
            .ecr
            .list_images()
            .repository_name(name)
            .max_results(1)
            .send()
            .await
        {
            Ok(out) => Ok(!out.image_ids().is_empty()),
            Err(e) => aws
                .absent::<()>(failure("ecr:ListImages", e))
                .map(|_| false),
        }
    };
    let policy = async {
        match aws
            .ecr
            .get_repository_policy()
            .repository_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.policy_text().map(str::to_string)),
            Err(e) => {
                let f = failure("ecr:GetRepositoryPolicy", e);
                // No policy, or no repository: both mean nobody else is granted anything.
                if f.is("RepositoryPolicyNotFoundException") {
                    Ok(None)
                } else {
                    aws.absent(f)
                }
            }
        }
    };
    let early_tags = async {
        match known {
            Some(arn) => Some(tags_of(aws, arn).await),
            None => None,
        }
    };
    let (described, holds_images, policy, early_tags) = tokio::join!(
        aws.read_once("ecr:DescribeRepositories", || all_repositories(aws)),
        images,
        policy,
        early_tags
    );
    let policy = match policy? {
        Some(text) => {
            Some(
                crate::policy::decode_document(&text).map_err(|e| Error::Unreadable {
                    action: "ecr:GetRepositoryPolicy",
                    what: format!("the repository policy of {name}"),
                    reason: e.to_string(),
                })?,
            )
        }
        None => None,
    };
    let holds_images = holds_images?;
    let described = described?;
    let Some(r) = described.iter().find(|r| r.repository_name() == Some(name)) else {
        return Ok(None);
    };
    let arn = r.repository_arn().unwrap_or_default().to_string();
    // Without the account, the tags need the ARN the description gives: a dependent read.
    let tags = match early_tags {
        Some(tags) if known == Some(arn.as_str()) => tags,
        _ => tags_of(aws, &arn).await,
    };
    let Some(tags) = tags? else {
        return Ok(None);
    };
    Ok(Some(Live {
        scan_on_push: r
            .image_scanning_configuration()
            .is_some_and(|c| c.scan_on_push()),
        encryption_type: r
            .encryption_configuration()
            .map(|e| e.encryption_type().as_str().to_string())
            .unwrap_or_else(|| "AES256".into()),
        kms_key: r
            .encryption_configuration()
            .and_then(|e| e.kms_key())
            .map(str::to_string),
        tag_mutability: r
            .image_tag_mutability()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "MUTABLE".into()),
        tag_exclusions: r
            .image_tag_mutability_exclusion_filters()
            .iter()
            .map(|f| f.filter().to_string())
            .collect(),
        holds_images,
        arn,
        tags,
        policy,
    }))
}

/// `None`: the repository is gone (deleted since it was described, or never there).
async fn tags_of(aws: &Aws, arn: &str) -> Result<Option<Tags>> {
    match aws
        .ecr
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        )),
        Err(e) => aws.absent(failure("ecr:ListTagsForResource", e)),
    }
}

/// Audit checks of the repository's own policy: a grant to anyone, or to another account,
/// lets others pull (or push) what the pipeline builds.
pub fn findings(spec: &Spec, live: &Live, key: Option<&KeyCheck>, fixes: &Fixes) -> Vec<Finding> {
    // Removing the policy is the one command that surely closes the grant; a statement the
    // account needs can be put back on its own.
    let delete_policy = fixes.aws(
        "ecr delete-repository-policy",
        &[("--repository-name", &spec.name)],
    );
    let mut found = Findings::on(Kind::Repository, &spec.name, delete_policy);
    if let Some((check, problem)) = key.and_then(|k| Some((k, k.problem(&spec.region)?))) {
        let (advice, fix) = key_fix(check, spec, fixes);
        found.add_fixed(
            "repository-kms-key-unusable",
            Severity::High,
            format!(
                "{} is encrypted with a key ECR can no longer use: {problem}",
                spec.name
            ),
            advice,
            fix,
        );
    }
    let Some(policy) = &live.policy else {
        return found.into_vec();
    };
    // arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME
    let account = spec.arn.split(':').nth(4).unwrap_or_default();
    let advice = format!(
        "or remove only that statement and set the rest with aws ecr set-repository-policy --repository-name {} --policy-text file://policy.json",
        spec.name
    );
    let Ok(doc) = crate::policy::parse_policy(policy) else {
        return found.into_vec();
    };
    for (i, statement) in doc.statements.iter().enumerate() {
        if statement.effect != crate::policy::Effect::Allow {
            continue;
        }
        let Some(principal) = &statement.principal else {
            continue;
        };
        if principal.is_wildcard() {
            found.add(
                "repository-policy-public",
                Severity::High,
                format!(
                    "the repository policy of {} grants {} to everyone (Principal \"*\") in statement {i}",
                    spec.name,
                    statement.action.describe()
                ),
                advice.clone(),
            );
            continue;
        }
        let others: Vec<&String> = principal
            .aws()
            .iter()
            .filter(|p| p.as_str() != account && p.split(':').nth(4) != Some(account))
            .collect();
        if !others.is_empty() {
            found.add(
                "repository-policy-cross-account",
                Severity::High,
                format!(
                    "the repository policy of {} grants {} to another account ({}) in statement {i}",
                    spec.name,
                    statement.action.describe(),
                    others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
                advice.clone(),
            );
        }
    }
    found.into_vec()
}

/// What brings an unusable key back: a disabled key is enabled, a key scheduled for deletion
/// is saved and enabled; any other key (gone, in another region, asymmetric) can never serve
/// the repository, so the images move to a new one under the AWS-managed key.
fn key_fix(check: &KeyCheck, spec: &Spec, fixes: &Fixes) -> (String, String) {
    let state = check.state.as_ref().map(|s| s.state.as_str());
    let key = check.key.as_str();
    let in_region = check
        .state
        .as_ref()
        .is_some_and(|s| s.arn.split(':').nth(3) == Some(spec.region.as_str()) && s.symmetric);
    match state {
        Some("Disabled") if in_region => (
            String::new(),
            fixes.aws("kms enable-key", &[("--key-id", key)]),
        ),
        Some("PendingDeletion") if in_region => (
            "cancelling the deletion leaves the key disabled, so it is enabled too".into(),
            format!(
                "{} && {}",
                fixes.aws("kms cancel-key-deletion", &[("--key-id", key)]),
                fixes.aws("kms enable-key", &[("--key-id", key)])
            ),
        ),
        _ => (
            format!(
                "ECR cannot change a repository's key: push to a new repository (here {}-kms, under the AWS-managed key aws/ecr; give --kms-key for a key of your own in {})",
                spec.name, spec.region
            ),
            fixes.apply_with(|given| {
                given.ecr_repository = Some(format!("{}-kms", spec.name));
                given.kms_key = None;
            }),
        ),
    }
}

/// The KMS key the settings name, as `kms:DescribeKey` shows it: ECR needs it to exist, be
/// enabled, be symmetric and sit in the repository's region, and finds out only when it
/// creates the repository (or, for an existing one, when an image is pushed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheck {
    pub key: String,
    /// `None`: the key does not exist (or this identity cannot see it).
    pub state: Option<KeyState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub arn: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, … as KMS reports it.
    pub state: String,
    pub symmetric: bool,
}

impl KeyCheck {
    /// What makes the key unusable for a repository in `region`, if anything.
    pub fn problem(&self, region: &str) -> Option<String> {
        let Some(state) = &self.state else {
            return Some(format!(
                "KMS key {} does not exist, or this identity cannot describe it",
                self.key
            ));
        };
        let key_region = state.arn.split(':').nth(3).unwrap_or_default();
        if state.state != "Enabled" {
            Some(format!("KMS key {} is {}", state.arn, state.state))
        } else if key_region != region {
            Some(format!(
                "KMS key {} is in {key_region}, but the repository is in {region}",
                state.arn
            ))
        } else if !state.symmetric {
            Some(format!(
                "KMS key {} is not a symmetric encryption key, which ECR requires",
                state.arn
            ))
        } else {
            None
        }
    }
}

/// Describes the key the settings name (`None` when they name none).
pub async fn observe_key(aws: &Aws, encryption: &Encryption) -> Result<Option<KeyCheck>> {
    let Encryption::Kms(Some(key)) = encryption else {
        return Ok(None);
    };
    let state = match aws.kms.describe_key().key_id(key).send().await {
        Ok(out) => out.key_metadata().map(|m| KeyState {
            arn: m.arn().unwrap_or(key).to_string(),
            state: m
                .key_state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            symmetric: m
                .key_spec()
                .is_none_or(|s| s.as_str() == "SYMMETRIC_DEFAULT"),
        }),
        Err(e) => aws.absent(failure("kms:DescribeKey", e))?,
    };
    Ok(Some(KeyCheck {
        key: key.clone(),
        state,
    }))
}

/// Whether a registry-level rule scans this repository on push even if its own flag is off.
pub async fn observe_registry_scanning(aws: &Aws, repository: &str) -> Result<bool> {
    let out = aws
        .ecr
        .get_registry_scanning_configuration()
        .send()
        .await
        .map_err(|e| aws.error(failure("ecr:GetRegistryScanningConfiguration", e)))?;
    Ok(out.scanning_configuration().is_some_and(|c| {
        c.scan_type() == Some(&ScanType::Enhanced)
            || c.rules().iter().any(|rule| {
                matches!(
                    rule.scan_frequency(),
                    ScanFrequency::ScanOnPush | ScanFrequency::ContinuousScan
                ) && rule
                    .repository_filters()
                    .iter()
                    .any(|f| wildcard_match(f.filter(), repository))
            })
    }))
}

fn describe(encryption: &Encryption) -> String {
    match encryption {
        Encryption::Aes256 => "AES256".into(),
        Encryption::Kms(None) => "KMS (AWS-managed key aws/ecr)".into(),
        Encryption::Kms(Some(key)) => format!("KMS ({key})"),
    }
}

/// ECR's spelling of a tag mutability.
fn ecr_mutability(wanted: &TagMutability) -> ImageTagMutability {
    match wanted {
        TagMutability::Mutable => ImageTagMutability::Mutable,
        TagMutability::Immutable { mutable_tags } if mutable_tags.is_empty() => {
            ImageTagMutability::Immutable
        }
        TagMutability::Immutable { .. } => ImageTagMutability::ImmutableWithExclusion,
    }
}

fn wanted_exclusions(wanted: &TagMutability) -> Vec<String> {
    match wanted {
        TagMutability::Immutable { mutable_tags } => mutable_tags.clone(),
        TagMutability::Mutable => Vec::new(),
    }
}

/// A tag mutability as plans and audits show it: `immutable (except latest)`.
fn describe_mutability(kind: &str, exclusions: &[String]) -> String {
    let kind = kind
        .trim_end_matches("_WITH_EXCLUSION")
        .to_ascii_lowercase();
    match exclusions {
        [] => kind,
        tags => format!("{kind} (except {})", tags.join(", ")),
    }
}

fn mutability_matches(wanted: &TagMutability, live: &Live) -> bool {
    let mut have = live.tag_exclusions.clone();
    let mut want = wanted_exclusions(wanted);
    have.sort();
    want.sort();
    live.tag_mutability == ecr_mutability(wanted).as_str() && have == want
}

/// ECR's exclusion filters for the tags that stay mutable (always buildable: both fields set).
fn exclusion_filters(wanted: &TagMutability) -> Option<Vec<ImageTagMutabilityExclusionFilter>> {
    let filters: Vec<_> = wanted_exclusions(wanted)
        .iter()
        .filter_map(|tag| {
            ImageTagMutabilityExclusionFilter::builder()
                .filter_type(ImageTagMutabilityExclusionFilterType::Wildcard)
                .filter(tag)
                .build()
                .ok()
        })
        .collect();
    (!filters.is_empty()).then_some(filters)
}

/// Whether the live encryption is what was asked for. An alias ARN cannot be compared to the
/// key ARN ECR reports without a KMS call, so only the type is checked then.
fn encryption_matches(wanted: &Encryption, live: &Live) -> bool {
    match wanted {
        Encryption::Aes256 => live.encryption_type == "AES256",
        Encryption::Kms(None) => live.encryption_type == "KMS",
        Encryption::Kms(Some(key)) if key.contains(":alias/") => live.encryption_type == "KMS",
        Encryption::Kms(Some(key)) => {
            live.encryption_type == "KMS" && live.kms_key.as_deref() == Some(key.as_str())
        }
    }
}

/// `vouched`: the tool's own push policy names this repository, which makes an untagged one
/// the tool's from before tags.
/// `key`: the KMS key the settings name, as described (creating with an unusable one is blocked).
pub fn diff(
    desire: &Desire<Spec>,
    live: Option<&Live>,
    vouched: bool,
    key: Option<&KeyCheck>,
) -> Vec<Change> {
    let spec = desire.spec();
    let change =
        |action, details, op| Change::new(Kind::Repository, &spec.name, action, details, op);
    let owner = live.map(|l| l.owner(&spec.repository, vouched));
    if desire.present().is_none() {
        return match (live, owner) {
            (Some(_), _) if spec.keep => vec![Change::not_run(
                Kind::Repository,
                &spec.name,
                Action::Keep,
                vec!["left in place with its images: --keep-repository".into()],
            )],
            (Some(_), Some(owner)) if !owner.is_ours() => vec![Change::not_run(
                Kind::Repository,
                &spec.name,
                Action::Keep,
                vec![ownership::kept_reason(&owner)],
            )],
            (None, _) | (_, None) => Vec::new(),
            (Some(l), _) if l.holds_images && !spec.delete_images => vec![Change::not_run(
                Kind::Repository,
                &spec.name,
                Action::Blocked,
                vec![
                    format!("{} holds images; deleting it deletes them.", spec.name),
                    "Rerun with --force to delete the repository with its images, or move them first.".into(),
                ],
            )],
            (Some(l), _) => {
                let details = if l.holds_images {
                    vec!["and every image in it (--force)".into()]
                } else {
                    vec![]
                };
                vec![change(
                    Action::Delete,
                    details,
                    RepositoryOp::Delete {
                        force: spec.delete_images,
                    },
                )]
            }
        };
    }
    let (Some(live), Some(owner)) = (live, owner) else {
        if let Some(problem) = key.and_then(|k| k.problem(&spec.region)) {
            return vec![Change::not_run(
                Kind::Repository,
                &spec.name,
                Action::Blocked,
                vec![
                    format!("{problem}: ECR cannot create the repository with it."),
                    "Enable the key (aws kms enable-key --key-id KEY), choose another with --kms-key ARN, or use --encryption aes256.".into(),
                ],
            )];
        }
        let mut details = vec![
            "scan on push".into(),
            format!("encryption {}", describe(&spec.encryption)),
        ];
        if let Some(wanted) = &spec.tag_mutability {
            details.push(format!(
                "tags {}",
                describe_mutability(ecr_mutability(wanted).as_str(), &wanted_exclusions(wanted))
            ));
        }
        return vec![change(Action::Create, details, RepositoryOp::Create)];
    };
    let gate = ownership::blocked(
        Kind::Repository,
        &spec.name,
        &owner,
        spec.adopt,
        "--ecr-repository",
        &spec.free_name,
    );
    if let Some(blocked) = gate {
        return vec![blocked];
    }
    let mut changes: Vec<Change> = ownership::tagging(
        Kind::Repository,
        &spec.name,
        &owner,
        &live.tags,
        &spec.tags,
        RepositoryOp::Tag,
    )
    .into_iter()
    .collect();
    if !encryption_matches(&spec.encryption, live) {
        let have = match &live.kms_key {
            Some(k) => format!("{} ({k})", live.encryption_type),
            None => live.encryption_type.clone(),
        };
        changes.push(Change::not_run(
            Kind::Repository,
            &spec.name,
            Action::Blocked,
            vec![
                format!("encryption is {have}, settings ask for {}", describe(&spec.encryption)),
                "ECR cannot change a repository's encryption after creation, and this tool never deletes a repository to recreate it.".into(),
                format!("Either keep the current encryption in the settings, or push to a new repository (--ecr-repository NEW-NAME) and delete {} yourself once its images are moved.", spec.name),
            ],
        )
        .differing("encryption", describe(&spec.encryption).into(), have.clone().into()));
    }
    if spec.scan_on_push && !live.scan_on_push {
        changes.push(
            change(
                Action::Update,
                vec!["scan on push: off → on".into()],
                RepositoryOp::EnableScanOnPush,
            )
            .differing("scan_on_push", true.into(), false.into()),
        );
    }
    if let Some(wanted) = &spec.tag_mutability
        && !mutability_matches(wanted, live)
    {
        let want = describe_mutability(ecr_mutability(wanted).as_str(), &wanted_exclusions(wanted));
        let have = describe_mutability(&live.tag_mutability, &live.tag_exclusions);
        changes.push(
            change(
                Action::Update,
                vec![format!("tags: {have} → {want}")],
                RepositoryOp::SetTagMutability,
            )
            .differing("tag_mutability", want.clone().into(), have.into()),
        );
    }
    changes
}

/// ECR's tag type for the tool's tags (key and value always set, so building cannot fail).
fn ecr_tags(tags: &[(String, String)]) -> Vec<aws_sdk_ecr::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| {
            aws_sdk_ecr::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect()
}

pub async fn apply(aws: &Aws, spec: &Spec, op: &RepositoryOp) -> Result<()> {
    let scanning = ImageScanningConfiguration::builder()
        .scan_on_push(spec.scan_on_push)
        .build();
    match op {
        RepositoryOp::Create => {
            let encryption = match &spec.encryption {
                Encryption::Aes256 => {
                    EncryptionConfiguration::builder().encryption_type(EncryptionType::Aes256)
                }
                Encryption::Kms(key) => EncryptionConfiguration::builder()
                    .encryption_type(EncryptionType::Kms)
                    .set_kms_key(key.clone()),
            }
            .build()
            .map_err(|e| Error::Usage(format!("the repository's encryption settings: {e}")))?;
            let mutability = spec.tag_mutability.as_ref();
            aws.ecr
                .create_repository()
                .repository_name(&spec.name)
                .image_scanning_configuration(scanning)
                .encryption_configuration(encryption)
                .set_image_tag_mutability(mutability.map(ecr_mutability))
                .set_image_tag_mutability_exclusion_filters(mutability.and_then(exclusion_filters))
                .set_tags(Some(ecr_tags(&spec.tags)))
                .send()
                .await
                .map(|_| ())
                .or_else(|e| {
                    let f = failure("ecr:CreateRepository", e);
                    if f.is_already_exists() {
                        Ok(())
                    } else {
                        Err(aws.error(f))
                    }
                })
        }
        RepositoryOp::EnableScanOnPush => aws
            .ecr
            .put_image_scanning_configuration()
            .repository_name(&spec.name)
            .image_scanning_configuration(scanning)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws.error(failure("ecr:PutImageScanningConfiguration", e))),
        RepositoryOp::SetTagMutability => {
            let Some(wanted) = &spec.tag_mutability else {
                return Ok(());
            };
            aws.ecr
                .put_image_tag_mutability()
                .repository_name(&spec.name)
                .image_tag_mutability(ecr_mutability(wanted))
                .set_image_tag_mutability_exclusion_filters(exclusion_filters(wanted))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws.error(failure("ecr:PutImageTagMutability", e)))
        }
        RepositoryOp::Tag(tags) => aws
            .ecr
            .tag_resource()
            .resource_arn(&spec.arn)
            .set_tags(Some(ecr_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws.error(failure("ecr:TagResource", e))),
        RepositoryOp::Delete { force } => match aws
            .ecr
            .delete_repository()
            .repository_name(&spec.name)
            .force(*force)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let f = failure("ecr:DeleteRepository", e);
                if f.is("RepositoryNotEmptyException") {
                    return Err(Error::Blocked(format!(
                        "repository {} holds images (pushed since the plan); rerun destroy with --force to delete them too",
                        spec.name
                    )));
                }
                aws.gone(f)
            }
        },
    }
}

/// The registry's repositories, all pages: one listing serves every repository of the run
/// (a read by name costs as much, and many repositories would each pay it).
async fn all_repositories(aws: &Aws) -> Result<Arc<Vec<aws_sdk_ecr::types::Repository>>> {
    let mut all = Vec::new();
    let mut pages = aws
        .ecr
        .describe_repositories()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error(failure("ecr:DescribeRepositories", e)))?;
        all.extend(page.repositories().iter().cloned());
    }
    Ok(Arc::new(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(encryption: Encryption) -> Desire<Spec> {
        Desire::Present(Spec {
            name: "skypilot".into(),
            arn: "arn:aws:ecr:us-east-1:123456789012:repository/skypilot".into(),
            region: "us-east-1".into(),
            scan_on_push: true,
            encryption,
            tag_mutability: None,
            delete_images: false,
            keep: false,
            tags: ownership::tags("acme/app"),
            repository: "acme/app".into(),
            adopt: false,
            free_name: "app".into(),
        })
    }

    fn live(scan: bool, kind: &str, key: Option<&str>) -> Live {
        Live {
            scan_on_push: scan,
            encryption_type: kind.into(),
            kms_key: key.map(str::to_string),
            tag_mutability: "MUTABLE".into(),
            tag_exclusions: vec![],
            holds_images: false,
            arn: "arn:aws:ecr:us-east-1:123456789012:repository/skypilot".into(),
            tags: ownership::tags("acme/app"),
            policy: None,
        }
    }

    #[test]
    fn scan_on_push_off_is_fixed_in_place() {
        let changes = diff(
            &spec(Encryption::Aes256),
            Some(&live(false, "AES256", None)),
            false,
            None,
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].op, Some(RepositoryOp::EnableScanOnPush));
    }

    #[test]
    fn tag_mutability_is_set_as_asked_and_left_alone_otherwise() {
        let asked = |m: TagMutability| {
            Desire::Present(Spec {
                tag_mutability: Some(m),
                ..spec(Encryption::Aes256).spec().clone()
            })
        };
        let latest = TagMutability::Immutable {
            mutable_tags: vec!["latest".into()],
        };
        let mutable = live(true, "AES256", None);
        let changes = diff(&asked(latest.clone()), Some(&mutable), false, None);
        assert_eq!(changes[0].op, Some(RepositoryOp::SetTagMutability));
        assert_eq!(
            changes[0].details,
            vec!["tags: mutable → immutable (except latest)".to_string()]
        );
        let excluded = Live {
            tag_mutability: "IMMUTABLE_WITH_EXCLUSION".into(),
            tag_exclusions: vec!["latest".into()],
            ..mutable.clone()
        };
        assert!(diff(&asked(latest), Some(&excluded), false, None).is_empty());
        let strict = TagMutability::Immutable {
            mutable_tags: vec![],
        };
        assert_eq!(
            diff(&asked(strict), Some(&excluded), false, None)[0].details,
            vec!["tags: immutable (except latest) → immutable".to_string()]
        );
        assert!(diff(&spec(Encryption::Aes256), Some(&excluded), false, None).is_empty());
        assert!(diff(&asked(TagMutability::Mutable), Some(&mutable), false, None).is_empty());
    }

    #[test]
    fn different_encryption_is_blocked_never_recreated() {
        let changes = diff(
            &spec(Encryption::Kms(None)),
            Some(&live(true, "AES256", None)),
            false,
            None,
        );
        assert_eq!(changes[0].action, Action::Blocked);
        assert!(
            changes[0]
                .details
                .iter()
                .any(|d| d.contains("cannot change"))
        );
        let key = "arn:aws:kms:us-east-1:123456789012:key/k1";
        let other = diff(
            &spec(Encryption::Kms(Some(key.into()))),
            Some(&live(
                true,
                "KMS",
                Some("arn:aws:kms:us-east-1:123456789012:key/k2"),
            )),
            false,
            None,
        );
        assert_eq!(other[0].action, Action::Blocked);
        assert!(
            diff(
                &spec(Encryption::Kms(Some(key.into()))),
                Some(&live(true, "KMS", Some(key))),
                false,
                None,
            )
            .is_empty()
        );
    }

    #[test]
    fn a_teardown_keeps_images_unless_forced() {
        let full = Live {
            holds_images: true,
            ..live(true, "AES256", None)
        };
        let absent = |delete_images| {
            Desire::Absent(Spec {
                delete_images,
                ..spec(Encryption::Aes256).spec().clone()
            })
        };
        let refused = diff(&absent(false), Some(&full), false, None);
        assert_eq!(
            (refused[0].action, refused[0].op.clone()),
            (Action::Blocked, None)
        );
        let forced = diff(&absent(true), Some(&full), false, None);
        assert_eq!(forced[0].op, Some(RepositoryOp::Delete { force: true }));
        assert!(diff(&absent(false), None, false, None).is_empty());
    }

    #[test]
    fn an_untagged_repository_is_the_tools_only_when_its_push_policy_vouches() {
        let untagged = Live {
            tags: vec![],
            ..live(true, "AES256", None)
        };
        let blocked = diff(&spec(Encryption::Aes256), Some(&untagged), false, None);
        assert_eq!(blocked[0].action, Action::Blocked);
        assert!(blocked[0].details[0].contains("not created by skyecr-bootstrap"));
        let earlier = diff(&spec(Encryption::Aes256), Some(&untagged), true, None);
        assert!(matches!(earlier[0].op, Some(RepositoryOp::Tag(_))));
        let teardown = Desire::Absent(spec(Encryption::Aes256).spec().clone());
        assert_eq!(
            diff(&teardown, Some(&untagged), false, None)[0].action,
            Action::Keep
        );
    }

    #[test]
    fn an_unusable_kms_key_blocks_creating_and_is_found_later() {
        let key = "arn:aws:kms:us-east-1:123456789012:key/k1";
        let wanted = spec(Encryption::Kms(Some(key.into())));
        let check = |state: &str, arn: &str, symmetric: bool| KeyCheck {
            key: key.into(),
            state: Some(KeyState {
                arn: arn.into(),
                state: state.into(),
                symmetric,
            }),
        };
        let fine = check("Enabled", key, true);
        assert_eq!(
            diff(&wanted, None, false, Some(&fine))[0].action,
            Action::Create
        );
        let fixes = Fixes::new(
            crate::config::RawSettings {
                github_repo: Some("acme/app".into()),
                ..Default::default()
            },
            "us-east-1",
        );
        let enable = format!("aws kms enable-key --key-id {key} --region us-east-1");
        let new_repository =
            "skyecr-bootstrap apply --github-repo acme/app --ecr-repository skypilot-kms";
        for (bad, says, fix) in [
            (check("Disabled", key, true), "is Disabled", enable.clone()),
            (
                check("PendingDeletion", key, true),
                "is PendingDeletion",
                format!(
                    "aws kms cancel-key-deletion --key-id {key} --region us-east-1 && {enable}"
                ),
            ),
            (
                check("Enabled", "arn:aws:kms:eu-west-1:123456789012:key/k1", true),
                "is in eu-west-1",
                new_repository.into(),
            ),
            (
                check("Enabled", key, false),
                "not a symmetric",
                new_repository.into(),
            ),
            (
                KeyCheck {
                    key: key.into(),
                    state: None,
                },
                "does not exist",
                new_repository.into(),
            ),
        ] {
            let blocked = diff(&wanted, None, false, Some(&bad));
            assert_eq!(blocked[0].action, Action::Blocked, "{says}");
            assert!(
                blocked[0].details[0].contains(says),
                "{:?}",
                blocked[0].details
            );
            let existing = live(true, "KMS", Some(key));
            let found = findings(wanted.spec(), &existing, Some(&bad), &fixes);
            assert_eq!(found[0].id, "repository-kms-key-unusable", "{says}");
            assert_eq!(found[0].fix, fix, "{says}");
        }
        assert!(
            findings(
                wanted.spec(),
                &live(true, "KMS", Some(key)),
                Some(&fine),
                &fixes
            )
            .is_empty()
        );
    }
}
