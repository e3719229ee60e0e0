//! HTTP plumbing shared by every domain: extractors that reject with problem+json,
//! authentication, pagination, request middleware and the OpenAPI links between operations.
//!
//! Imports: the core and the state; `auth` also identity (it signs actors in).
//! Imported by: every domain's routes; `extract` and `pagination` any service.

pub mod auth;
pub mod extract;
pub mod links;
pub mod middleware;
pub mod pagination;
pub mod routes;
pub mod serve;
pub mod throttle;
