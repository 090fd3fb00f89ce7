//! Trust and push policies of GitHub Actions OIDC roles: parsing, audit findings and access checks, all pure.

mod document;
mod evaluate;
mod findings;
mod push_policy;

pub use document::{
    BaseOperator, Condition, Effect, Operator, PolicyDocument, PolicyError, Principal, Principals,
    SetQualifier, Statement, Targets, parse_policy, parse_policy_str, percent_decode,
    wildcard_match,
};
pub use evaluate::{Decision, Token, closest_allowed_subject, evaluate};
pub use findings::{Finding, Severity, TrustContext, trust_findings};
pub use push_policy::push_policy_findings;
