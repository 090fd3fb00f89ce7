//! The IAM OIDC identity provider for the GitHub Actions issuer: created, or reused.
use super::change::{Action, Desire, Kind};
use super::ownership::{self, Tags};
use super::role::aws_tags;
use crate::cloud::aws::{Aws, failure};
use crate::error::Result;
use crate::policy;

pub type Change = super::change::Change<ProviderOp>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub url: String,
    pub arn: String,
    pub client_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub client_ids: Vec<String>,
    /// Other roles whose trust names this provider (read for a teardown only): it stays for them.
    pub trusted_by: Vec<String>,
    pub tags: Tags,
}

impl Live {
    /// Only a provider the tool created is ever deleted; one found is reused and left in place.
    fn is_ours(&self) -> bool {
        self.tags
            .iter()
            .any(|(k, v)| k == ownership::MANAGED_BY_KEY && v == ownership::MANAGED_BY_VALUE)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderOp {
    Create,
    AddClientId,
    Delete,
}

/// Reads the provider's client IDs: at `known` (its ARN, when the account is recorded), else
/// found by issuer first (no account ID needed). With `trusted_beside` (our role's name), also
/// which other roles trust it.
pub async fn observe(
    aws: &Aws,
    issuer_host_path: &str,
    trusted_beside: Option<&str>,
    known: Option<&str>,
) -> Result<Option<Live>> {
    // One provider serves every repository of a run: read once, unless a teardown asks which
    // other roles trust it (that depends on the role going).
    match trusted_beside {
        None => {
            let key = format!("oidc-provider {issuer_host_path} {known:?}");
            aws.read_once(&key, || read(aws, issuer_host_path, None, known))
                .await
        }
        Some(_) => read(aws, issuer_host_path, trusted_beside, known).await,
    }
}

async fn read(
    aws: &Aws,
    issuer_host_path: &str,
    trusted_beside: Option<&str>,
    known: Option<&str>,
) -> Result<Option<Live>> {
    let found;
    let arn = match known {
        Some(arn) => arn,
        None => {
            let listed = aws
                .iam
                .list_open_id_connect_providers()
                .send()
                .await
                .map_err(|e| aws.error(failure("iam:ListOpenIDConnectProviders", e)))?;
            let suffix = format!(":oidc-provider/{issuer_host_path}");
            found = listed
                .open_id_connect_provider_list()
                .iter()
                .filter_map(|p| p.arn())
                .find(|arn| arn.ends_with(&suffix))
                .map(str::to_string);
            match &found {
                Some(arn) => arn,
                None => return Ok(None),
            }
        }
    };
    let trusted_by = async {
        match trusted_beside {
            Some(ours) => roles_trusting(aws, arn, ours).await,
            None => Ok(Vec::new()),
        }
    };
    let (provider, trusted_by) = tokio::join!(
        aws.iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send(),
        trusted_by
    );
    match provider {
        Ok(out) => Ok(Some(Live {
            client_ids: out.client_id_list().to_vec(),
            trusted_by: trusted_by?,
            tags: out
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        })),
        Err(e) => aws.absent(failure("iam:GetOpenIDConnectProvider", e)),
    }
}

/// Roles other than ours whose trust policy federates with the provider.
async fn roles_trusting(aws: &Aws, provider_arn: &str, ours: &str) -> Result<Vec<String>> {
    super::role::scan_all(aws, |r| {
        (r.name != ours && federates_with(&r.trust, provider_arn)).then_some(r.name)
    })
    .await
}

fn federates_with(trust_policy: &str, provider_arn: &str) -> bool {
    policy::parse_policy_str(trust_policy).is_ok_and(|doc| {
        doc.statements.iter().any(|s| {
            s.principal
                .as_ref()
                .is_some_and(|p| p.federated().iter().any(|f| f == provider_arn))
        })
    })
}

pub fn diff(desire: &Desire<Spec>, live: Option<&Live>) -> Vec<Change> {
    let spec = desire.spec();
    let change = |action, details: Vec<String>, op| {
        Change::new(Kind::OidcProvider, &spec.url, action, details, op)
    };
    if desire.present().is_none() {
        return match live {
            None => Vec::new(),
            Some(l) if !l.is_ours() => vec![Change::not_run(
                Kind::OidcProvider,
                &spec.url,
                Action::Keep,
                vec![format!(
                    "keeping OIDC provider {}: not created by skyecr-bootstrap",
                    spec.url
                )],
            )],
            Some(l) if l.trusted_by.is_empty() => {
                vec![change(Action::Delete, vec![], ProviderOp::Delete)]
            }
            Some(l) => vec![Change::not_run(
                Kind::OidcProvider,
                &spec.url,
                Action::Keep,
                vec![format!(
                    "keeping OIDC provider {}: other roles trust it ({})",
                    spec.url,
                    l.trusted_by.join(", ")
                )],
            )],
        };
    }
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
                .set_tags(Some(aws_tags(&ownership::provider_tags())))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) => {
                    let f = failure("iam:CreateOpenIDConnectProvider", e);
                    // Another run created it meanwhile: the goal is reached.
                    if f.is_already_exists() {
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
        ProviderOp::Delete => match aws
            .iam
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(&spec.arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => aws.gone(failure("iam:DeleteOpenIDConnectProvider", e)),
        },
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
        let changes = diff(&Desire::Present(spec()), None);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].action, Action::Create);
    }

    #[test]
    fn existing_provider_is_reused_and_gets_the_client_id() {
        let other = Live {
            client_ids: vec!["sigstore".into()],
            trusted_by: vec![],
            tags: ownership::provider_tags(),
        };
        let changes = diff(&Desire::Present(spec()), Some(&other));
        assert_eq!(changes[0].action, Action::Update);
        assert_eq!(changes[0].op, Some(ProviderOp::AddClientId));
        let ours = Live {
            client_ids: vec!["sigstore".into(), "sts.amazonaws.com".into()],
            trusted_by: vec![],
            tags: ownership::provider_tags(),
        };
        assert!(diff(&Desire::Present(spec()), Some(&ours)).is_empty());
    }

    #[test]
    fn a_teardown_keeps_a_provider_other_roles_trust() {
        let shared = Live {
            client_ids: vec!["sts.amazonaws.com".into()],
            trusted_by: vec!["other-team".into()],
            tags: ownership::provider_tags(),
        };
        let kept = diff(&Desire::Absent(spec()), Some(&shared));
        assert_eq!((kept[0].action, kept[0].op.clone()), (Action::Keep, None));
        assert!(kept[0].details[0].contains("other-team"));
        let alone = Live {
            trusted_by: vec![],
            ..shared
        };
        let deleted = diff(&Desire::Absent(spec()), Some(&alone));
        assert_eq!(deleted[0].op, Some(ProviderOp::Delete));
        let found = Live {
            tags: vec![],
            ..alone
        };
        let kept = diff(&Desire::Absent(spec()), Some(&found));
        assert_eq!(
            kept[0].action,
            Action::Keep,
            "a provider it found is not its to delete"
        );
    }
}
