//! Access-key mode: the user's one active key, delivered to GitHub as two secrets.
//!
//! The secret access key exists only in `CreateAccessKey`'s answer, so delivery is recorded in
//! non-secret variables (docs/secrets.md): `SKYECR_ACCESS_KEY_ID` names the delivered key and is
//! written last; `SKYECR_ACCESS_KEY_PENDING` is written before a key is created, so a rerun can
//! tell keys of an interrupted run from the delivered one and clean them up. The first record
//! is the pending mark renamed, one write that ends the delivery.
use std::time::Duration;

use aws_sdk_iam::config::retry::RetryConfig;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use secrecy::SecretString;

use super::change::{Action, Desire, Kind, Part};
use crate::cloud::aws::{Aws, failure, is_throttling};
use crate::cloud::github::{GitHub, Place, PublicKey, SecretMeta, Variable};
use crate::config::RepoName;
use crate::error::{Error, Result};

pub type Change = super::change::Change<KeyOp>;

pub const KEY_ID_SECRET: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_KEY_SECRET: &str = "AWS_SECRET_ACCESS_KEY";
pub const DELIVERED_VARIABLE: &str = "SKYECR_ACCESS_KEY_ID";
pub const PENDING_VARIABLE: &str = "SKYECR_ACCESS_KEY_PENDING";
/// IAM's limit of access keys per user, inactive ones included.
const MAX_KEYS: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub repo: RepoName,
    pub user_name: String,
    /// `rotate-keys`: deliver a new key even when the current one is fine.
    pub rotate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub id: String,
    pub active: bool,
    /// ISO 8601 UTC, comparable with GitHub's timestamps.
    pub created: String,
    pub last_used: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    pub keys: Vec<Key>,
    pub delivered: Option<Variable>,
    pub pending: Option<Variable>,
    pub id_secret: Option<SecretMeta>,
    pub key_secret: Option<SecretMeta>,
    /// The repository's secrets key, read with the rest so delivery needs no extra round trip.
    pub key: Option<PublicKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOp {
    /// Create a key, write both secrets, record it, then delete `retire`.
    Deliver { retire: Vec<String> },
    /// Record a key an interrupted run delivered but did not record, then delete `retire`.
    Adopt { key_id: String, retire: Vec<String> },
    /// Delete keys that are not in GitHub (from an interrupted run, or superseded). With
    /// `clear_mark` also an interrupted run's pending mark; not when a delivery follows, which
    /// writes a mark of its own while this runs.
    Delete {
        key_ids: Vec<String>,
        clear_mark: bool,
    },
    /// Mode switched to OIDC: delete the keys, both secrets and the records.
    /// With `secrets` also both secrets and the records: only when the tool's records show it
    /// delivered them.
    Retire { key_ids: Vec<String>, secrets: bool },
}

impl KeyOp {
    /// Cleanup frees a slot before a new key is made, which needs the user (stage 1; its
    /// pending mark goes first, `Op::parts`); retiring waits until the OIDC side is in place.
    pub fn stage(&self) -> u8 {
        match self {
            KeyOp::Delete { .. } | KeyOp::Adopt { .. } => 0,
            KeyOp::Deliver { .. } => 1,
            KeyOp::Retire { .. } => 3,
        }
    }
}

fn iso(d: Option<&DateTime>) -> String {
    d.and_then(|d| DateTime::from_secs(d.secs()).fmt(Format::DateTime).ok())
        .unwrap_or_default()
}

/// `in_use`: access-key mode (or a teardown), where the user's keys are always read. Otherwise
/// only keys the tool delivered can be there to retire, and those are on record: the keys are
/// listed only when a record or a pending mark says so.
pub async fn observe(
    aws: &Aws,
    github: &GitHub,
    repo: &RepoName,
    user_name: &str,
    in_use: bool,
) -> Result<Live> {
    let keys = async {
        match aws.iam.list_access_keys().user_name(user_name).send().await {
            Ok(out) => {
                let metas = out.access_key_metadata().to_vec();
                let used = futures::future::join_all(metas.iter().map(|m| {
                    aws.iam
                        .get_access_key_last_used()
                        .access_key_id(m.access_key_id().unwrap_or_default())
                        .send()
                }))
                .await;
                let mut keys = Vec::new();
                for (m, u) in metas.iter().zip(used) {
                    let last_used = match u {
                        Ok(u) => u
                            .access_key_last_used()
                            .and_then(|l| l.last_used_date().copied())
                            .map(|d| iso(Some(&d))),
                        Err(e) => {
                            // A key deleted since the listing; anything else (a denial) is an error.
                            aws.absent::<()>(failure("iam:GetAccessKeyLastUsed", e))?;
                            None
                        }
                    };
                    keys.push(Key {
                        id: m.access_key_id().unwrap_or_default().to_string(),
                        active: m.status().is_some_and(|s| s.as_str() == "Active"),
                        created: iso(m.create_date()),
                        last_used,
                    });
                }
                Ok(keys)
            }
            Err(e) => aws
                .absent(failure("iam:ListAccessKeys", e))
                .map(Option::unwrap_or_default),
        }
    };
    let place = Place::Repository;
    let records = async {
        tokio::try_join!(
            github.listed_variable(repo, &place, DELIVERED_VARIABLE),
            github.listed_variable(repo, &place, PENDING_VARIABLE),
        )
    };
    let keys_and_records = async {
        if in_use {
            let (keys, (delivered, pending)) = tokio::try_join!(keys, records)?;
            return Ok((keys, delivered, pending));
        }
        let (delivered, pending) = records.await?;
        let keys = match delivered.is_some() || pending.is_some() {
            true => keys.await?,
            false => Vec::new(),
        };
        Ok::<_, Error>((keys, delivered, pending))
    };
    let ((keys, delivered, pending), id_secret, key_secret, key) = tokio::try_join!(
        keys_and_records,
        github.listed_secret(repo, &place, KEY_ID_SECRET),
        github.listed_secret(repo, &place, SECRET_KEY_SECRET),
        github.public_key_if_any(repo, &place),
    )?;
    Ok(Live {
        keys,
        delivered,
        pending,
        id_secret,
        key_secret,
        key,
    })
}

/// What the observed keys and records mean.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assessment {
    /// The recorded key, when it still exists.
    pub recorded: Option<String>,
    /// GitHub holds the recorded, active key, and nobody wrote the secrets since.
    pub current: bool,
    /// A key an interrupted run put into GitHub without recording it.
    pub adopt: Option<String>,
    /// Keys of an interrupted run that never reached GitHub.
    pub undelivered: Vec<String>,
    /// Other keys: superseded when a key is recorded, someone else's otherwise.
    pub others: Vec<String>,
}

pub fn assess(live: &Live) -> Assessment {
    let recorded = live
        .delivered
        .as_ref()
        .filter(|v| live.keys.iter().any(|k| k.id == v.value))
        .map(|v| v.value.clone());
    let both_secrets = live.id_secret.as_ref().zip(live.key_secret.as_ref());
    let interrupted: Vec<&Key> = match &live.pending {
        Some(p) => live
            .keys
            .iter()
            .filter(|k| Some(&k.id) != recorded.as_ref() && k.created >= p.updated_at)
            .collect(),
        None => Vec::new(),
    };
    let secrets_newer_than = |at: &str| {
        both_secrets
            .is_some_and(|(a, b)| a.updated_at.as_str() >= at && b.updated_at.as_str() >= at)
    };
    // Secrets written no later than the record are the recorded delivery's (timestamps have
    // whole seconds: a rotation started in the second of the last delivery must not read them
    // as its own).
    let after_record = |at: &str| {
        live.delivered
            .as_ref()
            .is_none_or(|rec| at > rec.updated_at.as_str())
    };
    let written_since = both_secrets
        .is_some_and(|(a, b)| after_record(&a.updated_at) && after_record(&b.updated_at));
    let adopt = match interrupted.as_slice() {
        [only] if only.active && secrets_newer_than(&only.created) && written_since => {
            Some(only.id.clone())
        }
        _ => None,
    };
    let undelivered: Vec<String> = interrupted
        .iter()
        .map(|k| k.id.clone())
        .filter(|id| Some(id) != adopt.as_ref())
        .collect();
    let current = adopt.is_none()
        && live.delivered.as_ref().is_some_and(|rec| {
            recorded.is_some()
                && live.keys.iter().any(|k| k.id == rec.value && k.active)
                && both_secrets.is_some_and(|(a, b)| {
                    a.updated_at <= rec.updated_at && b.updated_at <= rec.updated_at
                })
        });
    let others = live
        .keys
        .iter()
        .map(|k| k.id.clone())
        .filter(|id| Some(id) != recorded.as_ref() && !interrupted.iter().any(|k| &k.id == id))
        .collect();
    Assessment {
        recorded,
        current,
        adopt,
        undelivered,
        others,
    }
}

fn describe_keys(live: &Live) -> String {
    live.keys
        .iter()
        .map(|k| {
            format!(
                "{} ({}, created {}, {})",
                k.id,
                if k.active { "active" } else { "inactive" },
                k.created,
                k.last_used
                    .as_ref()
                    .map(|u| format!("last used {u}"))
                    .unwrap_or_else(|| "never used".into())
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `user_goes`: the user is deleted too (a teardown of the tool's user), so none of its keys
/// may stay. Otherwise only what the tool's records show it delivered is retired.
pub fn diff(desire: &Desire<Spec>, live: &Live, user_goes: bool) -> Vec<Change> {
    let spec = desire.spec();
    let a = assess(live);
    let change =
        |action, name: &str, details, op| Change::new(Kind::AccessKey, name, action, details, op);
    let mut changes = Vec::new();
    if desire.present().is_none() {
        let recorded = live.delivered.is_some() || live.pending.is_some();
        let key_ids: Vec<String> = if user_goes || recorded {
            live.keys.iter().map(|k| k.id.clone()).collect()
        } else {
            Vec::new()
        };
        if !recorded && (live.id_secret.is_some() || live.key_secret.is_some()) {
            changes.push(Change::not_run(
                Kind::Secret,
                &format!("{KEY_ID_SECRET}, {SECRET_KEY_SECRET}"),
                Action::Keep,
                vec![format!(
                    "left in place: {KEY_ID_SECRET}/{SECRET_KEY_SECRET} were not delivered by skyecr-bootstrap (no {DELIVERED_VARIABLE} record)"
                )],
            ));
        }
        if key_ids.is_empty() && !recorded {
            return changes;
        }
        let mut details = vec![format!(
            "delete keys [{}] of user {}",
            key_ids.join(", "),
            spec.user_name
        )];
        if recorded {
            let when = if user_goes {
                ""
            } else {
                " (after the OIDC role is in place)"
            };
            details.push(format!(
                "delete secrets {KEY_ID_SECRET} and {SECRET_KEY_SECRET}{when}"
            ));
        }
        changes.push(change(
            Action::Delete,
            &spec.user_name,
            details,
            KeyOp::Retire {
                key_ids,
                secrets: recorded,
            },
        ));
        return changes;
    }
    // A recorded key makes the user the tool's: its other keys are superseded, not foreign.
    let superseded = if a.recorded.is_some() {
        a.others.clone()
    } else {
        Vec::new()
    };
    if !a.undelivered.is_empty() {
        changes.push(change(
            Action::Delete,
            &a.undelivered.join(", "),
            vec!["created by an interrupted run and never delivered to GitHub".into()],
            KeyOp::Delete {
                key_ids: a.undelivered.clone(),
                clear_mark: true,
            },
        ));
    }
    let mut retire: Vec<String> = a.recorded.iter().cloned().collect();
    retire.extend(superseded.iter().cloned());
    if let Some(key_id) = &a.adopt {
        retire.retain(|id| id != key_id);
        changes.push(change(
            Action::Update,
            key_id,
            vec![
                format!(
                    "GitHub already holds {key_id} (an interrupted run delivered it): record it"
                ),
                format!("then delete [{}]", retire.join(", ")),
            ],
            KeyOp::Adopt {
                key_id: key_id.clone(),
                retire,
            },
        ));
        return changes;
    }
    if a.current && !spec.rotate {
        if !superseded.is_empty() {
            changes.push(change(
                Action::Delete,
                &superseded.join(", "),
                vec!["superseded by the delivered key (an interrupted rotation left it)".into()],
                KeyOp::Delete {
                    key_ids: superseded,
                    clear_mark: true,
                },
            ));
        } else if live.pending.is_some() && a.undelivered.is_empty() {
            // A run stopped after recording its key but before clearing the mark.
            changes.push(Change::new(
                Kind::Variable,
                PENDING_VARIABLE,
                Action::Delete,
                vec!["left by an interrupted run; the delivered key is current".into()],
                KeyOp::Delete {
                    key_ids: Vec::new(),
                    clear_mark: true,
                },
            ));
        }
        return changes;
    }
    // Keys that stay while the new one is created: the retired ones go only after delivery,
    // except superseded ones that would keep the new key from being made (a rotation
    // interrupted after its record): they go first.
    let mut staying = live.keys.len() - a.undelivered.len();
    if staying >= MAX_KEYS && !superseded.is_empty() {
        changes.push(change(
            Action::Delete,
            &superseded.join(", "),
            vec!["superseded by the delivered key (an interrupted rotation left it)".into()],
            KeyOp::Delete {
                key_ids: superseded.clone(),
                clear_mark: true,
            },
        ));
        staying -= superseded.len();
        retire.retain(|id| !superseded.contains(id));
    }
    if staying >= MAX_KEYS {
        changes.push(Change::not_run(
            Kind::AccessKey,
            &spec.user_name,
            Action::Blocked,
            vec![
                format!("user {} already has {} access keys, IAM's limit: {}", spec.user_name, live.keys.len(), describe_keys(live)),
                if a.recorded.is_some() {
                    "The delivered key and another one exist; delete the one you no longer need and rerun.".into()
                } else {
                    "None of them is known to be in GitHub, so the tool will not delete either.".into()
                },
                format!(
                    "Delete one you no longer use (aws iam delete-access-key --user-name {} --access-key-id ID) and rerun; from then on `skyecr-bootstrap rotate-keys` replaces the key safely.",
                    spec.user_name
                ),
            ],
        ));
        return changes;
    }
    let reason = if spec.rotate && a.current {
        "rotate: new key → both secrets → old key deleted".to_string()
    } else if a.recorded.is_some() {
        "GitHub's secrets do not match the recorded key: deliver a new one".to_string()
    } else {
        "create a key and write it to GitHub (never shown)".to_string()
    };
    let mut details = vec![
        reason,
        format!("secrets {KEY_ID_SECRET} and {SECRET_KEY_SECRET}"),
        format!("record {PENDING_VARIABLE} (while delivering), then {DELIVERED_VARIABLE}"),
    ];
    if !retire.is_empty() {
        details.push(format!("then delete [{}]", retire.join(", ")));
    }
    let action = if a.recorded.is_some() || spec.rotate {
        Action::Update
    } else {
        Action::Create
    };
    // The delivery writes its own mark while the cleanup runs: the cleanup leaves it alone.
    for c in &mut changes {
        if let Some(KeyOp::Delete { clear_mark, .. }) = &mut c.op {
            *clear_mark = false;
        }
    }
    changes.push(change(
        action,
        &spec.user_name,
        details,
        KeyOp::Deliver { retire },
    ));
    changes
}

async fn delete_key(aws: &Aws, user: &str, key_id: &str) -> Result<()> {
    match aws
        .iam
        .delete_access_key()
        .user_name(user)
        .access_key_id(key_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => aws.gone(failure("iam:DeleteAccessKey", e)),
    }
}

/// How long a pending mark counts as a delivery in progress when its process cannot be checked
/// (another machine): longer than any delivery takes, rate-limit waits included.
const MARK_LEASE_SECS: i64 = 600;
const MARK_PREFIX: &str = "key being created by run ";

/// The pending mark's value: which run wrote it, on which machine (a hash: nothing to read).
fn run_mark() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{MARK_PREFIX}{}-{nanos} on {}",
        std::process::id(),
        this_machine()
    )
}

/// A short, stable tag of this machine.
fn this_machine() -> String {
    use sha2::{Digest, Sha256};
    let name = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .chain(
            ["HOSTNAME", "COMPUTERNAME"]
                .iter()
                .filter_map(|v| std::env::var(v).ok()),
        )
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .or_else(|| {
            std::process::Command::new("hostname")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_default();
    hex::encode(&Sha256::digest(name.as_bytes())[..6])
}

fn process_alive(pid: u32) -> bool {
    if std::path::Path::new("/proc/self").exists() {
        return std::path::Path::new(&format!("/proc/{pid}")).exists();
    }
    if cfg!(unix) {
        return std::process::Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    }
    true
}

/// Whether a pending mark belongs to a delivery still in progress: its process is alive on this
/// machine, or, on another machine, it is younger than the lease. A mark of an interrupted run
/// (process gone) is stale, and the rerun takes over at once.
fn mark_is_live(
    mark: &Variable,
    machine: &str,
    now_secs: i64,
    alive: impl Fn(u32) -> bool,
) -> bool {
    let age = DateTime::from_str(&mark.updated_at, Format::DateTime)
        .map(|t| now_secs - t.secs())
        .unwrap_or(0);
    if age >= MARK_LEASE_SECS {
        return false;
    }
    let Some((run, on)) = mark
        .value
        .strip_prefix(MARK_PREFIX)
        .and_then(|rest| rest.split_once(" on "))
    else {
        return false;
    };
    let pid = run.split('-').next().and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) if on == machine => pid != std::process::id() && alive(pid),
        Some(_) => true,
        None => false,
    }
}

/// `CreateAccessKey` is the one write that is not idempotent: retried after a lost answer, it
/// makes a second key whose secret nobody holds. So only throttling (certainly not applied) is
/// retried; after any other failure the run stops, and the pending mark written before lets
/// the rerun delete a key that was created all the same.
async fn create_key(aws: &Aws, user: &str) -> Result<(String, SecretString)> {
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        let created = aws
            .iam
            .create_access_key()
            .user_name(user)
            .customize()
            .config_override(
                aws_sdk_iam::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        let f = match created {
            Ok(out) => {
                let Some(key) = out.access_key() else {
                    return Err(Error::Aws {
                        action: "iam:CreateAccessKey",
                        code: None,
                        message: "the answer holds no access key".into(),
                    });
                };
                return Ok((
                    key.access_key_id().to_string(),
                    SecretString::from(key.secret_access_key().to_string()),
                ));
            }
            Err(e) => failure("iam:CreateAccessKey", e),
        };
        if is_throttling(&f) && attempt < 4 {
            crate::cloud::debug_note(&format!(
                "iam:CreateAccessKey throttled; retrying in {} ms",
                delay.as_millis()
            ));
            attempt += 1;
            tokio::time::sleep(delay).await;
            delay *= 2;
            continue;
        }
        if f.status.is_none_or(|s| s >= 500) && !f.is_access_denied() {
            return Err(Error::Aws {
                action: f.action,
                code: f.code,
                message: format!(
                    "{}\n  The key may have been created all the same (its secret never reached this tool): rerun, and the tool deletes it and delivers a new one.",
                    f.message
                ),
            });
        }
        return Err(aws.error(f));
    }
}

async fn delete_keys(aws: &Aws, user: &str, key_ids: &[String]) -> Result<()> {
    for id in key_ids {
        delete_key(aws, user, id).await?;
    }
    Ok(())
}

pub async fn apply(
    aws: &Aws,
    github: &GitHub,
    spec: &Spec,
    live: &Live,
    op: &KeyOp,
    part: Part,
) -> Result<()> {
    let place = Place::Repository;
    let repo = &spec.repo;
    if part != Part::Rest
        && let Some(mark) = &live.pending
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        if mark_is_live(mark, &this_machine(), now, process_alive) {
            // Its new key would look like one of an interrupted run: leave everything to it.
            return Err(Error::GitHub(format!(
                "another run is delivering an access key to {repo} right now ({PENDING_VARIABLE} set at {}); this run changed no key.\n  Rerun once it has finished. If no run is active (one was interrupted on another machine), delete the variable {PENDING_VARIABLE} or rerun after {} minutes.",
                mark.updated_at,
                MARK_LEASE_SECS / 60
            )));
        }
    }
    match op {
        KeyOp::Delete {
            key_ids,
            clear_mark,
        } => {
            delete_keys(aws, &spec.user_name, key_ids).await?;
            if *clear_mark && live.pending.is_some() {
                github
                    .delete_variable(repo, &place, PENDING_VARIABLE)
                    .await?;
            }
            Ok(())
        }
        KeyOp::Adopt { key_id, retire } => {
            record(github, repo, key_id, live).await?;
            delete_keys(aws, &spec.user_name, retire).await
        }
        KeyOp::Retire { key_ids, secrets } => {
            if !secrets {
                return delete_keys(aws, &spec.user_name, key_ids).await;
            }
            github.delete_secret(repo, &place, KEY_ID_SECRET).await?;
            github
                .delete_secret(repo, &place, SECRET_KEY_SECRET)
                .await?;
            delete_keys(aws, &spec.user_name, key_ids).await?;
            github
                .delete_variable(repo, &place, DELIVERED_VARIABLE)
                .await?;
            github.delete_variable(repo, &place, PENDING_VARIABLE).await
        }
        KeyOp::Deliver { .. } if part == Part::First => mark_delivery(github, repo, live).await,
        KeyOp::Deliver { retire } => {
            let (key_id, secret) = create_key(aws, &spec.user_name).await?;
            let id_value = SecretString::from(key_id.clone());
            let delivered = tokio::try_join!(
                github.put_secret(repo, &place, KEY_ID_SECRET, &id_value, live.key.as_ref()),
                github.put_secret(repo, &place, SECRET_KEY_SECRET, &secret, live.key.as_ref()),
            );
            if let Err(e) = delivered {
                // Never leave a key behind that GitHub does not hold.
                let cleanup = delete_key(aws, &spec.user_name, &key_id).await;
                let outcome = match cleanup {
                    Ok(()) => format!(
                        "the new access key {key_id} was deleted again, so nothing is orphaned"
                    ),
                    Err(_) => format!(
                        "deleting the new access key {key_id} failed too; the rerun deletes it"
                    ),
                };
                return Err(Error::GitHub(format!(
                    "{e}\n  {outcome}. Rerun when GitHub accepts writes."
                )));
            }
            record(github, repo, &key_id, live).await?;
            delete_keys(aws, &spec.user_name, retire).await
        }
    }
}

/// Marks the start, so a crash after CreateAccessKey leaves a key the rerun recognizes. A fresh
/// mark is created, never overwritten: of two runs delivering at once, one stops here, before
/// it makes a key (their secrets would interleave otherwise).
async fn mark_delivery(github: &GitHub, repo: &RepoName, live: &Live) -> Result<()> {
    let place = Place::Repository;
    let mark = run_mark();
    if live.pending.is_some() {
        return github
            .set_variable(repo, &place, PENDING_VARIABLE, &mark, true)
            .await;
    }
    let created = github
        .create_variable(repo, &place, PENDING_VARIABLE, &mark)
        .await?;
    // A retried request whose first answer was lost finds its own mark.
    if created
        || github
            .variable(repo, &place, PENDING_VARIABLE)
            .await?
            .is_some_and(|v| v.value == mark)
    {
        return Ok(());
    }
    Err(Error::GitHub(format!(
        "another run is delivering an access key to {repo} right now ({PENDING_VARIABLE} appeared after this run looked); this run created no key.\n  Rerun once the other run has finished."
    )))
}

/// Records the delivered key and ends the pending mark. With no record yet, the mark is renamed
/// to the record: one write, so a crash leaves the mark or the record, never both or neither.
/// Over an earlier record (a rotation) the record is rewritten first and the mark deleted
/// after; a crash between them leaves a current record beside a stale mark, which the rerun
/// clears.
async fn record(github: &GitHub, repo: &RepoName, key_id: &str, live: &Live) -> Result<()> {
    let place = Place::Repository;
    if live.delivered.is_none()
        && github
            .rename_variable(repo, &place, PENDING_VARIABLE, DELIVERED_VARIABLE, key_id)
            .await?
    {
        return Ok(());
    }
    // The mark is gone (a retried rename whose first answer was lost) or a record appeared.
    github
        .set_variable(
            repo,
            &place,
            DELIVERED_VARIABLE,
            key_id,
            live.delivered.is_some(),
        )
        .await?;
    github.delete_variable(repo, &place, PENDING_VARIABLE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            repo: RepoName {
                owner: "acme".into(),
                name: "app".into(),
            },
            user_name: "u".into(),
            rotate: false,
        }
    }

    fn key(id: &str, created: &str) -> Key {
        Key {
            id: id.into(),
            active: true,
            created: created.into(),
            last_used: None,
        }
    }

    fn var(value: &str, at: &str) -> Option<Variable> {
        Some(Variable {
            value: value.into(),
            updated_at: at.into(),
        })
    }

    fn meta(at: &str) -> Option<SecretMeta> {
        Some(SecretMeta {
            updated_at: at.into(),
        })
    }

    fn delivered() -> Live {
        Live {
            keys: vec![key("K1", "2026-01-01T00:00:00Z")],
            delivered: var("K1", "2026-01-01T00:00:02Z"),
            pending: None,
            id_secret: meta("2026-01-01T00:00:01Z"),
            key_secret: meta("2026-01-01T00:00:01Z"),
            key: None,
        }
    }

    fn ops(live: &Live, spec: &Spec) -> Vec<KeyOp> {
        diff(&Desire::Present(spec.clone()), live, false)
            .into_iter()
            .filter_map(|c| c.op)
            .collect()
    }

    #[test]
    fn a_delivered_key_needs_nothing_and_rotation_replaces_it() {
        assert!(assess(&delivered()).current);
        assert!(ops(&delivered(), &spec()).is_empty());
        let rotate = Spec {
            rotate: true,
            ..spec()
        };
        assert_eq!(
            ops(&delivered(), &rotate),
            vec![KeyOp::Deliver {
                retire: vec!["K1".into()]
            }]
        );
    }

    #[test]
    fn no_key_yet_is_delivered_fresh() {
        let live = Live::default();
        assert_eq!(ops(&live, &spec()), vec![KeyOp::Deliver { retire: vec![] }]);
    }

    #[test]
    fn a_key_created_by_an_interrupted_run_is_deleted_before_a_new_delivery() {
        let mut live = delivered();
        live.pending = var("key being created", "2026-02-01T00:00:00Z");
        live.keys.push(key("K2", "2026-02-01T00:00:01Z"));
        // The secrets still hold K1: K2 never reached GitHub.
        let a = assess(&live);
        assert_eq!(a.undelivered, vec!["K2".to_string()]);
        assert!(a.current);
        assert_eq!(
            ops(&live, &spec()),
            vec![KeyOp::Delete {
                key_ids: vec!["K2".into()],
                clear_mark: true
            }]
        );
    }

    #[test]
    fn a_key_delivered_but_not_recorded_is_adopted() {
        let mut live = delivered();
        live.pending = var("key being created", "2026-02-01T00:00:00Z");
        live.keys.push(key("K2", "2026-02-01T00:00:01Z"));
        live.id_secret = meta("2026-02-01T00:00:02Z");
        live.key_secret = meta("2026-02-01T00:00:02Z");
        assert_eq!(
            ops(&live, &spec()),
            vec![KeyOp::Adopt {
                key_id: "K2".into(),
                retire: vec!["K1".into()]
            }]
        );
    }

    #[test]
    fn a_pending_mark_is_live_only_while_its_run_can_be() {
        let at = "2026-01-01T00:00:00Z";
        let t0 = DateTime::from_str(at, Format::DateTime).unwrap().secs();
        let mark = |value: &str| Variable {
            value: value.into(),
            updated_at: at.into(),
        };
        let here = mark("key being created by run 4242-17 on m1");
        assert!(mark_is_live(&here, "m1", t0 + 5, |pid| pid == 4242));
        assert!(
            !mark_is_live(&here, "m1", t0 + 5, |_| false),
            "process gone"
        );
        assert!(
            !mark_is_live(&here, "m1", t0 + MARK_LEASE_SECS, |_| true),
            "lease over"
        );
        assert!(
            mark_is_live(&here, "m2", t0 + 5, |_| false),
            "another machine"
        );
        assert!(!mark_is_live(&here, "m2", t0 + MARK_LEASE_SECS + 1, |_| {
            false
        }));
        let older = mark("key being created");
        assert!(
            !mark_is_live(&older, "m1", t0 + 5, |_| true),
            "a mark without a run"
        );
        assert!(run_mark().starts_with(MARK_PREFIX));
    }

    #[test]
    fn a_mark_left_after_recording_is_cleared() {
        let mut live = delivered();
        live.pending = var("key being created", "2026-01-01T00:00:00Z");
        assert_eq!(
            ops(&live, &spec()),
            vec![KeyOp::Delete {
                key_ids: vec![],
                clear_mark: true
            }]
        );
    }

    #[test]
    fn two_foreign_keys_block_instead_of_failing_on_the_limit() {
        let live = Live {
            keys: vec![
                key("A", "2025-01-01T00:00:00Z"),
                key("B", "2025-02-01T00:00:00Z"),
            ],
            ..Live::default()
        };
        let changes = diff(&Desire::Present(spec()), &live, false);
        assert_eq!(changes[0].action, Action::Blocked);
        assert!(changes[0].details.join(" ").contains("A (active"));
    }

    #[test]
    fn secrets_written_by_someone_else_are_redelivered() {
        let mut live = delivered();
        live.key_secret = meta("2026-03-01T00:00:00Z");
        assert!(!assess(&live).current);
        assert_eq!(
            ops(&live, &spec()),
            vec![KeyOp::Deliver {
                retire: vec!["K1".into()]
            }]
        );
    }

    #[test]
    fn switching_to_oidc_retires_only_what_the_tool_delivered() {
        let off = |live: &Live| -> Vec<KeyOp> {
            diff(&Desire::Absent(spec()), live, false)
                .into_iter()
                .filter_map(|c| c.op)
                .collect()
        };
        assert_eq!(
            off(&delivered()),
            vec![KeyOp::Retire {
                key_ids: vec!["K1".into()],
                secrets: true
            }]
        );
        let foreign = Live {
            keys: vec![key("A", "2025-01-01T00:00:00Z")],
            ..Live::default()
        };
        assert!(off(&foreign).is_empty());
        assert_eq!(
            diff(&Desire::Absent(spec()), &foreign, true)[0].op,
            Some(KeyOp::Retire {
                key_ids: vec!["A".into()],
                secrets: false
            }),
            "a user that is deleted takes all its keys"
        );
        // Key secrets someone else put there stay, and the plan says so.
        let theirs = Live {
            id_secret: meta("2026-01-01T00:00:01Z"),
            key_secret: meta("2026-01-01T00:00:01Z"),
            ..Live::default()
        };
        let kept: Vec<_> = diff(&Desire::Absent(spec()), &theirs, false)
            .into_iter()
            .map(|c| (c.action, c.op))
            .collect();
        assert_eq!(kept, [(Action::Keep, None)]);
    }
}
