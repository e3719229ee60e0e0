//! `Authenticated`: the bearer token's actor, or 401.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::AppError;
use crate::identity::Actor;
use crate::identity::actor::actor_for_token;
use crate::identity::password::token_hash;
use crate::state::AppState;

pub struct Authenticated(pub Actor);

fn bearer(parts: &Parts) -> Result<Option<&str>, AppError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| AppError::unauthenticated("the Authorization header is not readable"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AppError::unauthenticated("use Authorization: Bearer <token>"));
    }
    Ok(Some(token.trim()))
}

async fn resolve(parts: &Parts, state: &AppState) -> Result<Option<Actor>, AppError> {
    let Some(token) = bearer(parts)? else { return Ok(None) };
    let hash = token_hash(token);
    let now = state.clock.now_naive();
    let actor = state.db.run(move |conn| actor_for_token(conn, &hash, now)).await?;
    actor.map(Some).ok_or_else(|| AppError::unauthenticated("the token is unknown, expired or signed out"))
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        resolve(parts, state)
            .await?
            .map(Authenticated)
            .ok_or_else(|| AppError::unauthenticated("sign in and send Authorization: Bearer <token>"))
    }
}

/// For public endpoints that show more to a signed-in caller; a bad token is still 401.
pub struct MaybeAuthenticated(pub Option<Actor>);

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeAuthenticated(resolve(parts, state).await?))
    }
}
