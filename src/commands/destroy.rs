//! `destroy`: preview, confirm, then remove what the tool created; a rerun is a no-op.
use std::process::ExitCode;

use futures::future::join_all;

use super::confirm;
use crate::apply::run_in_stages;
use crate::cloud::aws::{Aws, failure};
use crate::cloud::github::{self, GitHub, Place};
use crate::config::{OutputFormat, Presentation, Settings};
use crate::destroy::{self, PolicyRemains, ProviderRemains, Remains, RepositoryRemains};
use crate::error::Result;
use crate::resources::{access_key, oidc_provider, push_policy, repository, role, secret, user};
use crate::spec::{self, Arns};
use crate::trust;
use crate::ui::{progress::Progress, render};

pub async fn destroy(
    settings: &Settings,
    presentation: Presentation,
    force: bool,
) -> Result<ExitCode> {
    let github = GitHub::new(github::discover_token()?)?;
    let aws = Aws::connect(settings).await?;
    let (identity, repo) = tokio::try_join!(aws.identity(), github.repository(&settings.github))?;
    let repo_name = crate::config::RepoName {
        owner: repo.owner.clone(),
        name: repo.name.clone(),
    };
    let arns = Arns {
        partition: &identity.partition,
        account_id: &identity.account_id,
        region: &aws.region,
    };
    let policy_arn = arns.iam("policy", &settings.policy_name);
    let provider_arn = arns.iam("oidc-provider", settings.issuer.host_path());
    let remains = observe(
        &aws,
        &github,
        settings,
        &repo_name,
        &policy_arn,
        &provider_arn,
    )
    .await?;
    let (plan, notes) = destroy::plan(&remains, &policy_arn, force);
    let target = format!(
        "AWS account {} ({}) and GitHub repository {}/{}",
        identity.account_id, aws.region, repo.owner, repo.name
    );
    match presentation.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "changes": plan.changes,
                "kept": notes,
                "account_id": identity.account_id,
                "region": aws.region,
            })
        ),
        _ => {
            if plan.changes.is_empty() {
                println!("Nothing to destroy: none of the managed resources exist in {target}.");
            } else {
                print!("{}", render::plan_text(&plan, &target));
            }
            for n in &notes {
                println!("Note: {n}");
            }
        }
    }
    if plan.changes.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    plan.ensure_unblocked()?;
    confirm(presentation, "destroy")?;
    let run = |change: &crate::plan::Change| {
        let (aws, github, repo_name) = (&aws, &github, &repo_name);
        let op = match &change.op {
            crate::plan::Op::Destroy(op) => Some(op.clone()),
            _ => None,
        };
        async move {
            match op {
                Some(op) => destroy::run(aws, github, repo_name, &op).await,
                None => Ok(()),
            }
        }
    };
    run_in_stages(&plan, &Progress::new(), run).await?;
    eprintln!(
        "Destroy complete: {} resource(s) removed.",
        plan.changes.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn observe(
    aws: &Aws,
    github: &GitHub,
    settings: &Settings,
    repo: &crate::config::RepoName,
    policy_arn: &str,
    provider_arn: &str,
) -> Result<Remains> {
    let mut places = spec::secret_places(settings);
    if !places.contains(&Place::Repository) {
        places.insert(0, Place::Repository);
    }
    let fingerprint = secret::fingerprint_variable(&settings.secret_name);
    let mut secret_names: Vec<(Place, String)> = places
        .iter()
        .map(|p| (p.clone(), settings.secret_name.clone()))
        .collect();
    secret_names.push((Place::Repository, access_key::KEY_ID_SECRET.into()));
    secret_names.push((Place::Repository, access_key::SECRET_KEY_SECRET.into()));
    let mut variable_names: Vec<(Place, String)> = places
        .iter()
        .map(|p| (p.clone(), fingerprint.clone()))
        .collect();
    for v in spec::VARIABLES
        .into_iter()
        .chain([access_key::DELIVERED_VARIABLE, access_key::PENDING_VARIABLE])
    {
        variable_names.push((Place::Repository, v.into()));
    }

    let secrets = join_all(secret_names.iter().map(|(p, n)| github.secret(repo, p, n)));
    let variables = join_all(
        variable_names
            .iter()
            .map(|(p, n)| github.variable(repo, p, n)),
    );
    let keys = async {
        match aws
            .iam
            .list_access_keys()
            .user_name(&settings.user_name)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .access_key_metadata()
                .iter()
                .filter_map(|k| k.access_key_id().map(str::to_string))
                .collect()),
            Err(e) => {
                let f = failure("iam:ListAccessKeys", e);
                if f.is("NoSuchEntity") {
                    Ok(Vec::new())
                } else {
                    Err(aws.error(f))
                }
            }
        }
    };
    let (secrets, variables) = tokio::join!(secrets, variables);
    let (keys, user, role, policy, repository, provider, trusted_by) = tokio::try_join!(
        keys,
        user::observe(aws, &settings.user_name),
        role::observe_named(aws, &settings.role_name),
        push_policy::observe(aws, &settings.policy_name),
        repository::observe(aws, &settings.ecr_repository),
        oidc_provider::observe(aws, settings.issuer.host_path()),
        roles_trusting(aws, provider_arn, &settings.role_name),
    )?;
    let holds_images = match &repository {
        Some(_) => holds_images(aws, &settings.ecr_repository).await?,
        None => false,
    };
    let mut found_secrets = Vec::new();
    for ((place, name), meta) in secret_names.into_iter().zip(secrets) {
        if meta?.is_some() {
            found_secrets.push((place, name));
        }
    }
    let mut found_variables = Vec::new();
    for ((place, name), var) in variable_names.into_iter().zip(variables) {
        if var?.is_some() {
            found_variables.push((place, name));
        }
    }
    Ok(Remains {
        secrets: found_secrets,
        variables: found_variables,
        user: user.map(|_| settings.user_name.clone()),
        access_keys: keys,
        role: role.map(|_| settings.role_name.clone()),
        policy: policy.map(|p| PolicyRemains {
            name: settings.policy_name.clone(),
            arn: policy_arn.to_string(),
            non_default_versions: p
                .versions
                .iter()
                .filter(|v| !v.is_default)
                .map(|v| v.id.clone())
                .collect(),
        }),
        repository: repository.map(|_| RepositoryRemains {
            name: settings.ecr_repository.clone(),
            holds_images,
        }),
        provider: provider.map(|_| ProviderRemains {
            url: settings.issuer.url().to_string(),
            arn: provider_arn.to_string(),
            trusted_by,
        }),
    })
}

/// Roles other than ours whose trust policy federates with the provider: it must stay for them.
async fn roles_trusting(aws: &Aws, provider_arn: &str, ours: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut pages = aws.iam.list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error(failure("iam:ListRoles", e)))?;
        for r in page.roles() {
            if r.role_name() == ours {
                continue;
            }
            let trusts = r
                .assume_role_policy_document()
                .and_then(|raw| trust::parse_policy_str(raw).ok())
                .is_some_and(|doc| {
                    doc.statements.iter().any(|s| {
                        s.principal
                            .as_ref()
                            .is_some_and(|p| p.federated().iter().any(|f| f == provider_arn))
                    })
                });
            if trusts {
                out.push(r.role_name().to_string());
            }
        }
    }
    Ok(out)
}

async fn holds_images(aws: &Aws, name: &str) -> Result<bool> {
    match aws
        .ecr
        .list_images()
        .repository_name(name)
        .max_results(1)
        .send()
        .await
    {
        Ok(out) => Ok(!out.image_ids().is_empty()),
        Err(e) => {
            let f = failure("ecr:ListImages", e);
            if f.is("RepositoryNotFoundException") {
                Ok(false)
            } else {
                Err(aws.error(f))
            }
        }
    }
}
