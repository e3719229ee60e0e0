//! Request ids, access logs, timeouts, security headers and metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::{AppError, Problem, Refusal, problem_response};
use crate::ids::new_id;
use crate::ops::metrics::Metrics;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok =
        (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then(|| s.to_owned())
}

/// The outermost layer: one span and one log line per request, a request id echoed back,
/// a deadline, and headers every response should carry.
pub async fn observe(request: Request, next: Next) -> Response {
    let request_id = request.headers().get(REQUEST_ID).and_then(acceptable_request_id).unwrap_or_else(|| new_id("req"));
    let method = request.method().clone();
    // The path only: query strings are not logged.
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", id = %request_id, %method, %path);
    let started = Instant::now();
    let mut response = async move {
        match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
            Ok(response) => response,
            Err(_) => AppError::problem(StatusCode::SERVICE_UNAVAILABLE, "timeout", "the request took too long")
                .into_response(),
        }
    }
    .instrument(span.clone())
    .await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let refusal = response.extensions().get::<Refusal>();
    let code = refusal.map(|r| r.code.as_str());
    let field = refusal.and_then(|r| r.field.as_deref());
    span.in_scope(|| tracing::info!(status, code, field, elapsed_ms = format!("{elapsed_ms:.1}"), "handled"));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // No response of ours is meant to be framed (clickjacking); pages also say so in their CSP.
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.entry("referrer-policy").or_insert(HeaderValue::from_static("no-referrer"));
    headers.entry("cache-control").or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Counts and times requests by their route template (so ids do not explode the series).
pub async fn record_metrics(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

pub async fn not_found() -> Response {
    problem_response(&Problem::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint"))
}

pub async fn method_not_allowed() -> Response {
    problem_response(&Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    ))
}

/// A panic is a bug: log it and answer like any unexpected error.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    problem_response(&Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "an unexpected error occurred; it has been logged",
    ))
}
