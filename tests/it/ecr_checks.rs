//! What `apply` and `audit` read about the ECR repository beyond its settings: its repository
//! policy, and the KMS key it is encrypted with.
use serde_json::{Value, json};

use crate::support::World;

fn set_policy(w: &World, statement: Value) {
    w.ecr_raw(
        "SetRepositoryPolicy",
        json!({"repositoryName": "skypilot",
               "policyText": json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()}),
    );
}

fn finding_ids(w: &World) -> (i32, Vec<String>) {
    let out = w.audit_json(&["--branch", "main"]);
    let ids = out.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["resource"] == "repository" && f["severity"] == "high")
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    (out.code, ids)
}

#[test]
fn a_repository_policy_for_everyone_or_another_account_is_high() {
    let w = World::start();
    w.apply(&[]).success();
    assert_eq!(finding_ids(&w), (0, vec![]));

    set_policy(
        &w,
        json!({"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}),
    );
    assert_eq!(
        finding_ids(&w),
        (2, vec!["repository-policy-public".to_string()])
    );

    set_policy(
        &w,
        json!({"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "ecr:BatchGetImage"}),
    );
    assert_eq!(
        finding_ids(&w),
        (2, vec!["repository-policy-cross-account".to_string()])
    );

    // The account's own principals are its own business.
    set_policy(
        &w,
        json!({"Sid": "Ours", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/ci"}, "Action": "ecr:BatchGetImage"}),
    );
    assert_eq!(finding_ids(&w), (0, vec![]));
}

/// A new key: its ARN (what --kms-key takes) and its ID (what moto's key calls take).
fn key(w: &World) -> (String, String) {
    let out = w.block_on(w.kms().create_key().send()).unwrap();
    let meta = out.key_metadata().unwrap();
    (meta.arn().unwrap().to_string(), meta.key_id().to_string())
}

#[test]
fn an_unusable_kms_key_blocks_creating_and_is_reported_once_disabled() {
    let w = World::start();
    let (disabled, disabled_id) = key(&w);
    w.block_on(w.kms().disable_key().key_id(&disabled_id).send())
        .unwrap();
    w.clear_requests();
    let refused = w.apply(&["--encryption", "kms", "--kms-key", &disabled]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stdout.contains("is Disabled") && refused.stdout.contains("aws kms enable-key"),
        "{}",
        refused.stdout
    );
    assert_eq!(w.writes(), Vec::<String>::new(), "blocked before any write");

    let (good, good_id) = key(&w);
    w.apply(&["--encryption", "kms", "--kms-key", &good, "--no-save"])
        .success();
    let audit = |w: &World| {
        let out = w.audit_json(&[
            "--branch",
            "main",
            "--encryption",
            "kms",
            "--kms-key",
            &good,
        ]);
        let ids: Vec<String> = out.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "high")
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        (out.code, ids)
    };
    assert_eq!(audit(&w), (0, vec![]));
    w.block_on(
        w.kms()
            .schedule_key_deletion()
            .key_id(&good_id)
            .pending_window_in_days(7)
            .send(),
    )
    .unwrap();
    assert_eq!(
        audit(&w),
        (2, vec!["repository-kms-key-unusable".to_string()])
    );
}
