//! The worker's jobs, one small file each: the outbox topics they perform and the timetable.
//! Each is an adapter: topic, payload, limits, and a call into the domain that does the work.

pub mod expand_notices;
pub mod index_products;
pub mod run_settlement;
pub mod send_mail;
pub mod stripe;
pub mod timetables;
