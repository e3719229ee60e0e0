//! Assistance accounting (消费帮扶 counting): pairings, targets, reserved-share filings, closed
//! years, the counting ledger and the reports read from it.

pub mod audit;
pub mod breakdown;
pub mod entries;
pub mod export;
pub mod facts;
pub mod filings;
pub mod laggards;
pub mod ledger;
pub mod pairings;
pub mod periods;
pub mod progress;
pub mod rollups;
pub mod routes;
pub mod scope;
pub mod targets;
pub mod verify;
