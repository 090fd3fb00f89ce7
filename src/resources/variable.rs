//! A GitHub Actions variable the generated workflow reads (`AWS_REGION`, `ECR_REPOSITORY`).
use crate::cloud::github::{GitHub, Place, Variable};
use crate::config::RepoName;
use crate::error::Result;
use crate::plan::{Action, Change, Kind, Op};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub repo: RepoName,
    pub name: String,
    pub value: String,
}

pub type Live = Variable;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableOp {
    /// Position in `Desired::variables`.
    pub index: usize,
    pub exists: bool,
}

pub async fn observe(github: &GitHub, repo: &RepoName, name: &str) -> Result<Option<Live>> {
    github.variable(repo, &Place::Repository, name).await
}

pub fn diff(index: usize, spec: &Spec, live: Option<&Live>) -> Vec<Change> {
    let change = |action, details, exists| {
        Change::new(
            Kind::Variable,
            &spec.name,
            action,
            details,
            Op::Variable(VariableOp { index, exists }),
        )
    };
    match live {
        None => vec![change(
            Action::Create,
            vec![format!("value {}", spec.value)],
            false,
        )],
        Some(l) if l.value != spec.value => {
            vec![
                change(
                    Action::Update,
                    vec![format!("value {} → {}", l.value, spec.value)],
                    true,
                )
                .differing(
                    "value",
                    spec.value.clone().into(),
                    l.value.clone().into(),
                ),
            ]
        }
        Some(_) => Vec::new(),
    }
}

pub async fn apply(github: &GitHub, spec: &Spec, op: &VariableOp) -> Result<()> {
    github
        .set_variable(
            &spec.repo,
            &Place::Repository,
            &spec.name,
            &spec.value,
            op.exists,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_different_value_is_written() {
        let spec = Spec {
            repo: RepoName {
                owner: "acme".into(),
                name: "app".into(),
            },
            name: "AWS_REGION".into(),
            value: "us-east-1".into(),
        };
        let same = Variable {
            value: "us-east-1".into(),
            updated_at: String::new(),
        };
        assert!(diff(0, &spec, Some(&same)).is_empty());
        let other = Variable {
            value: "eu-west-1".into(),
            ..same
        };
        assert_eq!(diff(0, &spec, Some(&other))[0].action, Action::Update);
        assert_eq!(diff(0, &spec, None)[0].action, Action::Create);
    }
}
