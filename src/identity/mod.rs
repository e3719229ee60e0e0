//! Organisations, users, sessions, roles and the authorisation policy.

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
