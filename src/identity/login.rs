//! Signing in with email and password, for the API and the dashboard's form alike: the same
//! throttle (10 failures in 15 minutes per email), the same constant work for unknown emails.

use super::password::{burn_verification_time, verify_password};
use super::service::{self, LoginResponse};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A new session for `email` and `password`; 401 `invalid_credentials`, 429 `too_many_attempts`.
pub async fn sign_in(state: &AppState, email: &str, password: String) -> AppResult<LoginResponse> {
    let email = service::parse_login_email(email)?;
    let now = state.clock.now_naive();
    let lookup_email = email.as_str().to_owned();
    let user = state.db.run(move |conn| service::login_lookup(conn, &lookup_email, now)).await?;
    let verified = tokio::task::spawn_blocking(move || match user {
        Some(user) if verify_password(&password, &user.password_hash) => Some(user),
        Some(_) => None,
        None => {
            burn_verification_time(&password);
            None
        }
    })
    .await
    .map_err(|e| AppError::Unexpected(anyhow::anyhow!("password check failed: {e}")))?;
    let ttl = state.config.session_ttl;
    let failed_email = email.as_str().to_owned();
    // A failure is committed before it is reported, so the throttle counts it.
    state
        .db
        .write(move |conn| match verified {
            Some(user) => service::login_succeeded(conn, user, now, ttl).map(Ok),
            None => service::login_failed(conn, &failed_email, now).map(Err),
        })
        .await?
}
