//! Security findings on what exists: one type for every check, whatever resource it looks at.
use serde::Serialize;

// `change` is the resources' shared vocabulary and imports nothing of the crate, so every
// resource module can use findings.
use super::change::Kind;

/// Ordered so that `max()` gives the worst of several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kebab-case ID, documented in `docs/audit-rules.md`.
    pub id: &'static str,
    pub severity: Severity,
    pub resource: Kind,
    pub name: String,
    /// What is wrong, naming the statement or setting and the offending values.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

/// The findings of the checks on one resource: each check adds to it, and every finding
/// names the resource.
#[derive(Debug)]
pub struct Findings {
    resource: Kind,
    name: String,
    found: Vec<Finding>,
}

impl Findings {
    pub fn on(resource: Kind, name: &str) -> Findings {
        Findings {
            resource,
            name: name.to_string(),
            found: Vec::new(),
        }
    }

    pub fn add(
        &mut self,
        id: &'static str,
        severity: Severity,
        message: String,
        fix: impl Into<String>,
    ) {
        self.found.push(Finding {
            id,
            severity,
            resource: self.resource,
            name: self.name.clone(),
            message,
            fix: fix.into(),
        });
    }

    /// In the order the checks added them.
    pub fn into_vec(self) -> Vec<Finding> {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn findings_serialize_with_their_resource_and_lowercase_severity() {
        let mut findings = Findings::on(Kind::Role, "r");
        findings.add("x", Severity::High, "m".into(), "f");
        assert_eq!(
            serde_json::to_value(findings.into_vec()).ok(),
            Some(
                json!([{"id": "x", "severity": "high", "resource": "role", "name": "r",
                         "message": "m", "fix": "f"}])
            )
        );
        assert_eq!(Severity::Medium.as_str(), "medium");
    }
}
