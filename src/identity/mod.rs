//! Organisations, users, sessions, roles and the authorisation policy.
//!
//! Imports: the core only (`http::pagination` for lists, `worker::job` to queue mail; its routes take
//! `http::auth`).
//! Imported by: every domain (`Actor`, `Who`, `policy`), `http::auth`, the worker, the pages.

pub mod actor;
pub mod login;
pub mod model;
pub mod password;
pub mod policy;
pub mod routes;
pub mod service;
pub mod types;
pub mod visibility;

pub use actor::{Actor, Who};
