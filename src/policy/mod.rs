//! Policy documents: templates from `policies/*.json`, IAM's encodings, and comparison by meaning.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

const TRUST_TEMPLATE: &str = include_str!("../../policies/trust.json");
const PUSH_TEMPLATE: &str = include_str!("../../policies/ecr-push.json");

/// A template variable: a whole-string placeholder becomes this value, a substring placeholder its text.
pub enum Var<'a> {
    Text(&'a str),
    List(Vec<String>),
}

/// The role's trust policy for one provider and a set of `sub` values.
pub fn trust_policy(provider_arn: &str, issuer_host_path: &str, subjects: &[String]) -> Value {
    // Conditions under different operators are ANDed, so every subject goes under one operator.
    let operator = if subjects.iter().any(|s| s.contains(['*', '?'])) {
        "StringLike"
    } else {
        "StringEquals"
    };
    fill(
        TRUST_TEMPLATE,
        &[
            ("PROVIDER_ARN", Var::Text(provider_arn)),
            ("ISSUER", Var::Text(issuer_host_path)),
            ("SUB_OPERATOR", Var::Text(operator)),
            ("SUBJECTS", Var::List(subjects.to_vec())),
        ],
    )
}

/// The least-privilege push policy of the setup guide, on exactly one repository.
pub fn push_policy(repository_arn: &str) -> Value {
    fill(
        PUSH_TEMPLATE,
        &[("REPOSITORY_ARN", Var::Text(repository_arn))],
    )
}

fn fill(template: &str, vars: &[(&str, Var<'_>)]) -> Value {
    // The templates are compiled in and covered by tests; an unparsable one yields an empty document.
    let parsed: Value = serde_json::from_str(template).unwrap_or(Value::Null);
    fill_value(parsed, vars)
}

fn fill_text(text: &str, vars: &[(&str, Var<'_>)]) -> String {
    let mut out = text.to_string();
    for (name, var) in vars {
        if let Var::Text(t) = var {
            out = out.replace(&format!("${{{name}}}"), t);
        }
    }
    out
}

fn fill_value(value: Value, vars: &[(&str, Var<'_>)]) -> Value {
    match value {
        Value::String(s) => {
            for (name, var) in vars {
                if let Var::List(items) = var
                    && s == format!("${{{name}}}")
                {
                    return Value::Array(items.iter().cloned().map(Value::String).collect());
                }
            }
            Value::String(fill_text(&s, vars))
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| fill_value(v, vars)).collect())
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = fill_text(&k, vars);
                let v = fill_value(v, vars);
                // Keys that become equal (an operator used twice) merge their conditions.
                match (out.get_mut(&key), v) {
                    (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
                    (_, v) => {
                        out.insert(key, v);
                    }
                }
            }
            Value::Object(out)
        }
        other => other,
    }
}

/// Parses a document as IAM returns it: `GetRole` percent-encodes trust policies, other calls may not.
pub fn decode_document(raw: &str) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str::<Value>(raw) {
        return Ok(v);
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|e| format!("policy document is neither JSON nor URL-encoded JSON: {e}"))?;
    serde_json::from_str(&decoded).map_err(|e| format!("policy document is not valid JSON: {e}"))
}

/// Canonical form: statements as a sorted set, one-element lists as lists, case-insensitive
/// names lowercased, account IDs as root ARNs, Sids dropped.
pub fn normalize(doc: &Value) -> Value {
    let statements = match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(single) => vec![single.clone()],
        None => Vec::new(),
    };
    let mut normalized: Vec<Value> = statements.iter().map(normalize_statement).collect();
    normalized.sort_by_key(|s| s.to_string());
    normalized.dedup();
    let mut out = Map::new();
    if let Some(v) = doc.get("Version") {
        out.insert("Version".into(), v.clone());
    }
    out.insert("Statement".into(), Value::Array(normalized));
    Value::Object(out)
}

pub fn equivalent(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

fn normalize_statement(statement: &Value) -> Value {
    let Value::Object(map) = statement else {
        return statement.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let v = match key.as_str() {
            "Sid" => continue,
            "Action" | "NotAction" => string_set(value, true),
            "Resource" | "NotResource" => string_set(value, false),
            "Principal" | "NotPrincipal" => normalize_principal(value),
            "Condition" => normalize_condition(value),
            _ => value.clone(),
        };
        out.insert(key.clone(), v);
    }
    Value::Object(out)
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        other => vec![scalar_text(other)],
    }
}

fn string_set(value: &Value, lowercase: bool) -> Value {
    let set: BTreeSet<String> = strings(value)
        .into_iter()
        .map(|s| if lowercase { s.to_ascii_lowercase() } else { s })
        .collect();
    Value::Array(set.into_iter().map(Value::String).collect())
}

fn normalize_principal(value: &Value) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    let mut out = Map::new();
    for (kind, ids) in map {
        let set: BTreeSet<String> = strings(ids)
            .into_iter()
            .map(|id| {
                if kind == "AWS" && id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()) {
                    format!("arn:aws:iam::{id}:root")
                } else {
                    id
                }
            })
            .collect();
        out.insert(
            kind.clone(),
            Value::Array(set.into_iter().map(Value::String).collect()),
        );
    }
    Value::Object(out)
}

fn normalize_condition(value: &Value) -> Value {
    let Value::Object(operators) = value else {
        return value.clone();
    };
    let mut out = Map::new();
    for (operator, keys) in operators {
        let Value::Object(keys) = keys else {
            out.insert(operator.clone(), keys.clone());
            continue;
        };
        let mut normalized = Map::new();
        for (key, values) in keys {
            // Condition keys are case-insensitive; values are not.
            normalized.insert(key.to_ascii_lowercase(), string_set(values, false));
        }
        out.insert(operator.clone(), Value::Object(normalized));
    }
    Value::Object(out)
}

/// Human-readable facts of a document, for showing what differs (`- fact` / `+ fact`).
fn facts(doc: &Value) -> BTreeSet<String> {
    let normalized = normalize(doc);
    let mut out = BTreeSet::new();
    let Some(Value::Array(statements)) = normalized.get("Statement") else {
        return out;
    };
    for s in statements {
        let mut head = Vec::new();
        for key in [
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
        ] {
            if let Some(v) = s.get(key) {
                head.push(format!("{key} {}", compact(v)));
            }
        }
        let head = head.join(" ");
        match s.get("Condition") {
            Some(Value::Object(ops)) if !ops.is_empty() => {
                for (op, keys) in ops {
                    if let Value::Object(keys) = keys {
                        for (k, values) in keys {
                            out.insert(format!("{head} when {op} {k} = {}", compact(values)));
                        }
                    }
                }
            }
            _ => {
                out.insert(head);
            }
        }
    }
    out
}

fn compact(v: &Value) -> String {
    match v {
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", compact(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => scalar_text(other),
    }
}

/// What an update changes: facts only in the live document (`-`) and only in the desired one (`+`).
pub fn differences(desired: &Value, live: &Value) -> Vec<String> {
    let want = facts(desired);
    let have = facts(live);
    let mut out: Vec<String> = have.difference(&want).map(|f| format!("- {f}")).collect();
    out.extend(want.difference(&have).map(|f| format!("+ {f}")));
    out
}

/// Values of the condition keys ending in `:name` (e.g. every `sub` value) per operator, for summaries.
pub fn condition_values(doc: &Value, name: &str) -> BTreeMap<String, Vec<String>> {
    let suffix = format!(":{}", name.to_ascii_lowercase());
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let normalized = normalize(doc);
    if let Some(Value::Array(statements)) = normalized.get("Statement") {
        for s in statements {
            if let Some(Value::Object(ops)) = s.get("Condition") {
                for (op, keys) in ops {
                    let Value::Object(keys) = keys else { continue };
                    for (key, values) in keys {
                        if key.ends_with(&suffix) {
                            out.entry(op.clone()).or_default().extend(strings(values));
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trust_policy_uses_one_operator_for_all_subjects() {
        let exact = trust_policy(
            "arn:aws:iam::1:oidc-provider/h",
            "h",
            &["repo:a/b:ref:refs/heads/main".into()],
        );
        let cond = &exact["Statement"][0]["Condition"];
        assert_eq!(cond["StringEquals"]["h:aud"], "sts.amazonaws.com");
        assert_eq!(
            cond["StringEquals"]["h:sub"],
            json!(["repo:a/b:ref:refs/heads/main"])
        );
        assert!(cond.get("StringLike").is_none());

        let wild = trust_policy(
            "p",
            "h",
            &[
                "repo:a/b:ref:refs/heads/main".into(),
                "repo:a/b:ref:refs/tags/v*".into(),
            ],
        );
        let cond = &wild["Statement"][0]["Condition"];
        assert_eq!(
            cond["StringLike"]["h:sub"].as_array().map(Vec::len),
            Some(2)
        );
        assert!(cond["StringEquals"].get("h:sub").is_none());
    }

    #[test]
    fn push_policy_is_the_guides() {
        let doc = push_policy("arn:aws:ecr:us-east-1:123456789012:repository/skypilot");
        assert_eq!(
            doc["Statement"][0]["Action"],
            json!(["ecr:GetAuthorizationToken"])
        );
        assert_eq!(doc["Statement"][0]["Resource"], "*");
        assert_eq!(
            doc["Statement"][1]["Action"].as_array().map(Vec::len),
            Some(7)
        );
        assert_eq!(
            doc["Statement"][1]["Resource"],
            "arn:aws:ecr:us-east-1:123456789012:repository/skypilot"
        );
    }

    #[test]
    fn equivalence_ignores_form_but_not_meaning() {
        let a = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "x", "Effect": "Allow", "Action": ["ecr:PutImage"], "Resource": "arn:r"},
            {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"K:aud": "sts.amazonaws.com"}}}]});
        let b = json!({"Statement": [
            {"Condition": {"StringEquals": {"k:aud": ["sts.amazonaws.com"]}}, "Action": ["STS:AssumeRole"],
             "Principal": {"AWS": ["arn:aws:iam::123456789012:root"]}, "Effect": "Allow"},
            {"Effect": "Allow", "Action": "ecr:PutImage", "Resource": ["arn:r"]}], "Version": "2012-10-17"});
        assert!(equivalent(&a, &b));
        let mut c = b.clone();
        c["Statement"][1]["Resource"] = json!("*");
        assert!(!equivalent(&a, &c));
        assert_eq!(
            differences(&a, &c),
            vec![
                "- Effect Allow Action ecr:putimage Resource *",
                "+ Effect Allow Action ecr:putimage Resource arn:r"
            ]
        );
    }

    #[test]
    fn decodes_url_encoded_documents() {
        let raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_document(raw).unwrap(),
            json!({"Version": "2012-10-17", "Statement": []})
        );
        assert!(decode_document("%7Bnot json").is_err());
    }
}
