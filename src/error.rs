//! The one place errors become HTTP: every failure is an `application/problem+json` body
//! with a stable snake_case `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A field that failed validation.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `lines[0].quantity`.
    pub field: String,
    pub message: String,
}

/// RFC 9457 problem details, with Dongxi's stable `code` and extension members.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Facts a client can act on (`available`, `product_id`, …), flattened to the top level.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Problem {
            type_: format!("https://dongxi.dev/problems/{}", code.replace('_', "-")),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: detail.into(),
            errors: Vec::new(),
            extra: Map::new(),
            retry_after_secs: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{} {}: {}", .0.status, .0.code, .0.detail)]
    Problem(Box<Problem>),
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl From<Problem> for AppError {
    fn from(p: Problem) -> Self {
        AppError::Problem(Box::new(p))
    }
}

impl AppError {
    pub fn problem(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Problem::new(status, code, detail).into()
    }
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::problem(StatusCode::BAD_REQUEST, code, detail)
    }
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::problem(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::problem(StatusCode::FORBIDDEN, "forbidden", detail)
    }
    pub fn forbidden_code(code: &str, detail: impl Into<String>) -> Self {
        Self::problem(StatusCode::FORBIDDEN, code, detail)
    }
    /// Unknown and invisible look the same, so nobody learns that another organisation's object exists.
    pub fn not_found(what: &str) -> Self {
        Self::problem(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }
    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::problem(StatusCode::CONFLICT, code, detail)
    }
    pub fn unprocessable(code: &str, detail: impl Into<String>) -> Self {
        Self::problem(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }
    /// A 503: a service we depend on is missing or down; the request may work later.
    pub fn unavailable(code: &str, detail: impl Into<String>) -> Self {
        Self::problem(StatusCode::SERVICE_UNAVAILABLE, code, detail)
    }
    /// A 422 naming one field.
    pub fn invalid_field(code: &str, field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, format!("{field}: {message}"));
        p.errors.push(FieldError { field: field.to_owned(), message });
        p.into()
    }
    pub fn too_many(code: &str, detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, code, detail);
        p.retry_after_secs = Some(retry_after_secs);
        p.into()
    }

    /// Adds an extension member at the top level of the problem (never one of its own members).
    pub fn with(self, key: &str, value: impl Into<Value>) -> Self {
        debug_assert!(!["type", "title", "status", "code", "detail", "errors"].contains(&key), "{key} is reserved");
        match self {
            AppError::Problem(mut p) => {
                p.extra.insert(key.to_owned(), value.into());
                AppError::Problem(p)
            }
            other => other,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            AppError::Problem(p) => Some(&p.code),
            _ => None,
        }
    }

    pub fn to_problem(&self) -> Problem {
        match self {
            AppError::Problem(p) => (**p).clone(),
            AppError::Database(e) => database_problem(e),
            AppError::Unavailable(_) => database_unavailable(),
            AppError::Unexpected(_) => internal_error(),
        }
    }
}

fn internal_error() -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "an unexpected error occurred; it has been logged",
    )
}

fn database_problem(e: &diesel::result::Error) -> Problem {
    use diesel::result::{DatabaseErrorKind, Error as D};
    match e {
        D::NotFound => Problem::new(StatusCode::NOT_FOUND, "not_found", "not found"),
        D::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            Problem::new(StatusCode::CONFLICT, "conflict", "the request conflicts with data that already exists")
        }
        D::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
            let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "concurrent update; retry the request");
            p.retry_after_secs = Some(1);
            p
        }
        D::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => {
            database_unavailable()
        }
        D::DatabaseError(_, info) if connection_lost(info.message()) => database_unavailable(),
        // A transaction manager breaks when its connection is lost mid-transaction (the rollback
        // could not be sent): the pool drops that connection and the next one works.
        D::BrokenTransactionManager => database_unavailable(),
        // A commit that failed, then a rollback that failed too: the commit's error says why.
        D::RollbackErrorOnCommit { commit_error, .. } => database_problem(commit_error),
        _ => internal_error(),
    }
}

/// What PostgreSQL says to sessions it is ending (a restart, a failover, an operator's
/// `pg_terminate_backend`): the request may work on a new connection, so a 503, not a bug.
fn connection_lost(message: &str) -> bool {
    const SIGNS: [&str; 6] = [
        "terminating connection",
        "the database system is shutting down",
        "the database system is starting up",
        "server closed the connection",
        "no connection to the server",
        "connection to server",
    ];
    SIGNS.iter().any(|sign| message.contains(sign))
}

fn database_unavailable() -> Problem {
    let mut p = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database is not answering; retry shortly",
    );
    p.retry_after_secs = Some(2);
    p
}

/// Maps a unique-constraint violation to a domain error; everything else passes through.
pub fn on_unique_violation(err: diesel::result::Error, mapped: impl FnOnce() -> AppError) -> AppError {
    use diesel::result::{DatabaseErrorKind, Error as D};
    match err {
        D::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => mapped(),
        other => AppError::Database(other),
    }
}

/// A problem's `code` and the first refused field, carried on its response so that the access log
/// names why a request was refused (the body itself is never logged).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: String,
    pub field: Option<String>,
}

pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{\"code\":\"internal_error\"}".to_vec());
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"dongxi\""));
    }
    if let Some(secs) = problem.retry_after_secs {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    let field = problem.errors.first().map(|e| e.field.chars().take(64).collect());
    response.extensions_mut().insert(Refusal { code: problem.code.clone(), field });
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let problem = self.to_problem();
        if problem.status >= 500 {
            tracing::error!(error = %self, code = %problem.code, "request failed");
        }
        problem_response(&problem)
    }
}

/// Collects field errors so a client hears about every bad field at once.
#[derive(Default, Debug)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }
    pub fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.add(field, message);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `Ok` when nothing was added, otherwise a 422 with `code` listing every field.
    pub fn finish(self, code: &str) -> AppResult<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let detail = self.0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail);
        p.errors = self.0;
        Err(p.into())
    }
}

/// Says in the OpenAPI document what every operation does: each error it lists answers
/// `application/problem+json` with a [`Problem`], and a `default` response covers the statuses
/// it does not list (413, 429, 503 …), so a client or a schema checker knows every answer's shape.
pub fn document_problems(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let content = || ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
    for item in openapi.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.patch, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            for (status, response) in operation.responses.responses.iter_mut() {
                if let (RefOr::T(response), Some('4' | '5')) = (response, status.chars().next()) {
                    response.content.clear();
                    response.content.insert("application/problem+json".to_owned(), content());
                }
            }
            operation.responses.responses.entry("default".to_owned()).or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description("A problem (RFC 9457) with a stable `code`")
                        .content("application/problem+json", content())
                        .build(),
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::Error as D;

    #[test]
    fn a_connection_lost_mid_transaction_is_unavailable_not_a_bug() {
        let code = |e: D| AppError::Database(e).to_problem().code;
        assert_eq!(code(D::BrokenTransactionManager), "database_unavailable");
        let closed = || {
            D::DatabaseError(diesel::result::DatabaseErrorKind::ClosedConnection, Box::new("server closed".to_owned()))
        };
        let failed_commit =
            D::RollbackErrorOnCommit { rollback_error: Box::new(closed()), commit_error: Box::new(closed()) };
        assert_eq!(code(failed_commit), "database_unavailable", "the commit's cause decides");
        let odd_commit = D::RollbackErrorOnCommit {
            rollback_error: Box::new(closed()),
            commit_error: Box::new(D::QueryBuilderError("bad".into())),
        };
        assert_eq!(code(odd_commit), "internal_error");
        assert_eq!(code(D::NotFound), "not_found");
        assert_eq!(code(D::AlreadyInTransaction), "internal_error");
    }
}
