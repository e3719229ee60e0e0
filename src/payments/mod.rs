//! Payments and refunds: offline transfers recorded by finance and card payments confirmed by
//! Stripe, all through one confirmation path and one refund path.

pub mod authorization;
pub mod cancel;
pub mod gateway;
pub mod model;
pub mod reconcile;
pub mod routes;
pub mod service;
pub mod signature;
pub mod stripe;
pub mod webhook;
