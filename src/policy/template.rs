//! The policies the tool writes: `policies/*.json` filled in with the settings' ARNs and subjects.
use serde_json::{Map, Value};

const TRUST_TEMPLATE: &str = include_str!("../../policies/trust.json");
const PUSH_TEMPLATE: &str = include_str!("../../policies/ecr-push.json");

/// A template variable: a whole-string placeholder becomes this value, a substring placeholder its text.
enum Var<'a> {
    Text(&'a str),
    List(Vec<String>),
}

/// What a trust policy admits: the `sub` values, and the pins AWS STS checks beside them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustScope {
    pub subjects: Vec<String>,
    /// `(owner ID, repository ID)`: pinned as `repository_owner_id` and `repository_id`, which
    /// survive renames and transfers and stop whoever later takes over a freed name.
    pub ids: Option<(u64, u64)>,
    /// `job_workflow_ref` values: only that workflow file, on the trusted refs, may assume the role.
    pub workflow_refs: Vec<String>,
}

/// The operator for a set of values: conditions under different operators are ANDed, so all the
/// values of one key go under one operator, `StringLike` as soon as one has a wildcard.
fn operator_for(values: &[String]) -> &'static str {
    if values.iter().any(|s| s.contains(['*', '?'])) {
        "StringLike"
    } else {
        "StringEquals"
    }
}

/// The role's trust policy for one provider.
pub fn trust_policy(provider_arn: &str, issuer_host_path: &str, scope: &TrustScope) -> Value {
    let mut doc = fill(
        TRUST_TEMPLATE,
        &[
            ("PROVIDER_ARN", Var::Text(provider_arn)),
            ("ISSUER", Var::Text(issuer_host_path)),
            ("SUB_OPERATOR", Var::Text(operator_for(&scope.subjects))),
            ("SUBJECTS", Var::List(scope.subjects.clone())),
        ],
    );
    let key = |claim: &str| format!("{issuer_host_path}:{claim}");
    let condition = &mut doc["Statement"][0]["Condition"];
    if let Some((owner_id, repo_id)) = scope.ids {
        condition["StringEquals"][key("repository_id")] = Value::String(repo_id.to_string());
        condition["StringEquals"][key("repository_owner_id")] = Value::String(owner_id.to_string());
    }
    if !scope.workflow_refs.is_empty() {
        let operator = operator_for(&scope.workflow_refs);
        let values = scope.workflow_refs.iter().cloned().map(Value::String);
        condition[operator][key("job_workflow_ref")] = Value::Array(values.collect());
    }
    doc
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
            &TrustScope {
                subjects: vec!["repo:a/b:ref:refs/heads/main".into()],
                ..TrustScope::default()
            },
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
            &TrustScope {
                subjects: vec![
                    "repo:a/b:ref:refs/heads/main".into(),
                    "repo:a/b:ref:refs/tags/v*".into(),
                ],
                ..TrustScope::default()
            },
        );
        let cond = &wild["Statement"][0]["Condition"];
        assert_eq!(
            cond["StringLike"]["h:sub"].as_array().map(Vec::len),
            Some(2)
        );
        assert!(cond["StringEquals"].get("h:sub").is_none());
    }

    #[test]
    fn pins_add_their_own_conditions_beside_the_subjects() {
        let doc = trust_policy(
            "p",
            "h",
            &TrustScope {
                subjects: vec!["repo:a/b:ref:refs/tags/v*".into()],
                ids: Some((1001, 2002)),
                workflow_refs: vec![
                    "a/b/.github/workflows/w.yaml@refs/heads/main".into(),
                    "a/b/.github/workflows/w.yaml@refs/tags/v*".into(),
                ],
            },
        );
        assert_eq!(
            doc["Statement"][0]["Condition"],
            json!({
                "StringEquals": {
                    "h:aud": "sts.amazonaws.com",
                    "h:repository_id": "2002",
                    "h:repository_owner_id": "1001"
                },
                "StringLike": {
                    "h:sub": ["repo:a/b:ref:refs/tags/v*"],
                    "h:job_workflow_ref": [
                        "a/b/.github/workflows/w.yaml@refs/heads/main",
                        "a/b/.github/workflows/w.yaml@refs/tags/v*"
                    ]
                }
            })
        );
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
