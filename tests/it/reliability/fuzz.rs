//! Property tests (proptest; `PROPTEST_CASES`, default 256): the policy parser and comparator,
//! the trust evaluator and the subject builder never panic, and comparison by meaning behaves
//! like an equivalence that ignores order, case of actions and condition keys, and the
//! string-versus-one-element-list spelling.
use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use skyecr_bootstrap::audit::{
    Token, TrustContext, closest_allowed_subject, evaluate, push_scope_findings, trust_findings,
};
use skyecr_bootstrap::config::TrustScopes;
use skyecr_bootstrap::policy::{
    decode_document, differences, equivalent, normalize, parse_policy, parse_policy_str,
};
use skyecr_bootstrap::resources::change::Kind;
use skyecr_bootstrap::resources::finding::Findings;
use skyecr_bootstrap::spec::{RepoIdentity, subjects};

const PROVIDER: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
const SUB: &str = "token.actions.githubusercontent.com:sub";
const AUD: &str = "token.actions.githubusercontent.com:aud";

/// Words a policy is made of, so random documents reach deep into the parser.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "Version", "2012-10-17", "Statement", "Sid", "Effect", "Allow", "Deny", "Principal",
            "NotPrincipal", "Federated", "AWS", "Service", "Action", "NotAction", "Resource",
            "NotResource", "Condition", "StringEquals", "StringLike", "StringNotEquals",
            "StringNotLike", "StringEqualsIgnoreCase", "ForAnyValue:StringLike",
            "ForAllValues:StringEquals", "StringLikeIfExists", "Null", "Bool", "*", "sts:*",
            "sts:AssumeRoleWithWebIdentity", "sts:AssumeRole", SUB, AUD, "sts.amazonaws.com",
            "repo:acme/app:*", "repo:acme/app:ref:refs/heads/main", "repo:*", "repo:acme/*",
            PROVIDER, "123456789012", "arn:aws:iam::123456789012:root", "ecr:PutImage", "ecr:*",
        ])
        .prop_map(str::to_string),
        2 => "[a-zA-Z0-9:*?/%._@{}\\[\\]\"\\\\ -]{0,24}",
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((word(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// A random statement: the usual fields, random values.
fn statement_like() -> impl Strategy<Value = Value> {
    (
        prop::option::of(word()),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        prop::option::of(prop::collection::btree_map(
            word(),
            prop::collection::btree_map(word(), json_value(), 0..3),
            0..3,
        )),
    )
        .prop_map(|(effect, principal, action, resource, condition)| {
            let mut s = Map::new();
            if let Some(e) = effect {
                s.insert("Effect".into(), json!(e));
            }
            if let Some(p) = principal {
                s.insert("Principal".into(), p);
            }
            if let Some(a) = action {
                s.insert("Action".into(), a);
            }
            if let Some(r) = resource {
                s.insert("Resource".into(), r);
            }
            if let Some(c) = condition {
                s.insert("Condition".into(), json!(c));
            }
            Value::Object(s)
        })
}

/// A random document shaped like a policy (most fields present, values random).
fn policy_like() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::vec(statement_like(), 0..4)
            .prop_map(|s| json!({"Version": "2012-10-17", "Statement": s})),
        statement_like().prop_map(|s| json!({"Version": "2012-10-17", "Statement": s})),
        json_value(),
    ]
}

/// 1-3 distinct strings from `pool`.
fn strings(pool: Vec<&'static str>) -> impl Strategy<Value = Vec<String>> {
    let most = pool.len().min(3);
    prop::sample::subsequence(pool, 1..=most)
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

/// A well-formed trust or push policy, to check that rewriting it keeps its meaning.
fn policy() -> impl Strategy<Value = Value> {
    let statement = (
        prop::sample::select(vec!["Allow", "Deny"]),
        prop::bool::ANY,
        strings(vec![
            "sts:AssumeRoleWithWebIdentity",
            "sts:TagSession",
            "sts:AssumeRole",
            "ecr:PutImage",
        ]),
        strings(vec![
            PROVIDER,
            "arn:aws:iam::123456789012:oidc-provider/other",
            "cognito-identity.amazonaws.com",
        ]),
        strings(vec![
            "*",
            "arn:aws:ecr:us-east-1:123456789012:repository/skypilot",
            "arn:aws:ecr:us-east-1:123456789012:repository/other",
        ]),
        prop::sample::select(vec!["StringEquals", "StringLike", "StringNotLike"]),
        strings(vec![
            "repo:acme/app:ref:refs/heads/main",
            "repo:acme/app:*",
            "repo:acme@1001/app@2002:ref:refs/heads/main",
            "repo:acme/app:environment:prod",
        ]),
        strings(vec!["sts.amazonaws.com", "other"]),
    )
        .prop_map(
            |(effect, trust, actions, principals, resources, op, subs, auds)| {
                let mut s = json!({"Effect": effect, "Action": actions});
                if trust {
                    s["Principal"] = json!({"Federated": principals});
                    s["Condition"] = json!({op: {SUB: subs}, "StringEquals": {AUD: auds}});
                } else {
                    s["Resource"] = json!(resources);
                }
                s
            },
        );
    prop::collection::vec(statement, 1..4)
        .prop_map(|s| json!({"Version": "2012-10-17", "Statement": s}))
}

/// Rewrites without changing the meaning: statements and set-valued lists rotated by `turn`,
/// one-element lists and plain strings swapped (`wrap`), actions and condition keys upper-cased
/// (`shout`), and a single statement written as an object.
fn rewrite(doc: &Value, turn: usize, wrap: bool, shout: bool) -> Value {
    fn set(v: &Value, turn: usize, wrap: bool, upper: bool) -> Value {
        let items: Vec<Value> = match v {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        let mut items: Vec<Value> = items
            .into_iter()
            .map(|i| match (&i, upper) {
                (Value::String(s), true) => json!(s.to_ascii_uppercase()),
                _ => i,
            })
            .collect();
        if !items.is_empty() {
            let k = turn % items.len();
            items.rotate_left(k);
        }
        match (items.len(), wrap, v.is_array()) {
            (1, true, true) => items[0].clone(),
            (1, true, false) => json!([items[0].clone()]),
            _ => Value::Array(items),
        }
    }
    let mut statements: Vec<Value> = doc["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut s| {
            if let Some(a) = s.get("Action").cloned() {
                s["Action"] = set(&a, turn, wrap, shout);
            }
            if let Some(r) = s.get("Resource").cloned() {
                s["Resource"] = set(&r, turn, wrap, false);
            }
            if let Some(Value::Object(p)) = s.get("Principal").cloned() {
                let p: Map<String, Value> = p
                    .into_iter()
                    .map(|(k, v)| (k, set(&v, turn, wrap, false)))
                    .collect();
                s["Principal"] = Value::Object(p);
            }
            if let Some(Value::Object(ops)) = s.get("Condition").cloned() {
                let ops: Map<String, Value> = ops
                    .into_iter()
                    .map(|(op, keys)| {
                        let keys: Map<String, Value> = keys
                            .as_object()
                            .cloned()
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| {
                                let k = if shout { k.to_ascii_uppercase() } else { k };
                                (k, set(&v, turn, wrap, false))
                            })
                            .collect();
                        (op, Value::Object(keys))
                    })
                    .collect();
                s["Condition"] = Value::Object(ops);
            }
            s
        })
        .collect();
    if !statements.is_empty() {
        let k = turn % statements.len();
        statements.rotate_right(k);
    }
    let statement = match (statements.len(), wrap) {
        (1, true) => statements[0].clone(),
        _ => Value::Array(statements),
    };
    json!({"Version": "2012-10-17", "Statement": statement})
}

fn token(sub: &str, aud: &str, provider: &str) -> Token {
    Token {
        provider_arn: provider.to_string(),
        claims: BTreeMap::from([
            (SUB.to_string(), sub.to_string()),
            (AUD.to_string(), aud.to_string()),
        ]),
        known: Default::default(),
    }
}

fn context() -> TrustContext {
    TrustContext {
        account_id: "123456789012".into(),
        issuer_host_path: "token.actions.githubusercontent.com".into(),
        repository: Some("acme/app".into()),
        immutable_ids: Some((1001, 2002)),
        allow_any_ref: false,
    }
}

/// Everything that reads a policy, on one document: none of it may panic.
fn read_everything(doc: &Value, sub: &str) {
    let _ = normalize(doc);
    let _ = differences(doc, &json!({}));
    if let Ok(parsed) = parse_policy(doc) {
        let t = token(sub, "sts.amazonaws.com", PROVIDER);
        let _ = evaluate(&parsed, &t);
        let _ = closest_allowed_subject(&parsed, &t, SUB);
        trust_findings(
            &parsed,
            &context(),
            &mut Findings::on(Kind::Role, "r", "fix"),
        );
        push_scope_findings(
            &parsed,
            "arn:aws:ecr:us-east-1:123456789012:repository/skypilot",
            &mut Findings::on(Kind::Policy, "p", "fix"),
        );
    }
}

/// GitHub's naming rules, written out independently of the tool: an account name is 1-39
/// ASCII letters, digits and hyphens, not starting or ending with a hyphen; a repository name
/// 1-100 ASCII letters, digits, `.`, `_` and `-`, and not `.` or `..`.
fn plain_repository(owner: &str, name: &str) -> bool {
    let owner_ok = (1..=39).contains(&owner.len())
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !owner.starts_with('-')
        && !owner.ends_with('-');
    let name_ok = (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != "..";
    owner_ok && name_ok
}

/// How a statement's meaning is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Allow becomes Deny and back.
    Effect,
    /// The subject condition's operator becomes its negation.
    Operator,
    /// Every subject replaced by another repository's.
    Subjects,
    /// The audience replaced.
    Audience,
    /// Federated with another provider.
    Provider,
    /// Exact subjects under `StringLike` with a wildcard: other refs of the repository get in.
    Widen,
    /// Another repository (push statements).
    Resource,
}

const FRESH_SUB: &str = "repo:evil/elsewhere:ref:refs/heads/main";

/// The statement with its meaning changed, or `None` when it has nothing to change.
fn change_meaning(statement: &Value, change: Change) -> Option<Value> {
    let mut s = statement.clone();
    let condition = s.get("Condition").cloned();
    let sub_operator = condition.as_ref().and_then(|c| {
        c.as_object()?
            .iter()
            .find(|(_, keys)| keys.get(SUB).is_some())
            .map(|(op, _)| op.clone())
    });
    match change {
        Change::Effect => {
            let flipped = if s["Effect"] == "Allow" {
                "Deny"
            } else {
                "Allow"
            };
            s["Effect"] = json!(flipped);
        }
        Change::Operator => {
            let op = sub_operator?;
            let negated = match op.as_str() {
                "StringEquals" => "StringNotEquals",
                "StringLike" => "StringNotLike",
                "StringNotLike" => "StringLike",
                "StringNotEquals" => "StringEquals",
                _ => return None,
            };
            let subs = s["Condition"][&op][SUB].take();
            s["Condition"][&op].as_object_mut()?.remove(SUB);
            if s["Condition"][&op]
                .as_object()
                .is_some_and(|m| m.is_empty())
            {
                s["Condition"].as_object_mut()?.remove(&op);
            }
            if s["Condition"].get(negated).is_none() {
                s["Condition"][negated] = json!({});
            }
            s["Condition"][negated][SUB] = subs;
        }
        Change::Subjects => {
            let op = sub_operator?;
            s["Condition"][&op][SUB] = json!([FRESH_SUB]);
        }
        Change::Audience => {
            let op = condition?
                .as_object()?
                .iter()
                .find(|(_, keys)| keys.get(AUD).is_some())
                .map(|(op, _)| op.clone())?;
            s["Condition"][&op][AUD] = json!(["an-audience-nobody-uses"]);
        }
        Change::Provider => {
            s.get("Principal")?;
            s["Principal"] =
                json!({"Federated": "arn:aws:iam::123456789012:oidc-provider/elsewhere.example"});
        }
        Change::Widen => {
            let op = sub_operator?;
            if op != "StringEquals" {
                return None;
            }
            let subs = s["Condition"]["StringEquals"][SUB].take();
            let widened: Vec<String> = subs
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str())
                .map(|v| match v.split_once(":ref:") {
                    Some((repo, _)) => format!("{repo}:*"),
                    None => format!("{v}*"),
                })
                .collect();
            s["Condition"]["StringEquals"].as_object_mut()?.remove(SUB);
            s["Condition"]["StringLike"] = json!({SUB: widened});
        }
        Change::Resource => {
            s.get("Resource")?;
            s["Resource"] = json!("arn:aws:ecr:us-east-1:123456789012:repository/elsewhere");
        }
    }
    Some(s)
}

/// A token of another ref of the same repository (which only a widened subject lets in).
fn widened_token(t: &Token) -> Token {
    let mut t = t.clone();
    if let Some(sub) = t.claims.get_mut(SUB) {
        *sub = match sub.split_once(":ref:") {
            Some((repo, _)) => format!("{repo}:ref:refs/heads/someone-elses-branch"),
            None => format!("{sub}-and-more"),
        };
    }
    t
}

/// An Allow statement trusting exactly one token, and that token: a provider, the audience
/// under `StringEquals`, the subjects under `StringEquals` or `StringLike` (then with a
/// wildcard), and the action.
fn trusting_statement() -> impl Strategy<Value = (Value, Token)> {
    (
        strings(vec![
            PROVIDER,
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com/acme",
        ]),
        prop::bool::ANY,
        strings(vec![
            "repo:acme/app:ref:refs/heads/main",
            "repo:acme@1001/app@2002:ref:refs/heads/main",
            "repo:acme/app:environment:prod",
            "repo:acme/app:ref:refs/tags/v1",
        ]),
        strings(vec!["sts.amazonaws.com", "other"]),
        0usize..3,
    )
        .prop_map(|(providers, like, subs, auds, pick)| {
            let sub = subs[pick % subs.len()].clone();
            let (op, values): (&str, Vec<String>) = if like {
                // A wildcard that still matches the token's subject.
                let wild = match sub.split_once(":ref:") {
                    Some((repo, _)) => format!("{repo}:ref:*"),
                    None => format!("{sub}*"),
                };
                ("StringLike", vec![wild])
            } else {
                ("StringEquals", subs.clone())
            };
            let mut condition = json!({"StringEquals": {AUD: auds}});
            condition[op][SUB] = json!(values);
            let statement = json!({
                "Effect": "Allow",
                "Principal": {"Federated": providers},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            });
            let token = token(&sub, &auds[0], &providers[0]);
            (statement, token)
        })
}

proptest! {
    #[test]
    fn reading_any_document_never_panics(doc in policy_like(), sub in word()) {
        read_everything(&doc, &sub);
    }

    #[test]
    fn decoding_any_text_never_panics(text in prop_oneof![
        any::<String>(),
        "(%[0-9A-Fa-f]{0,2}|[{}\\[\\]\":,a-z0-9+ ]){0,60}",
        json_value().prop_map(|v| v.to_string()),
        json_value().prop_map(|v| percent_encoding::utf8_percent_encode(&v.to_string(), percent_encoding::NON_ALPHANUMERIC).to_string()),
    ]) {
        if let Ok(doc) = decode_document(&text) {
            read_everything(&doc, "repo:acme/app:ref:refs/heads/main");
        }
        let _ = parse_policy_str(&text);
    }

    #[test]
    fn a_trust_statement_with_another_meaning_is_not_equivalent_and_decides_otherwise(
        (statement, token) in trusting_statement(),
        change in prop::sample::select(vec![
            Change::Effect, Change::Operator, Change::Subjects, Change::Audience,
            Change::Provider, Change::Widen,
        ]),
    ) {
        let doc = json!({"Version": "2012-10-17", "Statement": [statement.clone()]});
        let Some(changed) = change_meaning(&statement, change) else {
            return Ok(());
        };
        let other = json!({"Version": "2012-10-17", "Statement": [changed]});
        prop_assert!(!equivalent(&doc, &other), "{:?}: {} ~ {}", change, doc, other);
        prop_assert!(!equivalent(&other, &doc));
        prop_assert!(!differences(&doc, &other).is_empty());
        let (a, b) = (parse_policy(&doc), parse_policy(&other));
        prop_assert!(a.is_ok() && b.is_ok(), "{:?} {:?}", a.err(), b.err());
        if let (Ok(a), Ok(b)) = (a, b) {
            // The statement was built to trust `token`, and the change decides it otherwise.
            prop_assert!(evaluate(&a, &token).allowed, "{} does not allow {:?}", doc, token.claims);
            let probe = match change {
                // A widened subject lets in a token the exact one refused.
                Change::Widen => widened_token(&token),
                _ => token.clone(),
            };
            prop_assert_ne!(
                evaluate(&a, &probe).allowed,
                evaluate(&b, &probe).allowed,
                "{:?}: {} and {} decide {:?} alike", change, doc, other, probe.claims
            );
        }
    }

    #[test]
    fn a_policy_with_a_statement_changed_in_meaning_is_not_equivalent(
        doc in policy(),
        index in 0usize..4,
        // Changes to values no other statement holds, so the changed statement cannot turn
        // into a copy of another one.
        change in prop::sample::select(vec![Change::Subjects, Change::Resource, Change::Audience]),
    ) {
        let mut statements = doc["Statement"].as_array().cloned().unwrap_or_default();
        let i = index % statements.len();
        let Some(changed) = change_meaning(&statements[i], change) else {
            return Ok(());
        };
        statements[i] = changed;
        let other = json!({"Version": "2012-10-17", "Statement": statements});
        prop_assert!(!equivalent(&doc, &other), "{:?}: {} ~ {}", change, doc, other);
        prop_assert!(!differences(&doc, &other).is_empty());
    }

    #[test]
    fn normalizing_is_idempotent(doc in policy_like()) {
        let once = normalize(&doc);
        prop_assert_eq!(normalize(&once), once.clone());
        prop_assert!(equivalent(&doc, &once));
    }

    #[test]
    fn rewriting_order_case_and_wrapping_keeps_the_meaning(
        doc in policy(),
        turn in 0usize..4,
        wrap in any::<bool>(),
        shout in any::<bool>(),
        sub in prop::sample::select(vec![
            "repo:acme/app:ref:refs/heads/main",
            "repo:acme/app:ref:refs/heads/dev",
            "repo:acme/app:environment:prod",
            "repo:acme@1001/app@2002:ref:refs/heads/main",
            "repo:other/app:ref:refs/heads/main",
        ]),
        aud in prop::sample::select(vec!["sts.amazonaws.com", "other"]),
    ) {
        let other = rewrite(&doc, turn, wrap, shout);
        prop_assert!(equivalent(&doc, &other), "{} vs {}", doc, other);
        prop_assert!(equivalent(&other, &doc));
        prop_assert_eq!(normalize(&doc), normalize(&other));
        prop_assert!(differences(&doc, &other).is_empty());
        // The evaluator agrees with the comparator: same meaning, same decision.
        let (a, b) = (parse_policy(&doc), parse_policy(&other));
        prop_assert_eq!(a.is_ok(), b.is_ok());
        if let (Ok(a), Ok(b)) = (a, b) {
            let t = token(sub, aud, PROVIDER);
            prop_assert_eq!(evaluate(&a, &t).allowed, evaluate(&b, &t).allowed);
        }
    }

    #[test]
    fn the_subject_builder_never_widens_to_other_repositories(
        owner in prop_oneof![
            3 => "[a-z0-9][a-z0-9-]{0,8}[a-z0-9]",
            1 => prop::sample::select(vec!["*", "acme*", "a:b", "", "-acme", "аcme", "acme/x", "a?", ".."]).prop_map(String::from),
            1 => any::<String>(),
        ],
        name in prop_oneof![
            3 => "[a-zA-Z0-9._-]{1,12}",
            1 => prop::sample::select(vec!["*", "app*", "app:x", "", "..", "app/..", "a?"]).prop_map(String::from),
            1 => any::<String>(),
        ],
        ids in prop::option::of((1u64..u64::MAX, 1u64..u64::MAX)),
        branches in prop::collection::vec(word(), 0..3),
        tags in prop::collection::vec(word(), 0..3),
        environments in prop::collection::vec(word(), 0..3),
        any_ref in any::<bool>(),
        template in prop::option::of(prop::collection::vec(prop::sample::select(vec![
            "repo", "repository", "repository_owner", "repository_owner_id", "repository_id",
            "context", "ref", "environment", "workflow", "job_workflow_ref", "actor",
        ]).prop_map(String::from), 0..5)),
    ) {
        let repo = RepoIdentity { owner: owner.clone(), name: name.clone(), ids };
        let scopes = TrustScopes { branches, tags, environments, any_ref };
        let Ok(subs) = subjects(&repo, &scopes, template.as_deref()) else {
            return Ok(());
        };
        // Only a plain OWNER/REPO (no wildcard, `:` or path) ever reaches a subject, by
        // GitHub's own naming rules written out here (not the tool's check).
        prop_assert!(plain_repository(&owner, &name), "{owner}/{name} gave {subs:?}");
        let plain = format!("repo:{owner}/{name}");
        let pinned = ids.map(|(o, r)| format!("repo:{owner}@{o}/{name}@{r}"));
        for sub in &subs {
            let wildcard = format!("repo:{owner}/*");
            prop_assert!(!sub.starts_with("repo:*") && !sub.contains(&wildcard), "{}", sub);
            match &template {
                None => prop_assert!(
                    sub.starts_with(&format!("{plain}:"))
                        || pinned.as_ref().is_some_and(|p| sub.starts_with(&format!("{p}:"))),
                    "{sub} does not start with the repository"
                ),
                Some(keys) => {
                    let names_repo = (keys.iter().any(|k| k == "repo") && sub.contains(&plain))
                        || (keys.iter().any(|k| k == "repository")
                            && sub.contains(&format!("repository:{owner}/{name}")))
                        || (keys.iter().any(|k| k == "repository_id")
                            && ids.is_some_and(|(_, r)| sub.contains(&format!("repository_id:{r}"))));
                    prop_assert!(names_repo, "{sub} does not pin {owner}/{name} ({keys:?})");
                }
            }
        }
    }
}
