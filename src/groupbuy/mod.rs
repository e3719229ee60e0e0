//! Group purchases (集中采购 / 团购): campaigns with tiered prices across agencies, pledges,
//! the close that turns pledges into orders, and the timetable the worker keeps.
//!
//! Every change to a campaign or its pledges
//! first takes the campaign's row lock, then checks under it and moves the totals by conditional
//! updates; the close writes the outcome once (only a live campaign moves), so any number of
//! closes by any number of workers and servers make each pledge's order exactly once. Pledges
//! into one round wait in the process and are written a batch per transaction (`rush`).
//!
//! ```text
//! scheduled ─(opens_at)→ open ─(closes_at or the organiser)→ succeeded   every pledge → one order
//!     │                    │                                └→ failed      every pledge released
//!     └──────────────(the organiser)──────────────────────────→ cancelled   every pledge released
//! ```
//!
//! Imports: the core, identity, regions, catalog, orders and payments.
//! Imported by: notify (campaign mail), the worker (the timetable), the demo.

pub mod campaigns;
pub mod card;
pub mod close;
pub mod jobs;
pub mod model;
pub mod pledges;
pub mod routes;
pub mod rush;
pub mod status;
pub mod types;
pub mod view;
