//! Everyday use: failures a person can act on, one JSON document for every outcome, plans that
//! name every write.
use serde_json::{Value, json};

use crate::support::{ACCOUNT, REPO, World};
use crate::wizard::Terminal;

const PROXY_PAGE: &str = "<html><body><h1>502 Bad Gateway</h1><p>corporate-proxy</p></body></html>";

/// One JSON document on stdout, holding an error message.
#[track_caller]
fn error_document(stdout: &str) -> String {
    let doc: Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is not exactly one JSON document ({e}):\n{stdout}"));
    assert_eq!(doc.as_object().map(|o| o.len()), Some(1), "{doc}");
    doc["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.message in {doc}"))
        .to_string()
}

#[test]
fn an_html_page_instead_of_an_aws_answer_is_described_not_dumped() {
    let w = World::start();
    for (action, service) in [
        ("GetCallerIdentity", "sts"),
        ("DescribeRepositories", "ecr"),
    ] {
        w.reset();
        w.aws_faults(json!({"action": action, "status": 500, "body": PROXY_PAGE, "times": null}));
        let out = w
            .cmd()
            .args(["plan", "--github-repo", REPO, "--branch", "main"])
            .run();
        assert_eq!(out.code, 1, "{}", out.stderr);
        // The error and its advice, after the notes SKYECR_DEBUG prints.
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .skip_while(|l| !l.starts_with("error:"))
            .collect();
        assert_eq!(
            lines.first().copied(),
            Some(
                format!(
                    "error: AWS {service}:{action} failed: HTTP 500 with a body that is not an AWS answer: \"<html><body><h1>502 Bad Gateway</h1><p>corporate-proxy</p></body></html>\""
                )
                .as_str()
            ),
            "{}",
            out.stderr
        );
        assert_eq!(
            lines.get(1).copied(),
            Some(
                "  The answer did not come from AWS: a proxy or gateway in between answered instead. Check HTTPS_PROXY and AWS_ENDPOINT_URL, then rerun: the rerun continues where this one stopped."
            ),
            "{}",
            out.stderr
        );

        let out = w
            .cmd()
            .args([
                "plan",
                "--output",
                "json",
                "--github-repo",
                REPO,
                "--branch",
                "main",
            ])
            .run();
        let message = error_document(&out.stdout);
        assert!(
            message.starts_with(&format!("AWS {service}:{action} failed: HTTP 500 with a body that is not an AWS answer: \"<html><body><h1>502 Bad Gateway")),
            "{message}"
        );
    }
    // The world's end checks every output above for Debug dumps (ServiceError, Unhandled, source:).
}

#[test]
fn an_html_page_instead_of_a_github_answer_is_described() {
    let w = World::start();
    w.github_faults(json!({"path_regex": "^/repos/acme/app$", "status": 502, "body": PROXY_PAGE, "times": null}));
    let out = w
        .cmd()
        .args(["plan", "--github-repo", REPO, "--branch", "main"])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "error: GitHub answered GET /repos/acme/app with 502 Bad Gateway (a body that is not GitHub's: \"<html><body><h1>502 Bad Gateway</h1><p>corporate-proxy</p></body></html>\").\n  GitHub, or a proxy in between (check HTTPS_PROXY and GITHUB_API_URL), failed: rerun in a minute"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn a_mistyped_region_is_refused_with_a_suggestion_before_any_call() {
    let w = World::start();
    let out = w
        .cmd()
        .args([
            "plan",
            "--github-repo",
            REPO,
            "--branch",
            "main",
            "--region",
            "eu-wset-1",
        ])
        .run();
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.trim_end(),
        "error: invalid --region: \"eu-wset-1\" is not an AWS region; did you mean eu-west-1? (expected an AWS region such as us-east-1)"
    );
    let out = w
        .cmd()
        .env("AWS_REGION", "us-est-1")
        .args(["plan", "--github-repo", REPO, "--branch", "main"])
        .run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("did you mean us-east-1 or us-west-1?"),
        "{}",
        out.stderr
    );
    assert_eq!(w.summary()["requests"], 0, "a refused region made calls");
}

#[test]
fn a_region_newer_than_the_release_is_used_with_a_warning() {
    let w = World::start();
    let out = w
        .cmd()
        .args([
            "plan",
            "--github-repo",
            REPO,
            "--branch",
            "main",
            "--region",
            "ap-southeast-9",
        ])
        .run();
    assert!(
        out.stderr.starts_with(
            "warning: ap-southeast-9 is not a region this version knows; using it as given"
        ),
        "{}",
        out.stderr
    );
    let reached = w
        .requests()
        .iter()
        .any(|r| r["service"] == "ecr" && r["action"] == "DescribeRepositories");
    assert!(reached, "the region was not used");
}

#[test]
fn command_lines_that_do_not_parse_still_give_one_json_document() {
    let w = World::start();
    let cases: [(&[&str], &str); 4] = [
        (
            &["plan", "--bogus", "--output", "json"],
            "unexpected argument '--bogus' found",
        ),
        (
            &["--output", "json"],
            "'skyecr-bootstrap' requires a subcommand but one was not provided",
        ),
        (
            &["plan", "--output=json", "--auth", "nope"],
            "invalid value 'nope' for '--auth <AUTH>'",
        ),
        (
            &["audit", "--output", "json", "--region"],
            "a value is required for '--region <REGION>' but none was supplied",
        ),
    ];
    for (args, expected) in cases {
        let out = w.cmd().args(args).run();
        assert_eq!(out.code, 1, "{args:?}");
        let message = error_document(&out.stdout);
        assert!(message.starts_with(expected), "{args:?}: {message}");
        assert!(
            out.stderr.contains(expected),
            "{args:?}: clap's own words left stderr"
        );
    }
    // Asked through the settings file, not the command line.
    std::fs::write(w.dir.path().join("skyecr.json"), r#"{"output": "json"}"#).unwrap();
    let out = w.cmd().args(["plan", "--bogus"]).run();
    assert_eq!(
        error_document(&out.stdout),
        "unexpected argument '--bogus' found"
    );
    // Text runs keep stdout empty.
    std::fs::remove_file(w.dir.path().join("skyecr.json")).unwrap();
    let out = w.cmd().args(["plan", "--bogus"]).run();
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
}

#[test]
fn apply_in_json_prints_one_document_whatever_happens() {
    let w = World::start();
    let unconfirmed = w
        .cmd()
        .args([
            "apply",
            "--output",
            "json",
            "--github-repo",
            REPO,
            "--branch",
            "main",
        ])
        .run();
    assert_eq!(unconfirmed.code, 1);
    assert_eq!(
        error_document(&unconfirmed.stdout),
        "apply needs confirmation, but there is no terminal to ask on.\n  Rerun with --yes to confirm non-interactively."
    );
    let applied = w.apply(&["--output", "json"]);
    applied.success();
    let doc = applied.json();
    assert_eq!(doc["summary"]["create"], 7, "{doc}");
    let again = w.apply(&["--output", "json"]);
    assert_eq!(again.json()["changes"], json!([]));
}

#[test]
fn the_plan_names_every_record_variable_it_writes() {
    let w = World::start();
    let plan = w.plan_json(&[]);
    let details = |name: &str| -> Vec<String> {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| serde_json::from_value(c["details"].clone()).unwrap())
            .unwrap_or_else(|| panic!("no change for {name} in {plan}"))
    };
    assert!(
        details("AWS_ECR_ROLE_ARN")
            .contains(&"record SKYECR_SHA256_AWS_ECR_ROLE_ARN (the value's fingerprint)".into()),
        "{plan}"
    );
    assert!(details("AWS_REGION").contains(&"record SKYECR_SHA256_AWS_REGION".into()));

    let keys = w.plan_json(&["--auth", "access-key"]);
    let key = keys["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "access_key")
        .unwrap();
    assert!(
        key["details"].as_array().unwrap().contains(&json!(
            "record SKYECR_ACCESS_KEY_PENDING (while delivering), then SKYECR_ACCESS_KEY_ID"
        )),
        "{key}"
    );

    // Switching modes deletes the role's secret, and its record with it.
    w.apply(&[]).success();
    let plan = w
        .cmd()
        .args([
            "plan",
            "--output",
            "json",
            "--github-repo",
            REPO,
            "--auth",
            "access-key",
        ])
        .run()
        .json();
    let role_secret = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "AWS_ECR_ROLE_ARN")
        .unwrap_or_else(|| panic!("no change for the role's secret in {plan}"));
    assert_eq!(role_secret["action"], "delete", "{role_secret}");
    assert_eq!(
        role_secret["details"],
        json!(["record SKYECR_SHA256_AWS_ECR_ROLE_ARN"])
    );
}

/// The repository's tag mutability and exclusion filters, as ECR reports them.
fn tag_mutability(w: &World) -> (String, Vec<String>) {
    let out = w
        .block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("skypilot")
                .send(),
        )
        .unwrap();
    let repo = &out.repositories()[0];
    (
        repo.image_tag_mutability().unwrap().as_str().to_string(),
        repo.image_tag_mutability_exclusion_filters()
            .iter()
            .map(|f| format!("{}={}", f.filter_type().as_str(), f.filter()))
            .collect(),
    )
}

#[test]
fn immutable_tags_with_a_latest_exception_are_created_drift_checked_and_fixed() {
    let w = World::start();
    let immutable = ["--tag-mutability", "immutable", "--mutable-tag", "latest"];
    let plan = w.plan_json(&immutable);
    let repository = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "repository")
        .unwrap();
    assert_eq!(
        repository["details"],
        json!([
            "scan on push",
            "encryption AES256",
            "tags immutable (except latest)"
        ])
    );
    w.apply(&immutable).success();
    assert_eq!(
        tag_mutability(&w),
        (
            "IMMUTABLE_WITH_EXCLUSION".to_string(),
            vec!["WILDCARD=latest".to_string()]
        )
    );

    // Someone makes every tag movable again.
    w.block_on(
        w.ecr()
            .put_image_tag_mutability()
            .repository_name("skypilot")
            .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Mutable)
            .send(),
    )
    .unwrap();
    let audit = w
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
        .args(immutable)
        .run();
    assert_eq!(audit.code, 2, "{}", audit.stderr);
    let report = audit.json();
    let repository = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "repository")
        .unwrap();
    assert_eq!(repository["status"], "modified");
    assert_eq!(
        repository["differences"],
        json!([{"field": "tag_mutability", "expected": "immutable (except latest)", "actual": "mutable"}])
    );
    let text = w
        .cmd()
        .args(["plan", "--github-repo", REPO, "--branch", "main"])
        .args(immutable)
        .run();
    assert!(
        text.stdout
            .contains("  ~ repository skypilot\n      tags: mutable → immutable (except latest)\n"),
        "{}",
        text.stdout
    );
    w.clear_requests();
    w.apply(&immutable).success();
    assert_eq!(w.writes(), vec!["aws PutImageTagMutability".to_string()]);
    assert_eq!(
        tag_mutability(&w),
        (
            "IMMUTABLE_WITH_EXCLUSION".to_string(),
            vec!["WILDCARD=latest".to_string()]
        )
    );
    let audit = w
        .cmd()
        .args(["audit", "--github-repo", REPO, "--branch", "main"])
        .args(immutable)
        .run();
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);

    // Without the setting, the repository is left as it is.
    w.clear_requests();
    w.apply(&[]).success();
    assert_eq!(w.writes(), Vec::<String>::new());
}

#[test]
fn an_exception_to_mutable_tags_is_refused() {
    let w = World::start();
    let out = w
        .cmd()
        .args(["plan", "--github-repo", REPO, "--branch", "main"])
        .args(["--tag-mutability", "mutable", "--mutable-tag", "latest"])
        .run();
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.trim_end(),
        "error: invalid --mutable-tag: is an exception to immutable tags, but --tag-mutability is mutable (expected --tag-mutability immutable --mutable-tag PATTERN, or no --mutable-tag)"
    );
    let out = w
        .cmd()
        .args([
            "plan",
            "--github-repo",
            REPO,
            "--branch",
            "main",
            "--mutable-tag",
            "a b",
        ])
        .run();
    assert!(
        out.stderr.contains(
            "invalid --mutable-tag: \"a b\" contains ' ', which ECR does not allow in a tag filter"
        ),
        "{}",
        out.stderr
    );
}

/// Each AWS CLI command a fix may use, with the options it cannot run without.
const AWS_REQUIRED: &[(&str, &[&str])] = &[
    (
        "ecr put-image-tag-mutability",
        &["--repository-name", "--image-tag-mutability"],
    ),
    (
        "ecr put-image-scanning-configuration",
        &["--repository-name", "--image-scanning-configuration"],
    ),
    ("ecr delete-repository-policy", &["--repository-name"]),
    ("iam get-role", &["--role-name"]),
    (
        "iam update-assume-role-policy",
        &["--role-name", "--policy-document"],
    ),
];

/// A fix as a shell would read it: commands joined by `&&`, each with every argument it
/// needs; a `skyecr-bootstrap` command must parse and validate (its `plan` runs).
fn assert_pasteable(w: &World, finding: &Value) {
    let fix = finding["fix"].as_str().unwrap_or_default();
    let words = shlex::split(fix).unwrap_or_else(|| panic!("not shell words: {finding}"));
    assert!(!words.is_empty(), "empty fix: {finding}");
    for command in words.split(|w| w == "&&") {
        // `get-role … > FILE`: the redirection is the shell's, not the command's.
        let command = match command.iter().position(|w| w == ">") {
            Some(i) => {
                assert_eq!(command.len(), i + 2, "one file after >: {finding}");
                &command[..i]
            }
            None => command,
        };
        match command[0].as_str() {
            "aws" => {
                let op = format!("{} {}", command[1], command[2]);
                let (_, required) = AWS_REQUIRED
                    .iter()
                    .find(|(name, _)| *name == op)
                    .unwrap_or_else(|| panic!("unexpected aws {op}: {finding}"));
                let options = &command[3..];
                assert!(
                    options.len() % 2 == 0,
                    "an option without a value: {finding}"
                );
                let given: Vec<&str> = options.iter().step_by(2).map(String::as_str).collect();
                for value in options.iter().skip(1).step_by(2) {
                    assert!(!value.is_empty() && !value.starts_with("--"), "{finding}");
                }
                for option in required.iter().chain(&["--region"]) {
                    assert!(
                        given.contains(option),
                        "aws {op} without {option}: {finding}"
                    );
                }
            }
            "gh" => {
                assert_eq!(command[1..3], ["api", "-X"], "{finding}");
                assert!(
                    command[4].starts_with("repos/acme/app/environments/"),
                    "{finding}"
                );
            }
            "${EDITOR:-vi}" => assert_eq!(command.len(), 2, "{finding}"),
            "skyecr-bootstrap" => {
                assert_eq!(command[1], "apply", "{finding}");
                let out = w.cmd().args(["plan"]).args(&command[2..]).run();
                assert!(out.code == 0, "{fix}: {}", out.stderr);
            }
            other => panic!("{other} is not a command a fix runs: {finding}"),
        }
    }
}

#[test]
fn every_audit_fix_is_a_command_that_can_be_pasted() {
    let w = World::start();
    w.apply(&["--environment", "prod env"]).success();
    // A trust for the whole owner, a push policy for every action, scan on push off, a
    // public repository policy, an inline policy beside the push policy, and a role the tool
    // does not manage: most of what audit can find, at once.
    let provider =
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com");
    let wide = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLikeIfExists": {"token.actions.githubusercontent.com:sub": ["repo:acme/*"]}}}]});
    for role in ["GitHubActions-SkyPilot-ECR", "legacy-deployer"] {
        let iam = w.iam();
        if role == "legacy-deployer" {
            w.block_on(
                iam.create_role()
                    .role_name(role)
                    .assume_role_policy_document(wide.to_string())
                    .send(),
            )
            .unwrap();
        } else {
            w.block_on(
                iam.update_assume_role_policy()
                    .role_name(role)
                    .policy_document(wide.to_string())
                    .send(),
            )
            .unwrap();
        }
    }
    let everything = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]});
    w.block_on(
        w.iam()
            .create_policy_version()
            .policy_arn(format!("arn:aws:iam::{ACCOUNT}:policy/SkyPilot-ECR-Push"))
            .policy_document(everything.to_string())
            .set_as_default(true)
            .send(),
    )
    .unwrap();
    w.block_on(
        w.iam()
            .put_role_policy()
            .role_name("GitHubActions-SkyPilot-ECR")
            .policy_name("extra")
            .policy_document(everything.to_string())
            .send(),
    )
    .unwrap();
    w.ecr_raw(
        "PutImageScanningConfiguration",
        json!({"repositoryName": "skypilot", "imageScanningConfiguration": {"scanOnPush": false}}),
    );
    let public = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}]});
    w.ecr_raw(
        "SetRepositoryPolicy",
        json!({"repositoryName": "skypilot", "policyText": public.to_string()}),
    );

    let report = w.audit_json(&["--all-roles"]).json();
    let findings = report["findings"].as_array().unwrap();
    let fix_of = |id: &str, name: &str| {
        findings
            .iter()
            .find(|f| f["id"] == id && f["name"] == name)
            .unwrap_or_else(|| panic!("no {id} on {name} in {report}"))["fix"]
            .clone()
    };
    let apply = format!(
        "skyecr-bootstrap apply --github-repo acme/app --branch main --environment 'prod env' --account-id {ACCOUNT}"
    );
    for (id, name, fix) in [
        ("trust-sub-if-exists", "GitHubActions-SkyPilot-ECR", apply.clone()),
        ("push-wildcard-action", "SkyPilot-ECR-Push", apply.clone()),
        ("role-extra-permissions", "GitHubActions-SkyPilot-ECR", apply.clone()),
        (
            "repository-mutable-tags",
            "skypilot",
            "aws ecr put-image-tag-mutability --repository-name skypilot --image-tag-mutability IMMUTABLE_WITH_EXCLUSION --image-tag-mutability-exclusion-filters filterType=WILDCARD,filter=latest --region us-east-1".into(),
        ),
        (
            "repository-no-scan-on-push",
            "skypilot",
            "aws ecr put-image-scanning-configuration --repository-name skypilot --image-scanning-configuration scanOnPush=true --region us-east-1".into(),
        ),
        (
            "repository-policy-public",
            "skypilot",
            "aws ecr delete-repository-policy --repository-name skypilot --region us-east-1".into(),
        ),
        (
            "environment-unprotected",
            "GitHubActions-SkyPilot-ECR",
            "gh api -X PUT repos/acme/app/environments/prod%20env -F 'deployment_branch_policy[protected_branches]=true' -F 'deployment_branch_policy[custom_branch_policies]=false'".into(),
        ),
        (
            "trust-sub-if-exists",
            "legacy-deployer",
            "aws iam get-role --role-name legacy-deployer --query Role.AssumeRolePolicyDocument --output json --region us-east-1 > legacy-deployer-trust.json && \"${EDITOR:-vi}\" legacy-deployer-trust.json && aws iam update-assume-role-policy --role-name legacy-deployer --policy-document file://legacy-deployer-trust.json --region us-east-1".into(),
        ),
    ] {
        assert_eq!(fix_of(id, name), json!(fix), "{id} on {name}");
    }
    assert!(findings.len() >= 10, "{report}");
    for finding in findings {
        assert_pasteable(&w, finding);
    }

    // The tool's own fix, pasted, leaves nothing of what it fixes.
    let words = shlex::split(&apply).unwrap();
    w.cmd().args(&words[1..]).args(["--yes"]).run().success();
    let after = w.audit_json(&[]).json();
    let left: Vec<&Value> = after["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fix"] == json!(apply))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn destroy_can_keep_the_repository_and_its_images() {
    let w = World::start();
    w.apply(&[]).success();
    let out = w
        .cmd()
        .args([
            "destroy",
            "--yes",
            "--keep-repository",
            "--github-repo",
            REPO,
        ])
        .run();
    out.success();
    assert!(
        out.stdout.contains("skypilot")
            && out
                .stdout
                .contains("left in place with its images: --keep-repository"),
        "{}",
        out.stdout
    );
    let repos = w.block_on(w.ecr().describe_repositories().send()).unwrap();
    assert_eq!(repos.repositories().len(), 1, "the repository went");
    let roles = w.block_on(w.iam().list_roles().send()).unwrap();
    assert!(roles.roles().is_empty(), "the role stayed");
    // A plain destroy afterwards removes it.
    let out = w
        .cmd()
        .args(["destroy", "--yes", "--github-repo", REPO])
        .run();
    out.success();
    let repos = w.block_on(w.ecr().describe_repositories().send()).unwrap();
    assert!(repos.repositories().is_empty());
}

#[test]
fn help_lists_a_commands_own_flags_before_the_shared_settings() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skyecr-bootstrap"))
        .args(["destroy", "--help"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let (own, shared) = help
        .split_once("Settings (every command; also keys of skyecr.json):\n")
        .unwrap_or_else(|| panic!("no settings heading in:\n{help}"));
    for flag in ["--force", "--keep-repository", "--yes"] {
        assert!(
            own.contains(flag),
            "{flag} is not among destroy's own flags:\n{help}"
        );
    }
    for flag in ["--kms-key", "--github-repo", "--tag-mutability", "--output"] {
        assert!(
            !own.contains(flag),
            "{flag} is listed before the heading:\n{help}"
        );
        assert!(
            shared.contains(flag),
            "{flag} is missing under the heading:\n{help}"
        );
    }
}

#[test]
fn verbose_names_every_request_and_quiet_prints_no_progress() {
    let w = World::start();
    let plan = ["plan", "--github-repo", REPO, "--branch", "main"];
    let plain = w.cmd().env_remove("SKYECR_DEBUG").args(plan).run();
    assert!(!plain.stderr.contains("note:"), "{}", plain.stderr);
    let verbose = w
        .cmd()
        .env_remove("SKYECR_DEBUG")
        .args(plan)
        .args(["-v"])
        .run();
    for line in [
        "note: aws sts GetCallerIdentity: 200 in ",
        "note: aws iam ListOpenIDConnectProviders: 200 in ",
        "note: github GET /repos/acme/app: 200 in ",
    ] {
        assert!(
            verbose.stderr.contains(line),
            "no {line:?} in:\n{}",
            verbose.stderr
        );
    }
    let quiet = w
        .cmd()
        .env_remove("SKYECR_DEBUG")
        .args([
            "apply",
            "--yes",
            "--quiet",
            "--github-repo",
            REPO,
            "--branch",
            "main",
        ])
        .run();
    quiet.success();
    assert_eq!(quiet.stderr, "", "--quiet printed progress");
    assert!(
        quiet.stdout.contains("Plan: 7 to create"),
        "{}",
        quiet.stdout
    );
}

#[test]
fn ctrl_c_during_apply_says_where_it_stopped_and_the_rerun_finishes() {
    let w = World::start();
    // The AWS side runs in stages: the provider, policy and repository, then the role once
    // they all are done. Holding CreateRole stops the run with the first stage finished.
    w.aws_faults(json!({"action": "CreateRole", "hold": "interrupt"}));
    let apply = [
        "apply",
        "--yes",
        "--github-repo",
        REPO,
        "--branch",
        "main",
        "--no-save",
    ];
    let running = w.cmd().args(apply).spawn();
    w.wait_for_held("interrupt", 1);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &running.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = running.wait();
    assert_eq!(out.code, 130, "{}", out.stderr);
    let summary = out
        .stderr
        .split_once("Interrupted. Where it stopped:\n")
        .unwrap_or_else(|| panic!("no summary: {}", out.stderr))
        .1;
    for line in [
        "  finished     oidc_provider https://token.actions.githubusercontent.com (created)\n",
        "  finished     policy SkyPilot-ECR-Push (created)\n",
        "  finished     repository skypilot (created)\n",
        "  interrupted  role GitHubActions-SkyPilot-ECR (was creating; it may or may not have happened)\n",
        "A rerun of the same command continues from there",
    ] {
        assert!(summary.contains(line), "no {line:?} in\n{summary}");
    }
    assert!(
        out.stderr.trim_end().ends_with("error: interrupted"),
        "{}",
        out.stderr
    );

    // The held CreateRole goes on to moto once released: the rerun meets a role that exists.
    w.release_hold("interrupt");
    w.wait_for_action("CreateRole", 1);
    let rerun = w.cmd().args(apply).run();
    rerun.success();
    let plan = w.plan_json(&[]);
    assert_eq!(plan["changes"], json!([]), "{plan}");
}

#[test]
fn a_spinner_shows_the_reads_on_a_terminal_and_goes_before_the_plan() {
    let w = World::start();
    w.apply(&[]).success();
    let plan = ["plan", "--github-repo", REPO, "--branch", "main"];
    // --verbose's request lines would cut through a spinner: none of them here.
    let quiet_world = || w.cmd().env_remove("SKYECR_DEBUG");
    let mut t = Terminal::start(quiet_world().args(plan));
    t.expect("Reading AWS and GitHub…");
    t.expect("No changes");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    // The line is erased (indicatif clears it) before the plan is written below it.
    let after = t.raw.rsplit_once("Reading AWS and GitHub…").unwrap().1;
    let (before_plan, _) = after.split_once("No changes").unwrap();
    assert!(
        before_plan.contains("\u{1b}[2K"),
        "not cleared: {before_plan:?}"
    );

    // Not for a script, nor with --quiet or --output json on a terminal.
    let piped = w.cmd().args(plan).run();
    assert!(!piped.stderr.contains("Reading AWS"), "{}", piped.stderr);
    for extra in [&["--quiet"][..], &["--output", "json"]] {
        let mut t = Terminal::start(quiet_world().args(plan).args(extra));
        assert_eq!(t.exit_code(), 0, "{}", t.screen());
        assert!(
            !t.screen().contains("Reading AWS"),
            "{extra:?}: {}",
            t.screen()
        );
    }
}
