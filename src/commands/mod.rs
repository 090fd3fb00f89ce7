//! The commands: each one a short composition of observe, plan, apply and rendering.
mod audit;
mod check_access;
mod completions;
mod destroy;
mod export;
mod init;
mod man;
pub mod many;
mod plan_apply;
mod rotate_keys;
mod workflow;

pub use audit::{audit, other_roles};
pub use check_access::{Claims, Job, check_access};
pub use destroy::destroy;
pub use export::{ExportRequest, export};
pub use rotate_keys::rotate_keys;

use crate::cloud::aws::{Aws, Identity};
use crate::cloud::github::{GitHub, RepoInfo, SubjectFormat};
use crate::config::{self, AuthMode, OutputFormat, Presentation, Settings};
use crate::error::{Error, Result};
use crate::observe::{FirstRound, Observed, first_round, observe};
use crate::plan::{Plan, plan as make_plan};
use crate::spec::{self, Desired, Intent, RepoIdentity};
use crate::ui::{self, progress::Progress, render};
pub use completions::completions;
pub use init::init;
pub use man::man;
pub use plan_apply::{apply, plan};
pub use workflow::{WorkflowRequest, workflow};

/// Everything a command needs after the read-only preamble.
pub struct Context {
    pub aws: Aws,
    pub github: GitHub,
    pub repo: RepoInfo,
    /// The subject GitHub sends for the repository: what `audit` and `check-access` judge by.
    pub subject: SubjectFormat,
    pub identity: Identity,
    pub desired: Desired,
    pub observed: Observed,
    pub plan: Plan,
}

impl Context {
    pub fn target(&self) -> String {
        format!(
            "AWS account {} ({}) and GitHub repository {}/{}",
            self.identity.account_id, self.aws.region, self.repo.owner, self.repo.name
        )
    }
}

/// Reads AWS and GitHub (never writes) and plans. GitHub access is proven before anything else.
pub async fn observe_and_plan(settings: &Settings, intent: Intent) -> Result<Context> {
    require_scopes(settings, intent)?;
    let reading = ui::progress::reading();
    let github = GitHub::connect()?;
    let aws = Aws::connect(settings).await?;
    let ctx = observe_and_plan_with(aws, github, settings, intent).await;
    drop(reading);
    ctx
}

/// As `observe_and_plan`, with clients already connected (shared by many repositories).
pub async fn observe_and_plan_with(
    aws: Aws,
    github: GitHub,
    settings: &Settings,
    intent: Intent,
) -> Result<Context> {
    require_scopes(settings, intent)?;
    let FirstRound {
        identity,
        repo,
        subject,
        reads: observed,
    } = first_round(
        &aws,
        &github,
        settings,
        observe(&aws, &github, settings, intent),
    )
    .await?;
    let identity_of_repo = RepoIdentity {
        owner: repo.owner.clone(),
        name: repo.name.clone(),
        ids: Some((repo.owner_id, repo.repo_id)),
    };
    let desired = spec::desired(
        settings,
        &identity,
        &aws.region,
        &identity_of_repo,
        subject.template.as_deref(),
        intent,
    )?;
    let plan = make_plan(&desired, &observed);
    Ok(Context {
        aws,
        github,
        repo,
        subject,
        identity,
        desired,
        observed,
        plan,
    })
}

fn require_scopes(settings: &Settings, intent: Intent) -> Result<()> {
    if settings.auth == AuthMode::Oidc && !intent.teardown {
        config::require_scopes(settings)?;
    }
    Ok(())
}

pub fn print_plan(ctx: &Context, presentation: Presentation) {
    match presentation.output {
        OutputFormat::Json => ui::out::println(
            &render::plan_json(&ctx.plan, &ctx.identity.account_id, &ctx.aws.region).to_string(),
        ),
        _ => ui::out::print(&render::plan_text(&ctx.plan, &ctx.target())),
    }
}

/// Runs the plan's changes with one progress line each.
pub async fn execute(ctx: &Context) -> Result<()> {
    execute_with(ctx, &Progress::new()).await
}

/// As `execute`, with the caller's progress, which afterwards tells what was done.
pub async fn execute_with(ctx: &Context, progress: &Progress) -> Result<()> {
    let target = crate::apply::Target {
        aws: &ctx.aws,
        github: &ctx.github,
        desired: &ctx.desired,
        observed: &ctx.observed,
    };
    // Ctrl-C drops this future half-way: the watch then says where the apply stopped.
    let watch = progress.watch(&ctx.plan);
    let result = crate::apply::apply(&target, &ctx.plan, progress).await;
    watch.disarm();
    result
}

/// Asks before writing; without a terminal only `--yes` confirms.
pub fn confirm(presentation: Presentation, what: &'static str) -> Result<()> {
    if presentation.yes {
        return Ok(());
    }
    if !ui::interactive() {
        return Err(Error::NeedsConfirmation { what });
    }
    let answer = dialoguer::Confirm::new()
        .with_prompt("Apply these changes?")
        .default(false)
        .interact()
        .map_err(|e| match e {
            dialoguer::Error::IO(io) if io.kind() == std::io::ErrorKind::Interrupted => {
                Error::Interrupted
            }
            other => Error::Io(other.to_string()),
        })?;
    if answer { Ok(()) } else { Err(Error::Declined) }
}
