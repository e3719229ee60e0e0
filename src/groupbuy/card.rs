//! Paying a pledge by card ahead of the close. A card authorisation lasts about seven days at
//! Stripe, so a pledge may be authorised (manual capture) for the highest amount it can come to
//! (its quantity at the first tier's price) only when the campaign closes within 6 days; longer
//! campaigns are paid after the close, like any order.
//!
//! The close records a pending payment of the pledge's order for what it finally costs and queues
//! the capture; the worker captures that amount (Stripe releases the rest) and settles the order
//! through the one confirmation path. A pledge withdrawn, replaced or released has its
//! authorisation voided. The money side of all this is `payments::authorization`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::model::{self, PledgeRow};
use super::types::CampaignTier;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::pledge_authorizations as a;
use crate::error::{AppError, AppResult};
use crate::idempotency::{self, IdempotencyKey, Stored};
use crate::identity::Actor;
use crate::ids::new_id;
use crate::orders::model::OrderRow;
use crate::payments::authorization::{AuthorizationRow, begin_capture, live_of, void};
use crate::payments::gateway::Intent;
use crate::payments::stripe::{gateway_error, not_configured, still_open};
use crate::state::AppState;

/// How long before `closes_at` a pledge may be authorised: Stripe holds an authorisation ~7 days.
pub const AUTHORIZATION_WINDOW_DAYS: i64 = 6;

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
    if !super::status::accepting(&c, now)? {
        return Err(super::status::not_open(&c, now)?);
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
    let fingerprint = key.fingerprint(&json!({}));
    let org = actor.org.id.clone();
    if let Some(stored) = idempotency::stored(&state.db, &org, &key, &fingerprint).await? {
        return Ok(stored);
    }
    let (a1, c1, p1, now) = (actor.clone(), campaign_id.clone(), pledge_id.clone(), state.clock.now_naive());
    let (amount, open) = state.db.run(move |c| authorizable(c, &a1, &c1, &p1, now)).await?;
    // Only after the caller may authorise this pledge: a stranger learns nothing, not even this.
    let gateway = state.stripe.clone().ok_or_else(not_configured)?;
    let id = new_id("pau");
    let intent = match still_open(&gateway, open).await? {
        Some(intent) => intent,
        None => {
            let stripe_key = crate::payments::stripe::intent_key(&org, &pledge_id, &id, key.key());
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

/// The pledge became `order`: a pending card payment of what the order costs, captured by the
/// worker from the authorisation.
pub fn capture_for(conn: &mut DbConn, pledge: &PledgeRow, order: &OrderRow, ctx: &Ctx) -> AppResult<()> {
    match live_of(conn, &pledge.id)? {
        Some(row) => begin_capture(conn, &row, order, &pledge.user_id, ctx),
        None => Ok(()),
    }
}

/// The pledge ended without an order (withdrawn, replaced, released): its authorisation goes.
pub fn void_for(conn: &mut DbConn, pledge_id: &str, now: NaiveDateTime) -> AppResult<()> {
    match live_of(conn, pledge_id)? {
        Some(row) => void(conn, &row, now),
        None => Ok(()),
    }
}
