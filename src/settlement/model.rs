//! Settlement's rows and the queries more than one file needs.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{bank_accounts, payables, payouts, settlement_events, settlement_runs, settlements};
use crate::error::AppResult;
use crate::identity::Who;
use crate::ids::new_id;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payables)]
pub struct PayableRow {
    pub id: String,
    /// `sale:<sub-order>` or `refund:<refund>`: one payable per cause.
    pub cause: String,
    /// `sale` or `refund`.
    pub kind: String,
    pub producer_id: String,
    pub order_id: String,
    pub sub_order_id: String,
    pub refund_id: Option<String>,
    /// What the buyer paid for it (a refund's is negative).
    pub gross_fen: i64,
    /// The platform's service fee on it (a refund gives back its share: negative).
    pub fee_fen: i64,
    /// What the producer is owed: gross less fee.
    pub net_fen: i64,
    /// The lines and rates the fee was taken at (JSON), so a later refund gives back exactly its share.
    pub fee_basis: String,
    /// When it became owed: the acceptance (or the payment), the refund.
    pub due_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub settlement_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = settlements)]
pub struct SettlementRow {
    pub id: String,
    pub run_id: String,
    pub producer_id: String,
    pub producer_path: String,
    pub producer_region_path: String,
    /// `scheduled`, `paying`, `paid` or `cancelled`.
    pub status: String,
    pub gross_fen: i64,
    pub fee_fen: i64,
    /// Refunds taken off this statement (a positive number).
    pub deducted_fen: i64,
    pub amount_fen: i64,
    pub line_count: i32,
    pub due_from: NaiveDateTime,
    pub due_to: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub cancel_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payouts)]
pub struct PayoutRow {
    pub id: String,
    pub settlement_id: String,
    /// `bank` or `stripe`.
    pub method: String,
    /// `pending` (in a bank batch, or queued for Stripe), `sending` (the Stripe call is under way),
    /// `paid`, `failed` (or returned after it was paid).
    pub status: String,
    pub amount_fen: i64,
    pub batch_id: Option<String>,
    pub external_id: Option<String>,
    pub reference: Option<String>,
    pub failure_reason: Option<String>,
    pub recorded_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = settlement_runs)]
pub struct RunRow {
    pub id: String,
    /// Payables owed by this instant are settled.
    pub cutoff: NaiveDateTime,
    /// `manual` or `scheduled`.
    pub kind: String,
    pub requested_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub settlements: i32,
    pub payables: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bank_accounts)]
pub struct BankAccountRow {
    pub org_id: String,
    pub account_name: String,
    pub bank_name: String,
    pub account_no: String,
    pub stripe_account_id: Option<String>,
    pub updated_at: NaiveDateTime,
    pub updated_by: Option<String>,
}

pub fn find_settlement(conn: &mut DbConn, id: &str) -> AppResult<Option<SettlementRow>> {
    Ok(settlements::table.find(id).select(SettlementRow::as_select()).first(conn).optional()?)
}

pub fn find_payout(conn: &mut DbConn, id: &str) -> AppResult<Option<PayoutRow>> {
    Ok(payouts::table.find(id).select(PayoutRow::as_select()).first(conn).optional()?)
}

/// The settlement's payout in flight or done (at most one: a unique index).
pub fn live_payout(conn: &mut DbConn, settlement_id: &str) -> AppResult<Option<PayoutRow>> {
    Ok(payouts::table
        .filter(payouts::settlement_id.eq(settlement_id))
        .filter(payouts::status.eq_any(["pending", "sending", "paid"]))
        .select(PayoutRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn bank_account(conn: &mut DbConn, org_id: &str) -> AppResult<Option<BankAccountRow>> {
    Ok(bank_accounts::table.find(org_id).select(BankAccountRow::as_select()).first(conn).optional()?)
}

/// Locks the settlement's row for a change (SQLite: its write transactions run one at a time).
pub fn lock(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> AppResult<bool> {
    let touched = diesel::update(settlements::table.find(id)).set(settlements::updated_at.eq(now)).execute(conn)?;
    Ok(touched == 1)
}

/// Moves a settlement from `from` to `to` (a conditional update): false when it was not in `from`.
pub fn move_status(conn: &mut DbConn, id: &str, from: &[&str], to: &str, now: NaiveDateTime) -> AppResult<bool> {
    let paid_at = (to == "paid").then_some(now);
    let changed = diesel::update(settlements::table.find(id).filter(settlements::status.eq_any(from)))
        .set((settlements::status.eq(to), settlements::updated_at.eq(now), settlements::paid_at.eq(paid_at)))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Appends one line to a settlement's history.
pub fn record_event(
    conn: &mut DbConn,
    settlement_id: &str,
    action: &str,
    who: &Who,
    details: serde_json::Value,
    at: NaiveDateTime,
) -> AppResult<()> {
    diesel::insert_into(settlement_events::table)
        .values((
            settlement_events::id.eq(new_id("sev")),
            settlement_events::settlement_id.eq(settlement_id),
            settlement_events::action.eq(action),
            settlement_events::actor_user_id.eq(&who.user_id),
            settlement_events::actor_org_id.eq(&who.org_id),
            settlement_events::details.eq(details.to_string()),
            settlement_events::at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}
