//! `destroy`: the desired state is nothing of the setup; preview, confirm, apply. A rerun is a no-op.

use super::{confirm, execute, observe_and_plan};
use crate::config::{OutputFormat, Presentation, Settings};
use crate::error::{ExitStatus, Result};
use crate::spec::Intent;
use crate::ui::{self, render};

pub async fn destroy(
    settings: &Settings,
    presentation: Presentation,
    force: bool,
    keep_repository: bool,
) -> Result<ExitStatus> {
    let intent = Intent {
        teardown: true,
        delete_images: force,
        keep_repository,
        ..Intent::default()
    };
    let ctx = observe_and_plan(settings, intent).await?;
    // As for apply: JSON's one document is the teardown once done, or the error.
    let json = presentation.output == OutputFormat::Json;
    let pending = !ctx.plan.changes.is_empty();
    if !json {
        print!("{}", render::teardown_text(&ctx.plan, &ctx.target()));
    } else if pending && !presentation.yes && ui::interactive() {
        eprint!("{}", render::teardown_text(&ctx.plan, &ctx.target()));
    }
    if pending {
        ctx.plan.ensure_unblocked()?;
        confirm(presentation, "destroy")?;
        execute(&ctx).await?;
        ui::progress::note(&format!(
            "Destroy complete: {} resource(s) removed.",
            ctx.plan.changes.len()
        ));
    }
    if json {
        println!(
            "{}",
            render::teardown_json(&ctx.plan, &ctx.identity.account_id, &ctx.aws.region)
        );
    }
    Ok(ExitStatus::Success)
}
