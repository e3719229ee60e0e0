//! Payments and refunds: offline transfers recorded by finance (and Stripe, later), all through
//! one confirmation path and one refund path.

pub mod routes;
pub mod service;
