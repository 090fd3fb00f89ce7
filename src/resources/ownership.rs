//! Whose a resource is: the tags the tool puts on what it creates, and what an existing
//! resource's tags (or, from before tags, its description) say about it. Pure.
use super::change::{Action, Change, Kind};

/// Every role, user, managed policy and ECR repository the tool creates carries both tags; an
/// OIDC provider (shared by every repository) carries only `managed-by`.
pub const MANAGED_BY_KEY: &str = "managed-by";
pub const MANAGED_BY_VALUE: &str = "skyecr-bootstrap";
pub const REPOSITORY_KEY: &str = "skyecr-bootstrap/github-repository";

pub type Tags = Vec<(String, String)>;

/// The tags of a resource made for `repository` (`OWNER/REPO`, GitHub's canonical spelling).
pub fn tags(repository: &str) -> Tags {
    vec![
        (MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into()),
        (REPOSITORY_KEY.into(), repository.into()),
    ]
}

/// The tags of the shared OIDC provider.
pub fn provider_tags() -> Tags {
    vec![(MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into())]
}

/// What an existing resource's marks say about who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Tagged as the tool's, for this repository.
    Ours,
    /// Made by an earlier version of the tool, before it tagged: recognised by its own
    /// description or records. Tagged on the next apply, never blocked.
    OursUntagged,
    /// Tagged as the tool's, for another GitHub repository.
    OtherRepository(String),
    /// Not made by the tool.
    Foreign,
}

impl Owner {
    /// The tool may change or delete it without `--adopt`.
    pub fn is_ours(&self) -> bool {
        matches!(self, Owner::Ours | Owner::OursUntagged)
    }
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Reads the marks of a resource meant for `repository`. `earlier_version` says whether the
/// tool's own description or records vouch for an untagged one. GitHub names are
/// case-insensitive, so the repository tag is compared that way.
pub fn owner(tags: &[(String, String)], repository: &str, earlier_version: bool) -> Owner {
    if tag(tags, MANAGED_BY_KEY) != Some(MANAGED_BY_VALUE) {
        return if earlier_version {
            Owner::OursUntagged
        } else {
            Owner::Foreign
        };
    }
    match tag(tags, REPOSITORY_KEY) {
        Some(other) if !other.eq_ignore_ascii_case(repository) => {
            Owner::OtherRepository(other.to_string())
        }
        _ => Owner::Ours,
    }
}

/// The tool's tags that `live` lacks or holds with another value (what tagging must write).
pub fn missing_tags(live: &[(String, String)], wanted: &[(String, String)]) -> Tags {
    wanted
        .iter()
        .filter(|(k, v)| tag(live, k) != Some(v.as_str()))
        .cloned()
        .collect()
}

/// The plan's words for a resource the tool may not touch without `--adopt`, with the fix.
pub fn blocked_reason(owner: &Owner, flag: &str, free_name: &str) -> Vec<String> {
    match owner {
        Owner::OtherRepository(other) => vec![
            format!("exists and belongs to the skyecr-bootstrap setup of {other}"),
            format!(
                "Choose a name of its own for this repository (for example {flag} {free_name}), or pass --adopt to take it over from {other}."
            ),
        ],
        _ => vec![
            "exists and was not created by skyecr-bootstrap; pass --adopt to take it over".into(),
            format!(
                "Or choose another name (for example {flag} {free_name}) and leave it as it is."
            ),
        ],
    }
}

/// The gate of an existing resource's diff: a resource that is not the tool's is a blocked
/// change (naming whose it is and a free name) unless the run adopts it.
pub fn blocked<Op>(
    kind: Kind,
    name: &str,
    owner: &Owner,
    adopt: bool,
    flag: &str,
    free_name: &str,
) -> Option<Change<Op>> {
    (!owner.is_ours() && !adopt).then(|| {
        Change::not_run(
            kind,
            name,
            Action::Blocked,
            blocked_reason(owner, flag, free_name),
        )
    })
}

/// The change that writes the tool's tags a resource lacks (after adoption, or on a resource
/// of an earlier version), if any.
pub fn tagging<Op>(
    kind: Kind,
    name: &str,
    owner: &Owner,
    live: &[(String, String)],
    wanted: &[(String, String)],
    op: impl FnOnce(Tags) -> Op,
) -> Option<Change<Op>> {
    let missing = missing_tags(live, wanted);
    (!missing.is_empty()).then(|| {
        Change::new(
            kind,
            name,
            Action::Update,
            vec![tagging_detail(owner, &missing)],
            op(missing),
        )
    })
}

/// The detail line of an adoption or of tagging an untagged resource of an earlier version.
pub fn tagging_detail(owner: &Owner, missing: &[(String, String)]) -> String {
    let tags: Vec<String> = missing.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let why = match owner {
        Owner::OursUntagged => "created by an earlier version of skyecr-bootstrap",
        Owner::OtherRepository(_) | Owner::Foreign => "--adopt",
        Owner::Ours => "tags changed",
    };
    format!("+ tag {} ({why})", tags.join(", "))
}

/// Why a teardown leaves a resource in place.
pub fn kept_reason(owner: &Owner) -> String {
    match owner {
        Owner::OtherRepository(other) => {
            format!("left in place: it belongs to the skyecr-bootstrap setup of {other}")
        }
        _ => "left in place: not created by skyecr-bootstrap".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tags_decide_whose_a_resource_is() {
        let ours = t(&[
            ("managed-by", "skyecr-bootstrap"),
            ("skyecr-bootstrap/github-repository", "acme/app"),
        ]);
        assert_eq!(owner(&ours, "acme/app", false), Owner::Ours);
        assert_eq!(owner(&ours, "Acme/App", false), Owner::Ours);
        assert_eq!(
            owner(&ours, "acme/web", false),
            Owner::OtherRepository("acme/app".into())
        );
        assert_eq!(owner(&[], "acme/app", false), Owner::Foreign);
        assert_eq!(owner(&[], "acme/app", true), Owner::OursUntagged);
        // Someone else's tag of the same key is not ours.
        let lookalike = t(&[("managed-by", "terraform")]);
        assert_eq!(owner(&lookalike, "acme/app", false), Owner::Foreign);
        assert!(Owner::OursUntagged.is_ours() && !Owner::Foreign.is_ours());
    }

    #[test]
    fn only_missing_or_different_tags_are_written() {
        let live = t(&[("managed-by", "skyecr-bootstrap"), ("team", "platform")]);
        assert_eq!(
            missing_tags(&live, &tags("acme/app")),
            t(&[("skyecr-bootstrap/github-repository", "acme/app")])
        );
        assert!(missing_tags(&tags("acme/app"), &tags("acme/app")).is_empty());
    }
}
