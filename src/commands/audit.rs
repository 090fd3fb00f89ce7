//! `audit`: read-only drift and security check of everything the tool manages.
use std::process::ExitCode;

use aws_sdk_ecr::types::{ScanFrequency, ScanType};

use super::observe_and_plan;
use crate::audit::{self, AuditFinding, RegistryScanning, Report};
use crate::cloud::aws::{Aws, failure};
use crate::config::{OutputFormat, Presentation, Settings};
use crate::error::Result;
use crate::plan::Kind;
use crate::spec::Intent;
use crate::trust::{self, TrustContext, wildcard_match};
use crate::ui::report;

pub async fn audit(
    settings: &Settings,
    presentation: Presentation,
    all_roles: bool,
) -> Result<ExitCode> {
    let aws_for_reads = Aws::connect(settings).await?;
    let joined = tokio::try_join!(
        observe_and_plan(settings, Intent::default()),
        registry_scanning(&aws_for_reads, &settings.ecr_repository),
        async {
            if all_roles {
                unmanaged_role_findings(&aws_for_reads, settings).await
            } else {
                Ok(Vec::new())
            }
        }
    );
    let (ctx, registry, others) = match joined {
        Ok(all) => all,
        Err(e) => return Err(aws_for_reads.name_the_caller(e).await),
    };
    let trust_ctx = TrustContext {
        account_id: ctx.identity.account_id.clone(),
        issuer_host_path: settings.issuer.host_path().to_string(),
        repository: Some(format!("{}/{}", ctx.repo.owner, ctx.repo.name)),
        immutable_ids: ctx
            .repo
            .issues_immutable_subjects()
            .then_some((ctx.repo.owner_id, ctx.repo.repo_id)),
        allow_any_ref: settings.scopes.any_ref,
    };
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let mut findings = audit::findings(&ctx.desired, &ctx.observed, &trust_ctx, registry, &now);
    findings.extend(others);
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
        OutputFormat::Text => print!("{}", report::text(&report, &ctx.target())),
    }
    Ok(if report.in_sync {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Whether a registry-level rule scans this repository on push even if its own flag is off.
async fn registry_scanning(aws: &Aws, repository: &str) -> Result<RegistryScanning> {
    let out = aws
        .ecr
        .get_registry_scanning_configuration()
        .send()
        .await
        .map_err(|e| aws.error(failure("ecr:GetRegistryScanningConfiguration", e)))?;
    let covers_repository = out.scanning_configuration().is_some_and(|c| {
        c.scan_type() == Some(&ScanType::Enhanced)
            || c.rules().iter().any(|rule| {
                matches!(
                    rule.scan_frequency(),
                    ScanFrequency::ScanOnPush | ScanFrequency::ContinuousScan
                ) && rule
                    .repository_filters()
                    .iter()
                    .any(|f| wildcard_match(f.filter(), repository))
            })
    });
    Ok(RegistryScanning { covers_repository })
}

/// `--all-roles`: every other role in the account that trusts a GitHub Actions OIDC provider.
async fn unmanaged_role_findings(aws: &Aws, settings: &Settings) -> Result<Vec<AuditFinding>> {
    let mut findings = Vec::new();
    let mut pages = aws.iam.list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error(failure("iam:ListRoles", e)))?;
        for r in page.roles() {
            if r.role_name() == settings.role_name {
                continue;
            }
            let Some(raw) = r.assume_role_policy_document() else {
                continue;
            };
            let Ok(doc) = trust::parse_policy_str(raw) else {
                continue;
            };
            let Some(issuer) = github_issuer(&doc) else {
                continue;
            };
            let context = TrustContext {
                // arn:PARTITION:iam::ACCOUNT:role/NAME
                account_id: r.arn().split(':').nth(4).unwrap_or_default().to_string(),
                issuer_host_path: issuer,
                repository: None,
                immutable_ids: None,
                allow_any_ref: false,
            };
            findings.extend(audit::attach(
                Kind::Role,
                r.role_name(),
                trust::trust_findings(&doc, &context),
            ));
        }
    }
    Ok(findings)
}

/// The GitHub Actions issuer a trust policy federates with, in any of its forms
/// (github.com, Enterprise Cloud `…/ENTERPRISE`, Enterprise Server `HOST/_services/token`).
fn github_issuer(doc: &trust::PolicyDocument) -> Option<String> {
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
