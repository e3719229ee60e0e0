//! `Idempotency-Key`: the first response to a creating request is stored with its effect, in the
//! same transaction, under (organisation, key). The same key with the same request replays that
//! response; with a different request it is refused (422 `idempotency_key_reused`).
//!
//! Only successes are stored: a request that failed changed nothing, so repeating it simply
//! runs it again (it may succeed now that, say, stock has been added).

use std::collections::{BTreeSet, HashSet};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::schema::idempotency_keys as k;
use crate::db::sql::{self, Bind, Statement};
use crate::db::{Db, DbConn, write_tx};
use crate::error::{AppError, AppResult};

pub const HEADER: &str = "idempotency-key";
/// Keys are kept at least this long (API.md promises 24 h).
pub const RETENTION_HOURS: i64 = 72;
const RACE: &str = "idempotency_race";
const API_BASE: &str = "/api/v1";

/// The `Idempotency-Key` header, if sent (1 to 255 visible ASCII characters), with the method
/// and path of the request it came with: what [`IdempotencyKey::fingerprint`] identifies a
/// request by, so no handler writes its own path out again.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    key: Option<String>,
    method: String,
    /// The path under the API's base (`/orders/ord_…/payments/offline`).
    path: String,
}

impl IdempotencyKey {
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What identifies "the same request": this method and path, and `body`.
    pub fn fingerprint(&self, body: &impl serde::Serialize) -> String {
        fingerprint(&self.method, &self.path, &serde_json::to_value(body).unwrap_or_default())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Inside the API's router the base is already stripped; the strip keeps it so elsewhere.
        let path = parts.uri.path();
        let path = path.strip_prefix(API_BASE).filter(|p| p.starts_with('/')).unwrap_or(path).to_owned();
        let method = parts.method.as_str().to_owned();
        let Some(value) = parts.headers.get(HEADER) else { return Ok(IdempotencyKey { key: None, method, path }) };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|s| (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
        match key {
            Some(k) => Ok(IdempotencyKey { key: Some(k.to_owned()), method, path }),
            None => Err(AppError::invalid_field(
                "validation_failed",
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )),
        }
    }
}

/// What identifies "the same request": method, path and the JSON body (keys in sorted order).
pub fn fingerprint(method: &str, path: &str, body: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.to_string().as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON response that may be the replay of a stored one.
#[derive(Debug)]
pub struct Stored {
    pub status: StatusCode,
    pub body: Value,
    pub replayed: bool,
}

impl IntoResponse for Stored {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if self.replayed {
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }
}

fn lookup(conn: &mut DbConn, org_id: &str, key: &str) -> AppResult<Option<(String, i32, String)>> {
    Ok(k::table
        .filter(k::org_id.eq(org_id))
        .filter(k::key.eq(key))
        .select((k::fingerprint, k::status_code, k::response))
        .first(conn)
        .optional()?)
}

fn replay(stored: (String, i32, String), fingerprint: &str) -> AppResult<Stored> {
    let (stored_fingerprint, status, body) = stored;
    if stored_fingerprint != fingerprint {
        return Err(AppError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request; use a new key for a new request",
        ));
    }
    Ok(Stored {
        status: StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK),
        body: serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("stored response unreadable: {e}"))?,
        replayed: true,
    })
}

/// Runs `op` in one write transaction. With a key, the response is stored beside the effect, and
/// a repeat returns it without running `op` again. Two concurrent requests with one key: the
/// second waits on the key's row and then replays the first.
pub fn run_in(
    conn: &mut DbConn,
    org_id: &str,
    key: Option<&str>,
    fingerprint: &str,
    now: NaiveDateTime,
    op: impl FnOnce(&mut DbConn) -> AppResult<(StatusCode, Value)>,
) -> AppResult<Stored> {
    let Some(key) = key else {
        let (status, body) = write_tx(conn, op)?;
        return Ok(Stored { status, body, replayed: false });
    };
    let outcome = write_tx(conn, |conn| {
        if let Some(stored) = lookup(conn, org_id, key)? {
            return replay(stored, fingerprint);
        }
        // Claim the key first: a concurrent twin blocks here until this transaction ends.
        diesel::insert_into(k::table)
            .values((
                k::org_id.eq(org_id),
                k::key.eq(key),
                k::fingerprint.eq(fingerprint),
                k::status_code.eq(0),
                k::response.eq(""),
                k::created_at.eq(now),
            ))
            .execute(conn)
            .map_err(|e| crate::error::on_unique_violation(e, || AppError::conflict(RACE, "key in use")))?;
        let (status, body) = op(conn)?;
        diesel::update(k::table.filter(k::org_id.eq(org_id)).filter(k::key.eq(key)))
            .set((k::status_code.eq(status.as_u16() as i32), k::response.eq(body.to_string())))
            .execute(conn)?;
        Ok(Stored { status, body, replayed: false })
    });
    match outcome {
        Err(e) if e.code() == Some(RACE) => {
            let stored = lookup(conn, org_id, key)?
                .ok_or_else(|| AppError::conflict("idempotency_conflict", "a request with this key is in progress"))?;
            replay(stored, fingerprint)
        }
        other => other,
    }
}

/// A response to store under its key, for requests done together in one transaction.
pub struct Fresh {
    pub org_id: String,
    pub key: String,
    pub fingerprint: String,
    pub status: StatusCode,
    pub body: Value,
}

/// Which of these (organisation, key) pairs are stored already. A batch runs the requests
/// whose key is, and those with a key twice, alone through [`run_in`], which replays them.
pub fn stored_among(conn: &mut DbConn, wanted: &[(&str, &str)]) -> AppResult<HashSet<(String, String)>> {
    if wanted.is_empty() {
        return Ok(HashSet::new());
    }
    let orgs: BTreeSet<&str> = wanted.iter().map(|(o, _)| *o).collect();
    let keys: BTreeSet<&str> = wanted.iter().map(|(_, k)| *k).collect();
    let found: Vec<(String, String)> =
        k::table.filter(k::org_id.eq_any(orgs)).filter(k::key.eq_any(keys)).select((k::org_id, k::key)).load(conn)?;
    Ok(found.into_iter().filter(|(o, key)| wanted.contains(&(o.as_str(), key.as_str()))).collect())
}

/// The statement that stores the responses of a batch (returning one row each). A key another
/// process stored since [`stored_among`] looked fails it (a unique violation), and the batch
/// rolls back.
pub fn store_many_statement(fresh: &[Fresh], now: NaiveDateTime) -> Statement {
    const COLUMNS: [&str; 6] = ["org_id", "key", "fingerprint", "status_code", "response", "created_at"];
    let mut binds = Vec::with_capacity(fresh.len() * COLUMNS.len());
    for f in fresh {
        binds.extend([
            Bind::from(f.org_id.clone()),
            f.key.clone().into(),
            f.fingerprint.clone().into(),
            i32::from(f.status.as_u16()).into(),
            f.body.to_string().into(),
            now.into(),
        ]);
    }
    Statement { sql: sql::insert_sql("idempotency_keys", &COLUMNS, fresh.len(), ""), binds }
}

/// The stored response for this key, if any (422 if it was used for another request): for
/// requests that must not even start their outside effect (a call to Stripe) when replayed.
pub async fn stored(db: &Db, org_id: &str, key: &IdempotencyKey, fingerprint: &str) -> AppResult<Option<Stored>> {
    let Some(key) = key.key.clone() else { return Ok(None) };
    let (org_id, fingerprint) = (org_id.to_owned(), fingerprint.to_owned());
    db.run(move |conn| lookup(conn, &org_id, &key)?.map(|row| replay(row, &fingerprint)).transpose()).await
}

/// [`run_in`] on a pooled connection, off the async runtime.
pub async fn run<F>(
    db: &Db,
    org_id: String,
    key: IdempotencyKey,
    fingerprint: String,
    now: NaiveDateTime,
    op: F,
) -> AppResult<Stored>
where
    F: FnOnce(&mut DbConn) -> AppResult<(StatusCode, Value)> + Send + 'static,
{
    db.run(move |conn| run_in(conn, &org_id, key.key(), &fingerprint, now, op)).await
}

/// Forgets keys older than the retention; returns how many.
pub fn sweep(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<usize> {
    let cutoff = now - chrono::Duration::hours(RETENTION_HOURS);
    Ok(diesel::delete(k::table.filter(k::created_at.lt(cutoff))).execute(conn)?)
}

/// Serialises a view for storage and reply.
pub fn created<T: serde::Serialize>(view: &T) -> AppResult<(StatusCode, Value)> {
    Ok((StatusCode::CREATED, serde_json::to_value(view).map_err(|e| anyhow::anyhow!("serialise response: {e}"))?))
}

#[cfg(test)]
mod tests {
    use axum::extract::FromRequestParts;
    use serde_json::json;

    use super::{IdempotencyKey, fingerprint};

    async fn key_of(uri: &str) -> IdempotencyKey {
        let request = axum::http::Request::post(uri).header("idempotency-key", "k-1").body(()).unwrap();
        let (mut parts, ()) = request.into_parts();
        IdempotencyKey::from_request_parts(&mut parts, &()).await.unwrap()
    }

    /// Keys stored before the extractor took the path keep replaying: the fingerprint is the one
    /// handlers used to write out (method, the path under the API's base, the body).
    #[tokio::test]
    async fn the_extractor_fingerprints_method_path_and_body() {
        let body = json!({"amount_fen": 100, "reference": "x"});
        let expected = fingerprint("POST", "/orders/ord_1/payments/offline", &body);
        for uri in ["/orders/ord_1/payments/offline", "/api/v1/orders/ord_1/payments/offline"] {
            let key = key_of(uri).await;
            assert_eq!(key.key(), Some("k-1"));
            assert_eq!(key.fingerprint(&body), expected, "{uri}");
        }
        assert_ne!(key_of("/orders/ord_2/payments/offline").await.fingerprint(&body), expected, "another order");
    }

    #[test]
    fn fingerprints_ignore_key_order_but_not_content() {
        let a = fingerprint("POST", "/api/v1/orders", &json!({"lines": [1], "note": "x"}));
        let b = fingerprint("POST", "/api/v1/orders", &serde_json::from_str(r#"{"note":"x","lines":[1]}"#).unwrap());
        assert_eq!(a, b);
        assert_ne!(a, fingerprint("POST", "/api/v1/orders", &json!({"lines": [2], "note": "x"})));
        assert_ne!(a, fingerprint("POST", "/api/v1/other", &json!({"lines": [1], "note": "x"})));
    }
}
