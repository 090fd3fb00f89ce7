//! `check-access` answers, as text or JSON.
use serde::Serialize;

use crate::audit::Verdict;

/// The live trust policy's answer for one subject a job's token may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectResult {
    pub sub: String,
    pub allowed: bool,
    pub result: Verdict,
    pub statement: Option<usize>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closest_allowed: Option<String>,
    /// The keys an undetermined answer depends on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessReport {
    /// How a short `--ref` was read (`--ref main read as refs/heads/main`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_as: Option<String>,
    pub allowed: bool,
    pub result: Verdict,
    /// For a denied job: the `apply` that would let it in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_allow: Option<String>,
    pub role: String,
    #[serde(skip)]
    pub repository: String,
    pub subjects: Vec<SubjectResult>,
}

pub fn text(report: &AccessReport) -> String {
    let mut out = String::new();
    if let Some(note) = &report.read_as {
        out.push_str(&format!("({note})\n"));
    }
    out.push_str(&format!(
        "Role {} for a job in {}:\n",
        report.role, report.repository
    ));
    for r in &report.subjects {
        let verdict = match r.result {
            Verdict::Allowed => console::style("allowed").green(),
            Verdict::Denied => console::style("denied").red(),
            Verdict::Undetermined => console::style("undetermined").yellow(),
        };
        out.push_str(&format!("  {verdict}  {}\n      {}\n", r.sub, r.reason));
        if let Some(c) = &r.closest_allowed {
            out.push_str(&format!("      closest allowed subject: {c}\n"));
        }
    }
    let result = match report.result {
        Verdict::Allowed => "allowed",
        Verdict::Denied => "denied",
        Verdict::Undetermined => {
            "undetermined: IAM's answer depends on a key this tool cannot know (see above); give it with --claims FILE or --session-name NAME where it can be"
        }
    };
    out.push_str(&format!("Result: {result}\n"));
    if let Some(command) = &report.to_allow {
        out.push_str(&format!("To allow it: {command}\n"));
    }
    out
}

pub fn json(report: &AccessReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}
