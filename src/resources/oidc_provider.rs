//! The IAM OIDC identity provider for the GitHub Actions issuer: created, or reused.
use crate::cloud::aws::{Aws, failure};
use crate::error::Result;
use crate::plan::{Action, Change, Kind, Op};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub url: String,
    pub arn: String,
    pub client_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub client_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderOp {
    Create,
    AddClientId,
}

/// Finds the provider by issuer (no account ID needed), then reads its client IDs.
pub async fn observe(aws: &Aws, issuer_host_path: &str) -> Result<Option<Live>> {
    let listed = aws
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| aws.error(failure("iam:ListOpenIDConnectProviders", e)))?;
    let suffix = format!(":oidc-provider/{issuer_host_path}");
    let Some(arn) = listed
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .find(|arn| arn.ends_with(&suffix))
    else {
        return Ok(None);
    };
    match aws
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
    {
        Ok(out) => Ok(Some(Live {
            client_ids: out.client_id_list().to_vec(),
        })),
        Err(e) => {
            let f = failure("iam:GetOpenIDConnectProvider", e);
            if f.is("NoSuchEntity") {
                Ok(None)
            } else {
                Err(aws.error(f))
            }
        }
    }
}

pub fn diff(spec: &Spec, live: Option<&Live>) -> Vec<Change> {
    let change = |action, details: Vec<String>, op| {
        Change::new(
            Kind::OidcProvider,
            &spec.url,
            action,
            details,
            Op::Provider(op),
        )
    };
    match live {
        None => vec![change(
            Action::Create,
            vec![format!("client ID {}", spec.client_id)],
            ProviderOp::Create,
        )],
        Some(l) if !l.client_ids.contains(&spec.client_id) => vec![
            change(
                Action::Update,
                vec![format!(
                    "+ client ID {} (existing provider reused)",
                    spec.client_id
                )],
                ProviderOp::AddClientId,
            )
            .differing(
                "client_ids",
                serde_json::json!([spec.client_id]),
                serde_json::json!(l.client_ids),
            ),
        ],
        Some(_) => Vec::new(),
    }
}

pub async fn apply(aws: &Aws, spec: &Spec, op: &ProviderOp) -> Result<()> {
    match op {
        // No thumbprint list: AWS validates GitHub's certificate itself, and a placeholder would mislead.
        ProviderOp::Create => {
            let result = aws
                .iam
                .create_open_id_connect_provider()
                .url(&spec.url)
                .client_id_list(&spec.client_id)
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) => {
                    let f = failure("iam:CreateOpenIDConnectProvider", e);
                    // Another run created it meanwhile: the goal is reached.
                    if f.is("EntityAlreadyExists") {
                        Ok(())
                    } else {
                        Err(aws.error(f))
                    }
                }
            }
        }
        ProviderOp::AddClientId => aws
            .iam
            .add_client_id_to_open_id_connect_provider()
            .open_id_connect_provider_arn(&spec.arn)
            .client_id(&spec.client_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws.error(failure("iam:AddClientIDToOpenIDConnectProvider", e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            url: "https://token.actions.githubusercontent.com".into(),
            arn: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
                .into(),
            client_id: "sts.amazonaws.com".into(),
        }
    }

    #[test]
    fn missing_provider_is_created() {
        let changes = diff(&spec(), None);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].action, Action::Create);
    }

    #[test]
    fn existing_provider_is_reused_and_gets_the_client_id() {
        let other = Live {
            client_ids: vec!["sigstore".into()],
        };
        let changes = diff(&spec(), Some(&other));
        assert_eq!(changes[0].action, Action::Update);
        assert_eq!(changes[0].op, Op::Provider(ProviderOp::AddClientId));
        let ours = Live {
            client_ids: vec!["sigstore".into(), "sts.amazonaws.com".into()],
        };
        assert!(diff(&spec(), Some(&ours)).is_empty());
    }
}
