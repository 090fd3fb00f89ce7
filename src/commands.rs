//! The commands: each one a short composition of observe, plan, apply and rendering.
use std::process::ExitCode;

use crate::cli::OutputArg;
use crate::cloud::aws::{Aws, Identity};
use crate::cloud::github::{self, GitHub, RepoInfo};
use crate::config::{self, AuthMode, Presentation, Settings};
use crate::error::{Error, Result};
use crate::observe::observe;
use crate::plan::{Plan, plan as make_plan};
use crate::spec::{self, Desired, RepoIdentity};
use crate::ui::{self, progress::Progress, render};
use crate::workflow::{self, WorkflowAuth, WorkflowOptions};

/// Everything a command needs after the read-only preamble.
struct Context {
    aws: Aws,
    github: GitHub,
    repo: RepoInfo,
    identity: Identity,
    desired: Desired,
    plan: Plan,
}

impl Context {
    fn target(&self) -> String {
        format!(
            "AWS account {} ({}) and GitHub repository {}/{}",
            self.identity.account_id, self.aws.region, self.repo.owner, self.repo.name
        )
    }
}

async fn observe_and_plan(settings: &Settings, force_secrets: bool) -> Result<Context> {
    config::require_scopes(settings)?;
    let github = GitHub::new(github::discover_token()?)?;
    let aws = Aws::connect(settings).await?;
    // The repository read proves the token can see it before anything is written anywhere.
    let (identity, repo, template) = tokio::try_join!(
        aws.identity(),
        github.repository(&settings.github),
        github.subject_template(&settings.github),
    )?;
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
        template.as_deref(),
        force_secrets,
    )?;
    let observed = observe(&aws, &github, &desired).await?;
    let plan = make_plan(&desired, &observed);
    Ok(Context {
        aws,
        github,
        repo,
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
    let ctx = observe_and_plan(settings, false).await?;
    print_plan(&ctx, presentation);
    if detailed_exitcode && !ctx.plan.changes.is_empty() {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn apply(
    settings: &Settings,
    presentation: Presentation,
    force_secrets: bool,
) -> Result<ExitCode> {
    let ctx = observe_and_plan(settings, force_secrets).await?;
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
    crate::apply::apply(
        &ctx.aws,
        &ctx.github,
        &ctx.desired,
        &ctx.plan,
        &Progress::new(),
    )
    .await?;
    eprintln!("Apply complete: {} change(s) made.", ctx.plan.changes.len());
    eprintln!(
        "Next: `skyecr-bootstrap workflow` writes the build-and-push workflow; `skyecr-bootstrap audit` checks for drift."
    );
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

pub struct WorkflowRequest {
    pub path: String,
    pub trigger_branch: Option<String>,
    pub platforms: Vec<String>,
    pub stdout: bool,
    pub force: bool,
}

/// Writes the workflow; a file that differs is only replaced with `--force` (the diff is shown).
pub async fn workflow(settings: &Settings, request: WorkflowRequest) -> Result<ExitCode> {
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
    if request.stdout {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let path = std::path::Path::new(&request.path);
    match std::fs::read_to_string(path) {
        Ok(existing) if existing == text => {
            eprintln!("{} is already up to date.", request.path);
            return Ok(ExitCode::SUCCESS);
        }
        Ok(existing) if !request.force => {
            let diff = similar::TextDiff::from_lines(&existing, &text)
                .unified_diff()
                .header(&request.path, "generated")
                .to_string();
            print!("{diff}");
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
    Ok(ExitCode::SUCCESS)
}
