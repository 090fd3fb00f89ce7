//! Hostile input: bad values for every flag and `skyecr.json` key are refused before any call,
//! and malformed answers from AWS or GitHub give a clear error, never a panic.
use serde_json::{Value, json};
use skyecr_bootstrap::config::{Form, SETTINGS, Setting};

use super::{Mode, assert_clean_failure, assert_converged, clean_state, write_log};
use crate::support::{REPO, World};

/// Where a hostile value goes: flags (on top of valid settings), or a settings file.
enum Input {
    /// Replaces or adds these flags to `apply --yes` with valid settings (`BASE_FLAGS`).
    Flags(Vec<String>),
    /// The whole settings file, passed with `--config`.
    File(String),
    /// A whole command line (for the flags of one command).
    Command(Vec<String>),
}

/// Valid settings that put every setting to use (`--kms-key` is only checked with
/// `--encryption kms`); a hostile flag replaces the one of the same name.
const BASE_FLAGS: &[(&str, &str)] = &[
    ("--github-repo", REPO),
    ("--branch", "main"),
    ("--encryption", "kms"),
];

fn flags(args: &[&str]) -> Input {
    Input::Flags(args.iter().map(|a| a.to_string()).collect())
}

fn file(text: &str) -> Input {
    Input::File(text.to_string())
}

fn command(args: &[&str]) -> Input {
    Input::Command(args.iter().map(|a| a.to_string()).collect())
}

/// `BASE_FLAGS` as a settings file, where `key` (the setting's key or its flag spelling) holds
/// `value` instead.
fn file_with(setting: &Setting, key: &str, value: Value) -> Input {
    let mut object = serde_json::Map::new();
    for (flag, base) in BASE_FLAGS {
        let given = SETTINGS.iter().find(|s| s.flag == *flag).unwrap();
        if given.key != setting.key {
            let base = match given.form {
                Form::List(_) => json!([base]),
                _ => json!(base),
            };
            object.insert(given.key.to_string(), base);
        }
    }
    object.insert(key.to_string(), value);
    Input::File(Value::Object(object).to_string())
}

/// Values every rule refuses, whatever it checks: nothing, a control character, an invisible
/// character, a space.
const REFUSED_BY_EVERY_RULE: &[&str] = &["", "\n", "\u{200B}", " "];

/// Hostile input for every setting of the table, built from its form, so a new setting is
/// covered without a line here: bad values as a flag and as a file value (the message names
/// the flag), and values of the wrong JSON type under the key and under the flag's spelling
/// (the message names that key).
fn table_cases() -> Vec<(Input, String)> {
    let mut cases = Vec::new();
    for &setting in SETTINGS {
        let flag = setting.flag;
        let spelled = flag.trim_start_matches("--");
        let wrong_types = match setting.form {
            Form::Text(_) => vec![json!(5), json!(true), json!(["x"]), json!({})],
            Form::List(_) => vec![json!("x"), json!([null]), json!([{"name": "x"}])],
            Form::Choice => vec![json!("no-such-choice"), json!(5)],
            Form::Switch => vec![json!("yes"), json!(1)],
        };
        match setting.form {
            Form::Text(_) | Form::List(_) => {
                let list = matches!(setting.form, Form::List(_));
                for &bad in REFUSED_BY_EVERY_RULE {
                    cases.push((flags(&[flag, bad]), flag.to_string()));
                    let value = if list { json!([bad]) } else { json!(bad) };
                    cases.push((file_with(setting, setting.key, value), flag.to_string()));
                }
            }
            Form::Choice => cases.push((flags(&[flag, "no-such-choice"]), flag.to_string())),
            Form::Switch => cases.push((flags(&[&format!("{flag}=yes")]), flag.to_string())),
        }
        let mut keys = vec![setting.key];
        if spelled != setting.key {
            keys.push(spelled);
        }
        for key in keys {
            for wrong in &wrong_types {
                cases.push((
                    file_with(setting, key, wrong.clone()),
                    format!("key {key:?}"),
                ));
            }
        }
    }
    cases
}

/// Values particular to one setting or command, `(input, what the message must name)`.
fn particular_cases() -> Vec<(Input, &'static str)> {
    let long = |n: usize| "a".repeat(n);
    vec![
        // --github-repo
        (flags(&["--github-repo", "acme"]), "--github-repo"),
        (
            flags(&["--github-repo", &format!("{}/app", long(40))]),
            "--github-repo",
        ),
        (
            flags(&["--github-repo", &format!("acme/{}", long(101))]),
            "--github-repo",
        ),
        (flags(&["--github-repo", "аcme/app"]), "--github-repo"), // Cyrillic а
        (flags(&["--github-repo", "acme/app\n"]), "--github-repo"),
        (flags(&["--github-repo", "*/*"]), "--github-repo"),
        (flags(&["--github-repo", "repo:*"]), "--github-repo"),
        (flags(&["--github-repo", "acme/*"]), "--github-repo"),
        (flags(&["--github-repo", "../app"]), "--github-repo"),
        (flags(&["--github-repo", "acme/.."]), "--github-repo"),
        (flags(&["--github-repo", "acme/\"app\""]), "--github-repo"),
        // --region, --profile
        (flags(&["--region", "us-east-1\u{7}"]), "--region"),
        (flags(&["--region", "ｕｓ-east-1"]), "--region"), // fullwidth letters
        (flags(&["--region", "*"]), "--region"),
        (flags(&["--region", "../us-east-1"]), "--region"),
        (flags(&["--profile", "dev\tprod"]), "--profile"),
        (flags(&["--profile", "dev\u{202E}"]), "--profile"),
        // --ecr-repository
        (
            flags(&["--ecr-repository", "../../etc"]),
            "--ecr-repository",
        ),
        (flags(&["--ecr-repository", &long(257)]), "--ecr-repository"),
        (
            flags(&["--ecr-repository", "sky pilot"]),
            "--ecr-repository",
        ),
        (flags(&["--ecr-repository", "*"]), "--ecr-repository"),
        (
            flags(&["--ecr-repository", "skypilot\n"]),
            "--ecr-repository",
        ),
        // --role-name, --policy-name, --user-name
        (flags(&["--role-name", &long(65)]), "--role-name"),
        (flags(&["--role-name", "role\"name"]), "--role-name"),
        (flags(&["--role-name", "*"]), "--role-name"),
        (flags(&["--role-name", "rоle"]), "--role-name"), // Cyrillic о
        (flags(&["--policy-name", &long(129)]), "--policy-name"),
        (flags(&["--policy-name", "../p"]), "--policy-name"),
        (flags(&["--user-name", "user\nname"]), "--user-name"),
        // trust scopes
        (flags(&["--branch", "*"]), "--branch"),
        (flags(&["--branch", "main\u{200B}"]), "--branch"), // zero-width space
        (flags(&["--branch", "ma\u{202E}in"]), "--branch"), // right-to-left override
        (flags(&["--branch", &long(256)]), "--branch"),
        (flags(&["--branch", "../main"]), "--branch"),
        (flags(&["--branch", "main\n"]), "--branch"),
        (flags(&["--branch", "refs/heads/*"]), "--branch"),
        (flags(&["--tag", "repo:*"]), "--tag"),
        (flags(&["--tag", "v1 2"]), "--tag"),
        (flags(&["--tag", "v1\u{FEFF}"]), "--tag"),
        (flags(&["--environment", "prod*"]), "--environment"),
        (flags(&["--environment", "prod\u{1b}[31m"]), "--environment"),
        (flags(&["--environment", &long(256)]), "--environment"),
        (flags(&["--environment", "prod\u{200D}"]), "--environment"),
        (flags(&["--any-ref", "--branch", "main"]), "--any-ref"),
        // secrets, issuer, encryption
        (flags(&["--secret-name", "GITHUB_TOKEN"]), "--secret-name"),
        (flags(&["--secret-name", "AWS-ROLE"]), "--secret-name"),
        (flags(&["--secret-name", &long(256)]), "--secret-name"),
        (
            flags(&[
                "--oidc-issuer",
                "https://token.actions.githubusercontent.com/../evil",
            ]),
            "--oidc-issuer",
        ),
        (
            flags(&[
                "--oidc-issuer",
                "https://tоken.actions.githubusercontent.com",
            ]),
            "--oidc-issuer",
        ),
        (
            flags(&["--oidc-issuer", "https://*.githubusercontent.com"]),
            "--oidc-issuer",
        ),
        (
            flags(&["--encryption", "kms", "--kms-key", "*"]),
            "--kms-key",
        ),
        (
            flags(&[
                "--encryption",
                "kms",
                "--kms-key",
                "arn:aws:kms:us-east-1:123456789012:key/abc\n",
            ]),
            "--kms-key",
        ),
        (flags(&["--secret-scope", "environment"]), "--secret-scope"),
        // flags clap refuses
        (flags(&["--brnach", "main"]), "--brnach"),
        (flags(&["--force-secrets=1"]), "--force-secrets"),
        // flags of one command
        (
            command(&[
                "plan",
                "--github-repo",
                REPO,
                "--branch",
                "main",
                "--detailed-exitcode=no",
            ]),
            "--detailed-exitcode",
        ),
        (
            command(&[
                "workflow",
                "--github-repo",
                REPO,
                "--trigger-branch",
                "*",
                "--stdout",
            ]),
            "--trigger-branch",
        ),
        (
            command(&[
                "workflow",
                "--github-repo",
                REPO,
                "--trigger-branch",
                "main\u{200B}",
                "--stdout",
            ]),
            "--trigger-branch",
        ),
        (
            command(&[
                "workflow",
                "--github-repo",
                REPO,
                "--platforms",
                "linux/amd64;rm -rf /",
                "--stdout",
            ]),
            "--platforms",
        ),
        (
            command(&[
                "workflow",
                "--github-repo",
                REPO,
                "--platforms",
                "",
                "--stdout",
            ]),
            "--platforms",
        ),
        (
            command(&[
                "check-access",
                "--github-repo",
                REPO,
                "--ref",
                "refs/pull/1/merge",
            ]),
            "--ref",
        ),
        (
            command(&[
                "check-access",
                "--github-repo",
                REPO,
                "--ref",
                "refs/heads/main\n",
            ]),
            "--ref",
        ),
        (
            command(&[
                "check-access",
                "--github-repo",
                REPO,
                "--environment",
                "a",
                "--environment",
                "b",
            ]),
            "--environment",
        ),
        (command(&["check-access", "--github-repo", REPO]), "--ref"),
        (
            flags(&["--config", "/nonexistent/skyecr.json"]),
            "/nonexistent/skyecr.json",
        ),
        // the settings file
        (file("not json"), "settings file"),
        (file("[]"), "settings file"),
        (
            file(r#"{"github_repo": "acme/app", "branches": ["ma"#),
            "settings file",
        ),
        (
            file(r#"{"github_repo": "acme/app", "branches": ["main"], "unknown_key": 1}"#),
            "unknown_key",
        ),
        (
            file(
                r#"{"github_repo": "acme/app", "github-repo": "acme/other", "branches": ["main"]}"#,
            ),
            "github_repo",
        ),
        (
            file(r#"{"github_repo": "acme/app", "branches": ["*"]}"#),
            "--branch",
        ),
        (
            file(r#"{"github_repo": "repo:*", "branches": ["main"]}"#),
            "--github-repo",
        ),
        (
            file(r#"{"github_repo": "acme/app", "branches": ["main"], "role_name": "../x"}"#),
            "--role-name",
        ),
        (
            file(r#"{"github_repo": "acme/app", "branches": ["main"], "ecr_repository": "../x"}"#),
            "--ecr-repository",
        ),
        (
            file(r#"{"github_repo": "acme/app", "branches": ["main"], "secret_name": "GITHUB_X"}"#),
            "--secret-name",
        ),
        (
            file(r#"{"github_repo": "acme/app", "branches": ["main"], "oidc_issuer": "http://x"}"#),
            "--oidc-issuer",
        ),
        (
            file(r#"{"github_repo": "acme/app", "tags": ["v1\n"]}"#),
            "--tag",
        ),
        (
            file(&format!(
                r#"{{"github_repo": {}"acme/app"{}, "branches": ["main"]}}"#,
                "[".repeat(300),
                "]".repeat(300)
            )),
            "settings file",
        ),
    ]
}

#[test]
fn hostile_values_for_every_setting_are_refused_before_any_call() {
    let w = World::start();
    let mut cases = table_cases();
    cases.extend(
        particular_cases()
            .into_iter()
            .map(|(input, needle)| (input, needle.to_string())),
    );
    assert!(cases.len() >= 40, "{} cases", cases.len());
    w.clear_requests();
    for (i, (input, needle)) in cases.iter().enumerate() {
        let mut args: Vec<String> = vec!["apply".into(), "--yes".into()];
        let shown = match input {
            Input::Flags(extra) => {
                for (flag, value) in BASE_FLAGS {
                    if !extra.iter().any(|a| a == flag) {
                        args.extend([flag.to_string(), value.to_string()]);
                    }
                }
                args.extend(extra.iter().cloned());
                format!("{extra:?}")
            }
            Input::File(text) => {
                let path = w.dir.path().join(format!("hostile-{i}.json"));
                std::fs::write(&path, text).unwrap();
                args.extend(["--config".into(), path.display().to_string()]);
                format!("skyecr.json {:.80}", text)
            }
            Input::Command(line) => {
                args = line.clone();
                format!("{line:?}")
            }
        };
        let out = w.cmd().args(&args).run();
        assert_clean_failure(&out, &shown);
        assert!(
            out.stderr.contains(needle.as_str()),
            "{shown}: the message does not name {needle}\n{}",
            out.stderr
        );
        assert_eq!(
            w.requests(),
            Vec::<Value>::new(),
            "{shown}: reached AWS or GitHub"
        );
    }
}

#[test]
fn a_refused_value_in_json_mode_is_one_json_error() {
    let w = World::start();
    let out = w
        .cmd()
        .args([
            "plan",
            "--output",
            "json",
            "--github-repo",
            REPO,
            "--branch",
            "main\u{200B}",
        ])
        .run();
    assert_clean_failure(&out, "json");
    let doc = out.json();
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--branch") && m.contains("U+200B")),
        "{doc}"
    );
    assert_eq!(w.requests(), Vec::<Value>::new());
}

/// A malformed answer: `(what, fault rules for AWS, fault rules for GitHub, message fragment)`.
struct Malformed {
    what: &'static str,
    /// The commands that read the malformed answer.
    commands: &'static [&'static str],
    aws: Value,
    github: Value,
    says: &'static [&'static str],
    /// The answer is to a write, so writes happen; every other malformed answer is to a read,
    /// and nothing may be written after it.
    to_a_write: bool,
}

fn get_role_answer(document: &str) -> String {
    format!(
        r#"<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetRoleResult><Role><Path>/</Path><RoleName>GitHubActions-SkyPilot-ECR</RoleName><RoleId>AROAEXAMPLE</RoleId><Arn>arn:aws:iam::123456789012:role/GitHubActions-SkyPilot-ECR</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>{document}</AssumeRolePolicyDocument></Role></GetRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetRoleResponse>"#
    )
}

/// A `GetAccountAuthorizationDetails` page holding the push policy with `document`.
fn authorization_details(document: &str) -> String {
    format!(
        r#"<GetAccountAuthorizationDetailsResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetAccountAuthorizationDetailsResult><IsTruncated>false</IsTruncated><UserDetailList/><GroupDetailList/><RoleDetailList/><Policies><member><PolicyName>SkyPilot-ECR-Push</PolicyName><PolicyId>ANPAEXAMPLE</PolicyId><Arn>arn:aws:iam::123456789012:policy/SkyPilot-ECR-Push</Arn><Path>/</Path><DefaultVersionId>v1</DefaultVersionId><AttachmentCount>0</AttachmentCount><IsAttachable>true</IsAttachable><PolicyVersionList><member><Document>{document}</Document><VersionId>v1</VersionId><IsDefaultVersion>true</IsDefaultVersion></member></PolicyVersionList></member></Policies></GetAccountAuthorizationDetailsResult></GetAccountAuthorizationDetailsResponse>"#
    )
}

fn malformed_answers() -> Vec<Malformed> {
    use base64::Engine;
    let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
    let gh = |path: &str, body: String| json!({"method": "GET", "path_regex": path, "status": 200, "body": body, "times": null});
    vec![
        Malformed {
            what: "repository answer is not JSON",
            commands: &["plan", "apply"],
            aws: json!([]),
            github: json!([gh(
                "^/repos/acme/app$",
                "<html>upstream error</html>".into()
            )]),
            says: &["not JSON"],
            to_a_write: false,
        },
        Malformed {
            what: "repository answer is truncated",
            commands: &["plan", "apply"],
            aws: json!([]),
            github: json!([gh(
                "^/repos/acme/app$",
                r#"{"id": 2002, "full_name": "acme/ap"#.into()
            )]),
            says: &["not JSON"],
            to_a_write: false,
        },
        Malformed {
            what: "repository answer lacks the IDs",
            commands: &["plan", "apply"],
            aws: json!([]),
            github: json!([gh("^/repos/acme/app$", r#"{"full_name": 5}"#.into())]),
            says: &["lacks full_name"],
            to_a_write: false,
        },
        Malformed {
            what: "repository answer names a wildcard repository",
            commands: &["plan", "apply"],
            aws: json!([]),
            github: json!([gh(
                "^/repos/acme/app$",
                r#"{"id": 2002, "full_name": "acme/*", "owner": {"id": 1001}}"#.into()
            )]),
            says: &["\"acme/*\"", "not an OWNER/REPO"],
            to_a_write: false,
        },
        Malformed {
            what: "secrets public key of 31 bytes",
            commands: &["apply"],
            aws: json!([]),
            github: json!([gh(
                "/secrets/public-key$",
                json!({"key_id": "1", "key": b64(31)}).to_string()
            )]),
            says: &["31-byte"],
            to_a_write: false,
        },
        Malformed {
            what: "secrets public key of 33 bytes",
            commands: &["apply"],
            aws: json!([]),
            github: json!([gh(
                "/secrets/public-key$",
                json!({"key_id": "1", "key": b64(33)}).to_string()
            )]),
            says: &["33-byte"],
            to_a_write: false,
        },
        Malformed {
            what: "secrets public key not base64",
            commands: &["apply"],
            aws: json!([]),
            github: json!([gh(
                "/secrets/public-key$",
                json!({"key_id": "1", "key": "!!!not*base64"}).to_string()
            )]),
            says: &["not valid base64"],
            to_a_write: false,
        },
        Malformed {
            what: "variable answer truncated",
            commands: &["plan", "apply"],
            aws: json!([]),
            github: json!([gh(
                "/actions/variables$",
                r#"{"total_count": 1, "variables": [{"name": "AWS_REG"#.into()
            )]),
            says: &["not JSON"],
            to_a_write: false,
        },
        Malformed {
            what: "list of secrets without the secrets",
            commands: &["plan", "apply"],
            aws: json!([]),
            github: json!([gh("/actions/secrets$", r#"{"total_count": 3}"#.into())]),
            says: &["without the list of secrets"],
            to_a_write: false,
        },
        Malformed {
            what: "server error with an HTML body",
            commands: &["plan", "apply"],
            aws: json!([]),
            github: json!([{"method": "GET", "path_regex": "^/repos/acme/app$", "status": 502, "body": "<html>Bad gateway", "times": null}]),
            says: &["502"],
            to_a_write: false,
        },
        Malformed {
            what: "GitHub contradicts itself about a variable",
            commands: &["apply"],
            aws: json!([]),
            github: json!([
                {"method": "POST", "path_regex": "/actions/variables$", "status": 409, "times": null},
                {"method": "PATCH", "path_regex": "/actions/variables/", "status": 404, "times": null},
            ]),
            says: &["did not accept variable"],
            to_a_write: true,
        },
        Malformed {
            what: "trust policy that is not JSON",
            commands: &["plan", "apply"],
            aws: json!([{"action": "GetRole", "status": 200, "ok_body": true, "times": null,
                         "body": get_role_answer("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B")}]),
            github: json!([]),
            says: &["iam:GetRole", "not valid JSON"],
            to_a_write: false,
        },
        Malformed {
            what: "push policy version that is not JSON",
            commands: &["plan", "apply"],
            aws: json!([{"action": "GetAccountAuthorizationDetails", "status": 200, "ok_body": true, "times": null,
                         "body": authorization_details("{not json")}]),
            github: json!([]),
            says: &["iam:GetAccountAuthorizationDetails", "SkyPilot-ECR-Push"],
            to_a_write: false,
        },
        Malformed {
            what: "ECR answer truncated",
            commands: &["plan", "apply"],
            aws: json!([{"action": "DescribeRepositories", "status": 200, "ok_body": true, "times": null,
                         "body": r#"{"repositories": [{"repositoryName": "sky"#}]),
            github: json!([]),
            says: &["ecr:DescribeRepositories"],
            to_a_write: false,
        },
        Malformed {
            what: "STS answer that is not XML",
            commands: &["plan", "apply"],
            aws: json!([{"action": "GetCallerIdentity", "status": 200, "ok_body": true, "times": null,
                         "body": "{\"Account\": 1}"}]),
            github: json!([]),
            says: &["sts:GetCallerIdentity"],
            to_a_write: false,
        },
    ]
}

/// Each malformed answer on an applied setup: `plan` and `apply` stop with a clear error (no
/// panic); once the answers are sound again the rerun converges.
#[test]
fn malformed_answers_give_clear_errors_never_a_panic() {
    let w = World::start();
    let clean = clean_state(&w, Mode::Oidc);
    for m in malformed_answers() {
        // Half the cases against an applied setup (so the documents exist), half fresh.
        w.reset();
        if m.what.contains("policy") {
            Mode::Oidc.apply(&w).success();
        }
        w.aws_faults(m.aws.clone());
        w.github_faults(m.github.clone());
        for command in m.commands {
            w.clear_requests();
            let out = w
                .cmd()
                .args([*command, "--yes"])
                .args(Mode::Oidc.args())
                .run();
            let context = format!("{}: {command}", m.what);
            assert_clean_failure(&out, &context);
            if !m.to_a_write {
                assert_eq!(
                    write_log(&w),
                    Vec::new(),
                    "{context}: something was written after the malformed answer"
                );
            }
            // Every rule of the case met the request it was made for.
            for side in [
                format!("{}/_proxy/faults", w.aws),
                format!("{}/_standin/faults", w.github),
            ] {
                for r in w.get(&side).as_array().cloned().unwrap_or_default() {
                    assert!(
                        r["hits"].as_u64() > Some(0),
                        "{context}: the fault never fired: {r}"
                    );
                }
            }
            for s in m.says {
                assert!(
                    out.stderr.contains(s),
                    "{context}: the message does not say {s:?}\n{}",
                    out.stderr
                );
            }
        }
        w.send(
            reqwest::Method::DELETE,
            &format!("{}/_proxy/faults", w.aws),
            json!({}),
        );
        w.send(
            reqwest::Method::DELETE,
            &format!("{}/_standin/faults", w.github),
            json!({}),
        );
        Mode::Oidc.apply(&w).success();
        assert_converged(&w, Mode::Oidc, &clean, m.what);
    }
}

/// The secrets check every world runs when it ends (tests/it/support) does catch a leak: a
/// value registered as secret, echoed back in an error message.
#[test]
fn the_leak_detector_catches_a_secret_in_the_output() {
    let w = World::start();
    let planted = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
    w.forbid(planted);
    w.cmd()
        .args([
            "plan",
            "--github-repo",
            REPO,
            "--branch",
            "main",
            "--role-name",
            planted,
        ])
        .run();
    let report = w.leaked_secret().expect("the planted secret is found");
    assert!(
        report.contains("leaked into")
            && report.contains("<THE SECRET>")
            && !report.contains(planted),
        "{report}"
    );
    w.clear_outputs();
    assert_eq!(w.leaked_secret(), None);
}
