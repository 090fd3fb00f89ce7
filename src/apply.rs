//! Apply: run the plan's changes in dependency order, concurrently within a stage. The only writes.
use std::time::Instant;

use futures::future::join_all;

use crate::cloud::aws::Aws;
use crate::cloud::github::GitHub;
use crate::error::{Error, Result};
use crate::plan::{Change, Op, Plan};
use crate::resources::{oidc_provider, push_policy, repository, role, secret, variable};
use crate::spec::Desired;
use crate::ui::progress::Progress;

async fn run_change(aws: &Aws, github: &GitHub, desired: &Desired, change: &Change) -> Result<()> {
    match &change.op {
        Op::Provider(op) => oidc_provider::apply(aws, &desired.provider, op).await,
        Op::Policy(op) => push_policy::apply(aws, &desired.policy, op).await,
        Op::Repository(op) => repository::apply(aws, &desired.repository, op).await,
        Op::Role(op) => match &desired.role {
            Some(spec) => role::apply(aws, spec, op).await,
            None => Ok(()),
        },
        Op::Secret(op) => match desired.secrets.get(op.index) {
            Some(spec) => secret::apply(github, spec, op).await,
            None => Ok(()),
        },
        Op::Variable(op) => match desired.variables.get(op.index) {
            Some(spec) => variable::apply(github, spec, op).await,
            None => Ok(()),
        },
        Op::Blocked => Err(Error::Blocked(change.details.join(" "))),
    }
}

/// Applies every change; on a failure the current stage finishes and later stages do not start.
pub async fn apply(
    aws: &Aws,
    github: &GitHub,
    desired: &Desired,
    plan: &Plan,
    progress: &Progress,
) -> Result<()> {
    let last_stage = plan.changes.iter().map(|c| c.op.stage()).max().unwrap_or(0);
    for stage in 0..=last_stage {
        let batch: Vec<&Change> = plan
            .changes
            .iter()
            .filter(|c| c.op.stage() == stage)
            .collect();
        let results = join_all(batch.iter().map(|change| async move {
            let line = progress.start(change);
            let started = Instant::now();
            let result = run_change(aws, github, desired, change).await;
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
