//! Writing the counting ledger. A sub-order counts once (cause `count:<sub-order>`) when its order
//! is paid — or, with `DONGXI_COUNT_ON=accepted`, when it is accepted — for what was paid and not
//! refunded; each later refund posts a negative entry (cause `refund:<refund>`). Both are written
//! in the transaction of the change that causes them, with every attribute reports use fixed at
//! that moment, and the rollups updated beside them. Entries are never updated or deleted.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;

use super::{pairings, periods};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{ledger_entries as e, ledger_lines as l, order_lines};
use crate::db::sql::{self, Bind, Statement};
use crate::error::AppResult;
use crate::ids::new_id;
use crate::money::Fen;
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
    let sold: Vec<Sold> = order_lines::table
        .filter(order_lines::sub_order_id.eq(sale.sub_order_id))
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
    let mut codes: Vec<&str> = sold.iter().map(|s| s.origin.as_str()).collect();
    codes.push(sale.buyer_region_code);
    codes.sort_unstable();
    codes.dedup();
    let placed = levels::place(conn, &codes)?;
    let amounts = amount.allocate(&sold.iter().map(|s| s.subtotal_fen).collect::<Vec<_>>());
    // The entry's own origin and certificate: those of its largest line.
    let main =
        amounts.iter().enumerate().max_by_key(|(i, a)| (a.0, std::cmp::Reverse(*i))).map(|(i, _)| i).unwrap_or(0);
    let local = counted_at.and_utc().with_timezone(&ctx.zone);
    let main_origin = &placed[&sold[main].origin];
    let buyer_place = &placed[sale.buyer_region_code];
    let pairing_id =
        pairings::in_force(conn, local.date_naive(), sale.buyer_org_path, &buyer_place.path, &main_origin.path)?;
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
fn write(conn: &mut DbConn, entry: &EntryRow, lines: &[LedgerLine]) -> AppResult<()> {
    let mut statements = vec![entry_insert(entry), lines_insert(lines)];
    statements.extend(rollup_upserts(lines));
    sql::execute_all(conn, &statements)
}

fn entry_insert(e: &EntryRow) -> Statement {
    const COLUMNS: [&str; 19] = [
        "id",
        "cause",
        "kind",
        "order_id",
        "sub_order_id",
        "refund_id",
        "reverses_id",
        "amount_fen",
        "counted_at",
        "recorded_at",
        "year",
        "month",
        "adjusts_year",
        "buyer_org_id",
        "buyer_region_code",
        "producer_id",
        "origin_region_code",
        "pairing_id",
        "certificate_no",
    ];
    Statement {
        sql: sql::insert_sql("ledger_entries", &COLUMNS, 1, ""),
        binds: vec![
            Bind::Text(e.id.clone()),
            Bind::Text(e.cause.clone()),
            Bind::Text(e.kind.clone()),
            Bind::Text(e.order_id.clone()),
            Bind::Text(e.sub_order_id.clone()),
            Bind::OptText(e.refund_id.clone()),
            Bind::OptText(e.reverses_id.clone()),
            Bind::BigInt(e.amount_fen),
            Bind::Time(e.counted_at),
            Bind::Time(e.recorded_at),
            Bind::Int(e.year),
            Bind::Int(e.month),
            Bind::OptInt(e.adjusts_year),
            Bind::Text(e.buyer_org_id.clone()),
            Bind::Text(e.buyer_region_code.clone()),
            Bind::Text(e.producer_id.clone()),
            Bind::Text(e.origin_region_code.clone()),
            Bind::OptText(e.pairing_id.clone()),
            Bind::Text(e.certificate_no.clone()),
        ],
    }
}

fn lines_insert(lines: &[LedgerLine]) -> Statement {
    const COLUMNS: [&str; 24] = [
        "entry_id",
        "position",
        "kind",
        "amount_fen",
        "year",
        "month",
        "recorded_at",
        "product_id",
        "category",
        "certificate_no",
        "origin_code",
        "origin_path",
        "origin_province",
        "origin_prefecture",
        "origin_county",
        "buyer_org_id",
        "buyer_org_path",
        "buyer_region_path",
        "buyer_province",
        "buyer_prefecture",
        "buyer_county",
        "producer_id",
        "producer_path",
        "pairing_key",
    ];
    let mut binds = Vec::with_capacity(lines.len() * COLUMNS.len());
    for x in lines {
        binds.extend([
            Bind::Text(x.entry_id.clone()),
            Bind::Int(x.position),
            Bind::Text(x.kind.clone()),
            Bind::BigInt(x.amount_fen),
            Bind::Int(x.year),
            Bind::Int(x.month),
            Bind::Time(x.recorded_at),
            Bind::Text(x.product_id.clone()),
            Bind::Text(x.category.clone()),
            Bind::Text(x.certificate_no.clone()),
            Bind::Text(x.origin_code.clone()),
            Bind::Text(x.origin_path.clone()),
            Bind::Text(x.origin_province.clone()),
            Bind::Text(x.origin_prefecture.clone()),
            Bind::Text(x.origin_county.clone()),
            Bind::Text(x.buyer_org_id.clone()),
            Bind::Text(x.buyer_org_path.clone()),
            Bind::Text(x.buyer_region_path.clone()),
            Bind::Text(x.buyer_province.clone()),
            Bind::Text(x.buyer_prefecture.clone()),
            Bind::Text(x.buyer_county.clone()),
            Bind::Text(x.producer_id.clone()),
            Bind::Text(x.producer_path.clone()),
            Bind::Text(x.pairing_key.clone()),
        ]);
    }
    Statement { sql: sql::insert_sql("ledger_lines", &COLUMNS, lines.len(), ""), binds }
}

/// One rollup: its table, its key columns and its other columns (fixed by the key); each row
/// sums `amount_fen` of the ledger lines with that key. Every column is a ledger line's.
pub struct Rollup {
    pub table: &'static str,
    pub key: &'static [&'static str],
    pub rest: &'static [&'static str],
}

/// The rollups, written with every entry, checked by `ledger verify`, read by `facts`.
pub const ROLLUPS: [Rollup; 8] = [
    Rollup {
        table: "ledger_sums_month",
        key: &["year", "month", "origin_prefecture", "buyer_prefecture", "category", "pairing_key"],
        rest: &["origin_province", "buyer_province"],
    },
    Rollup {
        table: "ledger_sums_month_province",
        key: &["year", "month", "origin_province", "buyer_province", "category", "pairing_key"],
        rest: &[],
    },
    Rollup {
        table: "ledger_sums_pref",
        key: &["year", "origin_prefecture", "buyer_prefecture", "pairing_key"],
        rest: &["origin_province", "buyer_province"],
    },
    Rollup {
        table: "ledger_sums_county",
        key: &["year", "origin_county", "buyer_county", "pairing_key"],
        rest: &["origin_province", "origin_prefecture", "buyer_province", "buyer_prefecture"],
    },
    Rollup {
        table: "ledger_sums_buyer",
        key: &["year", "origin_prefecture", "buyer_org_id", "pairing_key"],
        rest: &["origin_province", "buyer_province", "buyer_prefecture"],
    },
    Rollup {
        table: "ledger_sums_buyer_province",
        key: &["year", "origin_province", "buyer_org_id", "pairing_key"],
        rest: &["buyer_province", "buyer_prefecture"],
    },
    Rollup {
        table: "ledger_sums_producer",
        key: &["year", "origin_prefecture", "producer_id", "buyer_prefecture", "pairing_key"],
        rest: &["origin_province", "buyer_province"],
    },
    Rollup {
        table: "ledger_sums_producer_province",
        key: &["year", "origin_province", "producer_id", "buyer_province", "pairing_key"],
        rest: &[],
    },
];

/// A line's value of a column a rollup keys or carries.
fn column(x: &LedgerLine, name: &str) -> Bind {
    Bind::Text(match name {
        "year" => return Bind::Int(x.year),
        "month" => return Bind::Int(x.month),
        "origin_province" => x.origin_province.clone(),
        "origin_prefecture" => x.origin_prefecture.clone(),
        "origin_county" => x.origin_county.clone(),
        "buyer_province" => x.buyer_province.clone(),
        "buyer_prefecture" => x.buyer_prefecture.clone(),
        "buyer_county" => x.buyer_county.clone(),
        "buyer_org_id" => x.buyer_org_id.clone(),
        "producer_id" => x.producer_id.clone(),
        "category" => x.category.clone(),
        "pairing_key" => x.pairing_key.clone(),
        other => unreachable!("no rollup column {other}"),
    })
}

/// A comparable form of a column's value, for ordering keys.
fn sort_form(b: &Bind) -> String {
    match b {
        Bind::Int(n) => format!("{n:010}"),
        Bind::Text(t) => t.clone(),
        _ => String::new(),
    }
}

/// Upserts adding the lines to each rollup, one row per key, in key order (so concurrent
/// payments lock rollup rows in the same order and never deadlock).
fn rollup_upserts(lines: &[LedgerLine]) -> Vec<Statement> {
    ROLLUPS
        .iter()
        .map(|r| {
            let mut sums: BTreeMap<Vec<String>, (Vec<Bind>, i64)> = BTreeMap::new();
            for x in lines {
                let values: Vec<Bind> = r.key.iter().chain(r.rest).map(|c| column(x, c)).collect();
                let order: Vec<String> = values[..r.key.len()].iter().map(sort_form).collect();
                sums.entry(order).or_insert((values, 0)).1 += x.amount_fen;
            }
            let mut columns: Vec<&str> = r.key.to_vec();
            columns.extend_from_slice(r.rest);
            columns.push("amount_fen");
            let suffix = format!(
                " ON CONFLICT ({}) DO UPDATE SET amount_fen = {table}.amount_fen + excluded.amount_fen",
                r.key.join(", "),
                table = r.table
            );
            let mut binds = Vec::new();
            for (values, amount) in sums.into_values() {
                binds.extend(values);
                binds.push(Bind::BigInt(amount));
            }
            Statement { sql: sql::insert_sql(r.table, &columns, binds.len() / columns.len(), &suffix), binds }
        })
        .collect()
}
