//! Health, readiness, metrics and the API's own description.

pub mod docs;
pub mod health;
pub mod metrics;
