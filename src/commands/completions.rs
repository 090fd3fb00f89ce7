//! `completions`: shell completion scripts generated from the clap definition, so they never drift.
use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::config::OutputFormat;
use crate::error::{Error, ExitStatus, Result};

pub fn completions(shell: Shell, output: OutputFormat) -> Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "skyecr-bootstrap", &mut script);
    let mut stdout = std::io::stdout().lock();
    let written = match output {
        // `--output json` keeps its promise of one JSON document on stdout, even here.
        OutputFormat::Json => writeln!(
            stdout,
            "{}",
            serde_json::json!({"shell": shell.to_string(), "script": String::from_utf8_lossy(&script)})
        ),
        _ => stdout.write_all(&script),
    };
    written.map_err(|e| Error::Io(format!("cannot write the completion script: {e}")))?;
    Ok(ExitStatus::Success)
}
