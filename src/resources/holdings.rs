//! What the push role or push user holds besides its trust: managed and inline policies, a
//! permissions boundary, tags. It must hold exactly the push policy, so anything else is a
//! change the plan shows and `apply` makes. Pure; the role and user modules make the calls.
use serde_json::json;

use super::change::{Difference, Kind};
use super::ownership::{self, Owner, Tags};
use crate::resources::finding::{Finding, Findings, Severity};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    pub attached: Vec<String>,
    pub inline: Vec<String>,
    pub boundary: Option<String>,
    pub tags: Tags,
}

/// What is wanted: the push policy, the boundary setting, the tool's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted<'a> {
    pub policy_arn: &'a str,
    pub boundary: Option<&'a str>,
    pub tags: &'a [(String, String)],
}

/// The writes that bring the holdings in line, in the order they are made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fix {
    pub tag: Tags,
    pub attach: bool,
    pub detach: Vec<String>,
    pub delete_inline: Vec<String>,
    pub boundary: Option<BoundaryChange>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundaryChange {
    Set(String),
    Remove,
}

impl Fix {
    pub fn is_empty(&self) -> bool {
        *self == Fix::default()
    }

    /// Everything that is granted beyond the push policy (audit reports these).
    pub fn extra_permissions(&self) -> Vec<String> {
        let mut out = self.detach.clone();
        out.extend(
            self.delete_inline
                .iter()
                .map(|n| format!("inline policy {n}")),
        );
        out
    }
}

pub fn fix(wanted: &Wanted<'_>, live: &Holdings) -> Fix {
    Fix {
        tag: ownership::missing_tags(&live.tags, wanted.tags),
        attach: !live.attached.iter().any(|a| a == wanted.policy_arn),
        detach: live
            .attached
            .iter()
            .filter(|a| *a != wanted.policy_arn)
            .cloned()
            .collect(),
        delete_inline: live.inline.clone(),
        boundary: match (wanted.boundary, live.boundary.as_deref()) {
            (Some(w), l) if l != Some(w) => Some(BoundaryChange::Set(w.to_string())),
            (None, Some(_)) => Some(BoundaryChange::Remove),
            _ => None,
        },
    }
}

/// `role-extra-permissions` / `user-extra-permissions`: anything held beyond the push policy
/// turns a push identity into something more, for every workflow that can assume it.
pub fn findings(
    kind: Kind,
    name: &str,
    id: &'static str,
    fix: &Fix,
    command: String,
) -> Vec<Finding> {
    let extra = fix.extra_permissions();
    // apply detaches and deletes what is held beyond the push policy.
    let mut found = Findings::on(kind, name, command);
    if !extra.is_empty() {
        found.add(
            id,
            Severity::High,
            format!(
                "{} {name} holds more than the push policy: {}",
                kind.as_str(),
                extra.join(", ")
            ),
            "",
        );
    }
    found.into_vec()
}

/// The plan's lines for a fix, one per write.
pub fn details(fix: &Fix, owner: &Owner, policy_arn: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !fix.tag.is_empty() {
        out.push(ownership::tagging_detail(owner, &fix.tag));
    }
    if fix.attach {
        out.push(format!("attach {policy_arn}"));
    }
    out.extend(fix.detach.iter().map(|a| format!("- detach {a}")));
    out.extend(
        fix.delete_inline
            .iter()
            .map(|n| format!("- delete inline {n}")),
    );
    match &fix.boundary {
        Some(BoundaryChange::Set(b)) => out.push(format!("+ permissions boundary {b}")),
        Some(BoundaryChange::Remove) => out.push("- permissions boundary".into()),
        None => {}
    }
    out
}

/// The differing fields, as `audit` reports them.
pub fn differences(fix: &Fix, wanted: &Wanted<'_>, live: &Holdings) -> Vec<Difference> {
    let mut out = Vec::new();
    if fix.attach || !fix.detach.is_empty() {
        out.push(Difference {
            field: "attached_policies".into(),
            expected: json!([wanted.policy_arn]),
            actual: json!(live.attached),
        });
    }
    if !fix.delete_inline.is_empty() {
        out.push(Difference {
            field: "inline_policies".into(),
            expected: json!([]),
            actual: json!(live.inline),
        });
    }
    if fix.boundary.is_some() {
        out.push(Difference {
            field: "permissions_boundary".into(),
            expected: json!(wanted.boundary),
            actual: json!(live.boundary),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUSH: &str = "arn:aws:iam::123456789012:policy/push";
    const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

    fn wanted(boundary: Option<&str>) -> (Tags, Option<String>) {
        (ownership::tags("acme/app"), boundary.map(str::to_string))
    }

    #[test]
    fn exactly_the_push_policy_is_held() {
        let (tags, _) = wanted(None);
        let w = Wanted {
            policy_arn: PUSH,
            boundary: None,
            tags: &tags,
        };
        let live = Holdings {
            attached: vec![ADMIN.into(), PUSH.into()],
            inline: vec!["s3-everything".into()],
            boundary: None,
            tags: tags.clone(),
        };
        let f = fix(&w, &live);
        assert_eq!(
            f,
            Fix {
                detach: vec![ADMIN.into()],
                delete_inline: vec!["s3-everything".into()],
                ..Fix::default()
            }
        );
        assert_eq!(
            details(&f, &Owner::Ours, PUSH),
            [
                format!("- detach {ADMIN}"),
                "- delete inline s3-everything".to_string()
            ]
        );
        let clean = Holdings {
            attached: vec![PUSH.into()],
            inline: vec![],
            ..live
        };
        assert!(fix(&w, &clean).is_empty());
    }

    #[test]
    fn the_boundary_follows_the_setting() {
        let (tags, boundary) = wanted(Some("arn:aws:iam::123456789012:policy/limit"));
        let w = Wanted {
            policy_arn: PUSH,
            boundary: boundary.as_deref(),
            tags: &tags,
        };
        let live = Holdings {
            attached: vec![PUSH.into()],
            tags: tags.clone(),
            ..Holdings::default()
        };
        assert_eq!(
            fix(&w, &live).boundary,
            Some(BoundaryChange::Set(
                "arn:aws:iam::123456789012:policy/limit".into()
            ))
        );
        let unset = Wanted {
            boundary: None,
            ..w
        };
        let bounded = Holdings {
            boundary: Some("arn:aws:iam::123456789012:policy/limit".into()),
            ..live
        };
        assert_eq!(fix(&unset, &bounded).boundary, Some(BoundaryChange::Remove));
    }
}
