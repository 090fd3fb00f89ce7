//! The checks behind the settings table: what each kind of value must look like, and the
//! message (the value quoted, the problem, the form expected) when it does not.
use crate::error::InvalidInput;

/// A check's verdict: the problem, phrased to follow the quoted value.
type Check = std::result::Result<(), String>;

/// A check and the form it expects, as error messages state it.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    expected: &'static str,
    check: fn(&str) -> Check,
}

impl Rule {
    pub(super) const fn new(expected: &'static str, check: fn(&str) -> Check) -> Rule {
        Rule { expected, check }
    }

    /// Checks `value`; the problem is reported against `flag`.
    pub(super) fn apply(&self, flag: &'static str, value: &str) -> Result<(), InvalidInput> {
        (self.check)(value).map_err(|problem| InvalidInput {
            flag,
            problem: format!("{} {problem}", shown(value)),
            expected: self.expected,
        })
    }
}

/// `os/arch[/variant]`, as buildx takes it (the `workflow` command's `--platforms`).
pub(super) const PLATFORM: Rule = Rule::new(
    "comma-separated os/arch[/variant], e.g. linux/amd64,linux/arm64",
    platform,
);

/// Quotes a value for an error message, escaping control characters so output stays one line.
fn shown(value: &str) -> String {
    let short: String = value.chars().take(80).collect();
    let ellipsis = if value.chars().count() > 80 {
        "…"
    } else {
        ""
    };
    format!("{:?}{ellipsis}", short)
}

pub(super) fn github_repo(v: &str) -> Check {
    let Some((owner, name)) = v.split_once('/') else {
        return Err("has no /".into());
    };
    if owner.is_empty() || owner.len() > 39 {
        return Err("has an owner that is not 1-39 characters".into());
    }
    if !owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || owner.starts_with('-')
        || owner.ends_with('-')
    {
        return Err("has an owner that is not letters, digits and inner hyphens".into());
    }
    if name.is_empty() || name.len() > 100 {
        return Err("has a repository name that is not 1-100 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        || name == "."
        || name == ".."
    {
        return Err("has a repository name that is not letters, digits, . _ and -".into());
    }
    Ok(())
}

pub(super) fn region(v: &str) -> Check {
    let parts: Vec<&str> = v.split('-').collect();
    let shape_ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
        && (2..=4).contains(&parts[0].len())
        && parts[0].chars().all(|c| c.is_ascii_lowercase());
    if !shape_ok || v.len() > 32 {
        return Err("is not an AWS region name".into());
    }
    match region_knowledge(v) {
        RegionKnowledge::Typo(near) => Err(format!(
            "is not an AWS region; did you mean {}?",
            near.join(" or ")
        )),
        RegionKnowledge::Known | RegionKnowledge::Unknown => Ok(()),
    }
}

/// An ECR tag-mutability exclusion filter: a tag, or a pattern with `*`.
pub(super) fn image_tag_filter(v: &str) -> Check {
    if v.is_empty() || v.len() > 128 {
        return Err("is not 1-128 characters long".into());
    }
    match v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*')))
    {
        Some(c) => Err(format!(
            "contains {c:?}, which ECR does not allow in a tag filter"
        )),
        None => Ok(()),
    }
}

/// The regions of every AWS partition (aws, aws-cn, aws-us-gov, the ISO partitions and the
/// European Sovereign Cloud) known to this release.
const KNOWN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "cn-north-1",
    "cn-northwest-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "eu-isoe-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "eusc-de-east-1",
];

/// How a well-formed region name relates to the regions this release knows.
#[derive(Debug, PartialEq, Eq)]
pub enum RegionKnowledge {
    Known,
    /// A near miss of these known regions: almost certainly a typo.
    Typo(Vec<&'static str>),
    /// Neither known nor close to a known one, or a new number in a known area
    /// (`us-east-3`): new regions appear, so it is used as given.
    Unknown,
}

pub fn region_knowledge(v: &str) -> RegionKnowledge {
    if KNOWN_REGIONS.contains(&v) {
        return RegionKnowledge::Known;
    }
    // A new number in a known area (`us-east-3`), or a known direction in a new country
    // (`zz-north-1`), is how new regions are named; only other near misses are typos.
    let area = |r: &str| r.rsplit_once('-').map(|(a, _)| a.to_string());
    let country = |r: &str| r.split_once('-').map(|(c, _)| c.to_string());
    let direction = |r: &str| area(r).and_then(|a| a.split_once('-').map(|(_, d)| d.to_string()));
    let new_country = !KNOWN_REGIONS.iter().any(|r| country(r) == country(v))
        && KNOWN_REGIONS.iter().any(|r| direction(r) == direction(v));
    if new_country || KNOWN_REGIONS.iter().any(|r| area(r) == area(v)) {
        return RegionKnowledge::Unknown;
    }
    let distances: Vec<(usize, &'static str)> = KNOWN_REGIONS
        .iter()
        .map(|r| (edit_distance(v, r), *r))
        .collect();
    let best = distances
        .iter()
        .map(|(d, _)| *d)
        .min()
        .unwrap_or(usize::MAX);
    if best > 2 {
        return RegionKnowledge::Unknown;
    }
    RegionKnowledge::Typo(
        distances
            .into_iter()
            .filter(|(d, _)| *d == best)
            .map(|(_, r)| r)
            .take(3)
            .collect(),
    )
}

/// Levenshtein distance: insertions, deletions and substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// Characters that render as nothing or reorder the text around them (zero-width characters,
/// bidirectional controls, BOM, soft hyphen, variation selectors, tags): a name holding one
/// looks like another name in every plan, log and policy.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{E0000}'..='\u{E0FFF}')
}

fn visible(v: &str) -> Check {
    match v.chars().find(|&c| is_invisible(c)) {
        Some(c) => Err(format!(
            "contains the invisible character U+{:04X}, which makes it look like another name",
            c as u32
        )),
        None => Ok(()),
    }
}

pub(super) fn profile(v: &str) -> Check {
    visible(v)?;
    if v.is_empty() || v.len() > 128 || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("is not a profile name".into());
    }
    Ok(())
}

pub(super) fn ecr_repository(v: &str) -> Check {
    if v.len() < 2 || v.len() > 256 {
        return Err("is not 2-256 characters".into());
    }
    for segment in v.split('/') {
        let components_ok = !segment.is_empty()
            && segment.split(['.', '_', '-']).all(|c| {
                !c.is_empty()
                    && c.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            });
        if !components_ok {
            return Err("is not a valid ECR repository name".into());
        }
    }
    Ok(())
}

pub(super) fn iam_name(v: &str, max: usize) -> Check {
    if v.is_empty() || v.len() > max {
        return Err(format!("is not 1-{max} characters"));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err("contains a character IAM does not allow".into());
    }
    Ok(())
}

pub(super) fn secret_name(v: &str) -> Check {
    if v.is_empty() || v.len() > 255 {
        return Err("is not 1-255 characters".into());
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("contains a character GitHub does not allow in secret names".into());
    }
    if v.starts_with(|c: char| c.is_ascii_digit()) || v.to_ascii_uppercase().starts_with("GITHUB_")
    {
        return Err("starts with a digit or GITHUB_".into());
    }
    Ok(())
}

pub(super) fn issuer(v: &str) -> Check {
    let Some(rest) = v.strip_prefix("https://") else {
        return Err("does not start with https://".into());
    };
    if rest.ends_with('/') {
        return Err("ends with / (that names a different OIDC provider)".into());
    }
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !host_ok {
        return Err("does not have a valid host name".into());
    }
    let path_ok = path.is_empty()
        || path.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
        });
    if !path_ok || v.len() > 255 {
        return Err("has a path IAM cannot use as an OIDC provider URL".into());
    }
    Ok(())
}

/// git check-ref-format rules, shared by branches and tag patterns.
fn ref_name(v: &str, allow_star: bool) -> Check {
    if v.is_empty() || v.len() > 255 {
        return Err("is not 1-255 characters".into());
    }
    visible(v)?;
    let bad_char = v.chars().find(|&c| {
        c.is_control() || c.is_whitespace() || "~^:?[\\".contains(c) || (c == '*' && !allow_star)
    });
    if let Some(c) = bad_char {
        return Err(format!(
            "contains {c:?}, which git does not allow in ref names"
        ));
    }
    if v.contains("..") || v.contains("@{") || v.contains("//") || v == "@" {
        return Err("contains .., @{ or //, which git does not allow".into());
    }
    if v.starts_with(['-', '/', '.']) || v.ends_with(['/', '.']) || v.ends_with(".lock") {
        return Err("starts with - / . or ends with / . .lock".into());
    }
    if v.split('/')
        .any(|c| c.starts_with('.') || c.ends_with(".lock"))
    {
        return Err("has a path component starting with . or ending with .lock".into());
    }
    if v.starts_with("refs/") {
        return Err(
            "starts with refs/: give the short name, the tool adds refs/heads/ or refs/tags/"
                .into(),
        );
    }
    Ok(())
}

pub(super) fn branch(v: &str) -> Check {
    ref_name(v, false)
}

pub(super) fn tag_pattern(v: &str) -> Check {
    ref_name(v, true)
}

pub(super) fn environment(v: &str) -> Check {
    if v.is_empty() || v.chars().count() > 255 {
        return Err("is not 1-255 characters".into());
    }
    visible(v)?;
    if v.chars().any(|c| c.is_control() || c == '*' || c == '?') {
        return Err("contains a control character or a wildcard".into());
    }
    if v.trim() != v {
        return Err("has leading or trailing spaces".into());
    }
    Ok(())
}

pub(super) fn kms_key(v: &str) -> Check {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "kms"
        && region(parts[3]).is_ok()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && (parts[5].strip_prefix("key/").is_some_and(|id| {
            !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }) || parts[5].strip_prefix("alias/").is_some_and(|a| {
            !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
        }));
    if !ok {
        return Err("is not a KMS key or alias ARN".into());
    }
    Ok(())
}

pub(super) fn policy_arn(v: &str) -> Check {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && (parts[4] == "aws" || account_id(parts[4]).is_ok())
        && parts[5].strip_prefix("policy/").is_some_and(|path| {
            let name = path.rsplit('/').next().unwrap_or_default();
            !name.is_empty() && iam_name(name, 128).is_ok()
        });
    if !ok {
        return Err("is not an IAM managed policy ARN".into());
    }
    Ok(())
}

/// A workflow file as `job_workflow_ref` names it: `.github/workflows/NAME.yml`, no wildcard
/// (that would widen the pin) and no `..` or `@` (which would change what the ref means).
pub(super) fn workflow_path(v: &str) -> Check {
    let name = v.strip_prefix(".github/workflows/").unwrap_or_default();
    let ok = !name.is_empty()
        && (name.ends_with(".yml") || name.ends_with(".yaml"))
        && !name.contains('/')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !name.contains("..");
    if !ok {
        return Err("is not a workflow file in .github/workflows/".into());
    }
    Ok(())
}

pub(super) fn account_id(v: &str) -> Check {
    if v.len() != 12 || !v.chars().all(|c| c.is_ascii_digit()) {
        return Err("is not a 12-digit AWS account ID".into());
    }
    Ok(())
}

fn platform(v: &str) -> Check {
    let parts: Vec<&str> = v.split('/').collect();
    let ok = (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if !ok {
        return Err("is not a platform".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_typos_get_a_suggestion_and_new_regions_pass() {
        assert_eq!(region_knowledge("eu-west-1"), RegionKnowledge::Known);
        assert_eq!(
            region_knowledge("eu-wset-1"),
            RegionKnowledge::Typo(vec!["eu-west-1"])
        );
        assert_eq!(
            region_knowledge("us-est-1"),
            RegionKnowledge::Typo(vec!["us-east-1", "us-west-1"])
        );
        assert_eq!(region_knowledge("us-east-7"), RegionKnowledge::Unknown);
        assert_eq!(region_knowledge("xy-north-1"), RegionKnowledge::Unknown);
        assert_eq!(
            region_knowledge("eu-nort-1"),
            RegionKnowledge::Typo(vec!["eu-north-1"])
        );
        assert!(region("eusc-de-east-1").is_ok());
        assert_eq!(
            region("ap-southest-1"),
            Err("is not an AWS region; did you mean ap-southeast-1?".into())
        );
    }

    #[test]
    fn invisible_characters_are_refused_in_names() {
        for bad in [
            "main\u{200B}",
            "ma\u{202E}in",
            "\u{FEFF}main",
            "rel\u{2066}ease",
        ] {
            assert!(branch(bad).is_err(), "{bad:?}");
            assert!(tag_pattern(bad).is_err(), "{bad:?}");
            assert!(environment(bad).is_err(), "{bad:?}");
        }
        assert!(branch("héllo/wörld").is_ok());
        assert!(environment("production (eu)").is_ok());
    }

    #[test]
    fn a_refusal_quotes_the_value_and_states_the_form() {
        let err = PLATFORM.apply("--platforms", "linux").unwrap_err();
        assert_eq!(err.flag, "--platforms");
        assert_eq!(err.problem, "\"linux\" is not a platform");
        assert_eq!(err.expected, PLATFORM.expected);
        let long = PLATFORM
            .apply("--platforms", &"x\n".repeat(50))
            .unwrap_err();
        assert!(long.problem.starts_with("\"x\\nx\\n"), "{}", long.problem);
        assert!(long.problem.contains("…"), "{}", long.problem);
    }
}
