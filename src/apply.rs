//! Apply: run the plan's changes in dependency order, concurrently within a stage. The only writes.
use std::future::Future;
use std::time::Instant;

use futures::future::join_all;

use crate::cloud::aws::Aws;
use crate::cloud::github::GitHub;
use crate::error::{Error, Result};
use crate::observe::Observed;
use crate::plan::{Change, FINAL_STAGE, Op, Plan};
use crate::resources::{
    access_key, oidc_provider, push_policy, repository, role, secret, user, variable,
};
use crate::spec::Desired;
use crate::ui::progress::Progress;

/// What `apply` works on: the clients, and the desired and observed state the plan came from.
pub struct Target<'a> {
    pub aws: &'a Aws,
    pub github: &'a GitHub,
    pub desired: &'a Desired,
    pub observed: &'a Observed,
}

async fn run_change(t: &Target<'_>, change: &Change) -> Result<()> {
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
            Some(d) => user::apply(aws, d.spec(), op).await,
            None => Ok(()),
        },
        Op::AccessKey(op) => {
            let spec = desired.access_key.spec();
            access_key::apply(aws, github, spec, &t.observed.access_key, op).await
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

/// Blocked and kept changes carry no operation; they sit in stage 0 (and are never run).
fn stage_of(change: &Change) -> u8 {
    change.op.as_ref().map_or(0, Op::stage)
}

fn lane_of(change: &Change) -> bool {
    change.op.as_ref().is_some_and(Op::github_lane)
}

/// Applies every change; on a failure the current stage finishes and later stages do not start.
pub async fn apply(target: &Target<'_>, plan: &Plan, progress: &Progress) -> Result<()> {
    run_in_stages(plan, progress, |change| run_change(target, change)).await
}

/// Runs changes stage by stage (`Op::stage`), concurrently within a stage, one progress line
/// each. GitHub writes run in their own lane beside the AWS stages; the final stage waits for both.
async fn run_in_stages<'a, F, Fut>(plan: &'a Plan, progress: &Progress, run: F) -> Result<()>
where
    F: Fn(&'a Change) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let lane = |github: bool| {
        plan.changes
            .iter()
            .filter(move |c| lane_of(c) == github && stage_of(c) < FINAL_STAGE)
            .collect::<Vec<_>>()
    };
    let (github, aws) = futures::join!(
        run_sequence(lane(true), progress, &run),
        run_sequence(lane(false), progress, &run)
    );
    github.and(aws)?;
    let last = plan
        .changes
        .iter()
        .filter(|c| stage_of(c) >= FINAL_STAGE)
        .collect();
    run_sequence(last, progress, &run).await
}

/// Stage by stage; on a failure the current stage finishes and later stages do not start.
async fn run_sequence<'a, F, Fut>(
    changes: Vec<&'a Change>,
    progress: &Progress,
    run: &F,
) -> Result<()>
where
    F: Fn(&'a Change) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let last_stage = changes.iter().map(|c| stage_of(c)).max().unwrap_or(0);
    for stage in 0..=last_stage {
        let batch = changes.iter().copied().filter(|c| stage_of(c) == stage);
        let results = join_all(batch.map(|change| async move {
            let line = progress.start(change);
            let started = Instant::now();
            let result = run(change).await;
            progress.finish(line, change, result.as_ref().err(), started.elapsed());
            result
        }))
        .await;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            return Err(err);
        }
    }
    Ok(())
}
