//! Errors a person can act on, and the exit codes they map to.
use std::fmt;
use std::process::ExitCode;

/// One rejected setting: which flag, what was wrong, what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    pub flag: &'static str,
    pub problem: String,
    pub expected: &'static str,
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (expected {})",
            self.flag, self.problem, self.expected
        )
    }
}

/// A failed AWS call, classified once in `cloud::aws`.
#[derive(Debug, Clone)]
pub struct AwsFailure {
    /// IAM-style action name, e.g. `iam:CreateRole`.
    pub action: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub status: Option<u16>,
}

impl AwsFailure {
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// The resource does not exist (or no longer does): a value, not an error.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("NoSuchEntity" | "RepositoryNotFoundException" | "NotFoundException")
        )
    }

    /// Another run (or an earlier attempt whose answer was lost) created it already.
    pub fn is_already_exists(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("EntityAlreadyExists" | "RepositoryAlreadyExistsException")
        )
    }

    pub fn is_access_denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation")
        ) || (self.code.is_none() && self.status == Some(403))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", render_invalid(.0))]
    InvalidSettings(Vec<InvalidInput>),

    #[error("{0}")]
    Usage(String),

    #[error("could not read settings file {path}: {reason}")]
    ConfigFile { path: String, reason: String },

    #[error(
        "AWS denied {action} to {caller}.\n  Grant {action} to {caller} (docs/permissions.md lists what each command needs) and rerun."
    )]
    PermissionDenied {
        action: &'static str,
        caller: String,
    },

    #[error("AWS {action} failed{}: {message}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Aws {
        action: &'static str,
        code: Option<String>,
        message: String,
    },

    #[error(
        "AWS has not finished propagating a new IAM resource: {action} still failed after {seconds}s ({detail}).\n  Nothing is lost: rerun the same command and it continues from here."
    )]
    PropagationTimeout {
        action: &'static str,
        seconds: u64,
        detail: String,
    },

    #[error(
        "could not load AWS credentials or region: {0}\n  Configure the AWS CLI (aws configure / aws sso login), or set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
    )]
    AwsSetup(String),

    #[error(
        "{what} returned by {action} could not be read: {reason}.\n  Nothing was changed; if the document was edited by hand, check it in the AWS console."
    )]
    Unreadable {
        action: &'static str,
        what: String,
        reason: String,
    },

    #[error(
        "these settings were applied to AWS account {recorded}, but the credentials in use are {caller_arn} in account {caller}; nothing was changed.\n  Use the profile or credentials of account {recorded} (--profile NAME), or, to set this up in account {caller} as well, use another settings file (--config PATH)."
    )]
    WrongAccount {
        recorded: String,
        caller: String,
        caller_arn: String,
    },

    #[error(
        "the credentials in use are {caller_arn}, in AWS partition {caller}, but region {region} is in partition {expected}; nothing was changed.\n  Use credentials of partition {expected}, or the region the settings were applied in (--region)."
    )]
    WrongPartition {
        caller: String,
        caller_arn: String,
        region: String,
        expected: &'static str,
    },

    #[error("{0}")]
    GitHub(String),

    #[error("{0}")]
    Blocked(String),

    #[error(
        "{what} needs confirmation, but there is no terminal to ask on.\n  Rerun with --yes to confirm non-interactively."
    )]
    NeedsConfirmation { what: &'static str },

    #[error("cancelled: nothing was changed")]
    Declined,

    #[error("interrupted")]
    Interrupted,

    #[error("{0}")]
    Io(String),
}

/// The start of an answer that is not the service's own (an HTML page from a proxy, say), as
/// one quoted line: enough to recognise who answered, never a whole page.
pub fn answer_start(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return "an empty body".into();
    }
    let line = words.join(" ");
    let start: String = line
        .chars()
        .take(100)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let more = if line.chars().count() > 100 {
        "…"
    } else {
        ""
    };
    format!("\"{start}{more}\"")
}

fn render_invalid(items: &[InvalidInput]) -> String {
    let lines: Vec<String> = items.iter().map(|i| format!("invalid {i}")).collect();
    lines.join("\n")
}

impl Error {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Interrupted => ExitStatus::Interrupted,
            _ => ExitStatus::Failure,
        }
    }
}

/// How a run ended: the contract's exit codes, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done, in sync, or allowed.
    Success,
    /// 1: bad input (usage errors included, never clap's 2), or an AWS or GitHub failure.
    Failure,
    /// 2: audit found drift or a finding that matters, `plan --detailed-exitcode` has changes,
    /// or check-access says denied.
    Attention,
    /// 3: check-access cannot know IAM's answer (a condition on a key it cannot know).
    Undetermined,
    /// 130: interrupted.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Attention => 2,
            ExitStatus::Undetermined => 3,
            ExitStatus::Interrupted => 130,
        }
    }

    /// Many repositories' outcomes as one: the highest code (the contract's rule).
    pub fn combine(statuses: impl IntoIterator<Item = ExitStatus>) -> ExitStatus {
        statuses
            .into_iter()
            .max_by_key(|s| s.code())
            .unwrap_or(ExitStatus::Success)
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
