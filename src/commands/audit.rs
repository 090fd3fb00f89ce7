//! `audit`: read-only drift and security check of everything the tool manages.

use std::path::Path;

use super::observe_and_plan;
use crate::audit::{self, RegistryScanning, Report, TrustContext};
use crate::cloud::aws::Aws;
use crate::cloud::github::SubjectForm;
use crate::config::{OutputFormat, Presentation, RawSettings, Settings, shell_word};
use crate::error::{ExitStatus, Result};
use crate::plan::Kind;
use crate::policy;
use crate::resources::finding::{Finding, Findings, Fixes};
use crate::resources::{repository, role};
use crate::spec::Intent;
use crate::ui::{out, report};

pub async fn audit(
    settings: &Settings,
    given: RawSettings,
    presentation: Presentation,
    all_roles: bool,
    settings_file: &Path,
) -> Result<ExitStatus> {
    let aws_for_reads = Aws::connect(settings).await?;
    let fixes = Fixes::new(given, &aws_for_reads.region);
    let ours = [settings.role_name.clone()];
    let joined = tokio::try_join!(
        observe_and_plan(settings, Intent::default()),
        repository::observe_registry_scanning(&aws_for_reads, &settings.ecr_repository),
        async {
            if all_roles {
                scan_other_roles(&aws_for_reads, &ours, &fixes).await
            } else {
                Ok(Vec::new())
            }
        }
    );
    let (ctx, covers_repository, others) = match joined {
        Ok(all) => all,
        Err(e) => return Err(aws_for_reads.name_the_caller(e).await),
    };
    let registry = RegistryScanning { covers_repository };
    let trust_ctx = TrustContext {
        account_id: ctx.identity.account_id.clone(),
        issuer_host_path: settings.issuer.host_path().to_string(),
        repository: Some(format!("{}/{}", ctx.repo.owner, ctx.repo.name)),
        // Judged by the form GitHub sends; when it does not say, the immutable form counts too.
        immutable_ids: (ctx.subject.form != Some(SubjectForm::Name))
            .then_some((ctx.repo.owner_id, ctx.repo.repo_id)),
        allow_any_ref: settings.scopes.any_ref,
    };
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let mut findings = audit::findings(
        &ctx.desired,
        &ctx.observed,
        &trust_ctx,
        registry,
        &now,
        &fixes,
    );
    findings.extend(others);
    let report = Report::new(
        audit::statuses(&ctx.desired, &ctx.observed, &ctx.plan),
        findings,
    );
    Ok(print_report(
        &report,
        presentation,
        &ctx.target(),
        settings_file,
    ))
}

/// `audit --all-roles` over many repositories: the account's roles that none of them manages,
/// read once for all.
pub async fn other_roles(
    settings: &Settings,
    given: RawSettings,
    presentation: Presentation,
    managed: &[String],
    settings_file: &Path,
) -> Result<ExitStatus> {
    let aws = Aws::connect(settings).await?;
    let fixes = Fixes::new(given, &aws.region);
    let findings = match scan_other_roles(&aws, managed, &fixes).await {
        Ok(findings) => findings,
        Err(e) => return Err(aws.name_the_caller(e).await),
    };
    let report = Report::new(Vec::new(), findings);
    let target = format!("the other roles of the AWS account ({})", aws.region);
    Ok(print_report(&report, presentation, &target, settings_file))
}

fn print_report(
    report: &Report,
    presentation: Presentation,
    target: &str,
    settings_file: &Path,
) -> ExitStatus {
    match presentation.output {
        OutputFormat::Json => {
            out::println(&serde_json::to_string_pretty(report).unwrap_or_default())
        }
        OutputFormat::Markdown => out::print(&report::markdown(report, target)),
        OutputFormat::Sarif => out::println(&report::sarif(report, settings_file)),
        OutputFormat::Text => out::print(&report::text(report, target)),
    }
    if report.in_sync {
        ExitStatus::Success
    } else {
        ExitStatus::Attention
    }
}

/// Every role of the account but `managed`, page by page, each judged as it is listed.
async fn scan_other_roles(aws: &Aws, managed: &[String], fixes: &Fixes) -> Result<Vec<Finding>> {
    let found = role::scan_all(aws, |r| {
        if managed.contains(&r.name) {
            return None;
        }
        unmanaged_role_findings(&r, fixes)
    })
    .await?;
    Ok(found.into_iter().flatten().collect())
}

/// `--all-roles`: the findings of a role the tool does not manage that trusts a GitHub Actions
/// OIDC provider (`None` for any other role).
fn unmanaged_role_findings(r: &role::Listed, fixes: &Fixes) -> Option<Vec<Finding>> {
    let doc = policy::parse_policy_str(&r.trust).ok()?;
    let issuer = github_issuer(&doc)?;
    let context = TrustContext {
        // arn:PARTITION:iam::ACCOUNT:role/NAME
        account_id: r.arn.split(':').nth(4).unwrap_or_default().to_string(),
        issuer_host_path: issuer,
        repository: None,
        immutable_ids: None,
        allow_any_ref: false,
    };
    let mut found = Findings::on(Kind::Role, &r.name, edit_trust(&r.name, fixes));
    audit::trust_findings(&doc, &context, &mut found);
    Some(found.into_vec()).filter(|f| !f.is_empty())
}

/// A role the tool does not manage is fixed by hand: its trust into a file, the file into an
/// editor, the edited file back into IAM.
fn edit_trust(role: &str, fixes: &Fixes) -> String {
    let file = format!("{role}-trust.json");
    format!(
        "{} > {} && \"${{EDITOR:-vi}}\" {} && {}",
        fixes.aws(
            "iam get-role",
            &[
                ("--role-name", role),
                ("--query", "Role.AssumeRolePolicyDocument"),
                ("--output", "json")
            ]
        ),
        shell_word(&file),
        shell_word(&file),
        fixes.aws(
            "iam update-assume-role-policy",
            &[
                ("--role-name", role),
                ("--policy-document", &format!("file://{file}"))
            ]
        )
    )
}

/// The GitHub Actions issuer a trust policy federates with, in any of its forms
/// (github.com, Enterprise Cloud `…/ENTERPRISE`, Enterprise Server `HOST/_services/token`).
fn github_issuer(doc: &policy::PolicyDocument) -> Option<String> {
    doc.statements.iter().find_map(|s| {
        let principal = s.principal.as_ref()?;
        principal.federated().iter().find_map(|arn| {
            let issuer = arn.split_once(":oidc-provider/")?.1;
            (issuer.starts_with("token.actions.githubusercontent.com")
                || issuer.ends_with("/_services/token"))
            .then(|| issuer.to_string())
        })
    })
}
