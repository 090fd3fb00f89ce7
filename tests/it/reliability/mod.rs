//! Issue: reliability and security under faults and hostile input (docs/reliability.md).
//!
//! Every fault test compares the end state with the state a clean `apply` leaves, through
//! `snapshot`: everything the tool manages in AWS and GitHub, read straight from moto and the
//! stand-in and decoded here (not with the tool's own parser or normaliser). Of the key
//! material of access-key mode only the delivered pair is replaced, and only once it is proven
//! to be the newest pair IAM issued, with the secret IAM issued for it.
use serde_json::{Value, json};
use sha2::Digest;

use crate::support::{Output, REPO, World, decode_policy as decode};

mod crash;
mod faults;
mod fuzz;
mod hostile;
mod least_privilege;
mod world;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Oidc,
    AccessKey,
}

impl Mode {
    pub fn args(self) -> Vec<&'static str> {
        match self {
            // Explicit, since apply remembers the last mode in the settings file.
            Mode::Oidc => vec!["--github-repo", REPO, "--auth", "oidc", "--branch", "main"],
            Mode::AccessKey => vec!["--github-repo", REPO, "--auth", "access-key"],
        }
    }

    pub fn apply(self, w: &World) -> Output {
        w.cmd().args(["apply", "--yes"]).args(self.args()).run()
    }

    pub fn plan_changes(self, w: &World) -> Value {
        let out = w
            .cmd()
            .args(["plan", "--output", "json"])
            .args(self.args())
            .run();
        out.success();
        out.json()["changes"].clone()
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Arrays in a stable order (the only liberty taken: IAM keeps the order it was given, and
/// two runs may write statements or values in a different order). Spelling is kept: a string
/// is not a one-element list, `StringLike` is not `StringEquals`, case is kept.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(canonical).collect();
            items.sort_by_key(|i| i.to_string());
            Value::Array(items)
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        other => other.clone(),
    }
}

/// The fingerprint variable's value for a secret holding `value`, computed here.
fn sha256_of(value: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(value.as_bytes()))
    )
}

/// Everything the tool manages, read straight from moto and the stand-in (not recorded):
/// equal snapshots mean the same resources, documents, attachments, secrets and variables,
/// no duplicate and no orphan.
///
/// In access-key mode the user must hold exactly one key: of the pairs IAM issued, the newest
/// one that still exists, whose ID and secret (as IAM issued them, which moto does not check
/// when signing) are the ones GitHub holds. Only then are the two secrets shown as placeholders. Variables are never
/// replaced by a placeholder: the delivery record shows as the delivered key ID and a
/// fingerprint as the fingerprint of its secret only when they are exactly that, and no
/// variable may hold any secret IAM ever issued.
pub fn snapshot(w: &World) -> Value {
    let iam = w.iam();
    let ecr = w.ecr();
    let mut providers = Vec::new();
    let list = w
        .block_on(iam.list_open_id_connect_providers().send())
        .unwrap();
    for p in list.open_id_connect_provider_list() {
        let arn = p.arn().unwrap_or_default();
        let got = w
            .block_on(
                iam.get_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .send(),
            )
            .unwrap();
        providers.push(json!({"arn": arn, "client_ids": sorted(got.client_id_list().to_vec())}));
    }
    let mut roles = Vec::new();
    for r in w.block_on(iam.list_roles().send()).unwrap().roles() {
        let attached = w
            .block_on(
                iam.list_attached_role_policies()
                    .role_name(r.role_name())
                    .send(),
            )
            .unwrap();
        let trust = canonical(&decode(r.assume_role_policy_document().unwrap_or_default()));
        roles.push(json!({
            "name": r.role_name(),
            "trust": trust,
            "attached": sorted(attached.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect()),
        }));
    }
    let mut policies = Vec::new();
    let local = w
        .block_on(
            iam.list_policies()
                .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                .send(),
        )
        .unwrap();
    for p in local.policies() {
        let arn = p.arn().unwrap_or_default();
        let versions = w
            .block_on(iam.list_policy_versions().policy_arn(arn).send())
            .unwrap();
        let default = p.default_version_id().unwrap_or_default();
        let doc = w
            .block_on(
                iam.get_policy_version()
                    .policy_arn(arn)
                    .version_id(default)
                    .send(),
            )
            .unwrap();
        let document = canonical(&decode(
            doc.policy_version()
                .and_then(|v| v.document())
                .unwrap_or_default(),
        ));
        policies.push(json!({
            "name": p.policy_name(),
            "versions": versions.versions().len(),
            "document": document,
        }));
    }
    let state = w.github_state();
    let delivered_id = state["secrets"]["AWS_ACCESS_KEY_ID"]["value"]
        .as_str()
        .map(str::to_string);
    let delivered_secret = state["secrets"]["AWS_SECRET_ACCESS_KEY"]["value"]
        .as_str()
        .map(str::to_string);
    let issued = w.issued_keys();
    // The delivered pair, once proven: (user, key ID).
    let mut proven: Option<(String, String)> = None;
    let mut users = Vec::new();
    for u in w.block_on(iam.list_users().send()).unwrap().users() {
        let name = u.user_name();
        let attached = w
            .block_on(iam.list_attached_user_policies().user_name(name).send())
            .unwrap();
        let keys: Vec<String> = w
            .block_on(iam.list_access_keys().user_name(name).send())
            .unwrap()
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id().map(str::to_string))
            .collect();
        // The newest of the user's keys that still exist (a later one may have been made and
        // deleted again, e.g. by a run that never delivered it).
        let newest = issued
            .iter()
            .rfind(|k| k.user == name && keys.contains(&k.id));
        let keys_shown: Vec<String> = keys
            .iter()
            .map(|k| {
                let is_newest = newest.is_some_and(|n| &n.id == k);
                let held = Some(k) == delivered_id.as_ref();
                let secret_matches = newest
                    .is_some_and(|n| &n.id == k && Some(&n.secret) == delivered_secret.as_ref());
                let signs = held
                    && w.caller_with(k, delivered_secret.as_deref().unwrap_or_default())
                        .is_some_and(|arn| arn.ends_with(&format!(":user/{name}")));
                match (is_newest, held, secret_matches, signs) {
                    (true, true, true, true) => {
                        proven = Some((name.to_string(), k.clone()));
                        "<the delivered key: the newest that exists, with the secret IAM issued for it, working>"
                            .to_string()
                    }
                    (_, true, false, _) => format!(
                        "<{k}: GitHub holds it with a secret IAM did not issue for it{}>",
                        if is_newest {
                            ""
                        } else {
                            ", and it is not the newest key"
                        }
                    ),
                    (false, true, true, _) => format!("<{k}: delivered, but not the newest key>"),
                    (_, true, true, false) => format!("<{k}: delivered, but does not sign>"),
                    (_, false, _, _) => format!("<a key GitHub does not hold: {k}>"),
                }
            })
            .collect();
        users.push(json!({
            "name": name,
            "attached": sorted(attached.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect()),
            "keys": keys_shown,
        }));
    }
    let mut repositories = Vec::new();
    for r in w
        .block_on(ecr.describe_repositories().send())
        .unwrap()
        .repositories()
    {
        repositories.push(json!({
            "name": r.repository_name(),
            "scan_on_push": r.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
            "encryption": r.encryption_configuration().map(|e| e.encryption_type().as_str().to_string()),
            "tag_mutability": r.image_tag_mutability().map(|m| m.as_str().to_string()),
        }));
    }
    // No variable may hold a secret IAM issued, in this run or any before.
    let all_variables = std::iter::once(&state["variables"]).chain(
        state["environments"]
            .as_object()
            .into_iter()
            .flat_map(|envs| envs.values().map(|e| &e["variables"])),
    );
    for section in all_variables {
        for (name, item) in section.as_object().into_iter().flatten() {
            let value = item["value"].as_str().unwrap_or_default();
            for k in &issued {
                assert!(
                    !value.contains(&k.secret),
                    "GitHub variable {name} holds the secret of access key {}",
                    k.id
                );
            }
        }
    }
    let proven_id = proven.map(|(_, id)| id);
    let secret_value = |name: &str, v: &Value| -> Value {
        let s = v.as_str().unwrap_or_default();
        match (name, &proven_id) {
            ("AWS_ACCESS_KEY_ID", Some(id)) if s == id => json!("<delivered key id>"),
            ("AWS_SECRET_ACCESS_KEY", Some(_)) if Some(s) == delivered_secret.as_deref() => {
                json!("<delivered secret>")
            }
            ("AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY", _) => {
                json!(format!("<not a proven pair: {} chars>", s.len()))
            }
            _ => v.clone(),
        }
    };
    let values = |section: &Value, secrets: &Value, is_secret: bool| -> Value {
        let mut out = serde_json::Map::new();
        for (name, item) in section.as_object().into_iter().flatten() {
            let v = &item["value"];
            let shown = if is_secret {
                secret_value(name, v)
            } else {
                let s = v.as_str().unwrap_or_default();
                let fingerprinted = name
                    .strip_prefix("SKYECR_SHA256_")
                    .and_then(|secret| secrets[secret]["value"].as_str().map(|x| (secret, x)));
                match (name.as_str(), fingerprinted, &proven_id) {
                    ("SKYECR_ACCESS_KEY_ID", _, Some(id)) if s == id => json!("<delivered key id>"),
                    (_, Some((secret, plain)), _) if s == sha256_of(plain) => {
                        json!(format!("<sha256 of secret {secret}>"))
                    }
                    _ => v.clone(),
                }
            };
            out.insert(name.clone(), shown);
        }
        Value::Object(out)
    };
    let mut environments = serde_json::Map::new();
    if let Some(envs) = state["environments"].as_object() {
        for (name, env) in envs {
            environments.insert(
                name.clone(),
                json!({"secrets": values(&env["secrets"], &env["secrets"], true),
                       "variables": values(&env["variables"], &env["secrets"], false)}),
            );
        }
    }
    json!({
        "oidc_providers": providers,
        "roles": roles,
        "policies": policies,
        "users": users,
        "repositories": repositories,
        "github": {
            "secrets": values(&state["secrets"], &state["secrets"], true),
            "variables": values(&state["variables"], &state["secrets"], false),
            "environments": environments,
        },
    })
}

/// The state a clean `apply` leaves in an empty world (the world is reset first and after).
pub fn clean_state(w: &World, mode: Mode) -> Value {
    w.reset();
    mode.apply(w).success();
    let s = snapshot(w);
    assert_delivered(&s, mode);
    w.reset();
    s
}

/// In access-key mode, the state holds exactly one key, proven to be the delivered one.
#[track_caller]
pub fn assert_delivered(state: &Value, mode: Mode) {
    if mode == Mode::AccessKey {
        assert_eq!(
            state["users"][0]["keys"],
            json!([
                "<the delivered key: the newest that exists, with the secret IAM issued for it, working>"
            ]),
            "{state:#}"
        );
        assert_eq!(
            state["github"]["secrets"]["AWS_SECRET_ACCESS_KEY"],
            "<delivered secret>"
        );
    }
}

/// The end state equals a clean apply's, and a further `plan` has nothing to change.
#[track_caller]
pub fn assert_converged(w: &World, mode: Mode, clean: &Value, context: &str) {
    let now = snapshot(w);
    assert!(
        &now == clean,
        "{context}: the state differs from a clean apply's\nnow:   {now:#}\nclean: {clean:#}"
    );
    assert_eq!(
        mode.plan_changes(w),
        json!([]),
        "{context}: plan still has changes"
    );
}

/// A failed run: exit 1, a message, never a panic.
#[track_caller]
pub fn assert_clean_failure(out: &Output, context: &str) {
    assert_eq!(
        out.code, 1,
        "{context}: expected exit 1\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr.contains("error:"),
        "{context}: no error message\n{}",
        out.stderr
    );
    assert_no_panic(out, context);
}

#[track_caller]
pub fn assert_no_panic(out: &Output, context: &str) {
    assert!(
        !out.stderr.contains("panicked") && out.code != 101,
        "{context}: the tool panicked\n{}",
        out.stderr
    );
}

/// One write the world saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub protocol: String,
    pub action: String,
    pub method: String,
    pub path: String,
    /// The `name` of a GitHub request's JSON body (a variable being created).
    pub name: Option<String>,
}

/// The writes the world saw since the last clear, in order.
pub fn write_log(w: &World) -> Vec<Logged> {
    w.requests()
        .into_iter()
        .filter(|r| r["mutating"].as_bool() == Some(true))
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            Logged {
                protocol: s("protocol"),
                action: s("action"),
                method: s("method"),
                path: s("path"),
                name: r["name"].as_str().map(str::to_string),
            }
        })
        .collect()
}
