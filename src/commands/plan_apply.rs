//! `plan` and `apply`.

use super::{confirm, execute, observe_and_plan, print_plan};
use crate::config::{Presentation, Settings};
use crate::error::{ExitStatus, Result};
use crate::spec::Intent;

pub async fn plan(
    settings: &Settings,
    presentation: Presentation,
    detailed_exitcode: bool,
) -> Result<ExitStatus> {
    let ctx = observe_and_plan(settings, Intent::default()).await?;
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
) -> Result<ExitStatus> {
    let ctx = observe_and_plan(
        settings,
        Intent {
            force_secrets,
            ..Intent::default()
        },
    )
    .await?;
    print_plan(&ctx, presentation);
    if ctx.plan.changes.is_empty() {
        return Ok(ExitStatus::Success);
    }
    ctx.plan.ensure_unblocked()?;
    confirm(presentation, "apply")?;
    execute(&ctx).await?;
    eprintln!("Apply complete: {} change(s) made.", ctx.plan.changes.len());
    eprintln!(
        "Next: `skyecr-bootstrap workflow` writes the build-and-push workflow; `skyecr-bootstrap audit` checks for drift."
    );
    Ok(ExitStatus::Success)
}
