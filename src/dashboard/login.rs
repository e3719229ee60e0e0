//! `GET/POST /login` and `POST /logout`: the same sign-in (and throttle) as `POST /auth/login`,
//! leaving a session cookie instead of handing out a token.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::session::{self, MaybeWebActor, WebActor};
use super::web;
use crate::error::{AppError, AppResult};
use crate::identity::login::sign_in;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// The form, with a fresh double-submit token (kept when the browser already has one).
fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    next: &str,
    message: Option<&str>,
) -> AppResult<Response> {
    let token = session::cookie(headers, session::CSRF_COOKIE).unwrap_or_else(session::new_csrf_token);
    let html = web::render("login.html", &json!({ "csrf": token, "email": email, "next": next, "message": message }))?;
    let mut response = web::page(status, html);
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::csrf_cookie(&token, session::secure(&state.config, headers)));
    Ok(response)
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeWebActor(who): MaybeWebActor,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: NextQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let next = session::local_path(q.next.as_deref());
    if who.is_some() {
        return Redirect::to(&next).into_response();
    }
    web::respond(&headers, form_page(&state, &headers, StatusCode::OK, "", &next, None))
}

pub async fn submit(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let result = async {
        let form: LoginForm = serde_urlencoded::from_bytes(&body)
            .map_err(|e| AppError::bad_request("malformed_form", format!("the form is not readable: {e}")))?;
        let next = session::local_path(form.next.as_deref());
        let posted_token = session::cookie(&headers, session::CSRF_COOKIE);
        let token_ok = posted_token.as_deref().is_some_and(|t| session::same(t, &form.csrf));
        if !token_ok || !session::same_origin(&headers) {
            // A stale or forged form: refused without looking at the password; a browser gets a fresh form.
            if !web::wants_html(&headers) {
                return Err(AppError::forbidden_code(
                    "csrf_failed",
                    "the login form's token is missing or stale; load /login again",
                ));
            }
            let message = Some("页面已过期或来源不明，请重新登录。");
            return form_page(&state, &headers, StatusCode::FORBIDDEN, &form.email, &next, message);
        }
        match sign_in(&state, &form.email, form.password).await {
            Ok(login) => {
                let secure = session::secure(&state.config, &headers);
                let mut response = Redirect::to(&next).into_response();
                let ttl = state.config.session_ttl.as_secs();
                let h = response.headers_mut();
                h.append(header::SET_COOKIE, session::session_cookie(&login.token, ttl, secure));
                h.append(header::SET_COOKIE, session::clear_csrf_cookie(secure));
                Ok(response)
            }
            Err(AppError::Problem(p)) if web::wants_html(&headers) && matches!(p.status, 401 | 429) => {
                let message = if p.status == 429 { p.detail.clone() } else { "邮箱或密码不正确。".to_owned() };
                let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNAUTHORIZED);
                let mut response = form_page(&state, &headers, status, &form.email, &next, Some(&message))?;
                if let Some(secs) = p.retry_after_secs {
                    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                Ok(response)
            }
            Err(e) => Err(e),
        }
    }
    .await;
    web::respond(&headers, result)
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form: LogoutForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        if !session::same(&form.csrf, &session::form_token(&who.token)) || !session::same_origin(&headers) {
            return Err(AppError::forbidden_code(
                "csrf_failed",
                "the sign-out form's token is missing or wrong; sign out from the dashboard",
            ));
        }
        let actor = who.actor;
        state.db.write(move |c| crate::identity::service::logout(c, &actor)).await?;
        let secure = session::secure(&state.config, &headers);
        let mut response = Redirect::to("/login").into_response();
        response.headers_mut().append(header::SET_COOKIE, session::clear_session_cookie(secure));
        Ok(response)
    }
    .await;
    web::respond(&headers, result)
}
