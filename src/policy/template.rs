//! The policies the tool writes: `policies/*.json` filled in with the settings' ARNs and subjects.
use serde_json::{Map, Value};

const TRUST_TEMPLATE: &str = include_str!("../../policies/trust.json");
const PUSH_TEMPLATE: &str = include_str!("../../policies/ecr-push.json");

/// A template variable: a whole-string placeholder becomes this value, a substring placeholder its text.
enum Var<'a> {
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
pub fn push_document(repository_arn: &str) -> Value {
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
    fn push_document_is_the_guides() {
        let doc = push_document("arn:aws:ecr:us-east-1:123456789012:repository/skypilot");
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
}
