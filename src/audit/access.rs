//! Would a GitHub Actions token be allowed to assume the role? IAM's trust evaluation, for `check-access`.
//!
//! Only `sts:AssumeRoleWithWebIdentity` is evaluated, with the claims of one token, so every
//! key is single-valued. Operators this module does not implement are never guessed in the
//! token's favour: under Allow they count as not met, under Deny as met, so a "denied" may be
//! too cautious but an "allowed" is never too generous.

use std::collections::BTreeMap;

use serde::Serialize;

use super::trust::WEB_IDENTITY_ACTION;
use crate::policy::{
    BaseOperator, Condition, Effect, PolicyDocument, Principal, SetQualifier, Statement,
};

/// The parts of a GitHub Actions OIDC token that IAM sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The IAM OIDC provider the token is presented through,
    /// e.g. `arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com`.
    pub provider_arn: String,
    /// Full condition keys to claim values, e.g.
    /// `token.actions.githubusercontent.com:sub` → `repo:o/r:ref:refs/heads/main`.
    pub claims: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// The statement that decided: the allowing one, or the explicit Deny. `None` when
    /// nothing allowed (the implicit deny).
    pub statement: Option<usize>,
    /// Names the statement and the conditions that decided.
    pub reason: String,
}

/// Evaluates the trust policy like IAM: an explicit Deny wins, then any Allow, else deny.
pub fn evaluate(doc: &PolicyDocument, token: &Token) -> Decision {
    let mut allowed_by: Option<(usize, String)> = None;
    let mut refusals = Vec::new();
    for (index, statement) in applicable(doc, token) {
        let label = statement.label(index);
        let checks: Vec<(bool, String)> = statement
            .conditions
            .iter()
            .map(|c| check(c, &token.claims, statement.effect))
            .collect();
        let failed: Vec<&str> = checks
            .iter()
            .filter(|(met, _)| !met)
            .map(|(_, why)| why.as_str())
            .collect();
        if !failed.is_empty() {
            if statement.effect == Effect::Allow {
                refusals.push(format!("{label}: {}", failed.join(" and ")));
            }
            continue;
        }
        let why = if checks.is_empty() {
            "it has no conditions".to_string()
        } else {
            checks
                .iter()
                .map(|(_, why)| why.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        };
        match statement.effect {
            Effect::Deny => {
                return Decision {
                    allowed: false,
                    statement: Some(index),
                    reason: format!("{label} denies: {why}"),
                };
            }
            Effect::Allow => {
                if allowed_by.is_none() {
                    allowed_by = Some((index, format!("{label} allows: {why}")));
                }
            }
        }
    }
    match allowed_by {
        Some((index, reason)) => Decision {
            allowed: true,
            statement: Some(index),
            reason,
        },
        None if refusals.is_empty() => Decision {
            allowed: false,
            statement: None,
            reason: format!(
                "no statement allows: no Allow statement trusts {} for {WEB_IDENTITY_ACTION}",
                token.provider_arn
            ),
        },
        None => Decision {
            allowed: false,
            statement: None,
            reason: format!("no statement allows: {}", refusals.join("; ")),
        },
    }
}

/// For the "did you mean" line of a denial: the `sub` value of an applicable Allow statement
/// nearest to the token's subject. Distance is the edit distance, where a `*` of a StringLike
/// value stands for any run of characters at no cost, so `repo:o/r:ref:refs/heads/*` is at
/// distance 0 from every branch. The nearest value may therefore match the token already
/// (the denial then came from another condition); callers compare before printing. Ties go to
/// the value written first.
pub fn closest_allowed_subject(
    doc: &PolicyDocument,
    token: &Token,
    sub_key: &str,
) -> Option<String> {
    let actual = claim(&token.claims, sub_key)?;
    let mut best: Option<(usize, &str)> = None;
    for (_, statement) in applicable(doc, token) {
        if statement.effect != Effect::Allow {
            continue;
        }
        for condition in &statement.conditions {
            let base = &condition.operator.base;
            if !condition.key.eq_ignore_ascii_case(sub_key) || !base.is_positive_string() {
                continue;
            }
            for value in &condition.values {
                let distance = match base {
                    BaseOperator::StringEqualsIgnoreCase => {
                        edit_distance(&value.to_lowercase(), &actual.to_lowercase(), false)
                    }
                    base => edit_distance(value, actual, base.has_wildcards()),
                };
                if best.is_none_or(|(d, _)| distance < d) {
                    best = Some((distance, value));
                }
            }
        }
    }
    best.map(|(_, value)| value.to_string())
}

/// Statements that speak about this token presenting `sts:AssumeRoleWithWebIdentity`.
fn applicable<'a>(
    doc: &'a PolicyDocument,
    token: &'a Token,
) -> impl Iterator<Item = (usize, &'a Statement)> {
    doc.statements.iter().enumerate().filter(|(_, statement)| {
        principal_matches(statement, &token.provider_arn)
            && statement.action.covers_action(WEB_IDENTITY_ACTION)
    })
}

fn principal_matches(statement: &Statement, provider_arn: &str) -> bool {
    let names = |p: &Principal| p.is_wildcard() || p.federated().iter().any(|f| f == provider_arn);
    match (&statement.principal, &statement.not_principal) {
        (Some(principal), _) => names(principal),
        (None, Some(not_principal)) => !names(not_principal),
        // A trust statement without a principal names nobody.
        (None, None) => false,
    }
}

/// Whether one condition holds for the claims, and the sentence that says why.
fn check(
    condition: &Condition,
    claims: &BTreeMap<String, String>,
    effect: Effect,
) -> (bool, String) {
    let operator = &condition.operator;
    let key = &condition.key;
    let values = &condition.values;
    let present = claim(claims, key);
    let base = &operator.base;
    match base {
        BaseOperator::Null => {
            let met = values
                .iter()
                .any(|v| match v.to_ascii_lowercase().as_str() {
                    "true" => present.is_none(),
                    "false" => present.is_some(),
                    _ => false,
                });
            let state = if present.is_some() {
                "present"
            } else {
                "absent"
            };
            let verb = if met {
                "as required"
            } else {
                "which is not allowed"
            };
            (
                met,
                format!("Null {key} {values:?}: the claim is {state}, {verb}"),
            )
        }
        BaseOperator::Other(_) => {
            let met = effect == Effect::Deny;
            let assumed = if met {
                "assumed to match, so the Deny applies"
            } else {
                "treated as not met"
            };
            (
                met,
                format!("{operator} on {key} is not evaluated by this tool and is {assumed}"),
            )
        }
        _ => {
            let negated = base.is_negated_string();
            let Some(actual) = present else {
                // IAM's rules for a missing key, in order of precedence.
                return if operator.if_exists {
                    (
                        true,
                        format!(
                            "{operator} {key}: the token has no such claim, and IfExists passes then"
                        ),
                    )
                } else if operator.qualifier == Some(SetQualifier::ForAllValues) {
                    (
                        true,
                        format!(
                            "{operator} {key}: the token has no such claim, and ForAllValues passes on an empty set"
                        ),
                    )
                } else if operator.qualifier == Some(SetQualifier::ForAnyValue) {
                    (
                        false,
                        format!(
                            "{operator} {key}: the token has no such claim, and ForAnyValue fails on an empty set"
                        ),
                    )
                } else if negated {
                    (
                        true,
                        format!(
                            "{operator} {key}: the token has no such claim, and negated operators pass then"
                        ),
                    )
                } else {
                    (
                        false,
                        format!(
                            "{operator} {key} must {} {values:?} but the token has no such claim",
                            verb(base, false)
                        ),
                    )
                };
            };
            let hit = values
                .iter()
                .find(|v| base.compare(v, actual) == Some(true));
            match (negated, hit) {
                (false, Some(value)) => (true, format!("{operator} {key} matches {value:?}")),
                (false, None) => (
                    false,
                    format!(
                        "{operator} {key} must {} {values:?} but the token has {actual:?}",
                        verb(base, false)
                    ),
                ),
                (true, None) => (
                    true,
                    format!(
                        "{operator} {key}: {actual:?} {} {values:?}",
                        if base.has_wildcards() {
                            "matches none of"
                        } else {
                            "is none of"
                        }
                    ),
                ),
                (true, Some(value)) => (
                    false,
                    format!(
                        "{operator} {key} must {} {values:?} but the token has {actual:?}, which matches {value:?}",
                        verb(base, true)
                    ),
                ),
            }
        }
    }
}

/// Looks a condition key up the way IAM does: case-insensitively.
fn claim<'a>(claims: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    claims
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

fn verb(base: &BaseOperator, negated: bool) -> &'static str {
    match (base.has_wildcards(), negated) {
        (true, false) => "match one of",
        (true, true) => "match none of",
        (false, false) => "be one of",
        (false, true) => "be none of",
    }
}

/// Levenshtein distance from a pattern to a text; with `wildcards`, `*` absorbs any run of
/// text and `?` any one character, both for free.
fn edit_distance(pattern: &str, text: &str, wildcards: bool) -> usize {
    let text: Vec<char> = text.chars().collect();
    // Row i holds the cost of matching the first i pattern characters against every prefix
    // of the text; only the previous row is needed.
    let mut previous: Vec<usize> = (0..=text.len()).collect();
    for p in pattern.chars() {
        let star = wildcards && p == '*';
        let mut row = Vec::with_capacity(text.len() + 1);
        let mut left = previous[0] + usize::from(!star);
        row.push(left);
        for (j, &t) in text.iter().enumerate() {
            let (diagonal, up) = (previous[j], previous[j + 1]);
            let cost = if star {
                up.min(left)
            } else {
                let same = p == t || (wildcards && p == '?');
                (diagonal + usize::from(!same)).min(up + 1).min(left + 1)
            };
            row.push(cost);
            left = cost;
        }
        previous = row;
    }
    previous.last().copied().unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::policy::parse_policy;
    use serde_json::{Value, json};

    const PROVIDER: &str =
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
    const SUB: &str = "token.actions.githubusercontent.com:sub";
    const AUD: &str = "token.actions.githubusercontent.com:aud";

    fn doc(statements: Value) -> PolicyDocument {
        match parse_policy(&json!({"Version": "2012-10-17", "Statement": statements})) {
            Ok(doc) => doc,
            Err(e) => panic!("{e}"),
        }
    }

    fn allow(conditions: Value) -> Value {
        json!({"Effect": "Allow", "Principal": {"Federated": PROVIDER},
               "Action": "sts:AssumeRoleWithWebIdentity", "Condition": conditions})
    }

    fn token(sub: &str) -> Token {
        Token {
            provider_arn: PROVIDER.into(),
            claims: BTreeMap::from([
                (SUB.to_string(), sub.to_string()),
                (AUD.to_string(), "sts.amazonaws.com".to_string()),
            ]),
        }
    }

    fn standard() -> PolicyDocument {
        doc(json!([allow(json!({
            "StringEquals": {AUD: "sts.amazonaws.com"},
            "StringLike": {SUB: ["repo:o/r:ref:refs/heads/main", "repo:o/r:ref:refs/tags/v*"]}
        }))]))
    }

    #[test]
    fn allows_a_matching_token_and_says_why() {
        let decision = evaluate(&standard(), &token("repo:o/r:ref:refs/tags/v1.2"));
        assert_eq!(
            decision,
            Decision {
                allowed: true,
                statement: Some(0),
                reason: format!(
                    "statement 0 allows: StringEquals {AUD} matches \"sts.amazonaws.com\" and StringLike {SUB} matches \"repo:o/r:ref:refs/tags/v*\""
                ),
            }
        );
    }

    #[test]
    fn denies_and_names_the_failing_condition() {
        let decision = evaluate(&standard(), &token("repo:o/r:ref:refs/heads/dev"));
        assert!(!decision.allowed);
        assert_eq!(decision.statement, None);
        assert_eq!(
            decision.reason,
            format!(
                "no statement allows: statement 0: StringLike {SUB} must match one of [\"repo:o/r:ref:refs/heads/main\", \"repo:o/r:ref:refs/tags/v*\"] but the token has \"repo:o/r:ref:refs/heads/dev\""
            )
        );
    }

    #[test]
    fn other_providers_and_actions_do_not_apply() {
        let mut other = token("repo:o/r:ref:refs/heads/main");
        other.provider_arn =
            "arn:aws:iam::999999999999:oidc-provider/token.actions.githubusercontent.com".into();
        let decision = evaluate(&standard(), &other);
        assert!(!decision.allowed);
        assert!(
            decision
                .reason
                .contains("no Allow statement trusts arn:aws:iam::999999999999")
        );
        let assume_role = doc(
            json!([{"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRole"}]),
        );
        assert!(!evaluate(&assume_role, &token("x")).allowed);
        let not_action = doc(json!([{"Effect": "Allow", "Principal": "*", "NotAction": "s3:*"}]));
        assert!(evaluate(&not_action, &token("x")).allowed);
        let not_principal = doc(
            json!([{"Effect": "Allow", "NotPrincipal": {"Federated": PROVIDER}, "Action": "sts:*"}]),
        );
        assert!(!evaluate(&not_principal, &token("x")).allowed);
        let no_principal = doc(json!([{"Effect": "Allow", "Action": "sts:*"}]));
        assert!(!evaluate(&no_principal, &token("x")).allowed);
    }

    #[test]
    fn explicit_deny_wins() {
        let policy = doc(json!([
            allow(json!({"StringLike": {SUB: "repo:o/*"}})),
            {"Sid": "OnlyMain", "Effect": "Deny", "Principal": "*", "Action": "sts:*",
             "Condition": {"StringNotLike": {SUB: "repo:o/*:ref:refs/heads/main"}}}
        ]));
        let decision = evaluate(&policy, &token("repo:o/r:pull_request"));
        assert_eq!(decision.statement, Some(1));
        assert!(!decision.allowed);
        assert_eq!(
            decision.reason,
            format!(
                "statement 1 (Sid \"OnlyMain\") denies: StringNotLike {SUB}: \"repo:o/r:pull_request\" matches none of [\"repo:o/*:ref:refs/heads/main\"]"
            )
        );
        assert!(evaluate(&policy, &token("repo:o/r:ref:refs/heads/main")).allowed);
    }

    #[test]
    fn operator_table() {
        // (operator, policy values, token sub or None, expected)
        let cases: [(&str, Value, Option<&str>, bool); 26] = [
            ("StringEquals", json!("a"), Some("a"), true),
            ("StringEquals", json!("a"), Some("A"), false),
            ("StringEquals", json!("a*"), Some("ab"), false),
            ("StringEquals", json!("a"), None, false),
            ("StringNotEquals", json!("a"), Some("a"), false),
            ("StringNotEquals", json!("a"), Some("b"), true),
            ("StringNotEquals", json!("a"), None, true),
            ("StringEqualsIgnoreCase", json!("A"), Some("a"), true),
            ("StringNotEqualsIgnoreCase", json!("A"), Some("a"), false),
            ("StringLike", json!(["x", "a?c"]), Some("abc"), true),
            ("StringLike", json!("a*"), Some("A"), false),
            ("StringNotLike", json!("a*"), Some("ab"), false),
            ("StringNotLike", json!("a*"), Some("b"), true),
            ("StringLikeIfExists", json!("a*"), None, true),
            ("StringLikeIfExists", json!("a*"), Some("b"), false),
            ("StringEqualsIfExists", json!("a"), Some("a"), true),
            ("ForAllValues:StringLike", json!("a*"), None, true),
            ("ForAllValues:StringLike", json!("a*"), Some("b"), false),
            ("ForAnyValue:StringLike", json!("a*"), None, false),
            ("ForAnyValue:StringLike", json!("a*"), Some("ab"), true),
            ("ForAnyValue:StringNotEquals", json!("a"), Some("b"), true),
            ("Null", json!("true"), None, true),
            ("Null", json!("true"), Some("a"), false),
            ("Null", json!(false), Some("a"), true),
            ("Null", json!("maybe"), Some("a"), false),
            ("ArnLike", json!("*"), Some("a"), false),
        ];
        for (operator, values, sub, expected) in cases {
            let policy = doc(json!([allow(json!({operator: {SUB: values}}))]));
            let mut t = token(sub.unwrap_or_default());
            if sub.is_none() {
                t.claims.remove(SUB);
            }
            let decision = evaluate(&policy, &t);
            assert_eq!(
                decision.allowed, expected,
                "{operator} {values} {sub:?}: {}",
                decision.reason
            );
        }
    }

    #[test]
    fn unknown_operators_make_a_deny_apply() {
        let policy = doc(json!([
            allow(json!({})),
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}
        ]));
        let decision = evaluate(&policy, &token("repo:o/r:ref:refs/heads/main"));
        assert!(!decision.allowed);
        assert!(
            decision
                .reason
                .contains("DateGreaterThan on aws:CurrentTime is not evaluated")
        );
    }

    #[test]
    fn keys_are_case_insensitive() {
        let policy = doc(json!([allow(
            json!({"StringEquals": {"Token.Actions.GithubUserContent.com:SUB": "repo:o/r:pull_request"}})
        )]));
        assert!(evaluate(&policy, &token("repo:o/r:pull_request")).allowed);
    }

    #[test]
    fn unconditioned_allow_says_so() {
        let policy = doc(json!([allow(json!({}))]));
        let decision = evaluate(&policy, &token("anything"));
        assert_eq!(decision.reason, "statement 0 allows: it has no conditions");
    }

    #[test]
    fn every_failing_statement_is_named() {
        let policy = doc(json!([
            // AUD first: the reason lists conditions in document order either way.
            allow(json!({"StringEquals": {AUD: "other", SUB: "repo:o/r:ref:refs/heads/main"}})),
            allow(json!({"StringLike": {SUB: "repo:o/r:environment:*"}}))
        ]));
        let reason = evaluate(&policy, &token("repo:o/r:pull_request")).reason;
        assert_eq!(
            reason,
            format!(
                "no statement allows: statement 0: StringEquals {AUD} must be one of [\"other\"] but the token has \"sts.amazonaws.com\" and StringEquals {SUB} must be one of [\"repo:o/r:ref:refs/heads/main\"] but the token has \"repo:o/r:pull_request\"; statement 1: StringLike {SUB} must match one of [\"repo:o/r:environment:*\"] but the token has \"repo:o/r:pull_request\""
            )
        );
    }

    #[test]
    fn closest_subject_prefers_the_nearest_value() {
        let policy = doc(json!([
            allow(json!({"StringEquals": {SUB: ["repo:o/r:ref:refs/heads/main", "repo:o/r:environment:prod"]}})),
            allow(json!({"StringLike": {SUB: "repo:o/r:ref:refs/tags/v*"}})),
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Condition": {"StringLike": {SUB: "repo:o/r:ref:refs/heads/mainx"}}}
        ]));
        let closest = |sub: &str| closest_allowed_subject(&policy, &token(sub), SUB);
        assert_eq!(
            closest("repo:o/r:ref:refs/heads/mian").as_deref(),
            Some("repo:o/r:ref:refs/heads/main")
        );
        assert_eq!(
            closest("repo:o/r:environment:production").as_deref(),
            Some("repo:o/r:environment:prod")
        );
        assert_eq!(
            closest("repo:o/r:ref:refs/tags/v2.0.0").as_deref(),
            Some("repo:o/r:ref:refs/tags/v*")
        );
        let mut no_sub = token("");
        no_sub.claims.remove(SUB);
        assert_eq!(closest_allowed_subject(&policy, &no_sub, SUB), None);
        assert_eq!(
            closest_allowed_subject(&doc(json!([allow(json!({}))])), &token("x"), SUB),
            None
        );
    }

    #[test]
    fn claims_are_case_insensitive() {
        let claims = BTreeMap::from([("Issuer:Sub".to_string(), "v".to_string())]);
        assert_eq!(claim(&claims, "issuer:sub"), Some("v"));
        assert_eq!(claim(&claims, "issuer:aud"), None);
    }

    #[test]
    fn edit_distances() {
        let cases = [
            ("", "", false, 0),
            ("abc", "", false, 3),
            ("", "abc", false, 3),
            ("kitten", "sitting", false, 3),
            ("a*", "abcdef", true, 0),
            ("a*", "abcdef", false, 5),
            ("*", "", true, 0),
            ("a?c", "abc", true, 0),
            ("a?c", "ac", true, 1),
            (
                "repo:o/r:ref:refs/heads/*",
                "repo:o/x:ref:refs/heads/dev",
                true,
                1,
            ),
        ];
        for (pattern, text, wildcards, expected) in cases {
            assert_eq!(
                edit_distance(pattern, text, wildcards),
                expected,
                "{pattern} vs {text}"
            );
        }
    }
}
