//! Flags + `skyecr.json` → validated settings. Pure apart from reading the file.
mod command_line;
pub mod manifest;
mod rules;
pub mod table;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, InvalidInput, Result};
pub use command_line::{command_words, shell_word};
pub use manifest::{Scope, SettingsFile};
pub use table::{Form, RawSettings, SETTINGS, Setting};

pub const DEFAULT_CONFIG_FILE: &str = "skyecr.json";
pub const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const DEFAULT_ECR_REPOSITORY: &str = "skypilot";
pub const DEFAULT_ROLE_NAME: &str = "GitHubActions-SkyPilot-ECR";
pub const DEFAULT_POLICY_NAME: &str = "SkyPilot-ECR-Push";
pub const DEFAULT_USER_NAME: &str = "github-actions-skypilot-ecr";
pub const DEFAULT_SECRET_NAME: &str = "AWS_ECR_ROLE_ARN";
pub const FALLBACK_REGION: &str = "us-east-1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub github: RepoName,
    /// `None`: resolved from the AWS config chain, else `us-east-1`.
    pub region: Option<String>,
    pub profile: Option<String>,
    pub auth: AuthMode,
    pub ecr_repository: String,
    pub encryption: Encryption,
    pub role_name: String,
    pub policy_name: String,
    pub user_name: String,
    pub scopes: TrustScopes,
    pub secret_name: String,
    pub secret_scope: SecretScope,
    pub issuer: Issuer,
    pub permissions_boundary: Option<String>,
    /// The account the settings were applied to: a caller in another one is stopped.
    pub account_id: Option<String>,
    /// Pin the repository and owner IDs in the trust (`--no-pin-ids` / `--pin-ids`).
    pub pin_ids: bool,
    /// The workflow file `job_workflow_ref` is pinned to (`--pin-workflow`).
    pub pin_workflow: Option<String>,
    /// `None`: the repository's tag mutability is left as it is (audit notes mutable tags).
    pub tag_mutability: Option<TagMutability>,
}

/// `--tag-mutability` as given; the exceptions come separately (`--mutable-tag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagMutabilityName {
    Mutable,
    Immutable,
}

/// Whether a pushed tag can be pushed again to point at another image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagMutability {
    Mutable,
    /// Tags are fixed once pushed, except those matching `mutable_tags` (ECR's exclusion
    /// filters, `*` wildcards allowed), such as `latest`, which the guide's workflow moves.
    Immutable {
        mutable_tags: Vec<String>,
    },
}

/// ECR takes at most this many exclusion filters per repository.
const MAX_MUTABLE_TAGS: usize = 5;

// The setting enums are spelled the same by clap (flags) and serde (the file); a test checks it.

/// Where the role ARN secret is written: the repository, or each chosen environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretScope {
    #[default]
    Repository,
    Environment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl std::fmt::Display for RepoName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    Oidc,
    AccessKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    Aes256,
    /// `None`: the AWS-managed key `aws/ecr`.
    Kms(Option<String>),
}

/// `--encryption` as given; the key comes separately (`--kms-key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptionName {
    Aes256,
    Kms,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Markdown,
    // SARIF 2.1.0 for GitHub code scanning; only audit accepts it (lib.rs).
    Sarif,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Who may push: the branches, tag patterns and environments listed, or any ref.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustScopes {
    pub branches: Vec<String>,
    pub tags: Vec<String>,
    pub environments: Vec<String>,
    pub any_ref: bool,
}

impl TrustScopes {
    pub fn is_empty(&self) -> bool {
        !self.any_ref
            && self.branches.is_empty()
            && self.tags.is_empty()
            && self.environments.is_empty()
    }
}

/// The OIDC issuer URL; the provider ARN and condition keys derive from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn url(&self) -> &str {
        &self.0
    }

    /// `token.actions.githubusercontent.com[/path]`: the provider ARN suffix and condition-key prefix.
    pub fn host_path(&self) -> &str {
        self.0.trim_start_matches("https://")
    }
}

/// Presentation options shared by every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presentation {
    pub output: OutputFormat,
    pub yes: bool,
    pub color: ColorChoice,
}

impl RawSettings {
    /// The trust scopes as given.
    pub fn scopes(&self) -> TrustScopes {
        TrustScopes {
            branches: self.branches.clone(),
            tags: self.tags.clone(),
            environments: self.environments.clone(),
            any_ref: self.any_ref,
        }
    }
}

/// The settings file: `--config PATH`, else `./skyecr.json`.
pub fn settings_path(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE))
}

/// Where `apply` saves the settings it applied, and what was given (file and flags merged).
pub struct Saving {
    pub path: PathBuf,
    pub given: RawSettings,
}

impl Saving {
    /// Saves what was applied, with the account it was applied to; a file that already says
    /// exactly that is left alone. Returns whether the file was written.
    pub fn save(&self, account_id: &str) -> Result<bool> {
        let mut saved = self.given.clone();
        saved.account_id = Some(account_id.to_string());
        save(&self.path, &saved)
    }
}

/// Writes the settings file (atomically, never through a link): the setup only, not how one
/// run showed its results. Returns whether anything changed.
pub fn save(path: &Path, raw: &RawSettings) -> Result<bool> {
    let setup = RawSettings {
        output: None,
        color: None,
        ..raw.clone()
    };
    let text = serde_json::to_string_pretty(&setup)
        .map_err(|e| Error::Io(format!("cannot serialize the settings: {e}")))?;
    let text = format!("{text}\n");
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    crate::files::write_atomically(path, &text)?;
    Ok(true)
}

/// Reads `--config PATH`, or `./skyecr.json` when it exists. A `--config` file that does not
/// exist is an error (a typo must not read as "no settings"), unless the command creates it
/// (`apply`, `init`: `creates`).
pub fn load_file(explicit: Option<&Path>, creates: bool) -> Result<SettingsFile> {
    // A new file can be created only where its directory exists: found out now, not after
    // applying.
    let creatable = |p: &Path| {
        p.parent()
            .is_none_or(|d| d.as_os_str().is_empty() || d.is_dir())
    };
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), !(creates && creatable(p))),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SettingsFile::default());
        }
        Err(e) => {
            return Err(Error::ConfigFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    parse_file(&text).map_err(|reason| Error::ConfigFile {
        path: path.display().to_string(),
        reason,
    })
}

/// Keys a settings file may never hold: run intents, which only the person running the command
/// may give (a file in a cloned repository must not approve a destroy).
const RUN_INTENTS: [&str; 4] = ["yes", "adopt", "force", "no_save"];

/// The settings file's text → its settings and entries; unknown keys and wrong types are
/// refused, naming the key.
pub fn parse_file(text: &str) -> std::result::Result<SettingsFile, String> {
    manifest::parse(text)
}

/// One settings object (the file's top level, or one entry) → raw settings.
fn parse_settings(text: &str) -> std::result::Result<RawSettings, String> {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text)
        && let Some(key) = map
            .keys()
            .find(|k| RUN_INTENTS.contains(&k.replace('-', "_").as_str()))
    {
        return Err(format!(
            "key {key:?} is not a setting: it can only be given on the command line (--{}) by the person running the command",
            key.replace('_', "-")
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        let key = rejected_key(text)
            .map(|k| format!("key {k:?}: "))
            .unwrap_or_default();
        format!("{key}{e}. Keys are the flag names in snake_case, e.g. {{\"github_repo\": \"acme/app\", \"branches\": [\"main\"]}}")
    })
}

/// The key whose value was rejected: serde_json's type errors name only a line and column.
fn rejected_key(text: &str) -> Option<String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) else {
        return None;
    };
    map.into_iter().find_map(|(key, value)| {
        let alone = serde_json::Value::Object(serde_json::Map::from_iter([(key.clone(), value)]));
        serde_json::from_value::<RawSettings>(alone)
            .is_err()
            .then_some(key)
    })
}

/// Whether `v` is an `OWNER/REPO` name as GitHub allows it (no wildcard, no path, ASCII).
pub fn is_github_repo(v: &str) -> bool {
    rules::github_repo(v).is_ok()
}

/// Flags win over the file; a list given on the command line replaces the file's list.
pub fn merge(flags: &RawSettings, file: RawSettings) -> RawSettings {
    let mut file = file;
    // Of two switches that say opposite things, the command line's wins over the file's.
    file.no_pin_ids &= !flags.pin_ids;
    file.pin_ids &= !flags.no_pin_ids;
    flags.clone().over(file)
}

/// How results are shown: flags, then the settings file, then the defaults. `yes` is a run
/// intent of the person at the keyboard, never read from a file.
pub fn presentation(merged: &RawSettings, yes: bool) -> Presentation {
    Presentation {
        output: merged.output.unwrap_or_default(),
        yes,
        color: merged.color.unwrap_or_default(),
    }
}

/// The region in use, wherever it came from (flags and the file were checked by `validate`;
/// `AWS_REGION` and the AWS config were not): a near miss of a known region stops the run
/// before any call, an unknown one is used as given with a warning, since new regions appear.
pub fn check_region(region: &str) -> Result<()> {
    match rules::region_knowledge(region) {
        rules::RegionKnowledge::Known => Ok(()),
        rules::RegionKnowledge::Typo(near) => Err(Error::InvalidSettings(vec![InvalidInput {
            flag: "--region",
            problem: format!(
                "{region:?} (from AWS_REGION or the AWS config) is not an AWS region; did you mean {}?",
                near.join(" or ")
            ),
            expected: "an AWS region such as us-east-1, by --region, AWS_REGION or the profile's region",
        }])),
        rules::RegionKnowledge::Unknown => {
            eprintln!(
                "warning: {region} is not a region this version knows; using it as given (a region newer than this release works)"
            );
            Ok(())
        }
    }
}

/// The region of a KMS key ARN when it is not `region`: ECR takes only a key of its own region.
pub fn kms_key_region_conflict<'a>(key: &'a str, region: &str) -> Option<&'a str> {
    key.split(':')
        .nth(3)
        .filter(|key_region| !key_region.is_empty() && *key_region != region)
}

/// Validates every value; all problems are reported at once. `{owner}` and `{repo}` in the
/// names are the repository's.
pub fn validate(raw: &RawSettings) -> Result<Settings> {
    let mut raw = raw.clone();
    manifest::expand_names(&mut raw);
    let raw = &raw;
    use table::MUTABLE_TAGS;
    use table::{
        ACCOUNT_ID, ANY_REF, BRANCHES, ECR_REPOSITORY, ENVIRONMENTS, GITHUB_REPO, KMS_KEY,
        NO_PIN_IDS, OIDC_ISSUER, PERMISSIONS_BOUNDARY, PIN_WORKFLOW, POLICY_NAME, PROFILE, REGION,
        ROLE_NAME, SECRET_NAME, SECRET_SCOPE, TAGS, USER_NAME,
    };
    let mut errors = Vec::new();

    let mut github = RepoName {
        owner: String::new(),
        name: String::new(),
    };
    match &raw.github_repo {
        None => errors.push(InvalidInput {
            flag: GITHUB_REPO.flag,
            problem: "is required".into(),
            expected: table::GITHUB_REPO_FORM,
        }),
        Some(github_repo) => {
            check(&mut errors, &GITHUB_REPO, github_repo);
            if let Some((o, n)) = github_repo.split_once('/') {
                github = RepoName {
                    owner: o.to_string(),
                    name: n.to_string(),
                };
            }
        }
    }
    if let Some(r) = &raw.region {
        check(&mut errors, &REGION, r);
    }
    if let Some(p) = &raw.profile {
        check(&mut errors, &PROFILE, p);
    }
    for (setting, value) in [
        (&PERMISSIONS_BOUNDARY, &raw.permissions_boundary),
        (&ACCOUNT_ID, &raw.account_id),
        (&PIN_WORKFLOW, &raw.pin_workflow),
    ] {
        if let Some(v) = value {
            check(&mut errors, setting, v);
        }
    }
    let or_default = |value: &Option<String>, default: &str| {
        value.clone().unwrap_or_else(|| default.to_string())
    };
    let ecr_repository = or_default(&raw.ecr_repository, DEFAULT_ECR_REPOSITORY);
    check(&mut errors, &ECR_REPOSITORY, &ecr_repository);
    let role_name = or_default(&raw.role_name, DEFAULT_ROLE_NAME);
    check(&mut errors, &ROLE_NAME, &role_name);
    let policy_name = or_default(&raw.policy_name, DEFAULT_POLICY_NAME);
    check(&mut errors, &POLICY_NAME, &policy_name);
    let user_name = or_default(&raw.user_name, DEFAULT_USER_NAME);
    check(&mut errors, &USER_NAME, &user_name);
    let secret_name = or_default(&raw.secret_name, DEFAULT_SECRET_NAME);
    check(&mut errors, &SECRET_NAME, &secret_name);
    let issuer = or_default(&raw.oidc_issuer, DEFAULT_ISSUER);
    check(&mut errors, &OIDC_ISSUER, &issuer);
    for (setting, values) in [
        (&BRANCHES, &raw.branches),
        (&TAGS, &raw.tags),
        (&ENVIRONMENTS, &raw.environments),
    ] {
        for v in values {
            check(&mut errors, setting, v);
        }
    }

    let encryption = match (raw.encryption, &raw.kms_key) {
        (Some(EncryptionName::Kms), key) => {
            if let Some(k) = key {
                check(&mut errors, &KMS_KEY, k);
            }
            Encryption::Kms(key.clone())
        }
        (_, Some(_)) => {
            errors.push(InvalidInput {
                flag: KMS_KEY.flag,
                problem: "is only used with --encryption kms".into(),
                expected: "--encryption kms --kms-key arn:aws:kms:REGION:ACCOUNT:key/ID",
            });
            Encryption::Aes256
        }
        _ => Encryption::Aes256,
    };
    if let (Encryption::Kms(Some(key)), Some(region)) = (&encryption, &raw.region)
        && let Some(key_region) = kms_key_region_conflict(key, region)
    {
        errors.push(InvalidInput {
            flag: KMS_KEY.flag,
            problem: format!("is in {key_region}, but the repository is in {region}"),
            expected: "a KMS key in the repository's region (ECR requires it)",
        });
    }
    if raw.any_ref
        && (!raw.branches.is_empty() || !raw.tags.is_empty() || !raw.environments.is_empty())
    {
        errors.push(InvalidInput {
            flag: ANY_REF.flag,
            problem: "already allows every branch, tag and environment, so it cannot be combined with --branch/--tag/--environment".into(),
            expected: "either --any-ref alone, or a list of --branch/--tag/--environment",
        });
    }

    if raw.no_pin_ids && raw.pin_ids {
        errors.push(InvalidInput {
            flag: NO_PIN_IDS.flag,
            problem: "and --pin-ids contradict each other".into(),
            expected: "one of them: --pin-ids (pin the IDs) or --no-pin-ids (leave them out)",
        });
    }

    for v in &raw.mutable_tags {
        check(&mut errors, &MUTABLE_TAGS, v);
    }
    if raw.mutable_tags.len() > MAX_MUTABLE_TAGS {
        errors.push(InvalidInput {
            flag: MUTABLE_TAGS.flag,
            problem: format!("is given {} times", raw.mutable_tags.len()),
            expected: "at most 5 patterns (ECR's limit of exclusion filters); * matches many tags",
        });
    }
    // An exception to immutability asks for immutability.
    let tag_mutability = match (raw.tag_mutability, raw.mutable_tags.is_empty()) {
        (None, true) => None,
        (Some(TagMutabilityName::Mutable), true) => Some(TagMutability::Mutable),
        (Some(TagMutabilityName::Mutable), false) => {
            errors.push(InvalidInput {
                flag: MUTABLE_TAGS.flag,
                problem: "is an exception to immutable tags, but --tag-mutability is mutable"
                    .into(),
                expected: "--tag-mutability immutable --mutable-tag PATTERN, or no --mutable-tag",
            });
            Some(TagMutability::Mutable)
        }
        (Some(TagMutabilityName::Immutable) | None, _) => Some(TagMutability::Immutable {
            mutable_tags: raw.mutable_tags.clone(),
        }),
    };
    let secret_scope = raw.secret_scope.unwrap_or_default();
    if secret_scope == SecretScope::Environment && raw.environments.is_empty() {
        errors.push(InvalidInput {
            flag: SECRET_SCOPE.flag,
            problem: "is environment, but no --environment was given".into(),
            expected: "--secret-scope environment together with one or more --environment NAME",
        });
    }
    if !errors.is_empty() {
        return Err(Error::InvalidSettings(errors));
    }
    Ok(Settings {
        github,
        region: raw.region.clone(),
        profile: raw.profile.clone(),
        auth: raw.auth.unwrap_or(AuthMode::Oidc),
        ecr_repository,
        encryption,
        role_name,
        policy_name,
        user_name,
        scopes: raw.scopes(),
        secret_name: secret_name.to_ascii_uppercase(),
        secret_scope,
        permissions_boundary: raw.permissions_boundary.clone(),
        account_id: raw.account_id.clone(),
        // AWS STS evaluates GitHub's claims for the public issuer; enterprise issuers opt in.
        pin_ids: if issuer == DEFAULT_ISSUER {
            !raw.no_pin_ids
        } else {
            raw.pin_ids
        },
        pin_workflow: raw.pin_workflow.clone(),
        issuer: Issuer(issuer),
        tag_mutability,
    })
}

fn check(errors: &mut Vec<InvalidInput>, setting: &Setting, value: &str) {
    if let Err(e) = setting.check(value) {
        errors.push(e);
    }
}

/// Validates a branch given to a command-specific flag, with the same rules as `--branch`.
pub fn check_branch_flag(flag: &'static str, value: &str) -> Result<()> {
    table::BRANCHES
        .check(value)
        .map_err(|e| Error::InvalidSettings(vec![InvalidInput { flag, ..e }]))
}

/// Validates one `--platforms` entry of the `workflow` command.
pub fn check_platform(value: &str) -> Result<()> {
    rules::PLATFORM
        .apply("--platforms", value)
        .map_err(|e| Error::InvalidSettings(vec![e]))
}

/// Commands that build a trust policy need at least one scope; never guess one.
pub fn require_scopes(settings: &Settings) -> Result<()> {
    if settings.scopes.is_empty() {
        return Err(Error::Usage(
            "no trust scope given: say which workflows may push with one or more of\n  --branch NAME        (e.g. --branch main)\n  --tag PATTERN        (e.g. --tag 'v*')\n  --environment NAME   (e.g. --environment prod)\n  --any-ref            (any ref of the repository; audit warns about it)\nor the matching keys (branches, tags, environments, any_ref) in skyecr.json.".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RawSettings {
        RawSettings {
            github_repo: Some("acme/app".into()),
            branches: vec!["main".into()],
            ..Default::default()
        }
    }

    fn rejects(mutate: impl Fn(&mut RawSettings), flag: &str) {
        let mut raw = base();
        mutate(&mut raw);
        match validate(&raw) {
            Err(Error::InvalidSettings(errs)) => {
                assert!(errs.iter().any(|e| e.flag == flag), "{errs:?} lacks {flag}")
            }
            other => panic!("expected {flag} to be rejected, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_guide() {
        let s = validate(&base()).unwrap();
        assert_eq!(s.ecr_repository, "skypilot");
        assert_eq!(s.role_name, "GitHubActions-SkyPilot-ECR");
        assert_eq!(s.policy_name, "SkyPilot-ECR-Push");
        assert_eq!(s.user_name, "github-actions-skypilot-ecr");
        assert_eq!(s.secret_name, "AWS_ECR_ROLE_ARN");
        assert_eq!(s.auth, AuthMode::Oidc);
        assert_eq!(s.encryption, Encryption::Aes256);
        assert_eq!(s.issuer.host_path(), "token.actions.githubusercontent.com");
    }

    #[test]
    fn bad_values_name_their_flag() {
        type Mutation = Box<dyn Fn(&mut RawSettings)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("--github-repo", Box::new(|r| r.github_repo = None)),
            (
                "--github-repo",
                Box::new(|r| r.github_repo = Some("acme".into())),
            ),
            (
                "--github-repo",
                Box::new(|r| r.github_repo = Some("-acme/app".into())),
            ),
            (
                "--github-repo",
                Box::new(|r| r.github_repo = Some("acme/a b".into())),
            ),
            (
                "--github-repo",
                Box::new(|r| r.github_repo = Some("acme/..".into())),
            ),
            ("--region", Box::new(|r| r.region = Some("mars-1".into()))),
            (
                "--region",
                Box::new(|r| r.region = Some("US-EAST-1".into())),
            ),
            (
                "--ecr-repository",
                Box::new(|r| r.ecr_repository = Some("Sky".into())),
            ),
            (
                "--ecr-repository",
                Box::new(|r| r.ecr_repository = Some("a//b".into())),
            ),
            (
                "--role-name",
                Box::new(|r| r.role_name = Some("x".repeat(65))),
            ),
            (
                "--role-name",
                Box::new(|r| r.role_name = Some("bad name".into())),
            ),
            (
                "--policy-name",
                Box::new(|r| r.policy_name = Some(String::new())),
            ),
            (
                "--secret-name",
                Box::new(|r| r.secret_name = Some("GITHUB_TOKEN".into())),
            ),
            (
                "--oidc-issuer",
                Box::new(|r| {
                    r.oidc_issuer = Some("https://token.actions.githubusercontent.com/".into())
                }),
            ),
            (
                "--oidc-issuer",
                Box::new(|r| r.oidc_issuer = Some("http://ghe.example.com/_services/token".into())),
            ),
            (
                "--branch",
                Box::new(|r| r.branches = vec!["feat..x".into()]),
            ),
            ("--branch", Box::new(|r| r.branches = vec!["*".into()])),
            (
                "--branch",
                Box::new(|r| r.branches = vec!["refs/heads/main".into()]),
            ),
            ("--tag", Box::new(|r| r.tags = vec!["v 1".into()])),
            (
                "--environment",
                Box::new(|r| r.environments = vec!["prod*".into()]),
            ),
            (
                "--kms-key",
                Box::new(|r| r.kms_key = Some("arn:aws:kms:us-east-1:123456789012:key/abc".into())),
            ),
            (
                "--kms-key",
                Box::new(|r| {
                    r.encryption = Some(EncryptionName::Kms);
                    r.kms_key = Some("not-an-arn".into());
                }),
            ),
            (
                "--kms-key",
                Box::new(|r| {
                    r.encryption = Some(EncryptionName::Kms);
                    r.region = Some("eu-west-1".into());
                    r.kms_key = Some("arn:aws:kms:us-east-1:123456789012:key/abc".into());
                }),
            ),
            ("--any-ref", Box::new(|r| r.any_ref = true)),
            (
                "--secret-scope",
                Box::new(|r| r.secret_scope = Some(SecretScope::Environment)),
            ),
        ];
        for (flag, mutate) in cases {
            rejects(mutate, flag);
        }
    }

    /// A setting added to the table without its check in `validate` fails here.
    #[test]
    fn validation_checks_every_setting_that_takes_text() {
        for setting in SETTINGS {
            let empty = match setting.form {
                Form::Text(_) => serde_json::json!(""),
                Form::List(_) => serde_json::json!([""]),
                Form::Choice | Form::Switch => continue,
            };
            let file = serde_json::json!({
                "github_repo": "acme/app",
                "branches": ["main"],
                "encryption": "kms",
                setting.key: empty,
            });
            let raw = parse_settings(&file.to_string()).unwrap();
            match validate(&raw) {
                Err(Error::InvalidSettings(errs)) => assert!(
                    errs.iter().any(|e| e.flag == setting.flag),
                    "{errs:?} lacks {}",
                    setting.flag
                ),
                other => panic!("an empty {} was accepted: {other:?}", setting.flag),
            }
        }
    }

    #[test]
    fn one_value_is_checked_like_its_flag() {
        use table::{
            ACCOUNT_ID, ANY_REF, BRANCHES, ECR_REPOSITORY, GITHUB_REPO, PERMISSIONS_BOUNDARY,
            POLICY_NAME, ROLE_NAME, TAGS, USER_NAME,
        };
        assert!(ECR_REPOSITORY.check("skypilot").is_ok());
        assert!(ROLE_NAME.check(&"x".repeat(64)).is_ok());
        assert!(TAGS.check("v*").is_ok());
        let err = ECR_REPOSITORY.check("Sky").unwrap_err();
        assert_eq!(err.flag, "--ecr-repository");
        assert_eq!(err.problem, "\"Sky\" is not a valid ECR repository name");
        assert!(
            err.expected.starts_with("2-256 lowercase letters"),
            "{}",
            err.expected
        );
        assert!(BRANCHES.check("*").is_err());
        assert!(ROLE_NAME.check(&"x".repeat(65)).is_err());
        assert!(POLICY_NAME.check(&"x".repeat(128)).is_ok());
        assert!(USER_NAME.check(&"x".repeat(65)).is_err());
        assert!(GITHUB_REPO.check("acme").is_err());
        assert!(ANY_REF.check("x").is_err());
        assert!(
            PERMISSIONS_BOUNDARY
                .check("arn:aws:iam::123456789012:policy/limits/PushBoundary")
                .is_ok()
        );
        assert!(
            PERMISSIONS_BOUNDARY
                .check("arn:aws:iam::aws:policy/PowerUserAccess")
                .is_ok()
        );
        assert!(
            PERMISSIONS_BOUNDARY
                .check("arn:aws:iam::123456789012:role/NotAPolicy")
                .is_err()
        );
        assert!(ACCOUNT_ID.check("123456789012").is_ok());
        assert!(ACCOUNT_ID.check("12345678901").is_err());
    }

    #[test]
    fn a_settings_file_can_never_approve_or_force_anything() {
        for key in ["yes", "adopt", "force", "no-save", "no_save"] {
            let text = format!("{{\"github_repo\": \"acme/app\", \"{key}\": true}}");
            let err = parse_file(&text).unwrap_err();
            assert!(
                err.contains(key) && err.contains("command line"),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn command_flags_are_checked_like_the_settings() {
        assert!(check_branch_flag("--trigger-branch", "main").is_ok());
        let Err(Error::InvalidSettings(errs)) = check_branch_flag("--trigger-branch", "*") else {
            panic!("a wildcard branch was accepted");
        };
        assert_eq!(errs[0].flag, "--trigger-branch");
        assert!(check_platform("linux/arm64/v8").is_ok());
        assert!(check_platform("linux").is_err());
    }

    #[test]
    fn enterprise_issuers_are_accepted() {
        for issuer in [
            "https://token.actions.githubusercontent.com/acme",
            "https://ghe.example.com/_services/token",
        ] {
            let mut raw = base();
            raw.oidc_issuer = Some(issuer.into());
            let s = validate(&raw).unwrap();
            assert_eq!(s.issuer.host_path(), issuer.trim_start_matches("https://"));
        }
    }

    #[test]
    fn flags_win_over_the_file_and_lists_replace() {
        let file = parse_settings(
            r#"{"github_repo": "acme/app", "branches": ["main"], "region": "eu-west-1", "any_ref": true}"#,
        )
        .unwrap();
        let flags = RawSettings {
            region: Some("us-west-2".into()),
            branches: vec!["release".into()],
            ..Default::default()
        };
        let merged = merge(&flags, file.clone());
        assert_eq!(merged.region.as_deref(), Some("us-west-2"));
        assert_eq!(merged.branches, vec!["release".to_string()]);
        assert_eq!(merged.github_repo.as_deref(), Some("acme/app"));
        assert!(merged.any_ref);
        assert_eq!(merge(&RawSettings::default(), file.clone()), file);
    }

    #[test]
    fn presentation_comes_from_flags_then_the_file() {
        let file = parse_settings(r#"{"output": "json", "color": "never"}"#).unwrap();
        let from_file = presentation(&merge(&RawSettings::default(), file.clone()), false);
        assert_eq!(
            (from_file.output, from_file.color),
            (OutputFormat::Json, ColorChoice::Never)
        );
        let flags = RawSettings {
            output: Some(OutputFormat::Text),
            ..Default::default()
        };
        assert_eq!(
            presentation(&merge(&flags, file), false).output,
            OutputFormat::Text
        );
        assert_eq!(
            presentation(&RawSettings::default(), true).output,
            OutputFormat::Text
        );
    }

    #[test]
    fn file_rejects_unknown_keys_and_wrong_types() {
        assert!(parse_file(r#"{"github_repository": "acme/app"}"#).is_err());
        assert!(parse_file(r#"{"branches": "main"}"#).is_err());
        assert!(parse_file(r#"{"github-repo": "acme/app", "any-ref": true}"#).is_ok());
        let wrong = parse_file(r#"{"github_repo": "acme/app", "branches": "main"}"#).unwrap_err();
        assert!(
            wrong.starts_with("key \"branches\": invalid type"),
            "{wrong}"
        );
    }

    #[test]
    fn a_kms_key_elsewhere_is_a_conflict() {
        let key = "arn:aws:kms:us-east-1:123456789012:key/abc";
        assert_eq!(kms_key_region_conflict(key, "eu-west-1"), Some("us-east-1"));
        assert_eq!(kms_key_region_conflict(key, "us-east-1"), None);
        assert_eq!(kms_key_region_conflict("not-an-arn", "us-east-1"), None);
    }
}
