//! Many repositories in one settings file: `"repositories": [{…}, …]` entries over the file's
//! top-level defaults, names from templates (`{owner}`, `{repo}`), unique across entries.
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{AuthMode, RawSettings, Settings, merge, parse_settings, validate};
use crate::error::{Error, Result};

/// The settings file: its top-level settings and, in the many-repositories form, the entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SettingsFile {
    #[serde(flatten)]
    pub defaults: RawSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Vec<RawSettings>>,
}

/// What a command acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One repository: the flags over the file, as before there were entries.
    One(Box<RawSettings>),
    /// The file's entries (or the one `--github-repo` picked), each with the flags and the
    /// file's defaults under it. Output is grouped by repository.
    Many(Vec<RawSettings>),
}

/// Names in the many-repositories form when an entry sets none (the contract's defaults).
pub const ENTRY_ROLE_NAME: &str = "GitHubActions-{repo}-ECR";
pub const ENTRY_POLICY_NAME: &str = "{repo}-ECR-Push";
pub const ENTRY_ECR_REPOSITORY: &str = "{repo}";
pub const ENTRY_USER_NAME: &str = "github-actions-{repo}-ecr";

/// Keys that belong to the whole file, never to one entry.
const FILE_ONLY: [&str; 4] = ["output", "color", "account_id", "repositories"];

/// Parses the file's JSON; `repositories`, when present, must be a list of settings objects.
pub(super) fn parse(text: &str) -> std::result::Result<SettingsFile, String> {
    let Ok(Value::Object(mut top)) = serde_json::from_str::<Value>(text) else {
        // Not an object (or not JSON): the settings parser says why, with a line and column.
        return parse_settings(text).map(|defaults| SettingsFile {
            defaults,
            repositories: None,
        });
    };
    let Some(listed) = top.remove("repositories") else {
        return parse_settings(text).map(|defaults| SettingsFile {
            defaults,
            repositories: None,
        });
    };
    let Value::Array(items) = listed else {
        return Err(
            "key \"repositories\": expected a list of objects such as [{\"github_repo\": \"acme/app\"}]"
                .into(),
        );
    };
    if top.contains_key("github_repo") || top.contains_key("github-repo") {
        return Err("key \"github_repo\" is at the top level next to \"repositories\": move it into an entry of the list (the top level holds the defaults for every entry)".into());
    }
    let defaults = parse_settings(&Value::Object(top).to_string())?;
    let mut entries = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(format!(
                "repositories[{i}]: expected an object such as {{\"github_repo\": \"acme/app\"}}"
            ));
        };
        entries.push(parse_entry(i, map)?);
    }
    if entries.is_empty() {
        return Err("key \"repositories\" is an empty list: list at least one {\"github_repo\": \"OWNER/REPO\"}, or remove the key".into());
    }
    Ok(SettingsFile {
        defaults,
        repositories: Some(entries),
    })
}

fn parse_entry(i: usize, map: Map<String, Value>) -> std::result::Result<RawSettings, String> {
    let label = map
        .get("github_repo")
        .or_else(|| map.get("github-repo"))
        .and_then(Value::as_str)
        .map(|r| format!("repositories[{i}] ({r})"))
        .unwrap_or_else(|| format!("repositories[{i}]"));
    if let Some(key) = map
        .keys()
        .find(|k| FILE_ONLY.contains(&k.replace('-', "_").as_str()))
    {
        return Err(format!(
            "{label}: key {key:?} applies to the whole file: set it at the top level, not in an entry"
        ));
    }
    if !map.contains_key("github_repo") && !map.contains_key("github-repo") {
        return Err(format!(
            "{label}: \"github_repo\" is required in every entry (OWNER/REPO, e.g. acme/app)"
        ));
    }
    parse_settings(&Value::Object(map).to_string()).map_err(|e| format!("{label}: {e}"))
}

/// What the command acts on: the flags over the file, or over each entry and the defaults.
/// `--github-repo` picks the entry of that name (GitHub's names are case-insensitive).
pub fn resolve(flags: &RawSettings, file: SettingsFile) -> Result<Scope> {
    let Some(entries) = file.repositories else {
        return Ok(Scope::One(Box::new(merge(flags, file.defaults))));
    };
    let picked: Vec<RawSettings> = match &flags.github_repo {
        None => entries,
        Some(wanted) => {
            let (picked, others): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| {
                e.github_repo
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(wanted))
            });
            if picked.is_empty() {
                let listed: Vec<String> =
                    others.into_iter().filter_map(|e| e.github_repo).collect();
                return Err(Error::Usage(format!(
                    "--github-repo {wanted} is not one of the repositories in the settings file ({}).\n  Pick one of them, or add it with `skyecr-bootstrap init --github-repo {wanted}`.",
                    listed.join(", ")
                )));
            }
            picked
        }
    };
    let flags = RawSettings {
        github_repo: None,
        ..flags.clone()
    };
    Ok(Scope::Many(
        picked
            .into_iter()
            .map(|entry| with_entry_names(merge(&flags, entry.over(file.defaults.clone()))))
            .collect(),
    ))
}

/// An entry's names default to the per-repository templates, not to the single setup's names.
fn with_entry_names(mut raw: RawSettings) -> RawSettings {
    for (value, template) in [
        (&mut raw.role_name, ENTRY_ROLE_NAME),
        (&mut raw.policy_name, ENTRY_POLICY_NAME),
        (&mut raw.ecr_repository, ENTRY_ECR_REPOSITORY),
        (&mut raw.user_name, ENTRY_USER_NAME),
    ] {
        value.get_or_insert_with(|| template.to_string());
    }
    raw
}

/// `{owner}` and `{repo}` in the name settings → the entry's repository. ECR names are
/// lowercase only, so what is put into the ECR repository name is lowercased.
pub(super) fn expand_names(raw: &mut RawSettings) {
    let Some((owner, repo)) = raw
        .github_repo
        .as_deref()
        .filter(|r| super::is_github_repo(r))
        .and_then(|r| r.split_once('/'))
        .map(|(o, n)| (o.to_string(), n.to_string()))
    else {
        return;
    };
    let expand = |value: &mut Option<String>, lower: bool| {
        if let Some(v) = value {
            let (o, r) = match lower {
                true => (owner.to_ascii_lowercase(), repo.to_ascii_lowercase()),
                false => (owner.clone(), repo.clone()),
            };
            *v = v.replace("{owner}", &o).replace("{repo}", &r);
        }
    };
    expand(&mut raw.role_name, false);
    expand(&mut raw.policy_name, false);
    expand(&mut raw.user_name, false);
    expand(&mut raw.secret_name, false);
    expand(&mut raw.ecr_repository, true);
}

/// Every entry validated (all problems at once, each named by its repository), and the names
/// checked unique across entries: all before any request.
pub fn validate_entries(entries: &[RawSettings]) -> Result<Vec<Settings>> {
    let mut problems = Vec::new();
    let mut valid = Vec::new();
    for raw in entries {
        let label = raw.github_repo.clone().unwrap_or_default();
        match validate(raw) {
            Ok(s) => valid.push(s),
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Usage(format!(
            "the settings file's repositories have invalid settings:\n{}",
            problems.join("\n")
        )));
    }
    check_unique(&valid)?;
    Ok(valid)
}

/// Two entries under one name would be one resource fought over: refused, naming both.
/// IAM names are unique regardless of case; the role counts in OIDC mode, the user in
/// access-key mode.
fn check_unique(entries: &[Settings]) -> Result<()> {
    type Name = fn(&Settings) -> Option<&str>;
    let kinds: [(&str, &str, Name); 5] = [
        ("GitHub repository", "github_repo", |_| None),
        ("role name", "role_name", |s| {
            (s.auth == AuthMode::Oidc).then_some(s.role_name.as_str())
        }),
        ("user name", "user_name", |s| {
            (s.auth == AuthMode::AccessKey).then_some(s.user_name.as_str())
        }),
        ("policy name", "policy_name", |s| {
            Some(s.policy_name.as_str())
        }),
        ("ECR repository", "ecr_repository", |s| {
            Some(s.ecr_repository.as_str())
        }),
    ];
    let mut clashes = Vec::new();
    for (what, key, name) in kinds {
        let mut seen: Vec<(String, String)> = Vec::new();
        for s in entries {
            let repo = s.github.to_string();
            let value = match key {
                "github_repo" => repo.clone(),
                _ => match name(s) {
                    Some(v) => v.to_string(),
                    None => continue,
                },
            };
            match seen
                .iter()
                .find(|(v, _)| v.eq_ignore_ascii_case(&value))
            {
                Some((_, first)) => clashes.push(format!(
                    "  {what} {value} is used by both {first} and {repo}: give one of them its own \"{key}\"{}",
                    hint(key)
                )),
                None => seen.push((value, repo)),
            }
        }
    }
    if clashes.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "names must be unique across the settings file's repositories; nothing was read or changed:\n{}",
        clashes.join("\n")
    )))
}

fn hint(key: &str) -> &'static str {
    match key {
        "github_repo" => " (each repository is listed once)",
        "role_name" => " (e.g. \"GitHubActions-{owner}-{repo}-ECR\")",
        "user_name" => " (e.g. \"github-actions-{owner}-{repo}-ecr\")",
        "policy_name" => " (e.g. \"{owner}-{repo}-ECR-Push\")",
        _ => " (e.g. \"{owner}/{repo}\")",
    }
}

/// The file with `raw` added as an entry (`init` in a file that has entries, or that is set up
/// for another repository: its names are then written into its entry, so they stay as they are).
pub fn add_repository(file: SettingsFile, raw: RawSettings) -> SettingsFile {
    let mut file = file;
    let mut entries = match file.repositories.take() {
        Some(entries) => entries,
        None => {
            let single = std::mem::take(&mut file.defaults);
            let mut entry = RawSettings {
                output: None,
                color: None,
                account_id: None,
                ..single.clone()
            };
            // The single setup's names, spelled out: the entries' defaults differ.
            entry
                .role_name
                .get_or_insert_with(|| super::DEFAULT_ROLE_NAME.into());
            entry
                .policy_name
                .get_or_insert_with(|| super::DEFAULT_POLICY_NAME.into());
            entry
                .ecr_repository
                .get_or_insert_with(|| super::DEFAULT_ECR_REPOSITORY.into());
            entry
                .user_name
                .get_or_insert_with(|| super::DEFAULT_USER_NAME.into());
            file.defaults = RawSettings {
                output: single.output,
                color: single.color,
                account_id: single.account_id,
                ..RawSettings::default()
            };
            vec![entry]
        }
    };
    let same = |e: &RawSettings| {
        e.github_repo
            .as_deref()
            .zip(raw.github_repo.as_deref())
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
    };
    match entries.iter_mut().find(|e| same(e)) {
        Some(existing) => *existing = raw,
        None => entries.push(raw),
    }
    file.repositories = Some(entries);
    file
}

/// What `init` starts from: the flags over the file, or, where the file lists repositories or
/// is set up for another one, over the entry it would add or change (with the entries' names).
pub fn init_given(flags: &RawSettings, file: &SettingsFile) -> RawSettings {
    let same = |e: &RawSettings| {
        e.github_repo
            .as_deref()
            .zip(flags.github_repo.as_deref())
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
    };
    match &file.repositories {
        Some(entries) => {
            let entry = entries
                .iter()
                .find(|e| same(e))
                .cloned()
                .unwrap_or_default();
            with_entry_names(merge(flags, entry.over(file.defaults.clone())))
        }
        None if flags.github_repo.is_some()
            && file.defaults.github_repo.is_some()
            && !same(&file.defaults) =>
        {
            let whole_file = RawSettings {
                output: file.defaults.output,
                color: file.defaults.color,
                account_id: file.defaults.account_id.clone(),
                ..RawSettings::default()
            };
            with_entry_names(merge(flags, whole_file))
        }
        None => merge(flags, file.defaults.clone()),
    }
}

/// The file `init` would save with `answers`: one whose entries clash is refused before
/// anything is applied (an answer that kept another entry's names, say).
pub fn check_answers(file: &SettingsFile, answers: &RawSettings) -> Result<()> {
    let Some(file) = answers_file(file, answers) else {
        return Ok(());
    };
    let entries = match resolve(&RawSettings::default(), file)? {
        Scope::Many(entries) => entries,
        Scope::One(_) => return Ok(()),
    };
    validate_entries(&entries).map(|_| ()).map_err(|e| {
        Error::Usage(format!(
            "{e}\n  These answers would be an entry of the settings file beside the others: change the names (\"Change resource names\") so that they differ."
        ))
    })
}

/// The many-repositories file with `answers` as an entry, when the answers go into one.
fn answers_file(file: &SettingsFile, answers: &RawSettings) -> Option<SettingsFile> {
    let another = file.defaults.github_repo.as_deref().is_some_and(|r| {
        answers
            .github_repo
            .as_deref()
            .is_none_or(|a| !a.eq_ignore_ascii_case(r))
    });
    if file.repositories.is_none() && !another {
        return None;
    }
    let entry = RawSettings {
        output: None,
        color: None,
        account_id: None,
        ..answers.clone()
    };
    let mut file = add_repository(file.clone(), entry);
    if answers.account_id.is_some() {
        file.defaults.account_id = answers.account_id.clone();
    }
    Some(file)
}

/// Saves `init`'s answers: the whole file for one repository, or the answers' entry (added, or
/// replacing the entry of that repository) where the file lists several or holds another.
pub fn save_answers(path: &Path, file: &SettingsFile, answers: &RawSettings) -> Result<bool> {
    match answers_file(file, answers) {
        Some(file) => save_file(path, &file),
        None => super::save(path, answers),
    }
}

/// Records the account in the file's top level (the entries keep their own keys).
pub fn save_account(path: &Path, file: &SettingsFile, account_id: &str) -> Result<bool> {
    let mut file = file.clone();
    file.defaults.account_id = Some(account_id.to_string());
    save_file(path, &file)
}

/// Writes the file (atomically, never through a link); a file that already says exactly that
/// is left alone. Returns whether anything changed.
pub fn save_file(path: &Path, file: &SettingsFile) -> Result<bool> {
    let text = serde_json::to_string_pretty(file)
        .map_err(|e| Error::Io(format!("cannot serialize the settings: {e}")))?;
    let text = format!("{text}\n");
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    crate::files::write_atomically(path, &text)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SettingsFile {
        parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn many(flags: &RawSettings, text: &str) -> Vec<Settings> {
        match resolve(flags, file(text)).unwrap() {
            Scope::Many(entries) => validate_entries(&entries).unwrap(),
            Scope::One(_) => panic!("expected entries"),
        }
    }

    const TWO: &str = r#"{
        "region": "eu-west-1", "branches": ["main"],
        "repositories": [
            {"github_repo": "acme/Web"},
            {"github_repo": "acme/api", "branches": ["release"], "role_name": "Api-{owner}-Role", "ecr_repository": "team/{repo}"}
        ]}"#;

    #[test]
    fn entries_take_the_defaults_and_their_own_keys() {
        let entries = many(&RawSettings::default(), TWO);
        assert_eq!(entries.len(), 2);
        let (web, api) = (&entries[0], &entries[1]);
        assert_eq!(web.github.to_string(), "acme/Web");
        assert_eq!(web.role_name, "GitHubActions-Web-ECR");
        assert_eq!(web.policy_name, "Web-ECR-Push");
        assert_eq!(web.ecr_repository, "web");
        assert_eq!(web.user_name, "github-actions-Web-ecr");
        assert_eq!(web.region.as_deref(), Some("eu-west-1"));
        assert_eq!(web.scopes.branches, vec!["main".to_string()]);
        assert_eq!(api.role_name, "Api-acme-Role");
        assert_eq!(api.ecr_repository, "team/api");
        assert_eq!(api.scopes.branches, vec!["release".to_string()]);
    }

    #[test]
    fn flags_sit_over_every_entry_and_github_repo_picks_one() {
        let flags = RawSettings {
            region: Some("us-west-2".into()),
            github_repo: Some("ACME/api".into()),
            ..Default::default()
        };
        let entries = many(&flags, TWO);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].github.to_string(), "acme/api");
        assert_eq!(entries[0].region.as_deref(), Some("us-west-2"));
        let flags = RawSettings {
            github_repo: Some("acme/other".into()),
            ..Default::default()
        };
        let Err(Error::Usage(message)) = resolve(&flags, file(TWO)) else {
            panic!("an unlisted repository was picked");
        };
        assert!(message.contains("acme/Web, acme/api"), "{message}");
    }

    #[test]
    fn names_must_be_unique_across_entries() {
        let text = r#"{"branches": ["main"], "repositories": [
            {"github_repo": "acme/app"}, {"github_repo": "other/app"}]}"#;
        let Scope::Many(entries) = resolve(&RawSettings::default(), file(text)).unwrap() else {
            panic!("expected entries");
        };
        let Err(Error::Usage(message)) = validate_entries(&entries) else {
            panic!("two entries with one role name were accepted");
        };
        assert!(
            message
                .contains("role name GitHubActions-app-ECR is used by both acme/app and other/app"),
            "{message}"
        );
        assert!(message.contains("ECR repository app"), "{message}");
        // The role only counts where it is used: access-key entries have none.
        let text = r#"{"branches": ["main"], "auth": "access-key", "role_name": "Same", "repositories": [
            {"github_repo": "acme/api"}, {"github_repo": "acme/web"}]}"#;
        assert_eq!(many(&RawSettings::default(), text).len(), 2);
        // IAM names clash regardless of case.
        let text = r#"{"branches": ["main"], "repositories": [
            {"github_repo": "acme/api", "policy_name": "Push"}, {"github_repo": "acme/web", "policy_name": "PUSH"}]}"#;
        let Scope::Many(entries) = resolve(&RawSettings::default(), file(text)).unwrap() else {
            panic!("expected entries");
        };
        assert!(validate_entries(&entries).is_err());
    }

    #[test]
    fn a_bad_entry_is_named() {
        for (text, wanted) in [
            (
                r#"{"repositories": [{"github_repo": "acme/a", "output": "json"}]}"#,
                "repositories[0] (acme/a): key \"output\" applies to the whole file",
            ),
            (
                r#"{"repositories": [{"branches": ["main"]}]}"#,
                "repositories[0]: \"github_repo\" is required",
            ),
            (
                r#"{"repositories": [{"github_repo": "acme/a", "yes": true}]}"#,
                "can only be given on the command line",
            ),
            (
                r#"{"repositories": [{"github_repo": "acme/a", "brnches": ["main"]}]}"#,
                "repositories[0] (acme/a): ",
            ),
            (
                r#"{"github_repo": "acme/a", "repositories": [{"github_repo": "acme/b"}]}"#,
                "move it into an entry",
            ),
            (r#"{"repositories": []}"#, "empty list"),
            (
                r#"{"repositories": {"github_repo": "acme/a"}}"#,
                "a list of objects",
            ),
        ] {
            let err = super::super::parse_file(text).unwrap_err();
            assert!(err.contains(wanted), "{text}: {err}");
        }
    }

    #[test]
    fn templates_expand_in_one_repository_too() {
        let raw = RawSettings {
            github_repo: Some("Acme/Web".into()),
            branches: vec!["main".into()],
            role_name: Some("{owner}-{repo}-push".into()),
            ecr_repository: Some("{owner}/{repo}".into()),
            ..Default::default()
        };
        let s = validate(&raw).unwrap();
        assert_eq!(s.role_name, "Acme-Web-push");
        assert_eq!(s.ecr_repository, "acme/web");
    }

    #[test]
    fn adding_a_repository_keeps_the_first_ones_names() {
        let single = file(
            r#"{"github_repo": "acme/app", "branches": ["main"], "account_id": "123456789012"}"#,
        );
        let added = add_repository(
            single,
            RawSettings {
                github_repo: Some("acme/web".into()),
                branches: vec!["main".into()],
                ..Default::default()
            },
        );
        let text = serde_json::to_string(&added).unwrap();
        let reread = file(&text);
        assert_eq!(reread, added);
        let Scope::Many(entries) = resolve(&RawSettings::default(), reread).unwrap() else {
            panic!("expected entries");
        };
        let entries = validate_entries(&entries).unwrap();
        assert_eq!(entries[0].role_name, "GitHubActions-SkyPilot-ECR");
        assert_eq!(entries[0].ecr_repository, "skypilot");
        assert_eq!(entries[1].role_name, "GitHubActions-web-ECR");
        assert_eq!(entries[1].account_id.as_deref(), Some("123456789012"));
    }
}
