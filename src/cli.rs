//! Command-line surface (clap types only): raw flags, validated later in `config`.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::RawSettings;

#[derive(Debug, Parser)]
#[command(
    name = "skyecr-bootstrap",
    version,
    propagate_version = true,
    about = "Wire GitHub Actions to Amazon ECR: OIDC provider, IAM role, push policy, ECR repository and GitHub secrets, safely rerunnable.",
    after_help = "Examples:\n  skyecr-bootstrap init\n  skyecr-bootstrap plan --github-repo acme/app --branch main\n  skyecr-bootstrap apply --github-repo acme/app --branch main --yes\n\nSettings can also come from ./skyecr.json (or --config PATH); flags win over the file."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Do not ask for confirmation (only on the command line: never from a settings file).
    #[arg(long, global = true)]
    pub yes: bool,

    /// Also print retries, waits and every AWS and GitHub request with its duration (stderr).
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print only results, prompts, warnings and errors: no progress lines.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Interactive setup: asks for every setting, shows the plan, applies it and saves skyecr.json.
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap init\n  skyecr-bootstrap init --github-repo acme/app --region eu-west-1   # given values become the defaults\n\nValues from flags and ./skyecr.json are offered as defaults; answers not applied (declined, or a\nfailure before the confirmation) are kept in skyecr.draft.json and offered by the next init.\nWithout a terminal, init asks nothing:\nit prints the equivalent `skyecr-bootstrap apply ... --yes` command and exits 1."
    )]
    Init {
        /// Do not save the answers to the settings file.
        #[arg(long)]
        no_save: bool,
    },
    /// Show what `apply` would change in AWS and GitHub; never writes.
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap plan --github-repo acme/app --branch main\n  skyecr-bootstrap plan --output json --detailed-exitcode"
    )]
    Plan {
        /// Exit 2 when there are changes, 0 when there are none.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan taking over a role, user, policy or repository that exists under the chosen name
        /// but was not created by skyecr-bootstrap for this repository.
        #[arg(long)]
        adopt: bool,
    },
    /// Observe, plan, confirm and apply; a rerun with nothing to change writes nothing.
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap apply --github-repo acme/app --branch main\n  skyecr-bootstrap apply --github-repo acme/app --tag 'v*' --environment prod --yes"
    )]
    Apply {
        /// Rewrite the GitHub secrets even when they look current.
        #[arg(long)]
        force_secrets: bool,
        /// Take over a role, user, policy or repository that exists under the chosen name but was
        /// not created by skyecr-bootstrap for this repository (the plan lists every change).
        #[arg(long)]
        adopt: bool,
        /// Do not save the applied settings (and the account ID) to the settings file.
        #[arg(long)]
        no_save: bool,
    },
    /// Access-key mode: create a new key, write both secrets, then delete the old key.
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap rotate-keys --auth access-key --github-repo acme/app --yes"
    )]
    RotateKeys,
    /// Remove what the tool created (after confirmation); keeps an OIDC provider other roles trust.
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap destroy --github-repo acme/app\n  skyecr-bootstrap destroy --github-repo acme/app --keep-repository\n  skyecr-bootstrap destroy --github-repo acme/app --force --yes"
    )]
    Destroy {
        /// Also delete the ECR repository when it holds images.
        #[arg(long, conflicts_with = "keep_repository")]
        force: bool,
        /// Leave the ECR repository and its images in place; remove everything else.
        #[arg(long)]
        keep_repository: bool,
    },
    /// Read-only drift and security check of everything the tool manages (exit 2 on drift or a high/medium finding).
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap audit --github-repo acme/app --branch main\n  skyecr-bootstrap audit --output markdown >> \"$GITHUB_STEP_SUMMARY\"\n  skyecr-bootstrap audit --all-roles --output json"
    )]
    Audit {
        /// Also check every other role in the account that trusts a GitHub Actions OIDC provider.
        #[arg(long)]
        all_roles: bool,
    },
    /// Would a GitHub Actions job with these claims be allowed to assume the role? Exit 0 allowed, 2 denied.
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap check-access --github-repo acme/app --ref main\n  skyecr-bootstrap check-access --github-repo acme/app --environment prod\n  skyecr-bootstrap check-access --github-repo acme/app --event pull_request --ref refs/heads/feature"
    )]
    CheckAccess {
        /// The job's ref: a branch (main, refs/heads/main) or a tag (tags/v1.2.3, refs/tags/v1.2.3).
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        /// The triggering event; `pull_request` jobs get their own subject.
        #[arg(long, value_name = "EVENT")]
        event: Option<String>,
        /// A token's claims as a JSON object (`-` for stdin), as GitHub's OIDC debugger prints them.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["git_ref", "event", "sub"])]
        claims: Option<PathBuf>,
        /// The token's subject alone, with the repository's own claims.
        #[arg(long, value_name = "SUBJECT", conflicts_with_all = ["git_ref", "event"])]
        sub: Option<String>,
        /// The role session name the job uses (configure-aws-credentials' role-session-name),
        /// for trust conditions on sts:RoleSessionName.
        #[arg(long, value_name = "NAME")]
        session_name: Option<String>,
    },
    /// Write the GitHub Actions build-and-push workflow of the setup guide, matched to the settings.
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap workflow\n  skyecr-bootstrap workflow --trigger-branch main --platforms linux/amd64 --stdout"
    )]
    Workflow {
        /// Where to write it.
        #[arg(
            long,
            value_name = "PATH",
            default_value = ".github/workflows/build-push-ecr-custom.yaml"
        )]
        path: String,
        /// Branch whose pushes build an image [default: the first --branch, else feature/runpod-catalog-fetcher].
        #[arg(long, value_name = "NAME")]
        trigger_branch: Option<String>,
        /// Target platforms, comma-separated [default: linux/amd64,linux/arm64].
        #[arg(long, value_name = "LIST", value_delimiter = ',')]
        platforms: Vec<String>,
        /// Print the workflow on stdout instead of writing the file.
        #[arg(long)]
        stdout: bool,
        /// Overwrite an existing file that differs.
        #[arg(long)]
        force: bool,
    },
    /// Write the setup as OpenTofu/Terraform or CloudFormation, importing what exists; AWS and GitHub are only read.
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap export --format terraform --out infra/ecr\n  skyecr-bootstrap export --format cloudformation --out infra/ecr-stack --output json\n\nRefuses (exit 1) while `plan` shows changes: run `apply` first, or pass --allow-drift.\nDIR is created when missing; a non-empty DIR must hold an earlier export, unless --force."
    )]
    Export {
        /// terraform: OpenTofu/Terraform ≥ 1.6 with import blocks; cloudformation: a template and resources-to-import.json.
        #[arg(long, value_enum)]
        format: crate::export::Format,
        /// Directory to write into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Export even though what exists differs from the settings.
        #[arg(long)]
        allow_drift: bool,
        /// Write into a non-empty directory that holds no earlier export.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script on stdout.
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap completions bash > ~/.local/share/bash-completion/completions/skyecr-bootstrap\n  skyecr-bootstrap completions zsh > \"${fpath[1]}/_skyecr-bootstrap\"\n  skyecr-bootstrap completions fish > ~/.config/fish/completions/skyecr-bootstrap.fish"
    )]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, or write one page per command into a directory.
    #[command(
        after_help = "Examples:\n  skyecr-bootstrap man | man -l -\n  skyecr-bootstrap man --out ~/.local/share/man/man1"
    )]
    Man {
        /// Write skyecr-bootstrap.1 and a page per command (skyecr-bootstrap-plan.1, …) here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// The settings flags: where the settings file is, and every setting of the table. They are
/// shared by every command, so `--help` lists them after the command's own flags.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Settings (every command; also keys of skyecr.json)")]
pub struct SettingsArgs {
    /// Settings file (JSON); default ./skyecr.json when it exists.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub values: RawSettings,
}
