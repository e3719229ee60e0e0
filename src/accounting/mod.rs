//! Assistance accounting (消费帮扶 counting): pairings, targets, reserved-share filings, closed
//! years, the counting ledger and the reports read from it.
//!
//! Imports: the core, identity, regions and catalog; never orders or payments (they hand the ledger a `Sale`
//! or a `Refunded`).
//! Imported by: orders and payments (counting), notify (the digest), the dashboard.

pub mod audit;
pub mod breakdown;
pub mod bulletin;
pub mod entries;
pub mod export;
pub mod facts;
pub mod filings;
pub mod laggards;
pub mod ledger;
pub mod model;
pub mod pairings;
pub mod periods;
pub mod progress;
pub mod rollups;
pub mod routes;
pub mod scope;
pub mod snapshots;
pub mod span;
pub mod targets;
pub mod verify;
