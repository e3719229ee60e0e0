//! Writing the counting ledger. A sub-order counts once (cause `count:<sub-order>`) when its order
//! is paid — or, with `DONGXI_COUNT_ON=accepted`, when it is accepted — for what was paid and not
//! refunded; each later refund posts a negative entry (cause `refund:<refund>`). Both are written
//! in the transaction of the change that causes them, with every attribute reports use fixed at
//! that moment, and the rollups updated beside them. Entries are never updated or deleted.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;

use super::{pairings, periods};
use crate::app::Ctx;
use crate::db::DbConn;
use crate::db::schema::{
    ledger_entries as e, ledger_lines as l, ledger_sums_buyer, ledger_sums_geo, ledger_sums_producer, order_lines,
};
use crate::error::AppResult;
use crate::identity::model::find_org;
use crate::ids::new_id;
use crate::money::Fen;
use crate::orders::model::{OrderRow, SubOrderRow};
use crate::payments::service::RefundRow;
use crate::regions::levels::{self, Placed};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = e)]
pub struct EntryRow {
    pub id: String,
    pub cause: String,
    pub kind: String,
    pub order_id: String,
    pub sub_order_id: String,
    pub refund_id: Option<String>,
    pub reverses_id: Option<String>,
    pub amount_fen: i64,
    pub counted_at: NaiveDateTime,
    pub recorded_at: NaiveDateTime,
    pub year: i32,
    pub month: i32,
    pub adjusts_year: Option<i32>,
    pub buyer_org_id: String,
    pub buyer_region_code: String,
    pub producer_id: String,
    pub origin_region_code: String,
    pub pairing_id: Option<String>,
    pub certificate_no: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = l)]
pub struct LedgerLine {
    pub entry_id: String,
    pub position: i32,
    pub kind: String,
    pub amount_fen: i64,
    pub year: i32,
    pub month: i32,
    pub recorded_at: NaiveDateTime,
    pub product_id: String,
    pub category: String,
    pub certificate_no: String,
    pub origin_code: String,
    pub origin_path: String,
    pub origin_province: String,
    pub origin_prefecture: String,
    pub origin_county: String,
    pub buyer_org_id: String,
    pub buyer_org_path: String,
    pub buyer_region_path: String,
    pub buyer_province: String,
    pub buyer_prefecture: String,
    pub buyer_county: String,
    pub producer_id: String,
    pub producer_path: String,
    pub pairing_key: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ledger_sums_geo)]
struct GeoSum {
    year: i32,
    month: i32,
    origin_county: String,
    category: String,
    buyer_county: String,
    pairing_key: String,
    origin_province: String,
    origin_prefecture: String,
    buyer_province: String,
    buyer_prefecture: String,
    amount_fen: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ledger_sums_buyer)]
struct BuyerSum {
    year: i32,
    origin_county: String,
    buyer_org_id: String,
    pairing_key: String,
    origin_province: String,
    origin_prefecture: String,
    buyer_province: String,
    buyer_prefecture: String,
    buyer_county: String,
    amount_fen: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ledger_sums_producer)]
struct ProducerSum {
    year: i32,
    origin_county: String,
    producer_id: String,
    buyer_county: String,
    pairing_key: String,
    origin_province: String,
    origin_prefecture: String,
    buyer_province: String,
    buyer_prefecture: String,
    amount_fen: i64,
}

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

/// Counts a sub-order now: what was paid for it and not refunded, at business time `counted_at`.
pub fn count_sub_order(
    conn: &mut DbConn,
    order: &OrderRow,
    sub: &SubOrderRow,
    counted_at: NaiveDateTime,
    ctx: &Ctx,
) -> AppResult<()> {
    let amount = Fen(sub.total_fen - sub.refunded_fen);
    if !amount.is_positive() {
        return Ok(());
    }
    let sold: Vec<Sold> = order_lines::table
        .filter(order_lines::sub_order_id.eq(&sub.id))
        .order(order_lines::position.asc())
        .select((
            order_lines::position,
            order_lines::product_id,
            order_lines::category,
            order_lines::origin_region_code,
            order_lines::certificate_no,
            order_lines::subtotal_fen,
        ))
        .load::<(i32, String, String, String, String, i64)>(conn)?
        .into_iter()
        .map(|(position, product_id, category, origin, certificate_no, subtotal_fen)| Sold {
            position,
            product_id,
            category,
            origin,
            certificate_no,
            subtotal_fen,
        })
        .collect();
    let (buyer, buyer_region_path) =
        find_org(conn, &order.buyer_org_id)?.ok_or_else(|| anyhow::anyhow!("buyer {} missing", order.buyer_org_id))?;
    let mut codes: Vec<&str> = sold.iter().map(|s| s.origin.as_str()).collect();
    codes.push(&buyer.region_code);
    codes.sort_unstable();
    codes.dedup();
    let placed = levels::place(conn, &codes)?;
    let amounts = amount.allocate(&sold.iter().map(|s| s.subtotal_fen).collect::<Vec<_>>());
    // The entry's own origin and certificate: those of its largest line.
    let main =
        amounts.iter().enumerate().max_by_key(|(i, a)| (a.0, std::cmp::Reverse(*i))).map(|(i, _)| i).unwrap_or(0);
    let local = counted_at.and_utc().with_timezone(&ctx.zone);
    let main_origin = &placed[&sold[main].origin];
    let pairing_id = pairings::in_force(conn, local.date_naive(), &buyer.path, &buyer_region_path, &main_origin.path)?;
    let (year, adjusts_year) = periods::posting_year(conn, local.year())?;
    let month = match adjusts_year {
        None => local.month() as i32,
        Some(_) => month_within(year, ctx.now.and_utc().with_timezone(&ctx.zone).date_naive()),
    };
    let entry = EntryRow {
        id: new_id("led"),
        cause: count_cause(&sub.id),
        kind: "count".into(),
        order_id: order.id.clone(),
        sub_order_id: sub.id.clone(),
        refund_id: None,
        reverses_id: None,
        amount_fen: amount.0,
        counted_at,
        recorded_at: ctx.now,
        year,
        month,
        adjusts_year,
        buyer_org_id: buyer.id.clone(),
        buyer_region_code: buyer.region_code.clone(),
        producer_id: sub.producer_id.clone(),
        origin_region_code: sold[main].origin.clone(),
        pairing_id,
        certificate_no: sold[main].certificate_no.clone(),
    };
    let buyer_place = &placed[&buyer.region_code];
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
                &buyer.path,
                buyer_place,
                &sub.producer_path,
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
    }
}

/// Takes back, for a refund of a counted sub-order, what was counted for it: a negative entry in
/// the year of the count while that year is open, spread over the count's lines in proportion
/// to what each still holds. Nothing when the sub-order has not counted yet (its count, later,
/// will be net of the refund).
pub fn reverse_refund(conn: &mut DbConn, sub: &SubOrderRow, refund: &RefundRow, ctx: &Ctx) -> AppResult<()> {
    let Some(count) = e::table
        .filter(e::cause.eq(count_cause(&sub.id)))
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
    let entry_ids: Vec<String> = e::table.filter(e::sub_order_id.eq(&sub.id)).select(e::id).load(conn)?;
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
    let shares = Fen(refund.amount_fen).allocate(&weights);
    let (year, adjusts_year) = periods::posting_year(conn, count.year)?;
    let month = if year == count.year {
        count.month
    } else {
        month_within(year, ctx.now.and_utc().with_timezone(&ctx.zone).date_naive())
    };
    let entry = EntryRow {
        id: new_id("led"),
        cause: refund_cause(&refund.id),
        kind: "reverse".into(),
        refund_id: Some(refund.id.clone()),
        reverses_id: Some(count.id.clone()),
        amount_fen: -refund.amount_fen,
        counted_at: refund.created_at,
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

fn write(conn: &mut DbConn, entry: &EntryRow, lines: &[LedgerLine]) -> AppResult<()> {
    diesel::insert_into(e::table).values(entry).execute(conn)?;
    crate::insert_batch!(conn, l::table, lines)?;
    add_to_rollups(conn, lines)
}

/// Adds lines to the three rollups, each key once and in key order (concurrent writers then
/// lock rollup rows in the same order and never deadlock).
fn add_to_rollups(conn: &mut DbConn, lines: &[LedgerLine]) -> AppResult<()> {
    let mut geo: BTreeMap<(i32, i32, &str, &str, &str, &str), GeoSum> = BTreeMap::new();
    let mut buyer: BTreeMap<(i32, &str, &str, &str), BuyerSum> = BTreeMap::new();
    let mut producer: BTreeMap<(i32, &str, &str, &str, &str), ProducerSum> = BTreeMap::new();
    for x in lines {
        geo.entry((x.year, x.month, &x.origin_county, &x.category, &x.buyer_county, &x.pairing_key))
            .or_insert_with(|| GeoSum {
                year: x.year,
                month: x.month,
                origin_county: x.origin_county.clone(),
                category: x.category.clone(),
                buyer_county: x.buyer_county.clone(),
                pairing_key: x.pairing_key.clone(),
                origin_province: x.origin_province.clone(),
                origin_prefecture: x.origin_prefecture.clone(),
                buyer_province: x.buyer_province.clone(),
                buyer_prefecture: x.buyer_prefecture.clone(),
                amount_fen: 0,
            })
            .amount_fen += x.amount_fen;
        buyer
            .entry((x.year, &x.origin_county, &x.buyer_org_id, &x.pairing_key))
            .or_insert_with(|| BuyerSum {
                year: x.year,
                origin_county: x.origin_county.clone(),
                buyer_org_id: x.buyer_org_id.clone(),
                pairing_key: x.pairing_key.clone(),
                origin_province: x.origin_province.clone(),
                origin_prefecture: x.origin_prefecture.clone(),
                buyer_province: x.buyer_province.clone(),
                buyer_prefecture: x.buyer_prefecture.clone(),
                buyer_county: x.buyer_county.clone(),
                amount_fen: 0,
            })
            .amount_fen += x.amount_fen;
        producer
            .entry((x.year, &x.origin_county, &x.producer_id, &x.buyer_county, &x.pairing_key))
            .or_insert_with(|| ProducerSum {
                year: x.year,
                origin_county: x.origin_county.clone(),
                producer_id: x.producer_id.clone(),
                buyer_county: x.buyer_county.clone(),
                pairing_key: x.pairing_key.clone(),
                origin_province: x.origin_province.clone(),
                origin_prefecture: x.origin_prefecture.clone(),
                buyer_province: x.buyer_province.clone(),
                buyer_prefecture: x.buyer_prefecture.clone(),
                amount_fen: 0,
            })
            .amount_fen += x.amount_fen;
    }
    let geo: Vec<GeoSum> = geo.into_values().collect();
    let buyer: Vec<BuyerSum> = buyer.into_values().collect();
    let producer: Vec<ProducerSum> = producer.into_values().collect();
    crate::upsert_add!(conn, ledger_sums_geo, &geo, (year, month, origin_county, category, buyer_county, pairing_key))?;
    crate::upsert_add!(conn, ledger_sums_buyer, &buyer, (year, origin_county, buyer_org_id, pairing_key))?;
    crate::upsert_add!(
        conn,
        ledger_sums_producer,
        &producer,
        (year, origin_county, producer_id, buyer_county, pairing_key)
    )?;
    Ok(())
}
