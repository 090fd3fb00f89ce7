//! The edges: AWS SDK clients and the GitHub REST client.
pub mod aws;
pub mod github;
pub mod limit;

use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// `--verbose`: the notes below, and one line per request.
pub fn set_verbose() {
    VERBOSE.store(true, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed) || std::env::var_os("SKYECR_DEBUG").is_some()
}

/// A note on stderr with `--verbose` or `SKYECR_DEBUG` (retries, waits, each request); never
/// holds a secret.
pub fn debug_note(text: &str) {
    if verbose() {
        eprintln!("note: {text}");
    }
}
