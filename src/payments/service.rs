//! Money in and out of orders. Every payment, whatever its channel (an offline transfer recorded
//! by finance, a Stripe confirmation), goes through [`confirm_payment`]; every refund through
//! [`record_refund`]. The accounting ledger counts from what these record.

use crate::orders::lifecycle;
use crate::orders::listing;
use crate::orders::view;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::model::{Method, PaymentRow, RefundRow};
use crate::accounting::ledger;
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{orders, payments, refunds, sub_orders};
use crate::error::{AppError, AppResult, Violations};
use crate::identity::Actor;
use crate::identity::Who;
use crate::identity::policy;
use crate::ids::new_id;
use crate::money::Fen;
use crate::orders::model::{self as order_model, OrderRow, SubOrderRow};
use crate::orders::state::{self, OrderEvent, OrderStatus, SubOrderEvent, SubOrderStatus, invalid_state};
use crate::orders::view::OrderView;
use crate::orders::view::SubOrderDetail;
use crate::settlement::payables;
use crate::worker::job::enqueue;
use crate::worker::payloads::{Notice, RefundDue};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentView {
    pub id: String,
    pub order_id: String,
    pub method: Method,
    /// `pending`, `succeeded`, `failed` or `canceled`.
    pub status: String,
    pub amount_fen: i64,
    pub currency: String,
    /// The bank transfer's reference (offline payments).
    pub reference: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl PaymentView {
    pub fn from_row(p: PaymentRow) -> AppResult<Self> {
        Ok(PaymentView {
            method: Method::parse(&p.method)?,
            id: p.id,
            order_id: p.order_id,
            status: p.status,
            amount_fen: p.amount_fen,
            currency: p.currency,
            reference: p.reference,
            paid_at: p.paid_at.map(utc),
            created_at: utc(p.created_at),
        })
    }
}

/// A recorded payment and the order it paid.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentRecorded {
    pub payment: PaymentView,
    pub order: OrderView,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundView {
    pub id: String,
    pub order_id: String,
    pub sub_order_id: String,
    pub amount_fen: i64,
    pub reason: String,
    pub method: Method,
    /// `pending` (waiting for the payment provider), `succeeded` or `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl RefundView {
    pub fn from_row(r: RefundRow) -> AppResult<Self> {
        Ok(RefundView {
            method: Method::parse(&r.method)?,
            id: r.id,
            order_id: r.order_id,
            sub_order_id: r.sub_order_id,
            amount_fen: r.amount_fen,
            reason: r.reason,
            status: r.status,
            created_at: utc(r.created_at),
            completed_at: r.completed_at.map(utc),
        })
    }
}

/// A refund and the sub-order after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundRecorded {
    pub refund: RefundView,
    pub sub_order: SubOrderDetail,
}

/// A confirmation that money for an order arrived.
#[derive(Debug, Clone)]
pub struct Confirmation {
    pub method: Method,
    pub amount: Fen,
    /// When the money was paid: the business time that decides the accounting year.
    pub paid_at: NaiveDateTime,
    pub reference: Option<String>,
    /// The provider's id (a Stripe PaymentIntent); a pending payment with this id is completed.
    pub external_id: Option<String>,
}

fn succeeded_payment(conn: &mut DbConn, order_id: &str) -> AppResult<Option<PaymentRow>> {
    Ok(payments::table
        .filter(payments::order_id.eq(order_id))
        .filter(payments::status.eq("succeeded"))
        .select(PaymentRow::as_select())
        .first(conn)
        .optional()?)
}

/// The one way an order becomes paid. The amount must be exactly what is due; the order and
/// every sub-order move on (and start counting, when counting is on payment).
pub fn confirm_payment(
    conn: &mut DbConn,
    order: &mut OrderRow,
    c: Confirmation,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<PaymentRow> {
    let status = OrderStatus::parse(&order.status)?;
    if status != OrderStatus::PendingPayment {
        return Err(invalid_state("order", status.as_str(), "paid"));
    }
    let due = Fen(order.total_fen - order.paid_fen);
    if c.amount != due {
        return Err(AppError::unprocessable(
            "amount_mismatch",
            format!("the amount due is {} fen ({}); {} fen was given", due.0, due, c.amount.0),
        )
        .with("amount_due_fen", due.0));
    }
    let pending = match &c.external_id {
        Some(ext) => payments::table
            .filter(payments::external_id.eq(ext))
            .filter(payments::order_id.eq(&order.id))
            .select(PaymentRow::as_select())
            .first(conn)
            .optional()?,
        None => None,
    };
    let payment = match pending {
        Some(mut p) => {
            p.status = "succeeded".into();
            p.paid_at = Some(c.paid_at);
            p.updated_at = ctx.now;
            diesel::update(payments::table.find(&p.id))
                .set((
                    payments::status.eq("succeeded"),
                    payments::paid_at.eq(c.paid_at),
                    payments::updated_at.eq(ctx.now),
                ))
                .execute(conn)?;
            p
        }
        None => {
            let p = PaymentRow {
                id: new_id("pay"),
                order_id: order.id.clone(),
                method: c.method.as_str().to_owned(),
                status: "succeeded".into(),
                amount_fen: c.amount.0,
                currency: "cny".into(),
                reference: c.reference.clone(),
                external_id: c.external_id.clone(),
                paid_at: Some(c.paid_at),
                recorded_by: who.user_id.clone(),
                failure_reason: None,
                created_at: ctx.now,
                updated_at: ctx.now,
            };
            diesel::insert_into(payments::table)
                .values(&p)
                .execute(conn)
                .map_err(|e| crate::error::on_unique_violation(e, || invalid_state("order", "paid", "paid again")))?;
            p
        }
    };
    diesel::update(orders::table.find(&order.id))
        .set((orders::paid_fen.eq(c.amount.0), orders::paid_at.eq(c.paid_at)))
        .execute(conn)?;
    order.paid_fen = c.amount.0;
    order.paid_at = Some(c.paid_at);
    let details = json!({"payment_id": payment.id, "method": payment.method, "amount_fen": payment.amount_fen,
        "reference": payment.reference, "paid_at": utc(c.paid_at)});
    state::move_order(conn, order, OrderEvent::Pay, who, details, ctx)?;
    for mut sub in order_model::sub_orders_of(conn, std::slice::from_ref(&order.id))? {
        state::move_sub_order(conn, order, &mut sub, SubOrderEvent::Pay, who, json!({}), ctx)?;
    }
    Ok(payment)
}

/// The one way money goes back for a sub-order: the refund row, the amounts on the sub-order and
/// the order (conditional updates: never more than was paid), the history (and the ledger's
/// reversal). Status moves are the caller's: a whole refund and a cancellation differ.
pub fn record_refund(
    conn: &mut DbConn,
    order: &mut OrderRow,
    sub: &mut SubOrderRow,
    amount: Fen,
    reason: &str,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<RefundRow> {
    write_refund(conn, order, sub, amount, reason, None, who, ctx)
}

/// A refund the payment provider already made (in Stripe's dashboard): recorded as done, under
/// the provider's id, so it is recorded once however often it is reported.
#[allow(clippy::too_many_arguments)]
pub fn record_refund_from_provider(
    conn: &mut DbConn,
    order: &mut OrderRow,
    sub: &mut SubOrderRow,
    amount: Fen,
    reason: &str,
    external_id: &str,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<RefundRow> {
    write_refund(conn, order, sub, amount, reason, Some(external_id), who, ctx)
}

/// Money paid through Stripe goes back through Stripe: such a refund is recorded as `pending`
/// (and uncounted at once) and an outbox row has the worker make it there.
#[allow(clippy::too_many_arguments)]
fn write_refund(
    conn: &mut DbConn,
    order: &mut OrderRow,
    sub: &mut SubOrderRow,
    amount: Fen,
    reason: &str,
    external_id: Option<&str>,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<RefundRow> {
    let payment =
        succeeded_payment(conn, &order.id)?.ok_or_else(|| invalid_state("order", &order.status, "refunded"))?;
    let refundable = Fen(sub.total_fen - sub.refunded_fen);
    let exceeds = || {
        AppError::unprocessable(
            "refund_exceeds_paid",
            format!("at most {} fen of this sub-order can still be refunded", refundable.0),
        )
        .with("refundable_fen", refundable.0)
    };
    if amount > refundable {
        return Err(exceeds());
    }
    let changed = diesel::update(
        sub_orders::table.find(&sub.id).filter((sub_orders::refunded_fen + amount.0).le(sub_orders::total_fen)),
    )
    .set((sub_orders::refunded_fen.eq(sub_orders::refunded_fen + amount.0), sub_orders::updated_at.eq(ctx.now)))
    .execute(conn)?;
    if changed != 1 {
        return Err(exceeds());
    }
    let changed =
        diesel::update(orders::table.find(&order.id).filter((orders::refunded_fen + amount.0).le(orders::paid_fen)))
            .set(orders::refunded_fen.eq(orders::refunded_fen + amount.0))
            .execute(conn)?;
    if changed != 1 {
        return Err(exceeds());
    }
    sub.refunded_fen += amount.0;
    order.refunded_fen += amount.0;
    let method = Method::parse(&payment.method)?;
    let to_push = method == Method::Stripe && external_id.is_none();
    let row = RefundRow {
        id: new_id("rfd"),
        order_id: order.id.clone(),
        sub_order_id: sub.id.clone(),
        payment_id: payment.id,
        amount_fen: amount.0,
        reason: reason.to_owned(),
        method: method.as_str().to_owned(),
        status: if to_push { "pending" } else { "succeeded" }.into(),
        external_id: external_id.map(str::to_owned),
        requested_by: who.user_id.clone(),
        created_at: ctx.now,
        completed_at: (!to_push).then_some(ctx.now),
    };
    diesel::insert_into(refunds::table).values(&row).execute(conn)?;
    if to_push {
        enqueue(conn, &RefundDue { refund_id: row.id.clone() }, ctx.now)?;
    }
    let details = json!({"refund_id": row.id, "amount_fen": amount.0, "reason": reason, "method": row.method,
        "refunded_fen": sub.refunded_fen});
    state::record_event(conn, &order.id, Some(&sub.id), "refund", None, None, who, details, ctx)?;
    let refunded = ledger::Refunded { refund_id: &row.id, sub_order_id: &sub.id, amount, at: row.created_at };
    ledger::reverse_refund(conn, &refunded, ctx)?;
    let deducted = payables::Refunded { refund_id: &row.id, sub_order_id: &sub.id, amount, at: row.created_at };
    payables::deduct(conn, &deducted, ctx)?;
    enqueue(conn, &Notice::RefundRecorded { refund_id: row.id.clone() }, ctx.now)?;
    Ok(row)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflinePaymentBody {
    /// Exactly the amount due.
    #[schema(minimum = 1)]
    pub amount_fen: i64,
    /// The bank transfer's reference (流水号).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reference: String,
    /// When the transfer was made; decides the accounting year.
    pub paid_at: DateTime<Utc>,
}

/// Finance records a bank transfer for an order.
pub fn record_offline(
    conn: &mut DbConn,
    actor: &Actor,
    order_id: &str,
    body: OfflinePaymentBody,
    ctx: &Ctx,
) -> AppResult<PaymentRecorded> {
    policy::require_platform_admin(actor)?;
    let mut order = lifecycle::lock_visible(conn, actor, order_id, ctx)?;
    let mut v = Violations::new();
    v.check(body.amount_fen > 0, "amount_fen", "must be greater than 0");
    let reference = body.reference.trim().to_owned();
    v.check(
        (1..=100).contains(&reference.chars().count()) && !reference.chars().any(char::is_control),
        "reference",
        "must have 1 to 100 characters",
    );
    let paid_at = body.paid_at.naive_utc();
    v.check(paid_at <= ctx.now + chrono::Duration::minutes(5), "paid_at", "must not be in the future");
    v.check(paid_at >= order.created_at, "paid_at", "must not be before the order was placed");
    v.finish("validation_failed")?;
    let confirmation = Confirmation {
        method: Method::Offline,
        amount: Fen(body.amount_fen),
        paid_at,
        reference: Some(reference),
        external_id: None,
    };
    let payment = confirm_payment(conn, &mut order, confirmation, &Who::of(actor), ctx)?;
    Ok(PaymentRecorded { payment: PaymentView::from_row(payment)?, order: view::view(conn, actor, order)? })
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    pub amount_fen: i64,
    pub reason: String,
}

/// A refund of part or all of a sub-order, by its producer or the platform admin. A whole refund
/// ends the sub-order; goods that never shipped go back to stock.
pub fn refund_sub_order(
    conn: &mut DbConn,
    actor: &Actor,
    sub_id: &str,
    body: RefundBody,
    ctx: &Ctx,
) -> AppResult<RefundRecorded> {
    let (mut order, mut sub) = lifecycle::lock_sub_order(conn, actor, sub_id, ctx)?;
    if !(actor.is_platform_admin() || actor.org.id == sub.producer_id) {
        return Err(AppError::forbidden("only the sub-order's producer or the platform admin refunds it"));
    }
    let mut v = Violations::new();
    v.check(body.amount_fen > 0, "amount_fen", "must be greater than 0");
    let reason = body.reason.trim().to_owned();
    v.check((1..=500).contains(&reason.chars().count()), "reason", "must have 1 to 500 characters");
    v.finish("validation_failed")?;
    let status = SubOrderStatus::parse(&sub.status)?;
    if matches!(status, SubOrderStatus::PendingPayment | SubOrderStatus::Cancelled) {
        return Err(invalid_state("sub-order", status.as_str(), "refunded"));
    }
    let who = Who::of(actor);
    let refund = record_refund(conn, &mut order, &mut sub, Fen(body.amount_fen), &reason, &who, ctx)?;
    finish_whole_refund(conn, &mut order, &mut sub, status, &who, ctx)?;
    Ok(RefundRecorded { refund: RefundView::from_row(refund)?, sub_order: view::sub_order_detail(conn, &order, &sub)? })
}

/// After a refund: a sub-order refunded in whole ends (`refunded`), goods that never shipped go
/// back on sale, and the order completes if nothing else is open.
pub fn finish_whole_refund(
    conn: &mut DbConn,
    order: &mut OrderRow,
    sub: &mut SubOrderRow,
    before: SubOrderStatus,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<()> {
    if sub.refunded_fen != sub.total_fen || !before.holds_payment() {
        return Ok(());
    }
    state::move_sub_order(conn, order, sub, SubOrderEvent::RefundWhole, who, json!({}), ctx)?;
    if before == SubOrderStatus::AwaitingShipment {
        lifecycle::return_stock(conn, &sub.id, ctx)?;
    }
    let subs = order_model::sub_orders_of(conn, std::slice::from_ref(&order.id))?;
    state::settle(conn, order, &subs, who, ctx)
}

/// The payments of an order the caller sees.
pub fn payments_of(conn: &mut DbConn, actor: &Actor, order_id: &str) -> AppResult<Vec<PaymentView>> {
    order_model::find_visible(conn, actor, order_id)?.ok_or_else(|| AppError::not_found("order"))?;
    payments::table
        .filter(payments::order_id.eq(order_id))
        .order(payments::id.asc())
        .select(PaymentRow::as_select())
        .load(conn)?
        .into_iter()
        .map(PaymentView::from_row)
        .collect()
}

/// The refunds of a sub-order the caller sees.
pub fn refunds_of(conn: &mut DbConn, actor: &Actor, sub_id: &str) -> AppResult<Vec<RefundView>> {
    listing::get_sub_order(conn, actor, sub_id)?;
    refunds::table
        .filter(refunds::sub_order_id.eq(sub_id))
        .order(refunds::id.asc())
        .select(RefundRow::as_select())
        .load(conn)?
        .into_iter()
        .map(RefundView::from_row)
        .collect()
}
