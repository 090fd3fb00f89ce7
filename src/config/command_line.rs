//! Settings as a command line a person can paste: what `init` prints without a terminal and
//! what `audit` gives as the fix of a policy.
use std::borrow::Cow;

use super::table::{Form, RawSettings};

/// A value as a POSIX shell word: bare when safe, else single-quoted.
pub fn shell_word(value: &str) -> Cow<'_, str> {
    let safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if safe {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!("'{}'", value.replace('\'', r"'\''")))
    }
}

/// `skyecr-bootstrap COMMAND` with every setup setting of `raw` as its flag (how results are
/// shown is left to the person).
pub fn command_words(command: &str, raw: &RawSettings) -> Vec<String> {
    let mut words: Vec<String> = vec!["skyecr-bootstrap".into(), command.into()];
    let (switches, values): (Vec<_>, Vec<_>) = raw
        .as_flags()
        .into_iter()
        .filter(|(setting, _)| !setting.presentation)
        .partition(|(setting, _)| matches!(setting.form, Form::Switch));
    // Switches go after the values, as in the examples of --help.
    for (setting, given) in values.into_iter().chain(switches) {
        if given.is_empty() {
            words.push(setting.flag.into());
        }
        for v in given {
            words.extend([setting.flag.into(), shell_word(&v).into_owned()]);
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("acme/app"), "acme/app");
        assert_eq!(shell_word("v*"), "'v*'");
        assert_eq!(shell_word("prod env"), "'prod env'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
