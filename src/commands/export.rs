//! `export`: observe and plan like `plan`, then write the setup as OpenTofu/Terraform or
//! CloudFormation into a local directory; AWS and GitHub are only read.
use std::path::PathBuf;

use serde_json::json;

use super::observe_and_plan;
use crate::config::OutputFormat;
use crate::config::{Presentation, RepoName, Settings};
use crate::error::{Error, ExitStatus, Result};
use crate::export::{self, Format, files};
use crate::plan::{Action, Plan};
use crate::spec::Intent;

pub struct ExportRequest {
    pub format: Format,
    pub out: PathBuf,
    /// Export the settings even though what exists differs from them.
    pub allow_drift: bool,
    /// Write into a non-empty directory that holds no earlier export.
    pub force: bool,
}

/// An export of an unconverged setup would not import cleanly: say what differs.
fn refusal(plan: &Plan) -> Error {
    let lines: Vec<String> = plan
        .changes
        .iter()
        .map(|c| {
            let verb = match c.action {
                Action::Create => "+ create",
                Action::Update => "~ update",
                Action::Delete => "- delete",
                Action::Blocked => "! blocked",
                Action::Keep => "= keep",
            };
            let detail = c
                .details
                .first()
                .map(|d| format!(": {}", d.trim()))
                .unwrap_or_default();
            format!("  {verb} {} {}{detail}", c.resource.as_str(), c.name)
        })
        .collect();
    Error::Blocked(format!(
        "nothing was exported: what exists differs from the settings ({} change(s)), so the export would not import cleanly:\n{}\n  Run `skyecr-bootstrap apply` first, then export again; or pass --allow-drift to export the settings as they are.",
        plan.changes.len(),
        lines.join("\n")
    ))
}

pub async fn export(
    settings: &Settings,
    presentation: Presentation,
    request: ExportRequest,
) -> Result<ExitStatus> {
    // Before any read: a directory that cannot take the export is known at once.
    files::check(&request.out, request.force)?;
    let ctx = observe_and_plan(settings, Intent::default()).await?;
    if !ctx.plan.changes.is_empty() {
        if !request.allow_drift {
            return Err(refusal(&ctx.plan));
        }
        eprintln!(
            "warning: exporting the settings although {} change(s) are pending (--allow-drift); the engine's first plan will show them.",
            ctx.plan.changes.len()
        );
    }
    let repo = RepoName {
        owner: ctx.repo.owner.clone(),
        name: ctx.repo.name.clone(),
    };
    let setup = export::setup(
        &ctx.desired,
        &ctx.observed,
        &repo,
        &ctx.identity.account_id,
        &ctx.aws.region,
    )
    .ok_or_else(|| {
        Error::Usage(
            "the settings describe no role and no user, so there is nothing to export".into(),
        )
    })?;
    let imports = request.format.imports(&setup);
    let written = files::write(
        &request.out,
        request.format,
        &request.format.render(&setup),
        request.force,
    )?;
    let dir = request.out.display().to_string();
    if presentation.output == OutputFormat::Json {
        println!(
            "{}",
            json!({
                "format": request.format.as_str(),
                "directory": dir,
                "files": written.files,
                "removed": written.removed,
                "imports": imports,
            })
        );
    } else {
        println!(
            "Wrote {} export of {} to {dir}: {}.",
            request.format.as_str(),
            ctx.target(),
            written.files.join(", ")
        );
        for old in &written.removed {
            println!("Removed {old}: the earlier export had it, this one does not.");
        }
    }
    match request.format {
        Format::Terraform => eprintln!(
            "Next: cd {dir} && tofu init && tofu plan ({} resource(s) to import; README.md says what to expect).",
            imports.len()
        ),
        Format::Cloudformation => eprintln!(
            "Next: create an IMPORT change set for the {} existing resource(s), as {dir}/README.md shows.",
            imports.len()
        ),
    }
    Ok(ExitStatus::Success)
}
