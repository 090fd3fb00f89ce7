//! One module per managed resource, each with the same shape:
//! `Spec` (desired) · `Live` (observed) · `observe` · `diff` (pure) · `apply` (the only writes).
pub mod access_key;
pub mod oidc_provider;
pub mod push_policy;
pub mod repository;
pub mod role;
pub mod secret;
pub mod user;
pub mod variable;
