//! `init`: the wizard. Asks for every setting, shows where things go and the plan, confirms,
//! applies with progress, saves `skyecr.json`. Nothing is written before the confirmation.
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Context, execute_with, observe_and_plan};
use crate::cli::SettingsArgs;
use crate::cloud::aws::{self, Aws};
use crate::cloud::github::{GitHub, Place, RepoInfo};
use crate::config::{
    self, AuthMode, EncryptionName, OutputFormat, Presentation, RawSettings, RepoName, SecretScope,
    TrustScopes, table,
};
use crate::error::{Error, ExitStatus, Result};
use crate::resources::access_key;
use crate::resources::change::Desire;
use crate::spec::{Desired, Intent};
use crate::ui::progress::Progress;
use crate::ui::wizard::{self, Prompter, note, warn};
use crate::ui::{self, render};

/// Runs blocking prompts off the async runtime, so a Ctrl-C signal is seen at once.
async fn ask<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Prompter) -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&Prompter::new()))
        .await
        .map_err(|e| Error::Io(format!("the prompt stopped unexpectedly: {e}")))?
}

pub async fn init(
    flags: &SettingsArgs,
    file: config::SettingsFile,
    presentation: Presentation,
    no_save: bool,
) -> Result<ExitStatus> {
    // In a file of many repositories (or set up for another one) the answers become an entry.
    let given = config::manifest::init_given(&flags.values, &file);
    let json = presentation.output == OutputFormat::Json;
    if !ui::interactive() {
        return Err(Error::Usage(wizard::refusal(&given, json)));
    }
    let config_file = flags
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_CONFIG_FILE));
    let draft_file = wizard::draft_path(&config_file);

    // The token is proven before the first question, so no answer is typed in vain.
    let github = GitHub::connect()?;
    let login = github.login().await?;
    note(
        "Sets up GitHub Actions → Amazon ECR. Enter keeps the (default); Ctrl-C stops, changing nothing.",
    );
    // Answers given last time and not applied come back as the defaults; flags still win.
    let mut answers = match read_draft(&draft_file) {
        Some(draft) => {
            note(&format!(
                "Offering the answers you gave last time, not applied yet ({}).",
                draft_file.display()
            ));
            config::merge(&flags.values, config::merge(&draft, given.clone()))
        }
        None => given.clone(),
    };

    let repo = ask_repository(&github, &mut answers, &login).await?;
    let mut known = Known {
        github,
        login: login.clone(),
        repo,
        identity: ask_account(&mut answers).await?,
    };
    ask_auth(&mut answers).await?;
    ask_who_may_push(&mut answers, &known.repo, false).await?;
    ask_encryption(&mut answers).await?;
    if ask(|p| {
        p.confirm(
            "Change resource names (ECR repository, role, policy, secret, …)?",
            false,
        )
    })
    .await?
    {
        ask_names(&mut answers).await?;
    }
    fill_names(&mut answers);
    loop {
        eprintln!(
            "\n{}",
            wizard::summary(&answers, &known.identity.account_id)
        );
        let items: Vec<String> = std::iter::once("No, show the plan".to_string())
            .chain(QUESTIONS.iter().map(|(_, label)| label.to_string()))
            .collect();
        let choice = ask(move |p| p.choose("Change an answer?", &items, 0)).await?;
        let Some((question, _)) = choice.checked_sub(1).and_then(|i| QUESTIONS.get(i)) else {
            break;
        };
        known.ask_again(*question, &mut answers).await?;
    }
    answers.account_id = Some(known.identity.account_id.clone());

    // From here on a decline or a failure keeps the answers for the next `init`.
    if !no_save {
        config::save(&draft_file, &answers)?;
    }
    let kept = |e: Error| {
        if !no_save {
            eprintln!(
                "\nYour answers are kept in {}, not applied: `skyecr-bootstrap init` offers them again.",
                draft_file.display()
            );
        }
        e
    };
    let settings = config::validate(&answers)
        .map_err(|e| Error::Usage(wizard::in_answers(&e.to_string())))
        .map_err(kept)?;
    config::manifest::check_answers(&file, &answers).map_err(kept)?;
    let ctx = observe_and_plan(&settings, Intent::default())
        .await
        .map_err(kept)?;
    eprintln!(
        "\nWhere things go:\n  AWS account  {} as {}\n  AWS region   {}\n  GitHub       {}/{} as {login}\n",
        ctx.identity.account_id,
        ctx.identity.caller_arn,
        ctx.aws.region,
        ctx.repo.owner,
        ctx.repo.name
    );
    eprint!("{}", render::plan_text(&ctx.plan, &ctx.target()));
    ctx.plan.ensure_unblocked().map_err(kept)?;
    if !ctx.plan.changes.is_empty()
        && !presentation.yes
        && !ask(|p| p.confirm("Apply these changes?", false))
            .await
            .map_err(kept)?
    {
        return Err(kept(Error::Declined));
    }

    // Saved before applying, so that after a failure a rerun starts from these answers; the
    // draft has served its turn.
    if !no_save {
        config::manifest::save_answers(&config_file, &file, &answers)?;
        wizard::remove_draft(&draft_file)?;
    }
    let progress = Progress::new();
    if let Err(e) = execute_with(&ctx, &progress).await {
        eprintln!(
            "\n{}",
            wizard::failure_summary(
                &ctx.plan,
                &progress.finished(),
                &config_file.display().to_string()
            )
        );
        return Err(e);
    }
    print_result(&ctx, &config_file, flags, json);
    Ok(ExitStatus::Success)
}

/// The answers of an earlier `init` that were never applied; one that cannot be read is
/// left alone and not offered.
fn read_draft(path: &Path) -> Option<RawSettings> {
    crate::files::refuse_link(path).ok()?;
    let text = std::fs::read_to_string(path).ok()?;
    match config::parse_file(&text) {
        Ok(draft) => Some(draft.defaults),
        Err(e) => {
            warn(&format!(
                "{} holds no answers that can be offered ({e}); starting from the defaults.",
                path.display()
            ));
            None
        }
    }
}

/// What the answers have established so far: the repository GitHub confirmed and the AWS
/// identity of the chosen profile and region.
struct Known {
    github: GitHub,
    login: String,
    repo: RepoInfo,
    identity: aws::Identity,
}

/// The questions the summary can go back to, in the order they were asked.
#[derive(Debug, Clone, Copy)]
enum Question {
    Repository,
    Account,
    Auth,
    WhoMayPush,
    Encryption,
    Names,
}

const QUESTIONS: [(Question, &str); 6] = [
    (Question::Repository, "GitHub repository"),
    (Question::Account, "AWS profile and region"),
    (Question::Auth, "Authentication"),
    (Question::WhoMayPush, "Who may push"),
    (Question::Encryption, "Encryption"),
    (Question::Names, "Resource names"),
];

impl Known {
    /// Asks `question` again, its answer as the default; an answer others depend on brings
    /// their questions back too (a new repository has another default branch, a new account
    /// another identity).
    async fn ask_again(&mut self, question: Question, answers: &mut RawSettings) -> Result<()> {
        match question {
            Question::Repository => {
                self.repo = ask_repository(&self.github, answers, &self.login).await?
            }
            Question::Account => self.identity = ask_account(answers).await?,
            Question::Auth => {
                ask_auth(answers).await?;
                if answers.auth == Some(AuthMode::Oidc) && answers.scopes().is_empty() {
                    ask_who_may_push(answers, &self.repo, false).await?;
                }
                fill_names(answers);
            }
            Question::WhoMayPush => ask_who_may_push(answers, &self.repo, true).await?,
            Question::Encryption => ask_encryption(answers).await?,
            Question::Names => ask_names(answers).await?,
        }
        Ok(())
    }
}

/// Asks until GitHub confirms the repository exists and the token can see it. An answer may
/// be a repository's URL as well (https or ssh, as `gh repo view` takes it); an answer GitHub
/// cannot find is never offered back.
async fn ask_repository(
    github: &GitHub,
    answers: &mut RawSettings,
    login: &str,
) -> Result<RepoInfo> {
    let mut default = answers
        .github_repo
        .clone()
        .or_else(wizard::origin_repository);
    loop {
        let shown = default.clone();
        let answer = ask(move |p| {
            p.repository(
                "GitHub repository (OWNER/REPO or its URL)",
                shown.as_deref(),
            )
        })
        .await?;
        let (owner, name) = answer.split_once('/').unwrap_or((&answer, ""));
        let name = RepoName {
            owner: owner.to_string(),
            name: name.to_string(),
        };
        match github.repository(&name).await {
            Ok(info) => {
                let full_name = format!("{}/{}", info.owner, info.name);
                note(&format!(
                    "{full_name}: default branch {}; GitHub login {login}",
                    info.default_branch
                ));
                answers.github_repo = Some(full_name);
                return Ok(info);
            }
            Err(e) => {
                warn(&wizard::in_answers(&e.to_string()));
                if default.as_deref() == Some(answer.as_str()) {
                    default = None;
                }
            }
        }
    }
}

/// The AWS profile and region, and the identity they give.
async fn ask_account(answers: &mut RawSettings) -> Result<aws::Identity> {
    let default = answers.profile.clone();
    let profile = ask(move |p| {
        p.optional(
            "AWS profile (Enter for the default credential chain)",
            default.as_deref(),
            &table::PROFILE,
        )
    })
    .await?;
    let region_default = match &answers.region {
        Some(r) => r.clone(),
        None => aws::resolve_region(None, profile.as_deref()).await,
    };
    let region = ask(move |p| {
        p.value(
            "AWS region of the ECR repository",
            Some(&region_default),
            &table::REGION,
        )
    })
    .await?;
    let identity = Aws::for_region(region.clone(), profile.as_deref())
        .await?
        .identity()
        .await?;
    note(&format!(
        "AWS account {} as {}",
        identity.account_id, identity.caller_arn
    ));
    answers.profile = profile;
    answers.region = Some(region);
    Ok(identity)
}

async fn ask_auth(answers: &mut RawSettings) -> Result<()> {
    let default = usize::from(answers.auth == Some(AuthMode::AccessKey));
    note("OIDC: workflows get short-lived credentials for a role; no key to store or rotate.");
    note(
        "Access keys: an IAM user's long-lived key in GitHub secrets; for where OIDC cannot be used.",
    );
    let items = vec![
        "OIDC role (recommended)".to_string(),
        "Access keys (fallback)".to_string(),
    ];
    answers.auth = Some(
        match ask(move |p| p.choose("How should workflows authenticate to AWS?", &items, default))
            .await?
        {
            0 => AuthMode::Oidc,
            _ => AuthMode::AccessKey,
        },
    );
    Ok(())
}

/// Trust scopes, where the role ARN secret lives and the workflow pin belong to the OIDC
/// role; an access key works from any workflow, so in that mode they are kept as given, for a
/// later switch back. `again`: the summary asks, so the pin's default is the answer given.
async fn ask_who_may_push(answers: &mut RawSettings, repo: &RepoInfo, again: bool) -> Result<()> {
    if answers.auth == Some(AuthMode::AccessKey) {
        note(
            "Access keys work from any workflow of the repository: there is no trust scope to choose.",
        );
        return Ok(());
    }
    let (name, branch) = (
        format!("{}/{}", repo.owner, repo.name),
        repo.default_branch.clone(),
    );
    let given = answers.scopes();
    let scopes = ask(move |p| p.scopes(&name, &branch, &given)).await?;
    answers.secret_scope = ask_secret_scope(&scopes, answers.secret_scope).await?;
    let pinned = !again || answers.pin_workflow.is_some();
    answers.pin_workflow = ask_workflow_pin(answers.pin_workflow.clone(), pinned).await?;
    answers.branches = scopes.branches;
    answers.tags = scopes.tags;
    answers.environments = scopes.environments;
    answers.any_ref = scopes.any_ref;
    Ok(())
}

async fn ask_encryption(answers: &mut RawSettings) -> Result<()> {
    let default = usize::from(answers.encryption == Some(EncryptionName::Kms));
    let key_default = answers.kms_key.clone();
    let region = answers.region.clone().unwrap_or_default();
    let (encryption, kms_key) = ask(move |p| {
        let items = vec![
            "AES256 (keys managed by Amazon ECR)".to_string(),
            "KMS (a key in AWS KMS)".to_string(),
        ];
        if p.choose("Repository encryption", &items, default)? == 0 {
            return Ok((EncryptionName::Aes256, None));
        }
        loop {
            let key = p.optional(
                "KMS key ARN (Enter for the AWS-managed key aws/ecr)",
                key_default.as_deref(),
                &table::KMS_KEY,
            )?;
            // ECR takes only a key of the repository's own region; ask again rather than fail later.
            match key
                .as_deref()
                .and_then(|k| config::kms_key_region_conflict(k, &region))
            {
                Some(key_region) => warn(&format!(
                    "That key is in {key_region}, but the repository is in {region}: ECR needs a key of the same region."
                )),
                _ => return Ok((EncryptionName::Kms, key)),
            }
        }
    })
    .await?;
    answers.encryption = Some(encryption);
    answers.kms_key = kms_key;
    Ok(())
}

/// Every name the chosen mode uses, the guide's where none was given, so the saved file says
/// each one. Names the mode does not use are kept as given.
fn fill_names(answers: &mut RawSettings) {
    let fill = |v: &mut Option<String>, default: &str| {
        v.get_or_insert_with(|| default.to_string());
    };
    fill(&mut answers.ecr_repository, config::DEFAULT_ECR_REPOSITORY);
    fill(&mut answers.policy_name, config::DEFAULT_POLICY_NAME);
    match answers.auth {
        Some(AuthMode::AccessKey) => fill(&mut answers.user_name, config::DEFAULT_USER_NAME),
        _ => {
            fill(&mut answers.role_name, config::DEFAULT_ROLE_NAME);
            fill(&mut answers.secret_name, config::DEFAULT_SECRET_NAME);
            fill(&mut answers.oidc_issuer, config::DEFAULT_ISSUER);
        }
    }
}

/// The resource names; Enter keeps each one shown.
async fn ask_names(answers: &mut RawSettings) -> Result<()> {
    fill_names(answers);
    let current = answers.clone();
    let named = ask(move |p| {
        let mut a = current;
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        a.ecr_repository = Some(p.value(
            "ECR repository name",
            Some(&text(&a.ecr_repository)),
            &table::ECR_REPOSITORY,
        )?);
        if a.auth == Some(AuthMode::AccessKey) {
            a.policy_name = Some(p.value(
                "IAM push policy name",
                Some(&text(&a.policy_name)),
                &table::POLICY_NAME,
            )?);
            a.user_name = Some(p.value(
                "IAM user name",
                Some(&text(&a.user_name)),
                &table::USER_NAME,
            )?);
            return Ok(a);
        }
        a.role_name = Some(p.value(
            "IAM role name",
            Some(&text(&a.role_name)),
            &table::ROLE_NAME,
        )?);
        a.policy_name = Some(p.value(
            "IAM push policy name",
            Some(&text(&a.policy_name)),
            &table::POLICY_NAME,
        )?);
        a.secret_name = Some(p.value(
            "GitHub secret for the role ARN",
            Some(&text(&a.secret_name)),
            &table::SECRET_NAME,
        )?);
        note("GitHub Enterprise Cloud: …/ENTERPRISE; Enterprise Server: https://HOST/_services/token");
        a.oidc_issuer = Some(p.value(
            "OIDC issuer",
            Some(&text(&a.oidc_issuer)),
            &table::OIDC_ISSUER,
        )?);
        Ok(a)
    })
    .await?;
    *answers = named;
    Ok(())
}

/// The trust's pins, one line each, and whether only the workflow file may assume the role
/// (the default: `skyecr-bootstrap workflow` writes that very file).
async fn ask_workflow_pin(given: Option<String>, pinned: bool) -> Result<Option<String>> {
    note(
        "The trust also pins the repository and owner IDs: a repository renamed, or recreated under this name by someone else, cannot assume the role.",
    );
    let path = given.unwrap_or_else(|| crate::workflow::DEFAULT_WORKFLOW_PATH.to_string());
    note(&format!(
        "A workflow pin lets only {path}, on the trusted refs, assume the role: a second workflow in the repository cannot."
    ));
    let prompt = format!("Pin the trust to the workflow file {path}?");
    let pin = ask(move |p| p.confirm(&prompt, pinned)).await?;
    Ok(pin.then_some(path))
}

/// Where the role ARN secret lives; only a question when environments were chosen.
async fn ask_secret_scope(
    scopes: &TrustScopes,
    given: Option<SecretScope>,
) -> Result<Option<SecretScope>> {
    if scopes.environments.is_empty() {
        return Ok(None);
    }
    let default = usize::from(given == Some(SecretScope::Environment));
    let items = vec![
        "The repository (any workflow of the repository can read it)".to_string(),
        "Each chosen environment (only jobs in them can read it)".to_string(),
    ];
    Ok(Some(
        match ask(move |p| p.choose("Where should the role ARN secret live?", &items, default))
            .await?
        {
            0 => SecretScope::Repository,
            _ => SecretScope::Environment,
        },
    ))
}

/// The secrets GitHub Actions can read after this run, with where each lives.
fn delivered_secrets(desired: &Desired) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = desired
        .secrets
        .iter()
        .filter_map(Desire::present)
        .map(|s| (s.name.clone(), s.place.describe()))
        .collect();
    if desired.access_key.present().is_some() {
        for name in [access_key::KEY_ID_SECRET, access_key::SECRET_KEY_SECRET] {
            out.push((name.to_string(), Place::Repository.describe()));
        }
    }
    out
}

/// The variables the tool keeps as its records of what it wrote (docs/secrets.md).
fn records(desired: &Desired) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = desired
        .secrets
        .iter()
        .filter_map(Desire::present)
        .map(|s| (s.fingerprint_variable(), "fingerprint of that secret"))
        .collect();
    if desired.access_key.present().is_some() {
        out.push((
            access_key::DELIVERED_VARIABLE.to_string(),
            "which access key was delivered",
        ));
    }
    out.extend(
        desired
            .variables
            .iter()
            .filter_map(Desire::present)
            .map(|v| (v.record_name(), "fingerprint of that variable")),
    );
    out
}

/// The result on stdout: what GitHub Actions now has and what to do next.
fn print_result(ctx: &Context, config_file: &Path, flags: &SettingsArgs, json: bool) {
    // Later commands read ./skyecr.json by themselves; another file has to be named.
    let config_flag = flags
        .config
        .as_ref()
        .map(|p| format!(" --config {}", config::shell_word(&p.display().to_string())))
        .unwrap_or_default();
    let next = [
        (
            format!("skyecr-bootstrap workflow{config_flag}"),
            "writes .github/workflows/build-push-ecr-custom.yaml for these settings; commit and push it",
        ),
        (
            format!("skyecr-bootstrap audit{config_flag}"),
            "checks the setup for drift and risky trust, at any time",
        ),
    ];
    let secrets = delivered_secrets(&ctx.desired);
    if json {
        println!(
            "{}",
            json!({
                "config_file": config_file.display().to_string(),
                "account_id": ctx.identity.account_id,
                "region": ctx.aws.region,
                "github_repo": format!("{}/{}", ctx.repo.owner, ctx.repo.name),
                "changes": ctx.plan.changes,
                "secrets": secrets.iter().map(|(name, place)| json!({"name": name, "place": place})).collect::<Vec<_>>(),
                "variables": ctx.desired.variables.iter().filter_map(Desire::present).map(|v| (v.name.clone(), json!(v.value))).collect::<serde_json::Map<_, _>>(),
                "records": records(&ctx.desired).into_iter().map(|(name, what)| json!({"name": name, "what": what})).collect::<Vec<_>>(),
                "next_steps": next.iter().map(|(cmd, _)| cmd.clone()).collect::<Vec<_>>(),
            })
        );
        return;
    }
    let mut out = match ctx.plan.changes.len() {
        0 => "Done: nothing needed changing.".to_string(),
        n => format!("Done: {n} change(s) applied."),
    };
    out.push_str(&format!(
        " Settings saved to {} (no secrets in it).\n\nGitHub Actions in {}/{} now has:\n",
        config_file.display(),
        ctx.repo.owner,
        ctx.repo.name
    ));
    for (name, place) in &secrets {
        out.push_str(&format!("  secret    {name:<16} ({place})\n"));
    }
    for v in ctx.desired.variables.iter().filter_map(Desire::present) {
        out.push_str(&format!("  variable  {:<16} {}\n", v.name, v.value));
    }
    // The tool's own records are variables in the repository too: nothing it writes is hidden.
    for (name, what) in records(&ctx.desired) {
        out.push_str(&format!("  variable  {name} ({what})\n"));
    }
    out.push_str("\nNext steps:\n");
    for (cmd, why) in &next {
        out.push_str(&format!("  {cmd}\n      {why}\n"));
    }
    print!("{out}");
}
