//! Security findings on what exists: one type for every check, whatever resource it looks at.
use serde::Serialize;

// `change` is the resources' shared vocabulary and imports nothing of the crate, so every
// resource module can use findings.
use super::change::Kind;
use crate::config::{RawSettings, command_words, shell_word};

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
    /// What to change, in words, when the command alone does not say it (for a policy
    /// edited by hand).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub advice: String,
    /// One shell command that fixes it, every argument filled in, to paste as it is.
    pub fix: String,
}

/// The findings of the checks on one resource: each check adds to it, and every finding
/// names the resource and carries the command that fixes it.
#[derive(Debug)]
pub struct Findings {
    resource: Kind,
    name: String,
    fix: String,
    found: Vec<Finding>,
}

impl Findings {
    /// `fix`: the command that fixes whatever the checks find on this resource (for a policy,
    /// the `apply` that writes the tool's own).
    pub fn on(resource: Kind, name: &str, fix: impl Into<String>) -> Findings {
        Findings {
            resource,
            name: name.to_string(),
            fix: fix.into(),
            found: Vec::new(),
        }
    }

    /// A finding fixed by the resource's command; `advice` says what to change by hand.
    pub fn add(
        &mut self,
        id: &'static str,
        severity: Severity,
        message: String,
        advice: impl Into<String>,
    ) {
        let fix = self.fix.clone();
        self.add_fixed(id, severity, message, advice, fix);
    }

    /// A finding with a command of its own.
    pub fn add_fixed(
        &mut self,
        id: &'static str,
        severity: Severity,
        message: String,
        advice: impl Into<String>,
        fix: String,
    ) {
        self.found.push(Finding {
            id,
            severity,
            resource: self.resource,
            name: self.name.clone(),
            message,
            advice: advice.into(),
            fix,
        });
    }

    /// In the order the checks added them.
    pub fn into_vec(self) -> Vec<Finding> {
        self.found
    }
}

/// The commands fixes are made of, for the settings audited: every argument filled in and
/// quoted for a POSIX shell, so that each fix can be pasted as it is.
#[derive(Debug, Clone)]
pub struct Fixes {
    /// The settings as given (file and flags merged).
    given: RawSettings,
    /// The region the audit read (the settings', else the AWS config chain's).
    region: String,
}

impl Fixes {
    pub fn new(given: RawSettings, region: &str) -> Fixes {
        Fixes {
            given,
            region: region.to_string(),
        }
    }

    /// `skyecr-bootstrap apply` with the settings audited: it writes the tool's own trust,
    /// push policy, holdings and repository settings.
    pub fn apply(&self) -> String {
        command_words("apply", &self.given).join(" ")
    }

    /// `apply` with some settings changed.
    pub fn apply_with(&self, change: impl FnOnce(&mut RawSettings)) -> String {
        let mut given = self.given.clone();
        change(&mut given);
        command_words("apply", &given).join(" ")
    }

    /// Another `skyecr-bootstrap` command with the settings audited.
    pub fn tool(&self, command: &str) -> String {
        command_words(command, &self.given).join(" ")
    }

    /// `aws COMMAND --OPTION VALUE …` in the audited region (and `--profile` when the
    /// settings name one); the values are quoted.
    pub fn aws(&self, command: &str, options: &[(&str, &str)]) -> String {
        let mut line = vec![format!("aws {command}")];
        let region = [("--region", self.region.as_str())];
        let profile: Vec<(&str, &str)> = self
            .given
            .profile
            .iter()
            .map(|p| ("--profile", p.as_str()))
            .collect();
        for (option, value) in options.iter().chain(&region).chain(&profile) {
            line.push(format!("{option} {}", shell_word(value)));
        }
        line.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn findings_serialize_with_their_resource_and_lowercase_severity() {
        let mut findings = Findings::on(Kind::Role, "r", "f");
        findings.add("x", Severity::High, "m".into(), "a");
        findings.add_fixed("y", Severity::Low, "n".into(), "", "g".into());
        assert_eq!(
            serde_json::to_value(findings.into_vec()).ok(),
            Some(
                json!([{"id": "x", "severity": "high", "resource": "role", "name": "r",
                         "message": "m", "advice": "a", "fix": "f"},
                       {"id": "y", "severity": "low", "resource": "role", "name": "r",
                         "message": "n", "fix": "g"}])
            )
        );
        assert_eq!(Severity::Medium.as_str(), "medium");
    }

    #[test]
    fn fixes_carry_the_settings_region_and_profile() {
        let fixes = Fixes::new(
            RawSettings {
                github_repo: Some("acme/app".into()),
                profile: Some("ci admin".into()),
                tags: vec!["v*".into()],
                ..RawSettings::default()
            },
            "eu-west-1",
        );
        assert_eq!(
            fixes.apply(),
            "skyecr-bootstrap apply --github-repo acme/app --profile 'ci admin' --tag 'v*'"
        );
        assert_eq!(
            fixes.aws(
                "ecr delete-repository-policy",
                &[("--repository-name", "web app")]
            ),
            "aws ecr delete-repository-policy --repository-name 'web app' --region eu-west-1 --profile 'ci admin'"
        );
    }
}
