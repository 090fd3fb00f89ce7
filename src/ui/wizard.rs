//! The `init` conversation: prompts on stderr, each answer checked like its flag, and the pure
//! helpers around them (origin remote, the summary of the answers, the draft of answers not
//! applied, the non-interactive command line, the failure summary).
use std::path::{Path, PathBuf};

use console::{Term, style};
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Select};

use crate::config::{self, AuthMode, EncryptionName, RawSettings, Setting, TrustScopes, table};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::ui::progress::Finished;

/// Typed at an optional or list prompt to answer "none": no branch, tag, environment or
/// profile can be named `-`, so it never hides a real value.
pub const NONE: &str = "-";

pub struct Prompter {
    theme: ColorfulTheme,
}

impl Default for Prompter {
    fn default() -> Self {
        Prompter::new()
    }
}

impl Prompter {
    pub fn new() -> Prompter {
        Prompter {
            theme: ColorfulTheme::default(),
        }
    }

    /// One required value, checked as `setting` is checked; a bad answer is asked again with
    /// the reason.
    pub fn value(&self, prompt: &str, default: Option<&str>, setting: &Setting) -> Result<String> {
        let mut input = Input::<String>::with_theme(&self.theme)
            .with_prompt(prompt)
            .validate_with(move |v: &String| reason(setting, v.trim()));
        if let Some(d) = default {
            input = input.default(d.to_string());
        }
        input
            .interact_text()
            .map(|v| v.trim().to_string())
            .map_err(prompt_error)
    }

    /// One optional value: Enter keeps the default (none when there is none), `-` clears it.
    pub fn optional(
        &self,
        prompt: &str,
        default: Option<&str>,
        setting: &Setting,
    ) -> Result<Option<String>> {
        let mut input = Input::<String>::with_theme(&self.theme)
            .with_prompt(prompt)
            .allow_empty(true)
            .validate_with(move |v: &String| match v.trim() {
                "" | NONE => Ok(()),
                v => reason(setting, v),
            });
        if let Some(d) = default {
            input = input.default(d.to_string());
        }
        let answer = input.interact_text().map_err(prompt_error)?;
        Ok(match answer.trim() {
            "" | NONE => None,
            v => Some(v.to_string()),
        })
    }

    /// A comma-separated list, each item checked as `setting` is checked; `-` answers "none".
    pub fn list(&self, prompt: &str, default: &[String], setting: &Setting) -> Result<Vec<String>> {
        let mut input = Input::<String>::with_theme(&self.theme)
            .with_prompt(prompt)
            .allow_empty(true)
            .validate_with(move |v: &String| {
                split_list(v)
                    .iter()
                    .try_for_each(|item| reason(setting, item))
            });
        if !default.is_empty() {
            input = input.default(default.join(", "));
        }
        let answer = input.interact_text().map_err(prompt_error)?;
        Ok(split_list(&answer))
    }

    /// The repository: `OWNER/REPO`, or its URL in any form git and `gh repo view` take
    /// (`https://github.com/acme/web`, `….git`, `git@github.com:acme/web.git`,
    /// `ssh://git@github.com/acme/web`); the answer is `OWNER/REPO`.
    pub fn repository(&self, prompt: &str, default: Option<&str>) -> Result<String> {
        let mut input = Input::<String>::with_theme(&self.theme)
            .with_prompt(prompt)
            .validate_with(|v: &String| match github_repo_from_remote(v) {
                Some(_) => Ok(()),
                None => reason(&table::GITHUB_REPO, v.trim()),
            });
        if let Some(d) = default {
            input = input.default(d.to_string());
        }
        let answer = input.interact_text().map_err(prompt_error)?;
        let answer = answer.trim();
        Ok(github_repo_from_remote(answer).unwrap_or_else(|| answer.to_string()))
    }

    pub fn choose(&self, prompt: &str, items: &[String], default: usize) -> Result<usize> {
        Select::with_theme(&self.theme)
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .interact()
            .map_err(prompt_error)
    }

    pub fn confirm(&self, prompt: &str, default: bool) -> Result<bool> {
        Confirm::with_theme(&self.theme)
            .with_prompt(prompt)
            .default(default)
            .interact()
            .map_err(prompt_error)
    }

    /// Who may push. The default branch is offered first; any ref only after saying what it allows.
    pub fn scopes(
        &self,
        repo: &str,
        default_branch: &str,
        given: &TrustScopes,
    ) -> Result<TrustScopes> {
        let listed = "Runs on branches, tags or environments I list (recommended)".into();
        let any = format!("Any run on any ref (repo:{repo}:*)");
        let kind = self.choose(
            "Who may push images?",
            &[listed, any],
            usize::from(given.any_ref),
        )?;
        if kind == 1 {
            warn(&format!(
                "Any ref lets every workflow run in {repo} push images: a branch anyone with write access creates, any tag, any environment, and pull requests from the repository's own branches.\n  `skyecr-bootstrap audit` reports it as a warning. A list of branches, tags or environments is safer."
            ));
            if self.confirm("Trust any ref anyway?", false)? {
                return Ok(TrustScopes {
                    any_ref: true,
                    ..TrustScopes::default()
                });
            }
        }
        let default_branches = if given.branches.is_empty()
            && given.tags.is_empty()
            && given.environments.is_empty()
        {
            vec![default_branch.to_string()]
        } else {
            given.branches.clone()
        };
        loop {
            let branches = self.list(
                "Branches whose workflows may push (comma-separated, - for none)",
                &default_branches,
                &table::BRANCHES,
            )?;
            let tags = self.list(
                "Tag patterns that may push, * allowed (comma-separated, - for none)",
                &given.tags,
                &table::TAGS,
            )?;
            let environments = self.list(
                "GitHub environments whose jobs may push (comma-separated, - for none)",
                &given.environments,
                &table::ENVIRONMENTS,
            )?;
            let scopes = TrustScopes {
                branches,
                tags,
                environments,
                any_ref: false,
            };
            if !scopes.is_empty() {
                return Ok(scopes);
            }
            warn(
                "At least one branch, tag pattern or environment is needed: without one, no workflow could push.",
            );
        }
    }
}

/// Why `setting` refuses `value`, shown under the prompt.
fn reason(setting: &Setting, value: &str) -> std::result::Result<(), String> {
    setting
        .check(value)
        .map_err(|e| format!("{} (expected {})", e.problem, e.expected))
}

/// Ctrl-C at a prompt is an interruption (exit 130), never an I/O failure.
fn prompt_error(e: dialoguer::Error) -> Error {
    let dialoguer::Error::IO(io) = e;
    if io.kind() == std::io::ErrorKind::Interrupted {
        Error::Interrupted
    } else {
        Error::Io(format!("cannot ask on the terminal: {io}"))
    }
}

/// A line the person should not miss, on stderr.
pub fn warn(text: &str) {
    let _ = Term::stderr().write_line(&format!(
        "{} {text}",
        style("!").yellow().bold().for_stderr()
    ));
}

/// A line of context between prompts, on stderr.
pub fn note(text: &str) {
    let _ = Term::stderr().write_line(&format!("  {}", style(text).dim().for_stderr()));
}

/// `a, b ,c` → `[a, b, c]`; empty items and the `-` answer are dropped.
pub fn split_list(answer: &str) -> Vec<String> {
    answer
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != NONE)
        .map(str::to_string)
        .collect()
}

/// Inside the wizard a person gave answers, not flags: a message that names a flag speaks of
/// the answer instead.
pub fn in_answers(message: &str) -> String {
    let mut flags: Vec<&str> = config::SETTINGS.iter().map(|s| s.flag).collect();
    // `--tag-mutability` before `--tag`: a flag is never cut out of a longer one.
    flags.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut out = message.to_string();
    for flag in flags {
        out = out
            .replace(&format!("Check {flag}"), "Check that answer")
            .replace(&format!("check {flag}"), "check that answer")
            .replace(&format!("invalid {flag}"), "invalid answer")
            .replace(flag, "that answer");
    }
    out
}

/// Where `init` keeps answers that were not applied: beside the settings file, so a decline
/// or a failure never costs them. `apply` never reads it.
pub fn draft_path(config_file: &Path) -> PathBuf {
    let stem = config_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "skyecr".into());
    config_file.with_file_name(format!("{stem}.draft.json"))
}

/// The draft goes once its answers are in the settings file.
pub fn remove_draft(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io(format!(
            "cannot remove {}: {e}; remove it by hand, its answers are in the settings file now",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// The answers, one line per question the summary can go back to.
pub fn summary(answers: &RawSettings, account_id: &str) -> String {
    let or = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_string());
    let oidc = answers.auth != Some(AuthMode::AccessKey);
    let scopes = answers.scopes();
    let who = if !oidc {
        "any workflow (access keys)".to_string()
    } else if scopes.any_ref {
        "any ref".to_string()
    } else {
        let mut parts = Vec::new();
        for (what, list) in [
            ("branches", &scopes.branches),
            ("tags", &scopes.tags),
            ("environments", &scopes.environments),
        ] {
            if !list.is_empty() {
                parts.push(format!("{what} {}", list.join(", ")));
            }
        }
        if let Some(path) = &answers.pin_workflow {
            parts.push(format!("only {path}"));
        }
        parts.join("; ")
    };
    let encryption = match (&answers.encryption, &answers.kms_key) {
        (Some(EncryptionName::Kms), Some(key)) => format!("KMS key {key}"),
        (Some(EncryptionName::Kms), None) => "KMS, the AWS-managed key aws/ecr".to_string(),
        _ => "AES256".to_string(),
    };
    let mut names = vec![format!(
        "ECR repository {}",
        or(&answers.ecr_repository, "")
    )];
    if oidc {
        names.push(format!("role {}", or(&answers.role_name, "")));
    } else {
        names.push(format!("user {}", or(&answers.user_name, "")));
    }
    names.push(format!("policy {}", or(&answers.policy_name, "")));
    if oidc {
        names.push(format!("secret {}", or(&answers.secret_name, "")));
        names.push(format!("issuer {}", or(&answers.oidc_issuer, "")));
    }
    let rows = [
        ("GitHub repository", or(&answers.github_repo, "")),
        (
            "AWS profile and region",
            format!(
                "{} in {} (account {account_id})",
                or(&answers.profile, "the default credential chain"),
                or(&answers.region, "")
            ),
        ),
        (
            "Authentication",
            if oidc { "OIDC role" } else { "access keys" }.to_string(),
        ),
        ("Who may push", who),
        ("Encryption", encryption),
        ("Resource names", names.join(", ")),
    ];
    let mut out = String::from("Your answers:\n");
    for (label, value) in rows {
        out.push_str(&format!("  {label:<23} {value}\n"));
    }
    out
}

/// `OWNER/REPO` from a GitHub remote URL in any form git accepts: https, ssh, scp-like, git.
pub fn github_repo_from_remote(url: &str) -> Option<String> {
    let url = url.trim();
    let (host, path) = match url.split_once("://") {
        Some((_scheme, rest)) => {
            let (authority, path) = rest.split_once('/')?;
            // user[:password]@host[:port]: credentials are dropped here and never shown.
            let host = authority.rsplit('@').next()?;
            (host.split(':').next()?, path)
        }
        None => {
            let (user_host, path) = url.split_once(':')?;
            (user_host.rsplit('@').next()?, path)
        }
    };
    let github = ["github.com", "www.github.com", "ssh.github.com"];
    if !github.iter().any(|g| host.eq_ignore_ascii_case(g)) {
        return None;
    }
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let (owner, name) = path.split_once('/')?;
    let candidate = format!("{owner}/{name}");
    config::is_github_repo(&candidate).then_some(candidate)
}

/// The current directory's `origin` remote, when it is a GitHub repository.
pub fn origin_repository() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["remote", "get-url", "origin"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    github_repo_from_remote(&String::from_utf8_lossy(&out.stdout))
}

/// The `apply --yes` command line that does what `init` would, for the settings given so far.
pub fn apply_command(raw: &RawSettings, json: bool) -> String {
    let mut words = config::command_words("apply", raw);
    if json {
        words.extend([table::OUTPUT.flag.into(), "json".into()]);
    }
    words.push("--yes".into());
    words.join(" ")
}

/// Settings `apply` needs that neither the flags nor the file gave.
pub fn missing(raw: &RawSettings) -> Vec<&'static str> {
    let mut out = Vec::new();
    if raw.github_repo.is_none() {
        out.push("--github-repo OWNER/REPO   the repository whose workflows push images");
    }
    if raw.scopes().is_empty() {
        out.push("who may push: one or more of --branch NAME, --tag PATTERN, --environment NAME, or --any-ref");
    }
    out
}

/// Why `init` asked nothing without a terminal, and how to do the same without questions.
pub fn refusal(raw: &RawSettings, json: bool) -> String {
    let mut text = format!(
        "init asks questions and needs a terminal; there is none, so nothing was asked or changed.\n  The same setup without questions:\n    {}",
        apply_command(raw, json)
    );
    let missing = missing(raw);
    if !missing.is_empty() {
        text.push_str("\n  Still missing (add them to the command or to skyecr.json):");
        for m in missing {
            text.push_str("\n    ");
            text.push_str(m);
        }
    }
    text
}

/// After a failed apply: what was done, what failed, what did not start, and how to go on.
pub fn failure_summary(plan: &Plan, finished: &[Finished], config_file: &str) -> String {
    let name = |resource: &str, n: &str| format!("{resource} {n}");
    let done: Vec<String> = finished
        .iter()
        .filter(|f| f.outcome != "failed")
        .map(|f| format!("{} {}", f.outcome, name(f.resource.as_str(), &f.name)))
        .collect();
    let failed: Vec<String> = finished
        .iter()
        .filter(|f| f.outcome == "failed")
        .map(|f| name(f.resource.as_str(), &f.name))
        .collect();
    let not_started: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| {
            !finished
                .iter()
                .any(|f| f.resource == c.resource && f.name == c.name)
        })
        .map(|c| name(c.resource.as_str(), &c.name))
        .collect();
    let list = |items: &[String]| {
        if items.is_empty() {
            "nothing".to_string()
        } else {
            items.join(", ")
        }
    };
    format!(
        "Stopped at the first failure.\n  done:        {}\n  failed:      {}\n  not started: {}\nYour answers are saved in {config_file}. Fix the cause below, then rerun `skyecr-bootstrap apply` (or `init`): it continues from here and redoes nothing that is done.",
        list(&done),
        list(&failed),
        list(&not_started)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Form, SecretScope};
    use crate::plan::{Action, Change, Kind};

    #[test]
    fn origin_remotes_in_every_form_git_accepts() {
        for url in [
            "https://github.com/acme/app.git",
            "https://github.com/acme/app",
            "https://github.com/acme/app/",
            "https://x-access-token:ghp_secret@github.com/acme/app.git",
            "http://www.github.com/acme/app.git",
            "git@github.com:acme/app.git",
            "git@github.com:acme/app",
            "github.com:acme/app.git",
            "ssh://git@github.com/acme/app.git",
            "ssh://git@ssh.github.com:443/acme/app.git",
            "git://github.com/acme/app.git\n",
            "https://GitHub.com/acme/app.git",
        ] {
            assert_eq!(
                github_repo_from_remote(url).as_deref(),
                Some("acme/app"),
                "{url}"
            );
        }
        assert_eq!(
            github_repo_from_remote("git@github.com:acme/my.app.git").as_deref(),
            Some("acme/my.app")
        );
    }

    #[test]
    fn other_hosts_and_shapes_give_no_default() {
        for url in [
            "https://gitlab.com/acme/app.git",
            "git@bitbucket.org:acme/app.git",
            "https://github.com/acme",
            "https://github.com/acme/app/tree/main",
            "https://github.com.evil.example/acme/app",
            "/srv/git/app.git",
            "",
            "git@github.com:-acme/app.git",
        ] {
            assert_eq!(github_repo_from_remote(url), None, "{url}");
        }
    }

    #[test]
    fn lists_are_comma_separated_and_dash_means_none() {
        assert_eq!(
            split_list("main, release/1.x ,,dev"),
            vec!["main", "release/1.x", "dev"]
        );
        assert!(split_list("-").is_empty());
        assert!(split_list("  ").is_empty());
    }

    #[test]
    fn messages_in_the_wizard_speak_of_answers() {
        assert_eq!(
            in_answers("not found.\n  Check --github-repo, and the token"),
            "not found.\n  Check that answer, and the token"
        );
        // The longer flag is not cut into the shorter one's replacement.
        assert_eq!(
            in_answers("invalid --tag-mutability: x"),
            "invalid answer: x"
        );
    }

    #[test]
    fn the_draft_sits_beside_the_settings_file() {
        assert_eq!(
            draft_path(Path::new("skyecr.json")),
            PathBuf::from("skyecr.draft.json")
        );
        assert_eq!(
            draft_path(Path::new("ops/acme.json")),
            PathBuf::from("ops/acme.draft.json")
        );
    }

    #[test]
    fn the_command_line_carries_every_given_setting() {
        let raw = RawSettings {
            github_repo: Some("acme/app".into()),
            region: Some("eu-west-1".into()),
            auth: Some(AuthMode::Oidc),
            encryption: Some(EncryptionName::Kms),
            kms_key: Some("arn:aws:kms:eu-west-1:123456789012:key/abc".into()),
            branches: vec!["main".into()],
            tags: vec!["v*".into()],
            environments: vec!["prod env".into()],
            secret_scope: Some(SecretScope::Environment),
            ..RawSettings::default()
        };
        assert_eq!(
            apply_command(&raw, false),
            "skyecr-bootstrap apply --github-repo acme/app --region eu-west-1 --auth oidc --encryption kms --kms-key arn:aws:kms:eu-west-1:123456789012:key/abc --branch main --tag 'v*' --environment 'prod env' --secret-scope environment --yes"
        );
        assert!(missing(&raw).is_empty());
        let any = RawSettings {
            any_ref: true,
            ..RawSettings::default()
        };
        assert_eq!(
            apply_command(&any, true),
            "skyecr-bootstrap apply --any-ref --output json --yes"
        );
        assert_eq!(missing(&any).len(), 1);
    }

    /// Every setup setting, whatever the table holds, reaches the command line and parses back.
    #[test]
    fn the_command_line_gives_back_every_setup_setting() {
        use clap::{CommandFactory, Parser};
        use serde_json::{Value, json};

        let command = crate::cli::Cli::command();
        let mut file = serde_json::Map::new();
        for setting in config::SETTINGS.iter().filter(|s| !s.presentation) {
            let value = match setting.form {
                Form::Text(_) => json!("x"),
                Form::List(_) => json!(["x", "y"]),
                Form::Switch => json!(true),
                Form::Choice => {
                    let arg = command
                        .get_arguments()
                        .find(|a| a.get_long() == setting.flag.strip_prefix("--"))
                        .unwrap();
                    json!(arg.get_possible_values()[1].get_name())
                }
            };
            file.insert(setting.key.into(), value);
        }
        let raw: RawSettings = serde_json::from_value(Value::Object(file)).unwrap();
        let line = apply_command(&raw, false);
        let cli = crate::cli::Cli::try_parse_from(line.split(' ')).unwrap();
        assert_eq!(cli.settings.values, raw, "{line}");
        assert!(cli.yes, "{line}");
        assert!(apply_command(&raw, true).ends_with(" --output json --yes"));
    }

    #[test]
    fn the_refusal_names_what_is_missing() {
        let text = refusal(&RawSettings::default(), false);
        assert!(
            text.contains("    skyecr-bootstrap apply --yes\n"),
            "{text}"
        );
        assert!(text.contains("--github-repo OWNER/REPO"), "{text}");
        assert!(text.contains("--branch NAME, --tag PATTERN, --environment NAME, or --any-ref"));
        let given = RawSettings {
            github_repo: Some("acme/app".into()),
            branches: vec!["main".into()],
            ..RawSettings::default()
        };
        assert!(!refusal(&given, false).contains("Still missing"));
    }

    #[test]
    fn the_failure_summary_tells_done_failed_and_not_started() {
        let change = |resource, name: &str| Change::not_run(resource, name, Action::Create, vec![]);
        let plan = Plan {
            changes: vec![
                change(Kind::Policy, "SkyPilot-ECR-Push"),
                change(Kind::Repository, "skypilot"),
                change(Kind::Role, "GitHubActions-SkyPilot-ECR"),
                change(Kind::Secret, "AWS_ECR_ROLE_ARN"),
            ],
            ..Plan::default()
        };
        let finished = [
            Finished {
                resource: Kind::Policy,
                name: "SkyPilot-ECR-Push".into(),
                outcome: "created",
            },
            Finished {
                resource: Kind::Repository,
                name: "skypilot".into(),
                outcome: "created",
            },
            Finished {
                resource: Kind::Role,
                name: "GitHubActions-SkyPilot-ECR".into(),
                outcome: "failed",
            },
        ];
        let text = failure_summary(&plan, &finished, "skyecr.json");
        assert!(
            text.contains(
                "done:        created policy SkyPilot-ECR-Push, created repository skypilot\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("failed:      role GitHubActions-SkyPilot-ECR\n"),
            "{text}"
        );
        assert!(
            text.contains("not started: secret AWS_ECR_ROLE_ARN\n"),
            "{text}"
        );
        assert!(text.contains("saved in skyecr.json"), "{text}");
    }
}
