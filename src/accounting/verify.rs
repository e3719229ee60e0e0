//! `dongxi ledger verify`: recomputes what the ledger must hold from orders, payments and
//! refunds, and checks every invariant: the net per sub-order, one entry per cause, each entry's
//! lines adding up to it, reversals matching their refunds, years and months in the deployment's
//! zone, closed years untouched since they closed, and the rollups and month-end snapshots equal to the
//! lines.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;

use crate::config::CountOn;
use crate::db::DbConn;
use crate::db::schema::{ledger_entries as e, ledger_lines as l, payments, refunds, sub_orders};
use crate::db::sql::Bind;
use crate::error::AppResult;

#[derive(Debug, Default)]
pub struct Verification {
    pub entries: usize,
    pub sub_orders: usize,
    /// Every difference found, one line each; empty means no drift.
    pub drift: Vec<String>,
}

/// Rows of `table` (key → amount) as it holds them, and as the lines say they should be: a
/// rollup (every line, no condition) or a month-end snapshot (the lines recorded by its instant,
/// its rows of that instant). `label` names the rows in each difference found.
struct Compared<'a> {
    label: String,
    table: &'a str,
    keys: &'a [&'a str],
    /// The lines as the table sums them: `ledger_lines`, or `ledger_line_parts` for a rollup
    /// kept per part of the year.
    lines: &'a str,
    lines_where: &'a str,
    lines_binds: Vec<Bind>,
    table_where: &'a str,
    table_binds: Vec<Bind>,
}

fn compare(conn: &mut DbConn, c: Compared<'_>, out: &mut Verification) -> AppResult<()> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        k: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        amount: i64,
    }
    let key_expr = c.keys.iter().map(|k| format!("CAST({k} AS TEXT)")).collect::<Vec<_>>().join(" || '|' || ");
    let group = c.keys.join(", ");
    let from_lines: Vec<Row> = super::facts::query(
        conn,
        &format!(
            "SELECT {key_expr} AS k, CAST(SUM(amount_fen) AS BIGINT) AS amount FROM {} {} GROUP BY {group}",
            c.lines, c.lines_where
        ),
        &c.lines_binds,
    )?;
    let stored: Vec<Row> = super::facts::query(
        conn,
        &format!("SELECT {key_expr} AS k, amount_fen AS amount FROM {} {}", c.table, c.table_where),
        &c.table_binds,
    )?;
    let want: HashMap<String, i64> = from_lines.into_iter().map(|r| (r.k, r.amount)).collect();
    let have: HashMap<String, i64> = stored.into_iter().map(|r| (r.k, r.amount)).collect();
    let label = &c.label;
    for (k, w) in &want {
        let h = have.get(k).copied().unwrap_or(0);
        if h != *w {
            out.drift.push(format!("{label} [{k}]: holds {h} fen, the lines add up to {w} fen (drift {})", h - w));
        }
    }
    for (k, h) in &have {
        if !want.contains_key(k) && *h != 0 {
            out.drift.push(format!("{label} [{k}]: holds {h} fen with no ledger lines behind it"));
        }
    }
    Ok(())
}

pub fn verify(conn: &mut DbConn, count_on: CountOn, zone: chrono_tz::Tz) -> AppResult<Verification> {
    let mut out = Verification::default();

    // What each sub-order should net to, from orders, payments and refunds alone.
    let subs: Vec<(String, String, i64, Option<NaiveDateTime>)> = sub_orders::table
        .select((sub_orders::id, sub_orders::order_id, sub_orders::total_fen, sub_orders::accepted_at))
        .load(conn)?;
    let paid: HashMap<String, i64> = payments::table
        .filter(payments::status.eq("succeeded"))
        .select((payments::order_id, payments::amount_fen))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let refund_rows: Vec<(String, String, i64)> = refunds::table
        .filter(refunds::status.eq_any(["succeeded", "pending"]))
        .select((refunds::id, refunds::sub_order_id, refunds::amount_fen))
        .load(conn)?;
    let mut refunded: HashMap<&str, i64> = HashMap::new();
    for (_, sub, amount) in &refund_rows {
        *refunded.entry(sub.as_str()).or_default() += amount;
    }
    let refund_amount: HashMap<&str, (&str, i64)> =
        refund_rows.iter().map(|(id, sub, a)| (id.as_str(), (sub.as_str(), *a))).collect();
    type EntryFacts =
        (String, String, String, Option<String>, i64, NaiveDateTime, NaiveDateTime, i32, i32, Option<i32>);
    let entries: Vec<EntryFacts> = e::table
        .select((
            e::id,
            e::kind,
            e::sub_order_id,
            e::refund_id,
            e::amount_fen,
            e::counted_at,
            e::recorded_at,
            e::year,
            e::month,
            e::adjusts_year,
        ))
        .load(conn)?;
    out.entries = entries.len();
    out.sub_orders = subs.len();
    let mut net: HashMap<&str, i64> = HashMap::new();
    for (id, kind, sub, refund, amount, counted_at, _, year, month, adjusts) in &entries {
        *net.entry(sub.as_str()).or_default() += amount;
        match (kind.as_str(), refund) {
            ("count", _) if adjusts.is_none() => {
                let local = counted_at.and_utc().with_timezone(&zone);
                if (local.year(), local.month() as i32) != (*year, *month) {
                    out.drift.push(format!("entry {id}: counted at {local} but booked in {year}-{month:02}"));
                }
            }
            ("reverse", Some(r)) => match refund_amount.get(r.as_str()) {
                Some((refund_sub, a)) if *refund_sub == sub.as_str() && *a == -amount => {}
                Some((_, a)) => {
                    out.drift.push(format!("entry {id}: reverses {} fen but refund {r} is {a} fen", -amount))
                }
                None => out.drift.push(format!("entry {id}: reverses refund {r}, which does not exist")),
            },
            ("reverse", None) => out.drift.push(format!("entry {id}: a reversal without a refund")),
            _ => {}
        }
    }
    for (sub, order, total, accepted_at) in &subs {
        let counted = match count_on {
            CountOn::Paid => paid.contains_key(order),
            CountOn::Accepted => accepted_at.is_some(),
        };
        let expected = if counted { total - refunded.get(sub.as_str()).copied().unwrap_or(0) } else { 0 };
        let have = net.get(sub.as_str()).copied().unwrap_or(0);
        if have != expected {
            out.drift.push(format!(
                "sub-order {sub} (order {order}): the ledger nets {have} fen, orders, payments and refunds say {expected} fen (drift {})",
                have - expected
            ));
        }
    }

    // One entry per cause (the unique index guarantees it; a restored or hand-edited database might not).
    #[derive(QueryableByName)]
    struct Dup {
        #[diesel(sql_type = diesel::sql_types::Text)]
        cause: String,
    }
    let dups: Vec<Dup> =
        super::facts::query(conn, "SELECT cause FROM ledger_entries GROUP BY cause HAVING COUNT(*) > 1", &[])?;
    for d in dups {
        out.drift.push(format!("cause {} has more than one entry", d.cause));
    }

    // Each entry's lines add up to it and carry its year, month and kind.
    #[derive(QueryableByName)]
    struct Mismatch {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let mismatched: Vec<Mismatch> = super::facts::query(
        conn,
        "SELECT e.id AS id FROM ledger_entries e LEFT JOIN ledger_lines l ON l.entry_id = e.id \
         GROUP BY e.id, e.amount_fen HAVING COALESCE(SUM(l.amount_fen), 0) <> e.amount_fen \
         UNION SELECT e.id AS id FROM ledger_entries e JOIN ledger_lines l ON l.entry_id = e.id \
         WHERE l.year <> e.year OR l.month <> e.month OR l.kind <> e.kind OR l.recorded_at <> e.recorded_at",
        &[],
    )?;
    for m in mismatched {
        out.drift.push(format!("entry {}: its lines do not add up to it (or disagree on year, month or kind)", m.id));
    }
    // Each line carries its order's channel, so a breakdown by channel is the orders' own.
    let off_channel: Vec<Mismatch> = super::facts::query(
        conn,
        "SELECT DISTINCT e.id AS id FROM ledger_entries e JOIN ledger_lines l ON l.entry_id = e.id \
         JOIN orders o ON o.id = e.order_id WHERE l.channel <> o.channel",
        &[],
    )?;
    for m in off_channel {
        out.drift.push(format!("entry {}: its lines name a channel other than its order's", m.id));
    }
    let orphans: i64 = l::table.left_join(e::table).filter(e::id.is_null()).count().get_result(conn)?;
    if orphans > 0 {
        out.drift.push(format!("{orphans} ledger lines belong to no entry"));
    }

    // A closed year received nothing after it closed.
    for (year, closed_at) in super::periods::closed_at(conn)? {
        let late: i64 =
            e::table.filter(e::year.eq(year)).filter(e::recorded_at.gt(closed_at)).count().get_result(conn)?;
        if late > 0 {
            out.drift.push(format!("{late} entries were written into {year} after it closed at {closed_at}"));
        }
    }

    for rollup in &super::rollups::ROLLUPS {
        let c = Compared {
            label: rollup.table.to_owned(),
            table: rollup.table,
            keys: rollup.key,
            lines: rollup.source(),
            lines_where: "",
            lines_binds: vec![],
            table_where: "",
            table_binds: vec![],
        };
        compare(conn, c, &mut out)?;
    }
    // Each month-end or week-end snapshot holds what the lines recorded by its instant add up to.
    for snap in super::snapshots::all(conn)? {
        for table in snap.tables() {
            let c = Compared {
                label: format!("{} at {}", table.table, snap.taken_at),
                table: table.table,
                keys: table.key,
                lines: "ledger_lines",
                lines_where: "WHERE year >= ? AND recorded_at <= ?",
                lines_binds: vec![Bind::Int(snap.first_year), Bind::Time(snap.taken_at)],
                table_where: "WHERE taken_at = ?",
                table_binds: vec![Bind::Time(snap.taken_at)],
            };
            compare(conn, c, &mut out)?;
        }
    }
    Ok(out)
}
