//! Issue: reliability and security under faults and hostile input (docs/reliability.md).
//!
//! Every fault test compares the end state with the state a clean `apply` leaves, through
//! `snapshot`: everything the tool manages in AWS and GitHub, with the key material of
//! access-key mode replaced by a check that GitHub holds the one working key.
use serde_json::{Value, json};

use crate::support::{Output, REPO, World};
use skyecr_bootstrap::policy::{decode_document, normalize};

mod crash;
mod faults;
mod fuzz;
mod hostile;
mod least_privilege;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Oidc,
    AccessKey,
}

impl Mode {
    pub fn args(self) -> Vec<&'static str> {
        match self {
            Mode::Oidc => vec!["--github-repo", REPO, "--branch", "main"],
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

/// Everything the tool manages, read straight from moto and the stand-in (not recorded):
/// equal snapshots mean the same resources, documents, attachments, secrets and variables,
/// no duplicate and no orphan. In access-key mode the user must hold exactly one key, the one
/// GitHub holds, and the delivered pair must work; its values then show as placeholders.
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
        let trust = decode_document(r.assume_role_policy_document().unwrap_or_default())
            .map(|d| normalize(&d))
            .unwrap_or(Value::Null);
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
        let document = decode_document(
            doc.policy_version()
                .and_then(|v| v.document())
                .unwrap_or_default(),
        )
        .map(|d| normalize(&d))
        .unwrap_or(Value::Null);
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
        // The one key, delivered: GitHub holds it and it signs as the user.
        let keys_shown: Vec<String> = keys
            .iter()
            .map(|k| {
                if Some(k) == delivered_id.as_ref()
                    && w.caller_with(k, delivered_secret.as_deref().unwrap_or_default())
                        .is_some_and(|arn| arn.ends_with(&format!(":user/{name}")))
                {
                    "<the delivered key, working>".to_string()
                } else {
                    format!("<a key GitHub does not hold: {k}>")
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
    let hide = |v: &Value| -> Value {
        let s = v.as_str().unwrap_or_default();
        if Some(s) == delivered_id.as_deref() {
            json!("<delivered key id>")
        } else if Some(s) == delivered_secret.as_deref() {
            json!("<delivered secret>")
        } else {
            v.clone()
        }
    };
    let values = |section: &Value| -> Value {
        let mut out = serde_json::Map::new();
        if let Some(map) = section.as_object() {
            for (name, item) in map {
                out.insert(name.clone(), hide(&item["value"]));
            }
        }
        Value::Object(out)
    };
    let mut environments = serde_json::Map::new();
    if let Some(envs) = state["environments"].as_object() {
        for (name, env) in envs {
            environments.insert(
                name.clone(),
                json!({"secrets": values(&env["secrets"]), "variables": values(&env["variables"])}),
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
            "secrets": values(&state["secrets"]),
            "variables": values(&state["variables"]),
            "environments": environments,
        },
    })
}

/// The state a clean `apply` leaves in an empty world (the world is reset first and after).
pub fn clean_state(w: &World, mode: Mode) -> Value {
    w.reset();
    mode.apply(w).success();
    let s = snapshot(w);
    w.reset();
    s
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

/// The writes the world saw since the last clear: `(protocol, action, method, path)`.
pub fn write_log(w: &World) -> Vec<(String, String, String, String)> {
    w.requests()
        .into_iter()
        .filter(|r| r["mutating"].as_bool() == Some(true))
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("protocol"), s("action"), s("method"), s("path"))
        })
        .collect()
}
