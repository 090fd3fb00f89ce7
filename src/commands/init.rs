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
    given: RawSettings,
    presentation: Presentation,
    no_save: bool,
) -> Result<ExitStatus> {
    let json = presentation.output == OutputFormat::Json;
    if !ui::interactive() {
        return Err(Error::Usage(wizard::refusal(&given, json)));
    }
    let config_file = flags
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_CONFIG_FILE));

    // The token is proven before the first question, so no answer is typed in vain.
    let github = GitHub::connect()?;
    let login = github.login().await?;
    note(
        "Sets up GitHub Actions → Amazon ECR. Enter keeps the (default); Ctrl-C stops, changing nothing.",
    );

    let repo = ask_repository(&github, given.github_repo.clone()).await?;
    let full_name = format!("{}/{}", repo.owner, repo.name);
    note(&format!(
        "{full_name}: default branch {}; GitHub login {login}",
        repo.default_branch
    ));

    let profile = {
        let default = given.profile.clone();
        ask(move |p| {
            p.optional(
                "AWS profile (Enter for the default credential chain)",
                default.as_deref(),
                &table::PROFILE,
            )
        })
        .await?
    };
    let region_default = match &given.region {
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

    let auth = {
        let default = usize::from(given.auth == Some(AuthMode::AccessKey));
        note("OIDC: workflows get short-lived credentials for a role; no key to store or rotate.");
        note(
            "Access keys: an IAM user's long-lived key in GitHub secrets; for where OIDC cannot be used.",
        );
        let items = vec![
            "OIDC role (recommended)".to_string(),
            "Access keys (fallback)".to_string(),
        ];
        match ask(move |p| p.choose("How should workflows authenticate to AWS?", &items, default))
            .await?
        {
            0 => AuthMode::Oidc,
            _ => AuthMode::AccessKey,
        }
    };

    let ecr_repository = {
        let default = given
            .ecr_repository
            .clone()
            .unwrap_or_else(|| config::DEFAULT_ECR_REPOSITORY.into());
        ask(move |p| {
            p.value(
                "ECR repository name",
                Some(&default),
                &table::ECR_REPOSITORY,
            )
        })
        .await?
    };

    let (encryption, kms_key) = {
        let default = usize::from(given.encryption == Some(EncryptionName::Kms));
        let key_default = given.kms_key.clone();
        let region = region.clone();
        ask(move |p| {
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
        .await?
    };

    let given_scopes = given.scopes();
    // Trust scopes and the role ARN secret belong to the OIDC role; an access key works from
    // any workflow, so in that mode they are kept as given, for a later switch back.
    let (scopes, secret_scope, pin_workflow) = if auth == AuthMode::Oidc {
        let (name, branch) = (full_name.clone(), repo.default_branch.clone());
        let scopes = ask(move |p| p.scopes(&name, &branch, &given_scopes)).await?;
        let secret_scope = ask_secret_scope(&scopes, given.secret_scope).await?;
        let pin_workflow = ask_workflow_pin(given.pin_workflow.clone()).await?;
        (scopes, secret_scope, pin_workflow)
    } else {
        note(
            "Access keys work from any workflow of the repository: there is no trust scope to choose.",
        );
        (given_scopes, given.secret_scope, given.pin_workflow.clone())
    };

    let names = ask_names(&given, auth).await?;

    let answers = RawSettings {
        github_repo: Some(full_name),
        region: Some(region),
        profile,
        auth: Some(auth),
        ecr_repository: Some(ecr_repository),
        encryption: Some(encryption),
        kms_key,
        role_name: names.role_name,
        policy_name: Some(names.policy_name),
        user_name: names.user_name,
        branches: scopes.branches,
        tags: scopes.tags,
        environments: scopes.environments,
        any_ref: scopes.any_ref,
        secret_name: names.secret_name,
        oidc_issuer: names.oidc_issuer,
        secret_scope,
        permissions_boundary: given.permissions_boundary.clone(),
        account_id: Some(identity.account_id.clone()),
        pin_workflow,
        no_pin_ids: given.no_pin_ids,
        pin_ids: given.pin_ids,
        // How results are shown is a matter of each run, not of the saved setup.
        ..RawSettings::default()
    };
    let settings = config::validate(&answers)?;

    let ctx = observe_and_plan(&settings, Intent::default()).await?;
    eprintln!(
        "\nWhere things go:\n  AWS account  {} as {}\n  AWS region   {}\n  GitHub       {}/{} as {login}\n",
        ctx.identity.account_id,
        ctx.identity.caller_arn,
        ctx.aws.region,
        ctx.repo.owner,
        ctx.repo.name
    );
    eprint!("{}", render::plan_text(&ctx.plan, &ctx.target()));
    ctx.plan.ensure_unblocked()?;
    if !ctx.plan.changes.is_empty()
        && !presentation.yes
        && !ask(|p| p.confirm("Apply these changes?", false)).await?
    {
        return Err(Error::Declined);
    }

    // Saved before applying, so that after a failure a rerun starts from these answers.
    if !no_save {
        config::save(&config_file, &answers)?;
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

/// The trust's pins, one line each, and whether only the workflow file may assume the role
/// (the default: `skyecr-bootstrap workflow` writes that very file).
async fn ask_workflow_pin(given: Option<String>) -> Result<Option<String>> {
    note(
        "The trust also pins the repository and owner IDs: a repository renamed, or recreated under this name by someone else, cannot assume the role.",
    );
    let path = given.unwrap_or_else(|| crate::workflow::DEFAULT_WORKFLOW_PATH.to_string());
    note(&format!(
        "A workflow pin lets only {path}, on the trusted refs, assume the role: a second workflow in the repository cannot."
    ));
    let prompt = format!("Pin the trust to the workflow file {path}?");
    let pin = ask(move |p| p.confirm(&prompt, true)).await?;
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

/// Asks until GitHub confirms the repository exists and the token can see it.
async fn ask_repository(github: &GitHub, given: Option<String>) -> Result<RepoInfo> {
    let mut default = given.or_else(wizard::origin_repository);
    loop {
        let shown = default.clone();
        let answer = ask(move |p| {
            p.value(
                "GitHub repository (OWNER/REPO)",
                shown.as_deref(),
                &table::GITHUB_REPO,
            )
        })
        .await?;
        let (owner, name) = answer.split_once('/').unwrap_or((&answer, ""));
        let name = RepoName {
            owner: owner.to_string(),
            name: name.to_string(),
        };
        match github.repository(&name).await {
            Ok(info) => return Ok(info),
            Err(e) => warn(&e.to_string()),
        }
        default = Some(answer);
    }
}

struct Names {
    role_name: Option<String>,
    policy_name: String,
    user_name: Option<String>,
    secret_name: Option<String>,
    oidc_issuer: Option<String>,
}

/// The resource names; Enter keeps the guide's. Names the chosen mode does not use are kept as given.
async fn ask_names(given: &RawSettings, auth: AuthMode) -> Result<Names> {
    let pick = |v: &Option<String>, default: &str| v.clone().unwrap_or_else(|| default.into());
    let role = pick(&given.role_name, config::DEFAULT_ROLE_NAME);
    let policy = pick(&given.policy_name, config::DEFAULT_POLICY_NAME);
    let user = pick(&given.user_name, config::DEFAULT_USER_NAME);
    let secret = pick(&given.secret_name, config::DEFAULT_SECRET_NAME);
    let issuer = pick(&given.oidc_issuer, config::DEFAULT_ISSUER);
    let given = given.clone();
    ask(move |p| {
        Ok(match auth {
            AuthMode::Oidc => Names {
                role_name: Some(p.value("IAM role name", Some(&role), &table::ROLE_NAME)?),
                policy_name: p.value("IAM push policy name", Some(&policy), &table::POLICY_NAME)?,
                user_name: given.user_name,
                secret_name: Some(p.value(
                    "GitHub secret for the role ARN",
                    Some(&secret),
                    &table::SECRET_NAME,
                )?),
                oidc_issuer: {
                    note("GitHub Enterprise Cloud: …/ENTERPRISE; Enterprise Server: https://HOST/_services/token");
                    Some(p.value("OIDC issuer", Some(&issuer), &table::OIDC_ISSUER)?)
                },
            },
            AuthMode::AccessKey => Names {
                role_name: given.role_name,
                policy_name: p.value("IAM push policy name", Some(&policy), &table::POLICY_NAME)?,
                user_name: Some(p.value("IAM user name", Some(&user), &table::USER_NAME)?),
                secret_name: given.secret_name,
                oidc_issuer: given.oidc_issuer,
            },
        })
    })
    .await
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
