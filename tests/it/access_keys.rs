//! Issue: access-key mode, rotation, mode switching and teardown, with no key printed, lost or orphaned.
use serde_json::{Value, json};

use crate::support::{ACCOUNT, Output, REPO, World};

const USER: &str = "github-actions-skypilot-ecr";

fn access_key_apply(w: &World, extra: &[&str]) -> Output {
    w.cmd()
        .args([
            "apply",
            "--yes",
            "--github-repo",
            REPO,
            "--auth",
            "access-key",
        ])
        .args(extra)
        .run()
}

fn keys(w: &World) -> Vec<String> {
    match w.block_on(w.iam().list_access_keys().user_name(USER).send()) {
        Ok(out) => out
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id().map(str::to_string))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The pair GitHub holds, decrypted by the stand-in.
fn delivered_pair(w: &World) -> (String, String) {
    let state = w.github_state();
    let get = |name: &str| {
        state["secrets"][name]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"))
}

fn assert_working_pair(w: &World) -> (String, String) {
    let pair = delivered_pair(w);
    assert!(
        pair.0.starts_with("AKIA") && pair.1.len() >= 40,
        "GitHub holds no key pair: {pair:?}"
    );
    // moto signs with any secret, so the pair is compared with what IAM issued: the newest
    // key, with its own secret.
    let newest = w.newest_key_of(USER).expect("IAM issued a key");
    assert!(
        newest.id == pair.0 && newest.secret == pair.1,
        "GitHub holds {} with {} (the newest key IAM issued is {}{})",
        pair.0,
        if newest.id == pair.0 && newest.secret != pair.1 {
            "a secret IAM did not issue for it"
        } else {
            "its secret"
        },
        newest.id,
        if newest.id == pair.0 {
            ""
        } else {
            ": not this one"
        }
    );
    assert_eq!(
        keys(w),
        vec![pair.0.clone()],
        "exactly the delivered key exists"
    );
    assert_eq!(
        w.caller_with(&pair.0, &pair.1),
        Some(format!("arn:aws:iam::{ACCOUNT}:user/{USER}"))
    );
    pair
}

/// No secret access key and no GitHub token in anything the tool printed.
fn assert_no_leak(outputs: &[&Output], secrets: &[&str]) {
    for out in outputs {
        for s in secrets {
            assert!(!s.is_empty());
            assert!(
                !out.stdout.contains(s) && !out.stderr.contains(s),
                "leaked {s:.4}… in\n{}\n{}",
                out.stdout,
                out.stderr
            );
        }
    }
}

#[test]
fn access_key_apply_delivers_a_working_pair_and_a_rerun_writes_nothing() {
    let w = World::start();
    let first = access_key_apply(&w, &[]);
    first.success();
    let pair = assert_working_pair(&w);
    let policies = w
        .block_on(w.iam().list_attached_user_policies().user_name(USER).send())
        .unwrap();
    assert_eq!(
        policies
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .collect::<Vec<_>>(),
        vec![format!("arn:aws:iam::{ACCOUNT}:policy/SkyPilot-ECR-Push").as_str()]
    );
    w.clear_requests();
    let rerun = access_key_apply(&w, &["--output", "json"]);
    rerun.success();
    assert_eq!(rerun.json()["changes"], json!([]));
    assert_eq!(w.writes(), Vec::<String>::new());
    let audit = w
        .cmd()
        .args(["audit", "--github-repo", REPO, "--auth", "access-key"])
        .run();
    assert_eq!(audit.code, 0, "{}", audit.stdout);
    assert_no_leak(&[&first, &rerun, &audit], &[&pair.1, crate::support::TOKEN]);
}

/// The first delivery ends with one write: the pending mark renamed to the record, so no crash
/// can leave the record without the mark's removal or the other way round (docs/secrets.md).
#[test]
fn a_first_delivery_records_its_key_by_renaming_the_pending_mark() {
    let w = World::start();
    w.clear_requests();
    access_key_apply(&w, &[]).success();
    let (key_id, _) = assert_working_pair(&w);
    let variables = &w.github_state()["variables"];
    assert_eq!(variables["SKYECR_ACCESS_KEY_ID"]["value"], key_id.as_str());
    assert!(
        variables["SKYECR_ACCESS_KEY_PENDING"].is_null(),
        "{variables}"
    );
    let writes = w.writes();
    let pending = "/actions/variables/SKYECR_ACCESS_KEY_PENDING";
    let secrets = writes
        .iter()
        .rposition(|l| l.contains("/actions/secrets/AWS_"));
    let tail: Vec<&String> = writes.iter().skip(secrets.map_or(0, |i| i + 1)).collect();
    assert_eq!(
        tail,
        [&format!("github PATCH /repos/{REPO}{pending}")],
        "after the secrets, only the rename: {writes:#?}"
    );
}

#[test]
fn a_github_failure_after_key_creation_deletes_the_new_key() {
    let w = World::start();
    w.github_faults(json!([{"method": "PUT", "path_regex": "/actions/secrets/AWS_SECRET_ACCESS_KEY$", "status": 500, "times": 10}]));
    let out = access_key_apply(&w, &[]);
    assert_eq!(out.code, 1);
    // The GitHub client's four attempts all met the fault.
    w.assert_fault_hits(&[4]);
    assert!(
        out.stderr.contains("deleted again") && out.stderr.contains("nothing is orphaned"),
        "{}",
        out.stderr
    );
    assert_eq!(
        keys(&w),
        Vec::<String>::new(),
        "no undelivered key may remain"
    );
    w.github_faults(json!([]));
    w.send(
        reqwest::Method::DELETE,
        &format!("{}/_standin/faults", w.github),
        Value::Null,
    );
    access_key_apply(&w, &[]).success();
    assert_working_pair(&w);
}

#[test]
fn a_user_with_two_keys_gets_a_clear_message() {
    let w = World::start();
    let iam = w.iam();
    w.block_on(iam.create_user().user_name(USER).send())
        .unwrap();
    for _ in 0..2 {
        w.block_on(iam.create_access_key().user_name(USER).send())
            .unwrap();
    }
    let existing = keys(&w);
    w.clear_requests();
    let out = access_key_apply(&w, &[]);
    assert_eq!(out.code, 1);
    for k in &existing {
        assert!(
            out.stdout.contains(k.as_str()) || out.stderr.contains(k.as_str()),
            "names key {k}: {}{}",
            out.stdout,
            out.stderr
        );
    }
    assert!(
        out.stderr.contains("IAM's limit") || out.stdout.contains("IAM's limit"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("rotate-keys") || out.stderr.contains("rotate-keys"));
    assert_eq!(w.writes(), Vec::<String>::new(), "blocked: nothing written");
    assert_eq!(keys(&w), existing);
}

#[test]
fn rotate_keys_replaces_the_pair_and_survives_a_fault_between_steps() {
    let w = World::start();
    access_key_apply(&w, &[]).success();
    let (old, _) = assert_working_pair(&w);

    let rotate = w
        .cmd()
        .args([
            "rotate-keys",
            "--yes",
            "--github-repo",
            REPO,
            "--auth",
            "access-key",
        ])
        .run();
    rotate.success();
    let (new, secret) = assert_working_pair(&w);
    assert_ne!(new, old, "a new key");
    assert_no_leak(&[&rotate], &[&secret]);

    // The first rotation a while ago: GitHub's timestamps have whole seconds, and secrets
    // written in the second of the last record cannot be told from that delivery's own, so
    // the rerun would (safely) deliver a fresh key instead of adopting.
    w.post(&format!("{}/_world/age", w.github), json!({"seconds": 5}));
    // Fault after both secrets are written, before the delivery is recorded: on the record
    // alone (by its name in the body: every variable is created by a POST on one path).
    w.github_faults(json!([
        {"method": "PATCH", "path_regex": "/actions/variables/SKYECR_ACCESS_KEY_ID$", "status": 500, "times": 10},
        {"method": "POST", "path_regex": "/actions/variables$", "body_regex": r#""name":\s*"SKYECR_ACCESS_KEY_ID""#, "status": 500, "times": 10}
    ]));
    let failed = w
        .cmd()
        .args([
            "rotate-keys",
            "--yes",
            "--github-repo",
            REPO,
            "--auth",
            "access-key",
        ])
        .run();
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    // The record exists, so it is updated (PATCH), four attempts; nothing else met a fault.
    w.assert_fault_hits(&[4, 0]);
    let pair = delivered_pair(&w);
    assert_ne!(pair.0, new, "GitHub holds the pair this rotation delivered");
    assert_eq!(
        w.caller_with(&pair.0, &pair.1),
        Some(format!("arn:aws:iam::{ACCOUNT}:user/{USER}")),
        "GitHub still holds a working pair"
    );
    w.send(
        reqwest::Method::DELETE,
        &format!("{}/_standin/faults", w.github),
        Value::Null,
    );
    access_key_apply(&w, &[]).success();
    let (adopted, _) = assert_working_pair(&w);
    assert_eq!(adopted, pair.0, "the rerun adopts the key GitHub holds");
    w.clear_requests();
    access_key_apply(&w, &[]).success();
    assert_eq!(w.writes(), Vec::<String>::new());
}

#[test]
fn switching_modes_in_both_directions() {
    let w = World::start();
    access_key_apply(&w, &[]).success();
    assert_working_pair(&w);

    // Each command says which mode it wants: apply remembers the last one in skyecr.json.
    let plan = w.plan_json(&["--auth", "oidc"]);
    let kinds: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["resource"].as_str().unwrap().into(),
                c["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("role".into(), "create".into()))
            && kinds.contains(&("access_key".into(), "delete".into())),
        "{kinds:?}"
    );
    w.apply(&["--auth", "oidc"]).success();
    assert_eq!(
        keys(&w),
        Vec::<String>::new(),
        "keys removed after the switch to OIDC"
    );
    let state = w.github_state();
    assert!(
        state["secrets"].get("AWS_ACCESS_KEY_ID").is_none()
            && state["secrets"].get("AWS_SECRET_ACCESS_KEY").is_none(),
        "{state}"
    );
    assert_eq!(
        state["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        json!(format!(
            "arn:aws:iam::{ACCOUNT}:role/GitHubActions-SkyPilot-ECR"
        ))
    );

    access_key_apply(&w, &[]).success();
    assert_working_pair(&w);
    let state = w.github_state();
    assert!(
        state["secrets"].get("AWS_ECR_ROLE_ARN").is_none(),
        "role secret removed: {state}"
    );
    let role = w.block_on(
        w.iam()
            .get_role()
            .role_name("GitHubActions-SkyPilot-ECR")
            .send(),
    );
    assert!(role.is_ok(), "the role stays until destroy");
}

#[test]
fn destroy_removes_everything_and_keeps_a_shared_provider() {
    let w = World::start();
    w.apply(&[]).success();
    access_key_apply(&w, &[]).success();
    let provider =
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com");
    let other = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/other:ref:refs/heads/main",
                                       "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}]});
    w.block_on(
        w.iam()
            .create_role()
            .role_name("other-team")
            .assume_role_policy_document(other.to_string())
            .send(),
    )
    .unwrap();

    let preview = w.cmd().args(["destroy", "--github-repo", REPO]).run();
    assert_eq!(preview.code, 1, "no terminal, no --yes: refuses");
    assert!(
        preview.stdout.contains("- role") && preview.stdout.contains("other-team"),
        "{}",
        preview.stdout
    );

    w.cmd()
        .args(["destroy", "--yes", "--github-repo", REPO])
        .run()
        .success();
    let iam = w.iam();
    assert!(
        w.block_on(
            iam.get_role()
                .role_name("GitHubActions-SkyPilot-ECR")
                .send()
        )
        .is_err()
    );
    assert!(w.block_on(iam.get_user().user_name(USER).send()).is_err());
    assert!(
        w.block_on(
            iam.get_policy()
                .policy_arn(format!("arn:aws:iam::{ACCOUNT}:policy/SkyPilot-ECR-Push"))
                .send()
        )
        .is_err()
    );
    assert!(
        w.block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("skypilot")
                .send()
        )
        .is_err()
    );
    assert!(
        w.block_on(
            iam.get_open_id_connect_provider()
                .open_id_connect_provider_arn(&provider)
                .send()
        )
        .is_ok(),
        "shared provider kept"
    );
    let state = w.github_state();
    assert_eq!(state["secrets"], json!({}), "{state}");
    assert_eq!(state["variables"], json!({}), "{state}");

    w.clear_requests();
    let again = w
        .cmd()
        .args(["destroy", "--yes", "--github-repo", REPO])
        .run();
    again.success();
    assert_eq!(
        w.writes(),
        Vec::<String>::new(),
        "a second destroy is a no-op"
    );
}

#[test]
fn destroy_refuses_a_repository_with_images_unless_forced() {
    let w = World::start();
    w.apply(&[]).success();
    w.ecr_raw("PutImage", json!({"repositoryName": "skypilot", "imageTag": "v1",
        "imageManifest": "{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\", \"config\": {\"mediaType\": \"application/vnd.docker.container.image.v1+json\", \"size\": 1, \"digest\": \"sha256:aa\"}, \"layers\": []}"}));
    let refused = w
        .cmd()
        .args(["destroy", "--yes", "--github-repo", REPO])
        .run();
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert!(
        w.block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("skypilot")
                .send()
        )
        .is_ok()
    );
    w.cmd()
        .args(["destroy", "--yes", "--force", "--github-repo", REPO])
        .run()
        .success();
    assert!(
        w.block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("skypilot")
                .send()
        )
        .is_err()
    );
}
