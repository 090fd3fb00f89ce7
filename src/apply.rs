//! Apply: run the plan's changes in dependency order, concurrently within a stage. The only writes.
use std::future::Future;
use std::sync::Mutex;
use std::time::Instant;

use futures::future::join_all;

use crate::cloud::aws::Aws;
use crate::cloud::github::GitHub;
use crate::error::{Error, Result};
use crate::observe::Observed;
use crate::plan::{Change, FINAL_STAGE, Op, Part, Plan};
use crate::resources::{
    access_key, oidc_provider, push_policy, repository, role, secret, user, variable,
};
use crate::spec::Desired;
use crate::ui::progress::{Line, Progress};

/// What `apply` works on: the clients, and the desired and observed state the plan came from.
pub struct Target<'a> {
    pub aws: &'a Aws,
    pub github: &'a GitHub,
    pub desired: &'a Desired,
    pub observed: &'a Observed,
}

async fn run_change(t: &Target<'_>, change: &Change, part: Part) -> Result<()> {
    let (aws, github, desired) = (t.aws, t.github, t.desired);
    let Some(op) = change.op.as_ref() else {
        return Err(Error::Blocked(change.details.join(" ")));
    };
    match op {
        Op::Provider(op) => match &desired.provider {
            Some(d) => oidc_provider::apply(aws, d.spec(), op).await,
            None => Ok(()),
        },
        Op::Role(op) => match &desired.role {
            Some(d) => role::apply(aws, d.spec(), op).await,
            None => Ok(()),
        },
        Op::User(op) => match &desired.user {
            Some(d) => user::apply(aws, d.spec(), op, part).await,
            None => Ok(()),
        },
        Op::AccessKey(op) => {
            let spec = desired.access_key.spec();
            access_key::apply(aws, github, spec, &t.observed.access_key, op, part).await
        }
        Op::Policy(op) => push_policy::apply(aws, desired.policy.spec(), op).await,
        Op::Repository(op) => repository::apply(aws, desired.repository.spec(), op).await,
        Op::Secret(i, op) => match (desired.secrets.get(*i), t.observed.secrets.get(*i)) {
            (Some(d), Some(live)) => secret::apply(github, d.spec(), live, op).await,
            _ => Ok(()),
        },
        Op::Variable(i, op) => match desired.variables.get(*i) {
            Some(d) => variable::apply(github, d.spec(), op).await,
            None => Ok(()),
        },
    }
}

/// One part of a change, in the stage it runs in.
struct Task<'a> {
    /// Position in the plan: where the change's progress line waits between its parts.
    index: usize,
    change: &'a Change,
    stage: u8,
    part: Part,
    /// The change's last part: its progress line ends with it.
    last: bool,
}

/// Blocked and kept changes carry no operation; they sit in stage 0 (and are never run).
fn tasks(plan: &Plan) -> Vec<Task<'_>> {
    let mut tasks = Vec::new();
    for (index, change) in plan.changes.iter().enumerate() {
        let parts = change
            .op
            .as_ref()
            .map_or_else(|| vec![(0, Part::Whole)], Op::parts);
        let count = parts.len();
        for (n, (stage, part)) in parts.into_iter().enumerate() {
            tasks.push(Task {
                index,
                change,
                stage,
                part,
                last: n + 1 == count,
            });
        }
    }
    tasks
}

fn lane_of(change: &Change) -> bool {
    change.op.as_ref().is_some_and(Op::github_lane)
}

/// Applies every change; on a failure the current stage finishes and later stages do not start.
pub async fn apply(target: &Target<'_>, plan: &Plan, progress: &Progress) -> Result<()> {
    run_in_stages(plan, progress, |change, part| {
        run_change(target, change, part)
    })
    .await
}

/// The progress line of each change, from its first part to its last.
type Lines = Mutex<Vec<Option<(Line, Instant)>>>;

/// Runs changes stage by stage (`Op::parts`), concurrently within a stage, one progress line
/// each. GitHub writes run in their own lane beside the AWS stages; the final stage waits for both.
async fn run_in_stages<'a, F, Fut>(plan: &'a Plan, progress: &Progress, run: F) -> Result<()>
where
    F: Fn(&'a Change, Part) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let all = tasks(plan);
    let lines: Lines = Mutex::new(plan.changes.iter().map(|_| None).collect());
    let lane = |github: bool| {
        all.iter()
            .filter(move |t| lane_of(t.change) == github && t.stage < FINAL_STAGE)
            .collect::<Vec<_>>()
    };
    let (github, aws) = futures::join!(
        run_sequence(lane(true), progress, &lines, &run),
        run_sequence(lane(false), progress, &lines, &run)
    );
    let done = match github.and(aws) {
        Ok(()) => {
            let last = all.iter().filter(|t| t.stage >= FINAL_STAGE).collect();
            run_sequence(last, progress, &lines, &run).await
        }
        Err(e) => Err(e),
    };
    // A change whose first part ran and whose rest never started did not happen in full.
    if let Err(e) = &done {
        let left = lines.lock().map(|mut l| std::mem::take(&mut *l));
        for (index, line) in left.into_iter().flatten().enumerate() {
            if let (Some((line, started)), Some(change)) = (line, plan.changes.get(index)) {
                progress.finish(line, change, Some(e), started.elapsed());
            }
        }
    }
    done
}

/// Stage by stage; on a failure the current stage finishes and later stages do not start.
async fn run_sequence<'a, F, Fut>(
    tasks: Vec<&Task<'a>>,
    progress: &Progress,
    lines: &Lines,
    run: &F,
) -> Result<()>
where
    F: Fn(&'a Change, Part) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let last_stage = tasks.iter().map(|t| t.stage).max().unwrap_or(0);
    for stage in 0..=last_stage {
        let batch = tasks.iter().copied().filter(|t| t.stage == stage);
        let results = join_all(batch.map(|task| async move {
            let (line, started) = lines
                .lock()
                .ok()
                .and_then(|mut l| l.get_mut(task.index).and_then(Option::take))
                .unwrap_or_else(|| (progress.start(task.change), Instant::now()));
            let result = run(task.change, task.part).await;
            if task.last || result.is_err() {
                progress.finish(line, task.change, result.as_ref().err(), started.elapsed());
            } else if let Ok(mut l) = lines.lock()
                && let Some(slot) = l.get_mut(task.index)
            {
                *slot = Some((line, started));
            }
            result
        }))
        .await;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::plan::{Action, Kind};
    use crate::resources::access_key::KeyOp;
    use crate::resources::push_policy::PolicyOp;
    use crate::resources::repository::RepositoryOp;
    use crate::resources::user::UserOp;
    use crate::resources::variable::VariableOp;

    /// Each part's round, when every part is one request: one more than the latest round of the
    /// parts that ended before it started (as the benchmark counts).
    async fn rounds(plan: &Plan) -> Vec<(String, Part, usize)> {
        // (name, part, start, end) in event order.
        let events = RefCell::new(Vec::<(String, Part, usize, usize)>::new());
        let clock = RefCell::new(0);
        let tick = || {
            let mut c = clock.borrow_mut();
            *c += 1;
            *c
        };
        let progress = Progress::new();
        run_in_stages(plan, &progress, |change, part| {
            let (events, tick) = (&events, &tick);
            async move {
                let start = tick();
                tokio::task::yield_now().await;
                let end = tick();
                events
                    .borrow_mut()
                    .push((change.name.clone(), part, start, end));
                Ok(())
            }
        })
        .await
        .unwrap();
        assert_eq!(
            progress.finished().len(),
            plan.changes.len(),
            "one line each"
        );
        let events = events.into_inner();
        let mut out: Vec<(String, Part, usize)> = Vec::new();
        let mut by_start = events.clone();
        by_start.sort_by_key(|e| e.2);
        for (name, part, start, _) in by_start {
            let before = events
                .iter()
                .filter(|e| e.3 < start)
                .filter_map(|e| out.iter().find(|o| o.0 == e.0 && o.1 == e.1).map(|o| o.2))
                .max()
                .unwrap_or(0);
            out.push((name, part, before + 1));
        }
        out
    }

    /// A fresh access-key setup: the user and the pending mark need nothing written, the key
    /// only the user (docs/performance.md: five rounds with the reads, secrets and record).
    #[tokio::test]
    async fn a_fresh_delivery_makes_its_key_in_the_round_after_the_user() {
        let change = |kind, name: &str, op| Change::new(kind, name, Action::Create, vec![], op);
        let set = VariableOp::Set {
            value: true,
            exists: false,
            record_exists: false,
        };
        let plan = Plan {
            changes: vec![
                change(Kind::Policy, "policy", Op::Policy(PolicyOp::Create)),
                change(
                    Kind::Repository,
                    "repository",
                    Op::Repository(RepositoryOp::Create),
                ),
                change(Kind::User, "user", Op::User(UserOp::Create)),
                change(
                    Kind::AccessKey,
                    "key",
                    Op::AccessKey(KeyOp::Deliver { retire: vec![] }),
                ),
                change(Kind::Variable, "variable", Op::Variable(0, set)),
            ],
            kept: vec![],
        };
        let rounds = rounds(&plan).await;
        let round = |name: &str, part| {
            rounds
                .iter()
                .find(|r| r.0 == name && r.1 == part)
                .map(|r| r.2)
        };
        for name in ["policy", "repository", "variable"] {
            assert_eq!(round(name, Part::Whole), Some(1), "{rounds:?}");
        }
        assert_eq!(
            round("user", Part::First),
            Some(1),
            "CreateUser: {rounds:?}"
        );
        assert_eq!(round("key", Part::First), Some(1), "the mark: {rounds:?}");
        assert_eq!(round("user", Part::Rest), Some(2), "attach: {rounds:?}");
        assert_eq!(
            round("key", Part::Rest),
            Some(2),
            "CreateAccessKey: {rounds:?}"
        );
    }
}
