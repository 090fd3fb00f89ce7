//! Audit reports as a text table, Markdown (for `$GITHUB_STEP_SUMMARY`) or JSON.
use console::{Style, style};

use serde_json::Value;

use crate::audit::{Report, Status};
use crate::plan::Difference;
use crate::resources::finding::Severity;

fn status_style(status: Status) -> Style {
    match status {
        Status::InSync => Style::new().green(),
        Status::Modified | Status::Missing => Style::new().red(),
        Status::Unverifiable => Style::new().yellow(),
    }
}

fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::High => Style::new().red().bold(),
        Severity::Medium => Style::new().yellow(),
        Severity::Low => Style::new().dim(),
    }
}

fn summary(report: &Report) -> String {
    let drifted = report
        .resources
        .iter()
        .filter(|r| matches!(r.status, Status::Modified | Status::Missing))
        .count();
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    format!(
        "{} of {} resources drifted; findings: {} high, {} medium, {} low.",
        drifted,
        report.resources.len(),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low)
    )
}

pub fn text(report: &Report, target: &str) -> String {
    let mut out = format!("Audit of {target}\n\n");
    let kind_width = report
        .resources
        .iter()
        .map(|r| r.resource.as_str().len())
        .max()
        .unwrap_or(4);
    let name_width = report
        .resources
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4);
    for r in &report.resources {
        out.push_str(&format!(
            "  {:<kw$}  {:<nw$}  {}\n",
            r.resource.as_str(),
            r.name,
            status_style(r.status).apply_to(r.status.as_str()),
            kw = kind_width,
            nw = name_width
        ));
        for d in &r.differences {
            out.push_str(&format!("      {}\n", difference_line(d)));
        }
        if let Some(note) = &r.note {
            out.push_str(&format!("      {note}\n"));
        }
    }
    if !report.findings.is_empty() {
        out.push_str("\nFindings:\n");
        for f in &report.findings {
            out.push_str(&format!(
                "  {:<6} {} ({} {})\n         {}\n         fix: {}\n",
                severity_style(f.severity).apply_to(f.severity.as_str().to_uppercase()),
                style(f.id).bold(),
                f.resource.as_str(),
                f.name,
                f.message,
                f.fix
            ));
        }
    }
    out.push_str(&format!("\n{}\n", summary(report)));
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(report: &Report, target: &str) -> String {
    let verdict = if report.in_sync {
        "✅ in sync"
    } else {
        "❌ drift or findings"
    };
    let mut out = format!(
        "## skyecr-bootstrap audit: {verdict}\n\n{}\n\n",
        cell(target)
    );
    out.push_str("| resource | name | status | differences |\n|---|---|---|---|\n");
    for r in &report.resources {
        let mut diffs: Vec<String> = r
            .differences
            .iter()
            .map(|d| match (&d.expected, &d.actual) {
                (Value::Null, actual) => format!("- `{}` `{}`", d.field, plain(actual)),
                (expected, Value::Null) => format!("+ `{}` `{}`", d.field, plain(expected)),
                (expected, actual) => {
                    format!("`{}`: expected `{}`, is `{}`", d.field, expected, actual)
                }
            })
            .collect();
        diffs.extend(r.note.clone());
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            r.resource.as_str(),
            cell(&r.name),
            r.status.as_str(),
            cell(&diffs.join("; "))
        ));
    }
    if !report.findings.is_empty() {
        out.push_str("\n### Findings\n\n| severity | id | resource | message | fix |\n|---|---|---|---|---|\n");
        for f in &report.findings {
            out.push_str(&format!(
                "| {} | `{}` | {} `{}` | {} | {} |\n",
                f.severity.as_str(),
                f.id,
                f.resource.as_str(),
                cell(&f.name),
                cell(&f.message),
                cell(&f.fix)
            ));
        }
    }
    out.push_str(&format!("\n{}\n", summary(report)));
    out
}

/// One difference: a value only one side has as `+`/`-` (green/red), else expected and actual.
fn difference_line(d: &Difference) -> String {
    match (&d.expected, &d.actual) {
        (Value::Null, actual) => style(format!("- {} {}", d.field, plain(actual)))
            .red()
            .to_string(),
        (expected, Value::Null) => style(format!("+ {} {}", d.field, plain(expected)))
            .green()
            .to_string(),
        (expected, actual) => format!("{}: expected {expected} but is {actual}", d.field),
    }
}

/// A string value without its JSON quotes.
fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}
