//! `dongxi payments reconcile --since DATE [--fix]`: Stripe's records against ours. Lists every
//! PaymentIntent created since DATE that names one of our orders, and every Stripe payment of
//! ours since then, and reports where the two disagree. `--fix` applies what Stripe confirmed
//! and we missed through the same paths a webhook takes (so it counts the same way) and pushes
//! refunds still waiting; disagreements that need a person (amounts that differ, money we
//! record that Stripe does not have) are only reported.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::gateway::{Intent, StripeGateway};
use super::model::{Method, PaymentRow, RefundRow};
use super::stripe::{self as stripe_pay, gateway_error};
use super::webhook;
use crate::db::schema::{orders, payments, refunds};
use crate::error::AppResult;
use crate::ids::new_id;
use crate::state::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `succeeded_unpaid`, `amount_differs`, `paid_here_not_at_stripe`, `missing_at_stripe`,
    /// `unknown_order`, `refund_missing_here`, `refund_missing_at_stripe`, `refund_not_pushed`.
    pub kind: &'static str,
    pub payment_intent: String,
    pub order_id: Option<String>,
    pub detail: String,
    /// Whether `--fix` can mend it (and, after a fix run, whether it was mended).
    pub fixable: bool,
    pub fixed: bool,
}

impl Mismatch {
    fn new(kind: &'static str, intent: &str, order: Option<&str>, detail: String, fixable: bool) -> Mismatch {
        Mismatch {
            kind,
            payment_intent: intent.to_owned(),
            order_id: order.map(str::to_owned),
            detail,
            fixable,
            fixed: false,
        }
    }
}

/// Every PaymentIntent at Stripe created at or after `since` that names an order of ours.
async fn stripe_intents(gateway: &StripeGateway, since: i64) -> AppResult<Vec<Intent>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, more) = gateway.intents_page(after.as_deref()).await.map_err(gateway_error)?;
        after = page.last().map(|i| i.id.clone());
        out.extend(page.into_iter().filter(|i| i.created >= since && i.order_id.is_some()));
        if !more || after.is_none() {
            return Ok(out);
        }
    }
}

/// Compares, and with `fix` mends what can be mended. Returns every disagreement found.
pub async fn run(
    state: &AppState,
    gateway: &StripeGateway,
    since: NaiveDateTime,
    fix: bool,
) -> AppResult<Vec<Mismatch>> {
    let intents = stripe_intents(gateway, since.and_utc().timestamp()).await?;
    let ours: Vec<PaymentRow> = state
        .db
        .run(move |c| {
            Ok(payments::table
                .filter(payments::method.eq(Method::Stripe.as_str()))
                .filter(payments::created_at.ge(since))
                .select(PaymentRow::as_select())
                .load(c)?)
        })
        .await?;
    let named: Vec<String> = intents.iter().filter_map(|i| i.order_id.clone()).collect();
    let known_orders: HashSet<String> = state
        .db
        .run(move |c| Ok(orders::table.filter(orders::id.eq_any(&named)).select(orders::id).load::<String>(c)?))
        .await?
        .into_iter()
        .collect();
    let seen: HashSet<String> = intents.iter().map(|i| i.id.clone()).collect();
    let mut found = Vec::new();
    for p in ours.iter().filter(|p| p.status == "succeeded") {
        let pi = p.external_id.clone().unwrap_or_default();
        if !seen.contains(&pi) {
            // Created before `since` at Stripe, or unknown there: ask for it by id.
            match gateway.intent(&pi).await {
                Ok(intent) if intent.status == "succeeded" => {}
                Ok(intent) => found.push(Mismatch::new(
                    "paid_here_not_at_stripe",
                    &pi,
                    Some(&p.order_id),
                    format!("we record {} fen paid; Stripe says the intent is {}", p.amount_fen, intent.status),
                    false,
                )),
                Err(e) => found.push(Mismatch::new(
                    "missing_at_stripe",
                    &pi,
                    Some(&p.order_id),
                    format!("we record {} fen paid; Stripe: {e}", p.amount_fen),
                    false,
                )),
            }
        }
    }
    let by_intent: HashMap<String, PaymentRow> =
        ours.into_iter().filter_map(|p| p.external_id.clone().map(|pi| (pi, p))).collect();
    for intent in &intents {
        let order = intent.order_id.as_deref();
        if !order.is_some_and(|o| known_orders.contains(o)) {
            if intent.status == "succeeded" {
                found.push(Mismatch::new(
                    "unknown_order",
                    &intent.id,
                    order,
                    format!("Stripe received {} fen for an order this database does not have", intent.amount_received),
                    false,
                ));
            }
            continue;
        }
        let payment = by_intent.get(&intent.id);
        if intent.status != "succeeded" {
            if payment.is_some_and(|p| p.status == "succeeded") {
                found.push(Mismatch::new(
                    "paid_here_not_at_stripe",
                    &intent.id,
                    order,
                    format!("Stripe says {}", intent.status),
                    false,
                ));
            }
            continue;
        }
        match payment {
            Some(p) if p.status == "succeeded" && p.amount_fen != intent.amount_received => found.push(Mismatch::new(
                "amount_differs",
                &intent.id,
                order,
                format!("Stripe received {} fen, we record {} fen", intent.amount_received, p.amount_fen),
                false,
            )),
            Some(p) if p.status == "succeeded" => {
                refunds_compared(state, gateway, intent, p, &mut found).await?;
            }
            Some(p) if p.status == "canceled" => {} // paid too late: given back (see refunds below)
            _ => found.push(Mismatch::new(
                "succeeded_unpaid",
                &intent.id,
                order,
                format!("Stripe received {} fen; the order is not recorded as paid by it", intent.amount_received),
                true,
            )),
        }
    }
    if fix {
        for m in found.iter_mut().filter(|m| m.fixable) {
            m.fixed = mend(state, gateway, m, &intents).await?;
        }
    }
    Ok(found)
}

async fn refunds_compared(
    state: &AppState,
    gateway: &StripeGateway,
    intent: &Intent,
    payment: &PaymentRow,
    found: &mut Vec<Mismatch>,
) -> AppResult<()> {
    let at_stripe = gateway.refunds_of(&intent.id).await.map_err(gateway_error)?;
    let payment_id = payment.id.clone();
    let ours: Vec<RefundRow> = state
        .db
        .run(move |c| {
            Ok(refunds::table.filter(refunds::payment_id.eq(&payment_id)).select(RefundRow::as_select()).load(c)?)
        })
        .await?;
    let order = Some(payment.order_id.as_str());
    for r in &at_stripe {
        let known = ours.iter().any(|o| {
            o.external_id.as_deref().is_some_and(|x| x == r.id || x.starts_with(&format!("{}#", r.id)))
                || r.refund_id.as_deref() == Some(o.id.as_str())
        });
        if !known && r.refund_id.as_deref() != Some(payment.id.as_str()) {
            found.push(Mismatch::new(
                "refund_missing_here",
                &intent.id,
                order,
                format!("Stripe refund {} of {} fen is not in our records", r.id, r.amount),
                true,
            ));
        }
    }
    for o in &ours {
        match (&o.external_id, o.status.as_str()) {
            (_, "pending") => found.push(Mismatch::new(
                "refund_not_pushed",
                &intent.id,
                order,
                format!("our refund {} of {} fen is not yet made at Stripe", o.id, o.amount_fen),
                true,
            )),
            (Some(x), _) if !at_stripe.iter().any(|r| x == &r.id || x.starts_with(&format!("{}#", r.id))) => found
                .push(Mismatch::new(
                    "refund_missing_at_stripe",
                    &intent.id,
                    order,
                    format!("our refund {} of {} fen ({x}) is not at Stripe", o.id, o.amount_fen),
                    false,
                )),
            _ => {}
        }
    }
    Ok(())
}

/// Mends one disagreement through the normal paths.
async fn mend(state: &AppState, gateway: &StripeGateway, m: &Mismatch, intents: &[Intent]) -> AppResult<bool> {
    let Some(intent) = intents.iter().find(|i| i.id == m.payment_intent).cloned() else { return Ok(false) };
    let ctx = state.ctx();
    match m.kind {
        "succeeded_unpaid" => {
            let paid_at = chrono::DateTime::from_timestamp(intent.created, 0).map(|t| t.naive_utc()).unwrap_or(ctx.now);
            let settled = state
                .db
                .write(move |c| {
                    adopt(c, &intent, &ctx)?;
                    stripe_pay::settle_intent(c, &intent, paid_at, &ctx)
                })
                .await?;
            Ok(matches!(settled, stripe_pay::Settled::Paid | stripe_pay::Settled::Surplus))
        }
        "refund_missing_here" => {
            let listed = gateway.refunds_of(&intent.id).await.map_err(gateway_error)?;
            let outcome = state.db.write(move |c| webhook::absorb_refunds(c, &intent.id, &listed, &ctx)).await?;
            Ok(outcome.outcome == "refund_recorded")
        }
        "refund_not_pushed" => {
            let pi = intent.id.clone();
            let pending: Vec<String> = state
                .db
                .run(move |c| {
                    Ok(refunds::table
                        .inner_join(payments::table)
                        .filter(payments::external_id.eq(&pi))
                        .filter(refunds::status.eq("pending"))
                        .select(refunds::id)
                        .load(c)?)
                })
                .await?;
            let mut all = true;
            for id in pending {
                all &= stripe_pay::push_refund(state, gateway, id).await?;
            }
            Ok(all)
        }
        _ => Ok(false),
    }
}

/// An intent that succeeded at Stripe with no payment record of ours (the record was lost, or
/// made by another tool): record it as a pending payment of the order it names, so that
/// settling checks it like any other.
fn adopt(conn: &mut crate::db::DbConn, intent: &Intent, ctx: &crate::ctx::Ctx) -> AppResult<()> {
    let known: i64 = payments::table.filter(payments::external_id.eq(&intent.id)).count().get_result(conn)?;
    let Some(order_id) = intent.order_id.clone() else { return Ok(()) };
    if known > 0 || crate::orders::model::find(conn, &order_id)?.is_none() {
        return Ok(());
    }
    let row =
        stripe_pay::pending_payment(new_id("pay"), &order_id, &intent.id, intent.amount, &intent.currency, None, ctx);
    diesel::insert_into(payments::table).values(&row).execute(conn)?;
    Ok(())
}
