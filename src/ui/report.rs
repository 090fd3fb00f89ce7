//! Audit reports as a text table, Markdown (for `$GITHUB_STEP_SUMMARY`), JSON or SARIF (for
//! GitHub code scanning).
use std::collections::BTreeMap;

use console::{Style, style};

use serde_json::{Value, json};

use crate::audit::{Report, Status};
use crate::plan::Difference;
use crate::resources::finding::{Finding, Severity};

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
                "  {:<6} {} ({} {})\n         {}\n",
                severity_style(f.severity).apply_to(f.severity.as_str().to_uppercase()),
                style(f.id).bold(),
                f.resource.as_str(),
                f.name,
                f.message,
            ));
            if !f.advice.is_empty() {
                out.push_str(&format!("         {}\n", f.advice));
            }
            out.push_str(&format!("         fix: {}\n", f.fix));
        }
    }
    out.push_str(&format!("\n{}\n", summary(report)));
    out
}

/// The message, and what to change by hand when the finding says it.
fn with_advice(f: &Finding) -> String {
    if f.advice.is_empty() {
        f.message.clone()
    } else {
        format!("{}; {}", f.message.trim_end_matches('.'), f.advice)
    }
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
                cell(&with_advice(f)),
                cell(&format!("`{}`", f.fix))
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

/// The rule texts SARIF carries, from the one place they are written down, so that code
/// scanning shows what `docs/audit-rules.md` says.
const AUDIT_RULES: &str = include_str!("../../docs/audit-rules.md");

const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// One `### rule-id` section of `docs/audit-rules.md`: its `- **Field:** text` items.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RuleDoc<'a> {
    id: &'a str,
    fields: Vec<(&'a str, String)>,
    /// The section as written, for `help.markdown`.
    markdown: String,
}

impl RuleDoc<'_> {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.as_str())
    }
}

/// Every rule section, in document order. A field's continuation lines (indented) join its
/// first line with single spaces.
fn rule_docs(doc: &str) -> Vec<RuleDoc<'_>> {
    let mut rules: Vec<RuleDoc> = Vec::new();
    let mut open = false;
    for line in doc.lines() {
        if let Some(id) = line.strip_prefix("### ") {
            rules.push(RuleDoc {
                id: id.trim(),
                fields: Vec::new(),
                markdown: String::new(),
            });
            open = true;
            continue;
        }
        if line.starts_with('#') {
            open = false;
        }
        let Some(rule) = rules.last_mut().filter(|_| open) else {
            continue;
        };
        rule.markdown.push_str(line);
        rule.markdown.push('\n');
        let field = line
            .strip_prefix("- **")
            .and_then(|rest| rest.split_once(":**"));
        if let Some((name, text)) = field {
            rule.fields.push((name, text.trim().to_string()));
        } else if let Some((_, text)) = rule.fields.last_mut().filter(|_| line.starts_with("  ")) {
            text.push(' ');
            text.push_str(line.trim());
        }
    }
    for rule in &mut rules {
        rule.markdown = rule.markdown.trim().to_string();
    }
    rules
}

/// The first sentence: up to the first `. ` outside backticks.
fn first_sentence(text: &str) -> &str {
    let mut in_code = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '`' => in_code = !in_code,
            '.' if !in_code && chars.peek().is_none_or(|(_, next)| *next == ' ') => {
                return &text[..i];
            }
            _ => {}
        }
    }
    text
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub code scanning ranks security alerts by this score: above 7 is high, 4 to 7
/// medium, below 4 low.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
    }
}

fn sarif_rule(id: &str, severity: Severity, doc: Option<&RuleDoc>) -> Value {
    let means = doc.and_then(|d| d.field("Means")).unwrap_or(id);
    let help_text: Vec<String> = ["Why it matters", "Fix", "Example"]
        .iter()
        .filter_map(|name| Some(format!("{name}: {}", doc?.field(name)?)))
        .collect();
    let mut help = json!({"text": if help_text.is_empty() { means.to_string() } else { help_text.join("\n") }});
    if let Some(doc) = doc {
        help["markdown"] = Value::String(doc.markdown.clone());
    }
    json!({
        "id": id,
        "shortDescription": {"text": capitalised(first_sentence(means))},
        "fullDescription": {"text": capitalised(means)},
        "help": help,
        "defaultConfiguration": {"level": sarif_level(severity)},
        "properties": {"tags": ["security"], "security-severity": security_severity(severity)},
    })
}

fn sarif_result(finding: &Finding, rule_index: usize, artifact_uri: &str) -> Value {
    let kind = finding.resource.as_str();
    json!({
        "ruleId": finding.id,
        "ruleIndex": rule_index,
        "level": sarif_level(finding.severity),
        "message": {"text": format!("{}. Fix: {}", with_advice(finding).trim_end_matches('.'), finding.fix)},
        // Code scanning needs a file in the repository for every result: the settings file,
        // which is where the scope is set. The AWS or GitHub resource is the logical location.
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": artifact_uri},
                "region": {"startLine": 1},
            },
            "logicalLocations": [{
                "kind": kind,
                "name": finding.name,
                "fullyQualifiedName": format!("{kind}/{}", finding.name),
            }],
        }],
        // Stable across runs, so that code scanning keeps one alert per problem and resource.
        "partialFingerprints": {"skyecrFinding/v1": format!("{}:{kind}:{}", finding.id, finding.name)},
        "properties": {"severity": finding.severity.as_str(), "resource": kind, "name": finding.name},
    })
}

/// A settings-file path as a SARIF artifact URI: relative paths stay relative to the
/// repository root (code scanning resolves them there), absolute ones become `file://` URIs.
fn artifact_uri(path: &std::path::Path) -> String {
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}');
    let text = path.to_string_lossy().replace('\\', "/");
    let text = text.trim_start_matches("./");
    let encoded = percent_encoding::utf8_percent_encode(text, PATH).to_string();
    if path.is_absolute() {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

/// SARIF 2.1.0: one run, one rule per finding ID (texts from `docs/audit-rules.md`), one
/// result per finding, located at the settings file.
pub fn sarif(report: &Report, settings_file: &std::path::Path) -> String {
    let docs = rule_docs(AUDIT_RULES);
    // Per ID, the worst severity reported: the rule's default level.
    let mut rules: BTreeMap<&str, Severity> = BTreeMap::new();
    for f in &report.findings {
        let worst = rules.entry(f.id).or_insert(f.severity);
        *worst = (*worst).max(f.severity);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, id)| (*id, i)).collect();
    let uri = artifact_uri(settings_file);
    let mut driver = json!({
        "name": "skyecr-bootstrap",
        "version": env!("CARGO_PKG_VERSION"),
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "rules": rules
            .iter()
            .map(|(id, severity)| sarif_rule(id, *severity, docs.iter().find(|d| d.id == *id)))
            .collect::<Vec<_>>(),
    });
    let information_uri = env!("CARGO_PKG_REPOSITORY");
    if !information_uri.is_empty() {
        driver["informationUri"] = Value::String(information_uri.to_string());
    }
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| sarif_result(f, index.get(f.id).copied().unwrap_or_default(), &uri))
        .collect();
    let log = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::plan::Kind;
    use crate::resources::finding::Findings;

    /// Every finding ID the code can produce: a kebab-case literal on a line of its own, or
    /// the first argument of `add(`, outside test modules of the audit and the resources.
    fn ids_in_source() -> Vec<String> {
        fn kebab(text: &str) -> bool {
            text.contains('-')
                && text.starts_with(|c: char| c.is_ascii_lowercase())
                && text
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                panic!("cannot read {}", dir.display());
            };
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                if path.is_dir() {
                    walk(&path, out);
                    continue;
                }
                if path.extension().is_none_or(|x| x != "rs") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    panic!("cannot read {}", path.display());
                };
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for line in code.lines() {
                    let line = line.trim();
                    let literal = line
                        .strip_prefix('"')
                        .and_then(|l| l.strip_suffix("\","))
                        .or_else(|| {
                            let rest = line.split_once("add(\"")?.1;
                            Some(rest.split_once("\",")?.0)
                        });
                    if let Some(id) = literal.filter(|id| kebab(id)) {
                        out.push(id.to_string());
                    }
                }
            }
        }
        // Findings are made by the audit and by the resources' own checks.
        let mut ids = Vec::new();
        for dir in ["src/audit", "src/resources"] {
            walk(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
                &mut ids,
            );
        }
        ids.sort();
        ids.dedup();
        ids
    }

    #[test]
    fn every_finding_id_has_its_rule_text() {
        let docs = rule_docs(AUDIT_RULES);
        let ids = ids_in_source();
        assert!(ids.len() >= 40, "only {} IDs found: {ids:?}", ids.len());
        for id in &ids {
            let Some(doc) = docs.iter().find(|d| d.id == id.as_str()) else {
                panic!("{id} has no section in docs/audit-rules.md");
            };
            for field in ["Severity", "Means", "Fix"] {
                assert!(
                    doc.field(field).is_some_and(|t| !t.is_empty()),
                    "{id}: no {field}"
                );
            }
        }
        for doc in &docs {
            assert!(
                ids.contains(&doc.id.to_string()),
                "{} is documented but never reported",
                doc.id
            );
        }
    }

    #[test]
    fn rule_sections_are_parsed_field_by_field() {
        let doc = "## Trust\n\n### a-rule\n\n- **Severity:** high\n- **Means:** one `a. b` thing. And\n  more.\n- **Fix:** do it\n\n## Next\n\ntext\n";
        let docs = rule_docs(doc);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].field("Means"), Some("one `a. b` thing. And more."));
        assert_eq!(
            first_sentence("one `a. b` thing. And more."),
            "one `a. b` thing"
        );
        assert!(docs[0].markdown.starts_with("- **Severity:** high"));
        assert!(docs[0].markdown.ends_with("- **Fix:** do it"));
    }

    #[test]
    fn sarif_has_one_rule_per_id_and_one_result_per_finding() {
        let mut found = Findings::on(Kind::Role, "GitHubActions-SkyPilot-ECR", "fix");
        found.add("trust-sub-any-ref", Severity::Low, "m1".into(), "f1");
        found.add("trust-sub-any-ref", Severity::Medium, "m2".into(), "f2");
        found.add("trust-policy-variable", Severity::High, "m3".into(), "f3");
        let report = Report::new(Vec::new(), found.into_vec());
        let log: Value = match serde_json::from_str(&sarif(
            &report,
            std::path::Path::new("./cfg/skyecr.json"),
        )) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(ids, ["trust-policy-variable", "trust-sub-any-ref"]);
        assert_eq!(rules[1]["defaultConfiguration"]["level"], "warning");
        assert!(
            rules[0]["help"]["markdown"]
                .as_str()
                .is_some_and(|m| m.contains("**Why it matters:**"))
        );
        let results = run["results"].as_array().cloned().unwrap_or_default();
        assert_eq!(results.len(), 3);
        let levels: Vec<&str> = results.iter().filter_map(|r| r["level"].as_str()).collect();
        assert_eq!(levels, ["error", "warning", "note"]);
        for r in &results {
            let index = r["ruleIndex"].as_u64().unwrap_or(99) as usize;
            assert_eq!(rules[index]["id"], r["ruleId"]);
            let location = &r["locations"][0];
            assert_eq!(
                location["physicalLocation"]["artifactLocation"]["uri"],
                "cfg/skyecr.json"
            );
            assert_eq!(location["logicalLocations"][0]["kind"], "role");
            assert_eq!(
                location["logicalLocations"][0]["name"],
                "GitHubActions-SkyPilot-ECR"
            );
        }
        assert_eq!(results[0]["message"]["text"], "m3; f3. Fix: fix");
    }

    #[test]
    fn artifact_uris() {
        use std::path::Path;
        assert_eq!(artifact_uri(Path::new("skyecr.json")), "skyecr.json");
        assert_eq!(
            artifact_uri(Path::new("./ops/my settings.json")),
            "ops/my%20settings.json"
        );
        assert_eq!(
            artifact_uri(Path::new("/srv/a#b.json")),
            "file:///srv/a%23b.json"
        );
    }
}
