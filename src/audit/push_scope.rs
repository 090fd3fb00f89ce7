//! Security checks on what the ECR push policy grants beyond pushing to one repository: the push part of `audit`.
//!
//! The expected policy is the contract's: `ecr:GetAuthorizationToken` on `*` (it has no
//! resource-level permissions) and the seven push actions on the one repository ARN. Anything
//! wider is reported; anything missing is drift, which the plan reports, not a security finding.

use crate::policy::{Effect, PolicyDocument, Statement, Targets};
use crate::resources::finding::{Findings, Severity};

const AUTH_ACTION: &str = "ecr:GetAuthorizationToken";
const PUSH_ACTIONS: [&str; 7] = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "ecr:PutImage",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
];

/// Reports what the push policy grants beyond pushing to `expected_repository_arn`.
/// Deny statements are skipped: they only take permissions away.
pub fn push_scope_findings(
    doc: &PolicyDocument,
    expected_repository_arn: &str,
    out: &mut Findings,
) {
    for (index, statement) in doc.statements.iter().enumerate() {
        if statement.effect == Effect::Deny {
            continue;
        }
        let label = statement.label(index);
        match &statement.action {
            Targets::AllExcept(excluded) => out.add(
                "push-not-action",
                Severity::High,
                format!(
                    "{label} allows NotAction {excluded:?}: every other action of every AWS service is granted"
                ),
                "list the allowed actions under Action instead",
            ),
            Targets::Only(actions) => action_findings(&label, actions, out),
        }
        match &statement.resource {
            Some(Targets::AllExcept(excluded)) => out.add(
                "push-not-resource",
                Severity::High,
                format!(
                    "{label} uses NotResource {excluded:?}: the actions apply to every other resource, including every other repository"
                ),
                format!("list the resources under Resource instead: {expected_repository_arn}"),
            ),
            Some(Targets::Only(resources)) => {
                resource_findings(&label, statement, resources, expected_repository_arn, out)
            }
            None => {}
        }
    }
}

/// `*`, `ecr:*`, `*:*`: a whole service or everything, including deleting repositories and
/// replacing their policies.
fn is_service_wildcard(action: &str) -> bool {
    action == "*"
        || action
            .split_once(':')
            .is_some_and(|(_, name)| !name.is_empty() && name.chars().all(|c| c == '*'))
}

fn is_expected_action(action: &str) -> bool {
    std::iter::once(AUTH_ACTION)
        .chain(PUSH_ACTIONS)
        .any(|expected| expected.eq_ignore_ascii_case(action))
}

fn action_findings(label: &str, actions: &[String], out: &mut Findings) {
    let wildcards: Vec<&String> = actions.iter().filter(|a| is_service_wildcard(a)).collect();
    if !wildcards.is_empty() {
        out.add(
            "push-wildcard-action",
            Severity::High,
            format!(
                "{label} allows {wildcards:?}: every action of the service, including deleting repositories and images and changing repository policies"
            ),
            format!("list exactly {AUTH_ACTION} and the push actions {PUSH_ACTIONS:?}"),
        );
    }
    let extra: Vec<&String> = actions
        .iter()
        .filter(|a| !is_service_wildcard(a) && !is_expected_action(a))
        .collect();
    if !extra.is_empty() {
        out.add(
            "push-extra-actions",
            Severity::Medium,
            format!(
                "{label} allows actions beyond pushing images: {extra:?} (a wildcard pattern counts, since it may match more than the push set)"
            ),
            format!(
                "remove them; pushing needs only {AUTH_ACTION} and {PUSH_ACTIONS:?}"
            ),
        );
    }
}

fn resource_findings(
    label: &str,
    statement: &Statement,
    resources: &[String],
    expected_repository_arn: &str,
    out: &mut Findings,
) {
    // GetAuthorizationToken alone on `*` is the expected shape; only statements that grant a
    // push action need a narrow resource.
    let pushes: Vec<&str> = PUSH_ACTIONS
        .into_iter()
        .filter(|a| statement.action.covers_action(a))
        .collect();
    if pushes.is_empty() {
        return;
    }
    let wildcards: Vec<&String> = resources
        .iter()
        .filter(|r| r.contains(['*', '?']))
        .collect();
    if !wildcards.is_empty() {
        out.add(
            "push-wildcard-resource",
            Severity::High,
            format!(
                "{label} allows push actions ({}) on {wildcards:?}: images can be pushed to, overwritten in or pulled from repositories other than {expected_repository_arn}",
                pushes.join(", ")
            ),
            format!("set the push statement's Resource to {expected_repository_arn}"),
        );
    }
    let others: Vec<&String> = resources
        .iter()
        .filter(|r| !r.contains(['*', '?']) && r.as_str() != expected_repository_arn)
        .collect();
    if !others.is_empty() {
        out.add(
            "push-other-repository",
            Severity::Medium,
            format!(
                "{label} allows push actions on resources other than {expected_repository_arn}: {others:?}"
            ),
            "remove them; a role that pushes to several repositories should be a separate, deliberate choice",
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

    const REPO: &str = "arn:aws:ecr:us-east-1:123456789012:repository/skypilot";

    fn check(doc: &PolicyDocument) -> Vec<Finding> {
        let mut out = Findings::on(Kind::Policy, "p", "fix");
        push_scope_findings(doc, REPO, &mut out);
        out.into_vec()
    }

    fn ids(statements: Value) -> Vec<&'static str> {
        let doc = match parse_policy(&json!({"Version": "2012-10-17", "Statement": statements})) {
            Ok(doc) => doc,
            Err(e) => panic!("{e}"),
        };
        let mut ids: Vec<&str> = check(&doc).iter().map(|f| f.id).collect();
        ids.sort_unstable();
        ids
    }

    fn expected() -> Value {
        json!([
            {"Sid": "Login", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Sid": "Push", "Effect": "Allow", "Action": PUSH_ACTIONS, "Resource": REPO}
        ])
    }

    #[test]
    fn the_contract_policy_is_clean() {
        assert_eq!(ids(expected()), Vec::<&str>::new());
        // Action names are case-insensitive in IAM.
        assert_eq!(
            ids(
                json!([{"Effect": "Allow", "Action": ["ECR:PutImage", "ecr:getauthorizationtoken"], "Resource": REPO}])
            ),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn wildcard_actions() {
        assert_eq!(
            ids(json!([{"Effect": "Allow", "Action": "ecr:*", "Resource": REPO}])),
            ["push-wildcard-action"]
        );
        assert_eq!(
            ids(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}])),
            ["push-wildcard-action", "push-wildcard-resource"]
        );
        assert_eq!(
            ids(
                json!([{"Effect": "Allow", "Action": ["ecr:PutImage", "ecr:Put*"], "Resource": REPO}])
            ),
            ["push-extra-actions"]
        );
    }

    #[test]
    fn push_on_wildcard_resources() {
        for resource in [
            "*",
            "arn:aws:ecr:us-east-1:123456789012:repository/*",
            "arn:aws:ecr:*:123456789012:repository/skypilot",
            "arn:aws:ecr:us-east-1:123456789012:repository/sky?ilot",
        ] {
            assert_eq!(
                ids(
                    json!([{"Effect": "Allow", "Action": "ecr:PutImage", "Resource": [REPO, resource]}])
                ),
                ["push-wildcard-resource"],
                "{resource}"
            );
        }
        // Login needs `*`; it is not a push action.
        assert_eq!(
            ids(
                json!([{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}])
            ),
            Vec::<&str>::new()
        );
        assert_eq!(
            ids(
                json!([{"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:PutImage"], "Resource": "*"}])
            ),
            ["push-wildcard-resource"]
        );
    }

    #[test]
    fn extra_actions_and_other_repositories() {
        let mut policy = expected();
        policy[1]["Action"] = json!(["ecr:PutImage", "ecr:DeleteRepository", "s3:GetObject"]);
        policy[1]["Resource"] =
            json!([REPO, "arn:aws:ecr:us-east-1:123456789012:repository/other"]);
        assert_eq!(ids(policy), ["push-extra-actions", "push-other-repository"]);
    }

    #[test]
    fn not_action_and_not_resource() {
        assert_eq!(
            ids(json!([{"Effect": "Allow", "NotAction": "iam:*", "Resource": REPO}])),
            ["push-not-action"]
        );
        assert_eq!(
            ids(
                json!([{"Effect": "Allow", "Action": "ecr:PutImage", "NotResource": "arn:aws:ecr:us-east-1:123456789012:repository/prod"}])
            ),
            ["push-not-resource"]
        );
        assert_eq!(
            ids(json!([{"Effect": "Allow", "NotAction": "iam:*", "NotResource": REPO}])),
            ["push-not-action", "push-not-resource"]
        );
    }

    #[test]
    fn deny_statements_are_not_findings() {
        let mut policy = expected();
        if let Some(list) = policy.as_array_mut() {
            list.push(json!({"Effect": "Deny", "NotAction": "ecr:*", "NotResource": "*"}));
        }
        assert_eq!(ids(policy), Vec::<&str>::new());
    }

    #[test]
    fn messages_name_the_statement_and_values() {
        let doc = match parse_policy(
            &json!({"Statement": [{"Sid": "Wide", "Effect": "Allow", "Action": "ecr:PutImage", "Resource": "*"}]}),
        ) {
            Ok(doc) => doc,
            Err(e) => panic!("{e}"),
        };
        let findings = check(&doc);
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].message.starts_with(
                "statement 0 (Sid \"Wide\") allows push actions (ecr:PutImage) on [\"*\"]"
            ),
            "{}",
            findings[0].message
        );
        assert!(findings[0].advice.contains(REPO));
    }
}
