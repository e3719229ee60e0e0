//! Refund requests (退款申请): the buying unit asks for part or all of a paid sub-order back, with
//! its reason; the producer (or the platform admin) grants it, which makes the refund through the
//! one refund path in the same transaction, or declines it with a reason. A sub-order has at most
//! one open request; a request is decided once.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service::{RefundBody, refund_sub_order};
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::refund_requests as rr;
use crate::error::{AppError, AppResult, Violations, on_unique_violation};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::orders::lifecycle::{lock_sub_order, require_buyer};
use crate::orders::state::{SubOrderStatus, invalid_state};
use crate::validate::one_of;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rr)]
pub struct RefundRequestRow {
    pub id: String,
    pub sub_order_id: String,
    pub order_id: String,
    pub buyer_org_id: String,
    pub producer_id: String,
    pub amount_fen: i64,
    pub reason: String,
    pub status: String,
    pub requested_by: String,
    pub requested_at: NaiveDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub decline_reason: Option<String>,
    pub refund_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequestBody {
    /// What the unit asks back, in fen: at most what was paid for the sub-order and not yet refunded.
    #[schema(minimum = 1)]
    pub amount_fen: i64,
    /// Why: short weight, damaged goods, a wrong product …
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundDeclineBody {
    /// Told to the buying unit.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundRequestView {
    pub id: String,
    pub sub_order_id: String,
    pub order_id: String,
    pub buyer_org_id: String,
    pub producer_id: String,
    pub amount_fen: i64,
    pub reason: String,
    /// `requested`, then `granted` (see `refund_id`) or `declined` (see `decline_reason`).
    pub status: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decline_reason: Option<String>,
    /// The refund a grant made (`GET /sub-orders/{id}/refunds`).
    pub refund_id: Option<String>,
}

impl From<RefundRequestRow> for RefundRequestView {
    fn from(r: RefundRequestRow) -> Self {
        RefundRequestView {
            id: r.id,
            sub_order_id: r.sub_order_id,
            order_id: r.order_id,
            buyer_org_id: r.buyer_org_id,
            producer_id: r.producer_id,
            amount_fen: r.amount_fen,
            reason: r.reason,
            status: r.status,
            requested_by: r.requested_by,
            requested_at: utc(r.requested_at),
            decided_by: r.decided_by,
            decided_at: r.decided_at.map(utc),
            decline_reason: r.decline_reason,
            refund_id: r.refund_id,
        }
    }
}

const STATUSES: [&str; 3] = ["requested", "granted", "declined"];

fn reason_of(v: &mut Violations, reason: &str) -> String {
    crate::validate::required_text(v, "reason", reason, 500)
}

fn already_requested() -> AppError {
    AppError::conflict("already_requested", "this sub-order already has an open refund request; wait for its answer")
}

/// The buying unit asks for a refund of a paid sub-order (awaiting shipment, shipped or accepted).
pub fn ask(
    conn: &mut DbConn,
    actor: &Actor,
    sub_id: &str,
    body: RefundRequestBody,
    ctx: &Ctx,
) -> AppResult<RefundRequestView> {
    let (order, sub) = lock_sub_order(conn, actor, sub_id, ctx)?;
    require_buyer(actor, &order, "ask for a refund")?;
    let mut v = Violations::new();
    v.check(body.amount_fen > 0, "amount_fen", "must be greater than 0");
    let reason = reason_of(&mut v, &body.reason);
    v.finish("validation_failed")?;
    let status = SubOrderStatus::parse(&sub.status)?;
    if !status.holds_payment() {
        return Err(invalid_state("sub-order", status.as_str(), "refunded"));
    }
    let refundable = sub.total_fen - sub.refunded_fen;
    if body.amount_fen > refundable {
        return Err(AppError::invalid_field(
            "refund_exceeds_paid",
            "amount_fen",
            format!("at most {refundable} fen of this sub-order can still be refunded"),
        )
        .with("refundable_fen", refundable));
    }
    let open: i64 =
        rr::table.filter(rr::sub_order_id.eq(&sub.id)).filter(rr::status.eq("requested")).count().get_result(conn)?;
    if open > 0 {
        return Err(already_requested());
    }
    let row = RefundRequestRow {
        id: new_id("rfq"),
        sub_order_id: sub.id.clone(),
        order_id: order.id.clone(),
        buyer_org_id: order.buyer_org_id.clone(),
        producer_id: sub.producer_id.clone(),
        amount_fen: body.amount_fen,
        reason,
        status: "requested".into(),
        requested_by: actor.user_id.clone(),
        requested_at: ctx.now,
        decided_by: None,
        decided_at: None,
        decline_reason: None,
        refund_id: None,
    };
    diesel::insert_into(rr::table).values(&row).execute(conn).map_err(|e| on_unique_violation(e, already_requested))?;
    Ok(row.into())
}

/// The request if the caller is one of its two sides or the platform; 404 otherwise.
fn visible(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<RefundRequestRow> {
    rr::table
        .find(id)
        .select(RefundRequestRow::as_select())
        .first(conn)
        .optional()?
        .filter(|r| {
            actor.org_kind == OrgKind::Platform || actor.org.id == r.buyer_org_id || actor.org.id == r.producer_id
        })
        .ok_or_else(|| AppError::not_found("refund request"))
}

fn require_decider(actor: &Actor, r: &RefundRequestRow) -> AppResult<()> {
    if actor.is_platform_admin() || actor.org.id == r.producer_id {
        return Ok(());
    }
    Err(AppError::forbidden("only the sub-order's producer or the platform admin answers a refund request"))
}

/// Marks an open request decided; false when another decision came first.
fn decide(conn: &mut DbConn, actor: &Actor, id: &str, status: &str, now: NaiveDateTime) -> AppResult<bool> {
    let n = diesel::update(rr::table.filter(rr::id.eq(id)).filter(rr::status.eq("requested")))
        .set((rr::status.eq(status), rr::decided_by.eq(&actor.user_id), rr::decided_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}

fn decided_already(r: &RefundRequestRow) -> AppError {
    AppError::conflict("invalid_state", format!("the refund request is already {}", r.status))
        .with("current_status", r.status.clone())
}

fn reload(conn: &mut DbConn, id: &str) -> AppResult<RefundRequestView> {
    Ok(rr::table.find(id).select(RefundRequestRow::as_select()).first(conn)?.into())
}

/// The producer grants the request: the refund is made for the asked amount, through the refund
/// path (ledger, settlement deduction, Stripe), in this transaction; a refund that can no longer
/// be made (the producer refunded meanwhile) refuses the grant and changes nothing.
pub fn grant(conn: &mut DbConn, actor: &Actor, id: &str, ctx: &Ctx) -> AppResult<RefundRequestView> {
    let r = visible(conn, actor, id)?;
    require_decider(actor, &r)?;
    if !decide(conn, actor, &r.id, "granted", ctx.now)? {
        return Err(decided_already(&visible(conn, actor, id)?));
    }
    let reason = format!("退款申请 {}：{}", r.id, r.reason);
    let recorded =
        refund_sub_order(conn, actor, &r.sub_order_id, RefundBody { amount_fen: r.amount_fen, reason }, ctx)?;
    diesel::update(rr::table.find(&r.id)).set(rr::refund_id.eq(&recorded.refund.id)).execute(conn)?;
    reload(conn, &r.id)
}

/// The producer declines the request with a reason for the buying unit.
pub fn decline(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    body: RefundDeclineBody,
    ctx: &Ctx,
) -> AppResult<RefundRequestView> {
    let r = visible(conn, actor, id)?;
    require_decider(actor, &r)?;
    let mut v = Violations::new();
    let reason = reason_of(&mut v, &body.reason);
    v.finish("validation_failed")?;
    if !decide(conn, actor, &r.id, "declined", ctx.now)? {
        return Err(decided_already(&visible(conn, actor, id)?));
    }
    diesel::update(rr::table.find(&r.id)).set(rr::decline_reason.eq(reason)).execute(conn)?;
    reload(conn, &r.id)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefundRequestListQuery {
    /// `requested`, `granted` or `declined`.
    pub status: Option<String>,
    pub sub_order_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(RefundRequestListQuery);

/// Requests, oldest first: a buying unit's own, a producer's own, all for the platform.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    q: RefundRequestListQuery,
    page: &PageRequest,
) -> AppResult<Page<RefundRequestView>> {
    one_of("status", q.status.as_deref(), &STATUSES)?;
    let mut query =
        rr::table.select(RefundRequestRow::as_select()).order(rr::id.asc()).limit(page.limit + 1).into_boxed();
    query = match actor.org_kind {
        OrgKind::Platform => query,
        OrgKind::Agency => query.filter(rr::buyer_org_id.eq(actor.org.id.clone())),
        OrgKind::Producer => query.filter(rr::producer_id.eq(actor.org.id.clone())),
        OrgKind::Coordinator => {
            return Err(AppError::forbidden("refund requests are between buying units and producers"));
        }
    };
    if let Some(s) = q.status {
        query = query.filter(rr::status.eq(s));
    }
    if let Some(sub) = q.sub_order_id {
        query = query.filter(rr::sub_order_id.eq(sub));
    }
    if let Some(after) = &page.after {
        query = query.filter(rr::id.gt(after.clone()));
    }
    let rows: Vec<RefundRequestRow> = query.load(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.id.clone(), RefundRequestView::from))
}

/// Every request of one order's sub-orders that the caller may see (for the order's pages).
pub fn of_order(conn: &mut DbConn, actor: &Actor, order_id: &str) -> AppResult<Vec<RefundRequestView>> {
    let rows: Vec<RefundRequestRow> = rr::table
        .filter(rr::order_id.eq(order_id))
        .order(rr::id.asc())
        .select(RefundRequestRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|r| {
            actor.org_kind == OrgKind::Platform || actor.org.id == r.buyer_org_id || actor.org.id == r.producer_id
        })
        .map(RefundRequestView::from)
        .collect())
}

/// One request, for its two sides and the platform.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<RefundRequestView> {
    Ok(visible(conn, actor, id)?.into())
}
