//! Paying settlements out, two ways behind one record (`payouts`, at most one live per
//! settlement, so nothing is paid twice):
//!
//! - **Bank transfer.** Finance takes scheduled settlements into a batch (`paying`), downloads
//!   its file for the bank (户名, 开户行, 账号, 金额, 摘要), and records the bank's confirmation
//!   (`paid`), or that it failed or came back (the settlement is `scheduled` again).
//! - **Stripe Connect.** A producer with a connected account is paid by a transfer the worker
//!   makes (idempotency key from the payout's id) as soon as the run settles it; a refusal (a
//!   Stripe-compatible server without transfers, a closed account) fails the payout with Stripe's
//!   words and leaves the settlement to the bank; a transfer reversed later reopens it.
//!
//! Cancelling a scheduled settlement releases its payables to the next run.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::model::{self, PayoutRow, SettlementRow, record_event};
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{payables as p, payouts as po, settlements as s};
use crate::error::{AppError, AppResult};
use crate::identity::{Actor, Who, policy};
use crate::ids::new_id;
use crate::payments::gateway::{GatewayError, StripeGateway};
use crate::worker::job::enqueue;
use crate::worker::payloads::{Notice, TransferDue};

pub fn invalid_state(status: &str, action: &str) -> AppError {
    AppError::conflict("invalid_state", format!("the settlement is {status}; it cannot be {action}"))
        .with("current_status", status)
}

/// The settlement, locked for a change (platform finance only).
fn lock_for_finance(conn: &mut DbConn, actor: &Actor, id: &str, now: NaiveDateTime) -> AppResult<SettlementRow> {
    policy::require_platform_admin(actor)?;
    if !model::lock(conn, id, now)? {
        return Err(AppError::not_found("settlement"));
    }
    model::find_settlement(conn, id)?.ok_or_else(|| AppError::not_found("settlement"))
}

fn insert_payout(
    conn: &mut DbConn,
    settlement: &SettlementRow,
    method: &str,
    batch: Option<&str>,
    by: Option<&str>,
    now: NaiveDateTime,
) -> AppResult<PayoutRow> {
    let row = PayoutRow {
        id: new_id("pyo"),
        settlement_id: settlement.id.clone(),
        method: method.to_owned(),
        status: "pending".into(),
        amount_fen: settlement.amount_fen,
        batch_id: batch.map(str::to_owned),
        external_id: None,
        reference: None,
        failure_reason: None,
        recorded_by: by.map(str::to_owned),
        created_at: now,
        completed_at: None,
    };
    diesel::insert_into(po::table).values(&row).execute(conn)?;
    Ok(row)
}

/// A newly settled producer with a Stripe connected account: its transfer is queued.
pub fn start_stripe_if_connected(conn: &mut DbConn, settlement: &SettlementRow, now: NaiveDateTime) -> AppResult<()> {
    let connected = model::bank_account(conn, &settlement.producer_id)?.and_then(|b| b.stripe_account_id);
    if connected.is_none() || !model::move_status(conn, &settlement.id, &["scheduled"], "paying", now)? {
        return Ok(());
    }
    let payout = insert_payout(conn, settlement, "stripe", None, None, now)?;
    record_event(
        conn,
        &settlement.id,
        "payout_started",
        &Who::system(),
        json!({"payout_id": payout.id, "method": "stripe"}),
        now,
    )?;
    enqueue(conn, &TransferDue { payout_id: payout.id }, now)
}

/// Makes a queued Stripe payout: the transfer (idempotent by our payout id), then the record.
/// A refusal fails the payout and reopens the settlement; an unreachable Stripe is retried.
pub async fn push_transfer(
    state: &crate::state::AppState,
    gateway: &StripeGateway,
    payout_id: String,
) -> AppResult<()> {
    let id = payout_id.clone();
    // pending → sending first: finance cannot fail a payout whose transfer may be on its way.
    let claimed = state
        .db
        .write(move |c| {
            let Some(payout) = model::find_payout(c, &id)? else { return Ok(None) };
            let moved = diesel::update(po::table.find(&id).filter(po::status.eq_any(["pending", "sending"])))
                .set(po::status.eq("sending"))
                .execute(c)?;
            if moved == 0 {
                return Ok(None);
            }
            let settlement =
                model::find_settlement(c, &payout.settlement_id)?.ok_or_else(|| AppError::not_found("settlement"))?;
            let account = model::bank_account(c, &settlement.producer_id)?.and_then(|b| b.stripe_account_id);
            Ok(Some((payout, account)))
        })
        .await?;
    let Some((payout, account)) = claimed else { return Ok(()) };
    let outcome = match account {
        Some(destination) => {
            gateway
                .create_transfer(
                    payout.amount_fen,
                    &destination,
                    &payout.settlement_id,
                    &format!("dongxi-{}", payout.id),
                )
                .await
        }
        None => Err(GatewayError::Refused {
            status: 400,
            code: None,
            message: "the producer has no Stripe connected account".into(),
        }),
    };
    let now = state.clock.now_naive();
    match outcome {
        Ok(transfer_id) => {
            state.db.write(move |c| complete(c, &payout, Some(&transfer_id), None, &Who::system(), now)).await
        }
        Err(GatewayError::Refused { message, .. }) => {
            let reason = format!("Stripe refused the transfer: {message}; pay this settlement by bank transfer");
            state.db.write(move |c| fail(c, &payout, &reason, &Who::system(), now)).await
        }
        // Not Stripe's answer: a server without transfers refuses for good; otherwise (a proxy's
        // page) the transfer is tried again with the same key, which Stripe answers with the first
        // result, so nothing is paid twice.
        Err(e) if e.is_foreign_answer() && !gateway.has_transfers().await.unwrap_or(true) => {
            let reason = "this Stripe has no transfers to connected accounts; pay this settlement by bank transfer";
            state.db.write(move |c| fail(c, &payout, reason, &Who::system(), now)).await
        }
        Err(e) => Err(AppError::Unavailable(format!("Stripe: {e}"))),
    }
}

/// The payout went through: it and its settlement are paid, and the producer is told.
fn complete(
    conn: &mut DbConn,
    payout: &PayoutRow,
    external_id: Option<&str>,
    reference: Option<&str>,
    who: &Who,
    now: NaiveDateTime,
) -> AppResult<()> {
    let moved = diesel::update(po::table.find(&payout.id).filter(po::status.eq_any(["pending", "sending"])))
        .set((
            po::status.eq("paid"),
            po::external_id.eq(external_id),
            po::reference.eq(reference),
            po::completed_at.eq(now),
        ))
        .execute(conn)?;
    if moved == 0 {
        return Ok(());
    }
    if !model::move_status(conn, &payout.settlement_id, &["paying"], "paid", now)? {
        return Err(
            anyhow::anyhow!("settlement {} was not paying when its payout completed", payout.settlement_id).into()
        );
    }
    let details = json!({"payout_id": payout.id, "method": payout.method, "amount_fen": payout.amount_fen, "reference": reference, "transfer": external_id});
    record_event(conn, &payout.settlement_id, "paid", who, details, now)?;
    enqueue(conn, &Notice::SettlementPaid { settlement_id: payout.settlement_id.clone() }, now)
}

/// The payout failed (or came back after it was paid): the settlement is scheduled again, to
/// be paid by another payout; nothing of it is lost.
fn fail(conn: &mut DbConn, payout: &PayoutRow, reason: &str, who: &Who, now: NaiveDateTime) -> AppResult<()> {
    let moved = diesel::update(po::table.find(&payout.id).filter(po::status.eq_any(["pending", "sending", "paid"])))
        .set((po::status.eq("failed"), po::failure_reason.eq(reason), po::completed_at.eq(now)))
        .execute(conn)?;
    if moved == 0 {
        return Ok(());
    }
    model::move_status(conn, &payout.settlement_id, &["paying", "paid"], "scheduled", now)?;
    let details = json!({"payout_id": payout.id, "method": payout.method, "reason": reason, "was": payout.status});
    record_event(conn, &payout.settlement_id, "payout_failed", who, details, now)
}

/// Stripe reversed a transfer (the connected account sent it back): the payout is returned and
/// the settlement reopened. False for a transfer that is not one of ours.
pub fn transfer_reversed(conn: &mut DbConn, transfer_id: &str, now: NaiveDateTime) -> AppResult<bool> {
    let Some(payout) = po::table
        .filter(po::external_id.eq(transfer_id))
        .select(PayoutRow::as_select())
        .first::<PayoutRow>(conn)
        .optional()?
    else {
        return Ok(false);
    };
    model::lock(conn, &payout.settlement_id, now)?;
    fail(conn, &payout, "the transfer was reversed at Stripe", &Who::system(), now)?;
    Ok(true)
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// The settlements to pay (each `scheduled`); absent: every scheduled settlement whose
    /// producer has bank details.
    pub settlement_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchLine {
    pub settlement_id: String,
    pub payout_id: String,
    pub producer_id: String,
    pub account_name: String,
    pub bank_name: String,
    pub account_no: String,
    pub amount_fen: i64,
    /// 摘要: what the producer's bank statement shows.
    pub memo: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PaymentBatchView)]
pub struct BatchView {
    pub id: String,
    pub lines: Vec<BatchLine>,
    pub total_fen: i64,
    /// Scheduled settlements left out: their producers have no bank details yet.
    pub skipped_settlement_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
}

fn memo(settlement: &SettlementRow, zone: chrono_tz::Tz) -> String {
    let day = |t: NaiveDateTime| t.and_utc().with_timezone(&zone).format("%Y%m%d").to_string();
    format!("东西货款结算 {} {}-{}", settlement.id, day(settlement.due_from), day(settlement.due_to))
}

/// Finance takes scheduled settlements into a bank batch: each gets a pending bank payout.
pub fn batch(conn: &mut DbConn, actor: &Actor, body: BatchBody, ctx: &Ctx) -> AppResult<BatchView> {
    policy::require_platform_admin(actor)?;
    let chosen: Vec<SettlementRow> = match &body.settlement_ids {
        Some(ids) if ids.is_empty() || ids.len() > 1000 => {
            return Err(AppError::invalid_field(
                "validation_failed",
                "settlement_ids",
                "must name 1 to 1000 settlements",
            ));
        }
        Some(ids) => {
            let rows: Vec<SettlementRow> =
                s::table.filter(s::id.eq_any(ids)).select(SettlementRow::as_select()).load(conn)?;
            if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|r| &r.id == *id)) {
                return Err(AppError::not_found("settlement").with("settlement_id", missing.clone()));
            }
            if let Some(r) = rows.iter().find(|r| r.status != "scheduled") {
                return Err(invalid_state(&r.status, "paid in a batch").with("settlement_id", r.id.clone()));
            }
            rows
        }
        None => s::table
            .filter(s::status.eq("scheduled"))
            .order(s::id.asc())
            .limit(1000)
            .select(SettlementRow::as_select())
            .load(conn)?,
    };
    let batch_id = new_id("bat");
    let (mut lines, mut skipped) = (Vec::new(), Vec::new());
    for settlement in chosen {
        let Some(account) = model::bank_account(conn, &settlement.producer_id)? else {
            skipped.push(settlement.id);
            continue;
        };
        if !model::move_status(conn, &settlement.id, &["scheduled"], "paying", ctx.now)? {
            return Err(invalid_state("changing", "paid in a batch").with("settlement_id", settlement.id));
        }
        let payout = insert_payout(conn, &settlement, "bank", Some(&batch_id), Some(&actor.user_id), ctx.now)?;
        record_event(
            conn,
            &settlement.id,
            "payout_started",
            &Who::of(actor),
            json!({"payout_id": payout.id, "method": "bank", "batch_id": batch_id}),
            ctx.now,
        )?;
        lines.push(BatchLine {
            memo: memo(&settlement, ctx.zone),
            settlement_id: settlement.id,
            payout_id: payout.id,
            producer_id: settlement.producer_id,
            account_name: account.account_name,
            bank_name: account.bank_name,
            account_no: account.account_no,
            amount_fen: payout.amount_fen,
        });
    }
    // A batch of nothing would answer with the id of a batch that does not exist.
    if lines.is_empty() && skipped.is_empty() {
        return Err(AppError::conflict("nothing_to_batch", "no settlement is scheduled for payment"));
    }
    if lines.is_empty() {
        return Err(AppError::conflict("no_bank_details", "none of these settlements' producers has bank details")
            .with("skipped_settlement_ids", skipped));
    }
    Ok(BatchView {
        total_fen: lines.iter().map(|l| l.amount_fen).sum(),
        id: batch_id,
        lines,
        skipped_settlement_ids: skipped,
        created_at: utc(ctx.now),
    })
}

/// A batch as the bank's file wants it (its pending payouts; finance only).
pub fn batch_lines(conn: &mut DbConn, actor: &Actor, batch_id: &str, zone: chrono_tz::Tz) -> AppResult<Vec<BatchLine>> {
    policy::require_platform_admin(actor)?;
    let payouts: Vec<PayoutRow> =
        po::table.filter(po::batch_id.eq(batch_id)).order(po::id.asc()).select(PayoutRow::as_select()).load(conn)?;
    if payouts.is_empty() {
        return Err(AppError::not_found("batch"));
    }
    let mut lines = Vec::new();
    for payout in payouts.into_iter().filter(|p| p.status == "pending") {
        let settlement =
            model::find_settlement(conn, &payout.settlement_id)?.ok_or_else(|| AppError::not_found("settlement"))?;
        let account = model::bank_account(conn, &settlement.producer_id)?
            .ok_or_else(|| AppError::conflict("no_bank_details", "the producer's bank details were removed"))?;
        lines.push(BatchLine {
            memo: memo(&settlement, zone),
            settlement_id: settlement.id,
            payout_id: payout.id,
            producer_id: settlement.producer_id,
            account_name: account.account_name,
            bank_name: account.bank_name,
            account_no: account.account_no,
            amount_fen: payout.amount_fen,
        });
    }
    Ok(lines)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaidBody {
    /// The bank's reference for the transfer (流水号).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reference: String,
    /// When the bank made it.
    pub paid_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SettlementReasonBody)]
pub struct ReasonBody {
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: String,
}

fn reason_of(raw: &str) -> AppResult<String> {
    crate::validate::parse_name(raw, 500).map_err(|m| AppError::invalid_field("validation_failed", "reason", m))
}

/// Finance records the bank's confirmation of a settlement's transfer. A scheduled settlement
/// paid outside a batch gets its bank payout here. 409 when it is paid already or cancelled.
pub fn record_paid(conn: &mut DbConn, actor: &Actor, id: &str, body: PaidBody, ctx: &Ctx) -> AppResult<SettlementRow> {
    let reference = crate::validate::parse_name(&body.reference, 100)
        .map_err(|m| AppError::invalid_field("validation_failed", "reference", m))?;
    let paid_at = body.paid_at.naive_utc();
    if paid_at > ctx.now + chrono::Duration::minutes(5) {
        return Err(AppError::invalid_field("validation_failed", "paid_at", "must not be in the future"));
    }
    let settlement = lock_for_finance(conn, actor, id, ctx.now)?;
    let payout = match (settlement.status.as_str(), model::live_payout(conn, id)?) {
        ("scheduled", None) => {
            model::move_status(conn, id, &["scheduled"], "paying", ctx.now)?;
            insert_payout(conn, &settlement, "bank", None, Some(&actor.user_id), ctx.now)?
        }
        ("paying", Some(p)) if p.method == "bank" && p.status == "pending" => p,
        ("paying", Some(_)) => {
            return Err(AppError::conflict("payout_in_progress", "this settlement is being paid through Stripe"));
        }
        (status, _) => return Err(invalid_state(status, "paid")),
    };
    complete(conn, &payout, None, Some(&reference), &Who::of(actor), paid_at.max(settlement.created_at))?;
    model::find_settlement(conn, id)?.ok_or_else(|| AppError::not_found("settlement"))
}

/// Finance records that a bank transfer failed or came back: the settlement is scheduled again.
pub fn record_failed(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    body: ReasonBody,
    ctx: &Ctx,
) -> AppResult<SettlementRow> {
    let reason = reason_of(&body.reason)?;
    let settlement = lock_for_finance(conn, actor, id, ctx.now)?;
    match model::live_payout(conn, id)? {
        Some(p) if p.method == "bank" => fail(conn, &p, &reason, &Who::of(actor), ctx.now)?,
        Some(p) if p.status == "pending" => fail(conn, &p, &reason, &Who::of(actor), ctx.now)?,
        Some(_) => {
            return Err(AppError::conflict("payout_in_progress", "a Stripe transfer for this settlement is under way"));
        }
        None => return Err(invalid_state(&settlement.status, "marked failed: no payout is under way")),
    }
    model::find_settlement(conn, id)?.ok_or_else(|| AppError::not_found("settlement"))
}

/// Finance cancels a scheduled settlement: its payables go back to be settled by the next run.
pub fn cancel(conn: &mut DbConn, actor: &Actor, id: &str, body: ReasonBody, ctx: &Ctx) -> AppResult<SettlementRow> {
    let reason = reason_of(&body.reason)?;
    let settlement = lock_for_finance(conn, actor, id, ctx.now)?;
    if settlement.status != "scheduled" {
        return Err(invalid_state(&settlement.status, "cancelled"));
    }
    diesel::update(p::table.filter(p::settlement_id.eq(id))).set(p::settlement_id.eq(None::<String>)).execute(conn)?;
    model::move_status(conn, id, &["scheduled"], "cancelled", ctx.now)?;
    diesel::update(s::table.find(id)).set(s::cancel_reason.eq(&reason)).execute(conn)?;
    record_event(conn, id, "cancelled", &Who::of(actor), json!({"reason": reason}), ctx.now)?;
    model::find_settlement(conn, id)?.ok_or_else(|| AppError::not_found("settlement"))
}
