//! Products, tiers, certification, batches and trace codes, the price check, bulk import.
//!
//! Imports: the core, identity and regions.
//! Imported by: search, accounting (category names), orders and groupbuy (what is on sale, stock), notify,
//! the dashboard.

pub mod audit;
pub mod categories;
pub mod certification;
pub mod import;
pub mod labels;
pub mod model;
pub mod routes;
pub mod service;
pub mod trace;
pub mod types;
pub mod view;
