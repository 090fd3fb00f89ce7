//! Comparison by meaning: whether a live document says what the desired one says, and how they differ.
//!
//! The rules are hashicorp's `awspolicyequivalence`, applied to the typed model: a string equals
//! a one-element list, the order of statements and of listed values does not count, an account
//! ID equals `arn:aws:iam::ID:root`, and what IAM reads case-insensitively is compared folded
//! (action names, condition keys, the values of the `...IgnoreCase` operators). Sids and the
//! document Id are labels, not meaning. A document that is not a valid policy has no meaning to
//! compare, so it equals only itself, as JSON.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::document::{BaseOperator, Effect, Principal, Statement, Targets, parse_policy};

/// A document reduced to what it means: two documents are equivalent when these are equal.
#[derive(Debug, PartialEq, Eq)]
struct Meaning {
    version: Option<String>,
    statements: BTreeSet<StatementMeaning>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct StatementMeaning {
    effect: Effect,
    principal: Option<Listed<Who>>,
    action: Listed<BTreeSet<String>>,
    resource: Option<Listed<BTreeSet<String>>>,
    /// Operator and key to the values: ANDed across entries, ORed within one.
    conditions: BTreeMap<(String, String), BTreeSet<String>>,
}

/// An element or its `Not...` form (`NotPrincipal`, `NotAction`, `NotResource`).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Listed<T> {
    excluded: bool,
    items: T,
}

/// `"*"`, or the principals by type (`AWS`, `CanonicalUser`, `Federated`, `Service`).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anyone,
    Typed(BTreeMap<&'static str, BTreeSet<String>>),
}

impl Meaning {
    /// `None` for a document that is not a valid policy.
    fn of(doc: &Value) -> Option<Meaning> {
        let doc = parse_policy(doc).ok()?;
        Some(Meaning {
            version: doc.version,
            statements: doc.statements.iter().map(StatementMeaning::of).collect(),
        })
    }

    /// The canonical JSON spelling, which parses back to the same meaning.
    fn to_json(&self) -> Value {
        let mut doc = Map::new();
        if let Some(version) = &self.version {
            doc.insert("Version".into(), Value::String(version.clone()));
        }
        let statements = self.statements.iter().map(StatementMeaning::to_json);
        doc.insert("Statement".into(), Value::Array(statements.collect()));
        Value::Object(doc)
    }
}

impl StatementMeaning {
    fn of(statement: &Statement) -> StatementMeaning {
        let principal = match (&statement.principal, &statement.not_principal) {
            (Some(p), _) => Some(Listed {
                excluded: false,
                items: Who::of(p),
            }),
            (None, Some(p)) => Some(Listed {
                excluded: true,
                items: Who::of(p),
            }),
            (None, None) => None,
        };
        let mut conditions: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for condition in &statement.conditions {
            let folded = matches!(
                condition.operator.base,
                BaseOperator::StringEqualsIgnoreCase | BaseOperator::StringNotEqualsIgnoreCase
            );
            // Two spellings of one key under one operator cannot stay apart in a JSON object;
            // their values are merged.
            conditions
                .entry((
                    condition.operator.to_string(),
                    condition.key.to_ascii_lowercase(),
                ))
                .or_default()
                .extend(
                    condition.values.iter().map(
                        |v| {
                            if folded { v.to_lowercase() } else { v.clone() }
                        },
                    ),
                );
        }
        StatementMeaning {
            effect: statement.effect,
            principal,
            action: listed(&statement.action, |a| a.to_ascii_lowercase()),
            resource: statement.resource.as_ref().map(|r| listed(r, Clone::clone)),
            conditions,
        }
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("Effect".into(), Value::String(self.effect.as_str().into()));
        if let Some(p) = &self.principal {
            out.insert(element("Principal", p.excluded), p.items.to_json());
        }
        out.insert(
            element("Action", self.action.excluded),
            strings(&self.action.items),
        );
        if let Some(r) = &self.resource {
            out.insert(element("Resource", r.excluded), strings(&r.items));
        }
        if !self.conditions.is_empty() {
            let mut operators: Map<String, Value> = Map::new();
            for ((operator, key), values) in &self.conditions {
                if let Value::Object(keys) = operators
                    .entry(operator.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    keys.insert(key.clone(), strings(values));
                }
            }
            out.insert("Condition".into(), Value::Object(operators));
        }
        Value::Object(out)
    }

    /// One line per condition, each with everything the statement grants: what `differences`
    /// lists, so that a changed subject shows as one line out and one line in.
    fn facts(&self) -> Vec<String> {
        let head = self.head();
        if self.conditions.is_empty() {
            return vec![head];
        }
        self.conditions
            .iter()
            .map(|((operator, key), values)| {
                format!("{head} when {operator} {key} = {}", joined(values))
            })
            .collect()
    }

    /// What the statement grants, without its conditions.
    fn head(&self) -> String {
        let mut head = vec![format!("Effect {}", self.effect.as_str())];
        if let Some(p) = &self.principal {
            head.push(format!(
                "{} {}",
                element("Principal", p.excluded),
                p.items.fact()
            ));
        }
        head.push(format!(
            "{} {}",
            element("Action", self.action.excluded),
            joined(&self.action.items)
        ));
        if let Some(r) = &self.resource {
            head.push(format!(
                "{} {}",
                element("Resource", r.excluded),
                joined(&r.items)
            ));
        }
        head.join(" ")
    }
}

impl Who {
    fn of(principal: &Principal) -> Who {
        let Principal::Listed(p) = principal else {
            return Who::Anyone;
        };
        let by_type = [
            ("AWS", &p.aws),
            ("CanonicalUser", &p.canonical_user),
            ("Federated", &p.federated),
            ("Service", &p.service),
        ];
        Who::Typed(
            by_type
                .into_iter()
                .filter(|(_, ids)| !ids.is_empty())
                .map(|(kind, ids)| {
                    let ids = ids.iter().map(|id| {
                        if kind == "AWS" && id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
                        {
                            format!("arn:aws:iam::{id}:root")
                        } else {
                            id.clone()
                        }
                    });
                    (kind, ids.collect())
                })
                .collect(),
        )
    }

    fn to_json(&self) -> Value {
        match self {
            Who::Anyone => Value::String("*".into()),
            Who::Typed(by_type) => Value::Object(
                by_type
                    .iter()
                    .map(|(kind, ids)| (kind.to_string(), strings(ids)))
                    .collect(),
            ),
        }
    }

    fn fact(&self) -> String {
        match self {
            Who::Anyone => "*".into(),
            Who::Typed(by_type) => by_type
                .iter()
                .map(|(kind, ids)| format!("{kind}: {}", joined(ids)))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

fn listed(targets: &Targets, fold: impl Fn(&String) -> String) -> Listed<BTreeSet<String>> {
    let (excluded, items) = match targets {
        Targets::Only(items) => (false, items),
        Targets::AllExcept(items) => (true, items),
    };
    Listed {
        excluded,
        items: items.iter().map(fold).collect(),
    }
}

fn element(name: &str, excluded: bool) -> String {
    if excluded {
        format!("Not{name}")
    } else {
        name.to_string()
    }
}

fn strings(items: &BTreeSet<String>) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn joined(items: &BTreeSet<String>) -> String {
    items.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// The canonical form of a document: statements as a sorted set, every list as a sorted list,
/// case-insensitive names lowercased, account IDs as root ARNs, Sids and Id dropped. A document
/// that is not a valid policy is returned as it is.
pub fn normalize(doc: &Value) -> Value {
    Meaning::of(doc).map_or_else(|| doc.clone(), |m| m.to_json())
}

pub fn equivalent(a: &Value, b: &Value) -> bool {
    match (Meaning::of(a), Meaning::of(b)) {
        (Some(a), Some(b)) => a == b,
        (None, None) => a == b,
        _ => false,
    }
}

/// Human-readable facts of a document, for showing what differs (`- fact` / `+ fact`).
fn facts(doc: &Value) -> BTreeSet<String> {
    match Meaning::of(doc) {
        Some(m) => m
            .statements
            .iter()
            .flat_map(StatementMeaning::facts)
            .collect(),
        None => BTreeSet::from([format!("not a valid policy document: {doc}")]),
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

/// One condition value that only one side has.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ValueChange {
    /// In the desired document only (`+`); else in the live one only (`-`).
    pub added: bool,
    /// The condition key without its issuer (`sub`, `repository_id`); other keys whole.
    pub key: String,
    pub operator: String,
    pub value: String,
}

impl ValueChange {
    /// `+ sub repo:acme/app:ref:refs/heads/dev`, the operator named unless it is StringEquals.
    pub fn line(&self) -> String {
        let sign = if self.added { '+' } else { '-' };
        format!("{sign} {} {}", self.field(), self.value)
    }

    /// `sub`, or `sub (StringLike)`.
    pub fn field(&self) -> String {
        if self.operator == "StringEquals" {
            self.key.clone()
        } else {
            format!("{} ({})", self.key, self.operator)
        }
    }
}

/// A trust difference value by value: for statements that grant the same (effect, principal,
/// action), each condition value only one side has; statements that grant something else are
/// shown whole, as `differences` shows them.
pub fn value_changes(desired: &Value, live: &Value) -> (Vec<ValueChange>, Vec<String>) {
    let (Some(want), Some(have)) = (Meaning::of(desired), Meaning::of(live)) else {
        return (Vec::new(), differences(desired, live));
    };
    type Values = BTreeSet<(String, String, String)>;
    let by_head = |m: &Meaning| -> BTreeMap<String, Values> {
        let mut out: BTreeMap<String, Values> = BTreeMap::new();
        for s in &m.statements {
            let values = out.entry(s.head()).or_default();
            for ((operator, key), vs) in &s.conditions {
                values.extend(
                    vs.iter()
                        .map(|v| (operator.clone(), key.clone(), v.clone())),
                );
            }
        }
        out
    };
    let (want_heads, have_heads) = (by_head(&want), by_head(&have));
    let mut values = Vec::new();
    let mut whole = BTreeSet::new();
    for (head, wanted) in &want_heads {
        let Some(existing) = have_heads.get(head) else {
            let statements = want.statements.iter().filter(|s| &s.head() == head);
            whole.extend(statements.flat_map(|s| s.facts()).map(|f| format!("+ {f}")));
            continue;
        };
        let changed = [
            (true, wanted.difference(existing)),
            (false, existing.difference(wanted)),
        ];
        for (added, diff) in changed {
            values.extend(diff.map(|(operator, key, value)| ValueChange {
                added,
                key: short_key(key),
                operator: operator.clone(),
                value: value.clone(),
            }));
        }
    }
    for head in have_heads.keys().filter(|h| !want_heads.contains_key(*h)) {
        let statements = have.statements.iter().filter(|s| &s.head() == head);
        whole.extend(statements.flat_map(|s| s.facts()).map(|f| format!("- {f}")));
    }
    // Removals first, as `differences` lists them.
    values.sort_by_key(|v| (v.added, v.key.clone(), v.value.clone()));
    (values, whole.into_iter().collect())
}

/// `token.actions.githubusercontent.com:sub` → `sub`; a global key such as `aws:SourceIp` stays.
fn short_key(key: &str) -> String {
    match key.rsplit_once(':') {
        Some((issuer, claim)) if issuer.contains('.') => claim.to_string(),
        _ => key.to_string(),
    }
}

/// Values of the condition keys ending in `:name` (e.g. every `sub` value) per operator, for summaries.
pub fn condition_values(doc: &Value, name: &str) -> BTreeMap<String, Vec<String>> {
    let suffix = format!(":{}", name.to_ascii_lowercase());
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let statements = Meaning::of(doc).map(|m| m.statements).unwrap_or_default();
    for s in &statements {
        for ((operator, key), values) in &s.conditions {
            if key.ends_with(&suffix) {
                out.entry(operator.clone())
                    .or_default()
                    .extend(values.iter().cloned());
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

    #[test]
    fn a_trust_difference_is_shown_value_by_value() {
        let trust = |subs: Value, extra: Value| {
            let mut equals = json!({"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                                    "token.actions.githubusercontent.com:sub": subs});
            if let (Value::Object(e), Value::Object(more)) = (&mut equals, extra) {
                e.extend(more);
            }
            json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:p"},
                "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": equals}}]})
        };
        let live = trust(
            json!(["repo:acme/app:ref:refs/heads/main"]),
            json!({"token.actions.githubusercontent.com:repository_id": "2002"}),
        );
        let desired = trust(
            json!([
                "repo:acme/app:ref:refs/heads/main",
                "repo:acme/app:ref:refs/heads/dev"
            ]),
            json!({}),
        );
        let (values, whole) = value_changes(&desired, &live);
        let lines: Vec<String> = values.iter().map(ValueChange::line).collect();
        assert_eq!(
            lines,
            [
                "- repository_id 2002",
                "+ sub repo:acme/app:ref:refs/heads/dev"
            ]
        );
        assert!(whole.is_empty());
        // Another principal is another statement: shown whole.
        let mut other = live.clone();
        other["Statement"][0]["Principal"] = json!({"AWS": "arn:aws:iam::999999999999:root"});
        let (values, whole) = value_changes(&desired, &other);
        assert!(values.is_empty());
        assert_eq!(whole.len(), 5, "{whole:?}");
        assert!(
            whole
                .iter()
                .any(|l| l.starts_with("- ") && l.contains("999999999999"))
        );
    }

    #[test]
    fn elements_and_their_not_forms_differ() {
        let doc =
            |key: &str| json!({"Statement": {"Effect": "Allow", key: "ecr:*", "Resource": "*"}});
        assert!(!equivalent(&doc("Action"), &doc("NotAction")));
        assert_eq!(
            differences(&doc("Action"), &doc("NotAction")),
            vec![
                "- Effect Allow NotAction ecr:* Resource *",
                "+ Effect Allow Action ecr:* Resource *"
            ]
        );
        let anyone = json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:*"}});
        let any_aws =
            json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:*"}});
        assert!(!equivalent(&anyone, &any_aws));
    }

    #[test]
    fn ignore_case_operators_compare_their_values_folded() {
        let doc = |operator: &str, value: &str| {
            json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:*",
                   "Condition": {operator: {"k": value}}}})
        };
        assert!(equivalent(
            &doc("StringEqualsIgnoreCase", "Main"),
            &doc("StringEqualsIgnoreCase", "main")
        ));
        assert!(!equivalent(
            &doc("StringEquals", "Main"),
            &doc("StringEquals", "main")
        ));
        assert!(!equivalent(
            &doc("StringEquals", "main"),
            &doc("StringLike", "main")
        ));
    }

    #[test]
    fn the_canonical_form_reads_back_to_itself() {
        let doc = json!({"Version": "2012-10-17", "Id": "x", "Statement": [
            {"Sid": "b", "Effect": "Deny", "NotPrincipal": {"AWS": "123456789012", "Service": []},
             "NotAction": "S3:*", "NotResource": "arn:r",
             "Condition": {"Bool": {"aws:SecureTransport": false}, "StringLike": {"A:Sub": ["y", "x"]}}},
            {"Effect": "Allow", "Action": "sts:*"}]});
        let once = normalize(&doc);
        assert_eq!(
            once,
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["sts:*"]},
                {"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::123456789012:root"]},
                 "NotAction": ["s3:*"], "NotResource": ["arn:r"],
                 "Condition": {"Bool": {"aws:securetransport": ["false"]}, "StringLike": {"a:sub": ["x", "y"]}}}]})
        );
        assert_eq!(normalize(&once), once);
        assert!(equivalent(&doc, &once));
    }

    #[test]
    fn invalid_documents_equal_only_themselves() {
        let broken = json!({"Statement": {"Effect": "Allow", "Condtion": {}}});
        assert_eq!(normalize(&broken), broken);
        assert!(equivalent(&broken, &broken.clone()));
        assert!(!equivalent(&broken, &json!({"Statement": []})));
        assert_eq!(
            differences(&json!({"Statement": []}), &broken),
            vec![format!("- not a valid policy document: {broken}")]
        );
        assert!(condition_values(&broken, "sub").is_empty());
    }

    #[test]
    fn condition_values_by_operator() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Action": "*", "Condition": {
                "StringLike": {"h:Sub": ["b*", "a*"]}, "StringEquals": {"h:sub": "c", "h:aud": "x"}}},
            {"Effect": "Allow", "Action": "*", "Condition": {"StringLike": {"other:sub": "d"}}}]});
        assert_eq!(
            condition_values(&doc, "sub"),
            BTreeMap::from([
                ("StringEquals".to_string(), vec!["c".to_string()]),
                (
                    "StringLike".to_string(),
                    vec!["a*".to_string(), "b*".to_string(), "d".to_string()]
                ),
            ])
        );
    }
}
