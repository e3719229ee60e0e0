//! The dashboard's session cookie and the tokens that guard its forms.
//!
//! The cookie holds a session token like the API's bearer tokens (stored only as a hash, dying
//! at logout or expiry). The login form carries a double-submit token: a random value set as a
//! cookie and echoed in the form, which another site can neither read nor set. Signed-in forms
//! carry a value derived from the session token, which only our own pages know.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HOST};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::AppError;
use crate::identity::Actor;
use crate::identity::actor::actor_for_token;
use crate::identity::password::token_hash;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "dongxi_session";
pub const CSRF_COOKIE: &str = "dongxi_csrf";
/// How long a login form stays good.
const CSRF_MAX_AGE_SECS: u64 = 2 * 3600;

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `Secure` cookies when the public address is HTTPS or a TLS-terminating proxy says so.
pub fn secure(config: &Config, headers: &HeaderMap) -> bool {
    config.public_url.starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn set_cookie(name: &str, value: &str, max_age_secs: u64, same_site: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite={same_site}{secure}");
    // Values are base64url and digits only, so the header is always valid.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("dongxi_invalid=; Max-Age=0"))
}

pub fn session_cookie(token: &str, ttl_secs: u64, secure: bool) -> HeaderValue {
    set_cookie(SESSION_COOKIE, token, ttl_secs, "Lax", secure)
}

pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    set_cookie(SESSION_COOKIE, "", 0, "Lax", secure)
}

pub fn csrf_cookie(token: &str, secure: bool) -> HeaderValue {
    set_cookie(CSRF_COOKIE, token, CSRF_MAX_AGE_SECS, "Strict", secure)
}

pub fn clear_csrf_cookie(secure: bool) -> HeaderValue {
    set_cookie(CSRF_COOKIE, "", 0, "Strict", secure)
}

pub fn new_csrf_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The token signed-in forms carry: derived from the session token, useless without it.
pub fn form_token(session_token: &str) -> String {
    let digest = Sha256::digest(format!("dongxi form\n{session_token}").as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..18])
}

/// Compares without leaking, through timing, how much of a guess was right.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where to go after signing in: a path on this site only, never another host.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.contains(['\r', '\n']) => {
            p.to_owned()
        }
        _ => "/dashboard".to_owned(),
    }
}

/// The signed-in user of a page and their session token; anyone else is sent to `/login`.
pub struct WebActor {
    pub actor: Actor,
    pub token: String,
}

async fn resolve(parts: &Parts, state: &AppState) -> Result<Option<WebActor>, AppError> {
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else { return Ok(None) };
    let hash = token_hash(&token);
    let now = state.clock.now_naive();
    let actor = state.db.run(move |conn| actor_for_token(conn, &hash, now)).await?;
    Ok(actor.map(|actor| WebActor { actor, token }))
}

impl FromRequestParts<AppState> for WebActor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match resolve(parts, state).await {
            Ok(Some(actor)) => Ok(actor),
            Ok(None) => {
                let here = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/dashboard");
                let target = format!("/login?next={}", urlencode(here));
                let mut response = Redirect::to(&target).into_response();
                if cookie(&parts.headers, SESSION_COOKIE).is_some() {
                    let secure = secure(&state.config, &parts.headers);
                    response.headers_mut().insert(axum::http::header::SET_COOKIE, clear_session_cookie(secure));
                }
                Err(response)
            }
            Err(e) => Err(super::web::error_page(&parts.headers, e)),
        }
    }
}

/// The signed-in user, when there is one (the login page sends them on).
pub struct MaybeWebActor(pub Option<WebActor>);

impl FromRequestParts<AppState> for MaybeWebActor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        resolve(parts, state).await.map(MaybeWebActor).map_err(|e| super::web::error_page(&parts.headers, e))
    }
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|v| v.trim_start_matches('=').to_owned()).unwrap_or_default()
}

/// Forms posted from another origin are refused even before their tokens are read. (A browser
/// that hides the origin sends none or `null`; then the token alone decides.)
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else { return true };
    if origin == "null" {
        return true;
    }
    let host = headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    origin.split_once("://").map(|(_, rest)| rest) == Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path(Some("/dashboard?year=2021")), "/dashboard?year=2021");
        assert_eq!(local_path(Some("//evil.example/x")), "/dashboard");
        assert_eq!(local_path(Some("https://evil.example/")), "/dashboard");
        assert_eq!(local_path(Some("/\\evil.example")), "/dashboard");
        assert_eq!(local_path(None), "/dashboard");
    }

    #[test]
    fn cookies_are_read_from_every_header() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; dongxi_session=abc"));
        h.append(COOKIE, HeaderValue::from_static("dongxi_csrf=xyz"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, CSRF_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn form_tokens_differ_by_session_and_compare_exactly() {
        assert_ne!(form_token("one"), form_token("two"));
        assert!(same(&form_token("one"), &form_token("one")));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
