//! `audit --output sarif` against moto and the GitHub stand-in, validated against the published
//! SARIF 2.1.0 schema (tests/support/sarif, checked with the `jsonschema` package in .venv).
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{ACCOUNT, REPO, World};

const ROLE: &str = "GitHubActions-SkyPilot-ECR";
const ISSUER: &str = "token.actions.githubusercontent.com";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The errors `jsonschema` finds in `log` (Draft 4, the schema's own draft); empty when valid.
fn schema_errors(log: &Value) -> Vec<String> {
    let python = std::env::var_os("SKYECR_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join(".venv/bin/python"));
    let schema = manifest_dir().join("tests/support/sarif/sarif-schema-2.1.0.json");
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        log = json.load(sys.stdin)\n\
        for e in jsonschema.Draft4Validator(schema).iter_errors(log):\n\
        \x20   print('/'.join(map(str, e.absolute_path)) + ': ' + e.message)\n";
    let mut child = Command::new(&python)
        .args(["-c", script])
        .arg(&schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", python.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(log.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "jsonschema failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn audit(w: &World, output: &str) -> (i32, String) {
    let out = w
        .cmd()
        .args([
            "audit",
            "--output",
            output,
            "--github-repo",
            REPO,
            "--branch",
            "main",
        ])
        .run();
    assert!(out.code == 0 || out.code == 2, "audit: {}", out.stderr);
    (out.code, out.stdout)
}

/// Checks what GitHub code scanning needs beyond the schema: every result has a rule of its
/// own ID, a message and a file location; every rule has its texts.
fn assert_code_scanning_shape(log: &Value) {
    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "skyecr-bootstrap");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().unwrap();
    for rule in rules {
        for text in [
            &rule["shortDescription"]["text"],
            &rule["fullDescription"]["text"],
            &rule["help"]["text"],
            &rule["help"]["markdown"],
        ] {
            assert!(text.as_str().is_some_and(|t| !t.is_empty()), "{rule}");
        }
        assert!(
            rule["properties"]["security-severity"].is_string(),
            "{rule}"
        );
    }
    for result in runs[0]["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"], "{result}");
        assert!(result["message"]["text"].is_string());
        let location = &result["locations"][0];
        assert_eq!(
            location["physicalLocation"]["artifactLocation"]["uri"],
            "skyecr.json"
        );
        assert!(location["logicalLocations"][0]["name"].is_string());
    }
}

#[test]
fn a_clean_audit_has_only_notes_and_validates() {
    let w = World::start();
    w.apply(&[]).success();
    let (code, stdout) = audit(&w, "sarif");
    assert_eq!(code, 0, "{stdout}");
    let log: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(schema_errors(&log), Vec::<String>::new());
    assert_code_scanning_shape(&log);
    // The tool creates repositories with mutable tags (the guide pushes :latest): a low
    // finding, which is a note and does not fail the audit.
    let results = log["runs"][0]["results"].as_array().unwrap();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["repository-mutable-tags"]);
    assert_eq!(results[0]["level"], "note");
}

#[test]
fn every_finding_is_a_result_of_its_rule_and_the_log_validates() {
    let w = World::start();
    w.apply(&[]).success();
    // A scoped GitHub statement, then what an attacker would add: another account, and the
    // token's own subject as the last value.
    let provider = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}");
    let trust = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": provider},
         "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": {"StringEquals": {
             format!("{ISSUER}:aud"): "sts.amazonaws.com",
             format!("{ISSUER}:sub"): ["repo:acme/app:ref:refs/heads/main",
                                       format!("${{{ISSUER}:sub}}")]}}},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
         "Action": "sts:AssumeRole"}]});
    w.block_on(
        w.iam()
            .update_assume_role_policy()
            .role_name(ROLE)
            .policy_document(trust.to_string())
            .send(),
    )
    .unwrap();
    w.ecr_raw(
        "PutImageScanningConfiguration",
        json!({"repositoryName": "skypilot", "imageScanningConfiguration": {"scanOnPush": false}}),
    );

    let (json_code, json_out) = audit(&w, "json");
    let report: Value = serde_json::from_str(&json_out).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let (code, stdout) = audit(&w, "sarif");
    assert_eq!(code, 2, "{stdout}");
    assert_eq!(code, json_code);
    let log: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(schema_errors(&log), Vec::<String>::new(), "{stdout}");
    assert_code_scanning_shape(&log);

    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.len(), "{stdout}");
    for (result, finding) in results.iter().zip(findings) {
        assert_eq!(result["ruleId"], finding["id"]);
        let level = match finding["severity"].as_str().unwrap() {
            "high" => "error",
            "medium" => "warning",
            _ => "note",
        };
        assert_eq!(result["level"], level, "{result}");
        let logical = &result["locations"][0]["logicalLocations"][0];
        assert_eq!(logical["kind"], finding["resource"]);
        assert_eq!(logical["name"], finding["name"]);
    }
    let mut ids: Vec<&str> = findings.iter().map(|f| f["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    let rules: Vec<&str> = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ids);
    for id in [
        "trust-non-github-principal",
        "trust-policy-variable",
        "repository-no-scan-on-push",
    ] {
        assert!(rules.contains(&id), "{id} missing: {rules:?}");
    }
    // The help is the rule's section of docs/audit-rules.md.
    let variable = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "trust-policy-variable")
        .unwrap();
    assert!(
        variable["help"]["markdown"]
            .as_str()
            .unwrap()
            .contains("IAM replaces the variable"),
        "{variable}"
    );
}

#[test]
fn sarif_is_only_for_audit() {
    let w = World::start();
    let out = w
        .cmd()
        .args([
            "plan",
            "--output",
            "sarif",
            "--github-repo",
            REPO,
            "--branch",
            "main",
        ])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("--output sarif is only for audit"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
}
