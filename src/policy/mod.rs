//! Policy documents: templates from `policies/*.json`, one typed model read from what IAM returns, and comparison by meaning.

mod compare;
mod document;
mod template;

pub use compare::{
    ValueChange, condition_values, differences, equivalent, normalize, value_changes,
};
pub use document::{
    BaseOperator, Condition, Effect, Operator, PolicyDocument, PolicyError, Principal, Principals,
    SetQualifier, Statement, Targets, decode_document, parse_policy, parse_policy_str,
    wildcard_match,
};
pub use template::{TrustScope, push_document, trust_policy};
