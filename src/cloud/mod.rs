//! The edges: AWS SDK clients and the GitHub REST client.
pub mod aws;
pub mod github;
