use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::prefs::{self, Preferences};
use crate::error::{AppError, AppResult, Problem};
use crate::http::auth::Authenticated;
use crate::http::extract::ApiJson;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_preferences, set_preferences))
}

/// Which kinds of mail the signed-in user receives. Security-relevant mail cannot be refused.
#[utoipa::path(get, path = "/me/mail-preferences", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = Preferences), (status = 401, body = Problem)))]
async fn get_preferences(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> AppResult<Json<Preferences>> {
    Ok(Json(state.db.run(move |c| prefs::of_user(c, &actor.user_id)).await?))
}

/// Sets the signed-in user's wishes, e.g. `{"digest": false, "order": true}`.
#[utoipa::path(put, path = "/me/mail-preferences", tag = "identity", security(("bearer" = [])),
    request_body(content = HashMap<String, bool>, description = "kind → subscribed"),
    responses((status = 200, body = Preferences), (status = 401, body = Problem),
        (status = 422, description = "validation_failed: an unknown kind, or refusing security-relevant mail", body = Problem)))]
async fn set_preferences(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(wishes): ApiJson<HashMap<String, bool>>,
) -> AppResult<Json<Preferences>> {
    let now = state.clock.now_naive();
    Ok(Json(state.db.write(move |c| prefs::update(c, &actor.user_id, &wishes, now)).await?))
}

/// The unsubscribe link's token, in the query or in a form body.
#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title></head><body style=\"font-family: sans-serif; max-width: 480px; margin: 48px auto; padding: 0 16px;\">\
         <h1 style=\"font-size: 20px;\">{title}</h1>{body}</body></html>"
    ))
    .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page a digest's unsubscribe link opens: it asks before it acts (link scanners follow links).
pub async fn unsubscribe_page(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> AppResult<Response> {
    let token = q.token.ok_or_else(|| AppError::not_found("unsubscribe link"))?;
    let t = token.clone();
    let (_, kind) = state.db.run(move |c| prefs::verify(c, &t)).await?;
    let name = prefs::kind_name(&kind);
    Ok(page(
        "退订邮件",
        &format!(
            "<p>不再接收“{name}”邮件？</p><form method=\"post\" action=\"/mail/unsubscribe\">\
             <input type=\"hidden\" name=\"token\" value=\"{}\"><button type=\"submit\">确认退订</button></form>",
            escape(&token)
        ),
    ))
}

/// Unsubscribes: the form above, or a mail client's one-click (RFC 8058: the token in the query).
pub async fn unsubscribe(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    // A form body (`token=…`, or a one-click client's `List-Unsubscribe=One-Click`); anything else in it is ignored.
    let form: TokenQuery = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let token = form.token.or(q.token).ok_or_else(|| AppError::not_found("unsubscribe link"))?;
    let now = state.clock.now_naive();
    let name = state.db.write(move |c| prefs::unsubscribe(c, &token, now)).await?;
    Ok(page("已退订", &format!("<p>您将不再收到“{name}”邮件。可以随时在账号设置中重新订阅。</p>")))
}
