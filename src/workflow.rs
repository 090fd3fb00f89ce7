//! Renders the GitHub Actions workflow that builds the image and pushes it to ECR (`workflow` command).
//!
//! The output follows the setup guide, hardened so that actionlint and zizmor (default and
//! pedantic personas) report nothing; docs/workflow.md explains each choice. Rendering is pure
//! and deterministic: the same options always give the same bytes, so the file can be
//! snapshot-tested and rewritten without spurious diffs.
//!
//! The document and its step scripts are files under `templates/` (`workflow.yaml`, `*.sh`),
//! embedded at build time, so shellcheck and editors read them as what they are.

/// Default branch whose pushes trigger a build (the setup guide's branch).
pub const DEFAULT_TRIGGER_BRANCH: &str = "feature/runpod-catalog-fetcher";
/// Default location of the workflow file, relative to the repository root.
pub const DEFAULT_WORKFLOW_PATH: &str = ".github/workflows/build-push-ecr-custom.yaml";
/// Default target platforms; used as well when `WorkflowOptions::platforms` is empty.
pub const DEFAULT_PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];

/// Secrets the access-key mode reads; fixed names, as in the setup guide and the `apply` command.
pub const ACCESS_KEY_ID_SECRET: &str = "AWS_ACCESS_KEY_ID";
/// See [`ACCESS_KEY_ID_SECRET`].
pub const SECRET_ACCESS_KEY_SECRET: &str = "AWS_SECRET_ACCESS_KEY";

/// How the workflow authenticates to AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowAuth {
    /// Assume the role whose ARN is stored in this repository secret, with a GitHub OIDC token.
    Oidc { secret_name: String },
    /// The IAM-user fallback: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` secrets.
    AccessKey,
}

/// Everything the generated workflow depends on; the caller validates the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowOptions {
    pub auth: WorkflowAuth,
    /// AWS region of the ECR repository, e.g. `us-east-1`.
    pub region: String,
    /// ECR repository name, e.g. `skypilot`.
    pub ecr_repository: String,
    /// Branch whose pushes trigger a build (a literal name, not a pattern).
    pub trigger_branch: String,
    /// Target platforms, e.g. `linux/amd64`; empty means [`DEFAULT_PLATFORMS`].
    pub platforms: Vec<String>,
    /// Where the file is written, relative to the repository root with `/` separators; it is
    /// one of the push `paths`, so that editing the workflow rebuilds the image.
    pub workflow_path: String,
}

/// One action the workflow uses, pinned to a full commit SHA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    /// `owner/repo` as written in `uses:`.
    pub action: &'static str,
    /// The commit the release tag points to (40 hex digits).
    pub sha: &'static str,
    /// The release tag, written as the `# vX.Y.Z` comment after the SHA.
    pub version: &'static str,
}

/// The only place action versions live. Taken from shared/reference/github-actions-pins.json
/// (tag = newest release of the newest major, SHA = the commit that tag points to); a unit test
/// checks every row against that file. To update: change a row here, run the tests, accept the
/// snapshots (docs/workflow.md has the steps).
pub const PINS: [Pin; 6] = [
    Pin {
        action: "actions/checkout",
        sha: "3d3c42e5aac5ba805825da76410c181273ba90b1",
        version: "v7.0.1",
    },
    Pin {
        action: "docker/setup-qemu-action",
        sha: "96fe6ef7f33517b61c61be40b68a1882f3264fb8",
        version: "v4.2.0",
    },
    Pin {
        action: "docker/setup-buildx-action",
        sha: "37fe631027851001ddb9b187196cc803df7f5f0e",
        version: "v4.3.0",
    },
    Pin {
        action: "aws-actions/configure-aws-credentials",
        sha: "e6de054238d6b7531b4efff3b6587d9aade6a06c",
        version: "v6.2.3",
    },
    Pin {
        action: "aws-actions/amazon-ecr-login",
        sha: "03f1aad4c6c7ffd436567f42f9384779290529bd",
        version: "v2.1.7",
    },
    Pin {
        action: "docker/build-push-action",
        sha: "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a",
        version: "v7.3.0",
    },
];

// Named views of the table, resolved at compile time: a name missing from PINS fails the build
// instead of rendering an unpinned `uses:`.
const CHECKOUT: Pin = pin("actions/checkout");
const SETUP_QEMU: Pin = pin("docker/setup-qemu-action");
const SETUP_BUILDX: Pin = pin("docker/setup-buildx-action");
const CONFIGURE_AWS: Pin = pin("aws-actions/configure-aws-credentials");
const ECR_LOGIN: Pin = pin("aws-actions/amazon-ecr-login");
const BUILD_PUSH: Pin = pin("docker/build-push-action");

#[expect(
    clippy::panic,
    reason = "only evaluated in const items, where a panic is a compile error, never a runtime one"
)]
const fn pin(action: &str) -> Pin {
    let mut i = 0;
    while i < PINS.len() {
        if const_str_eq(PINS[i].action, action) {
            return PINS[i];
        }
        i += 1;
    }
    panic!("action missing from PINS")
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The shell script of the "Generate image tags" step (step id `tags`), exactly as rendered.
///
/// It reads only environment variables (`VERSION_TAG`, `PUSH_LATEST`, `REGISTRY`, `COMMIT_SHA`,
/// `ECR_REPOSITORY`, `GITHUB_OUTPUT`), validates `version_tag` against Docker's tag grammar
/// before anything is written, and writes `tags` (multi-line, random heredoc delimiter),
/// `primary`, `short_sha` and `build_date` to `$GITHUB_OUTPUT`.
pub fn tag_script() -> &'static str {
    TAG_SCRIPT
}

/// The shell script of the "Write job summary" step, exactly as rendered.
pub fn summary_script() -> &'static str {
    SUMMARY_SCRIPT
}

/// How every `templates/*.sh` file begins: a shellcheck directive line (the dialect, plus any
/// `disable=` with its reason). The files are step bodies that the runner hands to bash, not
/// executables, so they carry this rather than a shebang; the line is lint configuration, not
/// part of the step, and is dropped when rendering.
const SHELL_DIRECTIVE: &str = "# shellcheck shell=bash";

// Every value comes in through `env:`: a `${{ }}` in these scripts would be pasted into them
// before bash parses them, which is how a crafted version_tag becomes a command (template
// injection).
const TAG_SCRIPT: &str = step_script(include_str!("../templates/tags.sh"));
const SUMMARY_SCRIPT: &str = step_script(include_str!("../templates/summary.sh"));

/// `file` without its first line, which must be the shellcheck directive.
#[expect(
    clippy::panic,
    reason = "only evaluated in const items, where a panic is a compile error, never a runtime one"
)]
const fn step_script(file: &'static str) -> &'static str {
    let has_directive = match file.split_at_checked(SHELL_DIRECTIVE.len()) {
        Some((head, _)) => const_str_eq(head, SHELL_DIRECTIVE),
        None => false,
    };
    let bytes = file.as_bytes();
    let mut end = 0;
    while end < bytes.len() && bytes[end] != b'\n' {
        end += 1;
    }
    match file.split_at_checked(end + 1) {
        Some((_, body)) if has_directive => body,
        _ => panic!("a templates/*.sh file does not start with the shellcheck directive line"),
    }
}

// `%%NAME%%` placeholders. A line holding only a placeholder is a block: the value's lines are
// indented like the placeholder, and an empty value removes the line. Substitution is one pass
// over the template, so a value that happens to contain `%%X%%` is never expanded again.
const TEMPLATE: &str = include_str!("../templates/workflow.yaml");

/// Renders the workflow file for `opts`. Pure and deterministic; never panics.
///
/// Values are written as quoted YAML scalars, and the branch and path as literal filter
/// patterns (glob characters escaped), so unusual characters cannot change the document's
/// structure or widen the trigger.
pub fn render(opts: &WorkflowOptions) -> String {
    let platforms = if opts.platforms.is_empty() {
        DEFAULT_PLATFORMS.join(",")
    } else {
        opts.platforms.join(",")
    };
    // The only lines that depend on the auth mode, so they are built here rather than in the
    // template.
    let (id_token, credentials) = match &opts.auth {
        WorkflowAuth::Oidc { secret_name } => (
            "id-token: write  # OIDC: configure-aws-credentials requests a GitHub token and trades it for the AWS role".to_owned(),
            format!(
                "role-to-assume: ${{{{ secrets.{} }}}}",
                secret_identifier(secret_name)
            ),
        ),
        // No id-token permission: nothing in this mode needs a GitHub OIDC token.
        WorkflowAuth::AccessKey => (
            String::new(),
            format!(
                "aws-access-key-id: ${{{{ secrets.{ACCESS_KEY_ID_SECRET} }}}}\n\
                 aws-secret-access-key: ${{{{ secrets.{SECRET_ACCESS_KEY_SECRET} }}}}"
            ),
        ),
    };
    let values: [(&str, String); 15] = [
        (
            "TRIGGER_BRANCH",
            yaml_str(&filter_literal(&opts.trigger_branch)),
        ),
        (
            "WORKFLOW_PATH",
            yaml_str(&filter_literal(repo_relative(&opts.workflow_path))),
        ),
        ("REGION", yaml_str(&opts.region)),
        ("ECR_REPOSITORY", yaml_str(&opts.ecr_repository)),
        ("ID_TOKEN_PERMISSION", id_token),
        ("AWS_CREDENTIALS", credentials),
        ("PLATFORMS", yaml_str(&platforms)),
        ("USES_CHECKOUT", uses(&CHECKOUT)),
        ("USES_SETUP_QEMU", uses(&SETUP_QEMU)),
        ("USES_SETUP_BUILDX", uses(&SETUP_BUILDX)),
        ("USES_CONFIGURE_AWS", uses(&CONFIGURE_AWS)),
        ("USES_ECR_LOGIN", uses(&ECR_LOGIN)),
        ("USES_BUILD_PUSH", uses(&BUILD_PUSH)),
        ("TAG_SCRIPT", TAG_SCRIPT.to_owned()),
        ("SUMMARY_SCRIPT", SUMMARY_SCRIPT.to_owned()),
    ];
    fill(TEMPLATE, &values)
}

fn uses(pin: &Pin) -> String {
    format!("{}@{} # {}", pin.action, pin.sha, pin.version)
}

fn fill(template: &str, values: &[(&str, String)]) -> String {
    let lookup = |name: &str| {
        values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    };
    let mut out = String::with_capacity(template.len() * 2);
    for line in template.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let trimmed = body.trim_start();
        let block = trimmed
            .strip_prefix("%%")
            .and_then(|rest| rest.strip_suffix("%%"))
            .filter(|name| !name.contains("%%"))
            .and_then(lookup);
        match block {
            Some(value) => {
                let indent = &body[..body.len() - trimmed.len()];
                for value_line in value.lines() {
                    if !value_line.is_empty() {
                        out.push_str(indent);
                        out.push_str(value_line);
                    }
                    out.push('\n');
                }
            }
            None => fill_inline(line, &lookup, &mut out),
        }
    }
    out
}

fn fill_inline<'a>(line: &str, lookup: &impl Fn(&str) -> Option<&'a str>, out: &mut String) {
    let mut rest = line;
    while let Some(start) = rest.find("%%") {
        let after = &rest[start + 2..];
        let Some(len) = after.find("%%") else { break };
        match lookup(&after[..len]) {
            Some(value) => {
                out.push_str(&rest[..start]);
                out.push_str(value);
                rest = &after[len + 2..];
            }
            None => {
                // Not a placeholder: keep the first `%%` and look again after it.
                out.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// `./x/y` and `x/y` name the same file; GitHub's `paths` filter only matches the latter.
fn repo_relative(path: &str) -> &str {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    p
}

/// Escapes GitHub's filter-pattern characters so the pattern matches exactly `name`.
/// `\` may escape `[ ? * + \ !`; `!` is only special as the first character.
fn filter_literal(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if matches!(c, '\\' | '[' | '?' | '*' | '+') || (i == 0 && c == '!') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A secret reference must stay one identifier: anything else could close the `${{ }}`
/// expression or name another context. Validation belongs to the caller; this only keeps a bad
/// value from turning into expression syntax (invalid characters become `_`).
fn secret_identifier(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A YAML scalar that reads back as exactly `s`: single-quoted when every character may stand
/// in a single-quoted scalar on one line, double-quoted with escapes otherwise (line breaks,
/// control characters, BOM and Unicode line separators).
fn yaml_str(s: &str) -> String {
    let plain_quotable = s.chars().all(|c| !needs_escape(c));
    if plain_quotable {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::with_capacity(s.len() + 8);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xFF {
                    out.push_str(&format!("\\x{code:02X}"));
                } else if code <= 0xFFFF {
                    out.push_str(&format!("\\u{code:04X}"));
                } else {
                    out.push_str(&format!("\\U{code:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters that cannot appear verbatim in a one-line single-quoted YAML scalar (or that
/// YAML 1.1 parsers treat as line breaks).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_norway::Value;

    fn options(auth: WorkflowAuth) -> WorkflowOptions {
        WorkflowOptions {
            auth,
            region: "us-east-1".into(),
            ecr_repository: "skypilot".into(),
            trigger_branch: DEFAULT_TRIGGER_BRANCH.into(),
            platforms: DEFAULT_PLATFORMS.iter().map(|p| p.to_string()).collect(),
            workflow_path: DEFAULT_WORKFLOW_PATH.into(),
        }
    }

    fn oidc() -> WorkflowOptions {
        options(WorkflowAuth::Oidc {
            secret_name: "AWS_ECR_ROLE_ARN".into(),
        })
    }

    fn access_key() -> WorkflowOptions {
        options(WorkflowAuth::AccessKey)
    }

    fn parse(yaml: &str) -> Value {
        match serde_norway::from_str(yaml) {
            Ok(v) => v,
            Err(e) => panic!("rendered workflow is not YAML: {e}\n{yaml}"),
        }
    }

    fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
        path.iter().fold(v, |v, key| &v[*key])
    }

    fn steps(doc: &Value) -> Vec<&Value> {
        get(doc, &["jobs", "build-and-push", "steps"])
            .as_sequence()
            .map(|s| s.iter().collect())
            .unwrap_or_default()
    }

    fn step<'a>(doc: &'a Value, id: &str) -> &'a Value {
        steps(doc)
            .into_iter()
            .find(|s| s["id"].as_str() == Some(id))
            .unwrap_or_else(|| panic!("no step with id {id}"))
    }

    #[test]
    fn both_modes_parse_as_yaml_with_the_guide_structure() {
        for opts in [oidc(), access_key()] {
            let doc = parse(&render(&opts));
            assert_eq!(
                doc["name"].as_str(),
                Some("Build and Push Custom SkyPilot to ECR")
            );
            let push = get(&doc, &["on", "push"]);
            assert_eq!(
                push["branches"],
                parse("['feature/runpod-catalog-fetcher']")
            );
            assert_eq!(
                push["paths"],
                parse("['sky/**', 'Dockerfile', '.github/workflows/build-push-ecr-custom.yaml']")
            );
            let inputs = get(&doc, &["on", "workflow_dispatch", "inputs"]);
            assert_eq!(inputs["version_tag"]["type"].as_str(), Some("string"));
            assert_eq!(inputs["build_from_branch"]["type"].as_str(), Some("string"));
            assert_eq!(inputs["push_latest"]["type"].as_str(), Some("boolean"));
            assert_eq!(inputs["push_latest"]["default"].as_bool(), Some(false));
            assert_eq!(doc["permissions"], parse("{}"));
            assert!(doc["concurrency"]["group"].is_string());
            assert_eq!(doc["env"]["AWS_REGION"].as_str(), Some("us-east-1"));
            assert_eq!(doc["env"]["ECR_REPOSITORY"].as_str(), Some("skypilot"));
            let job = get(&doc, &["jobs", "build-and-push"]);
            assert!(job["name"].is_string());
            assert_eq!(job["runs-on"].as_str(), Some("ubuntu-latest"));
            assert_eq!(job["permissions"]["contents"].as_str(), Some("read"));

            let checkout = step(&doc, "checkout");
            assert_eq!(
                checkout["with"]["persist-credentials"].as_bool(),
                Some(false)
            );
            assert_eq!(
                checkout["with"]["ref"].as_str(),
                Some("${{ inputs.build_from_branch }}")
            );
            let build = step(&doc, "build");
            assert_eq!(build["with"]["context"].as_str(), Some("."));
            assert_eq!(
                build["with"]["platforms"].as_str(),
                Some("linux/amd64,linux/arm64")
            );
            assert_eq!(build["with"]["push"].as_bool(), Some(true));
            assert_eq!(build["with"]["cache-from"].as_str(), Some("type=gha"));
            assert_eq!(
                build["with"]["cache-to"].as_str(),
                Some("type=gha,mode=max")
            );
            assert_eq!(
                build["with"]["tags"].as_str(),
                Some("${{ steps.tags.outputs.tags }}")
            );
            assert_eq!(step(&doc, "tags")["run"].as_str(), Some(tag_script()));
            let summary = steps(&doc)
                .into_iter()
                .find(|s| s["name"].as_str() == Some("Write job summary"));
            assert_eq!(
                summary.and_then(|s| s["run"].as_str()),
                Some(summary_script())
            );
        }
    }

    #[test]
    fn oidc_mode_assumes_the_role_from_the_named_secret() {
        let mut opts = oidc();
        opts.auth = WorkflowAuth::Oidc {
            secret_name: "MY_ROLE".into(),
        };
        let doc = parse(&render(&opts));
        let creds = steps(&doc)
            .into_iter()
            .find(|s| s["name"].as_str() == Some("Configure AWS credentials"))
            .map(|s| s["with"].clone())
            .unwrap_or_default();
        assert_eq!(
            creds,
            parse(
                "{role-to-assume: '${{ secrets.MY_ROLE }}', aws-region: '${{ env.AWS_REGION }}'}"
            )
        );
        assert_eq!(
            get(&doc, &["jobs", "build-and-push", "permissions", "id-token"]).as_str(),
            Some("write")
        );
    }

    #[test]
    fn access_key_mode_reads_the_key_secrets_and_has_no_id_token() {
        let yaml = render(&access_key());
        let doc = parse(&yaml);
        let creds = steps(&doc)
            .into_iter()
            .find(|s| s["name"].as_str() == Some("Configure AWS credentials"))
            .map(|s| s["with"].clone())
            .unwrap_or_default();
        assert_eq!(
            creds,
            parse(
                "{aws-access-key-id: '${{ secrets.AWS_ACCESS_KEY_ID }}', \
                  aws-secret-access-key: '${{ secrets.AWS_SECRET_ACCESS_KEY }}', \
                  aws-region: '${{ env.AWS_REGION }}'}"
            )
        );
        assert_eq!(
            get(&doc, &["jobs", "build-and-push", "permissions"]),
            &parse("{contents: read}")
        );
        assert!(!yaml.contains("id-token"));
        assert!(!yaml.contains("role-to-assume"));
    }

    #[test]
    fn every_permission_line_has_a_why_comment() {
        for opts in [oidc(), access_key()] {
            let yaml = render(&opts);
            let lines: Vec<&str> = yaml.lines().collect();
            let start = lines
                .iter()
                .position(|l| l.trim() == "permissions:")
                .unwrap_or_else(|| panic!("no job permissions"));
            for l in lines[start + 1..]
                .iter()
                .take_while(|l| l.starts_with("      "))
            {
                assert!(l.contains("  # "), "permission without a why: {l}");
            }
        }
    }

    #[test]
    fn every_uses_is_pinned_to_a_sha_in_the_table() {
        for opts in [oidc(), access_key()] {
            let yaml = render(&opts);
            let uses: Vec<&str> = yaml
                .lines()
                .filter_map(|l| l.trim().strip_prefix("uses: "))
                .collect();
            assert_eq!(uses.len(), PINS.len(), "each pinned action used once");
            for u in uses {
                let (reference, comment) = u.split_once(" # ").unwrap_or((u, ""));
                let (action, sha) = reference.split_once('@').unwrap_or((reference, ""));
                assert!(
                    sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{u} is not pinned to a full SHA"
                );
                let row = PINS.iter().find(|p| p.action == action);
                assert_eq!(row.map(|p| (p.sha, p.version)), Some((sha, comment)), "{u}");
            }
        }
    }

    #[test]
    fn pins_match_the_reference_pin_file() {
        // The `# vX.Y.Z` comment is not checked by zizmor offline, so check it here against
        // the pins file the project was given (shared/ sits beside the repository).
        let path = std::env::var("SKYECR_PINS_JSON").unwrap_or_else(|_| {
            format!(
                "{}/../shared/reference/github-actions-pins.json",
                env!("CARGO_MANIFEST_DIR")
            )
        });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("cannot read the pins file {path} ({e}); set SKYECR_PINS_JSON to its path")
        });
        let json: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => panic!("{path}: {e}"),
        };
        for p in PINS {
            let entry = &json["actions"][p.action];
            assert_eq!(entry["sha"].as_str(), Some(p.sha), "{}", p.action);
            assert_eq!(entry["tag"].as_str(), Some(p.version), "{}", p.action);
        }
    }

    #[test]
    fn no_expression_inside_any_run_block() {
        for opts in [oidc(), access_key()] {
            let doc = parse(&render(&opts));
            let runs: Vec<&str> = steps(&doc)
                .into_iter()
                .filter_map(|s| s["run"].as_str())
                .collect();
            assert_eq!(runs.len(), 2);
            for run in runs {
                // GitHub expands expressions anywhere in `run:`, comments included.
                assert!(!run.contains("${{"), "expression in run: {run}");
            }
        }
    }

    #[test]
    fn id_token_only_in_oidc_mode() {
        assert!(render(&oidc()).contains("id-token: write"));
        assert!(!render(&access_key()).contains("id-token"));
        // Never at workflow level in either mode.
        for opts in [oidc(), access_key()] {
            let doc = parse(&render(&opts));
            assert_eq!(doc["permissions"], parse("{}"));
        }
    }

    #[test]
    fn render_is_deterministic() {
        assert_eq!(render(&oidc()), render(&oidc()));
        assert_eq!(render(&access_key()), render(&access_key()));
    }

    #[test]
    fn settings_reach_the_document_as_exact_values() {
        let nasty = [
            "feature/x: y # not a comment",
            "it's",
            "\"quoted\"",
            "a\nb: c",
            "tab\there",
            "{ flow: map }",
            "- item",
            "*alias",
            "&anchor",
            "!tag",
            "%%REGION%%",
            "trailing space ",
            "emoji 🚀 and nel \u{85} and ls \u{2028}",
            "",
        ];
        for v in nasty {
            let opts = WorkflowOptions {
                auth: WorkflowAuth::Oidc {
                    secret_name: v.into(),
                },
                region: v.into(),
                ecr_repository: v.into(),
                trigger_branch: v.into(),
                platforms: vec![v.into()],
                workflow_path: v.into(),
            };
            let yaml = render(&opts);
            let doc = parse(&yaml);
            assert_eq!(doc["env"]["AWS_REGION"].as_str(), Some(v), "{yaml}");
            assert_eq!(doc["env"]["ECR_REPOSITORY"].as_str(), Some(v));
            let expected_pattern = filter_literal(v);
            assert_eq!(
                doc["on"]["push"]["branches"][0].as_str(),
                Some(expected_pattern.as_str())
            );
            let platforms = if v.is_empty() { "" } else { v };
            assert_eq!(
                step(&doc, "build")["with"]["platforms"].as_str(),
                Some(platforms)
            );
            // The structure is unchanged whatever the value: same keys, same steps.
            assert_eq!(steps(&doc).len(), 8);
            assert_eq!(
                doc["on"]["push"]["paths"].as_sequence().map(Vec::len),
                Some(3)
            );
        }
    }

    #[test]
    fn filter_patterns_are_literal() {
        assert_eq!(filter_literal("feature/runpod"), "feature/runpod");
        assert_eq!(filter_literal("c++/x"), r"c\+\+/x");
        assert_eq!(filter_literal("!neg"), r"\!neg");
        assert_eq!(filter_literal("a!b"), "a!b");
        assert_eq!(filter_literal("a*b?[c]"), r"a\*b\?\[c]");
        assert_eq!(filter_literal(r"a\b"), r"a\\b");
        assert_eq!(repo_relative("././.github/w.yml"), ".github/w.yml");
    }

    #[test]
    fn secret_names_cannot_escape_the_expression() {
        assert_eq!(secret_identifier("AWS_ECR_ROLE_ARN"), "AWS_ECR_ROLE_ARN");
        assert_eq!(
            secret_identifier("X }} ${{ github.token"),
            "X________github_token"
        );
        assert_eq!(secret_identifier("1ABC"), "_1ABC");
        assert_eq!(secret_identifier(""), "_");
    }

    #[test]
    fn empty_platforms_fall_back_to_the_default() {
        let mut opts = oidc();
        opts.platforms.clear();
        let doc = parse(&render(&opts));
        assert_eq!(
            step(&doc, "build")["with"]["platforms"].as_str(),
            Some("linux/amd64,linux/arm64")
        );
    }

    #[test]
    fn yaml_quoting() {
        assert_eq!(yaml_str("us-east-1"), "'us-east-1'");
        assert_eq!(yaml_str("it's"), "'it''s'");
        assert_eq!(yaml_str("a\nb"), "\"a\\nb\"");
        assert_eq!(yaml_str("\u{1}\u{2028}"), "\"\\x01\\u2028\"");
    }
}
