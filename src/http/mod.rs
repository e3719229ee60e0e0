//! HTTP plumbing shared by every domain: extractors that reject with problem+json,
//! authentication, pagination and request middleware.

pub mod auth;
pub mod extract;
pub mod middleware;
pub mod pagination;
pub mod routes;
pub mod throttle;
