//! One module per managed resource, each with the same shape, its whole life in one place:
//! `Spec` (desired) · `Live` (observed) · `observe` (read-only) · `diff` (pure; an absent
//! desire is a delete) · `apply` (create, change and delete: the only writes).
pub mod change;
pub mod finding;
pub mod holdings;
pub mod ownership;

pub mod access_key;
pub mod environment;
pub mod oidc_provider;
pub mod push_policy;
pub mod repository;
pub mod role;
pub mod secret;
pub mod user;
pub mod variable;
