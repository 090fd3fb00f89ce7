//! `check-access` answers, as text or JSON.
use serde::Serialize;

/// The live trust policy's answer for one subject a job's token may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectResult {
    pub sub: String,
    pub allowed: bool,
    pub statement: Option<usize>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closest_allowed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessReport {
    pub allowed: bool,
    pub role: String,
    #[serde(skip)]
    pub repository: String,
    pub subjects: Vec<SubjectResult>,
}

pub fn text(report: &AccessReport) -> String {
    let mut out = format!("Role {} for a job in {}:\n", report.role, report.repository);
    for r in &report.subjects {
        let verdict = if r.allowed {
            console::style("allowed").green()
        } else {
            console::style("denied").red()
        };
        out.push_str(&format!("  {verdict}  {}\n      {}\n", r.sub, r.reason));
        if let Some(c) = &r.closest_allowed {
            out.push_str(&format!("      closest allowed subject: {c}\n"));
        }
    }
    let result = if report.allowed { "allowed" } else { "denied" };
    out.push_str(&format!("Result: {result}\n"));
    out
}

pub fn json(report: &AccessReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}
