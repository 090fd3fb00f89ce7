//! Issue: `audit` and `check-access` against moto and the GitHub stand-in.
use serde_json::{Value, json};

use crate::support::{ACCOUNT, REPO, World};

const ROLE: &str = "GitHubActions-SkyPilot-ECR";

fn provider_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")
}

fn policy_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/SkyPilot-ECR-Push")
}

fn audit(w: &World, extra: &[&str]) -> (i32, Value) {
    let out = w
        .cmd()
        .args([
            "audit",
            "--output",
            "json",
            "--github-repo",
            REPO,
            "--branch",
            "main",
        ])
        .args(extra)
        .run();
    assert!(
        out.code == 0 || out.code == 2,
        "audit failed: {}",
        out.stderr
    );
    (out.code, out.json())
}

fn status_of<'a>(report: &'a Value, resource: &str, name: &str) -> &'a Value {
    report["resources"]
        .as_array()
        .and_then(|rs| {
            rs.iter()
                .find(|r| r["resource"] == resource && r["name"] == name)
        })
        .unwrap_or_else(|| panic!("no {resource} {name} in {report}"))
}

fn finding_ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn trust(subs: Value, operator: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider_arn()}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                      operator: {"token.actions.githubusercontent.com:sub": subs}}}]})
}

fn set_trust(w: &World, doc: &Value) {
    w.block_on(
        w.iam()
            .update_assume_role_policy()
            .role_name(ROLE)
            .policy_document(doc.to_string())
            .send(),
    )
    .unwrap();
}

/// The documented JSON shape: every resource and finding has exactly the contract's fields.
fn assert_shape(report: &Value) {
    assert!(report["in_sync"].is_boolean());
    let kinds = [
        "oidc_provider",
        "role",
        "policy",
        "repository",
        "user",
        "access_key",
        "secret",
        "variable",
    ];
    for r in report["resources"].as_array().expect("resources") {
        assert!(kinds.contains(&r["resource"].as_str().unwrap()), "{r}");
        assert!(r["name"].is_string());
        assert!(
            ["in_sync", "modified", "missing", "unverifiable"]
                .contains(&r["status"].as_str().unwrap()),
            "{r}"
        );
        assert!(r["differences"].is_array());
    }
    for f in report["findings"].as_array().expect("findings") {
        assert!(f["id"].is_string() && f["message"].is_string() && f["resource"].is_string());
        assert!(
            ["high", "medium", "low"].contains(&f["severity"].as_str().unwrap()),
            "{f}"
        );
    }
}

#[test]
fn a_clean_setup_is_in_sync_and_every_tampering_is_reported() {
    let w = World::start();
    w.apply(&[]).success();
    w.clear_requests();
    let (code, report) = audit(&w, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["in_sync"], true);
    assert_shape(&report);
    assert!(
        report["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "in_sync"),
        "{report}"
    );

    type Tamper = Box<dyn Fn(&World)>;
    type Expected<'a> = (&'a str, &'a str, &'a str);
    let cases: Vec<(&str, Tamper, Expected, Option<&str>)> = vec![
        (
            "trust widened",
            Box::new(|w: &World| {
                set_trust(
                    w,
                    &trust(
                        json!(["repo:acme/app:ref:refs/heads/main", "repo:acme/*"]),
                        "StringLike",
                    ),
                )
            }),
            ("role", ROLE, "modified"),
            Some("trust-sub-whole-owner"),
        ),
        (
            "push policy broadened",
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
            ("policy", "SkyPilot-ECR-Push", "modified"),
            Some("push-wildcard-action"),
        ),
        (
            "scan on push off",
            Box::new(|w: &World| {
                w.ecr_raw("PutImageScanningConfiguration", json!({"repositoryName": "skypilot", "imageScanningConfiguration": {"scanOnPush": false}}));
            }),
            ("repository", "skypilot", "modified"),
            Some("repository-no-scan-on-push"),
        ),
        (
            "secret deleted",
            Box::new(|w: &World| {
                assert_eq!(
                    w.github_api(
                        reqwest::Method::DELETE,
                        &format!("/repos/{REPO}/actions/secrets/AWS_ECR_ROLE_ARN"),
                        Value::Null
                    ),
                    204
                );
            }),
            ("secret", "AWS_ECR_ROLE_ARN", "missing"),
            None,
        ),
        (
            "variable changed",
            Box::new(|w: &World| {
                w.post(
                    &format!("{}/_standin/repos/{REPO}/seed", w.github),
                    json!({"variables": {"AWS_REGION": "eu-west-1"}}),
                );
            }),
            ("variable", "AWS_REGION", "modified"),
            None,
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
            ("role", ROLE, "missing"),
            None,
        ),
    ];
    for (what, tamper, (kind, name, status), finding) in cases {
        tamper(&w);
        w.clear_requests();
        let (code, report) = audit(&w, &[]);
        assert_eq!(
            w.writes(),
            Vec::<String>::new(),
            "{what}: audit must not write"
        );
        assert_eq!(code, 2, "{what}: {report}");
        assert_eq!(report["in_sync"], false);
        assert_shape(&report);
        let entry = status_of(&report, kind, name);
        assert_eq!(entry["status"], status, "{what}: {entry}");
        if status == "modified" {
            assert!(
                !entry["differences"].as_array().unwrap().is_empty(),
                "{what}: differences {entry}"
            );
        }
        if let Some(id) = finding {
            assert!(
                finding_ids(&report).contains(&id.to_string()),
                "{what}: {:?}",
                finding_ids(&report)
            );
        }
        w.apply(&[]).success();
        assert_eq!(audit(&w, &[]).0, 0, "{what}: apply did not restore");
    }
}

#[test]
fn the_variable_difference_names_expected_and_actual() {
    let w = World::start();
    w.apply(&[]).success();
    w.post(
        &format!("{}/_standin/repos/{REPO}/seed", w.github),
        json!({"variables": {"ECR_REPOSITORY": "other"}}),
    );
    let (_, report) = audit(&w, &[]);
    let entry = status_of(&report, "variable", "ECR_REPOSITORY");
    assert_eq!(
        entry["differences"],
        json!([{"field": "value", "expected": "skypilot", "actual": "other"}])
    );
}

/// More roles than IAM's default page (100) take one `ListRoles` page: the tool asks for a
/// thousand a page. (Paging through several pages: reliability::world.)
#[test]
fn all_roles_lists_many_roles_in_one_page() {
    let w = World::start();
    w.apply(&[]).success();
    let service = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let wide = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider_arn()},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "*"}}}]});
    let iam = w.iam();
    for n in 0..150 {
        // The last one listed trusts any repository.
        let (name, doc) = match n {
            149 => ("zz-deployer".to_string(), &wide),
            _ => (format!("service-{n:03}"), &service),
        };
        w.block_on(
            iam.create_role()
                .role_name(name)
                .assume_role_policy_document(doc.to_string())
                .send(),
        )
        .unwrap();
    }
    w.clear_requests();
    let (code, report) = audit(&w, &["--all-roles"]);
    assert_eq!(code, 2, "{report}");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "zz-deployer" && f["id"] == "trust-sub-any-owner"),
        "{report}"
    );
    let pages = w
        .requests()
        .iter()
        .filter(|r| r["action"] == "ListRoles")
        .count();
    assert_eq!(pages, 1, "151 roles in one page");
}

#[test]
fn all_roles_finds_a_planted_unmanaged_vulnerable_role() {
    let w = World::start();
    w.apply(&[]).success();
    let wide = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com/acme-corp")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"token.actions.githubusercontent.com/acme-corp:sub": ["repo:acme/app:ref:refs/heads/main", "*"]}}}]});
    w.block_on(
        w.iam()
            .create_role()
            .role_name("legacy-deployer")
            .assume_role_policy_document(wide.to_string())
            .send(),
    )
    .unwrap();
    let unrelated = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    w.block_on(
        w.iam()
            .create_role()
            .role_name("ec2-role")
            .assume_role_policy_document(unrelated.to_string())
            .send(),
    )
    .unwrap();

    let (code, plain) = audit(&w, &[]);
    assert_eq!(
        code, 0,
        "without --all-roles only managed resources count: {plain}"
    );
    w.clear_requests();
    let (code, report) = audit(&w, &["--all-roles"]);
    assert_eq!(w.writes(), Vec::<String>::new());
    assert_eq!(code, 2);
    let legacy: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "legacy-deployer")
        .collect();
    assert!(
        legacy
            .iter()
            .any(|f| f["id"] == "trust-sub-any-owner" && f["severity"] == "high"),
        "{report}"
    );
    assert!(
        legacy.iter().any(|f| f["id"] == "trust-no-aud-condition"),
        "{report}"
    );
    assert!(!report["findings"].to_string().contains("ec2-role"));
}

#[test]
fn markdown_report_for_the_step_summary() {
    let w = World::start();
    w.apply(&[]).success();
    w.ecr_raw(
        "PutImageScanningConfiguration",
        json!({"repositoryName": "skypilot", "imageScanningConfiguration": {"scanOnPush": false}}),
    );
    let out = w
        .cmd()
        .args([
            "audit",
            "--output",
            "markdown",
            "--github-repo",
            REPO,
            "--branch",
            "main",
        ])
        .run();
    assert_eq!(out.code, 2);
    insta::with_settings!({filters => vec![(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]")]}, {
        insta::assert_snapshot!(out.stdout);
    });
}

#[test]
fn check_access_explains_allow_and_deny() {
    let w = World::start();
    w.apply(&["--tag", "v*", "--environment", "prod"]).success();
    let check = |args: &[&str]| {
        let out = w
            .cmd()
            .args(["check-access", "--output", "json", "--github-repo", REPO])
            .args(args)
            .run();
        assert!(out.code == 0 || out.code == 2, "{}", out.stderr);
        (out.code, out.json())
    };
    let table: Vec<(Value, Vec<&str>, i32)> = vec![
        // The tool's own exact + wildcard policy.
        (Value::Null, vec!["--ref", "refs/heads/main"], 0),
        (Value::Null, vec!["--ref", "refs/heads/dev"], 2),
        (Value::Null, vec!["--ref", "refs/tags/v1.2.3"], 0),
        (Value::Null, vec!["--ref", "refs/tags/release-1"], 2),
        (Value::Null, vec!["--environment", "prod"], 0),
        (Value::Null, vec!["--environment", "staging"], 2),
        (
            Value::Null,
            vec!["--event", "pull_request", "--ref", "refs/heads/main"],
            2,
        ),
        // The guide's name-form any-ref policy: acme/app is new, so GitHub issues it immutable
        // subjects, which that policy does not match.
        (
            trust(json!("repo:acme/app:*"), "StringLike"),
            vec!["--event", "pull_request"],
            2,
        ),
        (
            trust(
                json!(["repo:acme/app:*", "repo:acme@1001/app@2002:*"]),
                "StringLike",
            ),
            vec!["--event", "pull_request"],
            0,
        ),
        // StringEquals with a wildcard never matches.
        (
            trust(json!(["repo:acme/app:ref:refs/heads/*"]), "StringEquals"),
            vec!["--ref", "refs/heads/main"],
            2,
        ),
        // An explicit Deny wins over an Allow.
        (
            {
                let mut t = trust(json!("repo:acme/app:*"), "StringLike");
                t["Statement"].as_array_mut().unwrap().push(json!({"Effect": "Deny", "Principal": {"Federated": provider_arn()},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "*:pull_request"}}}));
                t
            },
            vec!["--event", "pull_request"],
            2,
        ),
    ];
    for (policy, args, expected) in table {
        if !policy.is_null() {
            set_trust(&w, &policy);
        }
        let (code, result) = check(&args);
        assert_eq!(code, expected, "{args:?} under {policy}: {result}");
        assert_eq!(result["allowed"], expected == 0);
        let subs: Vec<&str> = result["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["sub"].as_str().unwrap())
            .collect();
        assert_eq!(subs.len(), 2, "both subject forms: {subs:?}");
        assert!(subs[1].starts_with("repo:acme@1001/app@2002:"), "{subs:?}");
        if expected == 2 {
            assert!(result["subjects"][0]["reason"].as_str().unwrap().len() > 10);
        }
    }
    set_trust(
        &w,
        &trust(
            json!([
                "repo:acme/app:ref:refs/heads/main",
                "repo:acme@1001/app@2002:ref:refs/heads/main"
            ]),
            "StringEquals",
        ),
    );
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
        denied
            .stdout
            .contains("closest allowed subject: repo:acme@1001/app@2002:ref:refs/heads/main"),
        "{}",
        denied.stdout
    );
}

/// `check-access` for `repo` with its trust holding only `subjects`: the exit code.
fn access_with_trust(w: &World, repo: &str, subjects: Value) -> i32 {
    set_trust(w, &trust(subjects, "StringEquals"));
    w.cmd()
        .args([
            "check-access",
            "--github-repo",
            repo,
            "--ref",
            "refs/heads/main",
        ])
        .run()
        .code
}

fn seed_customization(w: &World, repo: &str, answer: Value) {
    w.post(
        &format!("{}/_standin/repos/{repo}/seed", w.github),
        json!({"oidc_sub": answer}),
    );
}

#[test]
fn check_access_judges_by_the_subject_form_github_says_it_sends() {
    let w = World::start();
    w.apply(&[]).success();
    let name = |r: &str| json!([format!("repo:acme/{r}:ref:refs/heads/main")]);
    let ids = |r: &str, id: u64| json!([format!("repo:acme@1001/{r}@{id}:ref:refs/heads/main")]);

    // Created before 2026 and opted in: the immutable form, named by the prefix.
    w.add_repo("acme/optin", 1001, 3003, "2020-01-01T00:00:00Z");
    seed_customization(
        &w,
        "acme/optin",
        json!({"use_default": true, "use_immutable_subject": true, "sub_claim_prefix": "repo:acme@1001/optin@3003"}),
    );
    assert_eq!(access_with_trust(&w, "acme/optin", name("optin")), 2);
    assert_eq!(access_with_trust(&w, "acme/optin", ids("optin", 3003)), 0);

    // A prefix in the name form decides, whatever the repository's dates.
    w.add_repo("acme/named", 1001, 4004, "2026-09-01T00:00:00Z");
    seed_customization(
        &w,
        "acme/named",
        json!({"use_default": true, "use_immutable_subject": false, "sub_claim_prefix": "repo:acme/named"}),
    );
    assert_eq!(access_with_trust(&w, "acme/named", name("named")), 0);
    assert_eq!(access_with_trust(&w, "acme/named", ids("named", 4004)), 2);

    // New since the cutover: `false` as the flag, the IDs in the prefix.
    w.add_repo("acme/fresh", 1001, 5005, "2026-08-01T00:00:00Z");
    seed_customization(
        &w,
        "acme/fresh",
        json!({"use_default": true, "use_immutable_subject": false, "sub_claim_prefix": "repo:acme@1001/fresh@5005"}),
    );
    assert_eq!(access_with_trust(&w, "acme/fresh", name("fresh")), 2);
    assert_eq!(access_with_trust(&w, "acme/fresh", ids("fresh", 5005)), 0);

    // The endpoint fails: either form may come, so the trust must admit both.
    w.add_repo("acme/unsure", 1001, 6006, "2026-08-01T00:00:00Z");
    w.github_faults(json!([{"method": "GET", "path_regex": "/repos/acme/unsure/actions/oidc/customization/sub$", "status": 500, "times": 100}]));
    assert_eq!(access_with_trust(&w, "acme/unsure", name("unsure")), 2);
    assert_eq!(access_with_trust(&w, "acme/unsure", ids("unsure", 6006)), 2);
    let both = json!([
        "repo:acme/unsure:ref:refs/heads/main",
        "repo:acme@1001/unsure@6006:ref:refs/heads/main"
    ]);
    assert_eq!(access_with_trust(&w, "acme/unsure", both), 0);
}
