//! Audit: the plan read as a drift report, security findings on what exists, and the check-access evaluator. Pure.

mod access;
mod push_scope;
mod trust;

use serde::Serialize;
use serde_json::Value;

pub use access::{Decision, Known, Token, Verdict, closest_allowed_subject, evaluate};
pub use push_scope::push_scope_findings;
pub use trust::{TrustContext, trust_findings};

use crate::config::Encryption;
use crate::observe::Observed;
use crate::plan::{Action, Difference, Kind, Plan};
use crate::policy::{self, PolicyDocument};
use crate::resources::change::Desire;
use crate::resources::finding::{Finding, Findings, Fixes, Severity};
use crate::resources::{access_key, environment, repository, role, secret, user};
use crate::spec::Desired;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    InSync,
    Modified,
    Missing,
    /// Exists, but its value cannot be read back to compare (secrets).
    Unverifiable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InSync => "in_sync",
            Status::Modified => "modified",
            Status::Missing => "missing",
            Status::Unverifiable => "unverifiable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceStatus {
    pub resource: Kind,
    pub name: String,
    pub status: Status,
    pub differences: Vec<Difference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub in_sync: bool,
    pub resources: Vec<ResourceStatus>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(resources: Vec<ResourceStatus>, mut findings: Vec<Finding>) -> Report {
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(b.id)));
        let drift = resources
            .iter()
            .any(|r| matches!(r.status, Status::Modified | Status::Missing));
        let serious = findings.iter().any(|f| f.severity >= Severity::Medium);
        Report {
            in_sync: !drift && !serious,
            resources,
            findings,
        }
    }
}

/// Each managed resource's status, read off the plan (one diff logic for plan and audit).
pub fn statuses(desired: &Desired, observed: &Observed, plan: &Plan) -> Vec<ResourceStatus> {
    let mut managed = Vec::new();
    if let Some(p) = desired.provider.as_ref().and_then(Desire::present) {
        managed.push((Kind::OidcProvider, p.url.clone()));
    }
    if let Some(r) = desired.role.as_ref().and_then(Desire::present) {
        managed.push((Kind::Role, r.name.clone()));
    }
    managed.push((Kind::Policy, desired.policy.spec().name.clone()));
    managed.push((Kind::Repository, desired.repository.spec().name.clone()));
    if let Some(u) = desired.user.as_ref().and_then(Desire::present) {
        managed.push((Kind::User, u.name.clone()));
    }
    managed.extend(
        desired
            .variables
            .iter()
            .map(|v| (Kind::Variable, v.spec().name.clone())),
    );

    let mut out: Vec<ResourceStatus> = managed
        .into_iter()
        .map(|(kind, name)| {
            let changes: Vec<_> = plan
                .changes
                .iter()
                .filter(|c| c.resource == kind && c.name == name)
                .collect();
            let status = if changes.is_empty() {
                Status::InSync
            } else if changes.iter().any(|c| c.action == Action::Create) {
                Status::Missing
            } else {
                Status::Modified
            };
            ResourceStatus {
                resource: kind,
                name,
                status,
                differences: changes.iter().flat_map(|c| c.differences.clone()).collect(),
                note: None,
            }
        })
        .collect();
    if let Desire::Present(keys) = &desired.access_key {
        out.extend(access_key_statuses(keys, &observed.access_key));
    }
    for (spec, live) in desired
        .secrets
        .iter()
        .zip(&observed.secrets)
        .filter_map(|(s, live)| Some((s.present()?, live)))
    {
        let (status, note) = match secret::staleness(spec, live) {
            None | Some(secret::Staleness::Forced) => (Status::InSync, None),
            Some(secret::Staleness::Missing) => (Status::Missing, None),
            Some(secret::Staleness::DifferentValue) => (Status::Modified, None),
            Some(s) => (Status::Unverifiable, Some(s.describe().to_string())),
        };
        let updated = live
            .secret
            .as_ref()
            .map(|m| format!("updated {}", m.updated_at));
        out.push(ResourceStatus {
            resource: Kind::Secret,
            name: spec.label(),
            status,
            differences: Vec::new(),
            note: match (note, updated) {
                (Some(n), Some(u)) => Some(format!("{n}; {u}")),
                (n, u) => n.or(u),
            },
        });
    }
    out
}

fn access_key_statuses(spec: &access_key::Spec, live: &access_key::Live) -> Vec<ResourceStatus> {
    let a = access_key::assess(live);
    let status = |resource, name: &str, status, note: Option<String>| ResourceStatus {
        resource,
        name: name.to_string(),
        status,
        differences: Vec::new(),
        note,
    };
    let key = match (&a.recorded, a.current) {
        (Some(id), true) => status(
            Kind::AccessKey,
            &spec.user_name,
            Status::InSync,
            Some(format!("GitHub holds {id}")),
        ),
        (None, _) if live.keys.is_empty() || live.delivered.is_none() => status(
            Kind::AccessKey,
            &spec.user_name,
            Status::Missing,
            Some("no key delivered to GitHub".into()),
        ),
        _ => status(
            Kind::AccessKey,
            &spec.user_name,
            Status::Modified,
            Some("GitHub's secrets do not match the recorded key".into()),
        ),
    };
    let recorded_at = live.delivered.as_ref().map(|v| v.updated_at.as_str());
    let secret = |name: &str, meta: &Option<crate::cloud::github::SecretMeta>| match meta {
        None => status(Kind::Secret, name, Status::Missing, None),
        Some(m) if recorded_at.is_some_and(|at| m.updated_at.as_str() <= at) => status(
            Kind::Secret,
            name,
            Status::InSync,
            Some(format!("updated {}", m.updated_at)),
        ),
        Some(m) => status(
            Kind::Secret,
            name,
            Status::Unverifiable,
            Some(format!(
                "written outside this tool; updated {}",
                m.updated_at
            )),
        ),
    };
    vec![
        key,
        secret(access_key::KEY_ID_SECRET, &live.id_secret),
        secret(access_key::SECRET_KEY_SECRET, &live.key_secret),
    ]
}

/// Registry-level scanning can cover a repository whose own scan-on-push flag is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryScanning {
    pub covers_repository: bool,
}

/// Security findings on what exists (not on what the settings ask for).
pub fn findings(
    desired: &Desired,
    observed: &Observed,
    ctx: &TrustContext,
    registry: RegistryScanning,
    now: &str,
    fixes: &Fixes,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if let (Some(spec), Some(live)) = (
        desired.role.as_ref().and_then(Desire::present),
        &observed.role,
    ) {
        out.extend(role::findings(spec, live, fixes));
        out.extend(environment::findings(
            &spec.name,
            &desired.access_key.spec().repo,
            &observed.environments,
        ));
        out.extend(document_findings(
            Kind::Role,
            &spec.name,
            "trust policy",
            &live.trust,
            fixes,
            |doc, found| trust_findings(doc, ctx, found),
        ));
    }
    if let Some(live) = &observed.policy {
        let repository_arn = expected_repository_arn(desired);
        out.extend(document_findings(
            Kind::Policy,
            &desired.policy.spec().name,
            "push policy",
            &live.document,
            fixes,
            |doc, found| push_scope_findings(doc, &repository_arn, found),
        ));
    }
    if let Some(live) = &observed.repository {
        out.extend(repository_findings(
            desired.repository.spec(),
            live,
            registry,
            fixes,
        ));
        out.extend(repository::findings(
            desired.repository.spec(),
            live,
            observed.kms_key.as_ref(),
            fixes,
        ));
    }
    if let (Some(spec), Some(live)) = (
        desired.user.as_ref().and_then(Desire::present),
        &observed.user,
    ) {
        out.extend(user::findings(spec, live, fixes));
    }
    if let Desire::Present(keys) = &desired.access_key {
        out.extend(access_key_findings(keys, &observed.access_key, now, fixes));
    }
    out
}

/// Keys older than this should have been rotated.
const MAX_KEY_AGE_DAYS: i64 = 90;
/// A key unused for longer than this is probably not what the workflow uses.
const UNUSED_GRACE_DAYS: i64 = 7;

fn epoch(iso: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(iso, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .map(|d| d.secs())
}

fn access_key_findings(
    spec: &access_key::Spec,
    live: &access_key::Live,
    now: &str,
    fixes: &Fixes,
) -> Vec<Finding> {
    let mut out = Findings::on(Kind::AccessKey, &spec.user_name, fixes.apply());
    for k in &live.keys {
        let days = epoch(now)
            .zip(epoch(&k.created))
            .map(|(n, c)| (n - c) / 86_400)
            .unwrap_or(0);
        if days > MAX_KEY_AGE_DAYS {
            out.add_fixed(
                "access-key-old",
                Severity::Medium,
                format!(
                    "access key {} is {days} days old (created {})",
                    k.id, k.created
                ),
                "",
                fixes.tool("rotate-keys"),
            );
        }
        // A new key has had no chance to be used yet.
        if k.last_used.is_none() && days > UNUSED_GRACE_DAYS {
            out.add_fixed(
                "access-key-never-used",
                Severity::Low,
                format!("access key {} has never been used", k.id),
                "a key that is never used is either undelivered or unneeded: check that the workflow reads the secrets before deleting it",
                fixes.aws("iam delete-access-key", &[("--user-name", &spec.user_name), ("--access-key-id", &k.id)]),
            );
        }
    }
    if live.keys.len() > 1 {
        out.add(
            "access-key-two-keys",
            Severity::Medium,
            format!(
                "user {} has {} access keys; only one is in GitHub",
                spec.user_name,
                live.keys.len()
            ),
            "apply deletes the keys that are not in GitHub",
        );
    }
    out.into_vec()
}

fn expected_repository_arn(desired: &Desired) -> String {
    desired.policy.spec().document["Statement"]
        .as_array()
        .and_then(|s| {
            s.iter()
                .find_map(|st| st["Resource"].as_str().filter(|r| *r != "*"))
        })
        .unwrap_or_default()
        .to_string()
}

/// The checks of one policy document, or one finding saying that it cannot be read.
fn document_findings(
    kind: Kind,
    name: &str,
    what: &str,
    document: &Value,
    fixes: &Fixes,
    checks: impl FnOnce(&PolicyDocument, &mut Findings),
) -> Vec<Finding> {
    // apply writes the tool's own policy over whatever the checks find.
    let mut out = Findings::on(kind, name, fixes.apply());
    match policy::parse_policy(document) {
        Ok(doc) => checks(&doc, &mut out),
        Err(e) => out.add(
            "policy-unreadable",
            Severity::High,
            format!("the {what} cannot be analysed: {e}"),
            "apply replaces it with the tool's policy",
        ),
    }
    out.into_vec()
}

fn repository_findings(
    spec: &repository::Spec,
    live: &repository::Live,
    registry: RegistryScanning,
    fixes: &Fixes,
) -> Vec<Finding> {
    let mut out = Findings::on(Kind::Repository, &spec.name, fixes.apply());
    if !live.scan_on_push && !registry.covers_repository {
        out.add_fixed(
            "repository-no-scan-on-push",
            Severity::Medium,
            format!(
                "images pushed to {} are not scanned: scan on push is off and no registry scanning rule covers it",
                spec.name
            ),
            "",
            fixes.aws("ecr put-image-scanning-configuration", &[("--repository-name", &spec.name), ("--image-scanning-configuration", "scanOnPush=true")]),
        );
    }
    if matches!(spec.encryption, Encryption::Kms(_)) && live.encryption_type == "AES256" {
        out.add_fixed(
            "repository-aes256-not-kms",
            Severity::Medium,
            format!(
                "{} is encrypted with AES256, but the settings ask for a KMS key",
                spec.name
            ),
            "ECR cannot change encryption in place: keep AES256 in the settings (the command), or push to a new repository created with --encryption kms",
            fixes.apply_with(|given| {
                given.encryption = Some(crate::config::EncryptionName::Aes256);
                given.kms_key = None;
            }),
        );
    }
    // Tag mutability the settings choose is checked as drift; only a repository left as it
    // is gets the advice.
    if spec.tag_mutability.is_none() && live.tag_mutability != "IMMUTABLE" {
        out.add_fixed(
            "repository-mutable-tags",
            Severity::Low,
            format!(
                "tags in {} can be overwritten, so a tag does not pin one image",
                spec.name
            ),
            "every tag fixed once pushed except latest, which the guide's workflow moves; or keep it in the settings: --tag-mutability immutable --mutable-tag latest with apply",
            fixes.aws("ecr put-image-tag-mutability", &[("--repository-name", &spec.name), ("--image-tag-mutability", "IMMUTABLE_WITH_EXCLUSION"), ("--image-tag-mutability-exclusion-filters", "filterType=WILDCARD,filter=latest")]),
        );
    }
    out.into_vec()
}
