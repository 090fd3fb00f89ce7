//! The one integration-test binary: the real `skyecr-bootstrap` against moto and the GitHub stand-in.
// Test code: a failed expectation is a test failure with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod access_keys;
mod audit;
mod aws_provisioning;
mod check_access;
mod cli_help;
mod ecr_checks;
mod export;
mod github_secrets;
mod many_repositories;
mod ownership;
mod reliability;
mod sarif;
mod trust;
mod ux;
mod wizard;
mod workflow;
