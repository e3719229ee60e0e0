//! The agency's workplace, following orders: `/agency` (what waits on the unit: payment,
//! acceptance; and, for its administrators, the unit's own progress against its reserved share),
//! the orders by state, and one order whose delivered sub-orders are accepted (验收) and rated
//! here, through the same services as the API.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Datelike;
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{
    base, check_form, fen_of, field_errors, html, list_context, list_query, posted, rating, read_form, require_kind,
    time,
};
use crate::accounting::filings;
use crate::accounting::progress;
use crate::accounting::scope::{self, ScopeKind};
use crate::accounting::span::Span;
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::error::{AppError, AppResult, Violations};
use crate::http::pagination::Paged;
use crate::idempotency;
use crate::identity::types::OrgKind;
use crate::notify::yuan;
use crate::orders::lifecycle;
use crate::orders::listing::{self, OrderListQuery};
use crate::orders::state::{OrderStatus, order_label, sub_order_label};
use crate::orders::types::{AcceptBody, RatingBody};
use crate::orders::view::OrderView;
use crate::payments::refund_requests::{self, RefundRequestBody, RefundRequestView};
use crate::state::AppState;

const PLACE: &str = "the agency workplace";

fn order_json(o: &OrderView, zone: chrono_tz::Tz, requests: &[RefundRequestView]) -> Value {
    let status = o.status.as_str();
    json!({
        "id": o.id,
        "status": status,
        "status_label": order_label(status),
        "total": yuan(o.total_fen),
        "refunded": if o.refunded_fen > 0 { yuan(o.refunded_fen) } else { String::new() },
        "created_at": time(Some(o.created_at), zone),
        "paid_at": time(o.paid_at, zone),
        "delivery": o.delivery,
        "note": o.note,
        "to_accept": o.sub_orders.iter().filter(|s| s.status.as_str() == "shipped").count(),
        "sub_orders": o.sub_orders.iter().map(|s| {
            let st = s.status.as_str();
            let shown = super::forms::requests_json(requests, &s.id, zone);
            let open = requests.iter().any(|r| r.sub_order_id == s.id && r.status == "requested");
            let refundable = s.total_fen - s.refunded_fen;
            json!({
                "id": s.id, "producer": s.producer_name, "status": st, "status_label": sub_order_label(st),
                "total": yuan(s.total_fen),
                "carrier": s.carrier, "tracking_no": s.tracking_no, "invoice_no": s.invoice_no,
                "shipped_at": time(s.shipped_at, zone), "accepted_at": time(s.accepted_at, zone),
                "acceptance_note": s.acceptance_note,
                "can_accept": st == "shipped",
                "can_rate": st == "accepted" && s.rating.is_none(),
                "rating": s.rating.as_ref().map(rating),
                "requests": shown,
                "can_ask_refund": matches!(st, "awaiting_shipment" | "shipped" | "accepted") && !open && refundable > 0,
                "refundable": yuan(refundable),
                "lines": o.lines.iter().filter(|l| l.sub_order_id == s.id).map(|l| json!({
                    "product": l.product_name, "spec": l.spec, "unit": l.unit, "quantity": l.quantity,
                    "unit_price": yuan(l.unit_price_fen), "subtotal": yuan(l.subtotal_fen),
                })).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    })
}

/// `GET /agency`: orders waiting on the unit, and its own progress (administrators).
pub async fn home(State(state): State<AppState>, headers: HeaderMap, who: WebActor) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        let (ctx, zone) = (state.ctx(), state.config.timezone);
        let year = ctx.now.and_utc().with_timezone(&zone).year();
        let actor = who.actor.clone();
        let (waiting, progress, filing) = state
            .db
            .read(move |c| {
                let mut waiting = Vec::new();
                for status in ["pending_payment", "paid"] {
                    let q = OrderListQuery { status: Some(status.into()), limit: Some(20), ..Default::default() };
                    let page = q.page()?;
                    waiting.extend(listing::list(c, &actor, q, &page, &ctx)?.items);
                }
                // Its own figures are the administrators' (as on the dashboard).
                let own = scope::resolve(c, ScopeKind::Org, &actor.org.id)?;
                let progress = if scope::may_see(&actor, &own) {
                    Some(progress::progress(c, &own, &Span::year(year), None, &ctx)?)
                } else {
                    None
                };
                let filing = match filings::get(c, &actor, &actor.org.id, year) {
                    Ok(f) => Some(f),
                    Err(e) if e.code() == Some("not_found") || e.code() == Some("forbidden") => None,
                    Err(e) => return Err(e),
                };
                Ok((waiting, progress, filing))
            })
            .await?;
        let mut context = base(&who);
        context["year"] = year.into();
        let waiting: Vec<Value> = waiting
            .iter()
            .filter(|o| {
                o.status.as_str() == "pending_payment" || o.sub_orders.iter().any(|s| s.status.as_str() == "shipped")
            })
            .map(|o| order_json(o, zone, &[]))
            .collect();
        context["waiting"] = waiting.into();
        context["progress"] = progress
            .map(|p| {
                json!({
                    "target": p.target_fen.map(yuan), "counted": yuan(p.counted_fen), "counted_fen": p.counted_fen,
                    "ratio": p.ratio.map(|r| format!("{:.1}%", r * 100.0)),
                    "expected": p.expected_to_date_fen.map(yuan), "projected": yuan(p.projected_year_end_fen),
                    "status": format!("{:?}", p.status), "status_label": p.status.label(),
                })
            })
            .into();
        context["filing"] = filing
            .map(|f| json!({"status": f.status, "target": f.target_fen.map(yuan), "return_reason": f.return_reason}))
            .into();
        html("agency_home.html", StatusCode::OK, &context)
    }
    .await;
    web::respond(&headers, result)
}

/// `GET /agency/orders?status=&cursor=`: the unit's orders, newest first.
pub async fn orders(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        let q = list_query(raw.as_deref())?;
        let (ctx, zone, actor) = (state.ctx(), state.config.timezone, who.actor.clone());
        let list_q =
            OrderListQuery { status: q.status.clone(), limit: Some(50), cursor: q.cursor, ..Default::default() };
        let page = list_q.page()?;
        let found = state.db.read(move |c| listing::list(c, &actor, list_q, &page, &ctx)).await?;
        let mut context = base(&who);
        context["items"] = found.items.iter().map(|o| order_json(o, zone, &[])).collect::<Vec<_>>().into();
        list_context(
            &mut context,
            "/agency/orders",
            &OrderStatus::ALL,
            order_label,
            q.status.as_deref(),
            found.next_cursor,
        );
        html("agency_orders.html", StatusCode::OK, &context)
    }
    .await;
    web::respond(&headers, result)
}

/// The order's page; with a refused form, what was typed and its errors, under that sub-order.
fn order_page(
    who: &WebActor,
    (o, requests): &(OrderView, Vec<RefundRequestView>),
    zone: chrono_tz::Tz,
    refused: Option<(&str, Value)>,
) -> AppResult<Response> {
    let mut context = base(who);
    context["o"] = order_json(o, zone, requests);
    context["key"] = crate::ids::new_id("rk").into();
    let status = match refused {
        Some((sub_id, form)) => {
            context["refused"] = json!({"sub_order_id": sub_id, "form": form});
            StatusCode::UNPROCESSABLE_ENTITY
        }
        None => StatusCode::OK,
    };
    html("agency_order.html", status, &context)
}

/// The unit's order and the refund requests of its sub-orders.
async fn own_order(state: &AppState, who: &WebActor, id: String) -> AppResult<(OrderView, Vec<RefundRequestView>)> {
    require_kind(who, OrgKind::Agency, PLACE)?;
    let actor = who.actor.clone();
    state.db.read(move |c| Ok((listing::get(c, &actor, &id)?, refund_requests::of_order(c, &actor, &id)?))).await
}

/// `GET /agency/orders/{id}`.
pub async fn order(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let o = own_order(&state, &who, id).await?;
        order_page(&who, &o, state.config.timezone, None)
    }
    .await;
    web::respond(&headers, result)
}

#[derive(Debug, Default, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct RatingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    stars: String,
    #[serde(default)]
    comment: String,
}

/// After an action on a sub-order: back to its order's page, or that page with the form's errors.
async fn after(
    state: &AppState,
    who: &WebActor,
    sub_id: &str,
    done: AppResult<String>,
    typed: Value,
) -> AppResult<Response> {
    match done {
        Ok(order_id) => Ok(Redirect::to(&format!("/agency/orders/{order_id}")).into_response()),
        Err(e) => {
            let Some((fields, detail)) = field_errors(&e) else { return Err(e) };
            let actor = who.actor.clone();
            let sub = sub_id.to_owned();
            let order_id =
                state.db.read(move |c| Ok(listing::get_sub_order(c, &actor, &sub)?.sub_order.order_id)).await?;
            let o = own_order(state, who, order_id).await?;
            let form = json!({"typed": typed, "fields": fields, "detail": detail});
            order_page(who, &o, state.config.timezone, Some((sub_id, form)))
        }
    }
}

/// `POST /agency/sub-orders/{id}/accept`: 验收, as `POST /api/v1/sub-orders/{id}/accept`.
pub async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        let form: AcceptForm = read_form(&body)?;
        check_form(&headers, &who, &form.csrf)?;
        let note = Some(form.note.trim().to_owned()).filter(|n| !n.is_empty());
        let (ctx, actor, sub) = (state.ctx(), who.actor.clone(), id.clone());
        let done = state
            .db
            .write(move |c| Ok(lifecycle::accept(c, &actor, &sub, AcceptBody { note }, &ctx)?.sub_order.order_id))
            .await;
        after(&state, &who, &id, done, json!({"note": form.note})).await
    }
    .await;
    web::respond(&headers, result)
}

/// `POST /agency/sub-orders/{id}/rating`: 1 to 5 stars and a comment, as the API's rating.
pub async fn rate(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        let form: RatingForm = read_form(&body)?;
        check_form(&headers, &who, &form.csrf)?;
        let typed = json!({"stars": form.stars, "comment": form.comment});
        let stars = match form.stars.trim().parse::<i32>() {
            Ok(n) => n,
            Err(_) => {
                let e = AppError::invalid_field("validation_failed", "stars", "choose 1 to 5 stars");
                return after(&state, &who, &id, Err(e), typed).await;
            }
        };
        let comment = Some(form.comment.trim().to_owned()).filter(|c| !c.is_empty());
        let (ctx, actor, sub) = (state.ctx(), who.actor.clone(), id.clone());
        let done = state
            .db
            .write(move |c| {
                lifecycle::rate(c, &actor, &sub, RatingBody { stars, comment }, &ctx)?;
                Ok(listing::get_sub_order(c, &actor, &sub)?.sub_order.order_id)
            })
            .await;
        after(&state, &who, &id, done, typed).await
    }
    .await;
    web::respond(&headers, result)
}

/// `POST /agency/sub-orders/{id}/refund-request`: ask the producer for a refund (amount in yuan,
/// a reason), as `POST /api/v1/sub-orders/{id}/refund-requests`, under the form's idempotency key.
pub async fn ask_refund(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = posted(&headers, &who, OrgKind::Agency, PLACE, &body)?;
        let typed = json!({"amount": form.get("amount"), "reason": form.get("reason")});
        let mut v = Violations::new();
        let amount_fen = fen_of(&mut v, "amount_fen", form.get("amount"));
        v.check(amount_fen.is_some() || !v.is_empty(), "amount_fen", "请填写退款金额");
        let key = form.get("key").trim().to_owned();
        v.check(
            (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()),
            "key",
            "the form is stale: open the order again",
        );
        let done = match v.finish("validation_failed") {
            Err(e) => Err(e),
            Ok(()) => {
                let request =
                    RefundRequestBody { amount_fen: amount_fen.unwrap_or_default(), reason: form.get("reason").into() };
                let fingerprint =
                    idempotency::fingerprint("POST", &format!("/agency/sub-orders/{id}/refund-request"), &typed);
                let (ctx, actor, sub) = (state.ctx(), who.actor.clone(), id.clone());
                let org = actor.org.id.clone();
                state
                    .db
                    .run(move |c| {
                        idempotency::run_in(
                            c,
                            &org,
                            Some(&format!("refund-request:{key}")),
                            &fingerprint,
                            ctx.now,
                            |c| idempotency::created(&refund_requests::ask(c, &actor, &sub, request, &ctx)?),
                        )
                    })
                    .await
                    .map(|stored| stored.body["order_id"].as_str().unwrap_or_default().to_owned())
            }
        };
        after(&state, &who, &id, done, typed).await
    }
    .await;
    web::respond(&headers, result)
}
