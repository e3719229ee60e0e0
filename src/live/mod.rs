//! Live-stream sales (直播带货): an organiser (a coordinator or a producer) schedules a session
//! with a host and a window, pinning products at a live price (never above the catalogue's) and
//! an optional cap on the units sold at it. Orders placed inside the window at that price carry
//! the session and the channel `live`; outside it the price is refused. The worker marks the
//! session live at its start and ended at its end, exactly once each.
//!
//! Imports: the core, identity and catalog. Imported by: orders (pricing a live order), the worker.

pub mod model;
pub mod routes;
pub mod selling;
pub mod sessions;
pub mod view;
