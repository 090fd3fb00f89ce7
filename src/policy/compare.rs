//! Comparison by meaning: whether a live document says what the desired one says, and how they differ.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

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
}
