//! Paying by Stripe: a PaymentIntent per attempt, recorded as a pending payment; Stripe's
//! confirmation (a webhook, or `payments reconcile --fix`) completes it through
//! [`service::confirm_payment`], the same path as an offline transfer, so it counts the same way.
//! Refunds of Stripe-paid sub-orders are recorded at once (the ledger reverses then) and pushed to
//! Stripe from the outbox with our refund id as the idempotency key.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::gateway::{GatewayError, Intent, StripeGateway};
use super::model::{Method, PaymentRow};
use super::service::{self, Confirmation};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{payments, refunds};
use crate::error::{AppError, AppResult};
use crate::idempotency::{self, IdempotencyKey, Stored};
use crate::identity::Actor;
use crate::identity::Who;
use crate::money::Fen;
use crate::orders::model as order_model;
use crate::orders::state::{OrderStatus, invalid_state};
use crate::state::AppState;
use crate::worker::job::enqueue;
use crate::worker::payloads::SurplusDue;

/// What the buyer's client needs to confirm a payment with Stripe.js.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntentView {
    pub payment_intent_id: String,
    pub client_secret: Option<String>,
    pub amount_fen: i64,
    pub currency: String,
    /// Stripe's status of the intent (`requires_payment_method`, `succeeded` …).
    pub status: String,
    /// Our payment record for this attempt (pending until Stripe confirms).
    pub payment_id: String,
}

pub fn not_configured() -> AppError {
    AppError::unavailable("stripe_not_configured", "card payments through Stripe are not configured here")
}

pub fn gateway_error(e: GatewayError) -> AppError {
    match e {
        GatewayError::Refused { message, code, .. } => {
            AppError::conflict("payment_provider_refused", format!("Stripe refused: {message}"))
                .with("provider_code", code.unwrap_or_default())
        }
        GatewayError::Unavailable(m) => {
            tracing::warn!(error = %m, "Stripe unavailable");
            AppError::unavailable("payment_provider_unavailable", "Stripe cannot be reached; try again shortly")
        }
    }
}

/// Starts (or resumes) a card payment for what `order_id` owes: a replay of the request is
/// answered from our record without reaching Stripe; an earlier attempt still open for the same
/// amount is returned; otherwise a new PaymentIntent, recorded as a pending payment.
pub async fn start_payment(
    state: &AppState,
    actor: &Actor,
    order_id: String,
    key: IdempotencyKey,
) -> AppResult<Stored> {
    let fingerprint = key.fingerprint(&json!({}));
    let org = actor.org.id.clone();
    if let Some(stored) = idempotency::stored(&state.db, &org, &key, &fingerprint).await? {
        return Ok(stored);
    }
    let (a, i) = (actor.clone(), order_id.clone());
    let (due, pending) = state.db.run(move |c| payable(c, &a, &i)).await?;
    // Only after the caller may pay for this order: a stranger learns nothing, not even this.
    let gateway = state.stripe.clone().ok_or_else(not_configured)?;
    let payment_id = crate::ids::new_id("pay");
    let intent = match still_open(&gateway, pending).await? {
        Some(intent) => intent,
        None => {
            let stripe_key = intent_key(&org, &order_id, &payment_id, key.key());
            gateway.create_intent(due.0, &order_id, &stripe_key).await.map_err(gateway_error)?
        }
    };
    let (actor, ctx) = (actor.clone(), state.ctx());
    idempotency::run(&state.db, org, key, fingerprint, ctx.now, move |c| {
        idempotency::created(&record_intent(c, &actor, &order_id, payment_id, &intent, &ctx)?)
    })
    .await
}

/// An earlier attempt's intent, when Stripe still holds it open: reused, so one order (or one
/// pledge) never has two live intents from us.
pub async fn still_open(gateway: &StripeGateway, intent_id: Option<String>) -> AppResult<Option<Intent>> {
    match intent_id {
        Some(pi) => Ok(Some(gateway.intent(&pi).await.map_err(gateway_error)?).filter(|i| i.status != "canceled")),
        None => Ok(None),
    }
}

/// Before asking Stripe: the caller must be the buying organisation of an order awaiting
/// payment. Returns the amount due and the pending intent of an earlier attempt for that amount
/// (reused, so one order never has two live intents from us).
fn payable(conn: &mut DbConn, actor: &Actor, order_id: &str) -> AppResult<(Fen, Option<String>)> {
    let order = order_model::find_visible(conn, actor, order_id)?.ok_or_else(|| AppError::not_found("order"))?;
    crate::orders::lifecycle::require_buyer(actor, &order, "pay for this order")?;
    let status = OrderStatus::parse(&order.status)?;
    if status != OrderStatus::PendingPayment {
        return Err(invalid_state("order", status.as_str(), "paid"));
    }
    let due = Fen(order.total_fen - order.paid_fen);
    let pending: Option<String> = payments::table
        .filter(payments::order_id.eq(order_id))
        .filter(payments::method.eq(Method::Stripe.as_str()))
        .filter(payments::status.eq("pending"))
        .filter(payments::amount_fen.eq(due.0))
        .order(payments::id.desc())
        .select(payments::external_id)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten();
    Ok((due, pending))
}

/// After Stripe answered: records the intent as a pending payment of the order (once per intent).
pub fn record_intent(
    conn: &mut DbConn,
    actor: &Actor,
    order_id: &str,
    payment_id: String,
    intent: &Intent,
    ctx: &Ctx,
) -> AppResult<IntentView> {
    let order = crate::orders::lifecycle::lock_visible(conn, actor, order_id, ctx)?;
    let status = OrderStatus::parse(&order.status)?;
    if status != OrderStatus::PendingPayment {
        return Err(invalid_state("order", status.as_str(), "paid"));
    }
    let existing: Option<String> =
        payments::table.filter(payments::external_id.eq(&intent.id)).select(payments::id).first(conn).optional()?;
    let payment_id = match existing {
        Some(id) => id,
        None => {
            let recorded_by = Some(actor.user_id.clone());
            let row =
                pending_payment(payment_id, &order.id, &intent.id, intent.amount, &intent.currency, recorded_by, ctx);
            diesel::insert_into(payments::table).values(&row).execute(conn)?;
            let details = json!({"payment_id": row.id, "method": "stripe", "payment_intent": intent.id, "amount_fen": intent.amount});
            crate::orders::state::record_event(
                conn,
                &order.id,
                None,
                "payment_started",
                None,
                None,
                &Who::of(actor),
                details,
                ctx,
            )?;
            row.id
        }
    };
    Ok(IntentView {
        payment_intent_id: intent.id.clone(),
        client_secret: intent.client_secret.clone(),
        amount_fen: intent.amount,
        currency: intent.currency.clone(),
        status: intent.status.clone(),
        payment_id,
    })
}

/// Our record of `amount_fen` to come through PaymentIntent `intent_id`, waiting for Stripe's
/// confirmation (for a pledge's authorisation, less than the intent holds).
pub fn pending_payment(
    id: String,
    order_id: &str,
    intent_id: &str,
    amount_fen: i64,
    currency: &str,
    recorded_by: Option<String>,
    ctx: &Ctx,
) -> PaymentRow {
    PaymentRow {
        id,
        order_id: order_id.to_owned(),
        method: Method::Stripe.as_str().into(),
        status: "pending".into(),
        amount_fen,
        currency: currency.to_owned(),
        reference: None,
        external_id: Some(intent_id.to_owned()),
        paid_at: None,
        recorded_by,
        failure_reason: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    }
}

/// An entry in an order's history made by the system (a webhook, the worker, reconcile).
pub fn system_event(
    conn: &mut DbConn,
    order_id: &str,
    action: &str,
    details: serde_json::Value,
    ctx: &Ctx,
) -> AppResult<()> {
    crate::orders::state::record_event(conn, order_id, None, action, None, None, &Who::system(), details, ctx)
}

/// The Stripe idempotency key of a new intent. Derived from our payment id; when the client
/// sent an `Idempotency-Key`, from that instead, so that a retry after a lost answer (which
/// allocates a new payment id) still reaches the same intent rather than a second one.
pub fn intent_key(org_id: &str, order_id: &str, payment_id: &str, client_key: Option<&str>) -> String {
    match client_key {
        Some(k) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(format!("{org_id}\n{order_id}\n{k}").as_bytes());
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("dongxi-pi-{hex}")
        }
        None => format!("dongxi-{payment_id}"),
    }
}

/// What became of a Stripe confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Paid,
    /// Already recorded (a replay, or the webhook and reconcile both delivered it).
    AlreadyPaid,
    /// The money arrived for an order that can no longer take it: queued to go back.
    Surplus,
    /// The intent's amount or currency is not what the order is owed: nothing recorded.
    Mismatch(String),
    /// No order of ours names this intent.
    Unknown,
}

impl Settled {
    pub fn outcome(&self) -> &'static str {
        match self {
            Settled::Paid => "paid",
            Settled::AlreadyPaid => "already_paid",
            Settled::Surplus => "surplus_refunded",
            Settled::Mismatch(_) => "amount_mismatch",
            Settled::Unknown => "unknown_intent",
        }
    }
}

/// A PaymentIntent succeeded at Stripe: the order named by our payment record becomes paid,
/// through the one confirmation path, if the amount and currency are exactly what is owed.
pub fn settle_intent(conn: &mut DbConn, intent: &Intent, paid_at: NaiveDateTime, ctx: &Ctx) -> AppResult<Settled> {
    let Some(payment) = payments::table
        .filter(payments::external_id.eq(&intent.id))
        .select(PaymentRow::as_select())
        .first::<PaymentRow>(conn)
        .optional()?
    else {
        return Ok(Settled::Unknown);
    };
    if intent.order_id.as_deref().is_some_and(|o| o != payment.order_id) {
        return Ok(Settled::Mismatch(format!(
            "the intent names order {:?}, our payment order {}",
            intent.order_id, payment.order_id
        )));
    }
    if payment.status == "succeeded" {
        return Ok(Settled::AlreadyPaid);
    }
    if payment.status == "canceled" && payment.failure_reason.as_deref() == Some(SURPLUS_REASON) {
        return Ok(Settled::Surplus);
    }
    order_model::lock(conn, &payment.order_id, ctx.now)?;
    // Read again under the order's lock: the webhook and the worker (a pledge's capture) may settle
    // the same intent at the same moment, and the second must see that the first paid.
    let payment: PaymentRow = payments::table.find(&payment.id).select(PaymentRow::as_select()).first(conn)?;
    if payment.status == "succeeded" {
        return Ok(Settled::AlreadyPaid);
    }
    let mut order = order_model::find(conn, &payment.order_id)?.ok_or_else(|| AppError::not_found("order"))?;
    let due = order.total_fen - order.paid_fen;
    if intent.currency != "cny" || intent.amount_received != payment.amount_fen {
        return Ok(Settled::Mismatch(format!(
            "Stripe received {} {}, our payment is {} cny",
            intent.amount_received, intent.currency, payment.amount_fen
        )));
    }
    if order.status != OrderStatus::PendingPayment.as_str() || due != payment.amount_fen {
        give_back(conn, &payment, ctx)?;
        return Ok(Settled::Surplus);
    }
    let confirmation = Confirmation {
        method: Method::Stripe,
        amount: Fen(intent.amount_received),
        paid_at,
        reference: intent.latest_charge.clone(),
        external_id: Some(intent.id.clone()),
    };
    service::confirm_payment(conn, &mut order, confirmation, &Who::system(), ctx)?;
    Ok(Settled::Paid)
}

const SURPLUS_REASON: &str = "paid after the order stopped awaiting payment; refunded in full";

/// Money arrived that the order cannot take (it was cancelled, or paid another way): the
/// payment is closed and the whole amount queued to go back through Stripe.
fn give_back(conn: &mut DbConn, payment: &PaymentRow, ctx: &Ctx) -> AppResult<()> {
    diesel::update(payments::table.find(&payment.id))
        .set((
            payments::status.eq("canceled"),
            payments::failure_reason.eq(SURPLUS_REASON),
            payments::updated_at.eq(ctx.now),
        ))
        .execute(conn)?;
    let details =
        json!({"payment_id": payment.id, "amount_fen": payment.amount_fen, "payment_intent": payment.external_id});
    system_event(conn, &payment.order_id, "payment_returned", details, ctx)?;
    enqueue(conn, &SurplusDue { payment_id: payment.id.clone() }, ctx.now)
}

/// A PaymentIntent failed or was cancelled at Stripe: the attempt is closed with the reason; the
/// order keeps awaiting payment, and the buyer may try again.
pub fn close_intent(conn: &mut DbConn, intent: &Intent, status: &str, ctx: &Ctx) -> AppResult<bool> {
    let Some(payment) = payments::table
        .filter(payments::external_id.eq(&intent.id))
        .filter(payments::status.eq("pending"))
        .select(PaymentRow::as_select())
        .first::<PaymentRow>(conn)
        .optional()?
    else {
        return Ok(false);
    };
    let reason = intent.failure_message.clone().unwrap_or_else(|| status.to_owned());
    diesel::update(payments::table.find(&payment.id).filter(payments::status.eq("pending")))
        .set((payments::status.eq(status), payments::failure_reason.eq(&reason), payments::updated_at.eq(ctx.now)))
        .execute(conn)?;
    let action = if status == "failed" { "payment_failed" } else { "payment_canceled" };
    let details = json!({"payment_id": payment.id, "payment_intent": intent.id, "reason": reason});
    system_event(conn, &payment.order_id, action, details, ctx)?;
    Ok(true)
}

/// A refund we recorded, to be made at Stripe.
#[derive(Debug, Clone)]
pub struct RefundToPush {
    pub refund_id: String,
    pub payment_intent: String,
    pub amount_fen: i64,
}

pub fn refund_to_push(conn: &mut DbConn, refund_id: &str) -> AppResult<Option<RefundToPush>> {
    let row: Option<(String, i64, Option<String>)> = refunds::table
        .inner_join(payments::table)
        .filter(refunds::id.eq(refund_id))
        .filter(refunds::status.eq("pending"))
        .filter(refunds::method.eq(Method::Stripe.as_str()))
        .select((refunds::id, refunds::amount_fen, payments::external_id))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(refund_id, amount_fen, pi)| Some(RefundToPush { refund_id, amount_fen, payment_intent: pi? })))
}

/// Stripe made our refund: it is complete (once, whoever gets here first).
pub fn complete_refund(conn: &mut DbConn, refund_id: &str, stripe_refund_id: &str, ctx: &Ctx) -> AppResult<bool> {
    let changed = diesel::update(refunds::table.find(refund_id).filter(refunds::status.eq("pending")))
        .set((
            refunds::status.eq("succeeded"),
            refunds::external_id.eq(stripe_refund_id),
            refunds::completed_at.eq(ctx.now),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Makes a recorded refund at Stripe and completes it. Safe to run any number of times, in any
/// number of processes: the Stripe idempotency key is our refund id.
pub async fn push_refund(state: &AppState, gateway: &StripeGateway, refund_id: String) -> AppResult<bool> {
    let db = state.db.clone();
    let id = refund_id.clone();
    let Some(push) = db.run(move |c| refund_to_push(c, &id)).await? else { return Ok(false) };
    let made =
        gateway.create_refund(&push.payment_intent, push.amount_fen, &push.refund_id).await.map_err(gateway_error)?;
    let ctx = state.ctx();
    state.db.write(move |c| complete_refund(c, &push.refund_id, &made.id, &ctx)).await
}

/// Gives back a surplus payment in full at Stripe (idempotency key: our payment id).
pub async fn push_surplus(state: &AppState, gateway: &StripeGateway, payment_id: String) -> AppResult<()> {
    let id = payment_id.clone();
    let payment: PaymentRow =
        state.db.run(move |c| Ok(payments::table.find(&id).select(PaymentRow::as_select()).first(c)?)).await?;
    let Some(intent) = payment.external_id else { return Ok(()) };
    gateway.create_refund(&intent, payment.amount_fen, &payment.id).await.map_err(gateway_error)?;
    Ok(())
}
