//! Orders: bulk orders split per producer, stock that never oversells, the lifecycle
//! (`state`), ratings. Payments and refunds are in `payments`.

pub mod model;
pub mod routes;
pub mod service;
pub mod state;
pub mod types;
