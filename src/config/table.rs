//! The settings table: each setting declared once (flag, settings-file key, value form, check,
//! help), and what is built from that one declaration: the clap flags, the settings file's keys
//! and types, flags-over-file merging, and the rows the wizard and the hostile-input tests use.
use serde::{Deserialize, Serialize};

use super::rules::{self, Rule};
use super::{AuthMode, ColorChoice, EncryptionName, OutputFormat, SecretScope, TagMutabilityName};
use crate::error::InvalidInput;

/// One row of the table.
#[derive(Debug)]
pub struct Setting {
    /// `--github-repo`; every error about the value names it.
    pub flag: &'static str,
    /// `github_repo`; the file accepts the flag's spelling (`github-repo`) as well.
    pub key: &'static str,
    pub form: Form,
    /// How one run shows its results (`Presentation`), not part of the setup: `init` does not
    /// save it and the equivalent `apply` command leaves it out.
    pub presentation: bool,
}

/// What a setting's value looks like.
#[derive(Debug, Clone, Copy)]
pub enum Form {
    /// One value, checked by the rule.
    Text(Rule),
    /// Repeatable; each value checked by the rule.
    List(Rule),
    /// One of fixed spellings, which clap and the file loader enforce themselves.
    Choice,
    /// On when given; takes no value.
    Switch,
}

impl Setting {
    /// Checks one value as validation does, so the wizard can ask again at once.
    pub fn check(&self, value: &str) -> Result<(), InvalidInput> {
        match &self.form {
            Form::Text(rule) | Form::List(rule) => rule.apply(self.flag, value),
            Form::Choice | Form::Switch => Err(InvalidInput {
                flag: self.flag,
                problem: "is not a setting that takes a value".into(),
                expected: "one of the flags listed by --help",
            }),
        }
    }
}

/// How a value given by flags sits over the file's, and when the file leaves it out.
trait Layer {
    fn over(self, lower: Self) -> Self;
    fn is_unset(&self) -> bool;
}

impl<T> Layer for Option<T> {
    fn over(self, lower: Self) -> Self {
        self.or(lower)
    }
    fn is_unset(&self) -> bool {
        self.is_none()
    }
}

/// A list given on the command line replaces the file's list rather than adding to it.
impl<T> Layer for Vec<T> {
    fn over(self, lower: Self) -> Self {
        if self.is_empty() { lower } else { self }
    }
    fn is_unset(&self) -> bool {
        self.is_empty()
    }
}

/// A switch cannot be turned off by a flag, only left off.
impl Layer for bool {
    fn over(self, lower: Self) -> Self {
        self || lower
    }
    fn is_unset(&self) -> bool {
        !*self
    }
}

/// Builds the table from its rows. A row is the help line (`///`, as clap shows it), then
/// `STATIC field = "flag-name"`, then the value:
/// - `<"VALUE"> text(form, check)`: one value (`Option<String>`), refused by `check` with
///   "expected `form`";
/// - `<"VALUE"> optional(form, check, default)`: as `text`, but the flag may be given without
///   a value, which then is `default`;
/// - `<"VALUE"> list(form, check)`: a repeatable flag (`Vec<String>`), each value checked;
/// - `[<"VALUE">] choice(Enum)`: one of the enum's spellings (`Option<Enum>`);
/// - `switch`: on or off (`bool`);
///
/// and `, presentation` for a setting of how results are shown. The field is the file key;
/// the rows' order is the order of `--help`.
///
/// A list or switch left out of the file is empty or off (`#[serde(default)]`); the `Option`s
/// need no default, and having none keeps serde from reading a JSON array as a settings file.
macro_rules! settings {
    (@presentation) => { false };
    (@presentation presentation) => { true };

    // One row → `{STATIC field "flag-name" form presentation (field declaration)}`.
    (@rows [$($done:tt)*]
        $(#[doc = $help:tt])* $name:ident $field:ident = $long:tt <$value:tt> text($expected:expr, $check:expr)
        $(, $p:ident)?; $($rest:tt)*
    ) => {
        settings!(@rows [$($done)* {$name $field $long Form::Text(Rule::new($expected, $check)), settings!(@presentation $($p)?),
            ($(#[doc = $help])* #[arg(value_name = $value)] pub $field: Option<String>)
        }] $($rest)*);
    };
    (@rows [$($done:tt)*]
        $(#[doc = $help:tt])* $name:ident $field:ident = $long:tt <$value:tt> optional($expected:expr, $check:expr, $missing:expr)
        $(, $p:ident)?; $($rest:tt)*
    ) => {
        settings!(@rows [$($done)* {$name $field $long Form::Text(Rule::new($expected, $check)), settings!(@presentation $($p)?),
            ($(#[doc = $help])* #[arg(value_name = $value, num_args = 0..=1, default_missing_value = $missing)] pub $field: Option<String>)
        }] $($rest)*);
    };
    (@rows [$($done:tt)*]
        $(#[doc = $help:tt])* $name:ident $field:ident = $long:tt <$value:tt> list($expected:expr, $check:expr)
        $(, $p:ident)?; $($rest:tt)*
    ) => {
        settings!(@rows [$($done)* {$name $field $long Form::List(Rule::new($expected, $check)), settings!(@presentation $($p)?),
            ($(#[doc = $help])* #[arg(value_name = $value)] #[serde(default)] pub $field: Vec<String>)
        }] $($rest)*);
    };
    (@rows [$($done:tt)*]
        $(#[doc = $help:tt])* $name:ident $field:ident = $long:tt $(<$value:tt>)? choice($enum:ident)
        $(, $p:ident)?; $($rest:tt)*
    ) => {
        settings!(@rows [$($done)* {$name $field $long Form::Choice, settings!(@presentation $($p)?),
            ($(#[doc = $help])* $(#[arg(value_name = $value)])? pub $field: Option<$enum>)
        }] $($rest)*);
    };
    (@rows [$($done:tt)*]
        $(#[doc = $help:tt])* $name:ident $field:ident = $long:tt switch
        $(, $p:ident)?; $($rest:tt)*
    ) => {
        settings!(@rows [$($done)* {$name $field $long Form::Switch, settings!(@presentation $($p)?),
            ($(#[doc = $help])* #[serde(default)] pub $field: bool)
        }] $($rest)*);
    };

    // Every row read: the struct clap and serde fill, the merge, and the rows as statics.
    (@rows [$({$name:ident $field:ident $long:tt $form:expr, $presentation:expr, ($($declaration:tt)*)})*]) => {
        /// Settings as given, before validation: by flags, by the settings file (which is this
        /// struct as JSON) or by the wizard's answers.
        #[derive(Debug, Default, Clone, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawSettings {
            $(
                #[arg(long = $long, global = true)]
                #[serde(alias = $long, skip_serializing_if = "Layer::is_unset")]
                $($declaration)*,
            )*
        }

        impl RawSettings {
            pub(super) fn over(self, lower: RawSettings) -> RawSettings {
                RawSettings { $($field: self.$field.over(lower.$field),)* }
            }
        }

        $(
            pub static $name: Setting = Setting {
                flag: concat!("--", $long),
                key: stringify!($field),
                form: $form,
                presentation: $presentation,
            };
        )*

        /// Every setting, in the order of `--help`.
        pub static SETTINGS: &[&Setting] = &[$(&$name),*];
    };

    ($($rows:tt)*) => { settings!(@rows [] $($rows)*); };
}

/// Named because the error for a missing `--github-repo` states it too.
pub(super) const GITHUB_REPO_FORM: &str = "OWNER/REPO, e.g. acme/app";

settings! {
    /// The repository whose workflows push images.
    GITHUB_REPO github_repo = "github-repo" <"OWNER/REPO">
        text(GITHUB_REPO_FORM, rules::github_repo);
    /// ECR region [default: AWS config chain, else us-east-1].
    REGION region = "region" <"REGION">
        text("an AWS region such as us-east-1", rules::region);
    /// AWS named profile [default: AWS config chain].
    PROFILE profile = "profile" <"NAME">
        text("a profile name from ~/.aws/config", rules::profile);
    /// OIDC role (recommended) or the IAM-user fallback [default: oidc].
    AUTH auth = "auth" choice(AuthMode);
    /// ECR repository name [default: skypilot].
    ECR_REPOSITORY ecr_repository = "ecr-repository" <"NAME">
        text(
            "2-256 lowercase letters, digits and . _ - /, starting and ending with a letter or digit",
            rules::ecr_repository
        );
    /// Repository encryption [default: aes256].
    ENCRYPTION encryption = "encryption" choice(EncryptionName);
    /// KMS key ARN for --encryption kms (omit for the AWS-managed key).
    KMS_KEY kms_key = "kms-key" <"ARN">
        text(
            "arn:aws:kms:REGION:ACCOUNT:key/KEY-ID or arn:aws:kms:REGION:ACCOUNT:alias/NAME",
            rules::kms_key
        );
    /// IAM role for OIDC mode [default: GitHubActions-SkyPilot-ECR].
    ROLE_NAME role_name = "role-name" <"NAME">
        text("1-64 letters, digits and + = , . @ _ -", |v| rules::iam_name(v, 64));
    /// The managed push policy [default: SkyPilot-ECR-Push].
    POLICY_NAME policy_name = "policy-name" <"NAME">
        text("1-128 letters, digits and + = , . @ _ -", |v| rules::iam_name(v, 128));
    /// IAM user for access-key mode [default: github-actions-skypilot-ecr].
    USER_NAME user_name = "user-name" <"NAME">
        text("1-64 letters, digits and + = , . @ _ -", |v| rules::iam_name(v, 64));
    /// Trust: workflows on this branch may push (repeatable).
    BRANCHES branches = "branch" <"NAME">
        list(
            "a git branch name such as main or release/1.x (no wildcards, spaces, ~ ^ : ? * [ \\ or ..)",
            rules::branch
        );
    /// Trust: tag refs matching this pattern may push; `*` allowed (repeatable).
    TAGS tags = "tag" <"PATTERN">
        list(
            "a git tag name or pattern such as v1.2.3 or v* (* allowed; no spaces, ~ ^ : ? [ \\ or ..)",
            rules::tag_pattern
        );
    /// Trust: jobs in this GitHub environment may push (repeatable).
    ENVIRONMENTS environments = "environment" <"NAME">
        list(
            "a GitHub environment name: 1-255 printable characters, no * ? or surrounding spaces",
            rules::environment
        );
    /// Trust any ref of the repository (the guide's repo:OWNER/REPO:*); audit warns about it.
    ANY_REF any_ref = "any-ref" switch;
    /// GitHub secret that receives the role ARN [default: AWS_ECR_ROLE_ARN].
    SECRET_NAME secret_name = "secret-name" <"NAME">
        text(
            "letters, digits and _, not starting with a digit or GITHUB_",
            rules::secret_name
        );
    /// Where the role ARN secret goes: the repository, or each --environment [default: repository].
    SECRET_SCOPE secret_scope = "secret-scope" choice(SecretScope);
    /// OIDC issuer [default: https://token.actions.githubusercontent.com].
    OIDC_ISSUER oidc_issuer = "oidc-issuer" <"URL">
        text(
            "https://token.actions.githubusercontent.com[/ENTERPRISE] or https://HOST/_services/token, without a trailing /",
            rules::issuer
        );
    /// Trust: leave out the repository and owner ID pins (on by default for the public issuer).
    NO_PIN_IDS no_pin_ids = "no-pin-ids" switch;
    /// Trust: pin the repository and owner IDs with an enterprise issuer too (off by default there).
    PIN_IDS pin_ids = "pin-ids" switch;
    /// Trust: only this workflow file may assume the role [default PATH: .github/workflows/build-push-ecr-custom.yaml].
    PIN_WORKFLOW pin_workflow = "pin-workflow" <"PATH">
        optional(
            "a workflow file in .github/workflows/, ending in .yml or .yaml",
            rules::workflow_path,
            crate::workflow::DEFAULT_WORKFLOW_PATH
        );
    /// Permissions boundary for the push role or user (an IAM policy ARN) [default: none].
    PERMISSIONS_BOUNDARY permissions_boundary = "permissions-boundary" <"ARN">
        text(
            "an IAM managed policy ARN, arn:aws:iam::ACCOUNT:policy/NAME",
            rules::policy_arn
        );
    /// The AWS account these settings belong to; every command stops when the caller is in another [default: recorded by apply].
    ACCOUNT_ID account_id = "account-id" <"ID">
        text("a 12-digit AWS account ID", rules::account_id);
    /// Whether a pushed tag can be overwritten [default: left as it is].
    TAG_MUTABILITY tag_mutability = "tag-mutability" <"MODE"> choice(TagMutabilityName);
    /// A tag left mutable under immutable tags, e.g. latest; `*` allowed (repeatable).
    MUTABLE_TAGS mutable_tags = "mutable-tag" <"PATTERN">
        list(
            "1-128 letters, digits and . _ - *, e.g. latest or dev-*",
            rules::image_tag_filter
        );
    /// Result format on stdout [default: text].
    OUTPUT output = "output" choice(OutputFormat), presentation;
    /// When to use colors; NO_COLOR is honoured [default: auto].
    COLOR color = "color" choice(ColorChoice), presentation;
}

impl RawSettings {
    /// Each setting given, in table order, with its values as its flag takes them (a switch
    /// that is on has none).
    pub fn as_flags(&self) -> Vec<(&'static Setting, Vec<String>)> {
        use serde_json::Value;
        // The file form holds exactly the settings given, spelled as clap takes them (tested
        // below); it cannot fail to serialize: every field is text, a list, a switch or a choice.
        let Ok(Value::Object(file)) = serde_json::to_value(self) else {
            return Vec::new();
        };
        SETTINGS
            .iter()
            .filter_map(|&setting| {
                let values = match file.get(setting.key)? {
                    Value::String(v) => vec![v.clone()],
                    Value::Array(items) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    _ => Vec::new(),
                };
                Some((setting, values))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use clap::{ArgAction, Args, FromArgMatches};
    use serde_json::{Value, json};

    use super::*;

    fn command() -> clap::Command {
        RawSettings::augment_args(clap::Command::new("t"))
    }

    /// clap's arguments are the table's rows, in order, each taking what its form says.
    #[test]
    fn clap_takes_every_setting_as_its_form_says() {
        let cmd = command();
        let longs: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .collect();
        let flags: Vec<&str> = SETTINGS.iter().map(|s| s.flag).collect();
        assert_eq!(longs, flags);
        for (arg, s) in cmd.get_arguments().zip(SETTINGS) {
            let choices = !arg.get_possible_values().is_empty();
            let ok = match s.form {
                Form::Text(_) => matches!(arg.get_action(), ArgAction::Set) && !choices,
                Form::List(_) => matches!(arg.get_action(), ArgAction::Append) && !choices,
                Form::Choice => matches!(arg.get_action(), ArgAction::Set) && choices,
                Form::Switch => matches!(arg.get_action(), ArgAction::SetTrue),
            };
            assert!(ok, "{} is not {:?}", s.flag, s.form);
            assert!(arg.is_global_set(), "{} is not global", s.flag);
        }
    }

    /// The file takes every value clap takes, under the key or the flag's spelling, and
    /// `as_flags` gives it back as clap takes it.
    #[test]
    fn the_file_and_the_flags_take_the_same_values() {
        let cmd = command();
        for (arg, s) in cmd.get_arguments().zip(SETTINGS) {
            let samples: Vec<Value> = match s.form {
                Form::Text(_) => vec![json!("x")],
                Form::List(_) => vec![json!(["x", "y"])],
                Form::Switch => vec![json!(true)],
                Form::Choice => arg
                    .get_possible_values()
                    .iter()
                    .map(|p| json!(p.get_name()))
                    .collect(),
            };
            for sample in samples {
                for key in [s.key, s.flag.trim_start_matches("--")] {
                    let raw: RawSettings = serde_json::from_value(json!({ key: sample }))
                        .unwrap_or_else(|e| panic!("{key}: {sample}: {e}"));
                    assert_eq!(
                        serde_json::to_value(&raw).unwrap(),
                        json!({ s.key: sample })
                    );
                    let mut words = vec!["t".to_string()];
                    for (setting, values) in raw.as_flags() {
                        assert_eq!(setting.flag, s.flag);
                        if values.is_empty() {
                            words.push(setting.flag.into());
                        }
                        for v in values {
                            words.extend([setting.flag.into(), v]);
                        }
                    }
                    let matches = command().try_get_matches_from(&words).unwrap();
                    assert_eq!(RawSettings::from_arg_matches(&matches).unwrap(), raw);
                }
            }
        }
    }
}
