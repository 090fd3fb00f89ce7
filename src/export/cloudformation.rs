//! CloudFormation: `template.yaml` with the AWS resources (each kept by `Retain` when the stack
//! lets go of it), `resources-to-import.json` for an `IMPORT` change set of those that exist,
//! and a README. GitHub's secret and variables have no CloudFormation type and stay outside.
use serde_json::{Value, json};

use super::document::Node;
use super::{File, Import, Principal, ProviderSource, Setup};

pub const TEMPLATE: &str = "template.yaml";
pub const IMPORTS: &str = "resources-to-import.json";

pub mod logical {
    pub const PROVIDER: &str = "GitHubOidcProvider";
    pub const ROLE: &str = "PushRole";
    pub const USER: &str = "PushUser";
    pub const POLICY: &str = "PushPolicy";
    pub const REPOSITORY: &str = "Repository";
}

/// One resource of the template, with what identifies it when it is imported.
struct Resource {
    logical_id: &'static str,
    kind: &'static str,
    properties: Vec<(&'static str, Node)>,
    depends_on: Option<&'static str>,
    /// The type's primary identifier (its registry schema's `primaryIdentifier`) and its value,
    /// when the resource exists.
    import: Option<(&'static str, String)>,
}

fn tags(tags: &[(String, String)]) -> Node {
    Node::List(
        tags.iter()
            .map(|(k, v)| Node::map([("Key", Node::text(k)), ("Value", Node::text(v))]))
            .collect(),
    )
}

fn reference(logical_id: &str) -> Node {
    Node::map([("Ref", Node::text(logical_id))])
}

fn resources(setup: &Setup) -> Vec<Resource> {
    let mut out = Vec::new();
    let mut depends_on = None;
    if let Some(p) = &setup.provider
        && p.source == ProviderSource::Created
    {
        // An existing provider is shared by every role that trusts GitHub: a stack must not own it.
        depends_on = Some(logical::PROVIDER);
        out.push(Resource {
            logical_id: logical::PROVIDER,
            kind: "AWS::IAM::OIDCProvider",
            properties: vec![
                ("Url", Node::text(&p.url)),
                ("ClientIdList", Node::List(vec![Node::text(&p.client_id)])),
                ("Tags", tags(&p.tags())),
            ],
            depends_on: None,
            import: None,
        });
    }
    let policy = &setup.policy;
    out.push(Resource {
        logical_id: logical::POLICY,
        kind: "AWS::IAM::ManagedPolicy",
        // AWS::IAM::ManagedPolicy has no Tags property: the policy keeps the tags it has.
        properties: vec![
            ("ManagedPolicyName", Node::text(&policy.name)),
            ("Description", Node::text(policy.description)),
            ("PolicyDocument", Node::policy(&policy.document)),
        ],
        depends_on: None,
        import: policy.exists.then(|| ("PolicyArn", policy.arn.clone())),
    });
    let attached = Node::List(vec![reference(logical::POLICY)]);
    out.push(match &setup.principal {
        Principal::Role(role) => Resource {
            logical_id: logical::ROLE,
            kind: "AWS::IAM::Role",
            properties: vec![
                ("RoleName", Node::text(&role.name)),
                ("Description", Node::text(role.description)),
                ("AssumeRolePolicyDocument", Node::policy(&role.trust)),
                ("ManagedPolicyArns", attached),
                ("Tags", tags(&setup.tags)),
            ],
            // IAM refuses a trust policy naming a provider that does not exist yet.
            depends_on,
            import: role.exists.then(|| ("RoleName", role.name.clone())),
        },
        Principal::User(user) => Resource {
            logical_id: logical::USER,
            kind: "AWS::IAM::User",
            properties: vec![
                ("UserName", Node::text(&user.name)),
                ("ManagedPolicyArns", attached),
                ("Tags", tags(&setup.tags)),
            ],
            depends_on: None,
            import: user.exists.then(|| ("UserName", user.name.clone())),
        },
    });
    let r = &setup.repository;
    let mut encryption = vec![("EncryptionType", Node::text(r.encryption_type))];
    if let Some(key) = &r.kms_key {
        encryption.push(("KmsKey", Node::text(key)));
    }
    out.push(Resource {
        logical_id: logical::REPOSITORY,
        kind: "AWS::ECR::Repository",
        properties: vec![
            ("RepositoryName", Node::text(&r.name)),
            ("ImageTagMutability", Node::text(&r.tag_mutability)),
            (
                "ImageScanningConfiguration",
                Node::map([("ScanOnPush", Node::Scalar(Value::Bool(r.scan_on_push)))]),
            ),
            ("EncryptionConfiguration", Node::map(encryption)),
            ("Tags", tags(&setup.tags)),
        ],
        depends_on: None,
        import: r.exists.then(|| ("RepositoryName", r.name.clone())),
    });
    out
}

/// Every existing resource: its logical ID and the value of its primary identifier.
pub fn imports(setup: &Setup) -> Vec<Import> {
    resources(setup)
        .into_iter()
        .filter_map(|r| {
            r.import.map(|(_, id)| Import {
                address: r.logical_id.to_string(),
                id,
            })
        })
        .collect()
}

pub fn render(setup: &Setup) -> Vec<File> {
    let resources = resources(setup);
    let template = Node::map([
        ("AWSTemplateFormatVersion", Node::text("2010-09-09")),
        (
            "Description",
            Node::text(format!(
                "GitHub Actions pushes {} images to Amazon ECR (exported by skyecr-bootstrap)",
                setup.repo
            )),
        ),
        (
            "Resources",
            Node::Map(
                resources
                    .iter()
                    .map(|r| {
                        let mut entries = vec![("Type".to_string(), Node::text(r.kind))];
                        if let Some(d) = r.depends_on {
                            entries.push(("DependsOn".into(), Node::text(d)));
                        }
                        // A stack that lets go of a resource (stack deleted, resource removed
                        // or replaced) leaves it in place: the images and the trust outlive it.
                        entries.push(("DeletionPolicy".into(), Node::text("Retain")));
                        entries.push(("UpdateReplacePolicy".into(), Node::text("Retain")));
                        entries.push((
                            "Properties".into(),
                            Node::Map(
                                r.properties
                                    .iter()
                                    .map(|(k, v)| (k.to_string(), v.clone()))
                                    .collect(),
                            ),
                        ));
                        (r.logical_id.to_string(), Node::Map(entries))
                    })
                    .collect(),
            ),
        ),
    ]);
    let to_import: Vec<Value> = resources
        .iter()
        .filter_map(|r| {
            r.import.as_ref().map(|(key, value)| {
                json!({
                    "ResourceType": r.kind,
                    "LogicalResourceId": r.logical_id,
                    "ResourceIdentifier": {*key: value},
                })
            })
        })
        .collect();
    let stack = stack_name(setup);
    let mut files = vec![File {
        path: TEMPLATE.into(),
        contents: format!(
            "# Written by `skyecr-bootstrap export` for {} in AWS account {} ({}).\n{}",
            setup.repo,
            setup.account_id,
            setup.region,
            template.yaml()
        ),
    }];
    if !to_import.is_empty() {
        files.push(File {
            path: IMPORTS.into(),
            contents: format!("{:#}\n", Value::Array(to_import.clone())),
        });
    }
    files.push(File {
        path: "README.md".into(),
        contents: readme(setup, &stack, to_import.len(), resources.len()),
    });
    files
}

/// `skyecr-OWNER-REPO`, within CloudFormation's stack-name alphabet.
fn stack_name(setup: &Setup) -> String {
    let raw = format!("skyecr-{}-{}", setup.repo.owner, setup.repo.name);
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(128);
    name
}

fn readme(setup: &Setup, stack: &str, imported: usize, total: usize) -> String {
    let region = &setup.region;
    let mut out = format!(
        "# {repo}: GitHub Actions → Amazon ECR, as CloudFormation\n\n\
         Written by `skyecr-bootstrap export` from the setup it made for {repo} in AWS account\n\
         {account} ({region}). `{TEMPLATE}` holds its AWS resources; each has `DeletionPolicy: Retain`\n\
         and `UpdateReplacePolicy: Retain`, so deleting the stack never deletes them.\n\n\
         ## Take over\n\n",
        repo = setup.repo,
        account = setup.account_id,
    );
    if imported > 0 {
        out.push_str(&format!(
            "`{IMPORTS}` lists the {imported} resource(s) that exist. Import them into a new stack:\n\n\
             ```sh\n\
             aws cloudformation create-change-set --region {region} --stack-name {stack} \\\n  \
             --change-set-name skyecr-import --change-set-type IMPORT --capabilities CAPABILITY_NAMED_IAM \\\n  \
             --template-body file://{TEMPLATE} --resources-to-import file://{IMPORTS}\n\
             aws cloudformation describe-change-set --region {region} --stack-name {stack} --change-set-name skyecr-import\n\
             aws cloudformation execute-change-set --region {region} --stack-name {stack} --change-set-name skyecr-import\n\
             ```\n\n"
        ));
        if imported < total {
            out.push_str(
                "Some resources do not exist yet, and an IMPORT change set cannot create anything: import\n\
                 with a copy of the template that holds only the listed resources, then update the stack\n\
                 with the full template.\n\n",
            );
        }
        out.push_str(
            "After the import, drift detection (`aws cloudformation detect-stack-drift`) reporting\n\
             `IN_SYNC` means AWS is exactly as the template says. The stack owns these resources\n\
             then: change them through it, not with `skyecr-bootstrap apply` or `destroy`.\n\n",
        );
    } else {
        out.push_str(&format!(
            "Nothing exists yet, so nothing is imported: create the stack.\n\n\
             ```sh\n\
             aws cloudformation deploy --region {region} --stack-name {stack} \\\n  \
             --capabilities CAPABILITY_NAMED_IAM --template-file {TEMPLATE}\n\
             ```\n\n"
        ));
    }
    out.push_str("## Not in this template\n\n");
    if let Some(p) = &setup.provider
        && p.source == ProviderSource::Shared
    {
        out.push_str(&format!(
            "- the OIDC provider {} ({}): other roles may trust it, so no stack owns it; the trust\n  \
             policy names it by ARN.\n",
            p.url, p.arn
        ));
    }
    out.push_str(
        "- the managed policy's tags: CloudFormation has no Tags property for it, so it keeps the ones it has.\n\
         - GitHub's secrets and variables (CloudFormation has no type for them): they stay as the tool\n  \
         wrote them, and need no change while the role and the repository keep their names.\n",
    );
    if let Principal::User(user) = &setup.principal {
        out.push_str(&format!(
            "- the access key of {}: key material never goes into a template. It stays as it is;\n  \
             `skyecr-bootstrap rotate-keys` still rotates it.\n",
            user.name
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::oidc_setup;

    #[test]
    fn every_resource_is_retained_and_existing_ones_are_imported() {
        let files = render(&oidc_setup());
        let template: Value = serde_norway::from_str(&files[0].contents).unwrap();
        let resources = template["Resources"].as_object().unwrap();
        // The shared provider is not the stack's.
        assert_eq!(resources.len(), 3);
        for (id, r) in resources {
            assert_eq!(r["DeletionPolicy"], "Retain", "{id}");
            assert_eq!(r["UpdateReplacePolicy"], "Retain", "{id}");
        }
        assert_eq!(
            resources["PushRole"]["Properties"]["ManagedPolicyArns"],
            json!([{"Ref": "PushPolicy"}])
        );
        let imports: Value = serde_json::from_str(&files[1].contents).unwrap();
        assert_eq!(
            imports[0],
            json!({"ResourceType": "AWS::IAM::ManagedPolicy", "LogicalResourceId": "PushPolicy",
                   "ResourceIdentifier": {"PolicyArn": "arn:aws:iam::123456789012:policy/SkyPilot-ECR-Push"}})
        );
        assert_eq!(imports.as_array().unwrap().len(), 3);
    }

    #[test]
    fn a_missing_provider_is_created_first_and_nothing_missing_is_imported() {
        let mut setup = oidc_setup();
        if let Some(p) = &mut setup.provider {
            p.source = ProviderSource::Created;
        }
        setup.repository.exists = false;
        let files = render(&setup);
        let template: Value = serde_norway::from_str(&files[0].contents).unwrap();
        assert_eq!(
            template["Resources"]["PushRole"]["DependsOn"],
            "GitHubOidcProvider"
        );
        let ids: Vec<String> = imports(&setup).into_iter().map(|i| i.address).collect();
        assert_eq!(ids, ["PushPolicy", "PushRole"]);
        assert!(
            files[2]
                .contents
                .contains("IMPORT change set cannot create")
        );
    }

    #[test]
    fn stack_names_stay_in_cloudformations_alphabet() {
        let mut setup = oidc_setup();
        setup.repo.name = "my.app_v2".into();
        assert_eq!(stack_name(&setup), "skyecr-acme-my-app-v2");
    }
}
