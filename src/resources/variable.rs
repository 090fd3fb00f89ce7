//! A GitHub Actions variable the generated workflow reads (`AWS_REGION`, `ECR_REPOSITORY`).
use super::change::{Action, Desire, Kind};
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

pub type Live = Variable;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableOp {
    /// Write the value; `exists` picks GitHub's update call over its create call.
    Set {
        exists: bool,
    },
    Delete,
}

pub async fn observe(github: &GitHub, repo: &RepoName, name: &str) -> Result<Option<Live>> {
    github.variable(repo, &Place::Repository, name).await
}

pub fn diff(desire: &Desire<Spec>, live: Option<&Live>) -> Vec<Change> {
    let spec = desire.spec();
    let change = |action, details, op| Change::new(Kind::Variable, &spec.name, action, details, op);
    match (desire, live) {
        (Desire::Absent(_), Some(_)) => vec![change(Action::Delete, vec![], VariableOp::Delete)],
        (Desire::Absent(_), None) => Vec::new(),
        (Desire::Present(_), None) => vec![change(
            Action::Create,
            vec![format!("value {}", spec.value)],
            VariableOp::Set { exists: false },
        )],
        (Desire::Present(_), Some(l)) if l.value != spec.value => vec![
            change(
                Action::Update,
                vec![format!("value {} → {}", l.value, spec.value)],
                VariableOp::Set { exists: true },
            )
            .differing("value", spec.value.clone().into(), l.value.clone().into()),
        ],
        (Desire::Present(_), Some(_)) => Vec::new(),
    }
}

pub async fn apply(github: &GitHub, spec: &Spec, op: &VariableOp) -> Result<()> {
    match op {
        VariableOp::Set { exists } => {
            github
                .set_variable(
                    &spec.repo,
                    &Place::Repository,
                    &spec.name,
                    &spec.value,
                    *exists,
                )
                .await
        }
        VariableOp::Delete => {
            github
                .delete_variable(&spec.repo, &Place::Repository, &spec.name)
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

    #[test]
    fn only_a_different_value_is_written() {
        let wanted = Desire::Present(spec());
        let same = Variable {
            value: "us-east-1".into(),
            updated_at: String::new(),
        };
        assert!(diff(&wanted, Some(&same)).is_empty());
        let other = Variable {
            value: "eu-west-1".into(),
            ..same.clone()
        };
        assert_eq!(
            diff(&wanted, Some(&other))[0].op,
            Some(VariableOp::Set { exists: true })
        );
        assert_eq!(diff(&wanted, None)[0].action, Action::Create);
        let gone = Desire::Absent(spec());
        assert_eq!(diff(&gone, Some(&same))[0].op, Some(VariableOp::Delete));
        assert!(diff(&gone, None).is_empty());
    }
}
