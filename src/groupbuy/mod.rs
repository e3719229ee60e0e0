//! Group purchases (集中采购 / 团购): campaigns with tiered prices across agencies, pledges,
//! the close that turns pledges into orders, and the timetable the worker keeps.

pub mod card;
pub mod jobs;
pub mod model;
pub mod routes;
pub mod service;
pub mod types;
