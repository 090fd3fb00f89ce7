//! Issue: the `init` wizard, driven through a real pseudo-terminal against moto and the GitHub
//! stand-in, and its refusal without one.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{Eof, Expect, Session};
use serde_json::{Value, json};

use crate::support::{ACCOUNT, Recording, Run, World};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/GitHubActions-SkyPilot-ECR";
const WAIT: Duration = Duration::from_secs(90);

/// The binary in a pseudo-terminal: what it printed so far, and keys typed into it.
pub(crate) struct Terminal {
    session: OsSession,
    /// Everything read so far, as the terminal received it (escape sequences included).
    pub(crate) raw: String,
    /// The world's secrets check sees the screen too.
    recording: Option<Recording>,
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(r) = &self.recording {
            r.record(-1, &self.raw, "");
        }
    }
}

impl Terminal {
    pub(crate) fn start(run: Run) -> Terminal {
        let run = run.env("TERM", "xterm-256color");
        let recording = run.recording();
        let session = Session::spawn(run.command()).expect("start in a pseudo-terminal");
        Terminal {
            session,
            raw: String::new(),
            recording,
        }
    }

    /// What was read so far, without escape sequences.
    pub(crate) fn screen(&self) -> String {
        console::strip_ansi_codes(&self.raw).into_owned()
    }

    /// Waits until `text` appears after what was already matched. Polls rather than blocks, so
    /// the wait leaves the two cores to the binary and moto.
    #[track_caller]
    pub(crate) fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.session.check(text) {
                Ok(found) if !found.is_empty() => {
                    self.raw
                        .push_str(&String::from_utf8_lossy(found.as_bytes()));
                    return;
                }
                Ok(_) => {}
                Err(expectrl::Error::Eof) => {
                    self.drain();
                    panic!(
                        "the program ended before showing {text:?}; the screen:\n{}",
                        self.screen()
                    )
                }
                Err(e) => panic!("reading the terminal: {e}"),
            }
            if Instant::now() > deadline {
                self.drain();
                panic!(
                    "{text:?} did not appear within {WAIT:?}; the screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reads whatever is pending, for a failure message.
    fn drain(&mut self) {
        if let Ok(found) = self.session.check(expectrl::Regex("(?s).+")) {
            self.raw
                .push_str(&String::from_utf8_lossy(found.as_bytes()));
        }
    }

    /// Sends keys as typed (`\r` is Enter, `\x1b[B` the down arrow, `\x03` Ctrl-C), once the
    /// prompt reads them: a prompt that reads keys turns the terminal's echo off (raw mode, or
    /// no echo for a secret), and keys that arrived before would be echoed, translated or
    /// flushed by the terminal instead.
    #[track_caller]
    fn keys(&mut self, keys: &str) {
        let deadline = Instant::now() + WAIT;
        while self.session.get_process().get_echo().unwrap_or(false) {
            assert!(
                Instant::now() < deadline,
                "no prompt read keys within {WAIT:?}; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        self.session.send(keys).expect("type into the terminal");
    }

    /// Waits for the prompt, then types `text` and Enter (an empty `text` takes the default).
    #[track_caller]
    fn answer(&mut self, prompt: &str, text: &str) {
        self.expect(prompt);
        self.keys(&format!("{text}\r"));
    }

    /// Reads to the end and returns the exit code.
    #[track_caller]
    pub(crate) fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.session.check(Eof) {
                Ok(found) if !found.is_empty() => {
                    self.raw
                        .push_str(&String::from_utf8_lossy(found.as_bytes()));
                    break;
                }
                Ok(_) => {}
                Err(expectrl::Error::Eof) => break,
                Err(e) => panic!("reading the terminal: {e}"),
            }
            assert!(
                Instant::now() < deadline,
                "the program did not end within {WAIT:?}; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        match self.session.get_process().wait() {
            Ok(WaitStatus::Exited(_, code)) => code,
            other => panic!("unexpected end {other:?}; the screen:\n{}", self.screen()),
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?}");
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("skyecr.json was written");
    serde_json::from_str(&text).expect("skyecr.json is JSON")
}

/// Enter through every prompt after the region up to the summary, keeping the defaults (the
/// names unchanged), and past the summary.
fn accept_the_rest(t: &mut Terminal) {
    for prompt in [
        "How should workflows authenticate to AWS?",
        "Who may push images?",
        "Branches whose workflows may push",
        "Tag patterns that may push",
        "GitHub environments whose jobs may push",
        "Pin the trust to the workflow file",
        "Repository encryption",
        "Change resource names",
        "Change an answer?",
    ] {
        t.answer(prompt, "");
    }
}

#[test]
fn init_in_a_terminal_sets_everything_up_and_saves_the_answers() {
    let w = World::start();
    // The repository default comes from the checkout's origin remote.
    git(w.dir.path(), &["init", "--quiet"]);
    git(
        w.dir.path(),
        &["remote", "add", "origin", "git@github.com:acme/app.git"],
    );

    let mut t = Terminal::start(w.cmd().args(["init"]));
    t.expect("GitHub repository");
    t.answer("(acme/app)", "");
    t.expect("default branch main; GitHub login acme");
    t.answer("AWS profile", "");
    t.answer("AWS region of the ECR repository", "");
    t.expect(&format!("AWS account {ACCOUNT}"));
    t.answer("How should workflows authenticate to AWS?", "");
    t.answer("Who may push images?", "");
    // The repository's default branch is offered; the answer adds a second one.
    t.expect("Branches whose workflows may push");
    t.answer("(main)", "main, release");
    t.answer("Tag patterns that may push", "v*");
    t.answer("GitHub environments whose jobs may push", "");
    t.expect("pins the repository and owner IDs");
    t.answer(
        "Pin the trust to the workflow file .github/workflows/build-push-ecr-custom.yaml?",
        "",
    );
    t.answer("Repository encryption", "");
    // The names come last, behind one question.
    t.expect("Change resource names");
    t.keys("y");
    t.answer("ECR repository name", "app-images");
    t.answer("IAM role name", "");
    t.answer("IAM push policy name", "");
    t.answer("GitHub secret for the role ARN", "");
    t.answer("OIDC issuer", "");
    t.expect("Your answers:");
    t.answer("Change an answer?", "");
    t.expect("Apply these changes?");
    t.keys("y");
    t.expect("Next steps");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    let screen = t.screen();

    // Where things go, then the plan, before the question.
    for shown in [
        "Where things go:",
        &format!("AWS account  {ACCOUNT} as arn:aws:sts::{ACCOUNT}:user/moto"),
        "AWS region   us-east-1",
        "GitHub       acme/app as acme",
        "+ role GitHubActions-SkyPilot-ECR",
        "trust repo:acme/app:ref:refs/tags/v*",
        "Plan: 7 to create, 0 to update, 0 to delete, 0 blocked.",
    ] {
        assert!(screen.contains(shown), "missing {shown:?} in:\n{screen}");
    }
    // One progress line per change, ending with what happened. The spinner redraws lines in
    // place (cursor moves, not newlines), so the finished text is looked for as such.
    for line in [
        "oidc_provider https://token.actions.githubusercontent.com",
        "policy SkyPilot-ECR-Push",
        "repository app-images",
        "role GitHubActions-SkyPilot-ECR",
        "secret AWS_ECR_ROLE_ARN",
        "variable ECR_REPOSITORY",
    ] {
        let prefix = format!("✓ {line} ");
        assert!(
            screen.match_indices(&prefix).any(|(i, _)| {
                let rest = &screen[i + prefix.len()..];
                let (elapsed, outcome) = rest.split_once("s ").unwrap_or_default();
                elapsed.parse::<f64>().is_ok() && outcome.starts_with("created")
            }),
            "no finished progress line for {line:?} in:\n{screen}"
        );
    }
    // The final screen: what GitHub has and what to run next.
    let end = &screen[screen.find("Done:").expect("a result")..];
    for shown in [
        "Settings saved to skyecr.json",
        "secret    AWS_ECR_ROLE_ARN",
        "variable  AWS_REGION       us-east-1",
        "variable  ECR_REPOSITORY   app-images",
        "skyecr-bootstrap workflow",
        "skyecr-bootstrap audit",
    ] {
        assert!(end.contains(shown), "missing {shown:?} in:\n{end}");
    }

    // GitHub received the role ARN, sealed; the stand-in decrypts it.
    let state = w.github_state();
    assert_eq!(state["secrets"]["AWS_ECR_ROLE_ARN"]["value"], ROLE_ARN);
    assert_eq!(state["variables"]["ECR_REPOSITORY"]["value"], "app-images");
    assert_eq!(state["variables"]["AWS_REGION"]["value"], "us-east-1");
    // AWS has the role and the repository.
    w.block_on(
        w.iam()
            .get_role()
            .role_name("GitHubActions-SkyPilot-ECR")
            .send(),
    )
    .expect("the role exists");
    let repos = w
        .block_on(
            w.ecr()
                .describe_repositories()
                .repository_names("app-images")
                .send(),
        )
        .expect("the repository exists");
    assert_eq!(repos.repositories().len(), 1);

    // The answers, every one explicit, nothing secret.
    assert_eq!(
        read_json(&w.dir.path().join("skyecr.json")),
        json!({
            "github_repo": "acme/app",
            "region": "us-east-1",
            "auth": "oidc",
            "ecr_repository": "app-images",
            "encryption": "aes256",
            "role_name": "GitHubActions-SkyPilot-ECR",
            "policy_name": "SkyPilot-ECR-Push",
            "branches": ["main", "release"],
            "tags": ["v*"],
            "secret_name": "AWS_ECR_ROLE_ARN",
            "oidc_issuer": "https://token.actions.githubusercontent.com",
            "pin_workflow": ".github/workflows/build-push-ecr-custom.yaml",
            "account_id": ACCOUNT
        })
    );
    // With the answers saved, a plain `plan` finds nothing left to do.
    let plan = w.cmd().args(["plan", "--output", "json"]).run();
    plan.success();
    assert_eq!(plan.json()["changes"], json!([]));
}

#[test]
fn init_with_access_keys_delivers_the_key_pair_and_never_shows_it() {
    let w = World::start();
    let mut t = Terminal::start(w.cmd().args(["init", "--github-repo", "acme/app"]));
    t.answer("(acme/app)", "");
    t.answer("AWS profile", "");
    t.answer("AWS region of the ECR repository", "");
    // The fallback is the second choice.
    t.answer("How should workflows authenticate to AWS?", "\x1b[B");
    t.expect("there is no trust scope to choose");
    t.answer("Repository encryption", "");
    t.answer("Change resource names", "");
    t.expect("user github-actions-skypilot-ecr");
    t.answer("Change an answer?", "");
    t.expect("Apply these changes?");
    t.keys("y");
    t.expect("Next steps");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    let screen = t.screen();

    let state = w.github_state();
    let key_id = state["secrets"]["AWS_ACCESS_KEY_ID"]["value"]
        .as_str()
        .expect("the key ID was delivered");
    let secret_key = state["secrets"]["AWS_SECRET_ACCESS_KEY"]["value"]
        .as_str()
        .expect("the secret key was delivered");
    assert!(!screen.contains(secret_key), "the secret key was shown");
    assert!(state["secrets"]["AWS_ECR_ROLE_ARN"].is_null());
    let end = &screen[screen.find("Done:").expect("a result")..];
    assert!(end.contains("secret    AWS_ACCESS_KEY_ID"), "{end}");
    assert!(end.contains("secret    AWS_SECRET_ACCESS_KEY"), "{end}");
    assert!(!end.contains("AWS_ECR_ROLE_ARN"), "{end}");
    let keys = w
        .block_on(
            w.iam()
                .list_access_keys()
                .user_name("github-actions-skypilot-ecr")
                .send(),
        )
        .expect("the user exists");
    assert!(
        keys.access_key_metadata()
            .iter()
            .any(|k| k.access_key_id() == Some(key_id))
    );
    let saved = read_json(&w.dir.path().join("skyecr.json"));
    assert_eq!(saved["auth"], "access-key");
    assert_eq!(saved["user_name"], "github-actions-skypilot-ecr");
    assert!(saved.get("role_name").is_none() && saved.get("branches").is_none());
}

#[test]
fn an_invalid_answer_is_asked_again_with_the_reason() {
    let w = World::start();
    let mut t = Terminal::start(w.cmd().args(["init"]));
    t.answer("GitHub repository", "acme");
    t.expect("\"acme\" has no / (expected OWNER/REPO, e.g. acme/app)");
    // A well-formed name GitHub does not know is asked again too, with GitHub's answer.
    t.answer("GitHub repository", "acme/nope");
    t.expect("GitHub repository acme/nope was not found");
    t.answer("GitHub repository", "acme/app");
    t.answer("AWS profile", "");
    t.answer("AWS region of the ECR repository", "mars-1");
    t.expect("\"mars-1\" is not an AWS region name");
    t.answer("AWS region of the ECR repository", "");
    for prompt in [
        "How should workflows authenticate to AWS?",
        "Who may push images?",
        "Branches whose workflows may push",
        "Tag patterns that may push",
        "GitHub environments whose jobs may push",
        "Pin the trust to the workflow file",
        "Repository encryption",
    ] {
        t.answer(prompt, "");
    }
    t.expect("Change resource names");
    t.keys("y");
    t.answer("ECR repository name", "Sky Pilot");
    t.expect("\"Sky Pilot\" is not a valid ECR repository name (expected 2-256 lowercase");
    t.expect("ECR repository name");
    t.keys("\x03");
    assert_eq!(t.exit_code(), 130, "{}", t.screen());
    assert!(!w.dir.path().join("skyecr.json").exists());
    // The wizard speaks of answers: no flag is named to someone who typed none.
    assert!(!t.screen().contains("--github-repo"), "{}", t.screen());
}

#[test]
fn ctrl_c_at_a_prompt_writes_nothing_and_exits_130() {
    let w = World::start();
    let mut t = Terminal::start(w.cmd().args(["init", "--github-repo", "acme/app"]));
    t.answer("(acme/app)", "");
    t.answer("AWS profile", "");
    t.answer("AWS region of the ECR repository", "");
    // A selection menu hides the cursor while it is open.
    t.expect("How should workflows authenticate to AWS?");
    t.keys("\x1b[B");
    t.keys("\x03");
    assert_eq!(t.exit_code(), 130, "{}", t.screen());
    assert!(t.screen().contains("interrupted"), "{}", t.screen());
    let hidden = t.raw.rfind("\x1b[?25l").expect("the menu hid the cursor");
    assert!(
        t.raw[hidden..].contains("\x1b[?25h"),
        "the cursor was left hidden"
    );
    assert!(!w.dir.path().join("skyecr.json").exists());
    assert_eq!(w.writes(), Vec::<String>::new());
}

#[test]
fn a_failed_apply_says_what_was_done_and_a_rerun_continues() {
    let w = World::start();
    w.aws_faults(json!({
        "action": "CreateRepository", "status": 400,
        "aws_error": "AccessDeniedException", "message": "not allowed", "times": null
    }));
    let mut t = Terminal::start(w.cmd().args(["init", "--github-repo", "acme/app", "--yes"]));
    t.answer("(acme/app)", "");
    t.answer("AWS profile", "");
    t.answer("AWS region of the ECR repository", "");
    accept_the_rest(&mut t);
    t.expect("Stopped at the first failure.");
    assert_eq!(t.exit_code(), 1, "{}", t.screen());
    let screen = t.screen();
    for shown in [
        "✗ repository skypilot",
        "done:        created ",
        "created policy SkyPilot-ECR-Push",
        "failed:      repository skypilot",
        "not started: ",
        "role GitHubActions-SkyPilot-ECR",
        "rerun `skyecr-bootstrap apply`",
        "ecr:CreateRepository",
    ] {
        assert!(screen.contains(shown), "missing {shown:?} in:\n{screen}");
    }
    assert_eq!(
        read_json(&w.dir.path().join("skyecr.json"))["branches"],
        json!(["main"])
    );

    // Once the cause is gone, `apply` with the saved answers does only what is left.
    w.send(
        reqwest::Method::DELETE,
        &format!("{}/_proxy/faults", w.aws),
        json!({}),
    );
    let rerun = w.cmd().args(["apply", "--yes"]).run();
    rerun.success();
    assert!(
        rerun.stdout.contains("+ repository skypilot"),
        "{}",
        rerun.stdout
    );
    assert!(!rerun.stdout.contains("+ policy"), "{}", rerun.stdout);
    assert_eq!(
        w.github_state()["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        ROLE_ARN
    );
}

/// `init` where no one can answer: runs the binary with stdin from /dev/null in `dir`.
fn init_without_terminal(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_skyecr-bootstrap"))
        .arg("init")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run skyecr-bootstrap");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_a_terminal_init_refuses_with_the_equivalent_apply_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Settings from the file and from flags both reach the command line.
    std::fs::write(
        dir.path().join("skyecr.json"),
        r#"{"github_repo": "acme/app", "region": "eu-west-1"}"#,
    )
    .expect("write skyecr.json");
    let (code, stdout, stderr) =
        init_without_terminal(dir.path(), &["--tag", "v*", "--branch", "main"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("needs a terminal"), "{stderr}");
    assert!(
        stderr.contains(
            "\n    skyecr-bootstrap apply --github-repo acme/app --region eu-west-1 --branch main --tag 'v*' --yes\n"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("Still missing"), "{stderr}");

    // Nothing given: the bare command, and a note of what it still needs.
    let empty = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = init_without_terminal(empty.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("\n    skyecr-bootstrap apply --yes\n"),
        "{stderr}"
    );
    assert!(stderr.contains("Still missing"), "{stderr}");
    assert!(stderr.contains("--github-repo OWNER/REPO"), "{stderr}");
    assert!(
        stderr.contains("--branch NAME, --tag PATTERN, --environment NAME, or --any-ref"),
        "{stderr}"
    );
    assert!(!empty.path().join("skyecr.json").exists());

    // With --output json, stdout holds the one error document.
    let (code, stdout, _) = init_without_terminal(empty.path(), &["--output", "json"]);
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("skyecr-bootstrap apply --output json --yes")),
        "{doc}"
    );
}

/// Through the essentials with the defaults, the names unchanged, up to the summary.
fn up_to_the_summary(t: &mut Terminal) {
    t.answer("(acme/app)", "");
    t.answer("AWS profile", "");
    t.answer("AWS region of the ECR repository", "");
    for prompt in [
        "How should workflows authenticate to AWS?",
        "Who may push images?",
        "Branches whose workflows may push",
        "Tag patterns that may push",
        "GitHub environments whose jobs may push",
        "Pin the trust to the workflow file",
        "Repository encryption",
        "Change resource names",
    ] {
        t.answer(prompt, "");
    }
    t.expect("Your answers:");
}

#[test]
fn one_answer_is_changed_at_the_summary() {
    let w = World::start();
    let mut t = Terminal::start(w.cmd().args(["init", "--github-repo", "acme/app"]));
    up_to_the_summary(&mut t);
    t.expect("ECR repository skypilot");
    // The sixth entry after "No, show the plan": the resource names.
    t.expect("Change an answer?");
    t.keys(&format!("{}\r", "\x1b[B".repeat(6)));
    t.answer("ECR repository name", "renamed-images");
    for prompt in [
        "IAM role name",
        "IAM push policy name",
        "GitHub secret for the role ARN",
        "OIDC issuer",
    ] {
        t.answer(prompt, "");
    }
    // The summary again, with the new answer, and nothing else asked again.
    t.expect("Your answers:");
    t.expect("ECR repository renamed-images");
    t.answer("Change an answer?", "");
    t.expect("Apply these changes?");
    t.keys("y");
    t.expect("Next steps");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    assert!(
        t.screen().contains("+ repository renamed-images"),
        "{}",
        t.screen()
    );
    let saved = read_json(&w.dir.path().join("skyecr.json"));
    assert_eq!(saved["ecr_repository"], "renamed-images");
    assert_eq!(saved["branches"], json!(["main"]));
    assert!(!w.dir.path().join("skyecr.draft.json").exists());
}

#[test]
fn declined_answers_are_kept_and_offered_by_the_next_init() {
    let w = World::start();
    let mut t = Terminal::start(w.cmd().args(["init"]));
    t.answer("GitHub repository", "acme/app");
    t.answer("AWS profile", "");
    t.answer("AWS region of the ECR repository", "");
    t.answer("How should workflows authenticate to AWS?", "");
    t.answer("Who may push images?", "");
    t.answer("Branches whose workflows may push", "main, dev");
    for prompt in [
        "Tag patterns that may push",
        "GitHub environments whose jobs may push",
        "Pin the trust to the workflow file",
        "Repository encryption",
    ] {
        t.answer(prompt, "");
    }
    t.expect("Change resource names");
    t.keys("y");
    t.answer("ECR repository name", "kept-images");
    for prompt in [
        "IAM role name",
        "IAM push policy name",
        "GitHub secret for the role ARN",
        "OIDC issuer",
    ] {
        t.answer(prompt, "");
    }
    t.answer("Change an answer?", "");
    // Enter at the last question means no.
    t.answer("Apply these changes?", "");
    t.expect("Your answers are kept in skyecr.draft.json, not applied");
    assert_eq!(t.exit_code(), 1, "{}", t.screen());
    assert_eq!(w.writes(), Vec::<String>::new());
    assert!(!w.dir.path().join("skyecr.json").exists());
    let draft = read_json(&w.dir.path().join("skyecr.draft.json"));
    assert_eq!(draft["ecr_repository"], "kept-images");

    // apply never takes answers that were not applied for settings.
    let apply = w.cmd().args(["apply", "--yes"]).run();
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(apply.stderr.contains("--github-repo"), "{}", apply.stderr);
    assert_eq!(w.writes(), Vec::<String>::new());

    // The next init offers every answer back: Enter through all of them applies them.
    let mut t = Terminal::start(w.cmd().args(["init"]));
    t.expect("Offering the answers you gave last time");
    t.answer("(acme/app)", "");
    t.answer("AWS profile", "");
    t.answer("AWS region of the ECR repository", "");
    t.answer("How should workflows authenticate to AWS?", "");
    t.answer("Who may push images?", "");
    t.answer("(main, dev)", "");
    for prompt in [
        "Tag patterns that may push",
        "GitHub environments whose jobs may push",
        "Pin the trust to the workflow file",
        "Repository encryption",
        "Change resource names",
    ] {
        t.answer(prompt, "");
    }
    t.expect("ECR repository kept-images");
    t.answer("Change an answer?", "");
    t.expect("Apply these changes?");
    t.keys("y");
    t.expect("Next steps");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    let saved = read_json(&w.dir.path().join("skyecr.json"));
    assert_eq!(saved["ecr_repository"], "kept-images");
    assert_eq!(saved["branches"], json!(["main", "dev"]));
    assert!(!w.dir.path().join("skyecr.draft.json").exists());
}

#[test]
fn a_repository_url_is_an_answer_and_a_repository_not_found_is_no_default() {
    let w = World::start();
    let mut t = Terminal::start(w.cmd().args(["init"]));
    t.answer("GitHub repository", "ssh://git@github.com/acme/nope");
    t.expect("GitHub repository acme/nope was not found");
    // Asked again with no default: the repository GitHub could not find is not offered.
    t.answer(
        "GitHub repository (OWNER/REPO or its URL)",
        "https://github.com/acme/app.git",
    );
    t.expect("acme/app: default branch main");
    t.answer("AWS profile", "");
    t.keys("\x03");
    assert_eq!(t.exit_code(), 130, "{}", t.screen());
    let screen = t.screen();
    assert!(!screen.contains("(acme/nope)"), "{screen}");
    assert!(!screen.contains("--github-repo"), "{screen}");
}

#[test]
fn a_failure_after_the_last_answer_keeps_the_answers() {
    let w = World::start();
    // Reading the role fails: after every answer was given, before anything is written.
    w.aws_faults(json!({"action": "GetRole", "status": 403,
        "aws_error": "AccessDenied", "message": "no reading", "times": null}));
    let mut t = Terminal::start(w.cmd().args(["init", "--github-repo", "acme/app"]));
    up_to_the_summary(&mut t);
    t.answer("Change an answer?", "");
    t.expect("Your answers are kept in skyecr.draft.json, not applied");
    assert_eq!(t.exit_code(), 1, "{}", t.screen());
    assert_eq!(w.writes(), Vec::<String>::new());
    let draft = read_json(&w.dir.path().join("skyecr.draft.json"));
    assert_eq!(
        (&draft["github_repo"], &draft["branches"]),
        (&json!("acme/app"), &json!(["main"]))
    );
    assert!(!w.dir.path().join("skyecr.json").exists());
}

#[test]
fn init_adds_a_repository_to_a_file_set_up_for_another() {
    let w = World::start();
    w.apply(&[]).success();
    w.add_repo("acme/web", 1001, 7300, "2020-01-01T00:00:00Z");
    let mut t = Terminal::start(w.cmd().args(["init", "--github-repo", "acme/web"]));
    t.answer("(acme/web)", "");
    t.answer("AWS profile", "");
    t.answer("AWS region of the ECR repository", "");
    accept_the_rest(&mut t);
    t.expect("GitHubActions-web-ECR");
    t.expect("Apply these changes?");
    t.keys("y");
    t.expect("Next steps");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());

    let file = read_json(&w.dir.path().join("skyecr.json"));
    assert_eq!(file["account_id"], ACCOUNT);
    let entries = file["repositories"]
        .as_array()
        .expect("a list of repositories");
    assert_eq!(entries.len(), 2, "{file}");
    // The first setup keeps its names, written out.
    assert_eq!(entries[0]["github_repo"], "acme/app");
    assert_eq!(entries[0]["role_name"], "GitHubActions-SkyPilot-ECR");
    assert_eq!(entries[0]["ecr_repository"], "skypilot");
    assert_eq!(entries[1]["github_repo"], "acme/web");
    let state = w.get(&format!("{}/_standin/repos/acme/web/state", w.github));
    assert_eq!(
        state["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        format!("arn:aws:iam::{ACCOUNT}:role/GitHubActions-web-ECR")
    );
    assert_eq!(
        w.github_state()["secrets"]["AWS_ECR_ROLE_ARN"]["value"],
        ROLE_ARN
    );
    // Both are in the file, and both are as it says.
    let plan = w.cmd().args(["plan", "--output", "json"]).run();
    plan.success();
    let doc = plan.json();
    let repos: Vec<&str> = doc["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["github_repo"].as_str().unwrap())
        .collect();
    assert_eq!(repos, vec!["acme/app", "acme/web"]);
    for r in doc["repositories"].as_array().unwrap() {
        assert_eq!(r["changes"], json!([]), "{r}");
    }
}
