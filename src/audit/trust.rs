//! Security checks on a role's trust policy for GitHub Actions OIDC: the trust part of `audit`.
//!
//! Only Allow statements are checked: a Deny can only take access away, so nothing inside one
//! widens who can assume the role. Allow statements are not credited with the effect of Denies
//! next to them either, because proving that a Deny closes a hole needs the evaluator over
//! every possible token, and a report that is sometimes too loud beats one that is sometimes
//! silent. Each check reports at most one finding per statement, naming every offending value,
//! so that the IDs of a report are stable when a list grows.

use serde::Deserialize;

use crate::policy::{
    BaseOperator, Condition, Effect, PolicyDocument, Principal, SetQualifier, Statement, Targets,
    wildcard_match,
};
use crate::resources::finding::{Findings, Severity};

/// What the trust policy is meant to allow; the checks measure the policy against it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrustContext {
    /// The account that owns the role and its OIDC provider.
    pub account_id: String,
    /// Issuer URL without the scheme, e.g. `token.actions.githubusercontent.com`,
    /// `token.actions.githubusercontent.com/acme` (GitHub Enterprise Cloud) or
    /// `ghe.example.com/_services/token` (GitHub Enterprise Server). It is both the prefix of
    /// the condition keys and the suffix of the provider ARN. A leading `https://` and a
    /// trailing `/` are tolerated.
    pub issuer_host_path: String,
    /// `owner/repo` when the role is managed for one repository; repository-specific checks
    /// are skipped without it (and when it is not of the form `owner/repo`).
    #[serde(default)]
    pub repository: Option<String>,
    /// `(owner id, repository id)` when GitHub issues immutable subjects
    /// (`repo:OWNER@OWNER_ID/REPO@REPO_ID:...`) for the repository.
    #[serde(default)]
    pub immutable_ids: Option<(u64, u64)>,
    /// The operator chose `--any-ref`: `repo:OWNER/REPO:*` is then a deliberate choice and
    /// reported as low.
    #[serde(default)]
    pub allow_any_ref: bool,
}

pub(super) const WEB_IDENTITY_ACTION: &str = "sts:AssumeRoleWithWebIdentity";
const STS_AUDIENCE: &str = "sts.amazonaws.com";
/// Subjects no policy names on purpose: a pattern that matches them matches strangers.
const PROBE_SUBJECT: &str = "repo:zz-probe-owner/zz-probe-repo:ref:refs/heads/zz-probe-branch";
const PROBE_BRANCH: &str = "ref:refs/heads/zz-probe-branch";
const PROBE_TAG: &str = "ref:refs/tags/zz-probe-tag";
const PROBE_ENVIRONMENT: &str = "environment:zz-probe-environment";

/// Reports what is unsafe (or silently broken) in a role's trust policy for GitHub Actions.
/// Findings come in statement order; see `docs/audit-rules.md` for every ID.
pub fn trust_findings(doc: &PolicyDocument, ctx: &TrustContext, out: &mut Findings) {
    let scope = Scope::new(ctx);
    for (index, statement) in doc.statements.iter().enumerate() {
        if statement.effect == Effect::Deny {
            continue;
        }
        let label = statement.label(index);
        principal_findings(&label, statement, &scope, out);
        let trusts_our_provider = statement
            .principal
            .as_ref()
            .is_some_and(|p| p.federated().iter().any(|v| scope.is_our_provider(v)));
        if trusts_our_provider && statement.action.covers_action(WEB_IDENTITY_ACTION) {
            github_statement_findings(&label, statement, &scope, out);
        }
    }
}

/// The context, normalised once.
struct Scope<'a> {
    account_id: &'a str,
    issuer: &'a str,
    sub_key: String,
    aud_key: String,
    repository: Option<(&'a str, &'a str)>,
    immutable_ids: Option<(u64, u64)>,
    allow_any_ref: bool,
}

impl<'a> Scope<'a> {
    fn new(ctx: &'a TrustContext) -> Scope<'a> {
        let issuer = ctx.issuer_host_path.trim();
        let issuer = issuer.strip_prefix("https://").unwrap_or(issuer);
        let issuer = issuer.trim_end_matches('/');
        let repository = ctx
            .repository
            .as_deref()
            .and_then(|r| r.split_once('/'))
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'));
        Scope {
            account_id: ctx.account_id.trim(),
            issuer,
            sub_key: format!("{issuer}:sub"),
            aud_key: format!("{issuer}:aud"),
            repository,
            immutable_ids: ctx.immutable_ids,
            allow_any_ref: ctx.allow_any_ref,
        }
    }

    fn is_our_provider(&self, federated: &str) -> bool {
        self.foreign_provider_reason(federated).is_none()
    }

    /// Why a Federated principal is not this account's provider for this issuer, if it is not.
    /// Any partition is accepted (`aws`, `aws-us-gov`, `aws-cn`): the account ID already pins
    /// the partition.
    fn foreign_provider_reason(&self, federated: &str) -> Option<String> {
        let parts: Vec<&str> = federated.splitn(6, ':').collect();
        let [arn, _partition, service, region, account, resource] = parts.as_slice() else {
            return Some("is not an IAM OIDC provider ARN".to_string());
        };
        let Some(issuer) = resource.strip_prefix("oidc-provider/") else {
            return Some("is not an IAM OIDC provider ARN".to_string());
        };
        if *arn != "arn" || *service != "iam" || !region.is_empty() {
            return Some("is not an IAM OIDC provider ARN".to_string());
        }
        // Host names are case-insensitive, and IAM stores the URL as it was typed.
        let same_issuer = issuer.eq_ignore_ascii_case(self.issuer);
        match (*account == self.account_id, same_issuer) {
            (true, true) => None,
            (false, true) => Some(format!(
                "belongs to account {account}, not {}",
                self.account_id
            )),
            (true, false) => Some(format!("is for issuer {issuer}, not {}", self.issuer)),
            (false, false) => Some(format!(
                "belongs to account {account} and is for issuer {issuer}, not {} in {}",
                self.issuer, self.account_id
            )),
        }
    }

    fn provider_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:oidc-provider/{}",
            self.account_id, self.issuer
        )
    }

    /// `OWNER/REPO` for fix texts, a placeholder when the context has no repository.
    fn repo_display(&self) -> String {
        match self.repository {
            Some((owner, repo)) => format!("{owner}/{repo}"),
            None => "OWNER/REPO".to_string(),
        }
    }

    fn example_subject(&self) -> String {
        format!("repo:{}:ref:refs/heads/main", self.repo_display())
    }
}

fn principal_findings(label: &str, statement: &Statement, scope: &Scope, out: &mut Findings) {
    if statement
        .principal
        .as_ref()
        .is_some_and(|p| p.is_wildcard())
    {
        out.add(
            "trust-principal-wildcard",
            Severity::High,
            format!("{label} allows any principal (\"*\") to assume the role"),
            format!(
                "name the GitHub OIDC provider instead: \"Principal\": {{\"Federated\": \"{}\"}}",
                scope.provider_arn()
            ),
        );
    }
    let others = other_principals(statement);
    if !others.is_empty() {
        out.add(
            "trust-non-github-principal",
            Severity::High,
            format!(
                "{label} lets principals other than GitHub's OIDC provider assume the push role: {}",
                others.join(", ")
            ),
            format!(
                "delete {} from the \"Principal\" of {label} (give them a role of their own); the push role trusts only \"Federated\": \"{}\"",
                others.join(", "),
                scope.provider_arn()
            ),
        );
    }
    if statement.not_principal.is_some() {
        out.add(
            "trust-not-principal",
            Severity::High,
            format!(
                "{label} uses NotPrincipal with Allow, which trusts every principal except the ones listed"
            ),
            format!(
                "replace NotPrincipal with \"Principal\": {{\"Federated\": \"{}\"}}",
                scope.provider_arn()
            ),
        );
    }
    let federated = statement
        .principal
        .as_ref()
        .map(|p| p.federated())
        .unwrap_or_default();
    let foreign: Vec<String> = federated
        .iter()
        .filter(|v| v.as_str() != "*")
        .filter_map(|v| {
            scope
                .foreign_provider_reason(v)
                .map(|why| format!("{v:?} {why}"))
        })
        .collect();
    if !foreign.is_empty() {
        out.add(
            "trust-foreign-federated-principal",
            Severity::High,
            format!(
                "{label} trusts identities from another provider: {}",
                foreign.join("; ")
            ),
            format!(
                "trust only this account's GitHub provider {} and remove the others",
                scope.provider_arn()
            ),
        );
    }
    if !federated.is_empty() && statement.action.covers_action("sts:AssumeRole") {
        let unusable = if statement.action.covers_action(WEB_IDENTITY_ACTION) {
            ""
        } else {
            ", and not sts:AssumeRoleWithWebIdentity, so GitHub tokens cannot use it"
        };
        out.add(
            "trust-assume-role-action",
            Severity::High,
            format!(
                "{label} allows sts:AssumeRole for a federated principal through {}{unusable}",
                describe_targets("Action", &statement.action)
            ),
            format!("set \"Action\": \"{WEB_IDENTITY_ACTION}\" and nothing else"),
        );
    }
}

/// AWS accounts, roles and users, AWS services and canonical users named in `Principal`. `"*"`
/// is left to `trust-principal-wildcard`, and Federated principals to the provider check.
fn other_principals(statement: &Statement) -> Vec<String> {
    let Some(Principal::Listed(listed)) = &statement.principal else {
        return Vec::new();
    };
    [
        ("AWS", &listed.aws),
        ("Service", &listed.service),
        ("CanonicalUser", &listed.canonical_user),
    ]
    .iter()
    .flat_map(|(kind, values)| {
        values
            .iter()
            .filter(|v| v.as_str() != "*")
            .map(move |v| format!("{kind} {v:?}"))
    })
    .collect()
}

fn describe_targets(name: &str, targets: &Targets) -> String {
    match targets {
        Targets::Only(list) => format!("{name} {list:?}"),
        Targets::AllExcept(list) => format!("Not{name} {list:?}"),
    }
}

/// How a `sub` value scopes the repository part of a subject.
#[derive(Debug, PartialEq, Eq)]
enum SubjectScope<'a> {
    /// Repositories of any owner can match (`*`, `repo:*`, `repo:*/app:*`).
    AnyOwner,
    /// Every repository of one owner (`repo:acme/*`).
    WholeOwner,
    /// A wildcard inside the owner or repository name (`repo:acme*/app:*`, `repo:acme/app*`).
    NameWildcard,
    /// One repository; `suffix` is what follows `repo:OWNER/REPO:` (`ref:refs/heads/main`).
    Exact {
        owner: RepoName<'a>,
        repo: RepoName<'a>,
        suffix: &'a str,
    },
    /// Not a default-template GitHub subject (a custom subject template, or a typo).
    Unrecognised,
}

/// `acme` or, in immutable subjects, `acme@1001`.
#[derive(Debug, PartialEq, Eq)]
struct RepoName<'a> {
    name: &'a str,
    id: Option<u64>,
}

impl<'a> RepoName<'a> {
    fn parse(text: &'a str) -> RepoName<'a> {
        match text.rsplit_once('@') {
            Some((name, id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
                RepoName {
                    name,
                    id: id.parse().ok(),
                }
            }
            _ => RepoName {
                name: text,
                id: None,
            },
        }
    }
}

/// `like` says whether `*` and `?` are wildcards (StringLike) or literal characters.
fn classify_subject(value: &str, like: bool) -> SubjectScope<'_> {
    let wild = |s: &str| like && s.contains(['*', '?']);
    // `?*` is as open as `*`: every name has at least one character.
    let only_wild = |s: &str| wild(s) && s.contains('*') && s.chars().all(|c| c == '*' || c == '?');
    let Some(rest) = value.strip_prefix("repo:") else {
        return if wild(value) && wildcard_match(value, PROBE_SUBJECT) {
            SubjectScope::AnyOwner
        } else {
            SubjectScope::Unrecognised
        };
    };
    let owner_end = rest.find(['/', ':']).unwrap_or(rest.len());
    let (owner, after_owner) = rest.split_at(owner_end);
    if let Some(pinned) = immutable_subject(owner, after_owner) {
        return pinned;
    }
    if only_wild(owner) {
        return SubjectScope::AnyOwner;
    }
    if wild(owner) {
        return SubjectScope::NameWildcard;
    }
    let Some(after_slash) = after_owner.strip_prefix('/') else {
        return SubjectScope::Unrecognised;
    };
    let repo_end = after_slash.find(':').unwrap_or(after_slash.len());
    let (repo, after_repo) = after_slash.split_at(repo_end);
    if owner.is_empty() {
        return SubjectScope::Unrecognised;
    }
    if only_wild(repo) {
        return SubjectScope::WholeOwner;
    }
    if wild(repo) {
        return SubjectScope::NameWildcard;
    }
    if repo.is_empty() {
        return SubjectScope::Unrecognised;
    }
    SubjectScope::Exact {
        owner: RepoName::parse(owner),
        repo: RepoName::parse(repo),
        suffix: after_repo.strip_prefix(':').unwrap_or(after_repo),
    }
}

/// `repo:OWNER@OWNER_ID/REPO@REPO_ID:...` with both IDs literal: the IDs pin one repository
/// whatever wildcards the names hold (`repo:*@1001/*@2002:...`), since names cannot contain
/// `@`, `/` or `:`, so `*@1001/` only matches owner ID 1001.
fn immutable_subject<'a>(owner: &'a str, after_owner: &'a str) -> Option<SubjectScope<'a>> {
    let after_slash = after_owner.strip_prefix('/')?;
    let repo_end = after_slash.find(':').unwrap_or(after_slash.len());
    let (repo, after_repo) = after_slash.split_at(repo_end);
    let (owner, repo) = (RepoName::parse(owner), RepoName::parse(repo));
    (owner.id.is_some() && repo.id.is_some()).then(|| SubjectScope::Exact {
        owner,
        repo,
        suffix: after_repo.strip_prefix(':').unwrap_or(after_repo),
    })
}

impl Scope<'_> {
    /// IDs decide when both sides have them: they survive renames, and a recreated repository
    /// with the old name gets a new ID. Names compare as the operator does (`like`: wildcards).
    fn is_our_repository(&self, owner: &RepoName, repo: &RepoName, like: bool) -> Option<bool> {
        let (our_owner, our_repo) = self.repository?;
        let same = |pattern: &str, ours: &str| {
            if like {
                wildcard_match(&pattern.to_lowercase(), &ours.to_lowercase())
            } else {
                pattern.eq_ignore_ascii_case(ours)
            }
        };
        Some(match (owner.id, repo.id, self.immutable_ids) {
            (Some(o), Some(r), Some((our_o, our_r))) => o == our_o && r == our_r,
            _ => same(owner.name, our_owner) && same(repo.name, our_repo),
        })
    }
}

/// Whether some string could match both values, each compared the way its condition compares
/// (wildcards only under StringLike; IgnoreCase folds case on both sides).
fn could_overlap(a: &str, a_condition: &Condition, b: &str, b_condition: &Condition) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Token {
        Star,
        One,
        Char(char),
    }
    let fold = [a_condition, b_condition].iter().any(|c| {
        matches!(
            c.operator.base,
            BaseOperator::StringEqualsIgnoreCase | BaseOperator::StringNotEqualsIgnoreCase
        )
    });
    let tokens = |text: &str, condition: &Condition| -> Vec<Token> {
        let wild = condition.operator.base.has_wildcards();
        let text = if fold {
            text.to_lowercase()
        } else {
            text.to_string()
        };
        text.chars()
            .map(|c| match c {
                '*' if wild => Token::Star,
                '?' if wild => Token::One,
                c => Token::Char(c),
            })
            .collect()
    };
    let (a, b) = (tokens(a, a_condition), tokens(b, b_condition));
    // meet[i][j]: the rest of `a` from token i and the rest of `b` from token j can produce a
    // common string. Filled from the ends, so every cell reads cells already computed.
    let mut meet = vec![vec![false; b.len() + 1]; a.len() + 1];
    for i in (0..=a.len()).rev() {
        for j in (0..=b.len()).rev() {
            let next = |di: usize, dj: usize| meet[i + di][j + dj];
            meet[i][j] = match (a.get(i), b.get(j)) {
                (None, None) => true,
                // A star may produce nothing, or swallow what the other side's next token
                // produces (a whole star run included).
                (Some(Token::Star), Some(_)) => next(1, 0) || next(0, 1),
                (Some(Token::Star), None) => next(1, 0),
                (Some(_), Some(Token::Star)) => next(0, 1) || next(1, 0),
                (None, Some(Token::Star)) => next(0, 1),
                (Some(Token::Char(x)), Some(Token::Char(y))) => x == y && next(1, 1),
                (Some(_), Some(_)) => next(1, 1),
                (None, Some(_)) | (Some(_), None) => false,
            };
        }
    }
    meet[0][0]
}

/// Offending values of one check, as shown in the message, with the worst severity seen.
struct Hits {
    shown: Vec<String>,
    severity: Severity,
}

impl Hits {
    fn new() -> Hits {
        Hits {
            shown: Vec::new(),
            severity: Severity::Low,
        }
    }

    fn add(&mut self, value: &str, severity: Severity) {
        self.add_shown(format!("{value:?}"), severity);
    }

    fn add_shown(&mut self, shown: String, severity: Severity) {
        if !self.shown.contains(&shown) {
            self.shown.push(shown);
        }
        self.severity = self.severity.max(severity);
    }

    fn list(&self) -> String {
        self.shown.join(", ")
    }
}

fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn github_statement_findings(
    label: &str,
    statement: &Statement,
    scope: &Scope,
    out: &mut Findings,
) {
    // Tokens from this provider carry only this issuer's keys. A required condition on another
    // issuer's sub or aud can never hold, so the statement grants nothing: report that, and
    // not the contents of a statement that cannot take effect.
    let mut foreign_keys: Vec<String> = statement
        .conditions
        .iter()
        .filter(|c| {
            is_other_issuer_claim(&c.key, scope.issuer)
                && c.operator.base.is_positive_string()
                && !c.operator.if_exists
                && c.operator.qualifier != Some(SetQualifier::ForAllValues)
        })
        .map(|c| c.key.clone())
        .collect();
    foreign_keys.sort();
    foreign_keys.dedup();
    if !foreign_keys.is_empty() {
        out.add(
            "trust-condition-key-mismatch",
            Severity::Medium,
            format!(
                "{label} requires {}, which tokens from {} never carry: the statement can never match and GitHub cannot assume the role through it",
                quoted(&foreign_keys),
                scope.issuer
            ),
            format!(
                "name the keys after this provider's issuer: {} and {}",
                scope.sub_key, scope.aud_key
            ),
        );
        return;
    }
    policy_variable_findings(label, statement, scope, out);
    let pins = Pins::of(statement, scope);
    subject_findings(label, statement, scope, &pins, out);
    audience_findings(label, statement, scope, out);
}

/// The repository and owner IDs a statement pins beside `sub`: AWS STS evaluates GitHub's
/// `repository_id` and `repository_owner_id` claims since February 2026.
struct Pins {
    repository: bool,
    owner: bool,
}

impl Pins {
    fn of(statement: &Statement, scope: &Scope) -> Pins {
        let pinned = |claim: &str| {
            let key = format!("{}:{claim}", scope.issuer);
            statement.conditions.iter().any(|c| {
                c.key.eq_ignore_ascii_case(&key)
                    && c.operator.base.is_positive_string()
                    && !c.operator.if_exists
                    && c.operator.qualifier != Some(SetQualifier::ForAllValues)
                    && !c.values.is_empty()
                    && c.values.iter().all(|v| is_number(v))
            })
        };
        Pins {
            repository: pinned("repository_id"),
            owner: pinned("repository_owner_id"),
        }
    }

    /// Names then no longer matter: IDs are never reused, renames and new owners keep them.
    fn both(&self) -> bool {
        self.repository && self.owner
    }
}

/// A GitHub ID as it appears in claims; a wildcard or a variable is no pin.
fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether IAM would substitute something into the value: `${...}` other than the escapes of
/// literal characters (`${*}`, `${?}`, `${$}`).
fn has_policy_variable(value: &str) -> bool {
    value
        .replace("${*}", "")
        .replace("${?}", "")
        .replace("${$}", "")
        .contains("${")
}

/// A variable such as `${token.actions.githubusercontent.com:sub}` in a condition on the
/// token's own claims is replaced by that very claim, so the condition compares the token
/// with itself and every repository on GitHub passes.
fn policy_variable_findings(label: &str, statement: &Statement, scope: &Scope, out: &mut Findings) {
    let prefix = format!("{}:", scope.issuer).to_ascii_lowercase();
    let mut hits = Hits::new();
    let mut keys = Vec::new();
    for c in statement.conditions.iter().filter(|c| {
        c.operator.base.is_positive_string() && c.key.to_ascii_lowercase().starts_with(&prefix)
    }) {
        for value in c.values.iter().filter(|v| has_policy_variable(v)) {
            hits.add_shown(
                format!("{} {} {value:?}", c.operator, c.key),
                Severity::High,
            );
            if !keys.contains(&c.key) {
                keys.push(c.key.clone());
            }
        }
    }
    if !hits.shown.is_empty() {
        out.add(
            "trust-policy-variable",
            Severity::High,
            format!(
                "{label} compares GitHub's claims with a policy variable: {}; IAM substitutes the token's own claim, so the condition always holds and a workflow in any repository can assume the role",
                hits.list()
            ),
            format!(
                "replace each variable in {} with the literal values, e.g. \"{}\": \"{}\"",
                quoted(&keys),
                scope.sub_key,
                scope.example_subject()
            ),
        );
    }
}

/// `ISSUER:sub` or `ISSUER:aud` of an issuer other than ours.
fn is_other_issuer_claim(key: &str, issuer: &str) -> bool {
    key.rsplit_once(':').is_some_and(|(prefix, claim)| {
        (claim.eq_ignore_ascii_case("sub") || claim.eq_ignore_ascii_case("aud"))
            && !prefix.eq_ignore_ascii_case(issuer)
    })
}

fn subject_findings(
    label: &str,
    statement: &Statement,
    scope: &Scope,
    pins: &Pins,
    out: &mut Findings,
) {
    let sub_key = scope.sub_key.as_str();
    let on_key = |key: &str| -> Vec<&Condition> {
        statement
            .conditions
            .iter()
            .filter(|c| c.key.eq_ignore_ascii_case(key))
            .collect()
    };
    let sub_conditions = on_key(sub_key);
    let aud_conditions = on_key(&scope.aud_key);

    set_operator_findings(label, &sub_conditions, &aud_conditions, out);

    let positive: Vec<&Condition> = sub_conditions
        .iter()
        .copied()
        .filter(|c| c.operator.base.is_positive_string())
        .collect();
    // With the repository pinned by its ID, no sub means any ref of that one repository:
    // the value checks below report it.
    if positive.is_empty() && !pins.repository {
        let negated: Vec<String> = sub_conditions
            .iter()
            .filter(|c| c.operator.base.is_negated_string())
            .map(|c| format!("{} {:?}", c.operator, c.values))
            .collect();
        if negated.is_empty() {
            no_sub_condition(label, statement, &sub_conditions, scope, out);
        } else {
            out.add(
                "trust-sub-only-negated",
                Severity::High,
                format!(
                    "{label} restricts {sub_key} only by exclusion ({}): every subject not listed, from any repository, may assume the role",
                    negated.join("; ")
                ),
                format!(
                    "add a StringEquals or StringLike condition on {sub_key} listing the allowed subjects, e.g. {:?}",
                    scope.example_subject()
                ),
            );
        }
    }

    let if_exists: Vec<String> = positive
        .iter()
        .filter(|c| c.operator.if_exists)
        .map(|c| c.operator.to_string())
        .collect();
    if !if_exists.is_empty() {
        out.add(
            "trust-sub-if-exists",
            Severity::High,
            format!(
                "{label} checks {sub_key} with {}: a token without a sub claim passes the condition",
                if_exists.join(", ")
            ),
            "drop the IfExists suffix: the sub claim must be required, not optional",
        );
    }

    let ignore_case: Vec<String> = positive
        .iter()
        .filter(|c| c.operator.base == BaseOperator::StringEqualsIgnoreCase)
        .map(|c| format!("{} {:?}", c.operator, c.values))
        .collect();
    if !ignore_case.is_empty() {
        out.add(
            "trust-sub-ignore-case",
            Severity::Medium,
            format!(
                "{label} compares {sub_key} ignoring case ({}): git refs and environment names are case-sensitive, so a branch MAIN, which main's protection rules do not cover, passes the trust written for main",
                ignore_case.join("; ")
            ),
            format!(
                "rename the operator: \"StringEquals\": {{\"{sub_key}\": [...]}} (\"StringLike\" when a value has a wildcard)"
            ),
        );
    }

    subject_value_findings(label, &sub_conditions, &positive, scope, pins, out);
}

fn no_sub_condition(
    label: &str,
    statement: &Statement,
    sub_conditions: &[&Condition],
    scope: &Scope,
    out: &mut Findings,
) {
    let sub_key = scope.sub_key.as_str();
    let mut message =
        format!("{label} lets GitHub tokens assume the role without a condition on {sub_key}");
    if !sub_conditions.is_empty() {
        let ops: Vec<String> = sub_conditions
            .iter()
            .map(|c| c.operator.to_string())
            .collect();
        message.push_str(&format!(
            " that requires a value (only {} is used)",
            ops.join(", ")
        ));
    }
    message.push_str(": a workflow in any repository, of any owner, can assume it");
    // A common slip after switching issuers: the keys still name the old one, and only
    // conditions on this provider's keys apply to its tokens.
    let elsewhere: Vec<&str> = statement
        .conditions
        .iter()
        .filter(|c| {
            c.key.to_ascii_lowercase().ends_with(":sub") && !c.key.eq_ignore_ascii_case(sub_key)
        })
        .map(|c| c.key.as_str())
        .collect();
    if !elsewhere.is_empty() {
        message.push_str(&format!(
            " (conditions on {} do not apply to tokens from {})",
            quoted(&elsewhere.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            scope.issuer
        ));
    }
    out.add(
        "trust-no-sub-condition",
        Severity::High,
        message,
        format!(
            "add \"StringEquals\": {{\"{sub_key}\": [...]}} listing the allowed subjects, e.g. {:?}",
            scope.example_subject()
        ),
    );
}

fn set_operator_findings(
    label: &str,
    sub_conditions: &[&Condition],
    aud_conditions: &[&Condition],
    out: &mut Findings,
) {
    let with = |qualifier: SetQualifier| -> Vec<String> {
        sub_conditions
            .iter()
            .chain(aud_conditions)
            .filter(|c| c.operator.qualifier == Some(qualifier))
            .map(|c| format!("{} on {}", c.operator, c.key))
            .collect()
    };
    let for_all = with(SetQualifier::ForAllValues);
    if !for_all.is_empty() {
        out.add(
            "trust-for-all-values",
            Severity::High,
            format!(
                "{label} uses {}: ForAllValues is true when the claim is missing or empty, so the condition can pass without checking anything",
                for_all.join(", ")
            ),
            "sub and aud are single-valued claims: use the plain operator (StringEquals, StringLike) without a ForAllValues: prefix",
        );
    }
    let for_any = with(SetQualifier::ForAnyValue);
    if !for_any.is_empty() {
        out.add(
            "trust-for-any-value",
            Severity::Low,
            format!(
                "{label} uses {}: set operators are meant for multi-valued keys; on a single-valued claim this behaves like the plain operator today but misleads readers",
                for_any.join(", ")
            ),
            "use the plain operator (StringEquals, StringLike) without the ForAnyValue: prefix",
        );
    }
}

/// Looks at every value of every positive `sub` condition. IAM ANDs conditions under
/// different operators, so a value only counts when the other conditions can let its
/// subjects through: values no other positive condition can share are dead, and the ref
/// checks run a probe subject through every `sub` condition, exclusions included.
fn subject_value_findings(
    label: &str,
    sub_conditions: &[&Condition],
    positive: &[&Condition],
    scope: &Scope,
    pins: &Pins,
    out: &mut Findings,
) {
    let sub_key = scope.sub_key.as_str();
    let mut any_owner = Hits::new();
    let mut whole_owner = Hits::new();
    let mut name_wildcard = Hits::new();
    let mut literal_wildcard = Hits::new();
    let mut other_repository = Hits::new();
    let mut no_repository = Hits::new();
    let mut any_ref = Hits::new();
    let mut ref_pattern = Hits::new();
    let mut pull_request = Hits::new();
    let mut name_form_only = Hits::new();
    let mut dead = Hits::new();
    let any_ref_severity = if scope.allow_any_ref {
        Severity::Low
    } else {
        Severity::Medium
    };

    if positive.is_empty() && pins.repository {
        // Only the exclusions, if any, narrow what the pinned repository may do.
        let probe_subject = format!("repo:{}:", scope.repo_display());
        let passes = |rest: &str| {
            let probe = format!("{probe_subject}{rest}");
            sub_conditions
                .iter()
                .all(|c| c.holds_for(&probe) != Some(false))
        };
        let reach = RefReach::of(&passes);
        let shown = format!("no condition on {sub_key}, only the repository_id pin");
        if let Some(what) = reach.describe() {
            any_ref.add_shown(format!("{shown} ({what})"), any_ref_severity);
        }
        if passes("pull_request") {
            let severity = if reach.every_ref() {
                any_ref_severity
            } else {
                Severity::Medium
            };
            pull_request.add_shown(shown, severity);
        }
    }

    for &condition in positive {
        let base = &condition.operator.base;
        let like = base.has_wildcards();
        // The immutable twins present in this very condition: twins under another operator
        // would be ANDed with the name form instead of ORed, and could never both match.
        let mut immutable_suffixes = Vec::new();
        let mut name_form = Vec::new();
        // Reported as trust-policy-variable: what IAM substitutes is not known here.
        for value in condition.values.iter().filter(|v| !has_policy_variable(v)) {
            if !like && value.contains(['*', '?']) {
                literal_wildcard.add(value, Severity::Medium);
                continue;
            }
            let shared = |other: &&Condition| {
                std::ptr::eq(*other, condition)
                    || other
                        .values
                        .iter()
                        .any(|w| could_overlap(value, condition, w, other))
            };
            if !positive.iter().all(shared) {
                dead.add(value, Severity::Low);
                continue;
            }
            let suffix = match classify_subject(value, like) {
                SubjectScope::Exact {
                    owner,
                    repo,
                    suffix,
                } => {
                    match scope.is_our_repository(&owner, &repo, like) {
                        Some(false) => other_repository.add(value, Severity::Medium),
                        Some(true) if owner.id.is_some() && repo.id.is_some() => {
                            immutable_suffixes.push(suffix)
                        }
                        Some(true) if owner.id.is_none() && repo.id.is_none() => {
                            name_form.push((suffix, value))
                        }
                        _ => {}
                    }
                    suffix
                }
                SubjectScope::Unrecognised => {
                    // A custom subject template: it must name the repository itself, unless
                    // the statement pins the repository's ID.
                    if !value.starts_with("repo:")
                        && !pins.repository
                        && !custom_subject_names_repository(value, like)
                    {
                        no_repository.add(value, Severity::Medium);
                    }
                    continue;
                }
                // The IDs pinned beside sub decide the repository; only the ref part counts.
                _ if pins.both() => subject_suffix(value),
                SubjectScope::AnyOwner => {
                    any_owner.add(value, Severity::High);
                    continue;
                }
                SubjectScope::WholeOwner => {
                    whole_owner.add(value, Severity::High);
                    continue;
                }
                SubjectScope::NameWildcard => {
                    name_wildcard.add(value, Severity::High);
                    continue;
                }
            };
            let prefix = value.strip_suffix(suffix).unwrap_or(value);
            let passes = |rest: &str| {
                let probe = format!("{prefix}{rest}");
                condition.operator.base.compare(value, &probe) == Some(true)
                    && sub_conditions.iter().all(|other| {
                        std::ptr::eq(*other, condition) || other.holds_for(&probe) != Some(false)
                    })
            };
            let reach = if like {
                RefReach::of(&passes)
            } else {
                RefReach::default()
            };
            if let Some(what) = reach.describe() {
                any_ref.add_shown(format!("{value:?} ({what})"), any_ref_severity);
            }
            // Tag patterns are what --tag asks for (`v*`); branches and environments are names.
            let partial = |kind: &str, reached: bool| {
                !reached
                    && suffix
                        .strip_prefix(kind)
                        .is_some_and(|name| name.contains(['*', '?']))
            };
            if like
                && (partial("ref:refs/heads/", reach.branch)
                    || partial("environment:", reach.environment))
            {
                ref_pattern.add(value, Severity::Low);
            }
            if passes("pull_request") {
                // Pull requests are part of what --any-ref accepts; only a subject that
                // names them on purpose, or a wildcard nobody opted into, stays medium.
                let severity = if reach.every_ref() {
                    any_ref_severity
                } else {
                    Severity::Medium
                };
                pull_request.add(value, severity);
            }
        }
        if let (Some((o, r)), Some((oid, rid))) = (scope.repository, scope.immutable_ids) {
            for (suffix, value) in name_form {
                if !immutable_suffixes.contains(&suffix) {
                    name_form_only.add_shown(
                        format!("{value:?} (missing \"repo:{o}@{oid}/{r}@{rid}:{suffix}\")"),
                        Severity::Medium,
                    );
                }
            }
        }
    }

    let repo = scope.repo_display();
    let example = scope.example_subject();
    let mut operators: Vec<String> = positive.iter().map(|c| c.operator.to_string()).collect();
    operators.sort();
    operators.dedup();
    if operators.len() > 1 {
        let mut message = format!(
            "{label} checks {sub_key} under several operators ({}), which IAM ANDs: a token must match every list",
            operators.join(", ")
        );
        if !dead.shown.is_empty() {
            message.push_str(&format!("; these values can never match: {}", dead.list()));
        }
        out.add(
            "trust-sub-split-operators",
            Severity::Low,
            message,
            "put all sub values under one operator: StringLike when any value has a wildcard, else StringEquals",
        );
    }
    let checks: [(&Hits, &'static str, String, String); 10] = [
        (
            &any_owner,
            "trust-sub-any-owner",
            format!(
                "{label} accepts {sub_key} values that match repositories of any owner: {}; anyone on GitHub can create a matching repository and assume the role",
                any_owner.list()
            ),
            format!("list the exact subjects of {repo}, e.g. {example:?}"),
        ),
        (
            &whole_owner,
            "trust-sub-whole-owner",
            format!(
                "{label} accepts every repository of an owner through {sub_key}: {}; any repository created there, including forks and throwaway ones, can assume the role",
                whole_owner.list()
            ),
            format!("name the one repository, e.g. {example:?}"),
        ),
        (
            &name_wildcard,
            "trust-sub-name-wildcard",
            format!(
                "{label} has a wildcard inside an owner or repository name in {sub_key}: {}; a repository or account whose name merely starts or ends the same way matches",
                name_wildcard.list()
            ),
            format!(
                "spell the owner and repository out; keep wildcards to the part after the second colon, e.g. \"repo:{repo}:ref:refs/tags/v*\""
            ),
        ),
        (
            &literal_wildcard,
            "trust-sub-literal-wildcard",
            format!(
                "{label} has wildcard characters under an exact-match operator on {sub_key}: {}; StringEquals compares * and ? literally, so these values never match and the role cannot be assumed with them",
                literal_wildcard.list()
            ),
            "move wildcard values under StringLike (with all the other sub values, since conditions under different operators are ANDed)"
                .to_string(),
        ),
        (
            &other_repository,
            "trust-sub-other-repository",
            format!(
                "{label} trusts subjects of repositories other than {repo}: {}",
                other_repository.list()
            ),
            format!(
                "remove the other repositories' subjects, or give them their own role; keep only subjects of {repo}"
            ),
        ),
        (
            &no_repository,
            "trust-sub-no-repository",
            format!(
                "{label} accepts custom-template {sub_key} values that name no repository (no repo: or repository_id: claim): {}; every repository whose subject has the same claims can assume the role",
                no_repository.list()
            ),
            format!(
                "put the repository into the subject (\"repo\" or \"repository_id\" in the template's include_claim_keys, then e.g. \"repository_id:2002:environment:prod\"), or pin it beside sub: \"StringEquals\": {{\"{}:repository_id\": \"REPOSITORY_ID\"}}",
                scope.issuer
            ),
        ),
        (
            &any_ref,
            "trust-sub-any-ref",
            format!(
                "{label} accepts any branch, tag or environment of the repository: {}",
                any_ref.list()
            ),
            format!(
                "list the branches, tags or environments that may push, e.g. {example:?} or \"repo:{repo}:environment:prod\" (`skyecr-bootstrap apply --github-repo {repo} --branch main` writes them)"
            ),
        ),
        (
            &ref_pattern,
            "trust-sub-ref-pattern",
            format!(
                "{label} has a wildcard inside a branch or environment name in {sub_key}: {}; other names that start or end the same way also match (refs/heads/main* matches main-hotfix)",
                ref_pattern.list()
            ),
            format!("spell the branch or environment out, e.g. {example:?}"),
        ),
        (
            &pull_request,
            "trust-sub-pull-request",
            format!(
                "{label} lets pull_request workflows assume the push role: {}; code from an unreviewed pull request can push images",
                pull_request.list()
            ),
            format!(
                "push only from reviewed refs or protected environments, e.g. {example:?}; build pull requests without AWS credentials"
            ),
        ),
        (
            &name_form_only,
            "trust-sub-name-form-only",
            format!(
                "{label} lists subjects only in the name form while GitHub issues immutable subjects (repo:OWNER@OWNER_ID/REPO@REPO_ID:...) for {repo}, so these stop matching: {}",
                name_form_only.list()
            ),
            "add the immutable form of each subject next to its name form, in the same condition"
                .to_string(),
        ),
    ];
    for (hits, id, message, fix) in checks {
        if !hits.shown.is_empty() {
            out.add(id, hits.severity, message, fix);
        }
    }
}

/// Which kinds of ref a subject pattern accepts whatever their name: probed with names no
/// policy uses on purpose.
#[derive(Debug, Default, Clone, Copy)]
struct RefReach {
    branch: bool,
    tag: bool,
    environment: bool,
}

impl RefReach {
    /// `passes(rest)`: whether the subject ending in `rest` gets through.
    fn of(passes: &dyn Fn(&str) -> bool) -> RefReach {
        RefReach {
            branch: passes(PROBE_BRANCH),
            tag: passes(PROBE_TAG),
            environment: passes(PROBE_ENVIRONMENT),
        }
    }

    /// What `repo:OWNER/REPO:*` accepts: the setup guide's scope, which --any-ref opts into.
    fn every_ref(self) -> bool {
        self.branch && self.environment
    }

    fn describe(self) -> Option<String> {
        if self.branch && self.tag && self.environment {
            return Some("any ref".to_string());
        }
        let kinds: Vec<&str> = [
            (self.branch, "any branch"),
            (self.tag, "any tag"),
            (self.environment, "any environment"),
        ]
        .iter()
        .filter(|(reached, _)| *reached)
        .map(|(_, kind)| *kind)
        .collect();
        (!kinds.is_empty()).then(|| kinds.join(", "))
    }
}

/// What follows `repo:OWNER/REPO:` in a subject whose names are wildcards; empty when a
/// wildcard spans the rest (`repo:*`, `repo:acme/*`, `*`), so that the probes see it whole.
fn subject_suffix(value: &str) -> &str {
    let Some(rest) = value.strip_prefix("repo:") else {
        return "";
    };
    let Some((_, after_owner)) = rest.split_once('/') else {
        return "";
    };
    after_owner.split_once(':').map_or("", |(_, suffix)| suffix)
}

/// Custom subject templates join `claim:value` pairs (`repository_owner:acme:environment:prod`);
/// one of them names the repository when it is `repo:OWNER/REPO` or `repository_id:ID`.
fn custom_subject_names_repository(value: &str, like: bool) -> bool {
    let parts: Vec<&str> = value.split(':').collect();
    parts.windows(2).any(|pair| {
        let (claim, text) = (pair[0], pair[1]);
        let literal = !(like && text.contains(['*', '?']));
        match claim {
            "repo" | "repository" => literal && text.contains('/'),
            "repository_id" => is_number(text),
            _ => false,
        }
    })
}

fn audience_findings(label: &str, statement: &Statement, scope: &Scope, out: &mut Findings) {
    let aud_key = scope.aud_key.as_str();
    let positive: Vec<&Condition> = statement
        .conditions
        .iter()
        .filter(|c| c.key.eq_ignore_ascii_case(aud_key) && c.operator.base.is_positive_string())
        .collect();
    let fix = format!("add \"StringEquals\": {{\"{aud_key}\": \"{STS_AUDIENCE}\"}}");
    if positive.is_empty() {
        out.add(
            "trust-no-aud-condition",
            Severity::High,
            format!(
                "{label} does not require {aud_key} to be {STS_AUDIENCE}: tokens minted for other audiences are accepted whenever the provider lists them"
            ),
            fix,
        );
        return;
    }
    let mut unexpected = Hits::new();
    for condition in positive {
        // A variable is reported as trust-policy-variable.
        for value in condition.values.iter().filter(|v| !has_policy_variable(v)) {
            // Under StringLike only the literal audience is safe; any wildcard widens it.
            let accepted = match condition.operator.base {
                BaseOperator::StringLike => value == STS_AUDIENCE,
                ref base => base.compare(value, STS_AUDIENCE) == Some(true),
            };
            if !accepted {
                unexpected.add(value, Severity::Medium);
            }
        }
    }
    if !unexpected.shown.is_empty() {
        out.add(
            "trust-aud-unexpected",
            Severity::Medium,
            format!(
                "{label} accepts {aud_key} values other than {STS_AUDIENCE}: {}",
                unexpected.list()
            ),
            format!("require exactly {STS_AUDIENCE}: {fix}"),
        );
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::policy::parse_policy;
    use crate::resources::change::Kind;
    use crate::resources::finding::Finding;
    use serde_json::{Value, json};

    const ISSUER: &str = "token.actions.githubusercontent.com";

    fn ctx() -> TrustContext {
        TrustContext {
            account_id: "123456789012".into(),
            issuer_host_path: ISSUER.into(),
            repository: Some("acme/app".into()),
            immutable_ids: None,
            allow_any_ref: false,
        }
    }

    fn policy(conditions: Value) -> PolicyDocument {
        let doc = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{ISSUER}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": conditions,
        }]});
        match parse_policy(&doc) {
            Ok(doc) => doc,
            Err(e) => panic!("{e}"),
        }
    }

    fn check(doc: &PolicyDocument, ctx: &TrustContext) -> Vec<Finding> {
        let mut out = Findings::on(Kind::Role, "r", "fix");
        trust_findings(doc, ctx, &mut out);
        out.into_vec()
    }

    fn ids(doc: &PolicyDocument, ctx: &TrustContext) -> Vec<&'static str> {
        let mut ids: Vec<&str> = check(doc, ctx).iter().map(|f| f.id).collect();
        ids.sort_unstable();
        ids
    }

    fn sub(values: Value) -> Value {
        json!({
            "StringEquals": {format!("{ISSUER}:aud"): "sts.amazonaws.com"},
            "StringLike": {format!("{ISSUER}:sub"): values},
        })
    }

    #[test]
    fn classifies_subjects() {
        use SubjectScope::*;
        let cases = [
            ("*", AnyOwner),
            ("*:*", AnyOwner),
            ("repo:*", AnyOwner),
            ("repo:*/*", AnyOwner),
            ("repo:?*/app:*", AnyOwner),
            ("repo:*/app:ref:refs/heads/main", AnyOwner),
            ("repo:acme/*", WholeOwner),
            ("repo:acme/*:*", WholeOwner),
            ("repo:acme@1001/*:*", WholeOwner),
            ("repo:acme*/app:*", NameWildcard),
            ("repo:acme*", NameWildcard),
            ("repo:ac?e/app:*", NameWildcard),
            ("repo:acme/app*", NameWildcard),
            ("repo:acme/re*:ref:refs/heads/main", NameWildcard),
            ("repository_owner:acme:*", Unrecognised),
            ("repo:acme", Unrecognised),
            ("repo:/app:x", Unrecognised),
        ];
        for (value, expected) in cases {
            assert_eq!(classify_subject(value, true), expected, "{value}");
        }
        assert_eq!(
            classify_subject("repo:acme@1001/app@2002:ref:refs/heads/main", true),
            Exact {
                owner: RepoName {
                    name: "acme",
                    id: Some(1001)
                },
                repo: RepoName {
                    name: "app",
                    id: Some(2002)
                },
                suffix: "ref:refs/heads/main"
            }
        );
        // Literal IDs pin the repository whatever the names; a wildcard in an ID is no pin.
        assert!(matches!(
            classify_subject("repo:*@1001/*@2002:ref:refs/heads/main", true),
            Exact {
                owner: RepoName { id: Some(1001), .. },
                repo: RepoName { id: Some(2002), .. },
                suffix: "ref:refs/heads/main"
            }
        ));
        assert_eq!(
            classify_subject("repo:*@1001/*@20*:ref:refs/heads/main", true),
            NameWildcard
        );
        // Without StringLike the characters are literal: an owner without `/REPO` is no subject.
        assert_eq!(classify_subject("repo:*", false), Unrecognised);
    }

    #[test]
    fn overlap_of_values() {
        let condition = |operator: &str| Condition {
            operator: crate::policy::Operator::parse(operator),
            key: "k".into(),
            values: vec![],
        };
        let (like, equals, folded) = (
            condition("StringLike"),
            condition("StringEquals"),
            condition("StringEqualsIgnoreCase"),
        );
        let cases = [
            (
                "repo:acme/app:*",
                &like,
                "repo:acme/app:ref:refs/heads/main",
                &equals,
                true,
            ),
            (
                "repo:acme/app:ref:refs/tags/v*",
                &like,
                "repo:acme/app:ref:refs/heads/main",
                &equals,
                false,
            ),
            ("a*", &like, "*b", &like, true),
            ("a*c", &like, "*b", &like, false),
            ("a?c", &like, "abd", &equals, false),
            ("*", &like, "", &equals, true),
            ("**x", &like, "x*", &like, true),
            ("A", &folded, "a", &equals, true),
            ("a*", &equals, "a*", &like, true),
            ("a*", &equals, "ab", &equals, false),
            ("", &equals, "", &equals, true),
        ];
        for (a, a_condition, b, b_condition, expected) in cases {
            assert_eq!(
                could_overlap(a, a_condition, b, b_condition),
                expected,
                "{a} vs {b}"
            );
            assert_eq!(
                could_overlap(b, b_condition, a, a_condition),
                expected,
                "{b} vs {a}"
            );
        }
    }

    #[test]
    fn a_good_policy_has_no_findings() {
        let doc = policy(json!({
            "StringEquals": {
                format!("{ISSUER}:aud"): "sts.amazonaws.com",
                format!("{ISSUER}:sub"): ["repo:acme/app:ref:refs/heads/main", "repo:acme/app:environment:prod"],
            }
        }));
        assert_eq!(ids(&doc, &ctx()), Vec::<&str>::new());
    }

    #[test]
    fn bad_value_last_in_the_list_is_found() {
        let doc = policy(sub(json!([
            "repo:acme/app:ref:refs/heads/main",
            "repo:acme/*"
        ])));
        assert_eq!(ids(&doc, &ctx()), ["trust-sub-whole-owner"]);
    }

    #[test]
    fn one_finding_per_check_names_every_value() {
        let doc = policy(sub(json!([
            "repo:evil/x:ref:refs/heads/main",
            "repo:other/y:ref:refs/heads/main"
        ])));
        let findings = check(&doc, &ctx());
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].message.contains(
                "\"repo:evil/x:ref:refs/heads/main\", \"repo:other/y:ref:refs/heads/main\""
            )
        );
        assert!(findings[0].message.starts_with("statement 0 trusts"));
    }

    #[test]
    fn any_ref_severity_follows_the_context() {
        let doc = policy(sub(json!("repo:acme/app:*")));
        let severities = |ctx: &TrustContext| -> Vec<(&'static str, Severity)> {
            check(&doc, ctx)
                .into_iter()
                .map(|f| (f.id, f.severity))
                .collect()
        };
        assert_eq!(
            severities(&ctx()),
            [
                ("trust-sub-any-ref", Severity::Medium),
                ("trust-sub-pull-request", Severity::Medium)
            ]
        );
        let opted_in = TrustContext {
            allow_any_ref: true,
            ..ctx()
        };
        assert_eq!(
            severities(&opted_in),
            [
                ("trust-sub-any-ref", Severity::Low),
                ("trust-sub-pull-request", Severity::Low)
            ]
        );
    }

    #[test]
    fn explicit_pull_request_stays_medium_with_any_ref() {
        let doc = policy(sub(json!("repo:acme/app:pull_request")));
        let ctx = TrustContext {
            allow_any_ref: true,
            ..ctx()
        };
        let findings = check(&doc, &ctx);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Medium);
    }

    #[test]
    fn immutable_ids_decide_the_repository() {
        let ctx = TrustContext {
            immutable_ids: Some((1001, 2002)),
            ..ctx()
        };
        let renamed = policy(sub(json!(
            "repo:acme-old@1001/app-old@2002:ref:refs/heads/main"
        )));
        assert_eq!(ids(&renamed, &ctx), Vec::<&str>::new());
        let recreated = policy(sub(json!("repo:acme@1001/app@9999:ref:refs/heads/main")));
        assert_eq!(ids(&recreated, &ctx), ["trust-sub-other-repository"]);
        let name_only = policy(sub(json!("repo:acme/app:ref:refs/heads/main")));
        let findings = check(&name_only, &ctx);
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0]
                .message
                .contains("missing \"repo:acme@1001/app@2002:ref:refs/heads/main\""),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn issuer_url_forms_are_tolerated() {
        let doc = policy(sub(json!("repo:acme/app:ref:refs/heads/main")));
        let ctx = TrustContext {
            issuer_host_path: format!("https://{ISSUER}/"),
            ..ctx()
        };
        assert_eq!(ids(&doc, &ctx), Vec::<&str>::new());
    }

    #[test]
    fn stale_issuer_keys_are_named() {
        let ctx = TrustContext {
            issuer_host_path: format!("{ISSUER}/acme"),
            ..ctx()
        };
        let doc = json!({"Statement": {
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{ISSUER}/acme")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLikeIfExists": {format!("{ISSUER}:sub"): "repo:acme/app:ref:refs/heads/main"}},
        }});
        let doc = match parse_policy(&doc) {
            Ok(doc) => doc,
            Err(e) => panic!("{e}"),
        };
        let findings = check(&doc, &ctx);
        let no_sub = findings.iter().find(|f| f.id == "trust-no-sub-condition");
        assert!(
            no_sub.is_some_and(|f| f
                .message
                .contains("do not apply to tokens from token.actions.githubusercontent.com/acme")),
            "{findings:?}"
        );
    }

    fn corpus_files() -> Vec<(String, Value)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/trust-policies");
        let mut paths: Vec<_> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect(),
            Err(e) => panic!("cannot read {dir}: {e}"),
        };
        paths.sort();
        paths
            .iter()
            .map(|path| {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let text = match std::fs::read_to_string(path) {
                    Ok(text) => text,
                    Err(e) => panic!("{name}: {e}"),
                };
                match serde_json::from_str(&text) {
                    Ok(fixture) => (name, fixture),
                    Err(e) => panic!("{name}: {e}"),
                }
            })
            .collect()
    }

    /// Every node of every corpus policy replaced by values of every JSON type: parsing may
    /// refuse, but nothing downstream may panic.
    #[test]
    fn mutated_corpus_never_panics() {
        use super::super::access::{Token, closest_allowed_subject, evaluate};
        use super::super::push_scope::push_scope_findings;
        fn paths(value: &Value, here: String, out: &mut Vec<String>) {
            out.push(here.clone());
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        paths(
                            v,
                            format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")),
                            out,
                        );
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        paths(v, format!("{here}/{i}"), out);
                    }
                }
                _ => {}
            }
        }
        let replacements = [
            json!(null),
            json!(7),
            json!(false),
            json!("*"),
            json!("repo:é/ü:*?"),
            json!([]),
            json!({}),
            json!(["*", 1, "repo:acme/app:*"]),
            json!({"StringLike": {"x": "*"}}),
        ];
        let token = Token {
            provider_arn: format!("arn:aws:iam::123456789012:oidc-provider/{ISSUER}"),
            claims: [(
                format!("{ISSUER}:sub"),
                "repo:acme/app:pull_request".to_string(),
            )]
            .into(),
            known: Default::default(),
        };
        let mut parsed = 0;
        for (name, fixture) in corpus_files() {
            let Ok(ctx) = serde_json::from_value::<TrustContext>(fixture["context"].clone()) else {
                panic!("{name}: bad context");
            };
            let policy = fixture["policy"].clone();
            let mut nodes = Vec::new();
            paths(&policy, String::new(), &mut nodes);
            for node in nodes {
                for replacement in &replacements {
                    let mut mutated = policy.clone();
                    match mutated.pointer_mut(&node) {
                        Some(slot) => *slot = replacement.clone(),
                        None => panic!("{name}: no node {node}"),
                    }
                    if let Ok(doc) = parse_policy(&mutated) {
                        parsed += 1;
                        check(&doc, &ctx);
                        push_scope_findings(
                            &doc,
                            "arn:aws:ecr:us-east-1:123456789012:repository/app",
                            &mut Findings::on(Kind::Policy, "p", "fix"),
                        );
                        evaluate(&doc, &token);
                        closest_allowed_subject(&doc, &token, &format!("{ISSUER}:sub"));
                    }
                }
            }
        }
        assert!(parsed > 1000, "only {parsed} mutations parsed");
    }

    /// The severities `docs/audit-rules.md` gives each rule: the words of its Severity line
    /// (`medium; **low** when ...` allows both).
    fn documented_severities() -> Vec<(String, Vec<Severity>)> {
        let doc = include_str!("../../docs/audit-rules.md");
        let mut out = Vec::new();
        let mut id = None;
        for line in doc.lines() {
            if let Some(rule) = line.strip_prefix("### ") {
                id = Some(rule.trim().to_string());
            } else if let (Some(rule), Some(text)) = (&id, line.strip_prefix("- **Severity:**")) {
                let allowed = [Severity::High, Severity::Medium, Severity::Low]
                    .into_iter()
                    .filter(|s| text.contains(s.as_str()))
                    .collect();
                out.push((rule.clone(), allowed));
                id = None;
            }
        }
        out
    }

    #[test]
    fn corpus_findings_have_their_documented_severity() {
        let documented = documented_severities();
        for (name, fixture) in corpus_files() {
            let Ok(ctx) = serde_json::from_value::<TrustContext>(fixture["context"].clone()) else {
                panic!("{name}: bad context");
            };
            let doc = match parse_policy(&fixture["policy"]) {
                Ok(doc) => doc,
                Err(e) => panic!("{name}: {e}"),
            };
            for f in check(&doc, &ctx) {
                let Some((_, allowed)) = documented.iter().find(|(id, _)| id == f.id) else {
                    panic!("{name}: {} is not in docs/audit-rules.md", f.id);
                };
                assert!(
                    allowed.contains(&f.severity),
                    "{name}: {} is {}, documented {allowed:?}",
                    f.id,
                    f.severity.as_str()
                );
            }
        }
    }

    #[test]
    fn corpus() {
        let files = corpus_files();
        assert!(files.len() >= 30, "only {} fixtures", files.len());
        let mut failures = Vec::new();
        for (name, fixture) in &files {
            let ctx: TrustContext = match serde_json::from_value(fixture["context"].clone()) {
                Ok(ctx) => ctx,
                Err(e) => panic!("{name}: bad context: {e}"),
            };
            let doc = match parse_policy(&fixture["policy"]) {
                Ok(doc) => doc,
                Err(e) => panic!("{name}: {e}"),
            };
            let mut expected: Vec<String> =
                match serde_json::from_value(fixture["expected_findings"].clone()) {
                    Ok(ids) => ids,
                    Err(e) => panic!("{name}: bad expected_findings: {e}"),
                };
            expected.sort();
            let findings = check(&doc, &ctx);
            let actual = ids(&doc, &ctx);
            if actual != expected {
                failures.push(format!(
                    "{name}: expected {expected:?}, got {actual:?}\n  {}",
                    findings
                        .iter()
                        .map(|f| format!("{} [{}]: {}", f.id, f.severity.as_str(), f.message))
                        .collect::<Vec<_>>()
                        .join("\n  ")
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
