//! Everything a person sees: rendering of plans and reports, progress, prompts.
pub mod access;
pub mod out;
pub mod progress;
pub mod render;
pub mod report;
pub mod wizard;

use std::io::IsTerminal;

use crate::config::ColorChoice;

/// Applies `--color` and `NO_COLOR` to stdout and stderr alike.
pub fn init_colors(choice: ColorChoice) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let (out, err) = match choice {
        ColorChoice::Always => (true, true),
        ColorChoice::Never => (false, false),
        ColorChoice::Auto => (
            !no_color && std::io::stdout().is_terminal(),
            !no_color && std::io::stderr().is_terminal(),
        ),
    };
    console::set_colors_enabled(out);
    console::set_colors_enabled_stderr(err);
}

/// Prompts need a terminal on both ends; without one we never wait for input.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}
