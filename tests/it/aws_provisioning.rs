//! Issue: provision the AWS side idempotently (plan/apply against moto).
use serde_json::{Value, json};

use crate::support::{ACCOUNT, REPO, World, decode_policy};

const ROLE: &str = "GitHubActions-SkyPilot-ECR";
const PROVIDER_URL: &str = "token.actions.githubusercontent.com";

fn policy_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/SkyPilot-ECR-Push")
}

fn provider_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{PROVIDER_URL}")
}

/// The trust policy the contract describes, written out by hand, exactly as IAM must hold it.
fn expected_trust() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "GitHubActionsOidc",
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn()},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:repository_id": "2002",
                    "token.actions.githubusercontent.com:repository_owner_id": "1001",
                    "token.actions.githubusercontent.com:sub": [
                        "repo:acme/app:ref:refs/heads/main",
                        "repo:acme@1001/app@2002:ref:refs/heads/main"
                    ]
                }
            }
        }]
    })
}

/// The push policy of the setup guide, written out by hand, exactly as IAM must hold it.
fn expected_push_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            {"Sid": "PushToOneRepository", "Effect": "Allow", "Action": [
                "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
                "ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"],
             "Resource": format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/skypilot")}
        ]
    })
}

fn live_trust(w: &World) -> Value {
    w.trust_policy(ROLE)
}

fn live_push_policy(w: &World) -> Value {
    let iam = w.iam();
    let p = w
        .block_on(iam.get_policy().policy_arn(policy_arn()).send())
        .expect("policy exists");
    let v = p
        .policy()
        .and_then(|p| p.default_version_id())
        .unwrap_or_default()
        .to_string();
    let doc = w
        .block_on(
            iam.get_policy_version()
                .policy_arn(policy_arn())
                .version_id(v)
                .send(),
        )
        .expect("version");
    decode_policy(
        doc.policy_version()
            .and_then(|v| v.document())
            .unwrap_or_default(),
    )
}

fn plan_changes(w: &World) -> Vec<(String, String)> {
    w.plan_json(&[])["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["resource"].as_str().unwrap_or("").to_string(),
                c["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn scan_on_push(w: &World) -> bool {
    let out = w
        .block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("skypilot")
                .send(),
        )
        .expect("repository");
    out.repositories()[0]
        .image_scanning_configuration()
        .is_some_and(|c| c.scan_on_push())
}

#[test]
fn fresh_apply_creates_the_contracts_resources_and_a_rerun_writes_nothing() {
    let w = World::start();
    w.apply(&[]).success();

    let providers = w
        .block_on(w.iam().list_open_id_connect_providers().send())
        .unwrap();
    let arns: Vec<&str> = providers
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .collect();
    assert_eq!(arns, vec![provider_arn().as_str()]);
    let provider = w
        .block_on(
            w.iam()
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(provider_arn())
                .send(),
        )
        .unwrap();
    assert_eq!(provider.client_id_list(), ["sts.amazonaws.com"]);

    assert_eq!(live_trust(&w), expected_trust(), "trust policy");
    assert_eq!(live_push_policy(&w), expected_push_policy(), "push policy");
    let attached = w
        .block_on(w.iam().list_attached_role_policies().role_name(ROLE).send())
        .unwrap();
    assert_eq!(
        attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .collect::<Vec<_>>(),
        vec![policy_arn().as_str()]
    );

    let repo = w
        .block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("skypilot")
                .send(),
        )
        .unwrap();
    let repo = &repo.repositories()[0];
    assert!(scan_on_push(&w));
    assert_eq!(
        repo.encryption_configuration()
            .map(|e| e.encryption_type().as_str()),
        Some("AES256")
    );

    w.clear_requests();
    let rerun = w.apply(&[]);
    rerun.success();
    assert!(rerun.stdout.contains("No changes"), "{}", rerun.stdout);
    assert_eq!(
        w.writes(),
        Vec::<String>::new(),
        "a rerun with nothing to change must not write"
    );
}

#[test]
fn out_of_band_changes_are_planned_and_fixed() {
    let w = World::start();
    w.apply(&[]).success();
    let iam = w.iam();

    type Tamper = Box<dyn Fn(&World)>;
    let cases: Vec<(&str, Tamper, (&str, &str))> = vec![
        (
            "trust policy widened",
            Box::new(|w: &World| {
                let wide = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": provider_arn()}, "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}}}]});
                w.block_on(
                    w.iam()
                        .update_assume_role_policy()
                        .role_name(ROLE)
                        .policy_document(wide.to_string())
                        .send(),
                )
                .unwrap();
            }),
            ("role", "update"),
        ),
        (
            "push policy given a new default version",
            Box::new(|w: &World| {
                let broad = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]});
                w.block_on(
                    w.iam()
                        .create_policy_version()
                        .policy_arn(policy_arn())
                        .policy_document(broad.to_string())
                        .set_as_default(true)
                        .send(),
                )
                .unwrap();
            }),
            ("policy", "update"),
        ),
        (
            "policy detached",
            Box::new(|w: &World| {
                w.block_on(
                    w.iam()
                        .detach_role_policy()
                        .role_name(ROLE)
                        .policy_arn(policy_arn())
                        .send(),
                )
                .unwrap();
            }),
            ("role", "update"),
        ),
        (
            "scan on push turned off",
            Box::new(|w: &World| {
                w.ecr_raw("PutImageScanningConfiguration", json!({"repositoryName": "skypilot", "imageScanningConfiguration": {"scanOnPush": false}}));
                assert!(!scan_on_push(w), "tampering failed");
            }),
            ("repository", "update"),
        ),
        (
            "role deleted",
            Box::new(|w: &World| {
                w.block_on(
                    w.iam()
                        .detach_role_policy()
                        .role_name(ROLE)
                        .policy_arn(policy_arn())
                        .send(),
                )
                .unwrap();
                w.block_on(w.iam().delete_role().role_name(ROLE).send())
                    .unwrap();
            }),
            ("role", "create"),
        ),
        (
            "repository deleted",
            Box::new(|w: &World| {
                w.block_on(
                    w.ecr()
                        .delete_repository()
                        .repository_name("skypilot")
                        .send(),
                )
                .unwrap();
            }),
            ("repository", "create"),
        ),
    ];
    for (what, tamper, expected) in cases {
        tamper(&w);
        let changes = plan_changes(&w);
        assert_eq!(
            changes,
            vec![(expected.0.to_string(), expected.1.to_string())],
            "{what}: plan"
        );
        w.apply(&[]).success();
        assert_eq!(plan_changes(&w), vec![], "{what}: apply did not converge");
    }
    assert_eq!(live_trust(&w), expected_trust());
    assert_eq!(live_push_policy(&w), expected_push_policy());
    assert!(scan_on_push(&w));
    drop(iam);
}

#[test]
fn different_encryption_is_blocked_and_nothing_is_written() {
    let w = World::start();
    w.apply(&[]).success();
    let plan = w.plan_json(&["--encryption", "kms"]);
    let blocked: Vec<&Value> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "blocked")
        .collect();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["resource"], "repository");
    assert!(blocked[0]["details"].to_string().contains("cannot change"));

    w.clear_requests();
    let out = w.apply(&["--encryption", "kms"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("cannot change a repository's encryption"),
        "{}",
        out.stderr
    );
    assert_eq!(w.writes(), Vec::<String>::new());
    let repo = w
        .block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("skypilot")
                .send(),
        )
        .unwrap();
    assert_eq!(
        repo.repositories().len(),
        1,
        "the repository must never be deleted"
    );
}

#[test]
fn kms_encryption_is_created_with_the_key() {
    let w = World::start();
    // The key must exist and be enabled: the tool describes it before creating the repository.
    let created = w.block_on(w.kms().create_key().send()).unwrap();
    let key = created.key_metadata().unwrap().arn().unwrap().to_string();
    assert!(key.starts_with(&format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/")));
    w.apply(&["--encryption", "kms", "--kms-key", &key])
        .success();
    let repo = w
        .block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("skypilot")
                .send(),
        )
        .unwrap();
    let enc = repo.repositories()[0].encryption_configuration().unwrap();
    assert_eq!(enc.encryption_type().as_str(), "KMS");
    assert_eq!(enc.kms_key(), Some(key.as_str()));
    assert_eq!(
        plan_changes_with(&w, &["--encryption", "kms", "--kms-key", &key]),
        Vec::<String>::new()
    );
}

fn plan_changes_with(w: &World, extra: &[&str]) -> Vec<String> {
    w.plan_json(extra)["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["resource"].to_string())
        .collect()
}

#[test]
fn an_existing_provider_is_reused() {
    let w = World::start();
    w.block_on(
        w.iam()
            .create_open_id_connect_provider()
            .url(format!("https://{PROVIDER_URL}"))
            .client_id_list("sts.amazonaws.com")
            .thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1")
            .send(),
    )
    .unwrap();
    w.clear_requests();
    w.apply(&[]).success();
    let writes = w.writes();
    assert!(
        !writes
            .iter()
            .any(|a| a.contains("CreateOpenIDConnectProvider")),
        "{writes:?}"
    );
    assert!(
        writes.iter().any(|a| a.contains("CreateRole")),
        "{writes:?}"
    );
    let providers = w
        .block_on(w.iam().list_open_id_connect_providers().send())
        .unwrap();
    assert_eq!(providers.open_id_connect_provider_list().len(), 1);
}

#[test]
fn a_policy_holding_five_versions_is_pruned_oldest_first() {
    let w = World::start();
    w.apply(&[]).success();
    let iam = w.iam();
    for i in 0..4 {
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:DescribeImages", "Resource": format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/x{i}")}]});
        w.block_on(
            iam.create_policy_version()
                .policy_arn(policy_arn())
                .policy_document(doc.to_string())
                .set_as_default(i == 3)
                .send(),
        )
        .unwrap();
    }
    // v1 (ours, oldest) .. v5 (default, foreign). The oldest non-default is v1.
    w.apply(&[]).success();
    let versions = w
        .block_on(iam.list_policy_versions().policy_arn(policy_arn()).send())
        .unwrap();
    let mut ids: Vec<String> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version_id().map(str::to_string))
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["v2", "v3", "v4", "v5", "v6"]);
    let default: Vec<&str> = versions
        .versions()
        .iter()
        .filter(|v| v.is_default_version())
        .filter_map(|v| v.version_id())
        .collect();
    assert_eq!(default, vec!["v6"]);
    assert_eq!(live_push_policy(&w), expected_push_policy());
}

#[test]
fn bad_inputs_are_rejected_before_any_call() {
    let w = World::start();
    let long = "a".repeat(300);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--github-repo", "acme"], "--github-repo"),
        (vec!["--github-repo", "acme/app/extra"], "--github-repo"),
        (vec!["--github-repo=-acme/app"], "--github-repo"),
        (vec!["--github-repo", "acme/a b"], "--github-repo"),
        (vec!["--github-repo", "аcme/app"], "--github-repo"),
        (vec!["--region", "moon-1"], "--region"),
        (vec!["--region", "us-east-1\n"], "--region"),
        (vec!["--ecr-repository", "SkyPilot"], "--ecr-repository"),
        (vec!["--ecr-repository", "../x"], "--ecr-repository"),
        (vec!["--ecr-repository", &long], "--ecr-repository"),
        (vec!["--role-name", "role name"], "--role-name"),
        (vec!["--role-name", &long], "--role-name"),
        (vec!["--policy-name", "pol*"], "--policy-name"),
        (vec!["--user-name", "user/x"], "--user-name"),
        (vec!["--secret-name", "GITHUB_ROLE"], "--secret-name"),
        (vec!["--secret-name", "1ROLE"], "--secret-name"),
        (
            vec![
                "--oidc-issuer",
                "https://token.actions.githubusercontent.com/",
            ],
            "--oidc-issuer",
        ),
        (
            vec![
                "--oidc-issuer",
                "http://token.actions.githubusercontent.com",
            ],
            "--oidc-issuer",
        ),
        (vec!["--branch", "a..b"], "--branch"),
        (vec!["--branch", "*"], "--branch"),
        (vec!["--branch", "feature branch"], "--branch"),
        (vec!["--tag", "v1:2"], "--tag"),
        (vec!["--environment", "prod*"], "--environment"),
        (vec!["--environment", " prod"], "--environment"),
        (
            vec![
                "--encryption",
                "kms",
                "--kms-key",
                "arn:aws:kms:eu-west-1:123456789012:key/abc",
                "--region",
                "us-east-1",
            ],
            "--kms-key",
        ),
        (
            vec!["--kms-key", "arn:aws:kms:us-east-1:123456789012:key/abc"],
            "--kms-key",
        ),
        (vec!["--any-ref", "--tag", "v*"], "--any-ref"),
        (vec!["--secret-scope", "environment"], "--secret-scope"),
    ];
    assert!(cases.len() >= 20);
    w.clear_requests();
    for (args, flag) in cases {
        let mut full = vec!["plan"];
        if !args.iter().any(|a| a.starts_with("--github-repo")) {
            full.extend(["--github-repo", REPO]);
        }
        if !args.iter().any(|a| ["--any-ref", "--branch"].contains(a)) {
            full.extend(["--branch", "main"]);
        }
        full.extend(args.iter().copied());
        let out = w.cmd().args(&full).run();
        assert_eq!(out.code, 1, "{args:?}: exit code\n{}", out.stderr);
        assert!(
            out.stderr.contains(flag) && out.stderr.contains("expected"),
            "{args:?}: message\n{}",
            out.stderr
        );
    }
    assert_eq!(
        w.requests(),
        Vec::<Value>::new(),
        "invalid input must not reach AWS or GitHub"
    );
}

#[test]
fn usage_errors_exit_1_and_plan_needs_a_scope() {
    let w = World::start();
    let typo = w
        .cmd()
        .args(["plan", "--github-repo", REPO, "--brnach", "main"])
        .run();
    assert_eq!(typo.code, 1, "{}", typo.stderr);
    let no_scope = w
        .cmd()
        .args(["apply", "--yes", "--github-repo", REPO])
        .run();
    assert_eq!(no_scope.code, 1);
    for flag in ["--branch", "--tag", "--environment", "--any-ref"] {
        assert!(no_scope.stderr.contains(flag), "{}", no_scope.stderr);
    }
    let no_tty = w
        .cmd()
        .args(["apply", "--github-repo", REPO, "--branch", "main"])
        .run();
    assert_eq!(no_tty.code, 1);
    assert!(no_tty.stderr.contains("--yes"), "{}", no_tty.stderr);
}

#[test]
fn detailed_exitcode_reports_changes() {
    let w = World::start();
    let before = w
        .cmd()
        .args([
            "plan",
            "--detailed-exitcode",
            "--github-repo",
            REPO,
            "--branch",
            "main",
        ])
        .run();
    assert_eq!(before.code, 2);
    w.apply(&[]).success();
    let after = w
        .cmd()
        .args([
            "plan",
            "--detailed-exitcode",
            "--github-repo",
            REPO,
            "--branch",
            "main",
        ])
        .run();
    assert_eq!(after.code, 0, "{}", after.stdout);
}

#[test]
fn enterprise_issuer_derives_provider_and_condition_keys() {
    let w = World::start();
    w.apply(&[
        "--oidc-issuer",
        "https://token.actions.githubusercontent.com/acme-corp",
    ])
    .success();
    let trust = live_trust(&w);
    let text = trust.to_string();
    assert!(
        text.contains(&format!(
            "arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com/acme-corp"
        )),
        "{text}"
    );
    assert!(
        text.contains("token.actions.githubusercontent.com/acme-corp:sub"),
        "{text}"
    );
    assert!(
        text.contains("token.actions.githubusercontent.com/acme-corp:aud"),
        "{text}"
    );
}
