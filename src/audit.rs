//! Audit: the plan read as a drift report, plus security findings on what exists. Pure.
use serde::Serialize;

use crate::config::Encryption;
use crate::observe::Observed;
use crate::plan::{Action, Difference, Kind, Plan};
use crate::resources::{push_policy, repository, role, secret};
use crate::spec::Desired;
use crate::trust::{self, Finding, Severity, TrustContext};

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
pub struct AuditFinding {
    pub id: &'static str,
    pub severity: Severity,
    pub resource: Kind,
    pub name: String,
    pub message: String,
    pub fix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub in_sync: bool,
    pub resources: Vec<ResourceStatus>,
    pub findings: Vec<AuditFinding>,
}

impl Report {
    pub fn new(resources: Vec<ResourceStatus>, mut findings: Vec<AuditFinding>) -> Report {
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
    let mut managed = vec![(Kind::OidcProvider, desired.provider.url.clone())];
    if let Some(r) = &desired.role {
        managed.push((Kind::Role, r.name.clone()));
    }
    managed.push((Kind::Policy, desired.policy.name.clone()));
    managed.push((Kind::Repository, desired.repository.name.clone()));
    managed.extend(
        desired
            .variables
            .iter()
            .map(|v| (Kind::Variable, v.name.clone())),
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
    for (spec, live) in desired.secrets.iter().zip(&observed.secrets) {
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
) -> Vec<AuditFinding> {
    let mut out = Vec::new();
    if let (Some(spec), Some(live)) = (&desired.role, &observed.role) {
        out.extend(role_findings(&spec.name, live, ctx));
    }
    if let Some(live) = &observed.policy {
        out.extend(policy_findings(
            &desired.policy.name,
            live,
            &expected_repository_arn(desired),
        ));
    }
    if let Some(live) = &observed.repository {
        out.extend(repository_findings(&desired.repository, live, registry));
    }
    out
}

fn expected_repository_arn(desired: &Desired) -> String {
    desired.policy.document["Statement"]
        .as_array()
        .and_then(|s| {
            s.iter()
                .find_map(|st| st["Resource"].as_str().filter(|r| *r != "*"))
        })
        .unwrap_or_default()
        .to_string()
}

pub fn attach(kind: Kind, name: &str, findings: Vec<Finding>) -> Vec<AuditFinding> {
    findings
        .into_iter()
        .map(|f| AuditFinding {
            id: f.id,
            severity: f.severity,
            resource: kind,
            name: name.to_string(),
            message: f.message,
            fix: f.fix,
        })
        .collect()
}

fn unreadable(kind: Kind, name: &str, what: &str, error: String) -> AuditFinding {
    AuditFinding {
        id: "policy-unreadable",
        severity: Severity::High,
        resource: kind,
        name: name.to_string(),
        message: format!("the {what} cannot be analysed: {error}"),
        fix: "Rerun `skyecr-bootstrap apply` to replace it with the tool's policy.".into(),
    }
}

fn role_findings(name: &str, live: &role::Live, ctx: &TrustContext) -> Vec<AuditFinding> {
    match trust::parse_policy(&live.trust) {
        Ok(doc) => attach(Kind::Role, name, trust::trust_findings(&doc, ctx)),
        Err(e) => vec![unreadable(Kind::Role, name, "trust policy", e.to_string())],
    }
}

fn policy_findings(
    name: &str,
    live: &push_policy::Live,
    repository_arn: &str,
) -> Vec<AuditFinding> {
    match trust::parse_policy(&live.document) {
        Ok(doc) => attach(
            Kind::Policy,
            name,
            trust::push_policy_findings(&doc, repository_arn),
        ),
        Err(e) => vec![unreadable(Kind::Policy, name, "push policy", e.to_string())],
    }
}

fn repository_findings(
    spec: &repository::Spec,
    live: &repository::Live,
    registry: RegistryScanning,
) -> Vec<AuditFinding> {
    let mut out = Vec::new();
    let mut add = |id, severity, message: String, fix: &str| {
        out.push(AuditFinding {
            id,
            severity,
            resource: Kind::Repository,
            name: spec.name.clone(),
            message,
            fix: fix.to_string(),
        })
    };
    if !live.scan_on_push && !registry.covers_repository {
        add(
            "repository-no-scan-on-push",
            Severity::Medium,
            format!(
                "images pushed to {} are not scanned: scan on push is off and no registry scanning rule covers it",
                spec.name
            ),
            "Run `skyecr-bootstrap apply` (turns scan on push back on).",
        );
    }
    if matches!(spec.encryption, Encryption::Kms(_)) && live.encryption_type == "AES256" {
        add(
            "repository-aes256-not-kms",
            Severity::Medium,
            format!(
                "{} is encrypted with AES256, but the settings ask for a KMS key",
                spec.name
            ),
            "ECR cannot change encryption in place: push to a new repository created with --encryption kms, or set --encryption aes256.",
        );
    }
    if live.tag_mutability != "IMMUTABLE" {
        add(
            "repository-mutable-tags",
            Severity::Low,
            format!(
                "tags in {} can be overwritten, so a tag does not pin one image",
                spec.name
            ),
            "Consider `aws ecr put-image-tag-mutability --image-tag-mutability IMMUTABLE` (the guide's :latest tag then needs a different scheme).",
        );
    }
    out
}
