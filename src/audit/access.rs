//! Would a GitHub Actions token be allowed to assume the role? IAM's trust evaluation, for `check-access`.
//!
//! Only `sts:AssumeRoleWithWebIdentity` is evaluated, with the claims of one token, so every
//! key is single-valued. Nothing is guessed in the token's favour: a condition on a key the
//! tool cannot know (`aws:SourceIp`, `sts:RoleSessionName` unless given, a claim the token may
//! or may not carry) or an operator it does not implement is unknown, and an answer that
//! depends on one is `undetermined`, never "allowed".

use std::collections::{BTreeMap, BTreeSet};

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
    /// Which keys absent from `claims` are known to be absent from the request.
    pub known: Known,
}

/// What is known about the keys a request does not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Known {
    /// Every key: what is not in the claims is absent.
    #[default]
    Everything,
    /// Every claim of the issuer with this prefix (a whole token's claims, as a claims file
    /// gives them) and the keys in the claims; any other key is unknown.
    Issuer(String),
    /// Only the keys in the claims and these (claims the tool knows GitHub leaves out).
    Keys(BTreeSet<String>),
}

impl Known {
    fn covers(&self, key: &str) -> bool {
        match self {
            Known::Everything => true,
            Known::Issuer(prefix) => key
                .to_ascii_lowercase()
                .starts_with(&format!("{}:", prefix.to_ascii_lowercase())),
            Known::Keys(keys) => keys.iter().any(|k| k.eq_ignore_ascii_case(key)),
        }
    }
}

/// IAM's answer, as far as it can be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allowed,
    Denied,
    /// Depends on a key the tool cannot know.
    Undetermined,
}

/// Whether a condition holds: known to, known not to, or depending on what cannot be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    Met,
    NotMet,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub verdict: Verdict,
    /// The keys an undetermined answer depends on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_keys: Vec<String>,
    /// The statement that decided: the allowing one, or the explicit Deny. `None` when
    /// nothing allowed (the implicit deny).
    pub statement: Option<usize>,
    /// Names the statement and the conditions that decided.
    pub reason: String,
}

/// Evaluates the trust policy like IAM: an explicit Deny wins, then any Allow, else deny. A
/// statement whose conditions depend on an unknown key could go either way: a Deny that might
/// apply, or an Allow that is the only way in, makes the answer undetermined.
pub fn evaluate(doc: &PolicyDocument, token: &Token) -> Decision {
    let mut allowed_by: Option<(usize, String)> = None;
    let mut refusals = Vec::new();
    let mut unknown: Vec<(usize, String, BTreeSet<String>)> = Vec::new();
    let mut deny_unknown: Vec<(usize, String, BTreeSet<String>)> = Vec::new();
    for (index, statement) in applicable(doc, token) {
        let label = statement.label(index);
        let checks: Vec<(Truth, String, Option<String>)> = statement
            .conditions
            .iter()
            .map(|c| check(c, token))
            .collect();
        let failed: Vec<&str> = checks
            .iter()
            .filter(|(t, _, _)| *t == Truth::NotMet)
            .map(|(_, why, _)| why.as_str())
            .collect();
        if !failed.is_empty() {
            if statement.effect == Effect::Allow {
                refusals.push(format!("{label}: {}", failed.join(" and ")));
            }
            continue;
        }
        let open: BTreeSet<String> = checks
            .iter()
            .filter(|(t, _, _)| *t == Truth::Unknown)
            .filter_map(|(_, _, key)| key.clone())
            .collect();
        let why = if checks.is_empty() {
            "it has no conditions".to_string()
        } else {
            checks
                .iter()
                .map(|(_, why, _)| why.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        };
        match (statement.effect, open.is_empty()) {
            (Effect::Deny, true) => {
                return Decision {
                    allowed: false,
                    verdict: Verdict::Denied,
                    unknown_keys: Vec::new(),
                    statement: Some(index),
                    reason: format!("{label} denies: {why}"),
                };
            }
            (Effect::Deny, false) => {
                deny_unknown.push((index, format!("{label} may deny: {why}"), open))
            }
            (Effect::Allow, true) => {
                if allowed_by.is_none() {
                    allowed_by = Some((index, format!("{label} allows: {why}")));
                }
            }
            (Effect::Allow, false) => {
                unknown.push((index, format!("{label} may allow: {why}"), open))
            }
        }
    }
    let undetermined = |cases: Vec<(usize, String, BTreeSet<String>)>| {
        let keys: BTreeSet<String> = cases.iter().flat_map(|(_, _, k)| k.clone()).collect();
        let reasons: Vec<String> = cases.into_iter().map(|(_, r, _)| r).collect();
        Decision {
            allowed: false,
            verdict: Verdict::Undetermined,
            statement: None,
            reason: format!(
                "undetermined: {}; the answer depends on {}, which this tool cannot know",
                reasons.join("; "),
                keys.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            unknown_keys: keys.into_iter().collect(),
        }
    };
    if !deny_unknown.is_empty() && (allowed_by.is_some() || !unknown.is_empty()) {
        return undetermined(deny_unknown);
    }
    match allowed_by {
        Some((index, reason)) => Decision {
            allowed: true,
            verdict: Verdict::Allowed,
            unknown_keys: Vec::new(),
            statement: Some(index),
            reason,
        },
        None if !unknown.is_empty() => undetermined(unknown),
        None if refusals.is_empty() => Decision {
            allowed: false,
            verdict: Verdict::Denied,
            unknown_keys: Vec::new(),
            statement: None,
            reason: format!(
                "no statement allows: no Allow statement trusts {} for {WEB_IDENTITY_ACTION}",
                token.provider_arn
            ),
        },
        None => Decision {
            allowed: false,
            verdict: Verdict::Denied,
            unknown_keys: Vec::new(),
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

/// Replaces IAM policy variables (`${token.actions.githubusercontent.com:sub}`, the escapes
/// `${*}`, `${?}`, `${$}`) in a condition value with the request's values. `Err(key)` when a
/// variable names a key whose value cannot be known; `Ok(None)` when the key is absent (IAM
/// then lets the value match nothing).
fn substitute(value: &str, token: &Token) -> Result<Option<String>, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(Some(out));
        };
        let inner = &after[..end];
        match inner {
            "*" => out.push_str("${*}"),
            "?" => out.push_str("${?}"),
            "$" => out.push('$'),
            key => match claim(&token.claims, key) {
                Some(v) => out.push_str(v),
                None if token.known.covers(key) => return Ok(None),
                None => return Err(key.to_string()),
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// Whether one condition holds for the token, the sentence that says why, and the key it
/// depends on when that cannot be known.
fn check(condition: &Condition, token: &Token) -> (Truth, String, Option<String>) {
    let operator = &condition.operator;
    let key = &condition.key;
    let present = claim(&token.claims, key);
    let base = &operator.base;
    let met = |b: bool| if b { Truth::Met } else { Truth::NotMet };
    if present.is_none() && !token.known.covers(key) {
        return (
            Truth::Unknown,
            format!("{operator} {key}: a key whose value this tool cannot know"),
            Some(key.clone()),
        );
    }
    // Policy variables in the values are resolved from the same request.
    let mut values = Vec::new();
    for v in &condition.values {
        match substitute(v, token) {
            Ok(Some(resolved)) => values.push(resolved),
            Ok(None) => {}
            Err(unknown_key) => {
                return (
                    Truth::Unknown,
                    format!(
                        "{operator} {key} compares with ${{{unknown_key}}}, a key whose value this tool cannot know"
                    ),
                    Some(unknown_key),
                );
            }
        }
    }
    match base {
        BaseOperator::Null => {
            let holds = values
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
            let verb = if holds {
                "as required"
            } else {
                "which is not allowed"
            };
            (
                met(holds),
                format!("Null {key} {values:?}: the claim is {state}, {verb}"),
                None,
            )
        }
        BaseOperator::Other(_) => (
            Truth::Unknown,
            format!("{operator} on {key} is not evaluated by this tool"),
            Some(format!("{operator} {key}")),
        ),
        _ => {
            let negated = base.is_negated_string();
            let Some(actual) = present else {
                // IAM's rules for a missing key, in order of precedence.
                return if operator.if_exists {
                    (
                        Truth::Met,
                        format!(
                            "{operator} {key}: the token has no such claim, and IfExists passes then"
                        ),
                        None,
                    )
                } else if operator.qualifier == Some(SetQualifier::ForAllValues) {
                    (
                        Truth::Met,
                        format!(
                            "{operator} {key}: the token has no such claim, and ForAllValues passes on an empty set"
                        ),
                        None,
                    )
                } else if operator.qualifier == Some(SetQualifier::ForAnyValue) {
                    (
                        Truth::NotMet,
                        format!(
                            "{operator} {key}: the token has no such claim, and ForAnyValue fails on an empty set"
                        ),
                        None,
                    )
                } else if negated {
                    (
                        Truth::Met,
                        format!(
                            "{operator} {key}: the token has no such claim, and negated operators pass then"
                        ),
                        None,
                    )
                } else {
                    (
                        Truth::NotMet,
                        format!(
                            "{operator} {key} must {} {values:?} but the token has no such claim",
                            verb(base, false)
                        ),
                        None,
                    )
                };
            };
            let hit = values
                .iter()
                .find(|v| base.compare(v, actual) == Some(true));
            match (negated, hit) {
                (false, Some(value)) => (
                    Truth::Met,
                    format!("{operator} {key} matches {value:?}"),
                    None,
                ),
                (false, None) => (
                    Truth::NotMet,
                    format!(
                        "{operator} {key} must {} {values:?} but the token has {actual:?}",
                        verb(base, false)
                    ),
                    None,
                ),
                (true, None) => (
                    Truth::Met,
                    format!(
                        "{operator} {key}: {actual:?} {} {values:?}",
                        if base.has_wildcards() {
                            "matches none of"
                        } else {
                            "is none of"
                        }
                    ),
                    None,
                ),
                (true, Some(value)) => (
                    Truth::NotMet,
                    format!(
                        "{operator} {key} must {} {values:?} but the token has {actual:?}, which matches {value:?}",
                        verb(base, true)
                    ),
                    None,
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
            known: Known::Everything,
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
                verdict: Verdict::Allowed,
                unknown_keys: Vec::new(),
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

    /// IAM's answers, written out by hand, for one token (`repo:o/r:ref:refs/heads/main`, aud,
    /// repository o/r, ref refs/heads/main) whose other GitHub claims are absent; keys outside
    /// the issuer cannot be known.
    #[test]
    fn iam_answers_for_every_operator_qualifier_and_unknown() {
        const I: &str = "token.actions.githubusercontent.com";
        let claims = BTreeMap::from([
            (
                format!("{I}:sub"),
                "repo:o/r:ref:refs/heads/main".to_string(),
            ),
            (format!("{I}:aud"), "sts.amazonaws.com".to_string()),
            (format!("{I}:repository"), "o/r".to_string()),
            (format!("{I}:ref"), "refs/heads/main".to_string()),
        ]);
        let k = |claim: &str| format!("{I}:{claim}");
        use Verdict::{Allowed as A, Denied as D, Undetermined as U};
        let allow = |c: Value| {
            json!([{"Effect": "Allow", "Principal": {"Federated": PROVIDER},
            "Action": "sts:AssumeRoleWithWebIdentity", "Condition": c}])
        };
        let with_deny = |c: Value| {
            json!([
            {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {k("aud"): "sts.amazonaws.com"}}},
            {"Effect": "Deny", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": c}])
        };
        let cases: Vec<(&str, Value, Verdict)> = vec![
            (
                "StringEquals match",
                allow(json!({"StringEquals": {k("sub"): "repo:o/r:ref:refs/heads/main"}})),
                A,
            ),
            (
                "StringEquals other",
                allow(json!({"StringEquals": {k("sub"): "repo:o/r:ref:refs/heads/dev"}})),
                D,
            ),
            (
                "StringEquals takes * literally",
                allow(json!({"StringEquals": {k("sub"): "repo:o/r:*"}})),
                D,
            ),
            (
                "StringLike wildcard",
                allow(json!({"StringLike": {k("sub"): "repo:o/r:*"}})),
                A,
            ),
            (
                "StringLike ? is one character",
                allow(json!({"StringLike": {k("sub"): "repo:o/r:ref:refs/heads/mai?"}})),
                A,
            ),
            (
                "StringLike prefix of another repo",
                allow(json!({"StringLike": {k("sub"): "repo:o/other:*"}})),
                D,
            ),
            (
                "values are ORed",
                allow(
                    json!({"StringEquals": {k("sub"): ["repo:x/y:*", "repo:o/r:ref:refs/heads/main"]}}),
                ),
                A,
            ),
            (
                "keys are ANDed",
                allow(
                    json!({"StringEquals": {k("sub"): "repo:o/r:ref:refs/heads/main", k("aud"): "other"}}),
                ),
                D,
            ),
            (
                "operators are ANDed",
                allow(
                    json!({"StringEquals": {k("aud"): "sts.amazonaws.com"}, "StringLike": {k("sub"): "repo:o/r:ref:refs/tags/*"}}),
                ),
                D,
            ),
            (
                "key names are case-insensitive",
                allow(
                    json!({"StringEquals": {"TOKEN.actions.githubusercontent.com:SUB": "repo:o/r:ref:refs/heads/main"}}),
                ),
                A,
            ),
            (
                "values are case-sensitive",
                allow(json!({"StringEquals": {k("sub"): "repo:O/R:ref:refs/heads/main"}})),
                D,
            ),
            (
                "IgnoreCase folds",
                allow(
                    json!({"StringEqualsIgnoreCase": {k("sub"): "REPO:O/R:REF:REFS/HEADS/MAIN"}}),
                ),
                A,
            ),
            (
                "StringNotEquals other value",
                allow(json!({"StringNotEquals": {k("sub"): "repo:o/r:ref:refs/heads/dev"}})),
                A,
            ),
            (
                "StringNotEquals same value",
                allow(json!({"StringNotEquals": {k("sub"): "repo:o/r:ref:refs/heads/main"}})),
                D,
            ),
            (
                "StringNotLike matching",
                allow(json!({"StringNotLike": {k("sub"): "repo:o/r:*"}})),
                D,
            ),
            (
                "absent claim fails a positive operator",
                allow(json!({"StringEquals": {k("environment"): "prod"}})),
                D,
            ),
            (
                "absent claim passes a negated operator",
                allow(json!({"StringNotEquals": {k("environment"): "prod"}})),
                A,
            ),
            (
                "IfExists passes on an absent claim",
                allow(json!({"StringEqualsIfExists": {k("environment"): "prod"}})),
                A,
            ),
            (
                "IfExists still checks a present claim",
                allow(json!({"StringEqualsIfExists": {k("ref"): "refs/heads/dev"}})),
                D,
            ),
            (
                "Null true on an absent claim",
                allow(json!({"Null": {k("environment"): "true"}})),
                A,
            ),
            (
                "Null true on a present claim",
                allow(json!({"Null": {k("sub"): "true"}})),
                D,
            ),
            (
                "Null false on a present claim",
                allow(json!({"Null": {k("sub"): "false"}})),
                A,
            ),
            (
                "ForAnyValue on a present claim",
                allow(json!({"ForAnyValue:StringLike": {k("sub"): ["x", "repo:o/r:*"]}})),
                A,
            ),
            (
                "ForAnyValue on an absent claim",
                allow(json!({"ForAnyValue:StringEquals": {k("environment"): "prod"}})),
                D,
            ),
            (
                "ForAllValues on an absent claim passes",
                allow(json!({"ForAllValues:StringEquals": {k("environment"): "prod"}})),
                A,
            ),
            (
                "ForAllValues on a present claim",
                allow(
                    json!({"ForAllValues:StringEquals": {k("sub"): "repo:o/r:ref:refs/heads/dev"}}),
                ),
                D,
            ),
            (
                "a policy variable is the token's own claim",
                allow(json!({"StringEquals": {k("sub"): format!("${{{I}:sub}}")}})),
                A,
            ),
            (
                "a policy variable inside a value",
                allow(json!({"StringLike": {k("sub"): format!("repo:${{{I}:repository}}:*")}})),
                A,
            ),
            (
                "a policy variable of an absent claim matches nothing",
                allow(json!({"StringLike": {k("sub"): format!("repo:${{{I}:environment}}:*")}})),
                D,
            ),
            (
                "a claim the tool cannot know: Null aws:SourceIp",
                allow(
                    json!({"StringEquals": {k("aud"): "sts.amazonaws.com"}, "Null": {"aws:SourceIp": "true"}}),
                ),
                U,
            ),
            (
                "a session name it was not given",
                allow(json!({"StringNotLike": {"sts:RoleSessionName": "GitHubActions*"}})),
                U,
            ),
            (
                "an unknown key under a failing statement is moot",
                allow(
                    json!({"StringEquals": {k("aud"): "other"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
                ),
                D,
            ),
            (
                "an explicit Deny wins",
                with_deny(json!({"StringLike": {k("sub"): "repo:o/r:*"}})),
                D,
            ),
            (
                "a Deny that does not match",
                with_deny(json!({"StringLike": {k("sub"): "repo:x/*"}})),
                A,
            ),
            (
                "a Deny on a key the tool cannot know",
                with_deny(json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
                U,
            ),
            ("no condition at all", allow(json!({})), A),
        ];
        assert!(cases.len() >= 30);
        for (name, statements, expected) in cases {
            let token = Token {
                provider_arn: PROVIDER.into(),
                claims: claims.clone(),
                known: Known::Issuer(I.into()),
            };
            let decision = evaluate(&doc(statements), &token);
            assert_eq!(decision.verdict, expected, "{name}: {}", decision.reason);
            assert_eq!(decision.allowed, expected == A, "{name}");
        }
        // With the session name given, the same condition has an answer.
        let mut named = claims.clone();
        named.insert("sts:RoleSessionName".into(), "GitHubActions".into());
        let token = Token {
            provider_arn: PROVIDER.into(),
            claims: named,
            known: Known::Issuer(I.into()),
        };
        let statements = allow(json!({"StringNotLike": {"sts:RoleSessionName": "GitHubActions*"}}));
        assert_eq!(evaluate(&doc(statements), &token).verdict, D);
    }
}
