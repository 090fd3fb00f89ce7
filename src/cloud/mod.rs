//! The edges: AWS SDK clients and the GitHub REST client.
pub mod aws;
pub mod github;
pub mod limit;

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::Result;

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

/// Reads that are the same for every repository of a run (an account-wide listing, the one
/// OIDC provider, a repository's secrets key read by two resources), made once and shared by
/// the clones of a client. A failed read is not kept: the next one tries again.
#[derive(Default)]
pub struct ReadOnce {
    cells: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl ReadOnce {
    pub async fn get<V, F, Fut>(&self, key: &str, read: F) -> Result<V>
    where
        V: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let cell = {
            let mut cells = match self.cells.lock() {
                Ok(cells) => cells,
                Err(poisoned) => poisoned.into_inner(),
            };
            let any = cells
                .entry(key.to_string())
                .or_insert_with(|| Arc::new(tokio::sync::OnceCell::<V>::new()))
                .clone();
            // A key is read as one type; another type under it would only lose the sharing.
            any.downcast::<tokio::sync::OnceCell<V>>()
                .unwrap_or_else(|_| Arc::new(tokio::sync::OnceCell::new()))
        };
        cell.get_or_try_init(read).await.cloned()
    }
}
