//! The coordinator dashboard: server-rendered Chinese pages (no script, nothing loaded from
//! elsewhere), signed in through a form with a session cookie. Every figure on them comes from
//! the report functions behind `/api/v1/reports/*`.

mod charts;
mod download;
mod login;
mod order;
mod page;
mod query;
mod session;
mod view;
mod web;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};

use crate::app::AppState;

pub use session::{CSRF_COOKIE, SESSION_COOKIE};

const STYLESHEET: &str = include_str!("static/dashboard.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/dashboard", get(page::dashboard))
        .route("/dashboard/orders/{id}", get(order::order))
        .route("/dashboard/download", get(download::download))
        .route(
            "/dashboard/static/dashboard.css",
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
