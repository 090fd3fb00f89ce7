//! Many repositories in one run (the settings file's `repositories`): every entry observed,
//! planned and applied concurrently over shared clients, one confirmation for all, the output
//! grouped by repository and the exit code the highest of the entries'.
use std::future::Future;
use std::path::PathBuf;

use futures::future::join_all;
use serde_json::{Map, Value, json};

use super::{Context, confirm, observe_and_plan_with};
use crate::cloud::aws::Aws;
use crate::cloud::github::GitHub;
use crate::config::{self, OutputFormat, Presentation, Settings, SettingsFile};
use crate::error::{Error, ExitStatus, Result};
use crate::plan::{Kind, Plan};
use crate::spec::Intent;
use crate::ui::{self, progress::Progress, render};

/// One command's run, boxed, so that different commands can stand in one group.
pub type Command<'a> = std::pin::Pin<Box<dyn Future<Output = Result<ExitStatus>> + 'a>>;

/// What one repository's part of the run came to.
struct Outcome {
    repo: String,
    status: Result<ExitStatus>,
    /// The entry's result as the single-repository command prints it.
    output: String,
}

/// The clients every entry shares: one GitHub client, one AWS client per region and profile.
struct Clients {
    github: GitHub,
    aws: Vec<(ClientKey, Aws)>,
}

/// The region and profile an AWS client was made for.
type ClientKey = (Option<String>, Option<String>);

impl Clients {
    async fn connect(entries: &[Settings]) -> Result<Clients> {
        let github = GitHub::connect()?;
        let mut aws: Vec<(ClientKey, Aws)> = Vec::new();
        for s in entries {
            let key = (s.region.clone(), s.profile.clone());
            if !aws.iter().any(|(k, _)| *k == key) {
                aws.push((key, Aws::connect(s).await?));
            }
        }
        Ok(Clients { github, aws })
    }

    fn aws_for(&self, s: &Settings) -> Option<Aws> {
        self.aws
            .iter()
            .find(|(k, _)| k.0 == s.region && k.1 == s.profile)
            .map(|(_, aws)| aws.clone())
    }

    async fn plan(&self, s: &Settings, intent: Intent) -> Result<Context> {
        let Some(aws) = self.aws_for(s) else {
            return Err(Error::Io(format!("no AWS client for {}", s.github)));
        };
        observe_and_plan_with(aws, self.github.clone(), s, intent).await
    }

    /// Every entry observed and planned at once; each entry's failure is its own.
    async fn plan_all(&self, entries: &[Settings], intent: Intent) -> Vec<Result<Context>> {
        join_all(entries.iter().map(|s| self.plan(s, intent))).await
    }
}

/// `plan` for every entry.
pub async fn plan(
    entries: &[Settings],
    presentation: Presentation,
    detailed_exitcode: bool,
    adopt: bool,
) -> Result<ExitStatus> {
    let clients = Clients::connect(entries).await?;
    let intent = Intent {
        adopt,
        ..Intent::default()
    };
    let mut planned = clients.plan_all(entries, intent).await;
    share_provider(&mut planned);
    let outcomes = entries
        .iter()
        .zip(planned)
        .map(|(s, ctx)| {
            let status = ctx.as_ref().map_err(carry).map(|ctx| {
                if detailed_exitcode && !ctx.plan.changes.is_empty() {
                    ExitStatus::Attention
                } else {
                    ExitStatus::Success
                }
            });
            let output = ctx
                .as_ref()
                .map(|ctx| plan_output(ctx, presentation, false))
                .unwrap_or_default();
            Outcome {
                repo: s.github.to_string(),
                status,
                output,
            }
        })
        .collect();
    Ok(print_outcomes(outcomes, presentation))
}

/// What `apply`, `destroy` and `rotate-keys` do over many entries.
pub struct Writing {
    pub intent: Intent,
    pub what: &'static str,
    /// Where the account is recorded once applied (`apply`, unless `--no-save`).
    pub save: Option<(PathBuf, SettingsFile)>,
}

/// `apply`, `destroy` or `rotate-keys` for every entry: all plans shown, one confirmation,
/// then every entry's changes at once. The shared OIDC provider is created (or changed) once,
/// before the roles that trust it; on `destroy` it goes last, once no role trusts it.
pub async fn write(
    entries: &[Settings],
    presentation: Presentation,
    writing: Writing,
) -> Result<ExitStatus> {
    let clients = Clients::connect(entries).await?;
    let teardown = writing.intent.teardown;
    let mut planned = clients.plan_all(entries, writing.intent).await;
    if writing.intent.rotate_keys {
        for ctx in planned.iter_mut().flatten() {
            ctx.plan.changes.retain(|c| c.resource == Kind::AccessKey);
        }
    }
    let provider_last = teardown && without_provider(&mut planned);
    if !teardown {
        share_provider(&mut planned);
    }
    let json = presentation.output == OutputFormat::Json;
    let pending = planned
        .iter()
        .flatten()
        .any(|ctx| !ctx.plan.changes.is_empty());
    if !json || (pending && !presentation.yes && ui::interactive()) {
        let preview: Vec<Outcome> = entries
            .iter()
            .zip(&planned)
            .map(|(s, ctx)| Outcome {
                repo: s.github.to_string(),
                status: ctx.as_ref().map(|_| ExitStatus::Success).map_err(carry),
                output: ctx
                    .as_ref()
                    .map(|ctx| plan_output(ctx, text_only(presentation), teardown))
                    .unwrap_or_default(),
            })
            .collect();
        let text = grouped_text(&preview.iter().collect::<Vec<_>>());
        if json {
            eprint!("{text}")
        } else {
            print!("{text}")
        }
        if provider_last {
            ui::progress::note(
                "The OIDC provider goes after the roles, if then no role outside these repositories trusts it.",
            );
        }
    }
    if pending || provider_last {
        confirm(presentation, writing.what)?;
    }
    let progress = Progress::new();
    let provider_done = match (teardown, first_with_provider(&planned)) {
        (false, Some(i)) => run_provider(&planned[i], &progress).await,
        _ => Ok(()),
    };
    let provider_done = provider_done.map_err(|e| carry(&e));
    let runs = join_all(planned.iter().map(|ctx| async {
        let ctx = ctx.as_ref().map_err(carry)?;
        provider_done.as_ref().map_err(carry)?;
        if ctx.plan.changes.is_empty() {
            return Ok(());
        }
        ctx.plan.ensure_unblocked()?;
        let mut rest = ctx.plan.clone();
        rest.changes.retain(|c| c.resource != Kind::OidcProvider);
        let target = crate::apply::Target {
            aws: &ctx.aws,
            github: &ctx.github,
            desired: &ctx.desired,
            observed: &ctx.observed,
        };
        let progress = progress.for_entry(&format!("{}/{}", ctx.repo.owner, ctx.repo.name));
        crate::apply::apply(&target, &rest, &progress).await
    }))
    .await;
    let mut provider_removed = None;
    if provider_last && runs.iter().all(Result::is_ok) && !entries.is_empty() {
        provider_removed =
            Some(remove_provider(&clients, &entries[0], writing.intent, &progress).await);
    }
    let outcomes: Vec<Outcome> = entries
        .iter()
        .zip(planned.iter().zip(runs))
        .enumerate()
        .map(|(i, (s, (ctx, run)))| {
            let mut status = run.map(|()| ExitStatus::Success);
            let mut output = String::new();
            if let Ok(ctx) = ctx {
                let mut plan = ctx.plan.clone();
                if i == 0
                    && let Some(removed) = &provider_removed
                {
                    match removed {
                        Ok(changes) => plan.changes.extend(changes.iter().cloned()),
                        Err(e) => status = Err(carry(e)),
                    }
                }
                if json {
                    output = written_json(ctx, &plan, teardown);
                }
            }
            Outcome {
                repo: s.github.to_string(),
                status,
                output,
            }
        })
        .collect();
    if !json {
        for o in &outcomes {
            match &o.status {
                Ok(_) => {}
                Err(e) => eprintln!(
                    "{} {}: {e}",
                    console::style("error:").red().bold().for_stderr(),
                    o.repo
                ),
            }
        }
    }
    let failed = outcomes.iter().filter(|o| o.status.is_err()).count();
    let status = if json {
        print_outcomes(outcomes, presentation)
    } else {
        ExitStatus::combine(outcomes.iter().map(status_of))
    };
    if failed > 0 {
        ui::progress::note(&format!(
            "{failed} of {} repositories failed; the others are done. Rerun the same command: it continues where each one stopped.",
            entries.len()
        ));
    } else if pending {
        ui::progress::note(&format!(
            "{} complete for {} repositories.",
            capitalised(writing.what),
            entries.len()
        ));
    }
    if let Some((path, file)) = &writing.save
        && failed < entries.len()
    {
        save_account(path, file, &planned)?;
    }
    Ok(status)
}

/// `audit` or `check-access` for every entry at once, each result in its repository's group;
/// `account`, when given, is one more group for the whole account (`audit --all-roles`).
pub async fn each<'a, F, Fut>(
    entries: &'a [Settings],
    presentation: Presentation,
    command: F,
    account: Option<Fut>,
) -> ExitStatus
where
    F: Fn(&'a Settings) -> Fut,
    Fut: Future<Output = Result<ExitStatus>> + 'a,
{
    let runs = join_all(
        entries
            .iter()
            .map(|s| Box::pin(ui::out::capture(command(s)))),
    );
    let whole = async {
        match account {
            Some(f) => Some(Box::pin(ui::out::capture(f)).await),
            None => None,
        }
    };
    let (runs, whole) = futures::join!(runs, whole);
    let outcomes = entries
        .iter()
        .zip(runs)
        .map(|(s, (status, output))| Outcome {
            repo: s.github.to_string(),
            status,
            output,
        })
        .collect();
    let account = whole.map(|(status, output)| Outcome {
        repo: ACCOUNT_GROUP.to_string(),
        status,
        output,
    });
    print_grouped(outcomes, account, presentation)
}

/// The heading of the account-wide group.
const ACCOUNT_GROUP: &str = "other roles in the account";

/// Prints the grouped result and returns the combined exit status.
fn print_outcomes(outcomes: Vec<Outcome>, presentation: Presentation) -> ExitStatus {
    print_grouped(outcomes, None, presentation)
}

fn print_grouped(
    outcomes: Vec<Outcome>,
    account: Option<Outcome>,
    presentation: Presentation,
) -> ExitStatus {
    let status = ExitStatus::combine(outcomes.iter().chain(account.as_ref()).map(status_of));
    let all: Vec<&Outcome> = outcomes.iter().chain(account.as_ref()).collect();
    match presentation.output {
        OutputFormat::Json => {
            let mut doc = grouped_json(&outcomes);
            if let Some(account) = &account {
                doc["other_roles"] = entry_json(account, false);
            }
            println!("{doc}");
        }
        OutputFormat::Sarif => println!("{}", grouped_sarif(&all)),
        OutputFormat::Markdown => print!("{}", grouped_markdown(&all)),
        OutputFormat::Text => print!("{}", grouped_text(&all)),
    }
    status
}

fn status_of(o: &Outcome) -> ExitStatus {
    match &o.status {
        Ok(s) => *s,
        Err(e) => e.exit_status(),
    }
}

fn grouped_text(outcomes: &[&Outcome]) -> String {
    let mut text = String::new();
    for o in outcomes {
        let heading = format!("── {} ──", o.repo);
        text.push_str(&format!("{}\n", console::style(heading).bold()));
        match &o.status {
            Err(e) => text.push_str(&format!("error: {e}\n")),
            Ok(_) => text.push_str(&o.output),
        }
        text.push('\n');
    }
    text
}

fn grouped_markdown(outcomes: &[&Outcome]) -> String {
    let mut text = String::new();
    for o in outcomes {
        text.push_str(&format!("## {}\n\n", o.repo));
        match &o.status {
            Err(e) => text.push_str(&format!("**Error:** {e}\n")),
            Ok(_) => text.push_str(&o.output),
        }
        text.push('\n');
    }
    text
}

/// `{"repositories": [{"github_repo": …, …the single-repository document…}, …]}`.
fn grouped_json(outcomes: &[Outcome]) -> Value {
    let repositories: Vec<Value> = outcomes.iter().map(|o| entry_json(o, true)).collect();
    json!({ "repositories": repositories })
}

/// One group's document: the command's own, or its error; named by its repository.
fn entry_json(o: &Outcome, named: bool) -> Value {
    let mut doc = Map::new();
    if named {
        doc.insert("github_repo".into(), json!(o.repo));
    }
    match &o.status {
        Err(e) => {
            doc.insert("error".into(), json!({"message": e.to_string()}));
        }
        Ok(_) => match serde_json::from_str::<Value>(&o.output) {
            Ok(Value::Object(single)) => doc.extend(single),
            Ok(other) => {
                doc.insert("result".into(), other);
            }
            Err(_) => {}
        },
    }
    Value::Object(doc)
}

/// One SARIF log with every repository's run (SARIF allows many runs in one log).
fn grouped_sarif(outcomes: &[&Outcome]) -> Value {
    let mut log: Option<Value> = None;
    let mut runs = Vec::new();
    for o in outcomes {
        let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(&o.output) else {
            if let Err(e) = &o.status {
                eprintln!("error: {}: {e}", o.repo);
            }
            continue;
        };
        if let Some(Value::Array(r)) = doc.get("runs") {
            runs.extend(r.iter().cloned());
        }
        log.get_or_insert(Value::Object(doc));
    }
    let mut log = log.unwrap_or_else(
        || json!({"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json"}),
    );
    log["runs"] = Value::Array(runs);
    log
}

fn text_only(presentation: Presentation) -> Presentation {
    Presentation {
        output: OutputFormat::Text,
        ..presentation
    }
}

fn plan_output(ctx: &Context, presentation: Presentation, teardown: bool) -> String {
    let target = ctx.target();
    match (presentation.output, teardown) {
        (OutputFormat::Json, false) => {
            render::plan_json(&ctx.plan, &ctx.identity.account_id, &ctx.aws.region).to_string()
        }
        (OutputFormat::Json, true) => {
            render::teardown_json(&ctx.plan, &ctx.identity.account_id, &ctx.aws.region).to_string()
        }
        (_, false) => render::plan_text(&ctx.plan, &target),
        (_, true) => render::teardown_text(&ctx.plan, &target),
    }
}

fn written_json(ctx: &Context, plan: &Plan, teardown: bool) -> String {
    let (account, region) = (&ctx.identity.account_id, &ctx.aws.region);
    match teardown {
        false => render::plan_json(plan, account, region).to_string(),
        true => render::teardown_json(plan, account, region).to_string(),
    }
}

/// The provider is one for all: its change is planned (and shown) once, under the first entry
/// that has it. A blocked provider stays in every entry: none of their roles could be trusted.
fn share_provider(planned: &mut [Result<Context>]) {
    let Some(first) = first_with_provider(planned) else {
        return;
    };
    for (i, ctx) in planned.iter_mut().enumerate() {
        if let Ok(ctx) = ctx
            && i != first
        {
            ctx.plan
                .changes
                .retain(|c| c.resource != Kind::OidcProvider || c.op.is_none());
        }
    }
}

fn first_with_provider(planned: &[Result<Context>]) -> Option<usize> {
    planned.iter().position(|ctx| {
        ctx.as_ref().is_ok_and(|ctx| {
            ctx.plan
                .changes
                .iter()
                .any(|c| c.resource == Kind::OidcProvider && c.op.is_some())
        })
    })
}

/// A teardown leaves the provider to the end: each entry saw the others' roles trust it.
/// Returns whether any entry would otherwise have decided about it.
fn without_provider(planned: &mut [Result<Context>]) -> bool {
    let mut decided = false;
    for ctx in planned.iter_mut().flatten() {
        let before = ctx.plan.changes.len() + ctx.plan.kept.len();
        ctx.plan
            .changes
            .retain(|c| c.resource != Kind::OidcProvider);
        ctx.plan.kept.retain(|c| c.resource != Kind::OidcProvider);
        decided |= ctx.plan.changes.len() + ctx.plan.kept.len() != before;
    }
    decided
}

/// The provider's change alone, before any entry's role needs it.
async fn run_provider(ctx: &Result<Context>, progress: &Progress) -> Result<()> {
    let Ok(ctx) = ctx else { return Ok(()) };
    let mut only = ctx.plan.clone();
    only.changes.retain(|c| c.resource == Kind::OidcProvider);
    only.kept.clear();
    let target = crate::apply::Target {
        aws: &ctx.aws,
        github: &ctx.github,
        desired: &ctx.desired,
        observed: &ctx.observed,
    };
    crate::apply::apply(&target, &only, progress).await
}

/// After every entry's teardown: the provider read again (the entries' roles are gone now)
/// and deleted if the tool's and no other role trusts it.
async fn remove_provider(
    clients: &Clients,
    first: &Settings,
    intent: Intent,
    progress: &Progress,
) -> Result<Vec<crate::plan::Change>> {
    let ctx = clients.plan(first, intent).await?;
    let mut only = ctx.plan.clone();
    only.changes.retain(|c| c.resource == Kind::OidcProvider);
    only.kept.clear();
    if only.changes.is_empty() {
        return Ok(Vec::new());
    }
    let target = crate::apply::Target {
        aws: &ctx.aws,
        github: &ctx.github,
        desired: &ctx.desired,
        observed: &ctx.observed,
    };
    crate::apply::apply(&target, &only, progress).await?;
    Ok(only.changes)
}

/// The account the entries were applied to, recorded at the file's top level when they all
/// share it.
fn save_account(
    path: &std::path::Path,
    file: &SettingsFile,
    planned: &[Result<Context>],
) -> Result<()> {
    let mut accounts = planned
        .iter()
        .flatten()
        .map(|c| c.identity.account_id.as_str());
    let Some(account) = accounts.next() else {
        return Ok(());
    };
    if accounts.any(|a| a != account) {
        return Ok(());
    }
    if config::manifest::save_account(path, file, account)? {
        ui::progress::note(&format!(
            "Saved AWS account {account} to {} (--no-save leaves it alone).",
            path.display()
        ));
    }
    Ok(())
}

/// An entry's error as a value each reader can hold (errors are not `Clone`).
fn carry(e: &Error) -> Error {
    match e {
        Error::Declined => Error::Declined,
        Error::Interrupted => Error::Interrupted,
        Error::NeedsConfirmation { what } => Error::NeedsConfirmation { what },
        Error::Blocked(m) => Error::Blocked(m.clone()),
        Error::Usage(m) => Error::Usage(m.clone()),
        other => Error::Io(other.to_string()),
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
