//! Plan: desired vs observed → a list of changes. Pure data, rendered elsewhere.
use serde::Serialize;

use crate::observe::Observed;
use crate::resources::{
    access_key, oidc_provider, push_policy, repository, role, secret, user, variable,
};
use crate::spec::Desired;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    OidcProvider,
    Role,
    Policy,
    Repository,
    User,
    AccessKey,
    Secret,
    Variable,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OidcProvider => "oidc_provider",
            Kind::Role => "role",
            Kind::Policy => "policy",
            Kind::Repository => "repository",
            Kind::User => "user",
            Kind::AccessKey => "access_key",
            Kind::Secret => "secret",
            Kind::Variable => "variable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Blocked,
}

/// What `apply` runs for a change; the variants belong to the resource modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Provider(oidc_provider::ProviderOp),
    Role(role::RoleOp),
    Policy(push_policy::PolicyOp),
    Repository(repository::RepositoryOp),
    User(user::UserOp),
    AccessKey(access_key::KeyOp),
    Secret(secret::SecretOp),
    Variable(variable::VariableOp),
    /// A teardown step of `destroy`.
    Destroy(crate::destroy::DestroyOp),
    /// Cannot be made in place; `details` say why and what to do.
    Blocked,
}

impl Op {
    /// GitHub writes depend on no AWS write (their values are derived), so they run in their own
    /// lane beside the AWS stages; only the final clean-up stage waits for both lanes.
    pub fn github_lane(&self) -> bool {
        matches!(self, Op::Variable(_)) || matches!(self, Op::Secret(op) if !op.delete)
    }

    /// Dependency order. Stage 0: everything that depends on nothing written (ARNs and secret
    /// values are derived, not read back). Stage 1: the role and user, which need the provider and
    /// the policy. Stage 2: key delivery, which needs the user. Stage 3: removing what the other
    /// auth mode used, once this mode is in place.
    pub fn stage(&self) -> u8 {
        match self {
            Op::Provider(_) | Op::Policy(_) | Op::Repository(_) | Op::Variable(_) | Op::Blocked => {
                0
            }
            Op::Secret(op) if op.delete => 3,
            Op::Secret(_) => 0,
            Op::Role(_) | Op::User(_) => 1,
            Op::AccessKey(op) => op.stage(),
            Op::Destroy(op) => op.stage(),
        }
    }
}

/// One differing field: what the settings ask for and what exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub field: &'static str,
    pub expected: serde_json::Value,
    pub actual: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub resource: Kind,
    pub name: String,
    pub action: Action,
    pub details: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
    #[serde(skip)]
    pub op: Op,
}

impl Change {
    pub fn new(resource: Kind, name: &str, action: Action, details: Vec<String>, op: Op) -> Change {
        Change {
            resource,
            name: name.to_string(),
            action,
            details,
            differences: Vec::new(),
            op,
        }
    }

    pub fn differing(
        mut self,
        field: &'static str,
        expected: serde_json::Value,
        actual: serde_json::Value,
    ) -> Change {
        self.differences.push(Difference {
            field,
            expected,
            actual,
        });
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
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
    let mut changes = match &desired.provider {
        Some(spec) => oidc_provider::diff(spec, observed.provider.as_ref()),
        None => Vec::new(),
    };
    changes.extend(push_policy::diff(&desired.policy, observed.policy.as_ref()));
    changes.extend(repository::diff(
        &desired.repository,
        observed.repository.as_ref(),
    ));
    if let Some(spec) = &desired.role {
        changes.extend(role::diff(spec, observed.role.as_ref()));
    }
    if let Some(spec) = &desired.user {
        changes.extend(user::diff(spec, observed.user.as_ref()));
    }
    changes.extend(access_key::diff(&desired.access_key, &observed.access_key));
    for (i, (spec, live)) in desired.secrets.iter().zip(&observed.secrets).enumerate() {
        changes.extend(secret::diff(i, spec, live));
    }
    for (i, (spec, live)) in desired
        .variables
        .iter()
        .zip(&observed.variables)
        .enumerate()
    {
        changes.extend(variable::diff(i, spec, live.as_ref()));
    }
    Plan { changes }
}
