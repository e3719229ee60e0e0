//! What producers are owed, written in the transaction of the change that causes it: a
//! sub-order's amount when it becomes due (its acceptance, or with `DONGXI_SETTLE_ON=paid` its
//! payment), net of the refunds made before and of the service fee; each later refund a
//! negative payable (a deduction on the next statement, never an edit of a settled one). One
//! payable per cause (a unique constraint), so a change replayed owes nothing twice.
//!
//! Orders and payments hand over what settlement needs (`Owed`, `Refunded`): settlement reads
//! order lines for their categories, never calls back.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::fees::{self, FeeLine};
use super::model::PayableRow;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{order_lines, payables as p};
use crate::error::AppResult;
use crate::ids::new_id;
use crate::money::Fen;

/// A sub-order that has become due.
#[derive(Debug, Clone)]
pub struct Owed<'a> {
    pub order_id: &'a str,
    pub sub_order_id: &'a str,
    pub producer_id: &'a str,
    /// What was paid for it and not refunded.
    pub amount: Fen,
    pub due_at: NaiveDateTime,
}

/// A refund of a sub-order.
#[derive(Debug, Clone)]
pub struct Refunded<'a> {
    pub refund_id: &'a str,
    pub sub_order_id: &'a str,
    pub amount: Fen,
    pub at: NaiveDateTime,
}

pub fn sale_cause(sub_order_id: &str) -> String {
    format!("sale:{sub_order_id}")
}

pub fn refund_cause(refund_id: &str) -> String {
    format!("refund:{refund_id}")
}

/// The sub-order's lines with the rates in force now.
fn fee_lines(conn: &mut DbConn, sub_order_id: &str) -> AppResult<Vec<FeeLine>> {
    let rates = fees::rates(conn)?;
    let lines: Vec<(i64, String)> = order_lines::table
        .filter(order_lines::sub_order_id.eq(sub_order_id))
        .order(order_lines::position.asc())
        .select((order_lines::subtotal_fen, order_lines::category))
        .load(conn)?;
    Ok(lines.into_iter().map(|(weight, c)| FeeLine { weight, rate_bp: rates.get(&c).copied().unwrap_or(0) }).collect())
}

fn insert(conn: &mut DbConn, row: &PayableRow) -> AppResult<()> {
    // A cause already owed (a replay) leaves the first payable as it is.
    crate::insert_or_ignore!(conn, p::table, row)?;
    Ok(())
}

/// The sub-order is due: its producer is owed what it brought, less the fee.
pub fn owe(conn: &mut DbConn, owed: &Owed<'_>, ctx: &Ctx) -> AppResult<()> {
    if !owed.amount.is_positive() {
        return Ok(());
    }
    let basis = fee_lines(conn, owed.sub_order_id)?;
    let fee = fees::fee_of(&basis, owed.amount.0);
    let row = PayableRow {
        id: new_id("pbl"),
        cause: sale_cause(owed.sub_order_id),
        kind: "sale".into(),
        producer_id: owed.producer_id.to_owned(),
        order_id: owed.order_id.to_owned(),
        sub_order_id: owed.sub_order_id.to_owned(),
        refund_id: None,
        gross_fen: owed.amount.0,
        fee_fen: fee,
        net_fen: owed.amount.0 - fee,
        fee_basis: serde_json::to_string(&basis).map_err(|e| anyhow::anyhow!("fee basis: {e}"))?,
        due_at: owed.due_at,
        created_at: ctx.now,
        settlement_id: None,
    };
    insert(conn, &row)
}

/// A refund of a sub-order that is owed already: a negative payable, with the fee's share back.
/// Nothing for a sub-order not yet due (what it is owed, later, is net of the refund).
pub fn deduct(conn: &mut DbConn, refund: &Refunded<'_>, ctx: &Ctx) -> AppResult<()> {
    let Some(sale) = p::table
        .filter(p::cause.eq(sale_cause(refund.sub_order_id)))
        .select(PayableRow::as_select())
        .first::<PayableRow>(conn)
        .optional()?
    else {
        return Ok(());
    };
    let held: i64 = p::table
        .filter(p::sub_order_id.eq(refund.sub_order_id))
        .select(p::gross_fen)
        .load::<i64>(conn)?
        .into_iter()
        .sum();
    let basis: Vec<FeeLine> =
        serde_json::from_str(&sale.fee_basis).map_err(|e| anyhow::anyhow!("stored fee basis unreadable: {e}"))?;
    let after = held - refund.amount.0;
    let fee_back = fees::fee_of(&basis, held) - fees::fee_of(&basis, after);
    let row = PayableRow {
        id: new_id("pbl"),
        cause: refund_cause(refund.refund_id),
        kind: "refund".into(),
        refund_id: Some(refund.refund_id.to_owned()),
        gross_fen: -refund.amount.0,
        fee_fen: -fee_back,
        net_fen: -(refund.amount.0 - fee_back),
        due_at: refund.at,
        created_at: ctx.now,
        settlement_id: None,
        ..sale
    };
    insert(conn, &row)
}
