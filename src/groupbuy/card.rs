//! Paying a pledge by card ahead of the close. A card authorisation lasts about seven days at
//! Stripe, so a pledge may be authorised (manual capture) for the highest amount it can come to
//! (its quantity at the first tier's price) only when the campaign closes within 6 days; longer
//! campaigns are paid after the close, like any order.
//!
//! The close records a pending payment of the pledge's order for what it finally costs and queues
//! the capture; the worker captures that amount (Stripe releases the rest) and settles the order
//! through the one confirmation path. A pledge withdrawn, replaced or released has its
//! authorisation voided. Every Stripe call is made from the outbox with a key derived from our id.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::model::{self, PledgeRow};
use super::types::CampaignTier;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{payments, pledge_authorizations as a};
use crate::error::{AppError, AppResult};
use crate::idempotency::{self, IdempotencyKey, Stored};
use crate::identity::Actor;
use crate::ids::new_id;
use crate::orders::model::OrderRow;
use crate::payments::gateway::{Intent, StripeGateway, StripeRefund};
use crate::payments::stripe::{gateway_error, not_configured, pending_payment, settle_intent, system_event};
use crate::state::AppState;

/// Capture this authorisation (payload `{"authorization_id"}`).
pub const CAPTURE_TOPIC: &str = "stripe.capture";
/// Void this authorisation (payload `{"authorization_id"}`).
pub const VOID_TOPIC: &str = "stripe.void";
/// How long before `closes_at` a pledge may be authorised: Stripe holds an authorisation ~7 days.
pub const AUTHORIZATION_WINDOW_DAYS: i64 = 6;

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

/// What the buyer's client needs to authorise the card with Stripe.js.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthorizationView {
    pub id: String,
    pub pledge_id: String,
    pub payment_intent_id: String,
    pub client_secret: Option<String>,
    /// The most the pledge can cost (its quantity at the first tier's price); the close takes
    /// what it finally costs and releases the rest.
    pub amount_fen: i64,
    pub currency: String,
    /// Always `manual`: nothing is taken before the close.
    pub capture_method: String,
    /// Stripe's status of the intent (`requires_payment_method`, then `requires_capture` …).
    pub status: String,
}

fn find(conn: &mut DbConn, id: &str) -> AppResult<Option<AuthorizationRow>> {
    Ok(a::table.find(id).select(AuthorizationRow::as_select()).first(conn).optional()?)
}

fn live_of(conn: &mut DbConn, pledge_id: &str) -> AppResult<Option<AuthorizationRow>> {
    Ok(a::table
        .filter(a::pledge_id.eq(pledge_id))
        .filter(a::status.eq("pending"))
        .order(a::id.desc())
        .select(AuthorizationRow::as_select())
        .first(conn)
        .optional()?)
}

/// The most a pledge of `quantity` can cost: tiers only get cheaper.
fn ceiling(tiers: &[CampaignTier], quantity: i64) -> AppResult<i64> {
    let first = tiers.first().map(|t| t.unit_price_fen).unwrap_or_default();
    first.checked_mul(quantity).ok_or_else(|| AppError::unprocessable("validation_failed", "the amount is too large"))
}

/// Before asking Stripe: the caller's organisation holds this active pledge, the campaign takes
/// pledges and closes within the window. Returns the amount and an open authorisation to reuse.
fn authorizable(
    conn: &mut DbConn,
    actor: &Actor,
    campaign_id: &str,
    pledge_id: &str,
    now: NaiveDateTime,
) -> AppResult<(i64, Option<String>)> {
    let c = model::find(conn, campaign_id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    let p = model::find_pledge(conn, pledge_id)?
        .filter(|p| p.group_buy_id == c.id && p.org_id == actor.org.id)
        .ok_or_else(|| AppError::not_found("pledge"))?;
    if p.status != "active" {
        return Err(AppError::conflict("invalid_state", format!("the pledge is {}; it cannot be paid", p.status))
            .with("current_status", p.status.clone()));
    }
    if !super::service::accepting(&c, now)? {
        return Err(super::service::not_open(&c, now)?);
    }
    if c.closes_at > now + chrono::Duration::days(AUTHORIZATION_WINDOW_DAYS) {
        return Err(AppError::conflict(
            "authorization_unavailable",
            "the campaign closes more than 6 days from now, longer than a card authorisation holds: pay the order after the close",
        )
        .with("closes_at", crate::clock::utc(c.closes_at).to_rfc3339()));
    }
    let amount = ceiling(&c.tiers()?, p.quantity)?;
    let open = live_of(conn, &p.id)?.filter(|r| r.amount_fen == amount).map(|r| r.payment_intent_id);
    Ok((amount, open))
}

/// Authorises the pledge's card for the most it can cost (Stripe, manual capture). A replay is
/// answered from our record; an open authorisation of the same amount is returned again.
pub async fn authorize(
    state: &AppState,
    actor: &Actor,
    campaign_id: String,
    pledge_id: String,
    key: IdempotencyKey,
) -> AppResult<Stored> {
    let path = format!("/group-buys/{campaign_id}/pledges/{pledge_id}/authorization");
    let fingerprint = idempotency::fingerprint("POST", &path, &json!({}));
    let org = actor.org.id.clone();
    if let Some(stored) = idempotency::stored(&state.db, &org, &key, &fingerprint).await? {
        return Ok(stored);
    }
    let (a1, c1, p1, now) = (actor.clone(), campaign_id.clone(), pledge_id.clone(), state.clock.now_naive());
    let (amount, open) = state.db.run(move |c| authorizable(c, &a1, &c1, &p1, now)).await?;
    // Only after the caller may authorise this pledge: a stranger learns nothing, not even this.
    let gateway = state.stripe.clone().ok_or_else(not_configured)?;
    let open = match open {
        Some(pi) => Some(gateway.intent(&pi).await.map_err(gateway_error)?).filter(|i| i.status != "canceled"),
        None => None,
    };
    let id = new_id("pau");
    let intent = match open {
        Some(intent) => intent,
        None => {
            let stripe_key = crate::payments::stripe::intent_key(&org, &pledge_id, &id, key.0.as_deref());
            gateway.create_authorization(amount, &pledge_id, &stripe_key).await.map_err(gateway_error)?
        }
    };
    let (actor, ctx) = (actor.clone(), state.ctx());
    idempotency::run(&state.db, org, key, fingerprint, ctx.now, move |c| {
        idempotency::created(&record(c, &actor, &campaign_id, &pledge_id, id, &intent, &ctx)?)
    })
    .await
}

/// After Stripe answered: records the authorisation (once per intent), under the campaign lock
/// so the pledge cannot end meanwhile.
fn record(
    conn: &mut DbConn,
    actor: &Actor,
    campaign_id: &str,
    pledge_id: &str,
    id: String,
    intent: &Intent,
    ctx: &Ctx,
) -> AppResult<AuthorizationView> {
    if !model::lock(conn, campaign_id, ctx.now)? {
        return Err(AppError::not_found("group purchase"));
    }
    let (amount, _) = authorizable(conn, actor, campaign_id, pledge_id, ctx.now)?;
    let existing: Option<AuthorizationRow> = a::table
        .filter(a::payment_intent_id.eq(&intent.id))
        .select(AuthorizationRow::as_select())
        .first(conn)
        .optional()?;
    let row = match existing {
        Some(row) => row,
        None => {
            // An older authorisation of another amount (the pledge changed since) is voided.
            if let Some(old) = live_of(conn, pledge_id)? {
                void(conn, &old, ctx.now)?;
            }
            let row = AuthorizationRow {
                id,
                pledge_id: pledge_id.to_owned(),
                group_buy_id: campaign_id.to_owned(),
                payment_intent_id: intent.id.clone(),
                amount_fen: amount,
                status: "pending".into(),
                order_id: None,
                payment_id: None,
                capture_fen: None,
                release_refund_id: None,
                outcome: None,
                created_at: ctx.now,
                updated_at: ctx.now,
            };
            diesel::insert_into(a::table).values(&row).execute(conn)?;
            row
        }
    };
    Ok(AuthorizationView {
        id: row.id,
        pledge_id: row.pledge_id,
        payment_intent_id: intent.id.clone(),
        client_secret: intent.client_secret.clone(),
        amount_fen: row.amount_fen,
        currency: intent.currency.clone(),
        capture_method: "manual".into(),
        status: intent.status.clone(),
    })
}

fn void(conn: &mut DbConn, row: &AuthorizationRow, now: NaiveDateTime) -> AppResult<()> {
    let changed = diesel::update(a::table.find(&row.id).filter(a::status.eq("pending")))
        .set((a::status.eq("voiding"), a::updated_at.eq(now)))
        .execute(conn)?;
    if changed == 1 {
        crate::outbox::enqueue(conn, VOID_TOPIC, &json!({"authorization_id": row.id}), now)?;
    }
    Ok(())
}

/// The pledge ended without an order (withdrawn, replaced, released): its authorisation goes.
pub fn void_for(conn: &mut DbConn, pledge_id: &str, now: NaiveDateTime) -> AppResult<()> {
    match live_of(conn, pledge_id)? {
        Some(row) => void(conn, &row, now),
        None => Ok(()),
    }
}

/// The pledge became `order`: a pending card payment of what the order costs, captured by the
/// worker from the authorisation.
pub fn capture_for(conn: &mut DbConn, pledge: &PledgeRow, order: &OrderRow, ctx: &Ctx) -> AppResult<()> {
    let Some(row) = live_of(conn, &pledge.id)? else { return Ok(()) };
    if order.total_fen > row.amount_fen {
        // Cannot happen (tiers only get cheaper); if it did, the order is paid after the close.
        return void(conn, &row, ctx.now);
    }
    let payment = pending_payment(
        new_id("pay"),
        &order.id,
        &row.payment_intent_id,
        order.total_fen,
        "cny",
        Some(pledge.user_id.clone()),
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
    crate::outbox::enqueue(conn, CAPTURE_TOPIC, &json!({"authorization_id": row.id}), ctx.now)
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
                    crate::payments::stripe::close_intent(c, &unpaid, "canceled", &ctx)?;
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
