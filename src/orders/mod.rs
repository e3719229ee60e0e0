//! Orders: bulk orders split per producer (`placing`), stock that never oversells, the state
//! machine (`state`), shipment, acceptance and ratings (`lifecycle`), reading with visibility
//! (`view`, `listing`). Money (payments, refunds, cancellation) is in `payments`.
//!
//! Imports: the core, identity, catalog and accounting (counting happens in `state`).
//! Imported by: payments, groupbuy, notify, the demo.

pub mod lifecycle;
pub mod listing;
pub mod model;
pub mod placing;
pub mod routes;
pub mod state;
pub mod types;
pub mod view;
