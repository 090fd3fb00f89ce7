//! Many repositories in one settings file (`repositories`): each entry gets resources of its
//! own, trusted by and delivered to its own repository only; one OIDC provider serves all.
use serde_json::{Value, json};

use crate::support::{ACCOUNT, World};

const ISSUER: &str = "token.actions.githubusercontent.com";

/// `acme/svc-01` … `acme/svc-NN` in the stand-in (owner 1001, repository IDs 7001 …), created
/// before immutable subjects, as most repositories are.
fn add_services(w: &World, n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| {
            let repo = format!("acme/svc-{i:02}");
            w.add_repo(&repo, 1001, 7000 + i as u64, "2020-01-01T00:00:00Z");
            repo
        })
        .collect()
}

fn write_manifest(w: &World, repos: &[String], extra: Value) {
    let mut file = json!({
        "branches": ["main"],
        "repositories": repos.iter().map(|r| json!({"github_repo": r})).collect::<Vec<_>>(),
    });
    if let (Some(file), Value::Object(extra)) = (file.as_object_mut(), extra) {
        file.extend(extra);
    }
    std::fs::write(w.dir.path().join("skyecr.json"), file.to_string()).unwrap();
}

fn state_of(w: &World, repo: &str) -> Value {
    w.get(&format!("{}/_standin/repos/{repo}/state", w.github))
}

fn role_names(w: &World) -> Vec<String> {
    let mut names: Vec<String> = w
        .block_on(w.iam().list_roles().send())
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name().to_string())
        .collect();
    names.sort();
    names
}

/// Every entry's role trusts exactly its own repository (name, ID and owner ID), its secret
/// decrypts to its own role's ARN, its policy pushes to its own ECR repository only.
fn assert_each_its_own(w: &World, repos: &[String]) {
    for (i, repo) in repos.iter().enumerate() {
        let name = repo.split_once('/').unwrap().1;
        let role = format!("GitHubActions-{name}-ECR");
        assert_eq!(
            w.trust_policy(&role)["Statement"][0]["Condition"],
            json!({"StringEquals": {
                format!("{ISSUER}:aud"): "sts.amazonaws.com",
                format!("{ISSUER}:repository_id"): (7001 + i).to_string(),
                format!("{ISSUER}:repository_owner_id"): "1001",
                // Both forms GitHub may send: by name, and with the IDs (docs/trust.md).
                format!("{ISSUER}:sub"): [
                    format!("repo:{repo}:ref:refs/heads/main"),
                    format!("repo:acme@1001/{name}@{}:ref:refs/heads/main", 7001 + i),
                ],
            }}),
            "{role}"
        );
        assert_eq!(
            state_of(w, repo)["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
            format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
            "{repo}"
        );
        let policy_arn = format!("arn:aws:iam::{ACCOUNT}:policy/{name}-ECR-Push");
        let attached = w
            .block_on(
                w.iam()
                    .list_attached_role_policies()
                    .role_name(&role)
                    .send(),
            )
            .unwrap();
        let attached: Vec<&str> = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .collect();
        assert_eq!(attached, vec![policy_arn.as_str()], "{role}");
        let version = w
            .block_on(
                w.iam()
                    .get_policy_version()
                    .policy_arn(&policy_arn)
                    .version_id("v1")
                    .send(),
            )
            .unwrap();
        let document = crate::support::decode_policy(
            version
                .policy_version()
                .and_then(|v| v.document())
                .unwrap_or_default(),
        );
        let scoped: Vec<&Value> = document["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["Resource"])
            .filter(|r| *r != "*")
            .collect();
        assert_eq!(
            scoped,
            vec![&json!(format!(
                "arn:aws:ecr:us-east-1:{ACCOUNT}:repository/{name}"
            ))],
            "{policy_arn}"
        );
    }
}

#[test]
fn twenty_repositories_each_get_their_own_and_a_rerun_writes_nothing() {
    let w = World::start();
    let repos = add_services(&w, 20);
    write_manifest(&w, &repos, json!({}));
    let out = w.cmd().args(["apply", "--yes", "--output", "json"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    let listed: Vec<&str> = doc["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["github_repo"].as_str().unwrap())
        .collect();
    assert_eq!(listed, repos.iter().map(String::as_str).collect::<Vec<_>>());
    assert_each_its_own(&w, &repos);
    let mut expected_roles: Vec<String> = (1..=20)
        .map(|i| format!("GitHubActions-svc-{i:02}-ECR"))
        .collect();
    expected_roles.sort();
    assert_eq!(role_names(&w), expected_roles);
    let providers = w
        .block_on(w.iam().list_open_id_connect_providers().send())
        .unwrap();
    assert_eq!(providers.open_id_connect_provider_list().len(), 1);
    // The provider is created once, not once per repository.
    let creates = out.json()["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["changes"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["resource"] == "oidc_provider")
        .count();
    assert_eq!(creates, 1);
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(w.dir.path().join("skyecr.json")).unwrap())
            .unwrap();
    assert_eq!(saved["account_id"], ACCOUNT);
    assert_eq!(saved["repositories"].as_array().unwrap().len(), 20);

    w.clear_requests();
    let rerun = w.cmd().args(["apply", "--yes"]).run();
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert_eq!(w.writes(), Vec::<String>::new());
    // What is the same for every repository is read once: the account's policies, the
    // provider; each repository's secrets key once, though two resources need it.
    let requests = w.requests();
    let count = |action: &str| requests.iter().filter(|r| r["action"] == action).count();
    assert_eq!(count("GetAccountAuthorizationDetails"), 1);
    assert_eq!(count("GetOpenIDConnectProvider"), 1);
    assert_eq!(count("GET /orgs/acme/actions/oidc/customization/sub"), 1);
    assert_eq!(count("GetCallerIdentity"), 1);
    assert_eq!(count("DescribeRepositories"), 1);
    // In OIDC mode, with no key ever delivered on record, there are no keys to look for.
    assert_eq!(count("ListAccessKeys"), 0);
    for repo in &repos {
        assert_eq!(
            count(&format!("GET /repos/{repo}/actions/secrets/public-key")),
            1,
            "{repo}"
        );
    }
    for repo in &repos {
        assert!(
            rerun.stdout.contains(&format!("── {repo} ──")),
            "{repo} has no group:\n{}",
            rerun.stdout
        );
    }
    assert!(rerun.stdout.contains("No changes"), "{}", rerun.stdout);
}

#[test]
fn names_that_clash_are_refused_before_any_request() {
    let w = World::start();
    w.add_repo("other/app", 1002, 7100, "2020-01-01T00:00:00Z");
    write_manifest(
        &w,
        &["acme/app".to_string(), "other/app".to_string()],
        json!({}),
    );
    w.clear_requests();
    let out = w.cmd().args(["plan"]).run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("role name GitHubActions-app-ECR is used by both acme/app and other/app"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("{owner}"), "{}", out.stderr);
    assert_eq!(w.requests(), Vec::<Value>::new());
    // The same repository twice, in another case, is the same repository.
    write_manifest(
        &w,
        &["acme/app".to_string(), "ACME/App".to_string()],
        json!({}),
    );
    let out = w.cmd().args(["apply", "--yes"]).run();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("GitHub repository"), "{}", out.stderr);
    assert_eq!(w.requests(), Vec::<Value>::new());
}

#[test]
fn throttling_on_a_tenth_of_the_iam_writes_is_absorbed() {
    let w = World::start();
    let repos = add_services(&w, 20);
    write_manifest(&w, &repos, json!({}));
    // 20 repositories make 61 IAM writes (a role, a policy and an attachment each, and the
    // provider); every tenth is throttled once, in IAM's own error format.
    let rules: Vec<Value> = (0..6)
        .map(|k| {
            json!({
                "action_regex": "^(Create|Attach|Tag|Put|Update)",
                "throttle": true,
                "times": 1,
                "after": 9 * k,
            })
        })
        .collect();
    w.aws_faults(Value::Array(rules));
    let out = w.cmd().args(["apply", "--yes"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    w.assert_fault_hits(&[1, 1, 1, 1, 1, 1]);
    assert_each_its_own(&w, &repos);
    w.clear_requests();
    w.cmd().args(["apply", "--yes"]).run().success();
    assert_eq!(w.writes(), Vec::<String>::new());
}

#[test]
fn github_repo_picks_one_entry() {
    let w = World::start();
    let repos = add_services(&w, 3);
    write_manifest(&w, &repos, json!({}));
    let out = w
        .cmd()
        .args([
            "apply",
            "--yes",
            "--output",
            "json",
            "--github-repo",
            "acme/SVC-02",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["repositories"].as_array().unwrap().len(), 1);
    assert_eq!(doc["repositories"][0]["github_repo"], "acme/svc-02");
    assert_eq!(role_names(&w), vec!["GitHubActions-svc-02-ECR".to_string()]);
    assert!(state_of(&w, "acme/svc-01")["secrets"]["AWS_ECR_ROLE_ARN"].is_null());
    assert_eq!(
        state_of(&w, "acme/svc-02")["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        format!("arn:aws:iam::{ACCOUNT}:role/GitHubActions-svc-02-ECR")
    );
    let unlisted = w
        .cmd()
        .args(["plan", "--github-repo", "acme/elsewhere"])
        .run();
    assert_eq!(unlisted.code, 1);
    assert!(
        unlisted
            .stderr
            .contains("acme/svc-01, acme/svc-02, acme/svc-03"),
        "{}",
        unlisted.stderr
    );
}

#[test]
fn exit_codes_combine_as_the_highest_of_the_entries() {
    let w = World::start();
    let repos = add_services(&w, 1);
    // acme/ghost is not on GitHub: its entry fails, the others still run.
    write_manifest(&w, &[repos[0].clone(), "acme/ghost".to_string()], json!({}));
    let plan = w.cmd().args(["plan", "--output", "json"]).run();
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    let doc = plan.json();
    assert_eq!(doc["repositories"][0]["github_repo"], "acme/svc-01");
    assert!(doc["repositories"][0]["changes"].as_array().unwrap().len() > 3);
    assert!(
        doc["repositories"][1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("acme/ghost"),
        "{doc}"
    );
    // Changes (2) beside a failure (1): the highest.
    let detailed = w.cmd().args(["plan", "--detailed-exitcode"]).run();
    assert_eq!(detailed.code, 2, "{}", detailed.stderr);
    let applied = w.cmd().args(["apply", "--yes"]).run();
    assert_eq!(applied.code, 1);
    assert_eq!(role_names(&w), vec!["GitHubActions-svc-01-ECR".to_string()]);
    let audit = w
        .cmd()
        .args(["audit", "--github-repo", "acme/svc-01"])
        .run();
    assert_eq!(audit.code, 0, "{}\n{}", audit.stdout, audit.stderr);
}

#[test]
fn destroy_removes_every_entry_and_then_the_provider() {
    let w = World::start();
    let repos = add_services(&w, 3);
    write_manifest(&w, &repos, json!({}));
    w.cmd().args(["apply", "--yes"]).run().success();
    let out = w.cmd().args(["destroy", "--yes"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(role_names(&w), Vec::<String>::new());
    let providers = w
        .block_on(w.iam().list_open_id_connect_providers().send())
        .unwrap();
    assert_eq!(providers.open_id_connect_provider_list().len(), 0);
    for repo in &repos {
        assert!(state_of(&w, repo)["secrets"]["AWS_ECR_ROLE_ARN"].is_null());
    }
}

/// The most requests to one service the world had in hand at once (only the mutating ones
/// with `writes`).
fn most_in_flight(requests: &[Value], service: &str, writes: bool) -> usize {
    let mut edges: Vec<(f64, i32)> = requests
        .iter()
        .filter(|r| r["service"] == service && (!writes || r["mutating"] == true))
        .flat_map(|r| {
            [
                (r["start"].as_f64().unwrap(), 1),
                (r["end"].as_f64().unwrap(), -1),
            ]
        })
        .collect();
    // An answer that ends as another request starts has left: ends first.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

#[test]
fn requests_in_flight_stay_within_each_services_bound() {
    let w = World::start();
    let repos = add_services(&w, 20);
    write_manifest(&w, &repos, json!({}));
    // Slow answers, so that what the tool sends at once is seen at once.
    w.aws_faults(json!({"action_regex": ".", "delay_ms": 40, "times": null}));
    w.github_faults(json!({"path_regex": "^/repos/", "delay_ms": 40, "times": null}));
    w.clear_requests();
    let out = w.cmd().args(["apply", "--yes"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = w.requests();
    // 20 entries read about 5 IAM and 6 GitHub resources each, all at once but for the bound
    // (docs/usage.md): IAM reads 48, IAM writes 10, GitHub 64.
    let iam = most_in_flight(&requests, "iam", false);
    let iam_writes = most_in_flight(&requests, "iam", true);
    let github = most_in_flight(&requests, "github", false);
    assert!((24..=48).contains(&iam), "IAM had {iam} requests in flight");
    assert!(
        (6..=10).contains(&iam_writes),
        "IAM had {iam_writes} writes in flight"
    );
    assert!(
        (30..=64).contains(&github),
        "GitHub had {github} requests in flight"
    );
}

#[test]
fn audit_and_check_access_answer_for_every_entry() {
    let w = World::start();
    let repos = add_services(&w, 2);
    write_manifest(&w, &repos, json!({}));
    w.cmd().args(["apply", "--yes"]).run().success();
    let audit = w.cmd().args(["audit", "--output", "json"]).run();
    assert_eq!(audit.code, 0, "{}", audit.stdout);
    let doc = audit.json();
    for (i, repo) in repos.iter().enumerate() {
        let entry = &doc["repositories"][i];
        assert_eq!(entry["github_repo"], repo.as_str());
        assert_eq!(entry["in_sync"], true, "{entry}");
        let role = format!("GitHubActions-{}-ECR", repo.split_once('/').unwrap().1);
        assert!(
            entry["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["resource"] == "role" && r["name"] == role.as_str()),
            "{entry}"
        );
    }
    // One SARIF log, a run per repository.
    let sarif = w.cmd().args(["audit", "--output", "sarif"]).run();
    let log: Value = serde_json::from_str(&sarif.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["runs"].as_array().unwrap().len(), 2);
    // Drift in one entry is that entry's, and the exit code says so.
    w.ecr_raw(
        "PutImageScanningConfiguration",
        json!({"repositoryName": "svc-02", "imageScanningConfiguration": {"scanOnPush": false}}),
    );
    let drifted = w.cmd().args(["audit", "--output", "json"]).run();
    assert_eq!(drifted.code, 2);
    let doc = drifted.json();
    assert_eq!(doc["repositories"][0]["in_sync"], true);
    assert_eq!(doc["repositories"][1]["in_sync"], false);

    let access = w
        .cmd()
        .args([
            "check-access",
            "--ref",
            "refs/heads/main",
            "--output",
            "json",
        ])
        .run();
    assert_eq!(access.code, 0, "{}", access.stderr);
    let doc = access.json();
    for (i, repo) in repos.iter().enumerate() {
        assert_eq!(doc["repositories"][i]["github_repo"], repo.as_str());
        assert_eq!(doc["repositories"][i]["allowed"], true);
    }
    let denied = w
        .cmd()
        .args(["check-access", "--ref", "refs/heads/dev"])
        .run();
    assert_eq!(denied.code, 2);
    assert!(
        denied.stdout.contains("── acme/svc-02 ──"),
        "{}",
        denied.stdout
    );
}

#[test]
fn audit_all_roles_reads_the_account_once_and_leaves_the_entries_roles_to_them() {
    let w = World::start();
    let repos = add_services(&w, 3);
    write_manifest(&w, &repos, json!({}));
    w.cmd().args(["apply", "--yes"]).run().success();
    let wide = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {format!("{ISSUER}:sub"): "repo:acme/*"}}}]});
    w.block_on(
        w.iam()
            .create_role()
            .role_name("legacy-deployer")
            .assume_role_policy_document(wide.to_string())
            .send(),
    )
    .unwrap();
    w.clear_requests();
    let out = w
        .cmd()
        .args(["audit", "--all-roles", "--output", "json"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    let doc = out.json();
    for i in 0..3 {
        assert_eq!(doc["repositories"][i]["in_sync"], true, "{doc}");
    }
    let named: Vec<&str> = doc["other_roles"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        !named.is_empty() && named.iter().all(|n| *n == "legacy-deployer"),
        "{doc}"
    );
    let listings = w
        .requests()
        .iter()
        .filter(|r| r["action"] == "ListRoles")
        .count();
    assert_eq!(listings, 1, "the account's roles are listed once");
    let text = w.cmd().args(["audit", "--all-roles"]).run();
    assert!(
        text.stdout.contains("── other roles in the account ──"),
        "{}",
        text.stdout
    );
}
