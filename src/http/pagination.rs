//! Cursor lists: `{items, next_cursor}` with `limit` (default 50, max 200) and an opaque `cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{AppError, AppResult};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated page request: how many and after which sort key.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<String>,
}

/// A list's query: its `limit` and `cursor`, checked into a [`PageRequest`] by [`Paged::page`].
/// Query types with those two fields get it from [`paged!`](crate::paged).
pub trait Paged {
    fn limit(&self) -> Option<i64>;
    fn cursor(&self) -> Option<&str>;

    /// 422 `validation_failed` for a limit outside 1 to 200 or a cursor this API did not issue.
    fn page(&self) -> AppResult<PageRequest> {
        let limit = self.limit().unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::invalid_field("validation_failed", "limit", "must be between 1 and 200"));
        }
        let after = match self.cursor() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c)?),
        };
        Ok(PageRequest { limit, after })
    }
}

/// Implements [`Paged`] for query types with `limit: Option<i64>` and `cursor: Option<String>`.
#[macro_export]
macro_rules! paged {
    ($($query:ty),* $(,)?) => {
        $(impl $crate::http::pagination::Paged for $query {
            fn limit(&self) -> Option<i64> {
                self.limit
            }
            fn cursor(&self) -> Option<&str> {
                self.cursor.as_deref()
            }
        })*
    };
}

paged!(PageQuery);

fn decode_cursor(cursor: &str) -> AppResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| AppError::invalid_field("validation_failed", "cursor", "is not a cursor this API issued"))
}

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in key order: the extra row only
    /// tells that another page exists.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        request: &PageRequest,
        key: impl Fn(&R) -> String,
        view: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(request.limit as usize);
        let next_cursor = if more { rows.last().map(|r| encode_cursor(&key(r))) } else { None };
        Page { items: rows.into_iter().map(view).collect(), next_cursor }
    }
}
