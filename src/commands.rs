//! The commands: each one a short composition of observe, plan, apply and rendering.
use std::process::ExitCode;

use crate::cli::OutputArg;
use crate::cloud::aws::{Aws, Identity};
use crate::config::{self, Presentation, Settings};
use crate::error::{Error, Result};
use crate::observe::observe;
use crate::plan::{Plan, plan as make_plan};
use crate::spec::{self, Desired, RepoIdentity};
use crate::ui::{self, progress::Progress, render};

/// Everything a command needs after the read-only preamble.
struct Context {
    aws: Aws,
    identity: Identity,
    desired: Desired,
    plan: Plan,
}

impl Context {
    fn target(&self) -> String {
        format!(
            "AWS account {} ({})",
            self.identity.account_id, self.aws.region
        )
    }
}

async fn observe_and_plan(settings: &Settings) -> Result<Context> {
    config::require_scopes(settings)?;
    let aws = Aws::connect(settings).await?;
    let identity = aws.identity().await?;
    let repo = RepoIdentity {
        owner: settings.github.owner.clone(),
        name: settings.github.name.clone(),
        ids: None,
    };
    let desired = spec::desired(settings, &identity, &aws.region, &repo);
    let observed = observe(&aws, &desired).await?;
    let plan = make_plan(&desired, &observed);
    Ok(Context {
        aws,
        identity,
        desired,
        plan,
    })
}

fn print_plan(ctx: &Context, presentation: Presentation) {
    match presentation.output {
        OutputArg::Json => println!(
            "{}",
            render::plan_json(&ctx.plan, &ctx.identity.account_id, &ctx.aws.region)
        ),
        _ => print!("{}", render::plan_text(&ctx.plan, &ctx.target())),
    }
}

pub async fn plan(
    settings: &Settings,
    presentation: Presentation,
    detailed_exitcode: bool,
) -> Result<ExitCode> {
    let ctx = observe_and_plan(settings).await?;
    print_plan(&ctx, presentation);
    if detailed_exitcode && !ctx.plan.changes.is_empty() {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn apply(settings: &Settings, presentation: Presentation) -> Result<ExitCode> {
    let ctx = observe_and_plan(settings).await?;
    print_plan(&ctx, presentation);
    if ctx.plan.changes.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(blocked) = ctx.plan.blocked().next() {
        return Err(Error::Blocked(format!(
            "nothing was changed: {} {} cannot be brought in line in place.\n  {}",
            blocked.resource.as_str(),
            blocked.name,
            blocked.details.join("\n  ")
        )));
    }
    confirm(presentation, "apply")?;
    crate::apply::apply(&ctx.aws, &ctx.desired, &ctx.plan, &Progress::new()).await?;
    eprintln!("Apply complete: {} change(s) made.", ctx.plan.changes.len());
    Ok(ExitCode::SUCCESS)
}

fn confirm(presentation: Presentation, what: &'static str) -> Result<()> {
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
