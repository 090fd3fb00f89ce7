//! `plan` and `apply`.

use super::{confirm, execute, observe_and_plan, print_plan};
use crate::config::{OutputFormat, Presentation, Saving, Settings};
use crate::error::{ExitStatus, Result};
use crate::spec::Intent;
use crate::ui::{self, render};

pub async fn plan(
    settings: &Settings,
    presentation: Presentation,
    detailed_exitcode: bool,
    adopt: bool,
) -> Result<ExitStatus> {
    let intent = Intent {
        adopt,
        ..Intent::default()
    };
    let ctx = observe_and_plan(settings, intent).await?;
    print_plan(&ctx, presentation);
    if detailed_exitcode && !ctx.plan.changes.is_empty() {
        return Ok(ExitStatus::Attention);
    }
    Ok(ExitStatus::Success)
}

pub async fn apply(
    settings: &Settings,
    presentation: Presentation,
    force_secrets: bool,
    adopt: bool,
    save: Option<Saving>,
) -> Result<ExitStatus> {
    let intent = Intent {
        force_secrets,
        adopt,
        ..Intent::default()
    };
    let ctx = observe_and_plan(settings, intent).await?;
    // JSON's one document is the plan once it is applied, or the error; the person confirming
    // reads the plan on stderr.
    let json = presentation.output == OutputFormat::Json;
    if !json {
        print_plan(&ctx, presentation);
    } else if !ctx.plan.changes.is_empty() && !presentation.yes && ui::interactive() {
        eprint!("{}", render::plan_text(&ctx.plan, &ctx.target()));
    }
    if !ctx.plan.changes.is_empty() {
        ctx.plan.ensure_unblocked()?;
        confirm(presentation, "apply")?;
        execute(&ctx).await?;
        ui::progress::note(&format!(
            "Apply complete: {} change(s) made.",
            ctx.plan.changes.len()
        ));
    }
    if json {
        print_plan(&ctx, presentation);
    }
    // What was applied is remembered, so the next plain `plan` compares with it.
    if let Some(saving) = save
        && saving.save(&ctx.identity.account_id)?
    {
        ui::progress::note(&format!(
            "Saved these settings and AWS account {} to {} (--no-save leaves it alone).",
            ctx.identity.account_id,
            saving.path.display()
        ));
    }
    if !ctx.plan.changes.is_empty() {
        ui::progress::note(
            "Next: `skyecr-bootstrap workflow` writes the build-and-push workflow; `skyecr-bootstrap audit` checks for drift.",
        );
    }
    Ok(ExitStatus::Success)
}
