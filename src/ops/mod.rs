//! Health, readiness, metrics and the API's own description.
//!
//! Imports: the state, the database and regions (readiness).
//! Imported by: the http middleware (the `metrics` seam), the app, the main program.

pub mod docs;
pub mod health;
pub mod metrics;
