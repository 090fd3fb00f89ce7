//! skyecr-bootstrap: observe → plan → apply for GitHub Actions → Amazon ECR.
pub mod apply;
pub mod audit;
pub mod cli;
pub mod cloud;
pub mod commands;
pub mod config;
pub mod error;
pub mod export;
pub mod files;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod resources;
pub mod spec;
pub mod ui;
pub mod workflow;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::{Cli, Command};
use crate::config::OutputFormat;
use crate::error::{Error, ExitStatus, Result};

/// Parses the command line, runs it, and maps every outcome to an exit code.
pub fn main_entry() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let asked = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            // A script that asked for JSON gets its one document even when the line did not parse.
            if !asked && json_requested(std::env::args().skip(1)) {
                println!(
                    "{}",
                    serde_json::json!({"error": {"message": usage_message(&e)}})
                );
            }
            // Usage errors are 1, not clap's 2: a typo in CI must never read as drift.
            return match asked {
                true => ExitStatus::Success,
                false => ExitStatus::Failure,
            }
            .into();
        }
    };
    if cli.verbose {
        cloud::set_verbose();
    }
    if cli.quiet {
        ui::progress::set_quiet();
    }
    // A settings file that cannot be read is reported by `run`; until then flags and defaults apply.
    let creates = matches!(cli.command, Command::Apply { .. } | Command::Init { .. });
    let file = config::load_file(cli.settings.config.as_deref(), creates).unwrap_or_default();
    let presentation = config::presentation(&config::merge(&cli.settings.values, file), cli.yes);
    ui::init_colors(presentation.color);
    let json = presentation.output == OutputFormat::Json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(
                &Error::Io(format!("cannot start the async runtime: {e}")),
                json,
            );
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            // On the heap: a command's future (the SDK's inside) outgrows the main thread's
            // stack in a debug build.
            r = Box::pin(run(cli)) => r,
            _ = tokio::signal::ctrl_c() => Err(Error::Interrupted),
        }
    });
    // Don't wait for in-flight SDK calls after an interrupt.
    runtime.shutdown_background();
    if matches!(outcome, Err(Error::Interrupted)) && console::Term::stderr().is_term() {
        // A prompt interrupted mid-way leaves the cursor hidden and the line unfinished.
        let term = console::Term::stderr();
        let _ = term.show_cursor();
        let _ = term.write_line("");
    }
    match outcome {
        Ok(status) => status.into(),
        Err(e) => report(&e, json),
    }
}

/// Whether a command line that clap refused asked for JSON, by `--output json` or through the
/// settings file it names (or `./skyecr.json`).
fn json_requested(args: impl Iterator<Item = String>) -> bool {
    let args: Vec<String> = args.collect();
    let value_of = |flag: &str| {
        let inline = format!("{flag}=");
        args.iter().enumerate().rev().find_map(|(i, a)| {
            a.strip_prefix(&inline)
                .map(str::to_string)
                .or_else(|| (a == flag).then(|| args.get(i + 1).cloned()).flatten())
        })
    };
    match value_of("--output") {
        Some(output) => output == "json",
        None => {
            let path = value_of("--config").map(std::path::PathBuf::from);
            config::load_file(path.as_deref(), false)
                .is_ok_and(|file| file.output == Some(OutputFormat::Json))
        }
    }
}

/// clap's error without its `error:` prefix and the usage lines that follow.
fn usage_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.split("\n\n").next().unwrap_or(&text);
    first.trim().trim_start_matches("error: ").to_string()
}

fn report(e: &Error, json: bool) -> ExitCode {
    eprintln!("{} {e}", console::style("error:").red().bold().for_stderr());
    if json {
        println!(
            "{}",
            serde_json::json!({"error": {"message": e.to_string()}})
        );
    }
    e.exit_status().into()
}

pub async fn run(cli: Cli) -> Result<ExitStatus> {
    let creates = matches!(cli.command, Command::Apply { .. } | Command::Init { .. });
    let given = || -> Result<config::RawSettings> {
        let file = config::load_file(cli.settings.config.as_deref(), creates)?;
        Ok(config::merge(&cli.settings.values, file))
    };
    // Each command validates when it starts: init asks for what is missing instead, and
    // completions need no settings at all.
    let settings = || config::validate(&given()?);
    let presentation = config::presentation(&given()?, cli.yes);
    if matches!(
        presentation.output,
        OutputFormat::Markdown | OutputFormat::Sarif
    ) && !matches!(cli.command, Command::Audit { .. })
    {
        let name = if presentation.output == OutputFormat::Sarif {
            "sarif"
        } else {
            "markdown"
        };
        return Err(Error::Usage(format!(
            "--output {name} is only for audit; use text or json"
        )));
    }
    match cli.command {
        Command::Init { no_save } => {
            commands::init(&cli.settings, given()?, presentation, no_save).await
        }
        Command::Completions { shell } => commands::completions(shell, presentation.output),
        Command::Plan {
            detailed_exitcode,
            adopt,
        } => commands::plan(&settings()?, presentation, detailed_exitcode, adopt).await,
        Command::Apply {
            force_secrets,
            adopt,
            no_save,
        } => {
            let save = match no_save {
                true => None,
                false => Some(config::Saving {
                    path: config::settings_path(cli.settings.config.as_deref()),
                    given: given()?,
                }),
            };
            commands::apply(&settings()?, presentation, force_secrets, adopt, save).await
        }
        Command::RotateKeys => commands::rotate_keys(&settings()?, presentation).await,
        Command::Destroy {
            force,
            keep_repository,
        } => commands::destroy(&settings()?, presentation, force, keep_repository).await,
        Command::Audit { all_roles } => {
            // SARIF results point at the settings file, where the scope is set.
            let settings_file = config::settings_path(cli.settings.config.as_deref());
            commands::audit(&settings()?, presentation, all_roles, &settings_file).await
        }
        Command::CheckAccess {
            git_ref,
            event,
            claims,
            sub,
            session_name,
        } => {
            let claims = match (claims, sub) {
                (Some(path), _) => commands::Claims::from_file(&path)?,
                (None, Some(sub)) => commands::Claims::Subject(sub),
                // The job's environment comes from the command line only, never from skyecr.json's scopes.
                (None, None) => commands::Claims::Job(commands::Job::from_flags(
                    git_ref,
                    &cli.settings.values.environments,
                    event,
                )?),
            };
            commands::check_access(&settings()?, presentation, claims, session_name).await
        }
        Command::Export {
            format,
            out,
            allow_drift,
            force,
        } => {
            let request = commands::ExportRequest {
                format,
                out,
                allow_drift,
                force,
            };
            commands::export(&settings()?, presentation, request).await
        }
        Command::Workflow {
            path,
            trigger_branch,
            platforms,
            stdout,
            force,
        } => {
            let request = commands::WorkflowRequest {
                path,
                trigger_branch,
                platforms,
                stdout,
                force,
                json: presentation.output == OutputFormat::Json,
            };
            commands::workflow(&settings()?, request).await
        }
    }
}
