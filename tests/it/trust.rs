//! Trust for today's GitHub and AWS: ID pins, the workflow pin, per-value differences, and
//! every generated trust admitting exactly the intended tokens (checked with `check-access`).
use serde_json::{Value, json};

use crate::support::{REPO, World};
use skyecr_bootstrap::policy::decode_document;

const ROLE: &str = "GitHubActions-SkyPilot-ECR";
const ISSUER: &str = "token.actions.githubusercontent.com";
const WORKFLOW: &str = ".github/workflows/build-push-ecr-custom.yaml";

fn conditions(w: &World) -> Value {
    let out = w
        .block_on(w.iam().get_role().role_name(ROLE).send())
        .expect("role exists");
    let doc = decode_document(
        out.role()
            .and_then(|r| r.assume_role_policy_document())
            .unwrap_or_default(),
    )
    .unwrap();
    doc["Statement"][0]["Condition"].clone()
}

fn check(w: &World, job: &[&str]) -> i32 {
    w.cmd()
        .args(["check-access", "--github-repo", REPO])
        .args(job.iter())
        .run()
        .code
}

#[test]
fn the_default_issuer_pins_the_repository_and_owner_ids() {
    let w = World::start();
    w.apply(&[]).success();
    assert_eq!(
        conditions(&w),
        json!({"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:repository_id": "2002",
            "token.actions.githubusercontent.com:repository_owner_id": "1001",
            "token.actions.githubusercontent.com:sub": [
                "repo:acme/app:ref:refs/heads/main",
                "repo:acme@1001/app@2002:ref:refs/heads/main"]}})
    );
    assert_eq!(check(&w, &["--ref", "refs/heads/main"]), 0);
    assert_eq!(check(&w, &["--ref", "refs/heads/mainline"]), 2);
}

#[test]
fn no_pin_ids_and_enterprise_issuers_leave_the_ids_out() {
    let w = World::start();
    w.apply(&["--no-pin-ids"]).success();
    assert_eq!(
        conditions(&w),
        json!({"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": [
                "repo:acme/app:ref:refs/heads/main",
                "repo:acme@1001/app@2002:ref:refs/heads/main"]}})
    );
    let enterprise = "https://token.actions.githubusercontent.com/acme-corp";
    w.apply(&["--no-save", "--oidc-issuer", enterprise])
        .success();
    let key = |claim: &str| format!("{ISSUER}/acme-corp:{claim}");
    let plain = conditions(&w);
    assert!(
        plain["StringEquals"].get(key("repository_id")).is_none(),
        "{plain}"
    );
    w.apply(&["--no-save", "--oidc-issuer", enterprise, "--pin-ids"])
        .success();
    let pinned = conditions(&w);
    assert_eq!(pinned["StringEquals"][key("repository_id")], "2002");
    assert_eq!(pinned["StringEquals"][key("repository_owner_id")], "1001");
    let both = w.apply(&["--no-save", "--pin-ids", "--no-pin-ids"]);
    assert_eq!(both.code, 1);
    assert!(both.stderr.contains("--no-pin-ids"), "{}", both.stderr);
    // The saved --no-pin-ids gives way to --pin-ids on the command line.
    assert!(
        std::fs::read_to_string(w.dir.path().join("skyecr.json"))
            .unwrap()
            .contains("no_pin_ids")
    );
    let pinned_again = w.apply(&["--pin-ids"]);
    pinned_again.success();
    assert_eq!(
        conditions(&w)["StringEquals"][format!("{ISSUER}:repository_id")],
        "2002"
    );
}

#[test]
fn the_workflow_pin_names_the_file_on_exactly_the_trusted_refs() {
    let w = World::start();
    w.cmd()
        .args([
            "apply",
            "--yes",
            "--github-repo",
            REPO,
            "--branch",
            "main",
            "--branch",
            "release/1.x",
            "--tag",
            "v*",
            "--pin-workflow",
            "--no-save",
        ])
        .run()
        .success();
    let file = format!("acme/app/{WORKFLOW}");
    assert_eq!(
        conditions(&w)["StringLike"][format!("{ISSUER}:job_workflow_ref")],
        json!([
            format!("{file}@refs/heads/main"),
            format!("{file}@refs/heads/release/1.x"),
            format!("{file}@refs/tags/v*")
        ])
    );
    assert_eq!(check(&w, &["--ref", "refs/heads/release/1.x"]), 0);
    assert_eq!(check(&w, &["--ref", "refs/tags/v2.0.0"]), 0);
    assert_eq!(check(&w, &["--ref", "refs/tags/x2.0.0"]), 2);
    assert_eq!(check(&w, &["--ref", "refs/heads/release/2.x"]), 2);

    // Environments: any ref of that one file; a named path replaces the default.
    w.cmd()
        .args([
            "apply",
            "--yes",
            "--no-save",
            "--github-repo",
            REPO,
            "--environment",
            "prod",
            "--pin-workflow",
            ".github/workflows/deploy.yml",
        ])
        .run()
        .success();
    assert_eq!(
        conditions(&w)["StringLike"][format!("{ISSUER}:job_workflow_ref")],
        json!(["acme/app/.github/workflows/deploy.yml@*"])
    );
    let wrong_path = w
        .cmd()
        .args([
            "plan",
            "--github-repo",
            REPO,
            "--branch",
            "main",
            "--pin-workflow",
            ".github/workflows/*.yml",
        ])
        .run();
    assert_eq!(wrong_path.code, 1, "a wildcard path would widen the pin");
}

#[test]
fn a_role_made_without_pins_gets_them_value_by_value_and_a_rerun_writes_nothing() {
    let w = World::start();
    w.apply(&["--no-pin-ids", "--no-save"]).success();
    let plan = w
        .cmd()
        .args([
            "plan",
            "--github-repo",
            REPO,
            "--branch",
            "main",
            "--branch",
            "dev",
        ])
        .run();
    plan.success();
    for line in [
        "+ repository_id 2002",
        "+ repository_owner_id 1001",
        "+ sub repo:acme/app:ref:refs/heads/dev",
        "+ sub repo:acme@1001/app@2002:ref:refs/heads/dev",
    ] {
        assert_eq!(
            plan.stdout.lines().filter(|l| l.trim() == line).count(),
            1,
            "{line} once:\n{}",
            plan.stdout
        );
    }
    assert!(
        plan.stdout.lines().all(|l| l.len() < 120),
        "no whole statements on one line:\n{}",
        plan.stdout
    );
    let audit = w.audit_json(&["--branch", "main"]);
    let report = audit.json();
    let role = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "role")
        .unwrap()
        .clone();
    assert!(
        role["differences"].as_array().unwrap().contains(
            &json!({"field": "trust_policy repository_id", "expected": "2002", "actual": null})
        ),
        "{role}"
    );
    w.apply(&[]).success();
    w.clear_requests();
    w.apply(&[]).success();
    assert_eq!(w.writes(), Vec::<String>::new());
}

#[test]
fn every_generated_trust_admits_its_scopes_and_not_their_neighbours() {
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
            "--environment",
            "prod",
        ])
        .run()
        .success();
    for (job, expected) in [
        (&["--ref", "refs/heads/main"][..], 0),
        (&["--ref", "refs/heads/main-hotfix"], 2),
        (&["--ref", "refs/tags/v1.2.3"], 0),
        (&["--ref", "refs/tags/release-1"], 2),
        (&["--environment", "prod"], 0),
        (&["--environment", "staging"], 2),
        (&["--event", "pull_request"], 2),
    ] {
        assert_eq!(check(&w, job), expected, "{job:?}");
    }
}

#[test]
fn an_environment_any_branch_can_use_makes_environment_trust_any_branch_trust() {
    let w = World::start();
    w.cmd()
        .args([
            "apply",
            "--yes",
            "--github-repo",
            REPO,
            "--environment",
            "prod",
        ])
        .run()
        .success();
    let unprotected = |w: &World| -> Vec<String> {
        let out = w.audit_json(&["--environment", "prod"]);
        out.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == "environment-unprotected")
            .map(|f| {
                format!(
                    "{} {}",
                    f["severity"].as_str().unwrap(),
                    f["message"].as_str().unwrap()
                )
            })
            .collect()
    };
    // Not there yet: GitHub creates it unprotected for the first job that names it.
    let missing = unprotected(&w);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(missing[0].starts_with("medium ") && missing[0].contains("does not exist"));

    let put = |policy: Value| {
        w.github_api(
            reqwest::Method::PUT,
            &format!("/repos/{REPO}/environments/prod"),
            json!({"deployment_branch_policy": policy}),
        )
    };
    assert_eq!(put(Value::Null), 200);
    let bare = unprotected(&w);
    assert_eq!(bare.len(), 1, "{bare:?}");
    assert!(bare[0].contains("no deployment branch"));

    assert_eq!(
        put(json!({"protected_branches": true, "custom_branch_policies": false})),
        200
    );
    assert_eq!(unprotected(&w), Vec::<String>::new());
}

#[test]
fn an_environment_the_tool_creates_lets_only_the_trusted_refs_deploy() {
    let w = World::start();
    let args = [
        "apply",
        "--yes",
        "--github-repo",
        REPO,
        "--branch",
        "main",
        "--tag",
        "v*",
        "--environment",
        "prod",
        "--secret-scope",
        "environment",
    ];
    w.cmd().args(args).run().success();
    let env = w.github_read(&format!("/repos/{REPO}/environments/prod"));
    assert_eq!(
        env["deployment_branch_policy"],
        json!({"protected_branches": false, "custom_branch_policies": true}),
        "{env}"
    );
    let policies = w.github_read(&format!(
        "/repos/{REPO}/environments/prod/deployment-branch-policies"
    ));
    let patterns: Vec<(String, String)> = policies["branch_policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        patterns,
        [
            ("main".to_string(), "branch".to_string()),
            ("v*".to_string(), "tag".to_string())
        ]
    );
    let audit = w.audit_json(&["--environment", "prod"]);
    assert!(
        !audit.stdout.contains("environment-unprotected"),
        "{}",
        audit.stdout
    );
    w.clear_requests();
    w.cmd().args(args).run().success();
    assert_eq!(w.writes(), Vec::<String>::new());
}
