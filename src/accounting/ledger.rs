//! Writing the counting ledger. A sub-order counts once (cause `count:<sub-order>`) when its order
//! is paid — or, with `DONGXI_COUNT_ON=accepted`, when it is accepted — for what was paid and not
//! refunded; each later refund posts a negative entry (cause `refund:<refund>`). Both are written
//! in the transaction of the change that causes them, with every attribute reports use fixed at
//! that moment, and the rollups updated beside them. Entries are never updated or deleted.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;

use super::model::{EntryRow, LedgerLine};
use super::pairings::Candidate;
use super::{pairings, periods, rollups};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{ledger_entries as e, ledger_lines as l, order_lines, pairings as p, regions};
use crate::db::sql::{self, Insert};
use crate::error::AppResult;
use crate::ids::new_id;
use crate::money::Fen;
use crate::regions::levels::{self, Placed};

pub fn count_cause(sub_order_id: &str) -> String {
    format!("count:{sub_order_id}")
}

pub fn refund_cause(refund_id: &str) -> String {
    format!("refund:{refund_id}")
}

/// The month an entry posted into `year` shows under: the month it was recorded in when that
/// falls in `year`, else the year's last (or first) month.
fn month_within(year: i32, recorded: chrono::NaiveDate) -> i32 {
    match recorded.year().cmp(&year) {
        std::cmp::Ordering::Equal => recorded.month() as i32,
        std::cmp::Ordering::Greater => 12,
        std::cmp::Ordering::Less => 1,
    }
}

/// One line of the order, as the count sees it.
struct Sold {
    position: i32,
    product_id: String,
    category: String,
    origin: String,
    certificate_no: String,
    subtotal_fen: i64,
}

/// What the ledger is told of a sub-order it counts: orders hand it over, the ledger never reads
/// an order's rows (so accounting does not depend on orders).
#[derive(Debug, Clone)]
pub struct Sale<'a> {
    pub order_id: &'a str,
    pub sub_order_id: &'a str,
    pub buyer_org_id: &'a str,
    pub buyer_org_path: &'a str,
    pub buyer_region_code: &'a str,
    pub producer_id: &'a str,
    pub producer_path: &'a str,
    /// What was paid for the sub-order and not refunded.
    pub amount: Fen,
    /// The order's channel: `catalogue`, `group_buy` or `live`.
    pub channel: &'a str,
}

/// A refund as the ledger takes it back.
#[derive(Debug, Clone)]
pub struct Refunded<'a> {
    pub refund_id: &'a str,
    pub sub_order_id: &'a str,
    pub amount: Fen,
    pub at: NaiveDateTime,
}

/// Counts a sub-order now: what was paid for it and not refunded, at business time `counted_at`.
pub fn count_sub_order(conn: &mut DbConn, sale: &Sale<'_>, counted_at: NaiveDateTime, ctx: &Ctx) -> AppResult<()> {
    let amount = sale.amount;
    if !amount.is_positive() {
        return Ok(());
    }
    let local = counted_at.and_utc().with_timezone(&ctx.zone);
    let day = local.date_naive();
    // The lines, each with the pairings in force that day between the buyer and the line's
    // origin (its region's path starts with the recipient's), in one query: the entry counts to
    // the pairing of its largest line, known only once the amount is shared out.
    let donor_regions = pairings::chain(&levels::place_one(conn, sale.buyer_region_code)?.path);
    type Row = ((i32, String, String, String, String, i64), Option<Candidate>);
    let rows: Vec<Row> = order_lines::table
        .left_join(regions::table.on(regions::code.eq(order_lines::origin_region_code)))
        .left_join(
            p::table.on(regions::path
                .like(p::recipient_path.concat("%"))
                .and(
                    p::donor_region_code
                        .eq_any(donor_regions)
                        .or(p::donor_org_id.eq_any(pairings::chain(sale.buyer_org_path))),
                )
                .and(p::valid_from.le(day))
                .and(p::valid_to.is_null().or(p::valid_to.ge(day)))),
        )
        .filter(order_lines::sub_order_id.eq(sale.sub_order_id))
        .order(order_lines::position.asc())
        .select((
            (
                order_lines::position,
                order_lines::product_id,
                order_lines::category,
                order_lines::origin_region_code,
                order_lines::certificate_no,
                order_lines::subtotal_fen,
            ),
            (p::id, p::donor_org_id, p::donor_path, p::recipient_path, p::valid_from).nullable(),
        ))
        .load(conn)?;
    let mut sold: Vec<Sold> = Vec::new();
    let mut in_force: HashMap<i32, Vec<Candidate>> = HashMap::new();
    for ((position, product_id, category, origin, certificate_no, subtotal_fen), pairing) in rows {
        if sold.last().is_none_or(|s| s.position != position) {
            sold.push(Sold { position, product_id, category, origin, certificate_no, subtotal_fen });
        }
        in_force.entry(position).or_default().extend(pairing);
    }
    if sold.is_empty() {
        return Err(anyhow::anyhow!("sub-order {} has no lines to count", sale.sub_order_id).into());
    }
    let mut codes: Vec<&str> = sold.iter().map(|s| s.origin.as_str()).collect();
    codes.push(sale.buyer_region_code);
    codes.sort_unstable();
    codes.dedup();
    let placed = levels::place(conn, &codes)?;
    let amounts = amount.allocate(&sold.iter().map(|s| s.subtotal_fen).collect::<Vec<_>>());
    // The entry's own origin and certificate: those of its largest line.
    let main =
        amounts.iter().enumerate().max_by_key(|(i, a)| (a.0, std::cmp::Reverse(*i))).map(|(i, _)| i).unwrap_or(0);
    let buyer_place = &placed[sale.buyer_region_code];
    let pairing_id = pairings::most_specific(in_force.remove(&sold[main].position).unwrap_or_default());
    let (year, adjusts_year) = periods::posting_year(conn, local.year(), ctx)?;
    let month = match adjusts_year {
        None => local.month() as i32,
        Some(_) => month_within(year, ctx.now.and_utc().with_timezone(&ctx.zone).date_naive()),
    };
    let entry = EntryRow {
        id: new_id("led"),
        cause: count_cause(sale.sub_order_id),
        kind: "count".into(),
        order_id: sale.order_id.to_owned(),
        sub_order_id: sale.sub_order_id.to_owned(),
        refund_id: None,
        reverses_id: None,
        amount_fen: amount.0,
        counted_at,
        recorded_at: ctx.now,
        year,
        month,
        adjusts_year,
        buyer_org_id: sale.buyer_org_id.to_owned(),
        buyer_region_code: sale.buyer_region_code.to_owned(),
        producer_id: sale.producer_id.to_owned(),
        origin_region_code: sold[main].origin.clone(),
        pairing_id,
        certificate_no: sold[main].certificate_no.clone(),
    };
    let lines: Vec<LedgerLine> = sold
        .iter()
        .zip(&amounts)
        .map(|(s, a)| {
            line(
                &entry,
                s.position,
                a.0,
                &s.product_id,
                &s.category,
                &s.certificate_no,
                &placed[&s.origin],
                sale.buyer_org_path,
                buyer_place,
                sale.producer_path,
                sale.channel,
            )
        })
        .collect();
    write(conn, &entry, &lines)
}

#[allow(clippy::too_many_arguments)]
fn line(
    entry: &EntryRow,
    position: i32,
    amount_fen: i64,
    product_id: &str,
    category: &str,
    certificate_no: &str,
    origin: &Placed,
    buyer_org_path: &str,
    buyer: &Placed,
    producer_path: &str,
    channel: &str,
) -> LedgerLine {
    LedgerLine {
        entry_id: entry.id.clone(),
        position,
        kind: entry.kind.clone(),
        amount_fen,
        year: entry.year,
        month: entry.month,
        recorded_at: entry.recorded_at,
        product_id: product_id.to_owned(),
        category: category.to_owned(),
        certificate_no: certificate_no.to_owned(),
        origin_code: origin.code.clone(),
        origin_path: origin.path.clone(),
        origin_province: origin.province.clone(),
        origin_prefecture: origin.prefecture.clone(),
        origin_county: origin.county.clone(),
        buyer_org_id: entry.buyer_org_id.clone(),
        buyer_org_path: buyer_org_path.to_owned(),
        buyer_region_path: buyer.path.clone(),
        buyer_province: buyer.province.clone(),
        buyer_prefecture: buyer.prefecture.clone(),
        buyer_county: buyer.county.clone(),
        producer_id: entry.producer_id.clone(),
        producer_path: producer_path.to_owned(),
        pairing_key: entry.pairing_id.clone().unwrap_or_default(),
        channel: channel.to_owned(),
    }
}

/// Takes back, for a refund of a counted sub-order, what was counted for it: a negative entry in
/// the year of the count while that year is open, spread over the count's lines in proportion
/// to what each still holds. Nothing when the sub-order has not counted yet (its count, later,
/// will be net of the refund).
pub fn reverse_refund(conn: &mut DbConn, refund: &Refunded<'_>, ctx: &Ctx) -> AppResult<()> {
    let Some(count) = e::table
        .filter(e::cause.eq(count_cause(refund.sub_order_id)))
        .select(EntryRow::as_select())
        .first::<EntryRow>(conn)
        .optional()?
    else {
        return Ok(());
    };
    let count_lines: Vec<LedgerLine> = l::table
        .filter(l::entry_id.eq(&count.id))
        .order(l::position.asc())
        .select(LedgerLine::as_select())
        .load(conn)?;
    let entry_ids: Vec<String> = e::table.filter(e::sub_order_id.eq(refund.sub_order_id)).select(e::id).load(conn)?;
    let held: HashMap<i32, i64> = l::table
        .filter(l::entry_id.eq_any(&entry_ids))
        .select((l::position, l::amount_fen))
        .load::<(i32, i64)>(conn)?
        .into_iter()
        .fold(HashMap::new(), |mut acc, (position, amount)| {
            *acc.entry(position).or_insert(0) += amount;
            acc
        });
    let weights: Vec<i64> = count_lines.iter().map(|c| held.get(&c.position).copied().unwrap_or(0).max(0)).collect();
    let shares = refund.amount.allocate(&weights);
    let (year, adjusts_year) = periods::posting_year(conn, count.year, ctx)?;
    let month = if year == count.year {
        count.month
    } else {
        month_within(year, ctx.now.and_utc().with_timezone(&ctx.zone).date_naive())
    };
    let entry = EntryRow {
        id: new_id("led"),
        cause: refund_cause(refund.refund_id),
        kind: "reverse".into(),
        refund_id: Some(refund.refund_id.to_owned()),
        reverses_id: Some(count.id.clone()),
        amount_fen: -refund.amount.0,
        counted_at: refund.at,
        recorded_at: ctx.now,
        year,
        month,
        adjusts_year: adjusts_year.or(count.adjusts_year),
        ..count.clone()
    };
    let lines: Vec<LedgerLine> = count_lines
        .into_iter()
        .zip(shares)
        .filter(|(_, share)| share.0 != 0)
        .map(|(c, share)| LedgerLine {
            entry_id: entry.id.clone(),
            kind: entry.kind.clone(),
            amount_fen: -share.0,
            year: entry.year,
            month: entry.month,
            recorded_at: entry.recorded_at,
            ..c
        })
        .collect();
    write(conn, &entry, &lines)
}

/// Writes an entry, its lines and their rollups: on PostgreSQL in one round trip.
///
/// Rollup rows are shared by every payment of a region, and a payment of several sub-orders
/// writes several entries, each locking its rows: two such payments locking two rows in opposite
/// orders deadlocked (the soak found it, ~1 in 100 payments of one buyer). So the transactions
/// that write the ledger take one lock, until they commit, before their first rollup row: inside
/// the same statement, which cost a round trip of its own before.
fn write(conn: &mut DbConn, entry: &EntryRow, lines: &[LedgerLine]) -> AppResult<()> {
    let mut inserts = vec![entry_insert(entry), lines_insert(lines)];
    inserts.extend(rollups::upserts(lines));
    sql::execute_all_locked(conn, "ledger:rollups", &inserts)
}

fn entry_insert(e: &EntryRow) -> Insert {
    let mut binds = Vec::with_capacity(EntryRow::COLUMNS.len());
    e.binds(&mut binds);
    Insert { table: "ledger_entries", columns: EntryRow::COLUMNS.to_vec(), suffix: String::new(), binds }
}

fn lines_insert(lines: &[LedgerLine]) -> Insert {
    let mut binds = Vec::with_capacity(lines.len() * LedgerLine::COLUMNS.len());
    for x in lines {
        x.binds(&mut binds);
    }
    Insert { table: "ledger_lines", columns: LedgerLine::COLUMNS.to_vec(), suffix: String::new(), binds }
}
