//! What every workplace page and form shares: who may open it, the form's guard, and a refused
//! action's field errors, shown beside the fields they concern.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::dashboard::session::{self, WebActor};
use crate::dashboard::web;
use crate::error::{AppError, AppResult, Violations};
use crate::identity::types::OrgKind;
use crate::notify::yuan;
use crate::payments::refund_requests::RefundRequestView;

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

/// Yuan as typed (`158`, `158.5`, `158.50`) to fen; `None` when empty.
pub fn fen_of(v: &mut Violations, field: &str, typed: &str) -> Option<i64> {
    let t = typed.trim();
    if t.is_empty() {
        return None;
    }
    let (int, dec) = t.split_once('.').unwrap_or((t, ""));
    let ok = !int.is_empty()
        && int.len() <= 9
        && int.chars().all(|c| c.is_ascii_digit())
        && dec.len() <= 2
        && dec.chars().all(|c| c.is_ascii_digit());
    if !ok {
        v.add(field, "金额请填写元，如 158 或 158.50");
        return None;
    }
    let int: i64 = int.parse().unwrap_or(0);
    let dec: i64 = format!("{dec:0<2}").parse().unwrap_or(0);
    Some(int * 100 + dec)
}

/// A posted form read as its pairs, for forms whose fields repeat (tier rows, document rows).
pub struct Pairs(Vec<(String, String)>);

impl Pairs {
    pub fn read(body: &[u8]) -> AppResult<Pairs> {
        read_form::<Vec<(String, String)>>(body).map(Pairs)
    }
    /// The first value of `name`, or empty.
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }
    /// Every value of `name`, in the form's order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// A whole number as typed, `None` when empty; a field error when it is not one.
pub fn int_of(v: &mut Violations, field: &str, typed: &str) -> Option<i64> {
    let t = typed.trim();
    if t.is_empty() {
        return None;
    }
    match t.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            v.add(field, "请填写整数");
            None
        }
    }
}

/// A refused form's errors keyed by the page's field names: the API's `price_fen` is the form's
/// `price`, and `tiers[1].price_fen` falls under `tiers`, said with its row (第 2 档).
pub fn form_fields(fields: BTreeMap<String, String>, renames: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (field, message) in fields {
        let (head, row) = match field.split_once('[') {
            Some((head, rest)) => (head.to_owned(), rest.split(']').next().and_then(|i| i.parse::<usize>().ok())),
            None => (field.clone(), None),
        };
        let name = renames.iter().find(|(api, _)| *api == head).map_or(head.as_str(), |(_, form)| *form).to_owned();
        let message = match row {
            Some(i) => format!("第 {} 行：{message}", i + 1),
            None => message,
        };
        out.entry(name).and_modify(|m: &mut String| m.push_str(&format!("；{message}"))).or_insert(message);
    }
    out
}

fn request_label(status: &str) -> &'static str {
    match status {
        "requested" => "待处理",
        "granted" => "已同意，已退款",
        "declined" => "未同意",
        _ => "—",
    }
}

/// One sub-order's refund requests as the pages show them, oldest first.
pub fn requests_json(requests: &[RefundRequestView], sub_id: &str, zone: chrono_tz::Tz) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.sub_order_id == sub_id)
        .map(|r| {
            json!({
                "id": r.id, "status": r.status, "status_label": request_label(&r.status), "open": r.status == "requested",
                "amount": yuan(r.amount_fen), "reason": r.reason, "requested_at": time(Some(r.requested_at), zone),
                "decided_at": time(r.decided_at, zone), "decline_reason": r.decline_reason,
            })
        })
        .collect()
}

/// A posted form of `kind`'s workplace, read as pairs once its sender may post it and its token
/// and origin are this page's.
pub fn posted(headers: &HeaderMap, who: &WebActor, kind: OrgKind, place: &str, body: &[u8]) -> AppResult<Pairs> {
    require_kind(who, kind, place)?;
    let form = Pairs::read(body)?;
    check_form(headers, who, form.get("csrf"))?;
    Ok(form)
}
