//! Dongxi (东西): a backend for east–west consumption assistance (消费帮扶).
//! See ARCHITECTURE.md in the shared docs for the shape of the code.

pub mod accounting;
pub mod app;
pub mod batches;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod ctx;
pub mod dashboard;
pub mod db;
pub mod demo;
pub mod error;
pub mod groupbuy;
pub mod http;
pub mod idempotency;
pub mod identity;
pub mod ids;
pub mod live;
pub mod money;
pub mod notify;
pub mod ops;
pub mod orders;
pub mod outbox;
pub mod payments;
pub mod regions;
pub mod search;
pub mod server;
pub mod settlement;
pub mod state;
pub mod telemetry;
pub mod validate;
pub mod worker;
pub mod workplace;
