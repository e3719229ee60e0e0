//! Stripe's events, each handled once: the event id is stored (primary key) in the same
//! transaction as its effect, so a retried delivery, even one signed anew, changes nothing.
//! Amounts are never taken from an event alone: a success is matched against our payment record
//! of that intent and the amount the order is owed.

use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{Value, json};

use super::gateway::{Intent, StripeRefund};
use super::model::PaymentRow;
use super::service;
use super::stripe::{self as stripe_pay, Settled};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{payments, refunds, stripe_events};
use crate::error::{AppError, AppResult};
use crate::identity::Who;
use crate::money::Fen;
use crate::orders::model as order_model;
use crate::state::AppState;

/// The fields of an event we read.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub created: NaiveDateTime,
    pub object: Value,
}

impl Event {
    pub fn parse(body: &[u8]) -> AppResult<Event> {
        let malformed = || AppError::bad_request("malformed_event", "the body is not a Stripe event");
        let v: Value = serde_json::from_slice(body).map_err(|_| malformed())?;
        let id = v.get("id").and_then(Value::as_str).filter(|id| id.starts_with("evt_")).ok_or_else(malformed)?;
        let event_type = v.get("type").and_then(Value::as_str).ok_or_else(malformed)?;
        let created = v
            .get("created")
            .and_then(Value::as_i64)
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or_else(malformed)?
            .naive_utc();
        let object = v.pointer("/data/object").cloned().filter(Value::is_object).ok_or_else(malformed)?;
        Ok(Event { id: id.to_owned(), event_type: event_type.to_owned(), created, object })
    }

    pub fn object_id(&self) -> Option<String> {
        self.object.get("id").and_then(Value::as_str).map(str::to_owned)
    }

    /// The PaymentIntent a `charge.refunded` belongs to.
    fn refunded_intent(&self) -> Option<String> {
        if self.event_type != "charge.refunded" {
            return None;
        }
        self.object.get("payment_intent").and_then(Value::as_str).map(str::to_owned)
    }
}

/// What handling an event needs that the event itself may not carry, read from Stripe before
/// the transaction.
#[derive(Debug, Default)]
pub struct Fetched {
    /// The charge's refunds, when the event did not embed them.
    pub refunds: Option<Vec<StripeRefund>>,
    /// The PaymentIntent, when a refund overtook the payment's own success: Stripe does not
    /// promise order, and a refund must not be dropped because its payment is not yet recorded.
    pub intent: Option<Intent>,
}

async fn fetch_missing(state: &AppState, event: &Event) -> AppResult<Fetched> {
    let mut fetched = Fetched::default();
    let (Some(gateway), Some(pi)) = (&state.stripe, event.refunded_intent()) else { return Ok(fetched) };
    // API versions that no longer embed the charge's refunds.
    if event.object.pointer("/refunds/data").is_none() {
        fetched.refunds = Some(gateway.refunds_of(&pi).await.map_err(stripe_pay::gateway_error)?);
    }
    let intent = pi.clone();
    let awaiting: i64 = state
        .db
        .run(move |c| {
            Ok(payments::table
                .filter(payments::external_id.eq(intent))
                .filter(payments::status.ne("succeeded"))
                .count()
                .get_result(c)?)
        })
        .await?;
    if awaiting > 0 {
        fetched.intent = Some(gateway.intent(&pi).await.map_err(stripe_pay::gateway_error)?);
    }
    Ok(fetched)
}

/// A delivery to the webhook endpoint: the signature is checked against
/// `STRIPE_WEBHOOK_SECRET` at the server's time, the event parsed, a `charge.refunded` completed
/// from Stripe where it needs to be (see [`Fetched`]), and the event handled once.
pub async fn receive(state: &AppState, signature_header: Option<&str>, body: &[u8]) -> AppResult<Outcome> {
    let secret =
        state.config.stripe.as_ref().and_then(|s| s.webhook_secret.clone()).ok_or_else(stripe_pay::not_configured)?;
    super::signature::verify(signature_header, body, &secret.0, state.clock.now().timestamp())
        .map_err(|e| AppError::bad_request("bad_signature", e.to_string()))?;
    let event = Event::parse(body)?;
    let fetched = fetch_missing(state, &event).await?;
    let ctx = state.ctx();
    let outcome = state.db.write(move |c| handle(c, &event, fetched, &ctx)).await?;
    // A late payment may have queued money to send back.
    state.stripe_nudge.notify_one();
    Ok(outcome)
}

/// What handling an event concluded (stored with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub outcome: String,
    pub detail: Option<String>,
}

impl Outcome {
    fn of(outcome: &str) -> Outcome {
        Outcome { outcome: outcome.to_owned(), detail: None }
    }
}

/// Handles one event exactly once, with what was fetched for it.
pub fn handle(conn: &mut DbConn, event: &Event, fetched: Fetched, ctx: &Ctx) -> AppResult<Outcome> {
    let seen: i64 = stripe_events::table.filter(stripe_events::id.eq(&event.id)).count().get_result(conn)?;
    if seen > 0 {
        return Ok(Outcome::of("duplicate"));
    }
    // Two deliveries racing: the second waits on the key here and then fails the constraint,
    // which rolls its transaction back; Stripe's retry later finds the event and answers duplicate.
    let first = diesel::insert_into(stripe_events::table)
        .values((
            stripe_events::id.eq(&event.id),
            stripe_events::event_type.eq(&event.event_type),
            stripe_events::object_id.eq(event.object_id()),
            stripe_events::stripe_created_at.eq(event.created),
            stripe_events::received_at.eq(ctx.now),
            stripe_events::outcome.eq("processing"),
        ))
        .execute(conn);
    first.map_err(|e| {
        crate::error::on_unique_violation(e, || AppError::conflict("event_in_progress", "this event is being handled"))
    })?;
    let outcome = dispatch(conn, event, fetched, ctx)?;
    diesel::update(stripe_events::table.find(&event.id))
        .set((stripe_events::outcome.eq(&outcome.outcome), stripe_events::detail.eq(&outcome.detail)))
        .execute(conn)?;
    if outcome.outcome == "amount_mismatch" || outcome.outcome == "unknown_intent" {
        tracing::warn!(event = %event.id, kind = %event.event_type, outcome = %outcome.outcome, detail = ?outcome.detail, "Stripe event not applied");
    }
    Ok(outcome)
}

fn dispatch(conn: &mut DbConn, event: &Event, fetched: Fetched, ctx: &Ctx) -> AppResult<Outcome> {
    let intent =
        || Intent::from_json(&event.object).map_err(|e| AppError::bad_request("malformed_event", e.to_string()));
    match event.event_type.as_str() {
        "payment_intent.succeeded" => {
            let settled = stripe_pay::settle_intent(conn, &intent()?, event.created, ctx)?;
            let detail = match &settled {
                Settled::Mismatch(d) => Some(d.clone()),
                _ => None,
            };
            Ok(Outcome { outcome: settled.outcome().to_owned(), detail })
        }
        "payment_intent.payment_failed" => {
            let closed = stripe_pay::close_intent(conn, &intent()?, "failed", ctx)?;
            Ok(Outcome::of(if closed { "failed" } else { "no_pending_payment" }))
        }
        "payment_intent.canceled" => {
            let closed = stripe_pay::close_intent(conn, &intent()?, "canceled", ctx)?;
            Ok(Outcome::of(if closed { "canceled" } else { "no_pending_payment" }))
        }
        "charge.refunded" => {
            let payment_intent = event.refunded_intent().unwrap_or_default();
            if let Some(intent) = fetched.intent.filter(|i| i.status == "succeeded" && i.id == payment_intent) {
                // The success's own event is still on its way: settle from Stripe's record now,
                // through the same path (so that event finds the order paid), paid when charged.
                let charged =
                    event.object.get("created").and_then(Value::as_i64).and_then(|s| DateTime::from_timestamp(s, 0));
                let paid_at = charged.map_or(event.created, |t| t.naive_utc());
                stripe_pay::settle_intent(conn, &intent, paid_at, ctx)?;
            }
            let listed = match fetched.refunds {
                Some(list) => list,
                None => event
                    .object
                    .pointer("/refunds/data")
                    .and_then(Value::as_array)
                    .map(|items| items.iter().filter_map(|r| StripeRefund::from_json(r).ok()).collect())
                    .unwrap_or_default(),
            };
            absorb_refunds(conn, &payment_intent, &listed, ctx)
        }
        "transfer.reversed" => {
            let transfer = event.object.get("id").and_then(Value::as_str).unwrap_or_default();
            let ours = crate::settlement::payouts::transfer_reversed(conn, transfer, ctx.now)?;
            Ok(Outcome::of(if ours { "payout_returned" } else { "unknown_transfer" }))
        }
        _ => Ok(Outcome::of("ignored")),
    }
}

/// Brings Stripe's refunds of a payment into our records: ours that were still pending complete;
/// refunds made in Stripe's dashboard are recorded (and uncounted) against the order's
/// sub-orders in turn, each up to what it can still give back. Used by `charge.refunded` and by
/// `payments reconcile --fix`.
pub fn absorb_refunds(
    conn: &mut DbConn,
    payment_intent: &str,
    listed: &[StripeRefund],
    ctx: &Ctx,
) -> AppResult<Outcome> {
    let Some(payment) = payments::table
        .filter(payments::external_id.eq(payment_intent))
        .filter(payments::status.eq("succeeded"))
        .select(PaymentRow::as_select())
        .first::<PaymentRow>(conn)
        .optional()?
    else {
        return Ok(Outcome::of("unknown_intent"));
    };
    let mut recorded = 0;
    let mut unallocated = 0i64;
    for r in listed.iter().filter(|r| r.status == "succeeded" || r.status == "pending") {
        let known: i64 = refunds::table
            .filter(refunds::external_id.eq(&r.id).or(refunds::external_id.like(format!("{}#%", r.id))))
            .count()
            .get_result(conn)?;
        if known > 0 || super::authorization::is_release(conn, payment_intent, r)? {
            continue;
        }
        if let Some(ours) = &r.refund_id {
            // One of ours (or a surplus payment going back): complete it if still pending.
            stripe_pay::complete_refund(conn, ours, &r.id, ctx)?;
            continue;
        }
        unallocated += allocate_dashboard_refund(conn, &payment, r, ctx)?;
        recorded += 1;
    }
    let detail =
        (unallocated > 0).then(|| format!("{unallocated} fen refunded at Stripe beyond what the order can give back"));
    Ok(Outcome { outcome: if recorded > 0 { "refund_recorded".into() } else { "refunds_in_step".into() }, detail })
}

/// Records a refund made in Stripe's dashboard; returns what could not be attributed.
fn allocate_dashboard_refund(conn: &mut DbConn, payment: &PaymentRow, r: &StripeRefund, ctx: &Ctx) -> AppResult<i64> {
    order_model::lock(conn, &payment.order_id, ctx.now)?;
    let mut order = order_model::find(conn, &payment.order_id)?.ok_or_else(|| AppError::not_found("order"))?;
    let subs = order_model::sub_orders_of(conn, std::slice::from_ref(&order.id))?;
    let mut left = r.amount;
    let mut part = 0;
    for mut sub in subs {
        let room = sub.total_fen - sub.refunded_fen;
        if left == 0 || room <= 0 {
            continue;
        }
        let take = left.min(room);
        let external = if part == 0 { r.id.clone() } else { format!("{}#{}", r.id, part + 1) };
        let who = Who::system();
        let before = crate::orders::state::SubOrderStatus::parse(&sub.status)?;
        service::record_refund_from_provider(
            conn,
            &mut order,
            &mut sub,
            Fen(take),
            "在 Stripe 退款",
            &external,
            &who,
            ctx,
        )?;
        service::finish_whole_refund(conn, &mut order, &mut sub, before, &who, ctx)?;
        left -= take;
        part += 1;
    }
    let details = json!({"stripe_refund": r.id, "amount_fen": r.amount, "unallocated_fen": left});
    stripe_pay::system_event(conn, &order.id, "provider_refund", details, ctx)?;
    Ok(left)
}
