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
    let presentation =
        config::presentation(&config::merge(&cli.settings.values, file.defaults), cli.yes);
    ui::init_colors(presentation.color);
    let json = presentation.output == OutputFormat::Json;
    if json {
        ui::progress::set_json_output();
    }
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
                .is_ok_and(|file| file.defaults.output == Some(OutputFormat::Json))
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
    let file = config::load_file(cli.settings.config.as_deref(), creates)?;
    let presentation = config::presentation(
        &config::merge(&cli.settings.values, file.defaults.clone()),
        cli.yes,
    );
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
    let settings_file = config::settings_path(cli.settings.config.as_deref());
    // init asks for what is missing instead of validating, and completions need no settings.
    let given = match cli.command {
        Command::Init { no_save } => {
            return commands::init(&cli.settings, file, presentation, no_save).await;
        }
        Command::Completions { shell } => {
            return commands::completions(shell, presentation.output);
        }
        Command::Man { out } => return commands::man(out, presentation.output),
        _ => match config::manifest::resolve(&cli.settings.values, file.clone())? {
            config::Scope::One(given) => *given,
            // Files go into one repository's checkout or one directory: one entry at a time.
            config::Scope::Many(mut entries)
                if entries.len() == 1
                    && matches!(
                        cli.command,
                        Command::Workflow { .. } | Command::Export { .. }
                    ) =>
            {
                entries.remove(0)
            }
            config::Scope::Many(raws) => {
                let entries = config::manifest::validate_entries(&raws)?;
                // Boxed: every command's future inline would make this one too large for a stack.
                return Box::pin(many(cli, raws, entries, presentation, file, settings_file)).await;
            }
        },
    };
    let settings = || config::validate(&given);
    match cli.command {
        Command::Init { .. } | Command::Completions { .. } | Command::Man { .. } => {
            Ok(ExitStatus::Success)
        }
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
                    path: settings_file,
                    given: given.clone(),
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
            commands::audit(
                &settings()?,
                given.clone(),
                presentation,
                all_roles,
                &settings_file,
            )
            .await
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

/// A command over the settings file's repositories.
async fn many(
    cli: Cli,
    raws: Vec<config::RawSettings>,
    entries: Vec<config::Settings>,
    presentation: config::Presentation,
    file: config::SettingsFile,
    settings_file: std::path::PathBuf,
) -> Result<ExitStatus> {
    use commands::many::{self, Writing};
    use spec::Intent;
    let writing = |intent, what| Writing {
        intent,
        what,
        save: None,
    };
    match cli.command {
        Command::Plan {
            detailed_exitcode,
            adopt,
        } => many::plan(&entries, presentation, detailed_exitcode, adopt).await,
        Command::Apply {
            force_secrets,
            adopt,
            no_save,
        } => {
            let intent = Intent {
                force_secrets,
                adopt,
                ..Intent::default()
            };
            let writing = Writing {
                save: (!no_save).then_some((settings_file, file)),
                ..writing(intent, "apply")
            };
            many::write(&entries, presentation, writing).await
        }
        Command::Destroy {
            force,
            keep_repository,
        } => {
            let intent = Intent {
                teardown: true,
                delete_images: force,
                keep_repository,
                ..Intent::default()
            };
            many::write(&entries, presentation, writing(intent, "destroy")).await
        }
        Command::RotateKeys => {
            let keyed: Vec<config::Settings> = entries
                .into_iter()
                .filter(|s| s.auth == config::AuthMode::AccessKey)
                .collect();
            if keyed.is_empty() {
                return Err(Error::Usage(
                    "rotate-keys is for access-key mode, and none of the settings file's repositories uses it (\"auth\": \"access-key\")".into(),
                ));
            }
            let intent = Intent {
                rotate_keys: true,
                ..Intent::default()
            };
            many::write(&keyed, presentation, writing(intent, "rotate-keys")).await
        }
        Command::Audit { all_roles } => {
            let path = &settings_file;
            let raw_of = |s: &config::Settings| {
                let index = entries.iter().position(|e| e == s).unwrap_or_default();
                raws.get(index).cloned().unwrap_or_default()
            };
            let managed: Vec<String> = entries.iter().map(|s| s.role_name.clone()).collect();
            // The account's other roles are read once, with the first entry's AWS settings.
            let account = entries.first().filter(|_| all_roles).map(|first| {
                Box::pin(commands::other_roles(
                    first,
                    raw_of(first),
                    presentation,
                    &managed,
                    path,
                )) as many::Command<'_>
            });
            Ok(many::each(
                &entries,
                presentation,
                |s| {
                    Box::pin(commands::audit(s, raw_of(s), presentation, false, path))
                        as many::Command<'_>
                },
                account,
            )
            .await)
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
                (None, None) => commands::Claims::Job(commands::Job::from_flags(
                    git_ref,
                    &cli.settings.values.environments,
                    event,
                )?),
            };
            let (claims, session_name) = (&claims, &session_name);
            Ok(many::each(
                &entries,
                presentation,
                |s| commands::check_access(s, presentation, claims.clone(), session_name.clone()),
                None,
            )
            .await)
        }
        Command::Workflow { .. } | Command::Export { .. } => {
            let listed: Vec<String> = entries.iter().map(|s| s.github.to_string()).collect();
            Err(Error::Usage(format!(
                "this command writes files for one repository, and the settings file lists {}: pick one with --github-repo ({})",
                entries.len(),
                listed.join(", ")
            )))
        }
        Command::Init { .. } | Command::Completions { .. } | Command::Man { .. } => {
            Ok(ExitStatus::Success)
        }
    }
}
