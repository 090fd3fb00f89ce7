//! `audit`: read-only drift and security check of everything the tool manages.

use std::path::Path;

use super::observe_and_plan;
use crate::audit::{self, RegistryScanning, Report, TrustContext};
use crate::cloud::aws::Aws;
use crate::cloud::github::SubjectForm;
use crate::config::{OutputFormat, Presentation, Settings};
use crate::error::{ExitStatus, Result};
use crate::plan::Kind;
use crate::policy;
use crate::resources::finding::{Finding, Findings};
use crate::resources::{repository, role};
use crate::spec::Intent;
use crate::ui::report;

pub async fn audit(
    settings: &Settings,
    presentation: Presentation,
    all_roles: bool,
    settings_file: &Path,
) -> Result<ExitStatus> {
    let aws_for_reads = Aws::connect(settings).await?;
    let joined = tokio::try_join!(
        observe_and_plan(settings, Intent::default()),
        repository::observe_registry_scanning(&aws_for_reads, &settings.ecr_repository),
        async {
            if all_roles {
                let ours = settings.role_name.as_str();
                role::scan_all(&aws_for_reads, |r| unmanaged_role_findings(&r, ours)).await
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
    let mut findings = audit::findings(&ctx.desired, &ctx.observed, &trust_ctx, registry, &now);
    findings.extend(others.into_iter().flatten());
    let report = Report::new(
        audit::statuses(&ctx.desired, &ctx.observed, &ctx.plan),
        findings,
    );
    match presentation.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        OutputFormat::Markdown => print!("{}", report::markdown(&report, &ctx.target())),
        OutputFormat::Sarif => println!("{}", report::sarif(&report, settings_file)),
        OutputFormat::Text => print!("{}", report::text(&report, &ctx.target())),
    }
    Ok(if report.in_sync {
        ExitStatus::Success
    } else {
        ExitStatus::Attention
    })
}

/// `--all-roles`: the findings of another role in the account that trusts a GitHub Actions
/// OIDC provider, judged as it is listed (`None` for ours and any other role).
fn unmanaged_role_findings(r: &role::Listed, ours: &str) -> Option<Vec<Finding>> {
    if r.name == ours {
        return None;
    }
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
    let mut found = Findings::on(Kind::Role, &r.name);
    audit::trust_findings(&doc, &context, &mut found);
    Some(found.into_vec()).filter(|f| !f.is_empty())
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
