//! Ownership: the tool changes only what it made or was told to adopt (tags, records), and
//! the inputs that would let it act for the wrong account, host or file are refused.
use serde_json::{Value, json};

use crate::support::{ACCOUNT, REPO, World};
use skyecr_bootstrap::policy::decode_document;

const ROLE: &str = "GitHubActions-SkyPilot-ECR";
const POLICY: &str = "SkyPilot-ECR-Push";

fn provider_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")
}

fn push_policy_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{POLICY}")
}

fn trust_of(w: &World, role: &str) -> Value {
    let out = w
        .block_on(w.iam().get_role().role_name(role).send())
        .expect("role exists");
    decode_document(
        out.role()
            .and_then(|r| r.assume_role_policy_document())
            .unwrap_or_default(),
    )
    .expect("trust policy parses")
}

/// The trust of acme/app's main branch, written out by hand.
fn app_main_trust() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "GitHubActionsOidc", "Effect": "Allow",
        "Principal": {"Federated": provider_arn()},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:repository_id": "2002",
            "token.actions.githubusercontent.com:repository_owner_id": "1001",
            "token.actions.githubusercontent.com:sub": [
                "repo:acme/app:ref:refs/heads/main",
                "repo:acme@1001/app@2002:ref:refs/heads/main"]}}}]})
}

fn attached(w: &World, role: &str) -> Vec<String> {
    let out = w
        .block_on(w.iam().list_attached_role_policies().role_name(role).send())
        .unwrap();
    let mut arns: Vec<String> = out
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    arns.sort();
    arns
}

fn role_tags(w: &World, role: &str) -> Vec<(String, String)> {
    let out = w
        .block_on(w.iam().list_role_tags().role_name(role).send())
        .unwrap();
    let mut tags: Vec<(String, String)> = out
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    tags
}

fn tool_tags(repo: &str) -> Vec<(String, String)> {
    vec![
        ("managed-by".into(), "skyecr-bootstrap".into()),
        ("skyecr-bootstrap/github-repository".into(), repo.into()),
    ]
}

/// A managed policy granting everything, as an administrator's would.
fn admin_policy(w: &World) -> String {
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    w.block_on(
        w.iam()
            .create_policy()
            .policy_name("AdministratorAccess")
            .policy_document(doc.to_string())
            .send(),
    )
    .unwrap()
    .policy()
    .and_then(|p| p.arn())
    .unwrap()
    .to_string()
}

#[test]
fn every_resource_the_tool_creates_is_tagged_for_its_repository() {
    let w = World::start();
    w.apply(&[]).success();
    assert_eq!(role_tags(&w, ROLE), tool_tags(REPO));
    let policy_tags = w
        .block_on(
            w.iam()
                .list_policy_tags()
                .policy_arn(push_policy_arn())
                .send(),
        )
        .unwrap();
    let mut tags: Vec<(String, String)> = policy_tags
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    assert_eq!(tags, tool_tags(REPO));
    let repo_tags = w
        .block_on(
            w.ecr()
                .list_tags_for_resource()
                .resource_arn(format!(
                    "arn:aws:ecr:us-east-1:{ACCOUNT}:repository/skypilot"
                ))
                .send(),
        )
        .unwrap();
    let mut tags: Vec<(String, String)> = repo_tags
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    assert_eq!(tags, tool_tags(REPO));
    let provider = w
        .block_on(
            w.iam()
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(provider_arn())
                .send(),
        )
        .unwrap();
    let tags: Vec<(String, String)> = provider
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    assert_eq!(
        tags,
        [("managed-by".to_string(), "skyecr-bootstrap".to_string())],
        "the shared provider carries managed-by only"
    );
}

#[test]
fn a_second_repository_with_the_default_names_cannot_take_over_the_first() {
    let w = World::start();
    w.apply(&[]).success();
    w.add_repo("acme/web", 1001, 3003, "2024-01-01T00:00:00Z");
    w.clear_requests();
    let taken = w
        .cmd()
        .args([
            "apply",
            "--yes",
            "--github-repo",
            "acme/web",
            "--branch",
            "develop",
        ])
        .run();
    assert_eq!(taken.code, 1, "{}", taken.stderr);
    assert!(
        taken
            .stdout
            .contains("belongs to the skyecr-bootstrap setup of acme/app")
            && taken.stdout.contains("--role-name GitHubActions-web-ECR"),
        "names the owner and a free name:\n{}",
        taken.stdout
    );
    assert_eq!(w.writes(), Vec::<String>::new(), "blocked: nothing written");
    assert_eq!(trust_of(&w, ROLE), app_main_trust());
    let still = w
        .cmd()
        .args([
            "check-access",
            "--github-repo",
            REPO,
            "--ref",
            "refs/heads/main",
        ])
        .run();
    assert_eq!(
        still.code, 0,
        "acme/app's pipeline is still allowed\n{}",
        still.stdout
    );
}

#[test]
fn a_foreign_role_is_refused_then_adopted_with_everything_it_held_removed() {
    let w = World::start();
    let admin = admin_policy(&w);
    let ec2 = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let iam = w.iam();
    w.block_on(
        iam.create_role()
            .role_name("Team-Deploy-Role")
            .assume_role_policy_document(ec2.to_string())
            .send(),
    )
    .unwrap();
    w.block_on(
        iam.attach_role_policy()
            .role_name("Team-Deploy-Role")
            .policy_arn(&admin)
            .send(),
    )
    .unwrap();

    let refused = w.apply(&["--role-name", "Team-Deploy-Role"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stdout
            .contains("not created by skyecr-bootstrap; pass --adopt"),
        "{}",
        refused.stdout
    );
    assert_eq!(trust_of(&w, "Team-Deploy-Role"), ec2, "trust untouched");
    assert_eq!(
        attached(&w, "Team-Deploy-Role"),
        std::slice::from_ref(&admin)
    );

    let adopted = w.apply(&["--role-name", "Team-Deploy-Role", "--adopt"]);
    adopted.success();
    assert!(
        adopted.stdout.contains(&format!("- detach {admin}"))
            && adopted.stdout.contains("+ tag managed-by=skyecr-bootstrap"),
        "the plan lists what adoption changes:\n{}",
        adopted.stdout
    );
    assert_eq!(trust_of(&w, "Team-Deploy-Role"), app_main_trust());
    assert_eq!(attached(&w, "Team-Deploy-Role"), [push_policy_arn()]);
    assert_eq!(role_tags(&w, "Team-Deploy-Role"), tool_tags(REPO));

    w.clear_requests();
    w.apply(&["--role-name", "Team-Deploy-Role"]).success();
    assert_eq!(
        w.writes(),
        Vec::<String>::new(),
        "adopted: the rerun writes nothing"
    );
}

#[test]
fn permissions_added_to_the_push_role_are_reported_and_removed() {
    let w = World::start();
    w.apply(&[]).success();
    let admin = admin_policy(&w);
    let iam = w.iam();
    w.block_on(
        iam.attach_role_policy()
            .role_name(ROLE)
            .policy_arn(&admin)
            .send(),
    )
    .unwrap();
    let s3 = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    w.block_on(
        iam.put_role_policy()
            .role_name(ROLE)
            .policy_name("s3-everything")
            .policy_document(s3.to_string())
            .send(),
    )
    .unwrap();

    let audit = w.audit_json(&["--branch", "main"]);
    assert_eq!(audit.code, 2, "{}", audit.stdout);
    let report = audit.json();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "role-extra-permissions")
        .unwrap_or_else(|| panic!("no role-extra-permissions in {report}"));
    assert_eq!(finding["severity"], "high");
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains(&admin) && message.contains("inline policy s3-everything"));

    let plan = w
        .cmd()
        .args(["plan", "--github-repo", REPO, "--branch", "main"])
        .run();
    assert!(
        plan.stdout.contains(&format!("- detach {admin}"))
            && plan.stdout.contains("- delete inline s3-everything"),
        "{}",
        plan.stdout
    );
    w.apply(&[]).success();
    assert_eq!(attached(&w, ROLE), [push_policy_arn()]);
    let inline = w
        .block_on(iam.list_role_policies().role_name(ROLE).send())
        .unwrap();
    assert!(inline.policy_names().is_empty());
    let clean = w
        .cmd()
        .args(["audit", "--github-repo", REPO, "--branch", "main"])
        .run();
    assert_eq!(clean.code, 0, "{}", clean.stdout);
}

#[test]
fn destroy_leaves_what_the_tool_did_not_make_and_says_so() {
    let w = World::start();
    w.apply(&[]).success();
    // Someone else's repository and someone else's key secrets, untouched by the tool.
    w.ecr_raw("CreateRepository", json!({"repositoryName": "team-images"}));
    w.post(
        &format!("{}/_standin/repos/{REPO}/seed", w.github),
        json!({"secrets": {"AWS_ACCESS_KEY_ID": "AKIAOTHERTEAM000000", "AWS_SECRET_ACCESS_KEY": "their-secret-value"},
               "variables": {"DEPLOY_ENV": "prod"}}),
    );
    let out = w
        .cmd()
        .args([
            "destroy",
            "--yes",
            "--github-repo",
            REPO,
            "--ecr-repository",
            "team-images",
        ])
        .run();
    out.success();
    assert!(
        out.stdout
            .contains("left in place: not created by skyecr-bootstrap")
            && out.stdout.contains("team-images")
            && out.stdout.contains("AWS_ACCESS_KEY_ID"),
        "{}",
        out.stdout
    );
    assert!(
        w.block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("team-images")
                .send()
        )
        .is_ok(),
        "the untagged repository stays"
    );
    let state = w.github_state();
    assert_eq!(
        state["secrets"]["AWS_ACCESS_KEY_ID"]["value"], "AKIAOTHERTEAM000000",
        "{state}"
    );
    assert_eq!(
        state["secrets"]["AWS_SECRET_ACCESS_KEY"]["value"],
        "their-secret-value"
    );
    assert_eq!(state["variables"]["DEPLOY_ENV"]["value"], "prod");
    // What the tool made is gone: its role, its secret and its variables with their records.
    assert!(
        w.block_on(w.iam().get_role().role_name(ROLE).send())
            .is_err()
    );
    assert!(
        state["secrets"].get("AWS_ECR_ROLE_ARN").is_none(),
        "{state}"
    );
    for name in ["AWS_REGION", "ECR_REPOSITORY", "SKYECR_SHA256_AWS_REGION"] {
        assert!(
            state["variables"].get(name).is_none(),
            "{name} left: {state}"
        );
    }
}

#[test]
fn an_unknown_profile_is_an_error_not_the_environments_account() {
    let w = World::start();
    let config = w.dir.path().join("aws-config");
    std::fs::write(&config, "[profile dev]\nregion = eu-west-1\n").unwrap();
    let credentials = w.dir.path().join("aws-credentials");
    std::fs::write(&credentials, "").unwrap();
    w.clear_requests();
    let out = w
        .cmd()
        .env("AWS_CONFIG_FILE", config.to_str().unwrap())
        .env("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap())
        .args([
            "plan",
            "--profile",
            "nosuch",
            "--github-repo",
            REPO,
            "--branch",
            "main",
        ])
        .run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("nosuch") && out.stderr.contains(config.to_str().unwrap()),
        "names the profile and the files read:\n{}",
        out.stderr
    );
    let aws_requests: Vec<Value> = w
        .requests()
        .into_iter()
        .filter(|r| r["protocol"] == "aws")
        .collect();
    assert!(aws_requests.is_empty(), "{aws_requests:?}");
}

#[test]
fn a_github_api_url_that_would_expose_the_token_is_refused_before_any_request() {
    let w = World::start();
    for url in [
        "http://api.github.example.com",
        "https://alice:hunter2@github.example.com/api/v3",
        "ftp://github.example.com",
    ] {
        w.clear_requests();
        let out = w
            .cmd()
            .env("GITHUB_API_URL", url)
            .args(["plan", "--github-repo", REPO, "--branch", "main"])
            .run();
        assert_eq!(out.code, 1, "{url}");
        assert!(
            out.stderr.contains("GITHUB_API_URL"),
            "{url}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"),
            "{url}: the URL's password is shown"
        );
        assert_eq!(
            w.requests(),
            Vec::<Value>::new(),
            "{url}: requests were made"
        );
    }
}

#[test]
fn the_workflow_is_never_written_through_a_symbolic_link() {
    let w = World::start();
    let target = w.dir.path().join("precious.txt");
    std::fs::write(&target, "do not overwrite\n").unwrap();
    let workflows = w.dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    let link = workflows.join("build-push-ecr-custom.yaml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = w
        .cmd()
        .args([
            "workflow",
            "--force",
            "--github-repo",
            REPO,
            "--branch",
            "main",
        ])
        .run();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert!(
        !out.stdout.contains("do not overwrite"),
        "the link's target was shown"
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "do not overwrite\n"
    );
}

#[test]
fn yes_in_a_settings_file_is_refused_before_any_request() {
    let w = World::start();
    std::fs::write(
        w.dir.path().join("skyecr.json"),
        r#"{"github_repo": "acme/app", "branches": ["main"], "yes": true}"#,
    )
    .unwrap();
    w.clear_requests();
    for command in ["apply", "destroy"] {
        let out = w.cmd().args([command]).run();
        assert_eq!(out.code, 1, "{command}");
        assert!(
            out.stderr.contains("\"yes\" is not a setting") && out.stderr.contains("--yes"),
            "{command}: {}",
            out.stderr
        );
    }
    assert_eq!(w.requests(), Vec::<Value>::new());
}

#[test]
fn apply_remembers_what_it_applied_so_a_bare_plan_is_empty() {
    let w = World::start();
    w.apply(&["--no-save"]).success();
    assert!(
        !w.dir.path().join("skyecr.json").exists(),
        "--no-save writes no settings file"
    );
    let out = w.apply(&["--tag", "v*"]);
    out.success();
    assert!(
        out.stderr.contains("Saved these settings"),
        "{}",
        out.stderr
    );
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(w.dir.path().join("skyecr.json")).unwrap())
            .unwrap();
    assert_eq!(
        saved,
        json!({"github_repo": "acme/app", "branches": ["main"], "tags": ["v*"], "account_id": ACCOUNT})
    );
    let plan = w.cmd().args(["plan", "--output", "json"]).run();
    plan.success();
    assert_eq!(
        plan.json()["changes"],
        json!([]),
        "the tag scope is remembered"
    );

    let other = w.dir.path().join("elsewhere.json");
    w.apply(&["--no-save", "--config", other.to_str().unwrap()])
        .success();
    assert!(!other.exists(), "--no-save writes no settings file");
}

#[test]
fn a_recorded_account_that_is_not_the_callers_stops_every_command() {
    let w = World::start();
    std::fs::write(
        w.dir.path().join("skyecr.json"),
        r#"{"github_repo": "acme/app", "branches": ["main"], "account_id": "210987654321"}"#,
    )
    .unwrap();
    for command in [
        &["apply", "--yes"][..],
        &["plan"],
        &["destroy", "--yes"],
        &["audit"],
    ] {
        w.clear_requests();
        let out = w.cmd().args(command.iter()).run();
        assert_eq!(out.code, 1, "{command:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("210987654321") && out.stderr.contains(ACCOUNT),
            "{command:?} names both accounts: {}",
            out.stderr
        );
        assert_eq!(w.writes(), Vec::<String>::new(), "{command:?}");
    }
}

/// The recorded account's ARNs take their partition from the region: credentials of another
/// partition stop the run before any write, saying both.
#[test]
fn credentials_of_another_partition_than_the_regions_stop_the_run() {
    let w = World::start();
    std::fs::write(
        w.dir.path().join("skyecr.json"),
        format!(
            r#"{{"github_repo": "acme/app", "branches": ["main"], "account_id": "{ACCOUNT}"}}"#
        ),
    )
    .unwrap();
    let identity = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{ACCOUNT}:user/deployer</Arn><UserId>AIDAEXAMPLE</UserId><Account>{ACCOUNT}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    );
    w.aws_faults(
        json!({"action": "GetCallerIdentity", "ok_body": true, "status": 200,
        "body": identity, "times": null}),
    );
    let out = w
        .cmd()
        .env("AWS_REGION", "cn-north-1")
        .args(["apply", "--yes"])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("partition aws,")
            && out.stderr.contains("cn-north-1 is in partition aws-cn"),
        "{}",
        out.stderr
    );
    assert_eq!(w.writes(), Vec::<String>::new());
}

/// With the account recorded (by the first apply), the reads that need an ARN are made up front:
/// they all arrive while the identity and the reads that would otherwise give the ARNs are
/// held, and the provider is not listed.
#[test]
fn a_recorded_account_lets_the_reads_by_arn_join_the_first_round() {
    let w = World::start();
    w.apply(&[]).success();
    w.clear_requests();
    w.aws_faults(
        json!({"action": ["GetCallerIdentity", "GetAccountAuthorizationDetails",
        "DescribeRepositories", "ListOpenIDConnectProviders"], "hold": "first", "times": null,
        "timeout_s": 120}),
    );
    let plan = w
        .cmd()
        .args(["plan", "--github-repo", REPO, "--branch", "main"])
        .spawn();
    w.wait_for_held("first", 3);
    for action in [
        "GetOpenIDConnectProvider",
        "ListPolicyTags",
        "ListTagsForResource",
    ] {
        w.wait_for_action(action, 1);
    }
    w.release_hold("first");
    let out = plan.wait();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(w.writes(), Vec::<String>::new());
    assert!(
        !w.requests()
            .iter()
            .any(|r| r["action"] == "ListOpenIDConnectProviders"),
        "the provider's ARN is known: no listing"
    );
}

#[test]
fn a_permissions_boundary_is_set_and_then_kept() {
    let w = World::start();
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]});
    let boundary = w
        .block_on(
            w.iam()
                .create_policy()
                .policy_name("push-boundary")
                .policy_document(doc.to_string())
                .send(),
        )
        .unwrap()
        .policy()
        .and_then(|p| p.arn())
        .unwrap()
        .to_string();
    w.apply(&["--permissions-boundary", &boundary]).success();
    let role = w
        .block_on(w.iam().get_role().role_name(ROLE).send())
        .unwrap();
    assert_eq!(
        role.role()
            .and_then(|r| r.permissions_boundary())
            .and_then(|b| b.permissions_boundary_arn()),
        Some(boundary.as_str())
    );
    w.clear_requests();
    w.apply(&[]).success();
    assert_eq!(
        w.writes(),
        Vec::<String>::new(),
        "the saved boundary is kept"
    );
}

#[test]
fn a_setup_made_before_tags_is_tagged_on_the_next_apply_never_blocked() {
    let w = World::start();
    w.apply(&["--no-save"]).success();
    let keys = vec![
        "managed-by".to_string(),
        "skyecr-bootstrap/github-repository".to_string(),
    ];
    let iam = w.iam();
    w.block_on(
        iam.untag_role()
            .role_name(ROLE)
            .set_tag_keys(Some(keys.clone()))
            .send(),
    )
    .unwrap();
    w.block_on(
        iam.untag_policy()
            .policy_arn(push_policy_arn())
            .set_tag_keys(Some(keys.clone()))
            .send(),
    )
    .unwrap();
    w.block_on(
        w.ecr()
            .untag_resource()
            .resource_arn(format!(
                "arn:aws:ecr:us-east-1:{ACCOUNT}:repository/skypilot"
            ))
            .set_tag_keys(Some(keys))
            .send(),
    )
    .unwrap();
    let upgrade = w.apply(&[]);
    upgrade.success();
    let tagged = upgrade
        .stdout
        .lines()
        .filter(|l| l.contains("+ tag") && l.contains("earlier version of skyecr-bootstrap"))
        .count();
    assert_eq!(
        tagged, 3,
        "role, policy and repository:\n{}",
        upgrade.stdout
    );
    assert_eq!(role_tags(&w, ROLE), tool_tags(REPO));
    w.clear_requests();
    w.apply(&[]).success();
    assert_eq!(w.writes(), Vec::<String>::new());
}
