//! Issue: deliver to GitHub (sealed-box secret, variables, subjects GitHub really issues).
use serde_json::{Value, json};

use crate::support::{ACCOUNT, REPO, World};

fn role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/GitHubActions-SkyPilot-ECR")
}

const ROLE: &str = "GitHubActions-SkyPilot-ECR";

/// The `Condition` block of the role's (only) statement, as IAM holds it, decoded here.
fn condition(w: &World) -> Value {
    let trust = w.trust_policy(ROLE);
    assert_eq!(
        trust["Statement"].as_array().map(Vec::len),
        Some(1),
        "{trust:#}"
    );
    trust["Statement"][0]["Condition"].clone()
}

/// The whole `Condition` block that trusts exactly `subjects`, operators included, as written
/// out by hand: the audience, the seeded repository's ID pins and the subjects, all under
/// `StringEquals`.
fn exact_subjects(subjects: &[&str]) -> Value {
    json!({"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:repository_id": "2002",
        "token.actions.githubusercontent.com:repository_owner_id": "1001",
        "token.actions.githubusercontent.com:sub": subjects,
    }})
}

fn aws_writes(w: &World) -> Vec<String> {
    w.writes()
        .into_iter()
        .filter(|a| a.starts_with("aws"))
        .collect()
}

fn token(w: &World, token: &str, permissions: Value, repos: Value) {
    w.post(
        &format!("{}/_standin/tokens", w.github),
        json!({"token": token, "permissions": permissions, "repos": repos}),
    );
}

#[test]
fn fresh_apply_delivers_the_role_arn_sealed_and_the_variables() {
    let w = World::start();
    w.apply(&[]).success();
    let state = w.github_state();
    assert_eq!(
        state["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        json!(role_arn()),
        "decrypted secret"
    );
    assert_eq!(state["variables"]["AWS_REGION"]["value"], "us-east-1");
    assert_eq!(state["variables"]["ECR_REPOSITORY"]["value"], "skypilot");
    assert_eq!(
        condition(&w),
        exact_subjects(&[
            "repo:acme/app:ref:refs/heads/main",
            "repo:acme@1001/app@2002:ref:refs/heads/main"
        ])
    );

    w.clear_requests();
    let rerun = w.apply(&[]);
    rerun.success();
    assert_eq!(
        w.writes(),
        Vec::<String>::new(),
        "rerun must write nothing to AWS or GitHub"
    );
}

/// GitHub rotates the secrets key between the tool's read of it and its write: the write
/// answers 422, the tool reads the key again and writes with the new one.
#[test]
fn a_key_rotated_mid_run_is_read_again_and_the_secret_written_with_it() {
    let w = World::start();
    w.apply(&[]).success();
    let before = w.github_state()["secrets"]["AWS_ECR_ROLE_ARN"]["key_id"].clone();
    // The world rotates the key when the first PUT of the secret arrives, before answering it.
    w.github_faults(
        json!([{"method": "PUT", "path_regex": "/actions/secrets/AWS_ECR_ROLE_ARN$",
                            "rotate_key": true, "times": 1}]),
    );
    w.clear_requests();
    w.apply(&["--force-secrets"]).success();
    let fired = w.get(&format!("{}/_standin/faults", w.github));
    assert_eq!(fired[0]["hits"], 1, "the key was never rotated: {fired}");
    let calls: Vec<(String, u64)> = w
        .requests()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.contains("/actions/secrets/"))
        })
        .map(|r| {
            (
                r["action"].as_str().unwrap_or_default().to_string(),
                r["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let put = "PUT /repos/acme/app/actions/secrets/AWS_ECR_ROLE_ARN".to_string();
    let key = "GET /repos/acme/app/actions/secrets/public-key".to_string();
    let stale = calls.iter().position(|c| *c == (put.clone(), 422));
    let reread = calls.iter().rposition(|c| *c == (key.clone(), 200));
    let written = calls.iter().rposition(|c| *c == (put.clone(), 204));
    assert!(
        matches!((stale, reread, written), (Some(a), Some(b), Some(c)) if a < b && b < c),
        "expected the PUT refused with 422, the key read again, the PUT accepted: {calls:?}"
    );
    let state = w.github_state();
    assert_eq!(
        state["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        json!(role_arn())
    );
    assert_ne!(
        state["secrets"]["AWS_ECR_ROLE_ARN"]["key_id"], before,
        "written with the new key"
    );
    assert_eq!(aws_writes(&w), Vec::<String>::new());
}

#[test]
fn a_secret_overwritten_by_hand_is_planned_and_restored() {
    let w = World::start();
    w.apply(&[]).success();
    // Someone overwrites the secret by hand, a second after the tool wrote it (GitHub's
    // timestamps have whole seconds: the stand-in's clock moves on instead of the test waiting).
    w.post(
        &format!("{}/_standin/clock", w.github),
        json!({"advance_s": 1}),
    );
    w.post(
        &format!("{}/_standin/repos/{REPO}/seed", w.github),
        json!({"secrets": {"AWS_ECR_ROLE_ARN": "arn:aws:iam::999999999999:role/evil"}}),
    );
    let plan = w.plan_json(&[]);
    assert_eq!(plan["changes"][0]["resource"], "secret", "{plan}");
    w.apply(&[]).success();
    assert_eq!(
        w.github_state()["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        json!(role_arn())
    );
}

#[test]
fn github_failures_are_explained_and_an_unknown_repository_writes_nothing() {
    let w = World::start();
    w.clear_requests();

    let bad = w
        .cmd()
        .env("GITHUB_TOKEN", "ghp_wrong")
        .args(["apply", "--yes", "--github-repo", REPO, "--branch", "main"])
        .run();
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("rejected the token"), "{}", bad.stderr);

    let unknown = w
        .cmd()
        .args([
            "apply",
            "--yes",
            "--github-repo",
            "acme/nope",
            "--branch",
            "main",
        ])
        .run();
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stderr
            .contains("not found, or this token cannot see it"),
        "{}",
        unknown.stderr
    );

    assert!(
        aws_writes(&w).is_empty(),
        "no AWS write before GitHub access is proven"
    );

    // A token that can read but not write: AWS is applied, GitHub fails with the permission
    // to grant, and the rerun with a good token finishes the job.
    token(
        &w,
        "ghp_readonly",
        json!({"metadata": "read", "actions": "read", "secrets": "read", "variables": "read"}),
        json!(null),
    );
    let denied = w
        .cmd()
        .env("GITHUB_TOKEN", "ghp_readonly")
        .args(["apply", "--yes", "--github-repo", REPO, "--branch", "main"])
        .run();
    assert_eq!(denied.code, 1);
    assert!(
        denied.stderr.contains("lacks a permission") && denied.stderr.contains("=write`"),
        "{}",
        denied.stderr
    );

    let none = w
        .cmd()
        .env_remove("GITHUB_TOKEN")
        .args(["plan", "--github-repo", REPO, "--branch", "main"])
        .run();
    assert_eq!(none.code, 1);
    assert!(
        none.stderr.contains("GITHUB_TOKEN") && none.stderr.contains("gh auth login"),
        "{}",
        none.stderr
    );

    w.apply(&[]).success();
    assert_eq!(
        w.github_state()["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        json!(role_arn())
    );
}

#[test]
fn server_errors_and_short_rate_limits_are_retried() {
    let w = World::start();
    w.github_faults(json!([
        {"method": "GET", "path_regex": "^/repos/acme/app$", "status": 502, "times": 2},
        {"method": "PUT", "path_regex": "/actions/secrets/AWS_ECR_ROLE_ARN$", "rate_limit": true, "reset_in": 1, "times": 1}
    ]));
    w.apply(&[]).success();
    w.assert_fault_hits(&[2, 1]);
    assert_eq!(
        w.github_state()["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        json!(role_arn())
    );
}

#[test]
fn a_long_rate_limit_stops_with_when_to_retry_and_the_rerun_finishes() {
    let w = World::start();
    w.github_faults(json!([{"method": "PUT", "path_regex": "/actions/secrets/", "rate_limit": true, "reset_in": 3600, "times": 1}]));
    let out = w.apply(&[]);
    assert_eq!(out.code, 1);
    w.assert_fault_hits(&[1]);
    assert!(
        out.stderr.contains("rate limit") && out.stderr.contains("rerun"),
        "{}",
        out.stderr
    );
    w.apply(&[]).success();
    assert_eq!(
        w.github_state()["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        json!(role_arn())
    );
}

#[test]
fn environment_scope_writes_the_secret_into_the_environment() {
    let w = World::start();
    w.cmd()
        .args([
            "apply",
            "--yes",
            "--github-repo",
            REPO,
            "--environment",
            "prod",
            "--secret-scope",
            "environment",
        ])
        .run()
        .success();
    let state = w.github_state();
    assert_eq!(
        state["environments"]["prod"]["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        json!(role_arn())
    );
    assert!(
        state["secrets"].get("AWS_ECR_ROLE_ARN").is_none(),
        "not at repository level"
    );
    assert_eq!(
        condition(&w),
        exact_subjects(&[
            "repo:acme/app:environment:prod",
            "repo:acme@1001/app@2002:environment:prod"
        ])
    );
}

#[test]
fn a_custom_subject_template_shapes_the_subjects() {
    let w = World::start();
    w.post(
        &format!("{}/_standin/repos/{REPO}/seed", w.github),
        json!({"oidc_sub": {"use_default": false, "include_claim_keys": ["repository_owner_id", "repository_id", "context"]}}),
    );
    w.apply(&[]).success();
    assert_eq!(
        condition(&w),
        exact_subjects(&["repository_owner_id:1001:repository_id:2002:ref:refs/heads/main"])
    );

    w.post(
        &format!("{}/_standin/repos/{REPO}/seed", w.github),
        json!({"oidc_sub": {"use_default": false, "include_claim_keys": ["actor", "context"]}}),
    );
    let refused = w.apply(&[]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("no repository claim"),
        "{}",
        refused.stderr
    );
}
