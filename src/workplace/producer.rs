//! The producer's workplace: `/producer` (what waits to be shipped, the money), the sub-orders
//! by state, one sub-order with its ship form and its packing list, and statements.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{
    base, check_form, field_errors, html, list_context, list_query, rating, read_form, read_query, require_kind, time,
};
use crate::accounting::export;
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::error::{AppError, AppResult};
use crate::http::pagination::Paged;
use crate::identity::types::OrgKind;
use crate::notify::yuan;
use crate::orders::lifecycle;
use crate::orders::listing::{self, SubOrderListQuery};
use crate::orders::state::{SubOrderStatus, sub_order_label};
use crate::orders::types::{ShipBody, Shipment};
use crate::orders::view::SubOrderDetail;
use crate::payments::refund_requests::{self, RefundRequestListQuery, RefundRequestView};
use crate::settlement::view::{self as settlement, SettlementListQuery};
use crate::state::AppState;

const PLACE: &str = "the producer workplace";

fn settlement_label(status: &str) -> &'static str {
    match status {
        "scheduled" => "待付款",
        "paying" => "付款中",
        "paid" => "已到账",
        "cancelled" => "已取消",
        _ => "—",
    }
}

/// A sub-order as the pages show it.
fn sub_order_json(d: &SubOrderDetail, zone: chrono_tz::Tz) -> Value {
    let s = &d.sub_order;
    let status = s.status.as_str();
    json!({
        "id": s.id,
        "order_id": s.order_id,
        "status": status,
        "status_label": sub_order_label(status),
        "can_ship": status == "awaiting_shipment",
        "buyer": d.buyer_org_name,
        "total": yuan(s.total_fen),
        "refunded": if s.refunded_fen > 0 { yuan(s.refunded_fen) } else { String::new() },
        "carrier": s.carrier, "tracking_no": s.tracking_no, "invoice_no": s.invoice_no,
        "acceptance_note": s.acceptance_note,
        "created_at": time(Some(s.created_at), zone),
        "shipped_at": time(s.shipped_at, zone),
        "accepted_at": time(s.accepted_at, zone),
        "rating": s.rating.as_ref().map(rating),
        "delivery": d.delivery,
        "note": d.note,
        "quantity": d.lines.iter().map(|l| l.quantity).sum::<i64>(),
        "lines": d.lines.iter().map(|l| json!({
            "product": l.product_name, "spec": l.spec, "unit": l.unit, "quantity": l.quantity,
            "unit_price": yuan(l.unit_price_fen), "subtotal": yuan(l.subtotal_fen), "certificate_no": l.certificate_no,
        })).collect::<Vec<_>>(),
    })
}

/// `GET /producer`: what waits to be shipped, and the money (balance, latest statements).
pub async fn home(State(state): State<AppState>, headers: HeaderMap, who: WebActor) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Producer, PLACE)?;
        let (ctx, zone, delay) = (state.ctx(), state.config.timezone, state.config.settle.delay_days);
        let actor = who.actor.clone();
        let (waiting, balance, statements, refunds) = state
            .db
            .read(move |c| {
                let q = SubOrderListQuery { status: Some("awaiting_shipment".into()), limit: Some(10), ..Default::default() };
                let page = q.page()?;
                let waiting = listing::list_sub_orders(c, &actor, q, &page, &ctx)?;
                let balance = settlement::balance(c, &actor, &actor.org.id, delay, &ctx)?;
                let q = SettlementListQuery { limit: Some(10), ..Default::default() };
                let page = q.page()?;
                let statements = settlement::list(c, &actor, q, &page)?;
                let q = RefundRequestListQuery { status: Some("requested".into()), limit: Some(50), ..Default::default() };
                let page = q.page()?;
                let refunds = refund_requests::list(c, &actor, q, &page)?;
                Ok((waiting, balance, statements, refunds))
            })
            .await?;
        let mut context = base(&who);
        context["waiting"] = waiting.items.iter().map(|d| sub_order_json(d, zone)).collect::<Vec<_>>().into();
        context["more_waiting"] = waiting.next_cursor.is_some().into();
        context["refund_requests"] = refunds
            .items
            .iter()
            .map(|r| {
                json!({"id": r.id, "sub_order_id": r.sub_order_id, "amount": yuan(r.amount_fen), "reason": r.reason,
                    "requested_at": time(Some(r.requested_at), zone)})
            })
            .collect::<Vec<_>>()
            .into();
        context["balance"] = json!({
            "pending": yuan(balance.pending_fen), "due": yuan(balance.due_fen),
            "scheduled": yuan(balance.scheduled_fen), "paid": yuan(balance.paid_fen),
            "paid_fen": balance.paid_fen,
            "deducted": yuan(balance.deducted_fen), "fees": yuan(balance.fees_fen),
        });
        context["statements"] = statements
            .items
            .iter()
            .map(|s| {
                json!({
                    "id": s.id, "status_label": settlement_label(&s.status), "amount": yuan(s.amount_fen),
                    "deducted": if s.deducted_fen > 0 { yuan(s.deducted_fen) } else { String::new() },
                    "lines": s.line_count, "created_at": time(Some(s.created_at), zone), "paid_at": time(s.paid_at, zone),
                })
            })
            .collect::<Vec<_>>()
            .into();
        html("producer_home.html", StatusCode::OK, &context)
    }
    .await;
    web::respond(&headers, result)
}

/// `GET /producer/orders?status=&cursor=`: the sub-orders by state, newest first.
pub async fn orders(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Producer, PLACE)?;
        let q = list_query(raw.as_deref())?;
        let (ctx, zone, actor) = (state.ctx(), state.config.timezone, who.actor.clone());
        let list_q =
            SubOrderListQuery { status: q.status.clone(), limit: Some(50), cursor: q.cursor, ..Default::default() };
        let page = list_q.page()?;
        let found = state.db.read(move |c| listing::list_sub_orders(c, &actor, list_q, &page, &ctx)).await?;
        let mut context = base(&who);
        context["items"] = found.items.iter().map(|d| sub_order_json(d, zone)).collect::<Vec<_>>().into();
        let status = q.status.as_deref();
        list_context(
            &mut context,
            "/producer/orders",
            &SubOrderStatus::ALL,
            sub_order_label,
            status,
            found.next_cursor,
        );
        html("producer_orders.html", StatusCode::OK, &context)
    }
    .await;
    web::respond(&headers, result)
}

/// The sub-order's page with its refund requests; with a refused ship form or refund decline,
/// what was typed and its errors (422).
fn sub_order_page(
    who: &WebActor,
    (d, requests): &(SubOrderDetail, Vec<RefundRequestView>),
    zone: chrono_tz::Tz,
    form: Option<(&ShipForm, Value)>,
    refund: Option<Value>,
) -> AppResult<Response> {
    let mut context = base(who);
    context["s"] = sub_order_json(d, zone);
    context["s"]["requests"] = super::forms::requests_json(requests, &d.sub_order.id, zone).into();
    let mut status = StatusCode::OK;
    if let Some((posted, errors)) = form {
        context["form"] =
            json!({"carrier": posted.carrier, "tracking_no": posted.tracking_no, "invoice_no": posted.invoice_no});
        context["errors"] = errors;
        status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    if let Some(refused) = refund {
        context["refund_refused"] = refused;
        status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    html("producer_sub_order.html", status, &context)
}

/// One of the producer's sub-orders (another's is not found, as in the API) and its refund requests.
async fn own_sub_order(
    state: &AppState,
    who: &WebActor,
    id: String,
) -> AppResult<(SubOrderDetail, Vec<RefundRequestView>)> {
    require_kind(who, OrgKind::Producer, PLACE)?;
    let actor = who.actor.clone();
    state
        .db
        .read(move |c| {
            let detail = listing::get_sub_order(c, &actor, &id)?;
            let requests = refund_requests::of_order(c, &actor, &detail.sub_order.order_id)?;
            Ok((detail, requests))
        })
        .await
}

/// The sub-order's page with a refused refund decline beside its field.
pub(super) async fn sub_order_view(
    state: &AppState,
    who: &WebActor,
    id: String,
    refund: Option<Value>,
) -> AppResult<Response> {
    let loaded = own_sub_order(state, who, id).await?;
    sub_order_page(who, &loaded, state.config.timezone, None, refund)
}

/// `GET /producer/orders/{id}`.
pub async fn sub_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
) -> Response {
    let result = async { sub_order_view(&state, &who, id, None).await }.await;
    web::respond(&headers, result)
}

#[derive(Debug, Default, Deserialize)]
pub struct ShipForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking_no: String,
    #[serde(default)]
    invoice_no: String,
}

/// `POST /producer/orders/{id}/ship`: the same shipping as `POST /api/v1/sub-orders/{id}/ship`.
/// Refused input is shown beside its fields, with what was typed, and changes nothing.
pub async fn ship(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Producer, PLACE)?;
        let form: ShipForm = read_form(&body)?;
        check_form(&headers, &who, &form.csrf)?;
        let ship_body = ShipBody {
            carrier: form.carrier.clone(),
            tracking_no: form.tracking_no.clone(),
            invoice_no: Some(form.invoice_no.clone()),
        };
        let (ctx, actor) = (state.ctx(), who.actor.clone());
        let sub_id = id.clone();
        let shipped = state
            .db
            .write(move |c| {
                let shipment = Shipment::try_from(ship_body)?;
                lifecycle::ship(c, &actor, &sub_id, shipment, &ctx)
            })
            .await;
        match shipped {
            Ok(_) => Ok(Redirect::to(&format!("/producer/orders/{id}")).into_response()),
            Err(e) => {
                let Some((fields, detail)) = field_errors(&e) else { return Err(e) };
                let detail_row = own_sub_order(&state, &who, id).await?;
                let errors = json!({"fields": fields, "detail": detail});
                sub_order_page(&who, &detail_row, state.config.timezone, Some((&form, errors)), None)
            }
        }
    }
    .await;
    web::respond(&headers, result)
}

/// `GET /producer/orders/{id}/packing`: the packing list (装箱单), one printed page.
pub async fn packing(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let (detail, _) = own_sub_order(&state, &who, id).await?;
        let mut context = base(&who);
        context["s"] = sub_order_json(&detail, state.config.timezone);
        html("packing.html", StatusCode::OK, &context)
    }
    .await;
    web::respond(&headers, result)
}

#[derive(Debug, Default, Deserialize)]
struct StatementQuery {
    format: Option<String>,
}

/// `GET /producer/settlements/{id}/statement?format=csv|xlsx`: the statement (对账单), as the API gives it.
pub async fn statement(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Producer, PLACE)?;
        let q: StatementQuery = read_query(raw.as_deref())?;
        let format = match export::parse_format(Some(q.format.as_deref().unwrap_or("csv")))? {
            export::FileFormat::Json => {
                return Err(AppError::invalid_field("validation_failed", "format", "must be csv or xlsx"));
            }
            f => f,
        };
        let (zone, actor) = (state.config.timezone, who.actor.clone());
        let table = state.db.read(move |c| settlement::statement(c, &actor, &id, zone)).await?;
        export::download(&table, format)
    }
    .await;
    web::respond(&headers, result)
}
