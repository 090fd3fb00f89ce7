//! The command-line surface people read: `--help` of every command, `--version`, completions,
//! and a plan rendered as text and as JSON.
use std::process::{Command, Stdio};

use insta::assert_snapshot;
use serde_json::Value;
use skyecr_bootstrap::plan::{Action, Change, Kind, Plan};
use skyecr_bootstrap::ui::render;

/// The binary with no terminal, no colors and no settings file around it.
fn run(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_skyecr-bootstrap"))
        .args(args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run skyecr-bootstrap");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn help(args: &[&str]) -> String {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Examples:"), "no examples in:\n{stdout}");
    stdout
}

#[test]
fn help_top_level() {
    assert_snapshot!(help(&["--help"]));
}

#[test]
fn help_init() {
    assert_snapshot!(help(&["init", "--help"]));
}

#[test]
fn help_plan() {
    assert_snapshot!(help(&["plan", "--help"]));
}

#[test]
fn help_apply() {
    assert_snapshot!(help(&["apply", "--help"]));
}

#[test]
fn help_workflow() {
    assert_snapshot!(help(&["workflow", "--help"]));
}

#[test]
fn help_completions() {
    assert_snapshot!(help(&["completions", "--help"]));
}

#[test]
fn help_man() {
    assert_snapshot!(help(&["man", "--help"]));
}

#[test]
fn help_audit() {
    assert_snapshot!(help(&["audit", "--help"]));
}

#[test]
fn help_check_access() {
    assert_snapshot!(help(&["check-access", "--help"]));
}

#[test]
fn help_destroy() {
    assert_snapshot!(help(&["destroy", "--help"]));
}

#[test]
fn help_export() {
    assert_snapshot!(help(&["export", "--help"]));
}

#[test]
fn help_rotate_keys() {
    assert_snapshot!(help(&["rotate-keys", "--help"]));
}

#[test]
fn every_command_tells_its_version() {
    let version = env!("CARGO_PKG_VERSION");
    let (code, stdout, _) = run(&["--version"]);
    assert_eq!((code, stdout), (0, format!("skyecr-bootstrap {version}\n")));
    // Subcommands answer as clap names them, e.g. `skyecr-bootstrap-plan 0.1.0`.
    for command in [
        "init",
        "plan",
        "apply",
        "rotate-keys",
        "destroy",
        "audit",
        "check-access",
        "workflow",
        "export",
        "completions",
        "man",
    ] {
        let (code, stdout, stderr) = run(&[command, "--version"]);
        assert_eq!(
            (code, stdout),
            (0, format!("skyecr-bootstrap-{command} {version}\n")),
            "{stderr}"
        );
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef skyecr-bootstrap"),
        ("fish", "complete -c skyecr-bootstrap"),
    ] {
        let (code, stdout, stderr) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(
            stdout.contains(marker),
            "{shell}: no {marker:?} in the script"
        );
        for word in ["init", "plan", "apply", "github-repo"] {
            assert!(stdout.contains(word), "{shell}: {word} is not completed");
        }
    }
    // Even here, --output json means one JSON document on stdout.
    let (code, stdout, _) = run(&["completions", "bash", "--output", "json"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(doc["shell"], "bash");
    assert!(
        doc["script"]
            .as_str()
            .is_some_and(|s| s.contains("complete -F"))
    );
    // An unknown shell is a usage error: 1, never clap's 2.
    assert_eq!(run(&["completions", "tcsh"]).0, 1);
}

/// One change of each kind the renderers distinguish. Rendering never looks at what apply
/// would run, so the changes carry no operation.
fn sample_plan() -> Plan {
    let change = |resource, name: &str, action, details: &[&str]| {
        Change::not_run(
            resource,
            name,
            action,
            details.iter().map(|d| d.to_string()).collect(),
        )
    };
    Plan {
        changes: vec![
            change(
                Kind::OidcProvider,
                "https://token.actions.githubusercontent.com",
                Action::Create,
                &["client ID sts.amazonaws.com"],
            ),
            change(
                Kind::Role,
                "GitHubActions-SkyPilot-ECR",
                Action::Update,
                &[
                    "- trust repo:acme/app:*",
                    "+ trust repo:acme/app:ref:refs/heads/main",
                ],
            ),
            change(
                Kind::Repository,
                "skypilot",
                Action::Blocked,
                &["encryption is AES256, wanted KMS: ECR cannot change it in place"],
            ),
            change(
                Kind::Secret,
                "AWS_ECR_ROLE_ARN",
                Action::Delete,
                &["environment prod"],
            ),
        ],
        ..Plan::default()
    }
}

#[test]
fn a_plan_rendered_as_text_and_json() {
    const TARGET: &str = "AWS account 123456789012 (us-east-1) and GitHub repository acme/app";
    let plan = sample_plan();
    // Colors are process-wide in `console`; this is the only test here that renders in-process.
    console::set_colors_enabled(true);
    let colored = render::plan_text(&plan, TARGET);
    console::set_colors_enabled(false);
    let plain = render::plan_text(&plan, TARGET);
    assert_snapshot!("plan_text", plain);
    assert_eq!(console::strip_ansi_codes(&colored), plain);
    for symbol in ["+", "~", "-", "!"] {
        assert!(
            colored.contains(&format!("m{symbol}\x1b[0m")),
            "{symbol} is not styled: {colored:?}"
        );
    }
    assert_snapshot!(
        "plan_json",
        serde_json::to_string_pretty(&render::plan_json(&plan, "123456789012", "us-east-1"))
            .expect("JSON")
    );
}

#[test]
fn workflow_with_output_json_prints_one_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let workflow = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_skyecr-bootstrap"))
            .args(["workflow", "--github-repo", "acme/app", "--branch", "main"])
            .args(["--output", "json"])
            .args(extra)
            .current_dir(dir.path())
            // The region comes from here; nothing may ask the instance metadata service.
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", dir.path().join("no-aws-config"))
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .output()
            .expect("run skyecr-bootstrap");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("one JSON document")
    };
    let printed = workflow(&["--stdout"]);
    assert!(
        printed["workflow"]
            .as_str()
            .is_some_and(|w| w.contains("eu-west-1"))
    );
    assert_eq!(workflow(&[])["status"], "written");
    assert_eq!(workflow(&[])["status"], "unchanged");
}

/// Every command, as `--help` lists them.
const COMMANDS: [&str; 11] = [
    "init",
    "plan",
    "apply",
    "rotate-keys",
    "destroy",
    "audit",
    "check-access",
    "workflow",
    "export",
    "completions",
    "man",
];

#[test]
fn the_man_page_is_roff_naming_every_command() {
    let (code, page, stderr) = run(&["man"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(page.contains(".TH skyecr-bootstrap 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "no {section} in {page}");
    }
    // roff escapes every hyphen: the page names `skyecr\-bootstrap\-check\-access(1)`.
    for command in COMMANDS {
        let reference = format!("skyecr-bootstrap-{command}(1)").replace('-', "\\-");
        assert!(page.contains(&reference), "no {reference} in the page");
    }
    assert!(
        page.contains("\\-\\-github\\-repo"),
        "the settings flags are listed"
    );

    // --out: one page per command, each its own .TH.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("man1");
    let (code, stdout, stderr) = run(&["man", "--out", out.to_str().unwrap(), "--output", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(
        doc["files"].as_array().map(Vec::len),
        Some(COMMANDS.len() + 1)
    );
    for command in COMMANDS {
        let name = format!("skyecr-bootstrap-{command}");
        let text = std::fs::read_to_string(out.join(format!("{name}.1")))
            .unwrap_or_else(|e| panic!("{name}.1: {e}"));
        assert!(text.contains(&format!(".TH {name} 1")), "{name}.1: {text}");
    }
    assert!(out.join("skyecr-bootstrap.1").is_file());
}
