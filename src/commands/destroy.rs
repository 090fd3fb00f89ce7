//! `destroy`: the desired state is nothing of the setup; preview, confirm, apply. A rerun is a no-op.

use super::{confirm, execute, observe_and_plan};
use crate::config::{OutputFormat, Presentation, Settings};
use crate::error::{ExitStatus, Result};
use crate::spec::Intent;
use crate::ui::render;

pub async fn destroy(
    settings: &Settings,
    presentation: Presentation,
    force: bool,
) -> Result<ExitStatus> {
    let intent = Intent {
        teardown: true,
        delete_images: force,
        ..Intent::default()
    };
    let ctx = observe_and_plan(settings, intent).await?;
    match presentation.output {
        OutputFormat::Json => println!(
            "{}",
            render::teardown_json(&ctx.plan, &ctx.identity.account_id, &ctx.aws.region)
        ),
        _ => print!("{}", render::teardown_text(&ctx.plan, &ctx.target())),
    }
    if ctx.plan.changes.is_empty() {
        return Ok(ExitStatus::Success);
    }
    ctx.plan.ensure_unblocked()?;
    confirm(presentation, "destroy")?;
    execute(&ctx).await?;
    eprintln!(
        "Destroy complete: {} resource(s) removed.",
        ctx.plan.changes.len()
    );
    Ok(ExitStatus::Success)
}
