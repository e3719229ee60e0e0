//! Extractors whose rejections are problem+json with stable codes.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// The largest request body any JSON route reads (the router's default limit too).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body. Malformed JSON is 400, a body over the limit 413, a wrong content type 415,
/// and a well-formed body of the wrong shape (unknown or missing field, wrong type) 422.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A body declared too large is refused before a byte of it is read.
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => AppError::unprocessable("validation_failed", strip_prefix(&text)),
        JsonRejection::JsonSyntaxError(_) => AppError::bad_request("malformed_json", strip_prefix(&text)),
        JsonRejection::MissingJsonContentType(_) => AppError::problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        other => AppError::bad_request("bad_request", other.body_text()),
    }
}

fn too_large() -> AppError {
    AppError::problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is larger than 1 MiB")
}

fn strip_prefix(text: &str) -> String {
    text.strip_prefix("Failed to deserialize the JSON body into the target type: ").unwrap_or(text).to_owned()
}

/// Query parameters; a bad one is 422 `validation_failed`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> AppError {
    let text = rejection.body_text();
    let text = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text);
    AppError::unprocessable("validation_failed", format!("query: {text}"))
}

/// Path parameters; a malformed one reads as an unknown object (404).
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(AppError::not_found("resource")),
            Err(other) => Err(AppError::Unexpected(anyhow::anyhow!("path extraction: {}", other.body_text()))),
        }
    }
}
