//! A GitHub Actions variable the generated workflow reads (`AWS_REGION`, `ECR_REPOSITORY`).
//! A record variable beside it (the value's fingerprint, as for secrets) shows the tool wrote
//! it, so a teardown removes only what the tool made.
use secrecy::SecretString;

use super::change::{Action, Desire, Kind};
use super::secret::{fingerprint, fingerprint_variable};
use crate::cloud::github::{GitHub, Place, Variable};
use crate::config::RepoName;
use crate::error::Result;

pub type Change = super::change::Change<VariableOp>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub repo: RepoName,
    pub name: String,
    pub value: String,
}

impl Spec {
    pub fn record_name(&self) -> String {
        fingerprint_variable(&self.name)
    }

    fn record_value(&self) -> String {
        fingerprint(&SecretString::from(self.value.clone()))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    pub variable: Option<Variable>,
    pub record: Option<Variable>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableOp {
    /// Write the value (unless it is right already), then the record. `*_exists` picks GitHub's
    /// update call over its create call.
    Set {
        value: bool,
        exists: bool,
        record_exists: bool,
    },
    Delete,
}

pub async fn observe(github: &GitHub, repo: &RepoName, name: &str) -> Result<Live> {
    let record_name = fingerprint_variable(name);
    let (variable, record) = tokio::try_join!(
        github.listed_variable(repo, &Place::Repository, name),
        github.listed_variable(repo, &Place::Repository, &record_name),
    )?;
    Ok(Live { variable, record })
}

pub fn diff(desire: &Desire<Spec>, live: &Live) -> Vec<Change> {
    let spec = desire.spec();
    let change = |action, details, op| Change::new(Kind::Variable, &spec.name, action, details, op);
    if desire.present().is_none() {
        return match (&live.variable, &live.record) {
            (_, Some(_)) => vec![change(
                Action::Delete,
                vec![format!("record {}", spec.record_name())],
                VariableOp::Delete,
            )],
            (Some(_), None) => vec![Change::not_run(
                Kind::Variable,
                &spec.name,
                Action::Keep,
                vec![format!(
                    "left in place: {} was not written by skyecr-bootstrap (no {} record)",
                    spec.name,
                    spec.record_name()
                )],
            )],
            (None, None) => Vec::new(),
        };
    }
    let recorded = live
        .record
        .as_ref()
        .is_some_and(|r| r.value == spec.record_value());
    let set = |value| VariableOp::Set {
        value,
        exists: live.variable.is_some(),
        record_exists: live.record.is_some(),
    };
    let record_line = format!("record {}", spec.record_name());
    match &live.variable {
        None => vec![change(
            Action::Create,
            vec![format!("value {}", spec.value), record_line],
            set(true),
        )],
        Some(l) if l.value != spec.value => vec![
            change(
                Action::Update,
                vec![format!("value {} → {}", l.value, spec.value), record_line],
                set(true),
            )
            .differing("value", spec.value.clone().into(), l.value.clone().into()),
        ],
        Some(_) if !recorded => vec![change(
            Action::Update,
            vec![format!("+ {record_line} (the value is right)")],
            set(false),
        )],
        Some(_) => Vec::new(),
    }
}

pub async fn apply(github: &GitHub, spec: &Spec, op: &VariableOp) -> Result<()> {
    let place = Place::Repository;
    match op {
        VariableOp::Set {
            value,
            exists,
            record_exists,
        } => {
            if *value {
                github
                    .set_variable(&spec.repo, &place, &spec.name, &spec.value, *exists)
                    .await?;
            }
            // After the value, so a record never vouches for a write that did not happen.
            github
                .set_variable(
                    &spec.repo,
                    &place,
                    &spec.record_name(),
                    &spec.record_value(),
                    *record_exists,
                )
                .await
        }
        VariableOp::Delete => {
            github
                .delete_variable(&spec.repo, &place, &spec.name)
                .await?;
            github
                .delete_variable(&spec.repo, &place, &spec.record_name())
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            repo: RepoName {
                owner: "acme".into(),
                name: "app".into(),
            },
            name: "AWS_REGION".into(),
            value: "us-east-1".into(),
        }
    }

    fn var(value: &str) -> Option<Variable> {
        Some(Variable {
            value: value.into(),
            updated_at: String::new(),
        })
    }

    #[test]
    fn only_a_different_value_or_a_missing_record_is_written() {
        let wanted = Desire::Present(spec());
        // sha256("us-east-1"), computed independently (Python's hashlib).
        let record = "sha256:487d653406a6aebc3146cb844a4ce50265da74db272ee1c6002294850ef2e187";
        let current = Live {
            variable: var("us-east-1"),
            record: var(record),
        };
        assert!(diff(&wanted, &current).is_empty());
        let other = Live {
            variable: var("eu-west-1"),
            ..current.clone()
        };
        assert_eq!(
            diff(&wanted, &other)[0].op,
            Some(VariableOp::Set {
                value: true,
                exists: true,
                record_exists: true
            })
        );
        let unrecorded = Live {
            record: None,
            ..current.clone()
        };
        assert_eq!(
            diff(&wanted, &unrecorded)[0].op,
            Some(VariableOp::Set {
                value: false,
                exists: true,
                record_exists: false
            })
        );
        assert_eq!(diff(&wanted, &Live::default())[0].action, Action::Create);
    }

    #[test]
    fn a_teardown_deletes_only_a_recorded_variable() {
        let gone = Desire::Absent(spec());
        let recorded = Live {
            variable: var("us-east-1"),
            record: var("sha256:00"),
        };
        assert_eq!(diff(&gone, &recorded)[0].op, Some(VariableOp::Delete));
        let foreign = Live {
            variable: var("us-east-1"),
            record: None,
        };
        assert_eq!(diff(&gone, &foreign)[0].action, Action::Keep);
        assert!(diff(&gone, &Live::default()).is_empty());
    }
}
