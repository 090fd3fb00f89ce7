//! OpenTofu/Terraform: `versions.tf`, `main.tf`, `imports.tf` (one `import` block per existing
//! resource, in the ID format each provider documents; docs/export.md cites them),
//! `policies/*.json` read with `file()`, and a README on taking over.
use super::document::Node;
use super::{File, Import, Principal, ProviderSource, Setup};

pub const TRUST_FILE: &str = "policies/trust.json";
pub const PUSH_FILE: &str = "policies/push.json";

/// One line of HCL, or a nested block.
enum Item {
    Attr(String, String),
    Map(String, Vec<(String, String)>),
    Block(String, Vec<Item>),
    Comment(String),
    Blank,
}

fn attr(name: &str, expr: impl Into<String>) -> Item {
    Item::Attr(name.to_string(), expr.into())
}

fn block(header: impl Into<String>, items: Vec<Item>) -> Item {
    Item::Block(header.into(), items)
}

/// An HCL string literal: quotes and backslashes escaped, and `${`/`%{` so that no name can
/// become an interpolation or a template directive.
fn lit(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out.replace("${", "$${").replace("%{", "%%{")
}

fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| lit(i)).collect();
    format!("[{}]", quoted.join(", "))
}

fn tags(tags: &[(String, String)]) -> Item {
    Item::Map(
        "tags".into(),
        tags.iter().map(|(k, v)| (lit(k), lit(v))).collect(),
    )
}

/// Consecutive attributes align their `=` as `tofu fmt` does.
fn write(items: &[Item], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let mut i = 0;
    while i < items.len() {
        if let Item::Attr(..) = items[i] {
            let run: Vec<&Item> = items[i..]
                .iter()
                .take_while(|it| matches!(it, Item::Attr(..)))
                .collect();
            let width = run
                .iter()
                .map(|it| match it {
                    Item::Attr(n, _) => n.len(),
                    _ => 0,
                })
                .max()
                .unwrap_or(0);
            for it in &run {
                if let Item::Attr(name, expr) = it {
                    out.push_str(&format!("{pad}{name:<width$} = {expr}\n"));
                }
            }
            i += run.len();
            continue;
        }
        match &items[i] {
            Item::Map(name, entries) => {
                out.push_str(&format!("{pad}{name} = {{\n"));
                let width = entries.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
                for (k, v) in entries {
                    out.push_str(&format!("{pad}  {k:<width$} = {v}\n"));
                }
                out.push_str(&format!("{pad}}}\n"));
            }
            Item::Block(header, inner) => {
                out.push_str(&format!("{pad}{header} {{\n"));
                write(inner, indent + 2, out);
                out.push_str(&format!("{pad}}}\n"));
            }
            Item::Comment(text) => {
                for line in text.lines() {
                    out.push_str(&format!("{pad}# {line}\n"));
                }
            }
            Item::Blank => out.push('\n'),
            Item::Attr(..) => {}
        }
        i += 1;
    }
}

fn hcl(items: &[Item]) -> String {
    let mut out = String::new();
    write(items, 0, &mut out);
    out
}

/// The engine's address of each resource (`data.` for a shared provider).
pub mod address {
    pub const PROVIDER: &str = "aws_iam_openid_connect_provider.github";
    pub const ROLE: &str = "aws_iam_role.push";
    pub const USER: &str = "aws_iam_user.push";
    pub const POLICY: &str = "aws_iam_policy.push";
    pub const ROLE_ATTACHMENT: &str = "aws_iam_role_policy_attachment.push";
    pub const USER_ATTACHMENT: &str = "aws_iam_user_policy_attachment.push";
    pub const REPOSITORY: &str = "aws_ecr_repository.images";
    pub const SECRET: &str = "github_actions_secret.role_arn";
    pub const ENVIRONMENT_SECRET: &str = "github_actions_environment_secret.role_arn";

    pub fn variable(name: &str) -> String {
        format!("github_actions_variable.{}", name.to_ascii_lowercase())
    }
}

fn provider_ref(setup: &Setup) -> Option<String> {
    setup.provider.as_ref().map(|p| match p.source {
        ProviderSource::Shared => format!("data.{}", address::PROVIDER),
        ProviderSource::Created => address::PROVIDER.to_string(),
    })
}

/// Every existing resource with the import ID its provider documents.
pub fn imports(setup: &Setup) -> Vec<Import> {
    let import = |address: String, id: String| Import { address, id };
    let mut out = Vec::new();
    let policy = &setup.policy;
    match &setup.principal {
        Principal::Role(role) => {
            if role.exists {
                out.push(import(address::ROLE.into(), role.name.clone()));
            }
            if role.attached {
                out.push(import(
                    address::ROLE_ATTACHMENT.into(),
                    format!("{}/{}", role.name, policy.arn),
                ));
            }
        }
        Principal::User(user) => {
            if user.exists {
                out.push(import(address::USER.into(), user.name.clone()));
            }
            if user.attached {
                out.push(import(
                    address::USER_ATTACHMENT.into(),
                    format!("{}/{}", user.name, policy.arn),
                ));
            }
        }
    }
    if policy.exists {
        out.push(import(address::POLICY.into(), policy.arn.clone()));
    }
    if setup.repository.exists {
        out.push(import(
            address::REPOSITORY.into(),
            setup.repository.name.clone(),
        ));
    }
    let repo = &setup.repo.name;
    for secret in setup.secrets.iter().filter(|s| s.exists) {
        match &secret.environment {
            None => out.push(import(
                address::SECRET.into(),
                format!("{repo}:{}", secret.name),
            )),
            // The provider splits the ID at `:` and reads `??` as a `:` inside the environment name.
            Some(env) => out.push(import(
                format!("{}[{}]", address::ENVIRONMENT_SECRET, lit(env)),
                format!("{repo}:{}:{}", env.replace(':', "??"), secret.name),
            )),
        }
    }
    for variable in setup.variables.iter().filter(|v| v.exists) {
        out.push(import(
            address::variable(&variable.name),
            format!("{repo}:{}", variable.name),
        ));
    }
    out
}

pub fn render(setup: &Setup) -> Vec<File> {
    let mut files = vec![
        File {
            path: "versions.tf".into(),
            contents: versions_tf(),
        },
        File {
            path: "main.tf".into(),
            contents: main_tf(setup),
        },
    ];
    let imports = imports(setup);
    if !imports.is_empty() {
        files.push(File {
            path: "imports.tf".into(),
            contents: imports_tf(&imports),
        });
    }
    if let Principal::Role(role) = &setup.principal {
        files.push(File {
            path: TRUST_FILE.into(),
            contents: Node::policy(&role.trust).json(),
        });
    }
    files.push(File {
        path: PUSH_FILE.into(),
        contents: Node::policy(&setup.policy.document).json(),
    });
    files.push(File {
        path: "README.md".into(),
        contents: readme(setup, &imports),
    });
    files
}

fn versions_tf() -> String {
    hcl(&[block(
        "terraform",
        vec![
            attr("required_version", lit(">= 1.6")),
            Item::Blank,
            block(
                "required_providers",
                vec![
                    Item::Comment(
                        "6.x: the OIDC provider's thumbprint_list is optional (AWS validates GitHub itself).".into(),
                    ),
                    Item::Map(
                        "aws".into(),
                        vec![
                            ("source".into(), lit("hashicorp/aws")),
                            ("version".into(), lit(">= 6.0")),
                        ],
                    ),
                    Item::Comment(
                        "6.12: the first with `value` on secrets (imports.tf's REPOSITORY:NAME IDs hold from 6.11).".into(),
                    ),
                    Item::Map(
                        "github".into(),
                        vec![
                            ("source".into(), lit("integrations/github")),
                            ("version".into(), lit("~> 6.12")),
                        ],
                    ),
                ],
            ),
        ],
    )])
}

fn main_tf(setup: &Setup) -> String {
    let mut items = vec![
        Item::Comment(format!(
            "Written by `skyecr-bootstrap export` for {} in AWS account {} ({}).\nPolicy documents are in policies/; imports.tf adopts what already exists.",
            setup.repo, setup.account_id, setup.region
        )),
        Item::Blank,
        block(
            "provider \"aws\"",
            vec![
                attr("region", lit(&setup.region)),
                attr("allowed_account_ids", list(&[&setup.account_id])),
            ],
        ),
        Item::Blank,
        block(
            "provider \"github\"",
            vec![attr("owner", lit(&setup.repo.owner))],
        ),
    ];
    if let Some(provider) = &setup.provider {
        items.push(Item::Blank);
        match provider.source {
            ProviderSource::Shared => {
                items.push(Item::Comment(
                    "Shared by every role of the account that trusts GitHub: read, never managed here.".into(),
                ));
                items.push(block(
                    "data \"aws_iam_openid_connect_provider\" \"github\"",
                    vec![attr("url", lit(&provider.url))],
                ));
            }
            ProviderSource::Created => items.push(block(
                "resource \"aws_iam_openid_connect_provider\" \"github\"",
                vec![
                    attr("url", lit(&provider.url)),
                    attr("client_id_list", list(&[&provider.client_id])),
                    Item::Blank,
                    tags(&provider.tags()),
                ],
            )),
        }
    }
    items.push(Item::Blank);
    let attachment = match &setup.principal {
        Principal::Role(role) => {
            let mut body = vec![
                attr("name", lit(&role.name)),
                attr("description", lit(role.description)),
                attr(
                    "assume_role_policy",
                    format!("file(\"${{path.module}}/{TRUST_FILE}\")"),
                ),
                Item::Blank,
                tags(&setup.tags),
            ];
            if let Some(provider) = provider_ref(setup) {
                body.push(Item::Blank);
                body.push(Item::Comment(
                    "The trust policy names the provider by ARN; IAM refuses it before the provider exists.".into(),
                ));
                body.push(attr("depends_on", format!("[{provider}]")));
            }
            items.push(block("resource \"aws_iam_role\" \"push\"", body));
            block(
                "resource \"aws_iam_role_policy_attachment\" \"push\"",
                vec![
                    attr("role", format!("{}.name", address::ROLE)),
                    attr("policy_arn", format!("{}.arn", address::POLICY)),
                ],
            )
        }
        Principal::User(user) => {
            items.push(Item::Comment(
                "Its access key is not part of this configuration: it stays as it is (see README.md).".into(),
            ));
            items.push(block(
                "resource \"aws_iam_user\" \"push\"",
                vec![
                    attr("name", lit(&user.name)),
                    Item::Blank,
                    tags(&setup.tags),
                ],
            ));
            block(
                "resource \"aws_iam_user_policy_attachment\" \"push\"",
                vec![
                    attr("user", format!("{}.name", address::USER)),
                    attr("policy_arn", format!("{}.arn", address::POLICY)),
                ],
            )
        }
    };
    items.push(Item::Blank);
    items.push(block(
        "resource \"aws_iam_policy\" \"push\"",
        vec![
            attr("name", lit(&setup.policy.name)),
            attr("description", lit(setup.policy.description)),
            attr("policy", format!("file(\"${{path.module}}/{PUSH_FILE}\")")),
            Item::Blank,
            tags(&setup.tags),
        ],
    ));
    items.push(Item::Blank);
    items.push(attachment);
    items.push(Item::Blank);
    items.push(repository(setup));
    for item in secrets(setup) {
        items.push(Item::Blank);
        items.push(item);
    }
    for variable in &setup.variables {
        items.push(Item::Blank);
        items.push(block(
            format!(
                "resource \"github_actions_variable\" \"{}\"",
                variable.name.to_ascii_lowercase()
            ),
            vec![
                attr("repository", lit(&setup.repo.name)),
                attr("variable_name", lit(&variable.name)),
                attr("value", lit(&variable.value)),
            ],
        ));
    }
    hcl(&items)
}

fn repository(setup: &Setup) -> Item {
    let r = &setup.repository;
    let mut encryption = vec![attr("encryption_type", lit(r.encryption_type))];
    if let Some(key) = &r.kms_key {
        encryption.push(attr("kms_key", lit(key)));
    }
    block(
        "resource \"aws_ecr_repository\" \"images\"",
        vec![
            attr("name", lit(&r.name)),
            attr("image_tag_mutability", lit(&r.tag_mutability)),
            Item::Blank,
            block(
                "image_scanning_configuration",
                vec![attr("scan_on_push", r.scan_on_push.to_string())],
            ),
            Item::Blank,
            Item::Comment("ECR cannot change a repository's encryption after creation.".into()),
            block("encryption_configuration", encryption),
            Item::Blank,
            tags(&setup.tags),
            Item::Blank,
            Item::Comment(
                "Like skyecr-bootstrap, never delete a repository (and its images) to recreate it."
                    .into(),
            ),
            block("lifecycle", vec![attr("prevent_destroy", "true")]),
        ],
    )
}

/// The role ARN secret: one resource in the repository, or one per environment.
fn secrets(setup: &Setup) -> Vec<Item> {
    let value = format!("{}.arn", address::ROLE);
    let Some(first) = setup.secrets.first() else {
        return Vec::new();
    };
    let environments: Vec<&str> = setup
        .secrets
        .iter()
        .filter_map(|s| s.environment.as_deref())
        .collect();
    let comment = Item::Comment(
        "The value is the role's ARN, taken from the role: no secret is written in this directory."
            .into(),
    );
    if environments.is_empty() {
        return vec![block(
            "resource \"github_actions_secret\" \"role_arn\"",
            vec![
                comment,
                attr("repository", lit(&setup.repo.name)),
                attr("secret_name", lit(&first.name)),
                attr("value", value),
            ],
        )];
    }
    vec![block(
        "resource \"github_actions_environment_secret\" \"role_arn\"",
        vec![
            comment,
            attr("for_each", format!("toset({})", list(&environments))),
            attr("repository", lit(&setup.repo.name)),
            attr("environment", "each.key"),
            attr("secret_name", lit(&first.name)),
            attr("value", value),
        ],
    )]
}

fn imports_tf(imports: &[Import]) -> String {
    let mut items = vec![Item::Comment(
        "What exists already, adopted on the first `tofu apply` (IDs as each provider documents them).\nOnce applied these blocks do nothing; delete this file then if you like.".into(),
    )];
    for i in imports {
        items.push(Item::Blank);
        items.push(block(
            "import",
            vec![attr("to", i.address.clone()), attr("id", lit(&i.id))],
        ));
    }
    hcl(&items)
}

fn readme(setup: &Setup, imports: &[Import]) -> String {
    let n = imports.len();
    let adopted = if n == 0 {
        "nothing of it exists yet, so nothing is imported: the plan creates it all".to_string()
    } else {
        format!("`imports.tf` adopts the {n} resource(s) that exist")
    };
    let mut out = format!(
        "# {repo}: GitHub Actions → Amazon ECR, as OpenTofu/Terraform\n\n\
         Written by `skyecr-bootstrap export` from the setup it made for {repo} in AWS account\n\
         {account} ({region}). `main.tf` describes it, `policies/` holds the policy documents\n\
         exactly as the tool applies them, and {adopted}.\n\n\
         ## Take over\n\n\
         ```sh\n\
         export GITHUB_TOKEN=...   # may write {repo}'s Actions secrets and variables\n\
         tofu init && tofu plan    # or: terraform init && terraform plan (>= 1.6)\n\
         ```\n\n\
         Expected in the first plan besides the {n} import(s), and harmless:\n\n",
        repo = setup.repo,
        account = setup.account_id,
        region = setup.region,
    );
    if !setup.secrets.is_empty() {
        out.push_str(
            "- the role ARN secret is updated in place: GitHub never returns a secret's value, so after\n  \
             the import the provider does not know it; applying writes the same ARN again.\n",
        );
    }
    out.push_str(
        "- tags are added where a resource lacks the tool's ownership tags.\n\n\
         Anything else — a replacement, a destroy, a changed policy — means AWS or GitHub differs\n\
         from this export: compare before applying. Then `tofu apply`. From then on an empty plan\n\
         (\"No changes.\") means AWS and GitHub are exactly as this configuration says, and the\n\
         configuration owns the setup: stop running `skyecr-bootstrap apply` or `destroy` for it\n\
         (`audit` and `check-access` only read, and stay useful).\n\n\
         ## Not in this configuration\n\n",
    );
    if let Some(p) = &setup.provider {
        match p.source {
            ProviderSource::Shared => out.push_str(&format!(
                "- the OIDC provider {}: other roles may trust it, so it is read (a data source), never managed.\n",
                p.url
            )),
            ProviderSource::Created => out.push_str(&format!(
                "- nothing of the OIDC provider is imported: it does not exist yet, and this configuration creates {}.\n",
                p.url
            )),
        }
    }
    if let Principal::User(user) = &setup.principal {
        out.push_str(&format!(
            "- the access key of {user} and the secrets AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: key\n  \
             material never goes into configuration or state from here. The key stays as it is. To rotate it\n  \
             once this configuration owns the user, either keep using `skyecr-bootstrap rotate-keys`, or add an\n  \
             `aws_iam_access_key` for `aws_iam_user.push` with two `github_actions_secret`s taking its `id` and\n  \
             `secret` (the secret then lives in the state: keep the state encrypted), apply, and delete the old\n  \
             key with `aws iam delete-access-key --user-name {user} --access-key-id OLD`.\n",
            user = user.name
        ));
    }
    if setup.secrets.iter().any(|s| s.environment.is_some()) {
        out.push_str(
            "- the GitHub environments themselves and their deployment rules: the secrets name them.\n",
        );
    }
    out.push_str(
        "- the tool's bookkeeping variables (`SKYECR_*`): they only record what the tool wrote.\n\n\
         GitHub Enterprise Server: set `GITHUB_BASE_URL` to its API URL before `tofu plan`.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::oidc_setup;
    use crate::export::{Secret, User};

    fn file<'a>(files: &'a [File], path: &str) -> &'a str {
        &files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path}"))
            .contents
    }

    #[test]
    fn import_ids_follow_each_providers_format() {
        let ids: Vec<(String, String)> = imports(&oidc_setup())
            .into_iter()
            .map(|i| (i.address, i.id))
            .collect();
        let policy = "arn:aws:iam::123456789012:policy/SkyPilot-ECR-Push";
        let expected: Vec<(String, String)> = [
            (
                "aws_iam_role.push",
                "GitHubActions-SkyPilot-ECR".to_string(),
            ),
            (
                "aws_iam_role_policy_attachment.push",
                format!("GitHubActions-SkyPilot-ECR/{policy}"),
            ),
            ("aws_iam_policy.push", policy.to_string()),
            ("aws_ecr_repository.images", "skypilot".into()),
            (
                "github_actions_secret.role_arn",
                "app:AWS_ECR_ROLE_ARN".into(),
            ),
            (
                "github_actions_variable.aws_region",
                "app:AWS_REGION".into(),
            ),
            (
                "github_actions_variable.ecr_repository",
                "app:ECR_REPOSITORY".into(),
            ),
        ]
        .into_iter()
        .map(|(a, i)| (a.to_string(), i))
        .collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn environment_secrets_escape_colons_and_users_replace_the_role() {
        let mut setup = oidc_setup();
        setup.secrets = vec![Secret {
            environment: Some("prod:eu".into()),
            name: "AWS_ECR_ROLE_ARN".into(),
            exists: true,
        }];
        let found = imports(&setup);
        assert!(found.iter().any(|i| i.address
            == "github_actions_environment_secret.role_arn[\"prod:eu\"]"
            && i.id == "app:prod??eu:AWS_ECR_ROLE_ARN"));
        setup.principal = Principal::User(User {
            name: "u".into(),
            exists: true,
            attached: false,
        });
        setup.secrets.clear();
        let found = imports(&setup);
        assert!(
            found
                .iter()
                .any(|i| i.address == "aws_iam_user.push" && i.id == "u")
        );
        assert!(!found.iter().any(|i| i.address.contains("attachment")));
        let main = file(&render(&setup), "main.tf").to_string();
        assert!(main.contains("resource \"aws_iam_user_policy_attachment\" \"push\""));
        assert!(!main.contains("aws_iam_role"), "{main}");
    }

    #[test]
    fn nothing_existing_means_no_imports_file() {
        let mut setup = oidc_setup();
        setup.principal = match setup.principal {
            Principal::Role(mut r) => {
                r.exists = false;
                r.attached = false;
                Principal::Role(r)
            }
            other => other,
        };
        setup.policy.exists = false;
        setup.repository.exists = false;
        setup.secrets[0].exists = false;
        for v in &mut setup.variables {
            v.exists = false;
        }
        let files = render(&setup);
        assert!(!files.iter().any(|f| f.path == "imports.tf"));
    }

    #[test]
    fn names_cannot_become_interpolations() {
        assert_eq!(lit("a${b}\"%{c}\\"), "\"a$${b}\\\"%%{c}\\\\\"");
    }

    #[test]
    fn the_secret_takes_the_roles_arn_and_attributes_align() {
        let main = file(&render(&oidc_setup()), "main.tf").to_string();
        assert!(
            main.contains("  value       = aws_iam_role.push.arn\n"),
            "{main}"
        );
        assert!(main.contains("data \"aws_iam_openid_connect_provider\" \"github\""));
        assert!(main.contains("depends_on = [data.aws_iam_openid_connect_provider.github]"));
        assert!(
            main.contains("    \"managed-by\"                         = \"skyecr-bootstrap\"\n"),
            "{main}"
        );
    }
}
