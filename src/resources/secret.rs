//! A GitHub Actions secret. Values cannot be read back, so a non-secret fingerprint variable
//! beside it records what the tool last wrote (see docs/secrets.md).
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::change::{Action, Desire, Kind};
use crate::cloud::github::{GitHub, Place, PublicKey, SecretMeta, Variable};
use crate::config::RepoName;
use crate::error::Result;

pub type Change = super::change::Change<SecretOp>;

#[derive(Debug, Clone)]
pub struct Spec {
    pub repo: RepoName,
    pub place: Place,
    pub name: String,
    pub value: SecretString,
    /// `--force-secrets`: rewrite even when the fingerprint matches.
    pub force: bool,
    /// The refs an environment created for the secret lets deploy: the trusted branches and
    /// tag patterns (`(pattern, "branch" | "tag")`).
    pub deploy_refs: Vec<(String, &'static str)>,
}

impl Spec {
    pub fn fingerprint_variable(&self) -> String {
        fingerprint_variable(&self.name)
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.value)
    }

    /// The name as plans and reports show it.
    pub fn label(&self) -> String {
        match &self.place {
            Place::Repository => self.name.clone(),
            Place::Environment(e) => format!("{} (environment {e})", self.name),
        }
    }
}

/// The variable holding the fingerprint of what the tool wrote into secret `name`.
pub fn fingerprint_variable(name: &str) -> String {
    format!("SKYECR_SHA256_{name}")
}

/// SHA-256 of the value: safe to publish for an ARN or a 40-character random key.
pub fn fingerprint(value: &SecretString) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(value.expose_secret().as_bytes()))
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub environment_exists: bool,
    pub secret: Option<SecretMeta>,
    pub fingerprint: Option<Variable>,
    /// Read with the rest, so a write needs no extra round trip.
    pub key: Option<PublicKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOp {
    /// Seal and write the value, then record its fingerprint.
    Write {
        create_environment: bool,
        fingerprint_exists: bool,
    },
    /// Remove the secret and its fingerprint.
    Delete,
}

/// Reads the secret's metadata, its fingerprint and the public key a write would need, at once.
pub async fn observe(github: &GitHub, repo: &RepoName, place: &Place, name: &str) -> Result<Live> {
    let environment = async {
        match place {
            Place::Repository => Ok(true),
            Place::Environment(e) => github.environment_exists(repo, e).await,
        }
    };
    let fingerprint_name = fingerprint_variable(name);
    let (environment_exists, secret, fingerprint, key) = tokio::try_join!(
        environment,
        github.listed_secret(repo, place, name),
        github.listed_variable(repo, place, &fingerprint_name),
        github.public_key_if_any(repo, place),
    )?;
    Ok(Live {
        environment_exists,
        secret,
        fingerprint,
        key,
    })
}

/// Why a secret must be (re)written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    Missing,
    Forced,
    /// Exists, but the tool never recorded what it holds.
    NoFingerprint,
    DifferentValue,
    /// Written after the tool recorded its fingerprint: someone else changed it.
    ChangedElsewhere,
}

impl Staleness {
    pub fn describe(self) -> &'static str {
        match self {
            Staleness::Missing => "missing",
            Staleness::Forced => "rewrite requested (--force-secrets)",
            Staleness::NoFingerprint => "not written by this tool (no fingerprint)",
            Staleness::DifferentValue => "holds a different value than the settings give",
            Staleness::ChangedElsewhere => "changed by someone else after this tool wrote it",
        }
    }
}

/// Why the secret must be (re)written, or `None` when it is current.
pub fn staleness(spec: &Spec, live: &Live) -> Option<Staleness> {
    let Some(secret) = &live.secret else {
        return Some(Staleness::Missing);
    };
    if spec.force {
        return Some(Staleness::Forced);
    }
    match &live.fingerprint {
        None => Some(Staleness::NoFingerprint),
        Some(fp) if fp.value != spec.fingerprint() => Some(Staleness::DifferentValue),
        Some(fp) if secret.updated_at > fp.updated_at => Some(Staleness::ChangedElsewhere),
        Some(_) => None,
    }
}

pub fn diff(desire: &Desire<Spec>, live: &Live) -> Vec<Change> {
    let Desire::Present(spec) = desire else {
        let spec = desire.spec();
        // Only a secret whose fingerprint the tool recorded is the tool's to delete.
        return match (&live.secret, &live.fingerprint) {
            (_, Some(_)) => vec![Change::new(
                Kind::Secret,
                &spec.label(),
                Action::Delete,
                vec![format!("record {}", spec.fingerprint_variable())],
                SecretOp::Delete,
            )],
            (Some(_), None) => vec![Change::not_run(
                Kind::Secret,
                &spec.label(),
                Action::Keep,
                vec![format!(
                    "left in place: {} was not written by skyecr-bootstrap (no fingerprint)",
                    spec.label()
                )],
            )],
            (None, None) => Vec::new(),
        };
    };
    let Some(reason) = staleness(spec, live) else {
        return Vec::new();
    };
    let action = if live.secret.is_none() {
        Action::Create
    } else {
        Action::Update
    };
    let mut details = vec![
        format!(
            "value: {} (sealed with the repository key; never shown)",
            reason.describe()
        ),
        format!(
            "record {} (the value's fingerprint)",
            spec.fingerprint_variable()
        ),
    ];
    if !live.environment_exists {
        details.push("create the GitHub environment first, deployable only from the trusted branches and tags".into());
    }
    vec![Change::new(
        Kind::Secret,
        &spec.label(),
        action,
        details,
        SecretOp::Write {
            create_environment: !live.environment_exists,
            fingerprint_exists: live.fingerprint.is_some(),
        },
    )]
}

pub async fn apply(github: &GitHub, spec: &Spec, live: &Live, op: &SecretOp) -> Result<()> {
    let (create_environment, fingerprint_exists) = match op {
        SecretOp::Delete => {
            github
                .delete_secret(&spec.repo, &spec.place, &spec.name)
                .await?;
            return github
                .delete_variable(&spec.repo, &spec.place, &spec.fingerprint_variable())
                .await;
        }
        SecretOp::Write {
            create_environment,
            fingerprint_exists,
        } => (*create_environment, *fingerprint_exists),
    };
    if create_environment && let Place::Environment(e) = &spec.place {
        github
            .create_environment(&spec.repo, e, &spec.deploy_refs)
            .await?;
    }
    // A new environment has a new key: only a key read for this place may be reused.
    let key = live.key.as_ref().filter(|_| !create_environment);
    github
        .put_secret(&spec.repo, &spec.place, &spec.name, &spec.value, key)
        .await?;
    // After the secret, so its timestamp is never newer than the fingerprint's.
    github
        .set_variable(
            &spec.repo,
            &spec.place,
            &spec.fingerprint_variable(),
            &spec.fingerprint(),
            fingerprint_exists,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(force: bool) -> Spec {
        Spec {
            repo: RepoName {
                owner: "acme".into(),
                name: "app".into(),
            },
            place: Place::Repository,
            name: "AWS_ECR_ROLE_ARN".into(),
            value: SecretString::from("arn:aws:iam::123456789012:role/r"),
            force,
            deploy_refs: vec![],
        }
    }

    fn live(fp: Option<&str>, secret_at: &str, fp_at: &str) -> Live {
        Live {
            environment_exists: true,
            secret: Some(SecretMeta {
                updated_at: secret_at.into(),
            }),
            fingerprint: fp.map(|v| Variable {
                value: v.into(),
                updated_at: fp_at.into(),
            }),
            key: None,
        }
    }

    #[test]
    fn current_secret_is_left_alone() {
        let s = spec(false);
        let fp = s.fingerprint();
        assert!(
            diff(
                &Desire::Present(s.clone()),
                &live(Some(&fp), "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z")
            )
            .is_empty()
        );
        assert_eq!(
            diff(
                &Desire::Present(spec(true)),
                &live(Some(&fp), "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z")
            )
            .len(),
            1
        );
    }

    #[test]
    fn an_absent_secret_goes_with_its_fingerprint() {
        let gone = Desire::Absent(spec(false));
        let only_fingerprint = Live {
            secret: None,
            ..live(Some("sha256:00"), "a", "a")
        };
        assert_eq!(diff(&gone, &only_fingerprint)[0].op, Some(SecretOp::Delete));
        let nothing = Live {
            fingerprint: None,
            ..only_fingerprint
        };
        assert!(diff(&gone, &nothing).is_empty());
        let foreign = live(None, "a", "a");
        assert_eq!(diff(&gone, &foreign)[0].action, Action::Keep);
    }

    #[test]
    fn stale_or_foreign_secret_is_rewritten() {
        let s = spec(false);
        let fp = s.fingerprint();
        assert!(staleness(&s, &live(None, "a", "a")).is_some());
        assert!(staleness(&s, &live(Some("sha256:00"), "a", "a")).is_some());
        let overwritten = staleness(
            &s,
            &live(Some(&fp), "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
        );
        assert_eq!(overwritten, Some(Staleness::ChangedElsewhere));
    }

    #[test]
    fn fingerprint_is_the_sha256_of_the_value_and_reveals_nothing_else() {
        // `printf %s VALUE | sha256sum`, computed outside the tool.
        assert_eq!(
            fingerprint(&SecretString::from(
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
            )),
            "sha256:78314b11be2e581549ac1c4f616563fad3fdf0c3b71678f6e2299182080e0598"
        );
        assert_eq!(
            fingerprint(&SecretString::from("")),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let debug = format!("{:?}", spec(false));
        assert!(
            !debug.contains("role/r") && !debug.contains("123456789012"),
            "{debug}"
        );
    }
}
