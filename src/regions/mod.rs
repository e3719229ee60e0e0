//! Division codes (GB/T 2260), assisted regions and units without a national code.
//!
//! Imports: the core and identity (who may add units).
//! Imported by: catalog, accounting, groupbuy, ops (readiness), the demo and the server (loading the list).

pub mod levels;
pub mod model;
pub mod routes;
pub mod service;

pub use service::{RegionView, path_of};
