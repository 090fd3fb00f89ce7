//! Apply: run the plan's changes in dependency order, concurrently within a stage. The only writes.
use std::future::Future;
use std::time::Instant;

use futures::future::join_all;

use crate::cloud::aws::Aws;
use crate::cloud::github::GitHub;
use crate::error::{Error, Result};
use crate::observe::Observed;
use crate::plan::{Change, Op, Plan};
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
    match &change.op {
        Op::Provider(op) => match &desired.provider {
            Some(spec) => oidc_provider::apply(aws, spec, op).await,
            None => Ok(()),
        },
        Op::User(op) => match &desired.user {
            Some(spec) => user::apply(aws, spec, op).await,
            None => Ok(()),
        },
        Op::AccessKey(op) => {
            access_key::apply(aws, github, &desired.access_key, &t.observed.access_key, op).await
        }
        Op::Policy(op) => push_policy::apply(aws, &desired.policy, op).await,
        Op::Repository(op) => repository::apply(aws, &desired.repository, op).await,
        Op::Role(op) => match &desired.role {
            Some(spec) => role::apply(aws, spec, op).await,
            None => Ok(()),
        },
        Op::Secret(op) => match (
            desired.secrets.get(op.index),
            t.observed.secrets.get(op.index),
        ) {
            (Some(spec), Some(live)) => secret::apply(github, spec, live, op).await,
            _ => Ok(()),
        },
        Op::Variable(op) => match desired.variables.get(op.index) {
            Some(spec) => variable::apply(github, spec, op).await,
            None => Ok(()),
        },
        Op::Destroy(op) => crate::destroy::run(aws, github, &desired.access_key.repo, op).await,
        Op::Blocked => Err(Error::Blocked(change.details.join(" "))),
    }
}

/// Applies every change; on a failure the current stage finishes and later stages do not start.
pub async fn apply(target: &Target<'_>, plan: &Plan, progress: &Progress) -> Result<()> {
    run_in_stages(plan, progress, |change| run_change(target, change)).await
}

/// The last stage: removals that wait until everything else is in place.
const FINAL_STAGE: u8 = 3;

/// Runs changes stage by stage (`Op::stage`), concurrently within a stage, one progress line
/// each. GitHub writes run in their own lane beside the AWS stages; the final stage waits for both.
pub async fn run_in_stages<'a, F, Fut>(plan: &'a Plan, progress: &Progress, run: F) -> Result<()>
where
    F: Fn(&'a Change) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let lane = |github: bool| {
        plan.changes
            .iter()
            .filter(move |c| c.op.github_lane() == github && c.op.stage() < FINAL_STAGE)
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
        .filter(|c| c.op.stage() >= FINAL_STAGE)
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
    let last_stage = changes.iter().map(|c| c.op.stage()).max().unwrap_or(0);
    for stage in 0..=last_stage {
        let batch = changes.iter().copied().filter(|c| c.op.stage() == stage);
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
