//! What every workplace page and form shares: who may open it, the form's guard, and a refused
//! action's field errors, shown beside the fields they concern.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::dashboard::session::{self, WebActor};
use crate::dashboard::web;
use crate::error::{AppError, AppResult};
use crate::identity::types::OrgKind;

/// The workplace is its organisation kind's own: anyone else is refused with a readable page.
pub fn require_kind(who: &WebActor, kind: OrgKind, place: &str) -> AppResult<()> {
    if who.actor.org_kind == kind {
        return Ok(());
    }
    Err(AppError::forbidden(format!(
        "{place} is for {} organisations; your organisation is another kind",
        kind.as_str()
    )))
}

/// A posted form, or 400 `malformed_form`.
pub fn read_form<T: serde::de::DeserializeOwned>(body: &[u8]) -> AppResult<T> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| AppError::bad_request("malformed_form", format!("the form is not readable: {e}")))
}

/// A signed-in form must carry its page's token and come from this site.
pub fn check_form(headers: &HeaderMap, who: &WebActor, posted: &str) -> AppResult<()> {
    if !session::same(posted, &session::form_token(&who.token)) || !session::same_origin(headers) {
        return Err(AppError::forbidden_code(
            "csrf_failed",
            "the form's token is missing or stale; open the page again and resubmit",
        ));
    }
    Ok(())
}

/// The page's common context: the form token and the signed-in user.
pub fn base(who: &WebActor) -> Value {
    json!({
        "form_token": session::form_token(&who.token),
        "user_name": who.actor.name,
        "org_name": who.actor.org.name,
    })
}

/// A refusal a form can show beside its fields: `(message per field, the message for the rest)`.
/// Anything else (a state that moved on, not found, forbidden, a fault) is shown as the error page.
pub fn field_errors(err: &AppError) -> Option<(BTreeMap<String, String>, String)> {
    let problem = err.to_problem();
    if problem.status != 422 {
        return None;
    }
    let mut fields = BTreeMap::new();
    for e in &problem.errors {
        fields.entry(e.field.clone()).or_insert_with(|| e.message.clone());
    }
    Some((fields, problem.detail))
}

pub fn html(name: &str, status: StatusCode, context: &Value) -> AppResult<Response> {
    Ok(web::page(status, web::render(name, context)?))
}

/// A list page's query: a status (empty: all) and the cursor of the page.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub cursor: Option<String>,
}

/// A page's query string, or 400 `malformed_query`.
pub fn read_query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> AppResult<T> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| AppError::bad_request("malformed_query", format!("the query is not readable: {e}")))
}

pub fn list_query(raw: Option<&str>) -> AppResult<ListQuery> {
    let q: ListQuery = read_query(raw)?;
    Ok(ListQuery { status: q.status.filter(|s| !s.is_empty()), cursor: q.cursor })
}

/// A moment as the pages show it, in the deployment's zone; nothing for none.
pub fn time(at: Option<chrono::DateTime<chrono::Utc>>, zone: chrono_tz::Tz) -> String {
    at.map(|t| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

/// A sub-order's rating as stars and its comment.
pub fn rating(r: &crate::orders::view::RatingView) -> Value {
    json!({"stars": "★".repeat(r.stars.clamp(0, 5) as usize), "comment": r.comment})
}

/// A list page's status tabs, the chosen status's label and the next page's link.
pub fn list_context(
    context: &mut Value,
    path: &str,
    statuses: &[&'static str],
    label: fn(&str) -> &'static str,
    status: Option<&str>,
    next_cursor: Option<String>,
) {
    let chosen = status.unwrap_or("");
    let tabs: Vec<Value> = std::iter::once(("", "全部"))
        .chain(statuses.iter().map(|s| (*s, label(s))))
        .map(|(value, label)| json!({"value": value, "label": label, "selected": chosen == value}))
        .collect();
    context["tabs"] = tabs.into();
    context["status_label"] = status.map(label).unwrap_or("全部").into();
    context["next"] = next_cursor.map(|c| format!("{path}?status={chosen}&cursor={c}")).into();
}
