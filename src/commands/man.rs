//! `man`: the manual pages, generated from the clap definition like the completions, so they
//! never drift from `--help`.
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::Cli;
use crate::config::OutputFormat;
use crate::error::{Error, ExitStatus, Result};

/// The page of `cmd` as roff text.
fn page(cmd: clap::Command) -> Result<(String, String)> {
    let man = clap_mangen::Man::new(cmd);
    let mut roff = Vec::new();
    man.render(&mut roff)
        .map_err(|e| Error::Io(format!("cannot render the manual page: {e}")))?;
    Ok((
        man.get_filename(),
        String::from_utf8_lossy(&roff).into_owned(),
    ))
}

/// The command and every subcommand below it, each with its page's name
/// (`skyecr-bootstrap-plan.1`), as `man` finds them.
fn pages(cmd: &clap::Command, out: &mut Vec<(String, String)>) -> Result<()> {
    out.push(page(cmd.clone())?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages(sub, out)?;
    }
    Ok(())
}

/// Without `out`: the page of the whole CLI (its SUBCOMMANDS section names each command) on
/// stdout. With `out`: one page per command written into that directory.
pub fn man(out: Option<PathBuf>, output: OutputFormat) -> Result<ExitStatus> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Built, the subcommands carry the names their pages go by (`skyecr-bootstrap-plan`).
    cmd.build();
    let mut stdout = std::io::stdout().lock();
    let written = match out {
        None => {
            let (_, roff) = page(cmd)?;
            match output {
                // `--output json` keeps its promise of one JSON document on stdout, even here.
                OutputFormat::Json => {
                    writeln!(stdout, "{}", serde_json::json!({ "page": roff }))
                }
                _ => stdout.write_all(roff.as_bytes()),
            }
        }
        Some(dir) => {
            let files = write_pages(&cmd, &dir)?;
            match output {
                OutputFormat::Json => writeln!(
                    stdout,
                    "{}",
                    serde_json::json!({"directory": dir.display().to_string(), "files": files})
                ),
                _ => {
                    eprintln!("Wrote {} manual pages into {}", files.len(), dir.display());
                    Ok(())
                }
            }
        }
    };
    written.map_err(|e| Error::Io(format!("cannot write the manual page: {e}")))?;
    Ok(ExitStatus::Success)
}

/// Writes every page into `dir` (created when missing), each atomically and never through a
/// link; returns the files' names.
fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<Vec<String>> {
    crate::files::refuse_link(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Io(format!(
            "cannot create {}: {e}. Give --out a directory you can write to.",
            dir.display()
        ))
    })?;
    let mut all = Vec::new();
    pages(cmd, &mut all)?;
    let mut names = Vec::new();
    for (name, roff) in all {
        crate::files::write_atomically(&dir.join(&name), &roff)?;
        names.push(name);
    }
    Ok(names)
}
