//! check-access for any token: a claims file (or stdin), a bare subject, a session name, and
//! `undetermined` (exit 3) where IAM's answer depends on what the tool cannot know.
use std::io::Write;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::{ACCOUNT, REPO, World};

const ROLE: &str = "GitHubActions-SkyPilot-ECR";
const I: &str = "token.actions.githubusercontent.com";

fn provider_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{I}")
}

fn set_trust(w: &World, conditions: Value) {
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider_arn()}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": conditions}]});
    w.block_on(
        w.iam()
            .update_assume_role_policy()
            .role_name(ROLE)
            .policy_document(doc.to_string())
            .send(),
    )
    .unwrap();
}

/// The claims GitHub's OIDC debugger prints for a push to main of acme/app.
fn main_push() -> Value {
    json!({
        "sub": "repo:acme/app:ref:refs/heads/main",
        "aud": "sts.amazonaws.com",
        "repository": "acme/app",
        "repository_id": "2002",
        "repository_owner": "acme",
        "repository_owner_id": "1001",
        "ref": "refs/heads/main",
        "event_name": "push",
        "job_workflow_ref": "acme/app/.github/workflows/build.yml@refs/heads/main",
        "actor": "octocat"
    })
}

fn with_claims(w: &World, claims: &Value, extra: &[&str]) -> (i32, Value) {
    let file = w.dir.path().join("claims.json");
    std::fs::write(&file, claims.to_string()).unwrap();
    let out = w
        .cmd()
        .args([
            "check-access",
            "--output",
            "json",
            "--github-repo",
            REPO,
            "--claims",
        ])
        .args([file.to_str().unwrap()])
        .args(extra.iter())
        .run();
    (out.code, out.json())
}

#[test]
fn a_tokens_claims_get_iams_answer() {
    let w = World::start();
    w.apply(&[]).success();

    // The generated trust (IDs pinned) admits the real token of a push to main.
    let (code, answer) = with_claims(&w, &main_push(), &[]);
    assert_eq!(
        (code, answer["result"].clone()),
        (0, json!("allowed")),
        "{answer}"
    );

    // The same token from another repository that took over the name: IDs differ.
    let mut impostor = main_push();
    impostor["repository_id"] = json!("9999");
    let (code, answer) = with_claims(&w, &impostor, &[]);
    assert_eq!(
        (code, answer["result"].clone()),
        (2, json!("denied")),
        "{answer}"
    );

    // A token without aud fails the aud condition, as IAM would.
    let mut no_aud = main_push();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(with_claims(&w, &no_aud, &[]).0, 2);

    // Stdin works like a file.
    let mut child = w
        .cmd()
        .args(["check-access", "--github-repo", REPO, "--claims", "-"])
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(main_push().to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Result: allowed"));
}

#[test]
fn what_the_tool_cannot_know_is_undetermined_never_allowed() {
    let w = World::start();
    w.apply(&[]).success();
    let base = json!({"StringEquals": {format!("{I}:aud"): "sts.amazonaws.com"},
                      "StringLike": {format!("{I}:sub"): ["repo:acme/app:*", "repo:acme@1001/app@2002:*"]}});

    let mut session = base.clone();
    session["StringNotLike"] = json!({"sts:RoleSessionName": "GitHubActions*"});
    set_trust(&w, session);
    let (code, answer) = with_claims(&w, &main_push(), &[]);
    assert_eq!(
        (code, answer["result"].clone()),
        (3, json!("undetermined")),
        "{answer}"
    );
    assert!(
        answer.to_string().contains("sts:RoleSessionName"),
        "names the key: {answer}"
    );
    // configure-aws-credentials' default session name is GitHubActions: IAM denies it.
    let (code, answer) = with_claims(&w, &main_push(), &["--session-name", "GitHubActions"]);
    assert_eq!(
        (code, answer["result"].clone()),
        (2, json!("denied")),
        "{answer}"
    );
    let (code, _) = with_claims(&w, &main_push(), &["--session-name", "deploy-42"]);
    assert_eq!(code, 0);

    let mut source_ip = base.clone();
    source_ip["Null"] = json!({"aws:SourceIp": "true"});
    set_trust(&w, source_ip);
    assert_eq!(with_claims(&w, &main_push(), &[]).0, 3);
    let flags = w
        .cmd()
        .args([
            "check-access",
            "--github-repo",
            REPO,
            "--ref",
            "refs/heads/main",
        ])
        .run();
    assert_eq!(flags.code, 3, "{}", flags.stdout);
    assert!(flags.stdout.contains("aws:SourceIp"), "{}", flags.stdout);

    // The policy variable IAM fills from the token itself admits every repository.
    set_trust(
        &w,
        json!({"StringEquals": {format!("{I}:aud"): "sts.amazonaws.com",
                                format!("{I}:sub"): format!("${{{I}:sub}}")}}),
    );
    let mut anyone = main_push();
    anyone["sub"] = json!("repo:evil/fork:ref:refs/heads/main");
    assert_eq!(
        with_claims(&w, &anyone, &[]).0,
        0,
        "IAM allows it, and so must the answer"
    );
}

#[test]
fn a_bare_subject_is_checked_with_the_repositorys_own_claims() {
    let w = World::start();
    w.apply(&[]).success();
    let check = |sub: &str| {
        w.cmd()
            .args(["check-access", "--github-repo", REPO, "--sub", sub])
            .run()
            .code
    };
    assert_eq!(check("repo:acme/app:ref:refs/heads/main"), 0);
    assert_eq!(check("repo:acme@1001/app@2002:ref:refs/heads/main"), 0);
    assert_eq!(check("repo:acme/app:ref:refs/heads/dev"), 2);
    let bad = w.dir.path().join("list.json");
    std::fs::write(&bad, r#"{"sub": ["a", "b"]}"#).unwrap();
    let out = w
        .cmd()
        .args([
            "check-access",
            "--github-repo",
            REPO,
            "--claims",
            bad.to_str().unwrap(),
        ])
        .run();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("\"sub\""), "{}", out.stderr);
}

#[test]
fn a_denied_job_is_told_the_apply_that_would_let_it_in() {
    let w = World::start();
    w.cmd()
        .args([
            "apply",
            "--yes",
            "--github-repo",
            REPO,
            "--branch",
            "main",
            "--tag",
            "v*",
        ])
        .run()
        .success();
    let denied = w
        .cmd()
        .args([
            "check-access",
            "--github-repo",
            REPO,
            "--ref",
            "refs/heads/dev",
        ])
        .run();
    assert_eq!(denied.code, 2);
    assert!(
        denied.stdout.contains(
            "To allow it: skyecr-bootstrap apply --github-repo acme/app --branch main --branch dev --tag 'v*'"
        ),
        "{}",
        denied.stdout
    );
    let json = w
        .cmd()
        .args([
            "check-access",
            "--output",
            "json",
            "--github-repo",
            REPO,
            "--environment",
            "prod",
        ])
        .run();
    assert_eq!(
        json.json()["to_allow"],
        json!(
            "skyecr-bootstrap apply --github-repo acme/app --branch main --tag 'v*' --environment prod"
        )
    );
    let allowed = w
        .cmd()
        .args([
            "check-access",
            "--output",
            "json",
            "--github-repo",
            REPO,
            "--ref",
            "refs/heads/main",
        ])
        .run();
    assert!(allowed.json().get("to_allow").is_none());
}

#[test]
fn short_refs_are_read_as_git_reads_them_and_the_answer_says_so() {
    let w = World::start();
    w.apply(&["--tag", "v*"]).success();
    let check = |r: &str| {
        w.cmd()
            .args(["check-access", "--github-repo", REPO, "--ref", r])
            .run()
    };

    let main = check("main");
    assert_eq!(main.code, 0, "{}{}", main.stdout, main.stderr);
    assert!(
        main.stdout
            .starts_with("(--ref main read as refs/heads/main; for a tag give tags/main)\n"),
        "{}",
        main.stdout
    );
    assert!(
        main.stdout.contains("ref:refs/heads/main"),
        "{}",
        main.stdout
    );

    let tag = check("tags/v1.2.3");
    assert_eq!(tag.code, 0, "{}{}", tag.stdout, tag.stderr);
    assert!(
        tag.stdout
            .starts_with("(--ref tags/v1.2.3 read as refs/tags/v1.2.3)\n"),
        "{}",
        tag.stdout
    );

    // A bare name is a branch, like git's: the tag pattern does not admit it.
    let bare = check("v1.2.3");
    assert_eq!(bare.code, 2, "{}", bare.stdout);
    assert!(
        bare.stdout.contains("ref:refs/heads/v1.2.3"),
        "{}",
        bare.stdout
    );

    // A full ref is taken as it is, with nothing to say about it.
    let full = check("refs/heads/main");
    assert_eq!(full.code, 0);
    assert!(!full.stdout.contains("read as"), "{}", full.stdout);

    let json = w
        .cmd()
        .args([
            "check-access",
            "--output",
            "json",
            "--github-repo",
            REPO,
            "--ref",
            "heads/main",
        ])
        .run();
    assert_eq!(
        json.json()["read_as"],
        json!("--ref heads/main read as refs/heads/main")
    );

    let pull = check("refs/pull/1/merge");
    assert_eq!(pull.code, 1);
    assert!(
        pull.stderr.contains("neither a branch nor a tag"),
        "{}",
        pull.stderr
    );
}
