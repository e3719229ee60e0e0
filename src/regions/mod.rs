//! Division codes (GB/T 2260), assisted regions and units without a national code.

pub mod levels;
pub mod model;
pub mod routes;
pub mod service;

pub use service::{RegionView, path_of};
