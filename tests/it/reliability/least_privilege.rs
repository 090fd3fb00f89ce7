//! Operator least privilege: `docs/operator-policy.json` is enough for every command, every
//! action in it is used, and without any one of them the command that needs it fails with a
//! message naming that action. moto enforces IAM (`POST /moto-api/reset-auth`) for a user
//! holding only the policy. moto checks actions, not resource ARNs or conditions, so its copy
//! of the policy has `"Resource": "*"` and no conditions; the KMS statement is never exercised
//! (ECR calls KMS on the caller's behalf, and moto's ECR does not).
use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Mode, assert_clean_failure};
use crate::support::{ACCOUNT, Output, REPO, World};

const OPERATOR: &str = "operator";
/// Needs no permission in AWS, and moto always allows it.
const FREE: &[&str] = &["sts:GetCallerIdentity"];
/// Needed in AWS, but no scenario can show it: AWS requires `iam:TagOpenIDConnectProvider` for
/// `CreateOpenIDConnectProvider` with tags (moto checks only the call's own action), and moto
/// does not implement user permissions boundaries, so the tool never meets one to remove.
const IMPLIED: &[&str] = &[
    "iam:TagOpenIDConnectProvider",
    "iam:PutUserPermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
];

fn operator_policy() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operator-policy.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn statements(policy: &Value) -> Vec<Value> {
    policy["Statement"].as_array().cloned().unwrap_or_default()
}

fn actions_of(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The policy as moto can check it: actions only, minus `without`.
fn for_moto(policy: &Value, without: Option<&str>) -> Value {
    let kept: Vec<Value> = statements(policy)
        .into_iter()
        .filter_map(|s| {
            let actions: Vec<String> = actions_of(&s)
                .into_iter()
                .filter(|a| Some(a.as_str()) != without)
                .collect();
            (!actions.is_empty())
                .then(|| json!({"Effect": "Allow", "Action": actions, "Resource": "*"}))
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": kept})
}

/// moto checks signatures and policies from now on (`true`), or never (`false`).
fn enforce(w: &World, on: bool) {
    let count = if on { json!(0) } else { json!(i64::MAX) };
    w.post(&format!("{}/moto-api/reset-auth", w.moto), count);
}

/// A user holding only `policy`, and its key pair.
fn operator(w: &World, policy: &Value) -> (String, String) {
    let iam = w.iam();
    let arn = w
        .block_on(
            iam.create_policy()
                .policy_name("skyecr-operator")
                .policy_document(policy.to_string())
                .send(),
        )
        .unwrap()
        .policy()
        .and_then(|p| p.arn())
        .unwrap()
        .to_string();
    w.block_on(iam.create_user().user_name(OPERATOR).send())
        .unwrap();
    w.block_on(
        iam.attach_user_policy()
            .user_name(OPERATOR)
            .policy_arn(arn)
            .send(),
    )
    .unwrap();
    let key = w
        .block_on(iam.create_access_key().user_name(OPERATOR).send())
        .unwrap();
    let key = key.access_key().unwrap();
    w.forbid(key.secret_access_key());
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

struct Scenario {
    name: &'static str,
    setup: fn(&World),
    command: Vec<&'static str>,
}

fn apply_as_admin(w: &World, mode: Mode) {
    mode.apply(w).success();
}

/// Everything `apply` can find out of line: a provider without the client ID, a widened trust
/// policy, a detached and changed push policy holding five versions, scan on push off.
pub(super) fn drift(w: &World) {
    apply_as_admin(w, Mode::Oidc);
    let iam = w.iam();
    let provider =
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com");
    let policy = format!("arn:aws:iam::{ACCOUNT}:policy/SkyPilot-ECR-Push");
    w.block_on(
        iam.delete_open_id_connect_provider()
            .open_id_connect_provider_arn(&provider)
            .send(),
    )
    .unwrap();
    w.block_on(
        iam.create_open_id_connect_provider()
            .url("https://token.actions.githubusercontent.com")
            .client_id_list("sigstore")
            .send(),
    )
    .unwrap();
    let wide = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}}}]});
    w.block_on(
        iam.update_assume_role_policy()
            .role_name("GitHubActions-SkyPilot-ECR")
            .policy_document(wide.to_string())
            .send(),
    )
    .unwrap();
    w.block_on(
        iam.detach_role_policy()
            .role_name("GitHubActions-SkyPilot-ECR")
            .policy_arn(&policy)
            .send(),
    )
    .unwrap();
    versions(w);
    w.ecr_raw(
        "PutImageScanningConfiguration",
        json!({"repositoryName": "skypilot", "imageScanningConfiguration": {"scanOnPush": false}}),
    );
}

/// What someone added by hand to the push role or user: a managed policy, an inline policy
/// and (on the role; moto has no user boundaries) a permissions boundary.
fn extras(w: &World, mode: Mode) {
    apply_as_admin(w, mode);
    let iam = w.iam();
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "s3:*", "Resource": "*"}]});
    let extra = w
        .block_on(
            iam.create_policy()
                .policy_name("extra")
                .policy_document(doc.to_string())
                .send(),
        )
        .unwrap()
        .policy()
        .and_then(|p| p.arn())
        .unwrap()
        .to_string();
    match mode {
        Mode::Oidc => {
            let role = "GitHubActions-SkyPilot-ECR";
            w.block_on(
                iam.attach_role_policy()
                    .role_name(role)
                    .policy_arn(&extra)
                    .send(),
            )
            .unwrap();
            w.block_on(
                iam.put_role_policy()
                    .role_name(role)
                    .policy_name("s3")
                    .policy_document(doc.to_string())
                    .send(),
            )
            .unwrap();
            w.block_on(
                iam.put_role_permissions_boundary()
                    .role_name(role)
                    .permissions_boundary(&extra)
                    .send(),
            )
            .unwrap();
        }
        Mode::AccessKey => {
            let user = "github-actions-skypilot-ecr";
            w.block_on(
                iam.attach_user_policy()
                    .user_name(user)
                    .policy_arn(&extra)
                    .send(),
            )
            .unwrap();
            w.block_on(
                iam.put_user_policy()
                    .user_name(user)
                    .policy_name("s3")
                    .policy_document(doc.to_string())
                    .send(),
            )
            .unwrap();
        }
    }
}

const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/push-boundary";

/// The policy `BOUNDARY` names.
fn boundary_policy(w: &World) {
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "ecr:*", "Resource": "*"}]});
    w.block_on(
        w.iam()
            .create_policy()
            .policy_name("push-boundary")
            .policy_document(doc.to_string())
            .send(),
    )
    .unwrap();
}

/// A setup of an earlier version, which did not tag what it made.
fn untagged(w: &World, mode: Mode) {
    apply_as_admin(w, mode);
    let iam = w.iam();
    let keys = [
        "managed-by".to_string(),
        "skyecr-bootstrap/github-repository".to_string(),
    ];
    let policy = format!("arn:aws:iam::{ACCOUNT}:policy/SkyPilot-ECR-Push");
    w.block_on(
        iam.untag_policy()
            .policy_arn(&policy)
            .set_tag_keys(Some(keys.to_vec()))
            .send(),
    )
    .unwrap();
    w.block_on(
        w.ecr()
            .untag_resource()
            .resource_arn(format!(
                "arn:aws:ecr:us-east-1:{ACCOUNT}:repository/skypilot"
            ))
            .set_tag_keys(Some(keys.to_vec()))
            .send(),
    )
    .unwrap();
    match mode {
        Mode::Oidc => {
            w.block_on(
                iam.untag_role()
                    .role_name("GitHubActions-SkyPilot-ECR")
                    .set_tag_keys(Some(keys.to_vec()))
                    .send(),
            )
            .unwrap();
        }
        Mode::AccessKey => {
            w.block_on(
                iam.untag_user()
                    .user_name("github-actions-skypilot-ecr")
                    .set_tag_keys(Some(keys.to_vec()))
                    .send(),
            )
            .unwrap();
        }
    }
}

/// Four more versions of the push policy, the last one (default) different.
fn versions(w: &World) {
    let iam = w.iam();
    let policy = format!("arn:aws:iam::{ACCOUNT}:policy/SkyPilot-ECR-Push");
    for i in 0..4 {
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken", "Resource": "*", "Sid": format!("V{i}")}]});
        w.block_on(
            iam.create_policy_version()
                .policy_arn(&policy)
                .policy_document(doc.to_string())
                .set_as_default(true)
                .send(),
        )
        .unwrap();
    }
}

fn scenarios() -> Vec<Scenario> {
    let oidc = ["--github-repo", REPO, "--branch", "main"];
    let keys = ["--github-repo", REPO, "--auth", "access-key"];
    let with = |head: &[&'static str], tail: &[&'static str]| -> Vec<&'static str> {
        head.iter().chain(tail).copied().collect()
    };
    vec![
        Scenario {
            name: "apply, fresh (OIDC)",
            setup: |_| {},
            command: with(&["apply", "--yes"], &oidc),
        },
        Scenario {
            name: "apply, everything drifted (OIDC)",
            setup: drift,
            command: with(&["apply", "--yes"], &oidc),
        },
        Scenario {
            name: "apply over permissions added by hand (OIDC)",
            setup: |w| extras(w, Mode::Oidc),
            command: with(&["apply", "--yes"], &oidc),
        },
        Scenario {
            name: "apply with a permissions boundary over an existing role (OIDC)",
            setup: |w| {
                apply_as_admin(w, Mode::Oidc);
                boundary_policy(w);
            },
            command: with(
                &["apply", "--yes", "--permissions-boundary", BOUNDARY],
                &oidc,
            ),
        },
        Scenario {
            name: "apply over an earlier version's untagged setup (OIDC)",
            setup: |w| untagged(w, Mode::Oidc),
            command: with(&["apply", "--yes"], &oidc),
        },
        Scenario {
            name: "apply making tags immutable but latest (OIDC)",
            setup: |w| apply_as_admin(w, Mode::Oidc),
            command: with(
                &[
                    "apply",
                    "--yes",
                    "--tag-mutability",
                    "immutable",
                    "--mutable-tag",
                    "latest",
                ],
                &oidc,
            ),
        },
        Scenario {
            name: "audit --all-roles",
            setup: |w| apply_as_admin(w, Mode::Oidc),
            command: with(&["audit", "--all-roles"], &oidc),
        },
        Scenario {
            name: "check-access",
            setup: |w| apply_as_admin(w, Mode::Oidc),
            command: vec![
                "check-access",
                "--github-repo",
                REPO,
                "--ref",
                "refs/heads/main",
            ],
        },
        Scenario {
            name: "destroy (OIDC, policy with old versions)",
            setup: |w| {
                apply_as_admin(w, Mode::Oidc);
                versions(w);
            },
            command: vec!["destroy", "--yes", "--github-repo", REPO],
        },
        Scenario {
            name: "apply, fresh (access key)",
            setup: |_| {},
            command: with(&["apply", "--yes"], &keys),
        },
        Scenario {
            name: "apply over permissions added by hand (access key)",
            setup: |w| extras(w, Mode::AccessKey),
            command: with(&["apply", "--yes"], &keys),
        },
        Scenario {
            name: "apply over an earlier version's untagged setup (access key)",
            setup: |w| untagged(w, Mode::AccessKey),
            command: with(&["apply", "--yes"], &keys),
        },
        Scenario {
            name: "rotate-keys",
            setup: |w| apply_as_admin(w, Mode::AccessKey),
            command: with(&["rotate-keys", "--yes"], &keys),
        },
        Scenario {
            name: "audit (access key)",
            setup: |w| apply_as_admin(w, Mode::AccessKey),
            command: with(&["audit"], &keys),
        },
        Scenario {
            name: "destroy (access key)",
            setup: |w| apply_as_admin(w, Mode::AccessKey),
            command: vec!["destroy", "--yes", "--github-repo", REPO],
        },
    ]
}

/// Sets the scenario up as an administrator, then runs its command as the operator holding
/// `policy`: what it printed and the AWS actions it called.
fn run_as_operator(w: &World, s: &Scenario, policy: &Value) -> (Output, BTreeSet<String>) {
    enforce(w, false);
    w.reset();
    (s.setup)(w);
    let (id, secret) = operator(w, policy);
    w.clear_requests();
    enforce(w, true);
    let out = w
        .cmd()
        .env("AWS_ACCESS_KEY_ID", &id)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .args(&s.command)
        .run();
    enforce(w, false);
    let called = w
        .requests()
        .iter()
        .filter(|r| r["protocol"] == "aws")
        .map(|r| {
            format!(
                "{}:{}",
                r["service"].as_str().unwrap_or_default(),
                r["action"].as_str().unwrap_or_default()
            )
        })
        .collect();
    (out, called)
}

#[test]
fn the_operator_policy_is_enough_and_every_action_in_it_is_needed() {
    let w = World::start();
    let policy = operator_policy();
    let granted: BTreeSet<String> = statements(&policy).iter().flat_map(actions_of).collect();
    let exercised: BTreeSet<String> = granted
        .iter()
        .filter(|a| !a.starts_with("kms:") && !IMPLIED.contains(&a.as_str()))
        .cloned()
        .collect();

    // The whole policy: every command succeeds, calling only granted actions.
    let full = for_moto(&policy, None);
    let mut used_by: Vec<(usize, BTreeSet<String>)> = Vec::new();
    for (i, s) in scenarios().iter().enumerate() {
        let (out, called) = run_as_operator(&w, s, &full);
        assert_eq!(
            out.code, 0,
            "{}: fails with the operator policy\n{}",
            s.name, out.stderr
        );
        let beyond: Vec<&String> = called
            .iter()
            .filter(|a| !granted.contains(*a) && !FREE.contains(&a.as_str()))
            .collect();
        assert!(beyond.is_empty(), "{}: called {beyond:?}", s.name);
        used_by.push((i, called));
    }
    let used: BTreeSet<String> = used_by.iter().flat_map(|(_, c)| c.clone()).collect();
    let unused: Vec<&String> = exercised.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "the operator policy grants actions no command uses: {unused:?}"
    );

    // Each action taken away: a command that uses it fails, naming it. (A command may call an
    // action whose answer it does not need, e.g. the attached policies of a role that does not
    // exist: the next command that calls it is tried.)
    let scenarios = scenarios();
    for action in &exercised {
        let without = for_moto(&policy, Some(action));
        let mut failed = None;
        for (i, _) in used_by.iter().filter(|(_, called)| called.contains(action)) {
            let s = &scenarios[*i];
            let (out, _) = run_as_operator(&w, s, &without);
            if out.code != 0 {
                failed = Some((s.name, out));
                break;
            }
        }
        let Some((name, out)) = failed else {
            panic!("without {action}, every command that calls it still succeeds");
        };
        let context = format!("{name} without {action}");
        assert_clean_failure(&out, &context);
        assert!(
            out.stderr.contains(&format!(
                "AWS denied {action} to arn:aws:iam::{ACCOUNT}:user/{OPERATOR}"
            )),
            "{context}: the message does not name the action\n{}",
            out.stderr
        );
    }
}

/// moto's denial of an ECR call is an XML body on a JSON-protocol 403, which the SDK cannot
/// parse: the tool still names the action it attempted.
#[test]
fn a_denial_the_sdk_cannot_parse_still_names_the_action() {
    let w = World::start();
    let policy = for_moto(&operator_policy(), Some("ecr:DescribeRepositories"));
    let s = Scenario {
        name: "plan",
        setup: |_| {},
        command: vec!["plan", "--github-repo", REPO, "--branch", "main"],
    };
    let (out, _) = run_as_operator(&w, &s, &policy);
    assert_clean_failure(&out, "plan without ecr:DescribeRepositories");
    assert!(
        out.stderr.contains("AWS denied ecr:DescribeRepositories")
            && out.stderr.contains("docs/permissions.md"),
        "{}",
        out.stderr
    );
}

/// The same denial, in the one order that loses the caller, made by the world: `destroy`
/// without `ecr:ListImages` reads the repository (`DescribeRepositories`, held) and its images
/// (`ListImages`, denied at once) together with the caller's identity (`GetCallerIdentity`,
/// held). The denial is worded while the identity is unknown; the identity arrives before the
/// repository's read ends, so `Aws::name_the_caller` finds the caller known and leaves the
/// placeholder "the current AWS identity" in the message. In the full test above this order
/// happens now and then, by timing.
#[test]
fn a_denial_worded_before_the_identity_arrived_still_names_the_caller() {
    let w = World::start();
    let policy = for_moto(&operator_policy(), Some("ecr:ListImages"));
    enforce(&w, false);
    w.reset();
    apply_as_admin(&w, Mode::Oidc);
    let (id, secret) = operator(&w, &policy);
    w.clear_requests();
    w.aws_faults(json!([
        {"action": "GetCallerIdentity", "hold": "identity", "times": 1, "timeout_s": 30},
        {"action": "DescribeRepositories", "hold": "repository", "times": 1, "timeout_s": 30},
    ]));
    enforce(&w, true);
    let run = w
        .cmd()
        .env("AWS_ACCESS_KEY_ID", &id)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .args(["destroy", "--yes", "--github-repo", REPO])
        .spawn();
    w.wait_for_held("identity", 1);
    w.wait_for_held("repository", 1);
    w.wait_for_action("ListImages", 1);
    w.release_hold("identity");
    w.wait_for_action("GetCallerIdentity", 1);
    w.release_hold("repository");
    let out = run.wait();
    enforce(&w, false);
    assert_clean_failure(&out, "destroy without ecr:ListImages");
    assert!(
        out.stderr.contains(&format!(
            "AWS denied ecr:ListImages to arn:aws:iam::{ACCOUNT}:user/{OPERATOR}"
        )),
        "{}",
        out.stderr
    );
}
