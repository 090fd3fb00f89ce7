//! The ECR repository: scan on push, and the encryption chosen at creation (ECR cannot change it later).
use aws_sdk_ecr::types::{EncryptionConfiguration, EncryptionType, ImageScanningConfiguration};

use crate::cloud::aws::{Aws, failure};
use crate::config::Encryption;
use crate::error::{Error, Result};
use crate::plan::{Action, Change, Kind, Op};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub scan_on_push: bool,
    pub encryption: Encryption,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub scan_on_push: bool,
    /// `AES256`, `KMS` or `KMS_DSSE`, as ECR reports it.
    pub encryption_type: String,
    pub kms_key: Option<String>,
    /// `MUTABLE` or `IMMUTABLE`; only audited (a low finding), never changed.
    pub tag_mutability: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryOp {
    Create,
    EnableScanOnPush,
}

pub async fn observe(aws: &Aws, name: &str) -> Result<Option<Live>> {
    match aws
        .ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.repositories().first().map(|r| Live {
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
                .unwrap_or_default(),
        })),
        Err(e) => {
            let f = failure("ecr:DescribeRepositories", e);
            if f.is("RepositoryNotFoundException") {
                Ok(None)
            } else {
                Err(aws.error(f))
            }
        }
    }
}

fn describe(encryption: &Encryption) -> String {
    match encryption {
        Encryption::Aes256 => "AES256".into(),
        Encryption::Kms(None) => "KMS (AWS-managed key aws/ecr)".into(),
        Encryption::Kms(Some(key)) => format!("KMS ({key})"),
    }
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

pub fn diff(spec: &Spec, live: Option<&Live>) -> Vec<Change> {
    let change =
        |action, details, op| Change::new(Kind::Repository, &spec.name, action, details, op);
    let Some(live) = live else {
        return vec![change(
            Action::Create,
            vec![
                "scan on push".into(),
                format!("encryption {}", describe(&spec.encryption)),
            ],
            Op::Repository(RepositoryOp::Create),
        )];
    };
    let mut changes = Vec::new();
    if !encryption_matches(&spec.encryption, live) {
        let have = match &live.kms_key {
            Some(k) => format!("{} ({k})", live.encryption_type),
            None => live.encryption_type.clone(),
        };
        changes.push(change(
            Action::Blocked,
            vec![
                format!("encryption is {have}, settings ask for {}", describe(&spec.encryption)),
                "ECR cannot change a repository's encryption after creation, and this tool never deletes a repository to recreate it.".into(),
                format!("Either keep the current encryption in the settings, or push to a new repository (--ecr-repository NEW-NAME) and delete {} yourself once its images are moved.", spec.name),
            ],
            Op::Blocked,
        )
        .differing("encryption", describe(&spec.encryption).into(), have.clone().into()));
    }
    if spec.scan_on_push && !live.scan_on_push {
        changes.push(
            change(
                Action::Update,
                vec!["scan on push: off → on".into()],
                Op::Repository(RepositoryOp::EnableScanOnPush),
            )
            .differing("scan_on_push", true.into(), false.into()),
        );
    }
    changes
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
            .map_err(|e| Error::Aws {
                action: "ecr:CreateRepository",
                code: None,
                message: e.to_string(),
            })?;
            aws.ecr
                .create_repository()
                .repository_name(&spec.name)
                .image_scanning_configuration(scanning)
                .encryption_configuration(encryption)
                .send()
                .await
                .map(|_| ())
                .or_else(|e| {
                    let f = failure("ecr:CreateRepository", e);
                    if f.is("RepositoryAlreadyExistsException") {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(encryption: Encryption) -> Spec {
        Spec {
            name: "skypilot".into(),
            scan_on_push: true,
            encryption,
        }
    }

    fn live(scan: bool, kind: &str, key: Option<&str>) -> Live {
        Live {
            scan_on_push: scan,
            encryption_type: kind.into(),
            kms_key: key.map(str::to_string),
            tag_mutability: "MUTABLE".into(),
        }
    }

    #[test]
    fn scan_on_push_off_is_fixed_in_place() {
        let changes = diff(
            &spec(Encryption::Aes256),
            Some(&live(false, "AES256", None)),
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].op,
            Op::Repository(RepositoryOp::EnableScanOnPush)
        );
    }

    #[test]
    fn different_encryption_is_blocked_never_recreated() {
        let changes = diff(
            &spec(Encryption::Kms(None)),
            Some(&live(true, "AES256", None)),
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
        );
        assert_eq!(other[0].action, Action::Blocked);
        assert!(
            diff(
                &spec(Encryption::Kms(Some(key.into()))),
                Some(&live(true, "KMS", Some(key)))
            )
            .is_empty()
        );
    }
}
