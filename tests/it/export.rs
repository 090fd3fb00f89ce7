//! `export`: the setup handed to OpenTofu/Terraform and CloudFormation, read back with the tools
//! teams use (python-hcl2, checkov, cfn-lint; tests/export/), and compared with what moto holds.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{ACCOUNT, REPO, World};

const ROLE: &str = "GitHubActions-SkyPilot-ECR";
const POLICY: &str = "SkyPilot-ECR-Push";
const USER: &str = "github-actions-skypilot-ecr";
const PROVIDER: &str = "token.actions.githubusercontent.com";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool of the test venvs: checkov lives apart in `.venv/checkov` (scripts/setup says why).
fn tool(name: &str) -> PathBuf {
    let venv = manifest_dir().join(".venv");
    let path = if name == "checkov" {
        venv.join("checkov/bin/checkov")
    } else {
        venv.join("bin").join(name)
    };
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup (it installs tests/export's requirements)",
        path.display()
    );
    path
}

fn run_json(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("run a test tool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{cmd:?} printed no JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `export` with the common settings plus `extra`.
fn export(w: &World, format: &str, out: &Path, extra: &[&str]) -> crate::support::Output {
    w.cmd()
        .args(["export", "--github-repo", REPO, "--branch", "main"])
        .args(["--format", format, "--out", out.to_str().unwrap()])
        .args(extra)
        .run()
}

/// Every file under `dir`, by relative path.
fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// Every `.tf` file parsed by python-hcl2.
fn hcl(dir: &Path) -> Value {
    run_json(
        Command::new(tool("python"))
            .arg(manifest_dir().join("tests/export/read_export.py"))
            .arg("hcl")
            .arg(dir),
    )
}

/// The one block `kind "name"` of a parsed file (`resource`, `data`).
fn block<'a>(file: &'a Value, kind: &str, ty: &str, name: &str) -> &'a Value {
    file[kind]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|b| b.get(ty).and_then(|t| t.get(name)))
        .unwrap_or_else(|| panic!("no {kind} {ty}.{name} in {file:#}"))
}

/// Policies by meaning, as hashicorp's awspolicyequivalence defines it: a string equals a
/// one-element list, and the order of statements and of values does not matter.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let single = matches!(k.as_str(), "Version" | "Sid" | "Effect" | "Id");
                    let v = match v {
                        Value::String(_) if !single => json!([v]),
                        other => other.clone(),
                    };
                    (k.clone(), canonical(&v))
                })
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(canonical).collect();
            items.sort_by_key(|i| i.to_string());
            Value::Array(items)
        }
        other => other.clone(),
    }
}

fn decoded(document: &str) -> Value {
    let text = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn live_trust(w: &World) -> Value {
    let role = w
        .block_on(w.iam().get_role().role_name(ROLE).send())
        .unwrap();
    decoded(role.role().unwrap().assume_role_policy_document().unwrap())
}

fn policy_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{POLICY}")
}

fn live_push_policy(w: &World) -> Value {
    let iam = w.iam();
    let policy = w
        .block_on(iam.get_policy().policy_arn(policy_arn()).send())
        .unwrap();
    let version = policy
        .policy()
        .unwrap()
        .default_version_id()
        .unwrap()
        .to_string();
    let got = w
        .block_on(
            iam.get_policy_version()
                .policy_arn(policy_arn())
                .version_id(version)
                .send(),
        )
        .unwrap();
    decoded(got.policy_version().unwrap().document().unwrap())
}

/// A KMS key in moto (no SDK client for KMS among the dev-dependencies: one raw JSON call).
fn create_kms_key(w: &World) -> String {
    let answer: Value = w.block_on(async {
        reqwest::Client::new()
            .post(&w.moto)
            .header("X-Amz-Target", "TrentService.CreateKey")
            .header("Content-Type", "application/x-amz-json-1.1")
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body("{}")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    answer["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap_or_else(|| panic!("moto created no key: {answer}"))
        .to_string()
}

/// What a setup is expected to hold.
struct Expect {
    access_key: bool,
    kms_key: Option<String>,
    environments: Vec<&'static str>,
}

impl Expect {
    fn oidc() -> Expect {
        Expect {
            access_key: false,
            kms_key: None,
            environments: vec![],
        }
    }
}

/// No secret the world handed out or received (access keys, tokens) is in any exported file,
/// nor the role ARN, which the GitHub secret must take from the role resource instead.
fn assert_no_secret(w: &World, exported: &BTreeMap<String, String>) {
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    let mut forbidden = w.secrets();
    assert!(!forbidden.is_empty());
    forbidden.push(role_arn);
    for (path, text) in exported {
        for s in &forbidden {
            assert!(
                !text.contains(s.as_str()),
                "{path} holds a secret value ({:.6}…)",
                s
            );
        }
    }
}

/// The import blocks as `to` → `id`.
fn import_blocks(parsed: &Value) -> BTreeMap<String, String> {
    parsed["imports.tf"]["import"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let to = i["to"].as_str().unwrap();
            (
                to.trim_start_matches("${")
                    .trim_end_matches('}')
                    .to_string(),
                i["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The import IDs each provider documents (docs/export.md cites the pages), filled with what
/// moto and the GitHub stand-in hold.
fn documented_imports(w: &World, expect: &Expect) -> BTreeMap<String, String> {
    let (_, repo) = REPO.split_once('/').unwrap();
    let iam = w.iam();
    let policy = w
        .block_on(iam.get_policy().policy_arn(policy_arn()).send())
        .unwrap();
    let policy_arn = policy.policy().unwrap().arn().unwrap().to_string();
    let repository = w
        .block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("skypilot")
                .send(),
        )
        .unwrap();
    let repository = repository.repositories()[0]
        .repository_name()
        .unwrap()
        .to_string();
    let mut ids = BTreeMap::from([
        // aws_iam_policy: the policy ARN.
        ("aws_iam_policy.push".to_string(), policy_arn.clone()),
        // aws_ecr_repository: the repository name.
        ("aws_ecr_repository.images".to_string(), repository),
        // github_actions_variable: REPOSITORY:NAME, the repository without its owner.
        (
            "github_actions_variable.aws_region".to_string(),
            format!("{repo}:AWS_REGION"),
        ),
        (
            "github_actions_variable.ecr_repository".to_string(),
            format!("{repo}:ECR_REPOSITORY"),
        ),
    ]);
    if expect.access_key {
        let user = w.block_on(iam.get_user().user_name(USER).send()).unwrap();
        let user = user.user().unwrap().user_name().to_string();
        // aws_iam_user: the user name; the attachment: USER-NAME/POLICY-ARN.
        ids.insert("aws_iam_user.push".into(), user.clone());
        ids.insert(
            "aws_iam_user_policy_attachment.push".into(),
            format!("{user}/{policy_arn}"),
        );
        return ids;
    }
    let role = w.block_on(iam.get_role().role_name(ROLE).send()).unwrap();
    let role = role.role().unwrap().role_name().to_string();
    // aws_iam_role: the role name; the attachment: ROLE-NAME/POLICY-ARN.
    ids.insert("aws_iam_role.push".into(), role.clone());
    ids.insert(
        "aws_iam_role_policy_attachment.push".into(),
        format!("{role}/{policy_arn}"),
    );
    if expect.environments.is_empty() {
        // github_actions_secret: REPOSITORY:SECRET_NAME.
        ids.insert(
            "github_actions_secret.role_arn".into(),
            format!("{repo}:AWS_ECR_ROLE_ARN"),
        );
    }
    for env in &expect.environments {
        // github_actions_environment_secret: REPOSITORY:ENVIRONMENT:SECRET_NAME.
        ids.insert(
            format!("github_actions_environment_secret.role_arn[\"{env}\"]"),
            format!("{repo}:{env}:AWS_ECR_ROLE_ARN"),
        );
    }
    ids
}

/// main.tf with every `file("${path.module}/X")` replaced by X's contents, as Terraform
/// evaluates it (checkov does not read through `file()`), plus the trust policy as the
/// `aws_iam_policy_document` data source CKV_AWS_358 reads.
fn scan_copy(dir: &Path, exported: &BTreeMap<String, String>) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for (path, text) in exported.iter().filter(|(p, _)| p.ends_with(".tf")) {
        let mut text = text.clone();
        for (policy, document) in exported.iter().filter(|(p, _)| p.starts_with("policies/")) {
            let call = format!("file(\"${{path.module}}/{policy}\")");
            text = text.replace(&call, &format!("<<EOT\n{}EOT", document));
        }
        assert!(
            !text.contains("file("),
            "{path} still reads a file after inlining"
        );
        std::fs::write(copy.path().join(path), text).unwrap();
    }
    if let Some(trust) = exported.get("policies/trust.json") {
        let trust: Value = serde_json::from_str(trust).unwrap();
        std::fs::write(
            copy.path().join("trust_document.tf"),
            policy_document_hcl(&trust),
        )
        .unwrap();
    }
    assert!(dir.exists());
    copy
}

fn strings(v: &Value) -> String {
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    Value::Array(items).to_string()
}

fn policy_document_hcl(doc: &Value) -> String {
    let mut out = String::from("data \"aws_iam_policy_document\" \"exported_trust\" {\n");
    for st in doc["Statement"].as_array().unwrap() {
        out.push_str("  statement {\n");
        out.push_str(&format!("    effect  = {}\n", st["Effect"]));
        out.push_str(&format!("    actions = {}\n", strings(&st["Action"])));
        for (ty, ids) in st["Principal"].as_object().unwrap() {
            out.push_str(&format!(
                "    principals {{\n      type        = {}\n      identifiers = {}\n    }}\n",
                json!(ty),
                strings(ids)
            ));
        }
        for (test, vars) in st["Condition"].as_object().into_iter().flatten() {
            for (variable, values) in vars.as_object().unwrap() {
                out.push_str(&format!(
                    "    condition {{\n      test     = {}\n      variable = {}\n      values   = {}\n    }}\n",
                    json!(test),
                    json!(variable),
                    strings(values)
                ));
            }
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

/// checkov's results for `dir`, offline, passed checks included (to prove the checks ran).
/// checkov's verdicts, each as (check ID, resource).
struct Scan {
    passed: Vec<(String, String)>,
    failed: Vec<(String, String)>,
}

fn checkov(dir: &Path, framework: &str) -> Scan {
    let report = run_json(
        Command::new(tool("checkov"))
            .args(["--framework", framework, "--compact", "-o", "json"])
            .args(["--skip-download", "--download-external-modules", "false"])
            .arg("-d")
            .arg(dir)
            .env("BC_SKIP_MAPPING", "TRUE"),
    );
    let results = |kind: &str| -> Vec<(String, String)> {
        report["results"][kind]
            .as_array()
            .unwrap_or_else(|| panic!("checkov report without results: {report:#}"))
            .iter()
            .map(|c| {
                (
                    c["check_id"].as_str().unwrap().to_string(),
                    c["resource"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    Scan {
        passed: results("passed_checks"),
        failed: results("failed_checks"),
    }
}

/// The IAM checks asserted to run and pass. On the trust policy: the GitHub OIDC checks
/// (CKV_AWS_358 on the policy document, CKV_AWS_393 on the role's inline trust), public and
/// cross-account assume (CKV_AWS_60, CKV_AWS_61), `*` resources in a document (CKV_AWS_356).
/// On the push policy: wildcards (`*:*` admin CKV_AWS_62, `*` actions CKV_AWS_63, `*` resources
/// for restrictable actions CKV_AWS_355), full IAM privileges (CKV2_AWS_40), AdministratorAccess
/// attached (CKV_AWS_274), and the unconstrained-access families (CKV_AWS_286–290 in Terraform,
/// CKV_AWS_107–111 in CloudFormation). Beyond these, no failed check at all is allowed on an IAM
/// resource, except the two access-key mode fails by design: CKV_AWS_40 (a policy attached to a
/// user, not a group or role) and CKV_AWS_273 (an IAM user instead of SSO).
const TRUST_CHECKS_TERRAFORM: [&str; 5] = [
    "CKV_AWS_358",
    "CKV_AWS_393",
    "CKV_AWS_60",
    "CKV_AWS_61",
    "CKV_AWS_356",
];
const POLICY_CHECKS_TERRAFORM: [&str; 10] = [
    "CKV_AWS_62",
    "CKV_AWS_63",
    "CKV_AWS_355",
    "CKV2_AWS_40",
    "CKV_AWS_274",
    "CKV_AWS_286",
    "CKV_AWS_287",
    "CKV_AWS_288",
    "CKV_AWS_289",
    "CKV_AWS_290",
];
const TRUST_CHECKS_CLOUDFORMATION: [&str; 2] = ["CKV_AWS_60", "CKV_AWS_61"];
const POLICY_CHECKS_CLOUDFORMATION: [&str; 5] = [
    "CKV_AWS_107",
    "CKV_AWS_108",
    "CKV_AWS_109",
    "CKV_AWS_110",
    "CKV_AWS_111",
];
const BY_DESIGN_WITH_ACCESS_KEYS: [&str; 2] = ["CKV_AWS_40", "CKV_AWS_273"];

fn assert_iam_checks_pass(
    Scan { passed, failed }: Scan,
    trust_checks: &[&str],
    policy_checks: &[&str],
    expect: &Expect,
) {
    let mut must_pass = policy_checks.to_vec();
    if !expect.access_key {
        must_pass.extend(trust_checks);
    }
    let iam_failures: Vec<&(String, String)> = failed
        .iter()
        .filter(|(_, resource)| resource.to_ascii_lowercase().contains("iam"))
        .filter(|(id, _)| !(expect.access_key && BY_DESIGN_WITH_ACCESS_KEYS.contains(&id.as_str())))
        .collect();
    assert!(
        iam_failures.is_empty(),
        "checkov failed IAM checks: {iam_failures:?}"
    );
    for id in &must_pass {
        assert!(
            passed.iter().any(|(p, _)| p == *id),
            "{id} did not run (passed: {passed:?})"
        );
    }
}

fn check_terraform(w: &World, dir: &Path, expect: &Expect) {
    let exported = files(dir);
    let parsed = hcl(dir);
    assert_eq!(
        parsed.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["imports.tf", "main.tf", "versions.tf"]
    );
    let versions = &parsed["versions.tf"]["terraform"][0];
    assert_eq!(versions["required_version"], ">= 1.6");
    let providers = &versions["required_providers"][0];
    assert_eq!(providers["aws"]["source"], "hashicorp/aws");
    assert_eq!(providers["github"]["source"], "integrations/github");

    let main = &parsed["main.tf"];
    let tags =
        json!({"managed-by": "skyecr-bootstrap", "skyecr-bootstrap/github-repository": REPO});
    let policy = block(main, "resource", "aws_iam_policy", "push");
    assert_eq!(policy["name"], POLICY);
    assert_eq!(
        policy["policy"],
        "${file(\"${path.module}/policies/push.json\")}"
    );
    assert_eq!(policy["tags"], tags);
    let push = serde_json::from_str::<Value>(&exported["policies/push.json"]).unwrap();
    assert_eq!(
        canonical(&push),
        canonical(&live_push_policy(w)),
        "push policy differs from moto's"
    );

    let repository = block(main, "resource", "aws_ecr_repository", "images");
    assert_eq!(repository["name"], "skypilot");
    assert_eq!(repository["tags"], tags);
    assert_eq!(
        repository["image_scanning_configuration"][0]["scan_on_push"],
        true
    );
    let encryption = &repository["encryption_configuration"][0];
    match &expect.kms_key {
        Some(key) => {
            assert_eq!(encryption["encryption_type"], "KMS");
            assert_eq!(encryption["kms_key"], key.as_str());
        }
        None => assert_eq!(encryption, &json!({"encryption_type": "AES256"})),
    }

    if expect.access_key {
        let user = block(main, "resource", "aws_iam_user", "push");
        assert_eq!((&user["name"], &user["tags"]), (&json!(USER), &tags));
        let attachment = block(main, "resource", "aws_iam_user_policy_attachment", "push");
        assert_eq!(attachment["user"], "${aws_iam_user.push.name}");
        assert_eq!(attachment["policy_arn"], "${aws_iam_policy.push.arn}");
        assert!(!exported.contains_key("policies/trust.json"));
        for forbidden in [
            "aws_iam_access_key",
            "github_actions_secret",
            "aws_iam_role",
        ] {
            assert!(
                !exported["main.tf"].contains(forbidden),
                "main.tf has {forbidden}"
            );
        }
    } else {
        let provider = block(main, "data", "aws_iam_openid_connect_provider", "github");
        assert_eq!(provider["url"], format!("https://{PROVIDER}"));
        let role = block(main, "resource", "aws_iam_role", "push");
        assert_eq!(role["name"], ROLE);
        assert_eq!(
            role["assume_role_policy"],
            "${file(\"${path.module}/policies/trust.json\")}"
        );
        assert_eq!(role["tags"], tags);
        let attachment = block(main, "resource", "aws_iam_role_policy_attachment", "push");
        assert_eq!(attachment["role"], "${aws_iam_role.push.name}");
        let trust = serde_json::from_str::<Value>(&exported["policies/trust.json"]).unwrap();
        assert_eq!(
            canonical(&trust),
            canonical(&live_trust(w)),
            "trust policy differs from moto's"
        );
        let secret = if expect.environments.is_empty() {
            block(main, "resource", "github_actions_secret", "role_arn")
        } else {
            let s = block(
                main,
                "resource",
                "github_actions_environment_secret",
                "role_arn",
            );
            let envs: Vec<String> = expect
                .environments
                .iter()
                .map(|e| format!("\\\"{e}\\\""))
                .collect();
            assert_eq!(
                serde_json::to_string(&s["for_each"]).unwrap(),
                format!("\"${{toset([{}])}}\"", envs.join(", "))
            );
            s
        };
        assert_eq!(secret["secret_name"], "AWS_ECR_ROLE_ARN");
        assert_eq!(secret["value"], "${aws_iam_role.push.arn}");
    }
    for (name, value) in [("aws_region", "us-east-1"), ("ecr_repository", "skypilot")] {
        let v = block(main, "resource", "github_actions_variable", name);
        assert_eq!(
            (&v["repository"], &v["value"]),
            (&json!("app"), &json!(value))
        );
    }

    assert_eq!(import_blocks(&parsed), documented_imports(w, expect));
    assert_no_secret(w, &exported);
    let readme = &exported["README.md"];
    assert!(readme.contains("tofu init && tofu plan"), "{readme}");
    assert!(readme.contains("No changes."), "{readme}");

    let copy = scan_copy(dir, &exported);
    assert_iam_checks_pass(
        checkov(copy.path(), "terraform"),
        &TRUST_CHECKS_TERRAFORM,
        &POLICY_CHECKS_TERRAFORM,
        expect,
    );
}

fn check_cloudformation(w: &World, dir: &Path, expect: &Expect) {
    let exported = files(dir);
    let template_path = dir.join("template.yaml");
    let lint = run_json(
        Command::new(tool("cfn-lint"))
            .args(["--format", "json", "--regions", "us-east-1", "--"])
            .arg(&template_path),
    );
    let errors: Vec<&Value> = lint
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["Level"] == "Error")
        .collect();
    assert!(errors.is_empty(), "cfn-lint errors: {errors:#?}");

    let template: Value = serde_norway::from_str(&exported["template.yaml"]).unwrap();
    let resources = template["Resources"].as_object().unwrap();
    for (id, r) in resources {
        assert_eq!(r["DeletionPolicy"], "Retain", "{id}");
        assert_eq!(r["UpdateReplacePolicy"], "Retain", "{id}");
    }
    let types: BTreeMap<&str, &Value> = resources
        .values()
        .map(|r| (r["Type"].as_str().unwrap(), &r["Properties"]))
        .collect();
    let principal = if expect.access_key {
        "AWS::IAM::User"
    } else {
        "AWS::IAM::Role"
    };
    assert_eq!(
        types.keys().copied().collect::<Vec<_>>(),
        {
            let mut t = vec!["AWS::ECR::Repository", "AWS::IAM::ManagedPolicy", principal];
            t.sort();
            t
        },
        "the shared OIDC provider is not the stack's"
    );
    let policy = types["AWS::IAM::ManagedPolicy"];
    assert_eq!(
        canonical(&policy["PolicyDocument"]),
        canonical(&live_push_policy(w))
    );
    if !expect.access_key {
        let role = types["AWS::IAM::Role"];
        assert_eq!(
            canonical(&role["AssumeRolePolicyDocument"]),
            canonical(&live_trust(w))
        );
    }
    let repository = types["AWS::ECR::Repository"];
    assert_eq!(
        repository["ImageScanningConfiguration"],
        json!({"ScanOnPush": true})
    );
    match &expect.kms_key {
        Some(key) => assert_eq!(
            repository["EncryptionConfiguration"],
            json!({"EncryptionType": "KMS", "KmsKey": key})
        ),
        None => assert_eq!(
            repository["EncryptionConfiguration"],
            json!({"EncryptionType": "AES256"})
        ),
    }

    // Each identifier is the type's primary identifier as CloudFormation's registry schema
    // (bundled with cfn-lint) defines it, holding the value moto has.
    let to_import: Vec<Value> =
        serde_json::from_str(&exported["resources-to-import.json"]).unwrap();
    let kinds: Vec<&str> = to_import
        .iter()
        .map(|r| r["ResourceType"].as_str().unwrap())
        .collect();
    let primary = run_json(
        Command::new(tool("python"))
            .arg(manifest_dir().join("tests/export/read_export.py"))
            .arg("identifiers")
            .args(&kinds),
    );
    let expected_values: BTreeMap<&str, String> = BTreeMap::from([
        ("RoleName", ROLE.to_string()),
        ("UserName", USER.to_string()),
        ("PolicyArn", policy_arn()),
        ("RepositoryName", "skypilot".to_string()),
    ]);
    assert_eq!(to_import.len(), resources.len());
    for entry in &to_import {
        let kind = entry["ResourceType"].as_str().unwrap();
        let logical = entry["LogicalResourceId"].as_str().unwrap();
        assert_eq!(resources[logical]["Type"], kind);
        let identifier = entry["ResourceIdentifier"].as_object().unwrap();
        let keys: Vec<&String> = identifier.keys().collect();
        let wanted: Vec<String> = serde_json::from_value(primary[kind].clone()).unwrap();
        assert_eq!(keys, wanted.iter().collect::<Vec<_>>(), "{kind}");
        for (key, value) in identifier {
            assert_eq!(
                value,
                expected_values[key.as_str()].as_str(),
                "{kind} {key}"
            );
        }
    }
    assert_no_secret(w, &exported);

    assert_iam_checks_pass(
        checkov(dir, "cloudformation"),
        &TRUST_CHECKS_CLOUDFORMATION,
        &POLICY_CHECKS_CLOUDFORMATION,
        expect,
    );
}

#[test]
fn an_oidc_setup_exports_for_both_engines_and_writes_nothing_to_aws_or_github() {
    let w = World::start();
    w.apply(&[]).success();
    let expect = Expect::oidc();
    w.clear_requests();
    let tf = w.dir.path().join("tf");
    let out = export(&w, "terraform", &tf, &["--output", "json"]);
    out.success();
    assert_eq!(
        w.writes(),
        Vec::<String>::new(),
        "export wrote to AWS or GitHub"
    );
    let doc = out.json();
    assert_eq!(doc["format"], "terraform");
    let listed: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&"main.tf") && listed.contains(&"policies/trust.json"),
        "{doc}"
    );
    for f in &listed {
        assert!(tf.join(f).is_file(), "{f} listed but not written");
    }
    check_terraform(&w, &tf, &expect);

    let cfn = w.dir.path().join("cfn");
    export(&w, "cloudformation", &cfn, &[]).success();
    assert_eq!(w.writes(), Vec::<String>::new());
    check_cloudformation(&w, &cfn, &expect);
}

#[test]
fn an_access_key_setup_exports_the_user_but_never_key_material() {
    let w = World::start();
    w.apply(&["--auth", "access-key"]).success();
    let expect = Expect {
        access_key: true,
        ..Expect::oidc()
    };
    let tf = w.dir.path().join("tf");
    export(&w, "terraform", &tf, &["--auth", "access-key"]).success();
    check_terraform(&w, &tf, &expect);
    let cfn = w.dir.path().join("cfn");
    export(&w, "cloudformation", &cfn, &["--auth", "access-key"]).success();
    check_cloudformation(&w, &cfn, &expect);
    // The key that was delivered is nowhere in the export, not even its ID.
    let keys = w
        .block_on(w.iam().list_access_keys().user_name(USER).send())
        .unwrap();
    let id = keys.access_key_metadata()[0]
        .access_key_id()
        .unwrap()
        .to_string();
    for (path, text) in files(&tf).into_iter().chain(files(&cfn)) {
        assert!(!text.contains(&id), "{path} names the access key");
    }
}

#[test]
fn a_kms_setup_with_environment_secrets_exports_the_key_and_each_environment() {
    let w = World::start();
    let key = create_kms_key(&w);
    let settings = [
        "--encryption",
        "kms",
        "--kms-key",
        &key,
        "--environment",
        "prod",
        "--secret-scope",
        "environment",
    ];
    w.apply(&settings).success();
    let expect = Expect {
        kms_key: Some(key.clone()),
        environments: vec!["prod"],
        ..Expect::oidc()
    };
    let tf = w.dir.path().join("tf");
    export(&w, "terraform", &tf, &settings).success();
    check_terraform(&w, &tf, &expect);
    let cfn = w.dir.path().join("cfn");
    export(&w, "cloudformation", &cfn, &settings).success();
    check_cloudformation(&w, &cfn, &expect);
}

#[test]
fn export_refuses_while_what_exists_differs_from_the_settings() {
    let w = World::start();
    let out_dir = w.dir.path().join("tf");
    // Nothing applied yet: everything would be created.
    let refused = export(&w, "terraform", &out_dir, &[]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("skyecr-bootstrap apply"),
        "{}",
        refused.stderr
    );
    assert!(
        !out_dir.exists(),
        "a refused export left a directory behind"
    );

    w.apply(&[]).success();
    w.ecr_raw(
        "PutImageScanningConfiguration",
        json!({"repositoryName": "skypilot", "imageScanningConfiguration": {"scanOnPush": false}}),
    );
    let refused = export(&w, "terraform", &out_dir, &["--output", "json"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("~ update repository skypilot: scan on push: off → on"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--allow-drift")
    );
    assert!(!out_dir.exists());

    // --allow-drift exports the settings, not what drifted, and still repairs nothing.
    w.clear_requests();
    export(&w, "terraform", &out_dir, &["--allow-drift"]).success();
    assert_eq!(
        w.writes(),
        Vec::<String>::new(),
        "export wrote to AWS or GitHub"
    );
    let parsed = hcl(&out_dir);
    let repository = block(
        &parsed["main.tf"],
        "resource",
        "aws_ecr_repository",
        "images",
    );
    assert_eq!(
        repository["image_scanning_configuration"][0]["scan_on_push"],
        true
    );
}

#[test]
fn with_allow_drift_what_is_missing_is_created_not_imported() {
    let w = World::start();
    let out_dir = w.dir.path().join("tf");
    export(&w, "terraform", &out_dir, &["--allow-drift"]).success();
    let parsed = hcl(&out_dir);
    assert!(
        parsed.get("imports.tf").is_none(),
        "nothing exists, so nothing is imported"
    );
    let provider = block(
        &parsed["main.tf"],
        "resource",
        "aws_iam_openid_connect_provider",
        "github",
    );
    assert_eq!(provider["client_id_list"], json!(["sts.amazonaws.com"]));
    assert_eq!(provider["tags"], json!({"managed-by": "skyecr-bootstrap"}));
    let role = block(&parsed["main.tf"], "resource", "aws_iam_role", "push");
    assert_eq!(
        role["depends_on"],
        json!(["${aws_iam_openid_connect_provider.github}"])
    );

    let cfn = w.dir.path().join("cfn");
    export(&w, "cloudformation", &cfn, &["--allow-drift"]).success();
    let exported = files(&cfn);
    assert!(!exported.contains_key("resources-to-import.json"));
    let template: Value = serde_norway::from_str(&exported["template.yaml"]).unwrap();
    assert_eq!(
        template["Resources"]["GitHubOidcProvider"]["Type"],
        "AWS::IAM::OIDCProvider"
    );
    assert_eq!(
        template["Resources"]["PushRole"]["DependsOn"],
        "GitHubOidcProvider"
    );
}

#[test]
fn a_directory_that_is_not_an_export_is_refused_before_anything_is_read() {
    let w = World::start();
    let dir = w.dir.path().join("mine");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    w.clear_requests();
    let refused = export(&w, "terraform", &dir, &[]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(
        w.summary()["requests"],
        0,
        "read AWS or GitHub before refusing"
    );

    // An earlier export may be replaced; a switch of engine removes what the other one wrote.
    w.apply(&[]).success();
    export(&w, "terraform", &dir, &["--force"]).success();
    let again = export(&w, "cloudformation", &dir, &["--output", "json"]);
    again.success();
    assert_eq!(
        again.json()["removed"].as_array().unwrap().len(),
        5,
        "{}",
        again.stdout
    );
    assert!(!dir.join("main.tf").exists() && dir.join("template.yaml").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
}
