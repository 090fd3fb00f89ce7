//! One progress line per change on stderr: a spinner on a terminal, plain lines otherwise.
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Error;
use crate::plan::{Action, Change, Kind, Plan};

static QUIET: AtomicBool = AtomicBool::new(false);
static JSON: AtomicBool = AtomicBool::new(false);

/// `--quiet`: no progress lines and no notes of what was done; results, prompts, warnings and
/// errors still show.
pub fn set_quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

/// `--output json`: stderr stays free of spinners, for a script reading both streams.
pub fn set_json_output() {
    JSON.store(true, Ordering::Relaxed);
}

/// Spinners and live lines: only for a person at a terminal who asked neither for quiet nor
/// for `--verbose`, whose request lines would cut through them.
fn fancy() -> bool {
    std::io::stderr().is_terminal()
        && console::colors_enabled_stderr()
        && !QUIET.load(Ordering::Relaxed)
        && !crate::cloud::verbose()
}

/// "Reading AWS and GitHub…" while the reads run, on a terminal only (not with `--quiet` or
/// `--output json`); the line goes when this is dropped, before the plan is printed.
pub struct Reading(Option<ProgressBar>);

pub fn reading() -> Reading {
    const TEXT: &str = "Reading AWS and GitHub…";
    if JSON.load(Ordering::Relaxed) || !std::io::stderr().is_terminal() {
        return Reading(None);
    }
    if !fancy() {
        note(TEXT);
        return Reading(None);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(TEXT);
    bar.enable_steady_tick(Duration::from_millis(100));
    Reading(Some(bar))
}

impl Drop for Reading {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
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
    /// The changes that started, so an interrupted run can say what was in flight.
    started: Mutex<Vec<(Kind, String)>>,
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
        Progress {
            bars: fancy().then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            label: None,
            started: Mutex::new(Vec::new()),
            finished: Mutex::new(Vec::new()),
        }
    }

    /// Lines for one repository of many, drawn with the others' and named by `label`.
    pub fn for_entry(&self, label: &str) -> Progress {
        Progress {
            bars: self.bars.clone(),
            label: Some(label.to_string()),
            started: Mutex::new(Vec::new()),
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
        if let Ok(mut started) = self.started.lock() {
            started.push((change.resource, change.name.clone()));
        }
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

/// Until disarmed, a run of `plan` that is dropped half-way (Ctrl-C) says on stderr what
/// finished, what was in flight and what never started.
pub struct Watch<'a> {
    progress: &'a Progress,
    plan: &'a Plan,
    armed: bool,
}

impl Progress {
    pub fn watch<'a>(&'a self, plan: &'a Plan) -> Watch<'a> {
        Watch {
            progress: self,
            plan,
            armed: true,
        }
    }
}

impl Watch<'_> {
    /// The run ended by itself (done or failed): its own messages say how.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // The live lines go first, and stay gone as the changes' futures are dropped after.
        if let Some(bars) = &self.progress.bars {
            let _ = bars.clear();
            bars.set_draw_target(ProgressDrawTarget::hidden());
        }
        let started = self
            .progress
            .started
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        eprint!(
            "{}",
            interrupted_summary(self.plan, &started, &self.progress.finished())
        );
    }
}

/// What an interrupted apply leaves: each change finished (with its outcome), in flight (it
/// may or may not have happened) or not started; the rerun reads what exists and continues.
pub fn interrupted_summary(
    plan: &Plan,
    started: &[(Kind, String)],
    finished: &[Finished],
) -> String {
    let is = |list: &[(Kind, String)], c: &Change| {
        list.iter().any(|(k, n)| *k == c.resource && *n == c.name)
    };
    let done: Vec<(Kind, String)> = finished
        .iter()
        .map(|f| (f.resource, f.name.clone()))
        .collect();
    let mut out = String::from("\nInterrupted. Where it stopped:\n");
    for f in finished {
        out.push_str(&format!(
            "  finished     {} {} ({})\n",
            f.resource.as_str(),
            f.name,
            f.outcome
        ));
    }
    let runnable = plan.changes.iter().filter(|c| c.op.is_some());
    for c in runnable.clone().filter(|c| is(started, c) && !is(&done, c)) {
        out.push_str(&format!(
            "  interrupted  {} {} (was {}; it may or may not have happened)\n",
            c.resource.as_str(),
            c.name,
            verb(c.action, false)
        ));
    }
    for c in runnable.filter(|c| !is(started, c)) {
        out.push_str(&format!(
            "  not started  {} {}\n",
            c.resource.as_str(),
            c.name
        ));
    }
    out.push_str("A rerun of the same command continues from there: it reads what exists and makes only the changes left.\n");
    out
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_run_lists_finished_in_flight_and_not_started() {
        let summary = interrupted_summary(
            &Plan::default(),
            &[(Kind::Role, "r".into())],
            &[Finished {
                resource: Kind::Policy,
                name: "p".into(),
                outcome: "created",
            }],
        );
        assert!(
            summary.contains("  finished     policy p (created)\n"),
            "{summary}"
        );
        assert!(
            summary.contains("A rerun of the same command continues"),
            "{summary}"
        );
        // Only changes that run are listed as left: a plan without operations leaves none.
        assert!(!summary.contains("not started"), "{summary}");
    }
}
