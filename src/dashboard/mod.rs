//! The coordinator dashboard: server-rendered Chinese pages (no script, nothing loaded from
//! elsewhere), signed in through a form with a session cookie. Every figure on them comes from
//! the report functions behind `/api/v1/reports/*`.
//!
//! Imports: the core, identity, regions, catalog, accounting, settlement (time to money) and
//! notify (formatting).
//! Imported by: the app, and the workplaces (its sign-in, session and page rendering).

mod bulletin;
mod charts;
mod download;
mod live_page;
mod login;
mod money;
mod order;
mod page;
mod query;
pub mod session;
mod view;
pub mod web;

use axum::http::{Method, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};

use crate::http::routes::RouteTable;

pub use session::{CSRF_COOKIE, SESSION_COOKIE};

const STYLESHEET: &str = include_str!("static/dashboard.css");

pub fn routes() -> RouteTable {
    RouteTable::default()
        .route("/", &[Method::GET], get(|| async { Redirect::to("/dashboard") }))
        .route("/login", &[Method::GET, Method::POST], get(login::form).post(login::submit))
        .route("/logout", &[Method::POST], post(login::logout))
        .route("/dashboard", &[Method::GET], get(page::dashboard))
        .route("/dashboard/orders/{id}", &[Method::GET], get(order::order))
        .route("/dashboard/download", &[Method::GET], get(download::download))
        .route("/dashboard/bulletin", &[Method::GET], get(bulletin::bulletin_page))
        .route("/live", &[Method::GET], get(live_page::list))
        .route("/live/{id}", &[Method::GET], get(live_page::one))
        .route(
            "/dashboard/static/dashboard.css",
            &[Method::GET],
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=3600"),
                    ],
                    STYLESHEET,
                )
                    .into_response()
            }),
        )
}
