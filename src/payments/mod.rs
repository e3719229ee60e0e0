//! Payments and refunds: offline transfers recorded by finance and card payments confirmed by
//! Stripe, all through one confirmation path and one refund path.
//!
//! Imports: the core, identity, orders (it moves their state) and accounting (refunds uncount).
//! Imported by: groupbuy (card authorisations), the workplaces (refund requests), the worker (Stripe jobs), the state (the `gateway` seam), the demo.

pub mod authorization;
pub mod cancel;
pub mod gateway;
pub mod model;
pub mod reconcile;
pub mod refund_requests;
pub mod routes;
pub mod service;
pub mod signature;
pub mod stripe;
pub mod webhook;
