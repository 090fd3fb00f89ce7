//! IAM policy documents as typed data, decoded from what IAM returns: what comparison, the audit checks and the evaluator read.
//!
//! IAM accepts several spellings of the same thing (a string or a one-element list, `Statement`
//! as an object or a list, condition values as strings, numbers or booleans); parsing folds them
//! into one shape so that no check has to care. Anything that is not a valid policy shape is an
//! error value naming where it is, never a panic: the input comes from live AWS accounts and from
//! users' files.

use std::fmt;

use serde_json::{Map, Value};

/// A parsed policy document: a trust policy or an identity (push) policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<Principal>,
    pub not_principal: Option<Principal>,
    /// `Action` or `NotAction`; IAM requires exactly one of them.
    pub action: Targets,
    /// `Resource` or `NotResource`; absent in trust policies.
    pub resource: Option<Targets>,
    /// Flattened `Condition` block, all ANDed: one entry per operator and key.
    pub conditions: Vec<Condition>,
}

impl Statement {
    /// How messages name a statement: its index, and its Sid when it has one, since the Sid is
    /// what people see in the console.
    pub fn label(&self, index: usize) -> String {
        match &self.sid {
            Some(sid) if !sid.is_empty() => format!("statement {index} (Sid {sid:?})"),
            _ => format!("statement {index}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"Principal": "*"`.
    Any,
    Listed(Principals),
}

/// Each list holds the values as written; a single string became a one-element list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principals {
    pub aws: Vec<String>,
    pub federated: Vec<String>,
    pub service: Vec<String>,
    pub canonical_user: Vec<String>,
}

impl Principal {
    /// `"*"` and `{"AWS": "*"}` mean the same to IAM; a `"*"` under any other key is treated
    /// the same way so that no spelling of "everyone" slips through a check.
    pub fn is_wildcard(&self) -> bool {
        match self {
            Principal::Any => true,
            Principal::Listed(p) => [&p.aws, &p.federated, &p.service, &p.canonical_user]
                .iter()
                .any(|list| list.iter().any(|v| v == "*")),
        }
    }

    pub fn federated(&self) -> &[String] {
        match self {
            Principal::Any => &[],
            Principal::Listed(p) => &p.federated,
        }
    }

    /// The `AWS` principals: account IDs and ARNs.
    pub fn aws(&self) -> &[String] {
        match self {
            Principal::Any => &[],
            Principal::Listed(p) => &p.aws,
        }
    }
}

/// A list of actions or resources, or everything except such a list (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    Only(Vec<String>),
    AllExcept(Vec<String>),
}

impl Targets {
    /// As messages show it: `ecr:BatchGetImage, ecr:PutImage`, or `everything but …`.
    pub fn describe(&self) -> String {
        match self {
            Targets::Only(list) => list.join(", "),
            Targets::AllExcept(list) => format!("everything but {}", list.join(", ")),
        }
    }

    /// Whether an action name is covered, the way IAM matches actions: case-insensitive, with
    /// `*` and `?` wildcards.
    pub fn covers_action(&self, action: &str) -> bool {
        let action = action.to_lowercase();
        let hit = |list: &[String]| {
            list.iter()
                .any(|p| wildcard_match(&p.to_lowercase(), &action))
        };
        match self {
            Targets::Only(list) => hit(list),
            Targets::AllExcept(list) => !hit(list),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    /// As written; IAM compares condition keys case-insensitively, so callers must too.
    pub key: String,
    /// ORed; numbers and booleans were turned into their JSON text.
    pub values: Vec<String>,
}

impl Condition {
    /// Whether the condition holds for a request that carries `value` under the key. `None`
    /// for operators that are not modelled.
    pub fn holds_for(&self, value: &str) -> Option<bool> {
        match &self.operator.base {
            // `Null: false` asks for the key to be present, which it is.
            BaseOperator::Null => Some(self.values.iter().any(|v| v.eq_ignore_ascii_case("false"))),
            BaseOperator::Other(_) => None,
            base => {
                let hit = self
                    .values
                    .iter()
                    .any(|v| base.compare(v, value) == Some(true));
                Some(hit != base.is_negated_string())
            }
        }
    }
}

/// A condition operator split into its parts: `ForAllValues:StringLikeIfExists` is
/// qualifier `ForAllValues`, base `StringLike`, `if_exists` true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub qualifier: Option<SetQualifier>,
    pub base: BaseOperator,
    pub if_exists: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseOperator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    Null,
    /// Any other operator (Arn*, Numeric*, Date*, Bool, IpAddress, ...), kept by name so that
    /// messages can show it.
    Other(String),
}

const STRING_OPERATORS: [(&str, BaseOperator); 6] = [
    ("StringEquals", BaseOperator::StringEquals),
    ("StringNotEquals", BaseOperator::StringNotEquals),
    (
        "StringEqualsIgnoreCase",
        BaseOperator::StringEqualsIgnoreCase,
    ),
    (
        "StringNotEqualsIgnoreCase",
        BaseOperator::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", BaseOperator::StringLike),
    ("StringNotLike", BaseOperator::StringNotLike),
];

impl BaseOperator {
    pub fn name(&self) -> &str {
        match self {
            BaseOperator::StringEquals => "StringEquals",
            BaseOperator::StringNotEquals => "StringNotEquals",
            BaseOperator::StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            BaseOperator::StringNotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            BaseOperator::StringLike => "StringLike",
            BaseOperator::StringNotLike => "StringNotLike",
            BaseOperator::Null => "Null",
            BaseOperator::Other(name) => name,
        }
    }

    /// Operators that pass only when a value matches: the ones that can scope a trust policy.
    pub fn is_positive_string(&self) -> bool {
        matches!(
            self,
            BaseOperator::StringEquals
                | BaseOperator::StringEqualsIgnoreCase
                | BaseOperator::StringLike
        )
    }

    pub fn is_negated_string(&self) -> bool {
        matches!(
            self,
            BaseOperator::StringNotEquals
                | BaseOperator::StringNotEqualsIgnoreCase
                | BaseOperator::StringNotLike
        )
    }

    pub fn has_wildcards(&self) -> bool {
        matches!(self, BaseOperator::StringLike | BaseOperator::StringNotLike)
    }

    /// Whether `text` matches one policy value under the operator's comparison, before any
    /// negation is applied (so `StringNotLike` compares like `StringLike`). `None` for
    /// operators that do not compare strings.
    pub fn compare(&self, policy_value: &str, text: &str) -> Option<bool> {
        match self {
            BaseOperator::StringEquals | BaseOperator::StringNotEquals => {
                Some(policy_value == text)
            }
            BaseOperator::StringEqualsIgnoreCase | BaseOperator::StringNotEqualsIgnoreCase => {
                Some(policy_value.to_lowercase() == text.to_lowercase())
            }
            BaseOperator::StringLike | BaseOperator::StringNotLike => {
                Some(wildcard_match(policy_value, text))
            }
            BaseOperator::Null | BaseOperator::Other(_) => None,
        }
    }
}

impl Operator {
    /// Unknown operator names are kept rather than rejected: IAM has many more operators than
    /// the checks need, and a policy using them is still a valid policy.
    pub fn parse(name: &str) -> Operator {
        let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else {
            (None, name)
        };
        let known = |text: &str| {
            STRING_OPERATORS
                .iter()
                .find(|(n, _)| *n == text)
                .map(|(_, op)| op.clone())
        };
        let (base, if_exists) = if rest == "Null" {
            (BaseOperator::Null, false)
        } else if let Some(op) = known(rest) {
            (op, false)
        } else if let Some(op) = rest.strip_suffix("IfExists").and_then(known) {
            (op, true)
        } else {
            (BaseOperator::Other(rest.to_string()), false)
        };
        Operator {
            qualifier,
            base,
            if_exists,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.qualifier {
            Some(SetQualifier::ForAllValues) => f.write_str("ForAllValues:")?,
            Some(SetQualifier::ForAnyValue) => f.write_str("ForAnyValue:")?,
            None => {}
        }
        f.write_str(self.base.name())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

/// Why a document could not be read, naming the place in it (`Statement[1].Principal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub message: String,
}

impl PolicyError {
    fn at(path: &str, message: impl fmt::Display) -> PolicyError {
        PolicyError {
            message: if path.is_empty() {
                message.to_string()
            } else {
                format!("{path}: {message}")
            },
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid policy document: {}", self.message)
    }
}

impl std::error::Error for PolicyError {}

/// Reads a policy from JSON. A JSON string is read as the policy text, percent-encoded or not
/// (see [`decode_document`]), because that is how IAM and many tools hand policies around.
pub fn parse_policy(value: &Value) -> Result<PolicyDocument, PolicyError> {
    match value {
        Value::Object(map) => parse_document(map),
        Value::String(text) => parse_policy_str(text),
        other => Err(PolicyError::at(
            "",
            format!(
                "expected a JSON object or a string holding one, found {}",
                json_kind(other)
            ),
        )),
    }
}

/// Reads a document as IAM returns it: plain JSON (`ListRoles`, `GetAccountAuthorizationDetails`)
/// or percent-encoded JSON (`GetRole` encodes the trust policy: `%7B%22Version%22...`). Text
/// that starts with `{` is JSON and never decoded, because a literal `%` inside a value must
/// survive; anything else is percent-decoded first. `+` is left alone: IAM encodes spaces as
/// `%20`, and reading `+` as a space would corrupt values.
pub fn decode_document(raw: &str) -> Result<Value, PolicyError> {
    let text = raw.trim();
    let decoded;
    let json = if text.starts_with('{') {
        text
    } else {
        decoded = percent_decode(text)?;
        &decoded
    };
    serde_json::from_str(json).map_err(|e| PolicyError::at("", format!("not valid JSON ({e})")))
}

/// Reads a policy from its text, as [`decode_document`] does.
pub fn parse_policy_str(text: &str) -> Result<PolicyDocument, PolicyError> {
    match decode_document(text)? {
        Value::Object(map) => parse_document(&map),
        other => Err(PolicyError::at(
            "",
            format!("expected a JSON object, found {}", json_kind(&other)),
        )),
    }
}

/// Decodes `%XX` escapes (RFC 3986) strictly: a `%` without two hex digits after it is an
/// error, not text, and the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, PolicyError> {
    let bytes = text.as_bytes();
    let bad_escape = text.match_indices('%').map(|(at, _)| at).find(|&at| {
        !bytes
            .get(at + 1..at + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if let Some(at) = bad_escape {
        return Err(PolicyError::at(
            "",
            format!("bad percent-escape at byte {at} of the encoded text"),
        ));
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| PolicyError::at("", "percent-decoded text is not valid UTF-8"))
}

/// IAM's `StringLike` matching: `*` is any run of characters (including none, `/` and `:`),
/// `?` exactly one character; everything else literal and case-sensitive.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was seen and how much text it has swallowed so far: on a mismatch
    // the star takes one more character, which makes this linear in practice.
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(t) {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&q) if q == '?' || q == c => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn parse_document(map: &Map<String, Value>) -> Result<PolicyDocument, PolicyError> {
    let mut version = None;
    let mut id = None;
    let mut statements = None;
    for (key, value) in map {
        match key.as_str() {
            "Version" => version = Some(expect_string(value, "Version")?),
            "Id" => id = Some(expect_string(value, "Id")?),
            "Statement" => statements = Some(parse_statements(value)?),
            other => {
                return Err(PolicyError::at(
                    "",
                    format!("unknown top-level key {other:?} (expected Version, Id and Statement)"),
                ));
            }
        }
    }
    let statements =
        statements.ok_or_else(|| PolicyError::at("", "the document has no Statement"))?;
    Ok(PolicyDocument {
        version,
        id,
        statements,
    })
}

fn parse_statements(value: &Value) -> Result<Vec<Statement>, PolicyError> {
    match value {
        Value::Object(map) => Ok(vec![parse_statement(map, "Statement")?]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("Statement[{i}]");
                match item {
                    Value::Object(map) => parse_statement(map, &path),
                    other => Err(PolicyError::at(
                        &path,
                        format!("expected an object, found {}", json_kind(other)),
                    )),
                }
            })
            .collect(),
        other => Err(PolicyError::at(
            "Statement",
            format!(
                "expected an object or a list of objects, found {}",
                json_kind(other)
            ),
        )),
    }
}

fn parse_statement(map: &Map<String, Value>, path: &str) -> Result<Statement, PolicyError> {
    let mut sid = None;
    let mut effect = None;
    let mut principal = None;
    let mut not_principal = None;
    let mut action = None;
    let mut not_action = None;
    let mut resource = None;
    let mut not_resource = None;
    let mut conditions = Vec::new();
    for (key, value) in map {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "Sid" => sid = Some(expect_string(value, &here)?),
            "Effect" => {
                effect = Some(match expect_string(value, &here)?.as_str() {
                    "Allow" => Effect::Allow,
                    "Deny" => Effect::Deny,
                    other => {
                        return Err(PolicyError::at(
                            &here,
                            format!("expected \"Allow\" or \"Deny\", found {other:?}"),
                        ));
                    }
                })
            }
            "Principal" => principal = Some(parse_principal(value, &here)?),
            "NotPrincipal" => not_principal = Some(parse_principal(value, &here)?),
            "Action" => action = Some(string_list(value, &here)?),
            "NotAction" => not_action = Some(string_list(value, &here)?),
            "Resource" => resource = Some(string_list(value, &here)?),
            "NotResource" => not_resource = Some(string_list(value, &here)?),
            "Condition" => conditions = parse_conditions(value, &here)?,
            // A misspelt key such as "Condtion" would otherwise silently drop a restriction.
            other => {
                return Err(PolicyError::at(path, format!("unknown key {other:?}")));
            }
        }
    }
    let effect = effect.ok_or_else(|| PolicyError::at(path, "missing Effect"))?;
    if principal.is_some() && not_principal.is_some() {
        return Err(PolicyError::at(path, "has both Principal and NotPrincipal"));
    }
    let action = exactly_one(action, not_action, path, "Action")?
        .ok_or_else(|| PolicyError::at(path, "has neither Action nor NotAction"))?;
    let resource = exactly_one(resource, not_resource, path, "Resource")?;
    Ok(Statement {
        sid,
        effect,
        principal,
        not_principal,
        action,
        resource,
        conditions,
    })
}

fn exactly_one(
    listed: Option<Vec<String>>,
    excluded: Option<Vec<String>>,
    path: &str,
    name: &str,
) -> Result<Option<Targets>, PolicyError> {
    match (listed, excluded) {
        (Some(_), Some(_)) => Err(PolicyError::at(
            path,
            format!("has both {name} and Not{name}"),
        )),
        (Some(list), None) => Ok(Some(Targets::Only(list))),
        (None, Some(list)) => Ok(Some(Targets::AllExcept(list))),
        (None, None) => Ok(None),
    }
}

fn parse_principal(value: &Value, path: &str) -> Result<Principal, PolicyError> {
    match value {
        Value::String(s) if s == "*" => Ok(Principal::Any),
        Value::Object(map) => {
            let mut principals = Principals::default();
            for (key, list) in map {
                let here = format!("{path}.{key}");
                let slot = match key.as_str() {
                    "AWS" => &mut principals.aws,
                    "Federated" => &mut principals.federated,
                    "Service" => &mut principals.service,
                    "CanonicalUser" => &mut principals.canonical_user,
                    other => {
                        return Err(PolicyError::at(
                            path,
                            format!(
                                "unknown principal type {other:?} (expected AWS, Federated, Service or CanonicalUser)"
                            ),
                        ));
                    }
                };
                *slot = string_list(list, &here)?;
            }
            Ok(Principal::Listed(principals))
        }
        Value::String(other) => Err(PolicyError::at(
            path,
            format!("expected \"*\" or an object, found the string {other:?}"),
        )),
        other => Err(PolicyError::at(
            path,
            format!("expected \"*\" or an object, found {}", json_kind(other)),
        )),
    }
}

fn parse_conditions(value: &Value, path: &str) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(block) = value else {
        return Err(PolicyError::at(
            path,
            format!("expected an object, found {}", json_kind(value)),
        ));
    };
    let mut conditions = Vec::new();
    for (operator_name, keys) in block {
        let here = format!("{path}.{operator_name}");
        let Value::Object(keys) = keys else {
            return Err(PolicyError::at(
                &here,
                format!(
                    "expected an object of condition keys, found {}",
                    json_kind(keys)
                ),
            ));
        };
        let operator = Operator::parse(operator_name);
        for (key, values) in keys {
            conditions.push(Condition {
                operator: operator.clone(),
                key: key.clone(),
                values: condition_values(values, &format!("{here}[{key:?}]"))?,
            });
        }
    }
    Ok(conditions)
}

fn condition_values(value: &Value, path: &str) -> Result<Vec<String>, PolicyError> {
    let scalar = |item: &Value| match item {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(PolicyError::at(
            path,
            format!(
                "expected a string, number or boolean, found {}",
                json_kind(other)
            ),
        )),
    };
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

fn string_list(value: &Value, path: &str) -> Result<Vec<String>, PolicyError> {
    let wrong = |found: &Value| {
        PolicyError::at(
            path,
            format!(
                "expected a string or a list of strings, found {}",
                json_kind(found)
            ),
        )
    };
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong(other)),
            })
            .collect(),
        other => Err(wrong(other)),
    }
}

fn expect_string(value: &Value, path: &str) -> Result<String, PolicyError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(PolicyError::at(
            path,
            format!("expected a string, found {}", json_kind(other)),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> PolicyDocument {
        match parse_policy(&value) {
            Ok(doc) => doc,
            Err(e) => panic!("{e}"),
        }
    }

    fn error(value: Value) -> String {
        match parse_policy(&value) {
            Ok(doc) => panic!("expected an error, parsed {doc:?}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn string_equals_one_element_list() {
        let a = parse(
            json!({"Statement": {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/x"},
            "Condition": {"StringEquals": {"x:aud": "sts.amazonaws.com"}}}}),
        );
        let b = parse(
            json!({"Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRoleWithWebIdentity"],
            "Principal": {"Federated": ["arn:aws:iam::1:oidc-provider/x"]},
            "Condition": {"StringEquals": {"x:aud": ["sts.amazonaws.com"]}}}]}),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn condition_scalars_become_strings() {
        let doc = parse(
            json!({"Statement": {"Effect": "Allow", "Action": "*", "Principal": "*",
            "Condition": {"Bool": {"aws:SecureTransport": true}, "NumericLessThan": {"k": [1, 2.5]}}}}),
        );
        let values: Vec<&[String]> = doc.statements[0]
            .conditions
            .iter()
            .map(|c| c.values.as_slice())
            .collect();
        assert_eq!(
            values,
            [
                &["true".to_string()][..],
                &["1".to_string(), "2.5".to_string()][..]
            ]
        );
        assert_eq!(doc.statements[0].principal, Some(Principal::Any));
    }

    #[test]
    fn operators_split_into_parts() {
        let op = Operator::parse("ForAllValues:StringLikeIfExists");
        assert_eq!(op.qualifier, Some(SetQualifier::ForAllValues));
        assert_eq!(op.base, BaseOperator::StringLike);
        assert!(op.if_exists);
        assert_eq!(op.to_string(), "ForAllValues:StringLikeIfExists");
        assert_eq!(Operator::parse("Null").base, BaseOperator::Null);
        assert_eq!(
            Operator::parse("ArnLikeIfExists").base,
            BaseOperator::Other("ArnLikeIfExists".into())
        );
        assert_eq!(
            Operator::parse("ForAnyValue:StringNotEquals").to_string(),
            "ForAnyValue:StringNotEquals"
        );
    }

    #[test]
    fn percent_encoded_policies_decode() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Federated%22%3A%22arn%3Aaws%3Aiam%3A%3A1%3Aoidc-provider%2Fx%22%7D%2C%22Action%22%3A%22sts%3AAssumeRoleWithWebIdentity%22%2C%22Condition%22%3A%7B%22StringLike%22%3A%7B%22x%3Asub%22%3A%22repo%3Aa%2Fb%3A%2A%22%7D%7D%7D%5D%7D";
        let doc = parse(json!(encoded));
        assert_eq!(doc.version.as_deref(), Some("2012-10-17"));
        assert_eq!(doc.statements[0].conditions[0].values, ["repo:a/b:*"]);
        assert_eq!(percent_decode("a+b%20c"), Ok("a+b c".to_string()));
    }

    #[test]
    fn plain_json_text_keeps_percent_signs() {
        let doc = parse(json!(
            r#"{"Statement":{"Effect":"Deny","Action":"*","Principal":"*","Condition":{"StringEquals":{"k":"100%"}}}}"#
        ));
        assert_eq!(doc.statements[0].conditions[0].values, ["100%"]);
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let cases = [
            (json!(null), "found null"),
            (json!(42), "found a number"),
            (json!("%7"), "bad percent-escape"),
            (json!("%ZZ"), "bad percent-escape"),
            (json!("%FF%FE"), "not valid UTF-8"),
            (json!("%5B%5D"), "expected a JSON object, found a list"),
            (json!("not json"), "not valid JSON"),
            (json!({}), "no Statement"),
            (
                json!({"Statement": 3}),
                "Statement: expected an object or a list",
            ),
            (
                json!({"Statement": [3]}),
                "Statement[0]: expected an object",
            ),
            (json!({"Statement": {"Action": "*"}}), "missing Effect"),
            (
                json!({"Statement": {"Effect": "allow", "Action": "*"}}),
                "expected \"Allow\" or \"Deny\"",
            ),
            (
                json!({"Statement": {"Effect": "Allow"}}),
                "neither Action nor NotAction",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "*", "NotAction": "*"}}),
                "both Action and NotAction",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": [1]}}),
                "Statement.Action: expected a string or a list of strings, found a number",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "*", "Principal": "me"}}),
                "found the string \"me\"",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "*", "Principal": {"Users": "x"}}}),
                "unknown principal type",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "*", "Principal": {"AWS": {}}}}),
                "Statement.Principal.AWS: expected a string",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "*", "Principal": "*", "NotPrincipal": "*"}}),
                "both Principal and NotPrincipal",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "*", "Condtion": {}}}),
                "unknown key \"Condtion\"",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "*", "Condition": []}}),
                "Statement.Condition: expected an object",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "*", "Condition": {"StringLike": "x"}}}),
                "expected an object of condition keys",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "*", "Condition": {"StringLike": {"k": {"a": 1}}}}}),
                "StringLike[\"k\"]: expected a string, number or boolean, found an object",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "*", "Condition": {"StringLike": {"k": [null]}}}}),
                "found null",
            ),
            (
                json!({"Statement": [], "Extra": 1}),
                "unknown top-level key",
            ),
            (
                json!({"Statement": [], "Version": 2012}),
                "Version: expected a string",
            ),
        ];
        for (input, expected) in cases {
            let message = error(input.clone());
            assert!(message.contains(expected), "{input}: {message}");
        }
    }

    #[test]
    fn wildcards_follow_string_like() {
        let cases = [
            ("*", "", true),
            ("*", "repo:a/b:ref:refs/heads/main", true),
            ("repo:a/b:*", "repo:a/b:pull_request", true),
            ("repo:a/b:*", "repo:a/bc:pull_request", false),
            ("repo:a/?:x", "repo:a/b:x", true),
            ("repo:a/?:x", "repo:a/bb:x", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("REPO:*", "repo:a", false),
            ("", "", true),
            ("", "a", false),
            ("**", "abc", true),
            ("é*", "éa", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                wildcard_match(pattern, text),
                expected,
                "{pattern} vs {text}"
            );
        }
    }

    #[test]
    fn actions_match_case_insensitively() {
        let only = Targets::Only(vec!["STS:AssumeRole*".into()]);
        assert!(only.covers_action("sts:AssumeRoleWithWebIdentity"));
        let except = Targets::AllExcept(vec!["sts:AssumeRole".into()]);
        assert!(except.covers_action("sts:AssumeRoleWithWebIdentity"));
        assert!(!except.covers_action("sts:assumerole"));
    }

    #[test]
    fn conditions_hold_for_present_values() {
        let doc = parse(
            json!({"Statement": {"Effect": "Allow", "Action": "*", "Condition": {
                "StringNotLike": {"k": ["a*", "b*"]},
                "StringEqualsIgnoreCase": {"k": "X"},
                "Null": {"k": "false"},
                "NumericEquals": {"k": 1},
            }}}),
        );
        let holds: Vec<(String, Option<bool>, Option<bool>)> = doc.statements[0]
            .conditions
            .iter()
            .map(|c| (c.operator.to_string(), c.holds_for("x"), c.holds_for("ab")))
            .collect();
        let expected = [
            ("Null", Some(true), Some(true)),
            ("NumericEquals", None, None),
            ("StringEqualsIgnoreCase", Some(true), Some(false)),
            ("StringNotLike", Some(true), Some(false)),
        ]
        .map(|(op, x, ab)| (op.to_string(), x, ab));
        assert_eq!(holds, expected);
    }

    #[test]
    fn decodes_url_encoded_documents() {
        let raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_document(raw).ok(),
            Some(json!({"Version": "2012-10-17", "Statement": []}))
        );
        assert!(decode_document("%7Bnot json").is_err());
    }
}
