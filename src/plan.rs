//! Plan: desired vs observed → a list of changes. Pure data, rendered elsewhere.
use serde::Serialize;

use crate::observe::Observed;
use crate::resources::change::{self, Desire};
use crate::resources::{
    access_key, oidc_provider, push_policy, repository, role, secret, user, variable,
};
use crate::spec::Desired;

pub use crate::resources::change::{Action, Difference, Kind, Part};

/// What `apply` runs for a change: the resource's own operation, tagged with its resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Provider(oidc_provider::ProviderOp),
    Role(role::RoleOp),
    Policy(push_policy::PolicyOp),
    Repository(repository::RepositoryOp),
    User(user::UserOp),
    AccessKey(access_key::KeyOp),
    /// Position in `Desired::secrets`, and what to do there.
    Secret(usize, secret::SecretOp),
    /// Position in `Desired::variables`.
    Variable(usize, variable::VariableOp),
}

pub type Change = change::Change<Op>;

/// The last stage: removals that wait until everything else is in place (a teardown's, and
/// what the other auth mode used).
pub const FINAL_STAGE: u8 = 3;

impl Op {
    /// GitHub writes depend on no AWS write (their values are derived), so they run in their own
    /// lane beside the AWS stages; only the final stages wait for both lanes.
    pub fn github_lane(&self) -> bool {
        matches!(
            self,
            Op::Variable(_, variable::VariableOp::Set { .. })
                | Op::Secret(_, secret::SecretOp::Write { .. })
        )
    }

    /// Dependency order. Stage 0: everything that depends on nothing written (ARNs and secret
    /// values are derived, not read back). Stage 1: the role and user, which need the provider
    /// and the policy, and a new access key, which needs the user. From stage 3 on, removals in
    /// reverse dependency order: GitHub's secrets, variables and keys first, so nothing points at
    /// a deleted resource; then the role and user; then what they used; the provider last.
    pub fn stage(&self) -> u8 {
        use push_policy::PolicyOp;
        use repository::RepositoryOp;
        match self {
            Op::Provider(oidc_provider::ProviderOp::Delete) => 6,
            Op::Policy(PolicyOp::Delete { .. }) | Op::Repository(RepositoryOp::Delete { .. }) => 5,
            Op::Role(role::RoleOp::Delete { .. }) | Op::User(user::UserOp::Delete { .. }) => 4,
            Op::Secret(_, secret::SecretOp::Delete)
            | Op::Variable(_, variable::VariableOp::Delete) => FINAL_STAGE,
            Op::AccessKey(op) => op.stage(),
            Op::Role(_) | Op::User(_) => 1,
            Op::Provider(_)
            | Op::Policy(_)
            | Op::Repository(_)
            | Op::Secret(..)
            | Op::Variable(..) => 0,
        }
    }

    /// The stage each part runs in. Two operations start before what their rest needs:
    /// `CreateUser` needs nothing, its `AttachUserPolicy` the policy; the pending mark of a key
    /// delivery needs nothing, its `CreateAccessKey` the user. So both start in stage 0 and
    /// finish in stage 1, and a fresh delivery is not held up by the user's policy.
    pub fn parts(&self) -> Vec<(u8, Part)> {
        match self {
            Op::User(user::UserOp::Create) | Op::AccessKey(access_key::KeyOp::Deliver { .. }) => {
                vec![(0, Part::First), (1, Part::Rest)]
            }
            _ => vec![(self.stage(), Part::Whole)],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// What is deliberately left in place, and why; never applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<Change>,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    pub fn blocked(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.action == Action::Blocked)
    }

    /// A plan with a blocked change is never applied in part: say why and what to do.
    pub fn ensure_unblocked(&self) -> crate::error::Result<()> {
        match self.blocked().next() {
            Some(b) => Err(crate::error::Error::Blocked(format!(
                "nothing was changed: {} {} cannot be brought in line in place.\n  {}",
                b.resource.as_str(),
                b.name,
                b.details.join("\n  ")
            ))),
            None => Ok(()),
        }
    }
}

pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let mut all: Vec<Change> = Vec::new();
    fn wrapped<O>(changes: Vec<change::Change<O>>, wrap: impl Fn(O) -> Op) -> Vec<Change> {
        changes.into_iter().map(|c| c.map_op(&wrap)).collect()
    }
    if let Some(d) = &desired.provider {
        all.extend(wrapped(
            oidc_provider::diff(d, observed.provider.as_ref()),
            Op::Provider,
        ));
    }
    all.extend(wrapped(
        push_policy::diff(&desired.policy, observed.policy.as_ref()),
        Op::Policy,
    ));
    all.extend(wrapped(
        repository::diff(
            &desired.repository,
            observed.repository.as_ref(),
            policy_vouches_for_repository(desired, observed),
            observed.kms_key.as_ref(),
        ),
        Op::Repository,
    ));
    if let Some(d) = &desired.role {
        all.extend(wrapped(role::diff(d, observed.role.as_ref()), Op::Role));
    }
    if let Some(d) = &desired.user {
        all.extend(wrapped(user::diff(d, observed.user.as_ref()), Op::User));
    }
    all.extend(wrapped(
        access_key::diff(
            &desired.access_key,
            &observed.access_key,
            user_goes(desired, observed),
        ),
        Op::AccessKey,
    ));
    for (i, (d, live)) in desired.secrets.iter().zip(&observed.secrets).enumerate() {
        all.extend(wrapped(secret::diff(d, live), |op| Op::Secret(i, op)));
    }
    for (i, (d, live)) in desired
        .variables
        .iter()
        .zip(&observed.variables)
        .enumerate()
    {
        all.extend(wrapped(variable::diff(d, live), |op| Op::Variable(i, op)));
    }
    // A teardown lists its removals in the order they run.
    if matches!(desired.policy, Desire::Absent(_)) {
        all.sort_by_key(|c| c.op.as_ref().map_or(0, Op::stage));
    }
    let (kept, changes) = all.into_iter().partition(|c| c.action == Action::Keep);
    Plan { changes, kept }
}

/// An untagged repository is the tool's from before tags when the tool's own push policy grants
/// push on exactly it.
fn policy_vouches_for_repository(desired: &Desired, observed: &Observed) -> bool {
    let policy = desired.policy.spec();
    observed.policy.as_ref().is_some_and(|live| {
        live.owner(&policy.repository).is_ours()
            && crate::policy::equivalent(&live.document, &policy.document)
    })
}

/// A teardown deletes the tool's user, and with it every key of the user.
fn user_goes(desired: &Desired, observed: &Observed) -> bool {
    match (&desired.user, &observed.user) {
        (Some(Desire::Absent(spec)), Some(live)) => live.owner(spec).is_ours(),
        _ => false,
    }
}
