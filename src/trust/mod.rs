//! Trust and push policies of GitHub Actions OIDC roles: audit findings and access checks, all pure.

mod evaluate;
mod findings;
mod push_policy;

pub use evaluate::{Decision, Token, closest_allowed_subject, evaluate};
pub use findings::{Finding, Severity, TrustContext, trust_findings};
pub use push_policy::push_policy_findings;
