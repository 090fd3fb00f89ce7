//! One progress line per change on stderr: a spinner on a terminal, plain lines otherwise.
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Error;
use crate::plan::{Action, Change, Kind};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: no progress lines and no notes of what was done; results, prompts, warnings and
/// errors still show.
pub fn set_quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

/// A line about the run's progress on stderr, unless `--quiet`.
pub fn note(text: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("{text}");
    }
}

pub struct Progress {
    bars: Option<MultiProgress>,
    /// The repository a line is about, when many are applied at once.
    label: Option<String>,
    /// What became of each change, so a failed run can say what was already done.
    finished: Mutex<Vec<Finished>>,
}

pub struct Line(Option<ProgressBar>);

/// One change that ran: `outcome` is `created`, `updated`, `deleted` or `failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub resource: Kind,
    pub name: String,
    pub outcome: &'static str,
}

fn verb(action: Action, done: bool) -> &'static str {
    match (action, done) {
        (Action::Create, false) => "creating",
        (Action::Create, true) => "created",
        (Action::Update, false) => "updating",
        (Action::Update, true) => "updated",
        (Action::Delete, false) => "deleting",
        (Action::Delete, true) => "deleted",
        (Action::Blocked, _) => "blocked",
        (Action::Keep, _) => "kept",
    }
}

impl Progress {
    pub fn new() -> Progress {
        let fancy = std::io::stderr().is_terminal()
            && console::colors_enabled_stderr()
            && !QUIET.load(Ordering::Relaxed);
        Progress {
            bars: fancy.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            label: None,
            finished: Mutex::new(Vec::new()),
        }
    }

    /// Lines for one repository of many, drawn with the others' and named by `label`.
    pub fn for_entry(&self, label: &str) -> Progress {
        Progress {
            bars: self.bars.clone(),
            label: Some(label.to_string()),
            finished: Mutex::new(Vec::new()),
        }
    }

    /// `role NAME`, after the repository's name when many run at once.
    fn subject(&self, change: &Change) -> String {
        let what = format!("{} {}", change.resource.as_str(), change.name);
        match &self.label {
            Some(label) => format!("{label}: {what}"),
            None => what,
        }
    }

    pub fn start(&self, change: &Change) -> Line {
        match &self.bars {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix} {elapsed} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(self.subject(change));
                bar.set_message(format!("{}…", verb(change.action, false)));
                bar.enable_steady_tick(Duration::from_millis(100));
                Line(Some(bar))
            }
            None => Line(None),
        }
    }

    /// Ends the change's line with its outcome, so the last word of every line says what happened.
    pub fn finish(&self, line: Line, change: &Change, error: Option<&Error>, elapsed: Duration) {
        let (mark, outcome) = match error {
            None => (style("✓").green().for_stderr(), verb(change.action, true)),
            Some(_) => (style("✗").red().for_stderr(), "failed"),
        };
        let text = format!(
            "{mark} {} {:.1}s {outcome}",
            self.subject(change),
            elapsed.as_secs_f64()
        );
        if let Ok(mut finished) = self.finished.lock() {
            finished.push(Finished {
                resource: change.resource,
                name: change.name.clone(),
                outcome,
            });
        }
        match line.0 {
            Some(bar) => {
                // The finished line drops the spinner and the live timer: the text says it all.
                bar.set_style(
                    ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.finish_with_message(text);
            }
            None => note(&text),
        }
    }

    /// The changes that ran so far, in the order they ended.
    pub fn finished(&self) -> Vec<Finished> {
        self.finished.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}
