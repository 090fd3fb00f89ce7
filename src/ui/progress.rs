//! One progress line per change on stderr: a spinner on a terminal, plain lines otherwise.
use std::io::IsTerminal;
use std::time::Duration;

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Error;
use crate::plan::{Action, Change};

pub struct Progress {
    bars: Option<MultiProgress>,
}

pub struct Line(Option<ProgressBar>);

fn verb(action: Action, done: bool) -> &'static str {
    match (action, done) {
        (Action::Create, false) => "creating",
        (Action::Create, true) => "created",
        (Action::Update, false) => "updating",
        (Action::Update, true) => "updated",
        (Action::Delete, false) => "deleting",
        (Action::Delete, true) => "deleted",
        (Action::Blocked, _) => "blocked",
    }
}

impl Progress {
    pub fn new() -> Progress {
        let fancy = std::io::stderr().is_terminal() && console::colors_enabled_stderr();
        Progress {
            bars: fancy.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    pub fn start(&self, change: &Change) -> Line {
        let text = format!(
            "{} {} {}",
            verb(change.action, false),
            change.resource.as_str(),
            change.name
        );
        match &self.bars {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(text);
                bar.enable_steady_tick(Duration::from_millis(100));
                Line(Some(bar))
            }
            None => Line(None),
        }
    }

    pub fn finish(&self, line: Line, change: &Change, error: Option<&Error>, elapsed: Duration) {
        let what = format!("{} {}", change.resource.as_str(), change.name);
        let text = match error {
            None => format!(
                "{} {} {what} ({:.1}s)",
                style("✓").green().for_stderr(),
                verb(change.action, true),
                elapsed.as_secs_f64()
            ),
            Some(_) => format!(
                "{} failed: {what} ({:.1}s)",
                style("✗").red().for_stderr(),
                elapsed.as_secs_f64()
            ),
        };
        match line.0 {
            Some(bar) => bar.finish_with_message(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}
