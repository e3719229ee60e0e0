//! `dongxi settlement verify`: what settlement must hold, recomputed from sub-orders, refunds and
//! payouts. Every payable comes from a sub-order of its producer; a sub-order's payables add up
//! to what it brought (paid, less refunds) and their fees to the fee on that at the sale's rates;
//! every due sub-order is owed and every refund of an owed one deducted; each settlement is the
//! sum of its lines, and a payable is in at most one live settlement; payouts are at most one
//! live per settlement and match it; and per producer, paid + scheduled + due = what its
//! sub-orders brought less refunds and fees.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;

use super::fees::{self, FeeLine};
use super::model::{PayableRow, PayoutRow, SettlementRow};
use super::payables::{refund_cause, sale_cause};
use crate::config::SettleOn;
use crate::db::DbConn;
use crate::db::schema::{orders, payables as p, payouts as po, refunds, settlements as s, sub_orders};
use crate::error::AppResult;

#[derive(Debug, Default)]
pub struct Verification {
    pub payables: usize,
    pub settlements: usize,
    pub producers: usize,
    /// Every difference found, one line each; empty means none.
    pub drift: Vec<String>,
}

pub fn verify(conn: &mut DbConn, settle_on: SettleOn) -> AppResult<Verification> {
    let mut out = Verification::default();
    let payables: Vec<PayableRow> = p::table.order(p::id.asc()).select(PayableRow::as_select()).load(conn)?;
    let settlements: Vec<SettlementRow> = s::table.select(SettlementRow::as_select()).load(conn)?;
    let payouts: Vec<PayoutRow> = po::table.select(PayoutRow::as_select()).load(conn)?;
    type Sub = (String, String, i64, i64, Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>);
    let subs: Vec<Sub> = sub_orders::table
        .inner_join(orders::table)
        .select((
            sub_orders::id,
            sub_orders::producer_id,
            sub_orders::total_fen,
            sub_orders::refunded_fen,
            sub_orders::accepted_at,
            orders::paid_at,
        ))
        .load(conn)?;
    let refund_rows: Vec<(String, String, i64)> =
        refunds::table.select((refunds::id, refunds::sub_order_id, refunds::amount_fen)).load(conn)?;
    out.payables = payables.len();
    out.settlements = settlements.len();

    let by_cause: HashMap<&str, &PayableRow> = payables.iter().map(|x| (x.cause.as_str(), x)).collect();
    let mut by_sub: HashMap<&str, Vec<&PayableRow>> = HashMap::new();
    for x in &payables {
        by_sub.entry(x.sub_order_id.as_str()).or_default().push(x);
        if x.net_fen != x.gross_fen - x.fee_fen {
            out.drift.push(format!(
                "payable {}: net {} is not gross {} less fee {}",
                x.id, x.net_fen, x.gross_fen, x.fee_fen
            ));
        }
    }
    let sub_of: HashMap<&str, &Sub> = subs.iter().map(|x| (x.0.as_str(), x)).collect();
    for x in &payables {
        match sub_of.get(x.sub_order_id.as_str()) {
            None => out.drift.push(format!("payable {}: sub-order {} does not exist", x.id, x.sub_order_id)),
            Some(sub) if sub.1 != x.producer_id => out
                .drift
                .push(format!("payable {}: owed to {}, but sub-order {} is {}'s", x.id, x.producer_id, sub.0, sub.1)),
            Some(_) => {}
        }
    }
    // Per sub-order: what it brought, its fees, and that it is owed once it is due.
    for (id, producer, total, refunded, accepted_at, paid_at) in &subs {
        let due = match settle_on {
            SettleOn::Accepted => accepted_at.is_some(),
            SettleOn::Paid => paid_at.is_some(),
        };
        let Some(rows) = by_sub.get(id.as_str()) else {
            if due && total - refunded > 0 {
                out.drift.push(format!("sub-order {id} of {producer} is due but no payable owes it"));
            }
            continue;
        };
        let Some(sale) = by_cause.get(sale_cause(id).as_str()) else {
            out.drift.push(format!("sub-order {id}: payables without its sale"));
            continue;
        };
        let held: i64 = rows.iter().map(|x| x.gross_fen).sum();
        if held != total - refunded {
            out.drift.push(format!(
                "sub-order {id}: its payables add up to {held} fen, it brought {} fen",
                total - refunded
            ));
        }
        let basis: Vec<FeeLine> = serde_json::from_str(&sale.fee_basis).unwrap_or_default();
        let fee: i64 = rows.iter().map(|x| x.fee_fen).sum();
        if fee != fees::fee_of(&basis, held) {
            out.drift.push(format!(
                "sub-order {id}: fees add up to {fee} fen, the fee on {held} fen is {}",
                fees::fee_of(&basis, held)
            ));
        }
        if sale.fee_fen != fees::fee_of(&basis, sale.gross_fen) {
            out.drift.push(format!("payable {}: fee {} is not the fee on its amount", sale.id, sale.fee_fen));
        }
    }
    // The refunds of an owed sub-order that were not deducted are exactly those its sale is
    // net of (made before it was owed); each other one is deducted once.
    let mut undeducted: HashMap<&str, i64> = HashMap::new();
    for (refund, sub, amount) in &refund_rows {
        if !by_cause.contains_key(refund_cause(refund).as_str()) {
            *undeducted.entry(sub.as_str()).or_default() += amount;
        }
    }
    for (id, _, total, ..) in &subs {
        if let Some(sale) = by_cause.get(sale_cause(id).as_str()) {
            let netted = total - sale.gross_fen;
            let left = undeducted.get(id.as_str()).copied().unwrap_or(0);
            if left != netted {
                out.drift.push(format!(
                    "sub-order {id}: {left} fen of refunds not deducted, its sale is net of {netted} fen"
                ));
            }
        }
    }
    // Settlements: the sum of their lines; cancelled ones hold none.
    let mut lines: HashMap<&str, Vec<&PayableRow>> = HashMap::new();
    for x in payables.iter().filter(|x| x.settlement_id.is_some()) {
        lines.entry(x.settlement_id.as_deref().unwrap_or_default()).or_default().push(x);
    }
    let live_payouts: HashMap<&str, Vec<&PayoutRow>> =
        payouts.iter().filter(|x| x.status != "failed").fold(HashMap::new(), |mut m, x| {
            m.entry(x.settlement_id.as_str()).or_default().push(x);
            m
        });
    for st in &settlements {
        let own = lines.get(st.id.as_str()).cloned().unwrap_or_default();
        if st.status == "cancelled" {
            if !own.is_empty() {
                out.drift.push(format!("settlement {} is cancelled but holds {} payables", st.id, own.len()));
            }
            continue;
        }
        let amount: i64 = own.iter().map(|x| x.net_fen).sum();
        let fee: i64 = own.iter().map(|x| x.fee_fen).sum();
        let gross: i64 = own.iter().filter(|x| x.kind == "sale").map(|x| x.gross_fen).sum();
        let deducted: i64 = -own.iter().filter(|x| x.kind == "refund").map(|x| x.gross_fen).sum::<i64>();
        if (amount, fee, gross, deducted, own.len())
            != (st.amount_fen, st.fee_fen, st.gross_fen, st.deducted_fen, st.line_count as usize)
        {
            out.drift.push(format!(
                "settlement {}: states {} fen (gross {}, fee {}, deducted {}, {} lines); its lines say {amount} (gross {gross}, fee {fee}, deducted {deducted}, {} lines)",
                st.id, st.amount_fen, st.gross_fen, st.fee_fen, st.deducted_fen, st.line_count, own.len()
            ));
        }
        if own.iter().any(|x| x.producer_id != st.producer_id) {
            out.drift.push(format!("settlement {} holds another producer's payable", st.id));
        }
        let live = live_payouts.get(st.id.as_str()).cloned().unwrap_or_default();
        let paid: Vec<&&PayoutRow> = live.iter().filter(|x| x.status == "paid").collect();
        let expected_live = match st.status.as_str() {
            "paid" => paid.len() == 1 && live.len() == 1,
            "paying" => live.len() == 1 && paid.is_empty(),
            _ => live.is_empty(),
        };
        if !expected_live {
            out.drift.push(format!(
                "settlement {} is {} with {} live payouts ({} paid)",
                st.id,
                st.status,
                live.len(),
                paid.len()
            ));
        }
        if live.iter().any(|x| x.amount_fen != st.amount_fen) {
            out.drift.push(format!("settlement {}: a payout's amount differs from it", st.id));
        }
    }
    let settlement_ids: HashSet<&str> = settlements.iter().map(|st| st.id.as_str()).collect();
    for x in &payables {
        if let Some(sid) = &x.settlement_id
            && !settlement_ids.contains(sid.as_str())
        {
            out.drift.push(format!("payable {} names settlement {sid}, which does not exist", x.id));
        }
    }
    // Per producer: paid + scheduled + due = brought − refunds − fees.
    let mut owed: BTreeMap<&str, i64> = BTreeMap::new();
    for x in &payables {
        *owed.entry(x.producer_id.as_str()).or_default() += x.net_fen;
    }
    let mut accounted: BTreeMap<&str, i64> = BTreeMap::new();
    for st in settlements.iter().filter(|st| st.status != "cancelled") {
        *accounted.entry(st.producer_id.as_str()).or_default() += st.amount_fen;
    }
    for x in payables.iter().filter(|x| x.settlement_id.is_none()) {
        *accounted.entry(x.producer_id.as_str()).or_default() += x.net_fen;
    }
    // What the sub-orders brought, recomputed from the sub-orders: paid less refunds, less the fee
    // on that at the sale's rates.
    let mut brought: BTreeMap<&str, i64> = BTreeMap::new();
    for (id, producer, total, refunded, ..) in &subs {
        if let Some(sale) = by_cause.get(sale_cause(id).as_str()) {
            let basis: Vec<FeeLine> = serde_json::from_str(&sale.fee_basis).unwrap_or_default();
            let held = total - refunded;
            *brought.entry(producer.as_str()).or_default() += held - fees::fee_of(&basis, held);
        }
    }
    out.producers = owed.len();
    for (producer, total) in &owed {
        let a = accounted.get(producer).copied().unwrap_or(0);
        let b = brought.get(producer).copied().unwrap_or(0);
        if a != *total || b != *total {
            out.drift.push(format!("producer {producer}: paid + scheduled + due = {a} fen, owed {total} fen, its sub-orders brought {b} fen net"));
        }
    }
    Ok(out)
}
