//! `workflow`: the guide's build-and-push pipeline, matched to the settings.

use crate::cloud::aws::Aws;
use crate::config::{self, AuthMode, Settings};
use crate::error::{Error, ExitStatus, Result};
use crate::workflow::{self, WorkflowAuth, WorkflowOptions};

pub struct WorkflowRequest {
    pub path: String,
    pub trigger_branch: Option<String>,
    pub platforms: Vec<String>,
    pub stdout: bool,
    pub force: bool,
    /// `--output json`: one JSON document on stdout instead of the file text or diff.
    pub json: bool,
}

/// Writes the workflow; a file that differs is only replaced with `--force` (the diff is shown).
pub async fn workflow(settings: &Settings, request: WorkflowRequest) -> Result<ExitStatus> {
    let trigger_branch = request
        .trigger_branch
        .or_else(|| settings.scopes.branches.first().cloned())
        .unwrap_or_else(|| workflow::DEFAULT_TRIGGER_BRANCH.to_string());
    config::check_branch_flag("--trigger-branch", &trigger_branch)?;
    for p in &request.platforms {
        config::check_platform(p)?;
    }
    let s = &settings.scopes;
    if !s.is_empty() && !s.any_ref && !s.branches.contains(&trigger_branch) {
        eprintln!(
            "warning: the trust scopes do not include branch {trigger_branch}: pushes to it will be refused by AWS.\n  Add --branch {trigger_branch} and rerun `skyecr-bootstrap apply`."
        );
    }
    let region = Aws::connect(settings).await?.region;
    let options = WorkflowOptions {
        auth: match settings.auth {
            AuthMode::Oidc => WorkflowAuth::Oidc {
                secret_name: settings.secret_name.clone(),
            },
            AuthMode::AccessKey => WorkflowAuth::AccessKey,
        },
        region,
        ecr_repository: settings.ecr_repository.clone(),
        trigger_branch,
        platforms: request.platforms,
        workflow_path: request.path.clone(),
    };
    let text = workflow::render(&options);
    let result = |status: &str| {
        if request.json {
            println!(
                "{}",
                serde_json::json!({"path": request.path, "status": status, "trigger_branch": options.trigger_branch})
            );
        }
    };
    if request.stdout {
        if request.json {
            println!(
                "{}",
                serde_json::json!({"path": request.path, "workflow": text})
            );
        } else {
            print!("{text}");
        }
        return Ok(ExitStatus::Success);
    }
    let path = std::path::Path::new(&request.path);
    match std::fs::read_to_string(path) {
        Ok(existing) if existing == text => {
            eprintln!("{} is already up to date.", request.path);
            result("unchanged");
            return Ok(ExitStatus::Success);
        }
        Ok(existing) if !request.force => {
            let diff = similar::TextDiff::from_lines(&existing, &text)
                .unified_diff()
                .header(&request.path, "generated")
                .to_string();
            // With --output json, stdout is kept for the one error document.
            if request.json {
                eprint!("{diff}");
            } else {
                print!("{diff}");
            }
            return Err(Error::Usage(format!(
                "{} exists and differs from the generated workflow (diff above); nothing was written.\n  Rerun with --force to replace it.",
                request.path
            )));
        }
        _ => {}
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(path, &text)
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", request.path)))?;
    eprintln!(
        "Wrote {}. Commit it, then push to {} or run it from the Actions tab.",
        request.path, options.trigger_branch
    );
    result("written");
    Ok(ExitStatus::Success)
}
