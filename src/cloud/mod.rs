//! The edges: AWS SDK clients and the GitHub REST client.
pub mod aws;
pub mod github;

/// A note on stderr with `SKYECR_DEBUG` set (retries and waits); never holds a secret.
pub fn debug_note(text: &str) {
    if std::env::var_os("SKYECR_DEBUG").is_some() {
        eprintln!("note: {text}");
    }
}
