//! The vocabulary every resource's `diff` speaks: what kind of thing, what happens to it, why.
//! Generic over the resource's own operation type, so resources need nothing from `plan`.
use serde::Serialize;

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
    /// Cannot be made in place; `details` say why and what to do.
    Blocked,
    /// Deliberately left as it is (a teardown keeps what others still use); never applied.
    Keep,
}

/// Which part of an operation runs (`Op::parts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Whole,
    /// What needs nothing written: `CreateUser`, the pending mark.
    First,
    /// The remainder, once the stage before has finished.
    Rest,
}

/// What the settings want of one resource. `Absent` keeps the spec because deleting needs the
/// resource's address (name, ARN, place), which the spec derives.
#[derive(Debug, Clone, PartialEq)]
pub enum Desire<S> {
    Present(S),
    Absent(S),
}

impl<S> Desire<S> {
    pub fn spec(&self) -> &S {
        match self {
            Desire::Present(s) | Desire::Absent(s) => s,
        }
    }

    pub fn present(&self) -> Option<&S> {
        match self {
            Desire::Present(s) => Some(s),
            Desire::Absent(_) => None,
        }
    }
}

/// One differing field: what the settings ask for and what exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub field: String,
    pub expected: serde_json::Value,
    pub actual: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change<Op> {
    pub resource: Kind,
    pub name: String,
    pub action: Action,
    pub details: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
    /// What `apply` runs; `None` for blocked and kept changes, which are never run.
    #[serde(skip)]
    pub op: Option<Op>,
}

impl<Op> Change<Op> {
    pub fn new(resource: Kind, name: &str, action: Action, details: Vec<String>, op: Op) -> Self {
        Change {
            resource,
            name: name.to_string(),
            action,
            details,
            differences: Vec::new(),
            op: Some(op),
        }
    }

    /// A change that is not run: blocked (with the reason and the fix) or kept.
    pub fn not_run(resource: Kind, name: &str, action: Action, details: Vec<String>) -> Self {
        Change {
            resource,
            name: name.to_string(),
            action,
            details,
            differences: Vec::new(),
            op: None,
        }
    }

    pub fn differing(
        mut self,
        field: &'static str,
        expected: serde_json::Value,
        actual: serde_json::Value,
    ) -> Self {
        self.differences.push(Difference {
            field: field.to_string(),
            expected,
            actual,
        });
        self
    }

    /// Wraps the resource's operation into the plan's.
    pub fn map_op<T>(self, wrap: impl FnOnce(Op) -> T) -> Change<T> {
        Change {
            resource: self.resource,
            name: self.name,
            action: self.action,
            details: self.details,
            differences: self.differences,
            op: self.op.map(wrap),
        }
    }
}
