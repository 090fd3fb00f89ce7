//! Flags + `skyecr.json` → validated settings. Pure apart from reading the file.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::{AuthArg, ColorArg, EncryptionArg, OutputArg, SecretScopeArg, SettingsArgs};
use crate::error::{Error, InvalidInput, Result};

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
}

/// Where the role ARN secret is written: the repository, or each chosen environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    pub output: OutputArg,
    pub yes: bool,
    pub color: ColorArg,
}

/// The settings file: every flag is a key (snake_case; the flag spelling is accepted too).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    #[serde(alias = "github-repo", skip_serializing_if = "Option::is_none")]
    pub github_repo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMode>,
    #[serde(alias = "ecr-repository", skip_serializing_if = "Option::is_none")]
    pub ecr_repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionName>,
    #[serde(alias = "kms-key", skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    #[serde(alias = "role-name", skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    #[serde(alias = "policy-name", skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    #[serde(alias = "user-name", skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(alias = "branch", default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<String>,
    #[serde(alias = "tag", default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(alias = "environment", default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    #[serde(alias = "any-ref", default, skip_serializing_if = "std::ops::Not::not")]
    pub any_ref: bool,
    #[serde(alias = "secret-name", skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(alias = "oidc-issuer", skip_serializing_if = "Option::is_none")]
    pub oidc_issuer: Option<String>,
    #[serde(alias = "secret-scope", skip_serializing_if = "Option::is_none")]
    pub secret_scope: Option<SecretScope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputArg>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub yes: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<ColorArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptionName {
    Aes256,
    Kms,
}

/// Reads `--config PATH`, or `./skyecr.json` when it exists.
pub fn load_file(explicit: Option<&Path>) -> Result<FileSettings> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FileSettings::default());
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

pub fn parse_file(text: &str) -> std::result::Result<FileSettings, String> {
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
        serde_json::from_value::<FileSettings>(alone)
            .is_err()
            .then_some(key)
    })
}

/// Whether `v` is an `OWNER/REPO` name as GitHub allows it (no wildcard, no path, ASCII).
pub fn is_github_repo(v: &str) -> bool {
    check_github_repo(v).is_ok()
}

/// Flags win over the file; a list given on the command line replaces the file's list.
pub fn merge(flags: &SettingsArgs, file: FileSettings) -> FileSettings {
    fn pick<T: Clone>(flag: &Option<T>, file: Option<T>) -> Option<T> {
        flag.clone().or(file)
    }
    fn pick_list(flag: &[String], file: Vec<String>) -> Vec<String> {
        if flag.is_empty() { file } else { flag.to_vec() }
    }
    FileSettings {
        github_repo: pick(&flags.github_repo, file.github_repo),
        region: pick(&flags.region, file.region),
        profile: pick(&flags.profile, file.profile),
        auth: flags
            .auth
            .map(|a| match a {
                AuthArg::Oidc => AuthMode::Oidc,
                AuthArg::AccessKey => AuthMode::AccessKey,
            })
            .or(file.auth),
        ecr_repository: pick(&flags.ecr_repository, file.ecr_repository),
        encryption: flags
            .encryption
            .map(|e| match e {
                EncryptionArg::Aes256 => EncryptionName::Aes256,
                EncryptionArg::Kms => EncryptionName::Kms,
            })
            .or(file.encryption),
        kms_key: pick(&flags.kms_key, file.kms_key),
        role_name: pick(&flags.role_name, file.role_name),
        policy_name: pick(&flags.policy_name, file.policy_name),
        user_name: pick(&flags.user_name, file.user_name),
        branches: pick_list(&flags.branches, file.branches),
        tags: pick_list(&flags.tags, file.tags),
        environments: pick_list(&flags.environments, file.environments),
        any_ref: flags.any_ref || file.any_ref,
        secret_name: pick(&flags.secret_name, file.secret_name),
        oidc_issuer: pick(&flags.oidc_issuer, file.oidc_issuer),
        secret_scope: flags
            .secret_scope
            .map(|s| match s {
                SecretScopeArg::Repository => SecretScope::Repository,
                SecretScopeArg::Environment => SecretScope::Environment,
            })
            .or(file.secret_scope),
        output: flags.output.or(file.output),
        yes: flags.yes || file.yes,
        color: flags.color.or(file.color),
    }
}

/// How results are shown: flags, then the settings file, then the defaults.
pub fn presentation(merged: &FileSettings) -> Presentation {
    Presentation {
        output: merged.output.unwrap_or_default(),
        yes: merged.yes,
        color: merged.color.unwrap_or_default(),
    }
}

/// Validates every value; all problems are reported at once.
pub fn validate(raw: &FileSettings) -> Result<Settings> {
    let mut errors = Vec::new();

    let github_repo = raw.github_repo.clone().unwrap_or_default();
    let mut github = RepoName {
        owner: String::new(),
        name: String::new(),
    };
    if raw.github_repo.is_none() {
        errors.push(InvalidInput {
            flag: "--github-repo",
            problem: "is required".into(),
            expected: GITHUB_REPO_FORM,
        });
    } else {
        check(
            &mut errors,
            "--github-repo",
            GITHUB_REPO_FORM,
            &github_repo,
            check_github_repo,
        );
        if let Some((o, n)) = github_repo.split_once('/') {
            github = RepoName {
                owner: o.to_string(),
                name: n.to_string(),
            };
        }
    }
    if let Some(r) = &raw.region {
        check(&mut errors, "--region", REGION_FORM, r, check_region);
    }
    if let Some(p) = &raw.profile {
        check(&mut errors, "--profile", PROFILE_FORM, p, check_profile);
    }
    let ecr_repository = raw
        .ecr_repository
        .clone()
        .unwrap_or_else(|| DEFAULT_ECR_REPOSITORY.into());
    check(
        &mut errors,
        "--ecr-repository",
        ECR_NAME_FORM,
        &ecr_repository,
        check_ecr_repository,
    );
    let role_name = raw
        .role_name
        .clone()
        .unwrap_or_else(|| DEFAULT_ROLE_NAME.into());
    check(
        &mut errors,
        "--role-name",
        ROLE_NAME_FORM,
        &role_name,
        |v| check_iam_name(v, 64),
    );
    let policy_name = raw
        .policy_name
        .clone()
        .unwrap_or_else(|| DEFAULT_POLICY_NAME.into());
    check(
        &mut errors,
        "--policy-name",
        POLICY_NAME_FORM,
        &policy_name,
        |v| check_iam_name(v, 128),
    );
    let user_name = raw
        .user_name
        .clone()
        .unwrap_or_else(|| DEFAULT_USER_NAME.into());
    check(
        &mut errors,
        "--user-name",
        USER_NAME_FORM,
        &user_name,
        |v| check_iam_name(v, 64),
    );
    let secret_name = raw
        .secret_name
        .clone()
        .unwrap_or_else(|| DEFAULT_SECRET_NAME.into());
    check(
        &mut errors,
        "--secret-name",
        SECRET_NAME_FORM,
        &secret_name,
        check_secret_name,
    );
    let issuer = raw
        .oidc_issuer
        .clone()
        .unwrap_or_else(|| DEFAULT_ISSUER.into());
    check(
        &mut errors,
        "--oidc-issuer",
        ISSUER_FORM,
        &issuer,
        check_issuer,
    );
    for b in &raw.branches {
        check(&mut errors, "--branch", BRANCH_FORM, b, check_branch);
    }
    for t in &raw.tags {
        check(&mut errors, "--tag", TAG_FORM, t, check_tag_pattern);
    }
    for e in &raw.environments {
        check(
            &mut errors,
            "--environment",
            ENVIRONMENT_FORM,
            e,
            check_environment,
        );
    }

    let encryption = match (raw.encryption, &raw.kms_key) {
        (Some(EncryptionName::Kms), key) => {
            if let Some(k) = key {
                check(&mut errors, "--kms-key", KMS_FORM, k, check_kms_key);
            }
            Encryption::Kms(key.clone())
        }
        (_, Some(_)) => {
            errors.push(InvalidInput {
                flag: "--kms-key",
                problem: "is only used with --encryption kms".into(),
                expected: "--encryption kms --kms-key arn:aws:kms:REGION:ACCOUNT:key/ID",
            });
            Encryption::Aes256
        }
        _ => Encryption::Aes256,
    };
    if let (Encryption::Kms(Some(key)), Some(region)) = (&encryption, &raw.region)
        && let Some(key_region) = key.split(':').nth(3)
        && !key_region.is_empty()
        && key_region != region
    {
        errors.push(InvalidInput {
            flag: "--kms-key",
            problem: format!("is in {key_region}, but the repository is in {region}"),
            expected: "a KMS key in the repository's region (ECR requires it)",
        });
    }
    if raw.any_ref
        && (!raw.branches.is_empty() || !raw.tags.is_empty() || !raw.environments.is_empty())
    {
        errors.push(InvalidInput {
            flag: "--any-ref",
            problem: "already allows every branch, tag and environment, so it cannot be combined with --branch/--tag/--environment".into(),
            expected: "either --any-ref alone, or a list of --branch/--tag/--environment",
        });
    }

    let secret_scope = raw.secret_scope.unwrap_or_default();
    if secret_scope == SecretScope::Environment && raw.environments.is_empty() {
        errors.push(InvalidInput {
            flag: "--secret-scope",
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
        scopes: TrustScopes {
            branches: raw.branches.clone(),
            tags: raw.tags.clone(),
            environments: raw.environments.clone(),
            any_ref: raw.any_ref,
        },
        secret_name: secret_name.to_ascii_uppercase(),
        secret_scope,
        issuer: Issuer(issuer),
    })
}

fn check(
    errors: &mut Vec<InvalidInput>,
    flag: &'static str,
    expected: &'static str,
    value: &str,
    rule: fn(&str) -> Check,
) {
    if let Err(problem) = rule(value) {
        errors.push(InvalidInput {
            flag,
            problem: format!("{} {problem}", shown(value)),
            expected,
        });
    }
}

/// Validates a branch given to a command-specific flag, with the same rules as `--branch`.
pub fn check_branch_flag(flag: &'static str, value: &str) -> Result<()> {
    let mut errors = Vec::new();
    check(&mut errors, flag, BRANCH_FORM, value, check_branch);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidSettings(errors))
    }
}

/// Validates one value with the same rule as `flag` (the wizard asks again until it passes).
pub fn check_value(flag: &'static str, value: &str) -> std::result::Result<(), InvalidInput> {
    let (expected, rule): (&'static str, fn(&str) -> Check) = match flag {
        "--github-repo" => (GITHUB_REPO_FORM, check_github_repo),
        "--region" => (REGION_FORM, check_region),
        "--profile" => (PROFILE_FORM, check_profile),
        "--ecr-repository" => (ECR_NAME_FORM, check_ecr_repository),
        "--role-name" => (ROLE_NAME_FORM, |v| check_iam_name(v, 64)),
        "--policy-name" => (POLICY_NAME_FORM, |v| check_iam_name(v, 128)),
        "--user-name" => (USER_NAME_FORM, |v| check_iam_name(v, 64)),
        "--secret-name" => (SECRET_NAME_FORM, check_secret_name),
        "--oidc-issuer" => (ISSUER_FORM, check_issuer),
        "--branch" => (BRANCH_FORM, check_branch),
        "--tag" => (TAG_FORM, check_tag_pattern),
        "--environment" => (ENVIRONMENT_FORM, check_environment),
        "--kms-key" => (KMS_FORM, check_kms_key),
        _ => {
            return Err(InvalidInput {
                flag,
                problem: "is not a setting that takes a value".into(),
                expected: "one of the flags listed by --help",
            });
        }
    };
    let mut errors = Vec::new();
    check(&mut errors, flag, expected, value, rule);
    errors.pop().map_or(Ok(()), Err)
}

/// `os/arch[/variant]`, as buildx takes it.
pub fn check_platform(value: &str) -> Result<()> {
    let parts: Vec<&str> = value.split('/').collect();
    let ok = (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidSettings(vec![InvalidInput {
            flag: "--platforms",
            problem: format!("{} is not a platform", shown(value)),
            expected: "comma-separated os/arch[/variant], e.g. linux/amd64,linux/arm64",
        }]))
    }
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

const GITHUB_REPO_FORM: &str = "OWNER/REPO, e.g. acme/app";
const REGION_FORM: &str = "an AWS region such as us-east-1";
const PROFILE_FORM: &str = "a profile name from ~/.aws/config";
const ECR_NAME_FORM: &str =
    "2-256 lowercase letters, digits and . _ - /, starting and ending with a letter or digit";
const ROLE_NAME_FORM: &str = "1-64 letters, digits and + = , . @ _ -";
const POLICY_NAME_FORM: &str = "1-128 letters, digits and + = , . @ _ -";
const USER_NAME_FORM: &str = "1-64 letters, digits and + = , . @ _ -";
const SECRET_NAME_FORM: &str = "letters, digits and _, not starting with a digit or GITHUB_";
const ISSUER_FORM: &str = "https://token.actions.githubusercontent.com[/ENTERPRISE] or https://HOST/_services/token, without a trailing /";
const BRANCH_FORM: &str =
    "a git branch name such as main or release/1.x (no wildcards, spaces, ~ ^ : ? * [ \\ or ..)";
const TAG_FORM: &str =
    "a git tag name or pattern such as v1.2.3 or v* (* allowed; no spaces, ~ ^ : ? [ \\ or ..)";
const ENVIRONMENT_FORM: &str =
    "a GitHub environment name: 1-255 printable characters, no * ? or surrounding spaces";
const KMS_FORM: &str =
    "arn:aws:kms:REGION:ACCOUNT:key/KEY-ID or arn:aws:kms:REGION:ACCOUNT:alias/NAME";

/// Quotes a value for an error message, escaping control characters so output stays one line.
fn shown(value: &str) -> String {
    let short: String = value.chars().take(80).collect();
    let ellipsis = if value.chars().count() > 80 {
        "…"
    } else {
        ""
    };
    format!("{:?}{ellipsis}", short)
}

type Check = std::result::Result<(), String>;

fn check_github_repo(v: &str) -> Check {
    let Some((owner, name)) = v.split_once('/') else {
        return Err("has no /".into());
    };
    if owner.is_empty() || owner.len() > 39 {
        return Err("has an owner that is not 1-39 characters".into());
    }
    if !owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || owner.starts_with('-')
        || owner.ends_with('-')
    {
        return Err("has an owner that is not letters, digits and inner hyphens".into());
    }
    if name.is_empty() || name.len() > 100 {
        return Err("has a repository name that is not 1-100 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        || name == "."
        || name == ".."
    {
        return Err("has a repository name that is not letters, digits, . _ and -".into());
    }
    Ok(())
}

fn check_region(v: &str) -> Check {
    let parts: Vec<&str> = v.split('-').collect();
    let shape_ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase());
    if !shape_ok || v.len() > 32 {
        return Err("is not an AWS region name".into());
    }
    Ok(())
}

/// Characters that render as nothing or reorder the text around them (zero-width characters,
/// bidirectional controls, BOM, soft hyphen, variation selectors, tags): a name holding one
/// looks like another name in every plan, log and policy.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{E0000}'..='\u{E0FFF}')
}

fn check_visible(v: &str) -> Check {
    match v.chars().find(|&c| is_invisible(c)) {
        Some(c) => Err(format!(
            "contains the invisible character U+{:04X}, which makes it look like another name",
            c as u32
        )),
        None => Ok(()),
    }
}

fn check_profile(v: &str) -> Check {
    check_visible(v)?;
    if v.is_empty() || v.len() > 128 || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("is not a profile name".into());
    }
    Ok(())
}

fn check_ecr_repository(v: &str) -> Check {
    if v.len() < 2 || v.len() > 256 {
        return Err("is not 2-256 characters".into());
    }
    for segment in v.split('/') {
        let components_ok = !segment.is_empty()
            && segment.split(['.', '_', '-']).all(|c| {
                !c.is_empty()
                    && c.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            });
        if !components_ok {
            return Err("is not a valid ECR repository name".into());
        }
    }
    Ok(())
}

fn check_iam_name(v: &str, max: usize) -> Check {
    if v.is_empty() || v.len() > max {
        return Err(format!("is not 1-{max} characters"));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err("contains a character IAM does not allow".into());
    }
    Ok(())
}

fn check_secret_name(v: &str) -> Check {
    if v.is_empty() || v.len() > 255 {
        return Err("is not 1-255 characters".into());
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("contains a character GitHub does not allow in secret names".into());
    }
    if v.starts_with(|c: char| c.is_ascii_digit()) || v.to_ascii_uppercase().starts_with("GITHUB_")
    {
        return Err("starts with a digit or GITHUB_".into());
    }
    Ok(())
}

fn check_issuer(v: &str) -> Check {
    let Some(rest) = v.strip_prefix("https://") else {
        return Err("does not start with https://".into());
    };
    if rest.ends_with('/') {
        return Err("ends with / (that names a different OIDC provider)".into());
    }
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !host_ok {
        return Err("does not have a valid host name".into());
    }
    let path_ok = path.is_empty()
        || path.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
        });
    if !path_ok || v.len() > 255 {
        return Err("has a path IAM cannot use as an OIDC provider URL".into());
    }
    Ok(())
}

/// git check-ref-format rules, shared by branches and tag patterns.
fn check_ref_name(v: &str, allow_star: bool) -> Check {
    if v.is_empty() || v.len() > 255 {
        return Err("is not 1-255 characters".into());
    }
    check_visible(v)?;
    let bad_char = v.chars().find(|&c| {
        c.is_control() || c.is_whitespace() || "~^:?[\\".contains(c) || (c == '*' && !allow_star)
    });
    if let Some(c) = bad_char {
        return Err(format!(
            "contains {c:?}, which git does not allow in ref names"
        ));
    }
    if v.contains("..") || v.contains("@{") || v.contains("//") || v == "@" {
        return Err("contains .., @{ or //, which git does not allow".into());
    }
    if v.starts_with(['-', '/', '.']) || v.ends_with(['/', '.']) || v.ends_with(".lock") {
        return Err("starts with - / . or ends with / . .lock".into());
    }
    if v.split('/')
        .any(|c| c.starts_with('.') || c.ends_with(".lock"))
    {
        return Err("has a path component starting with . or ending with .lock".into());
    }
    if v.starts_with("refs/") {
        return Err(
            "starts with refs/: give the short name, the tool adds refs/heads/ or refs/tags/"
                .into(),
        );
    }
    Ok(())
}

fn check_branch(v: &str) -> Check {
    check_ref_name(v, false)
}

fn check_tag_pattern(v: &str) -> Check {
    check_ref_name(v, true)
}

fn check_environment(v: &str) -> Check {
    if v.is_empty() || v.chars().count() > 255 {
        return Err("is not 1-255 characters".into());
    }
    check_visible(v)?;
    if v.chars().any(|c| c.is_control() || c == '*' || c == '?') {
        return Err("contains a control character or a wildcard".into());
    }
    if v.trim() != v {
        return Err("has leading or trailing spaces".into());
    }
    Ok(())
}

fn check_kms_key(v: &str) -> Check {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "kms"
        && check_region(parts[3]).is_ok()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && (parts[5].strip_prefix("key/").is_some_and(|id| {
            !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }) || parts[5].strip_prefix("alias/").is_some_and(|a| {
            !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
        }));
    if !ok {
        return Err("is not a KMS key or alias ARN".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> FileSettings {
        FileSettings {
            github_repo: Some("acme/app".into()),
            branches: vec!["main".into()],
            ..Default::default()
        }
    }

    fn rejects(mutate: impl Fn(&mut FileSettings), flag: &str) {
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
        type Mutation = Box<dyn Fn(&mut FileSettings)>;
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

    #[test]
    fn one_value_is_checked_like_its_flag() {
        assert!(check_value("--ecr-repository", "skypilot").is_ok());
        assert!(check_value("--role-name", &"x".repeat(64)).is_ok());
        assert!(check_value("--tag", "v*").is_ok());
        let err = check_value("--ecr-repository", "Sky").unwrap_err();
        assert_eq!(err.flag, "--ecr-repository");
        assert_eq!(err.problem, "\"Sky\" is not a valid ECR repository name");
        assert_eq!(err.expected, ECR_NAME_FORM);
        assert!(check_value("--branch", "*").is_err());
        assert!(check_value("--role-name", &"x".repeat(65)).is_err());
        assert!(check_value("--policy-name", &"x".repeat(128)).is_ok());
        assert!(check_value("--github-repo", "acme").is_err());
        assert!(check_value("--yes", "x").is_err());
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
        let file = parse_file(
            r#"{"github_repo": "acme/app", "branches": ["main"], "region": "eu-west-1"}"#,
        )
        .unwrap();
        let flags = SettingsArgs {
            region: Some("us-west-2".into()),
            branches: vec!["release".into()],
            ..Default::default()
        };
        let merged = merge(&flags, file);
        assert_eq!(merged.region.as_deref(), Some("us-west-2"));
        assert_eq!(merged.branches, vec!["release".to_string()]);
        assert_eq!(merged.github_repo.as_deref(), Some("acme/app"));
    }

    #[test]
    fn presentation_comes_from_flags_then_the_file() {
        let file = parse_file(r#"{"output": "json", "color": "never"}"#).unwrap();
        let from_file = presentation(&merge(&SettingsArgs::default(), file.clone()));
        assert_eq!(
            (from_file.output, from_file.color),
            (OutputArg::Json, ColorArg::Never)
        );
        let flags = SettingsArgs {
            output: Some(OutputArg::Text),
            ..Default::default()
        };
        assert_eq!(presentation(&merge(&flags, file)).output, OutputArg::Text);
        assert_eq!(
            presentation(&FileSettings::default()).output,
            OutputArg::Text
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
    fn invisible_characters_are_refused_in_names() {
        for bad in [
            "main\u{200B}",
            "ma\u{202E}in",
            "\u{FEFF}main",
            "rel\u{2066}ease",
        ] {
            assert!(check_branch(bad).is_err(), "{bad:?}");
            assert!(check_tag_pattern(bad).is_err(), "{bad:?}");
            assert!(check_environment(bad).is_err(), "{bad:?}");
        }
        assert!(check_branch("héllo/wörld").is_ok());
        assert!(check_environment("production (eu)").is_ok());
    }
}
