//! Card authorisations ahead of an order (a group purchase's pledge, Stripe manual capture):
//! the hold on the card, its capture for what the order finally costs, its release. Group
//! purchases decide when (`groupbuy::card`); the money side is here, so payments never calls
//! back into group purchases. Every Stripe call is made from the outbox with a key derived from
//! our id.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::gateway::{Intent, StripeGateway, StripeRefund};
use super::stripe::{close_intent, gateway_error, pending_payment, settle_intent, system_event};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{payments, pledge_authorizations as a};
use crate::error::AppResult;
use crate::ids::new_id;
use crate::orders::model::OrderRow;
use crate::state::AppState;
use crate::worker::job::enqueue;
use crate::worker::payloads::{CaptureDue, VoidDue};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = a)]
pub struct AuthorizationRow {
    pub id: String,
    pub pledge_id: String,
    pub group_buy_id: String,
    pub payment_intent_id: String,
    pub amount_fen: i64,
    pub status: String,
    pub order_id: Option<String>,
    pub payment_id: Option<String>,
    pub capture_fen: Option<i64>,
    pub release_refund_id: Option<String>,
    pub outcome: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

fn find(conn: &mut DbConn, id: &str) -> AppResult<Option<AuthorizationRow>> {
    Ok(a::table.find(id).select(AuthorizationRow::as_select()).first(conn).optional()?)
}

/// The pending authorisation of a pledge, if any.
pub fn live_of(conn: &mut DbConn, pledge_id: &str) -> AppResult<Option<AuthorizationRow>> {
    Ok(a::table
        .filter(a::pledge_id.eq(pledge_id))
        .filter(a::status.eq("pending"))
        .order(a::id.desc())
        .select(AuthorizationRow::as_select())
        .first(conn)
        .optional()?)
}

/// Releases the authorisation (once: only a pending one moves), at Stripe from the outbox.
pub fn void(conn: &mut DbConn, row: &AuthorizationRow, now: NaiveDateTime) -> AppResult<()> {
    let changed = diesel::update(a::table.find(&row.id).filter(a::status.eq("pending")))
        .set((a::status.eq("voiding"), a::updated_at.eq(now)))
        .execute(conn)?;
    if changed == 1 {
        enqueue(conn, &VoidDue { authorization_id: row.id.clone() }, now)?;
    }
    Ok(())
}

/// The pledge the authorisation `row` holds became `order`, paid by `payer`: a pending card
/// payment of what the order costs, captured by the worker from the authorisation.
pub fn begin_capture(
    conn: &mut DbConn,
    row: &AuthorizationRow,
    order: &OrderRow,
    payer: &str,
    ctx: &Ctx,
) -> AppResult<()> {
    if order.total_fen > row.amount_fen {
        // Cannot happen (tiers only get cheaper); if it did, the order is paid after the close.
        return void(conn, row, ctx.now);
    }
    let payment = pending_payment(
        new_id("pay"),
        &order.id,
        &row.payment_intent_id,
        order.total_fen,
        "cny",
        Some(payer.to_owned()),
        ctx,
    );
    diesel::insert_into(payments::table).values(&payment).execute(conn)?;
    diesel::update(a::table.find(&row.id))
        .set((
            a::status.eq("capturing"),
            a::order_id.eq(&order.id),
            a::payment_id.eq(&payment.id),
            a::capture_fen.eq(order.total_fen),
            a::updated_at.eq(ctx.now),
        ))
        .execute(conn)?;
    let details = json!({"payment_id": payment.id, "method": "stripe", "payment_intent": row.payment_intent_id,
        "authorized_fen": row.amount_fen, "amount_fen": order.total_fen});
    system_event(conn, &order.id, "payment_started", details, ctx)?;
    enqueue(conn, &CaptureDue { authorization_id: row.id.clone() }, ctx.now)
}

fn finish(conn: &mut DbConn, id: &str, from: &str, to: &str, outcome: &str, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(a::table.find(id).filter(a::status.eq(from)))
        .set((a::status.eq(to), a::outcome.eq(outcome), a::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Captures what the order costs and settles it; an authorisation the buyer never completed is
/// voided and the order waits for an ordinary payment. Safe to repeat in any number of workers.
pub async fn push_capture(state: &AppState, gateway: &StripeGateway, id: String) -> AppResult<()> {
    let i = id.clone();
    let Some(row) = state.db.run(move |c| find(c, &i)).await? else { return Ok(()) };
    if row.status != "capturing" {
        return Ok(());
    }
    let amount = row.capture_fen.unwrap_or_default();
    let intent = gateway.intent(&row.payment_intent_id).await.map_err(gateway_error)?;
    let captured = match intent.status.as_str() {
        "requires_capture" => {
            let key = format!("dongxi-capture-{}", row.id);
            let mut captured = gateway.capture(&row.payment_intent_id, amount, &key).await.map_err(gateway_error)?;
            if captured.status == "succeeded" {
                // Stripe took exactly the amount asked for.
                captured.amount_received = amount;
            }
            captured
        }
        "succeeded" => intent,
        "processing" => return Err(anyhow::anyhow!("authorisation {} is still processing", row.id).into()),
        // Never authorised (or cancelled at Stripe): nothing to take.
        _ => {
            if intent.status != "canceled" {
                gateway
                    .cancel_intent(&row.payment_intent_id, &format!("dongxi-void-{}", row.id))
                    .await
                    .map_err(gateway_error)?;
            }
            let ctx = state.ctx();
            return state
                .db
                .write(move |c| {
                    let unpaid = Intent {
                        status: "canceled".into(),
                        failure_message: Some("not authorised before the close".into()),
                        ..intent
                    };
                    close_intent(c, &unpaid, "canceled", &ctx)?;
                    finish(c, &row.id, "capturing", "voided", "not_authorized", ctx.now)
                })
                .await;
        }
    };
    let ctx = state.ctx();
    state
        .db
        .write(move |c| {
            let settled = settle_intent(c, &captured, ctx.now, &ctx)?;
            finish(c, &row.id, "capturing", "captured", settled.outcome(), ctx.now)
        })
        .await
}

/// Releases an authorisation at Stripe.
pub async fn push_void(state: &AppState, gateway: &StripeGateway, id: String) -> AppResult<()> {
    let i = id.clone();
    let Some(row) = state.db.run(move |c| find(c, &i)).await? else { return Ok(()) };
    if row.status != "voiding" {
        return Ok(());
    }
    let intent = gateway.intent(&row.payment_intent_id).await.map_err(gateway_error)?;
    let outcome = match intent.status.as_str() {
        "canceled" => "canceled",
        // Taken after all (cannot happen from here): the money is owed back in full.
        "succeeded" => "captured_unexpectedly",
        _ => {
            gateway
                .cancel_intent(&row.payment_intent_id, &format!("dongxi-void-{}", row.id))
                .await
                .map_err(gateway_error)?;
            "canceled"
        }
    };
    if outcome == "captured_unexpectedly" {
        tracing::error!(authorization = %row.id, intent = %row.payment_intent_id, "a voided pledge authorisation was captured at Stripe");
    }
    let now = state.clock.now_naive();
    state.db.write(move |c| finish(c, &row.id, "voiding", "voided", outcome, now)).await
}

/// A refund Stripe made itself of the part of an authorisation that was never captured: not a
/// refund of ours, so it must not be recorded against the order. True (and remembered) for it.
pub fn is_release(conn: &mut DbConn, payment_intent: &str, refund: &StripeRefund) -> AppResult<bool> {
    let Some(row) = a::table
        .filter(a::payment_intent_id.eq(payment_intent))
        .filter(a::status.eq("captured"))
        .select(AuthorizationRow::as_select())
        .first::<AuthorizationRow>(conn)
        .optional()?
    else {
        return Ok(false);
    };
    let released = row.amount_fen - row.capture_fen.unwrap_or(row.amount_fen);
    match row.release_refund_id.as_deref() {
        Some(known) => Ok(known == refund.id),
        None if refund.refund_id.is_none() && released > 0 && refund.amount == released => {
            diesel::update(a::table.find(&row.id)).set(a::release_refund_id.eq(&refund.id)).execute(conn)?;
            Ok(true)
        }
        None => Ok(false),
    }
}
