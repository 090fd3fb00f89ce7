//! `rotate-keys`: new access key → both secrets → old key deleted.

use super::{confirm, execute, observe_and_plan, print_plan};
use crate::config::{AuthMode, Presentation, Settings};
use crate::error::{Error, ExitStatus, Result};
use crate::plan::Kind;
use crate::spec::Intent;

pub async fn rotate_keys(settings: &Settings, presentation: Presentation) -> Result<ExitStatus> {
    if settings.auth != AuthMode::AccessKey {
        return Err(Error::Usage(
            "rotate-keys is for access-key mode: pass --auth access-key (or set \"auth\": \"access-key\" in skyecr.json). OIDC mode has no long-lived keys to rotate.".into(),
        ));
    }
    let mut ctx = observe_and_plan(
        settings,
        Intent {
            rotate_keys: true,
            ..Intent::default()
        },
    )
    .await?;
    if ctx.observed.user.is_none() {
        return Err(Error::Usage(format!(
            "user {} does not exist yet: run `skyecr-bootstrap apply --auth access-key` first",
            settings.user_name
        )));
    }
    // Rotation touches only the key; other drift is for `apply`.
    ctx.plan.changes.retain(|c| c.resource == Kind::AccessKey);
    print_plan(&ctx, presentation);
    ctx.plan.ensure_unblocked()?;
    confirm(presentation, "rotate-keys")?;
    execute(&ctx).await?;
    eprintln!("Rotation complete: GitHub holds the new key; the old one is deleted.");
    Ok(ExitStatus::Success)
}
