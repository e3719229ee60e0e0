//! Reading sums out of the ledger: one query shape — filter by span (a year or part of one) and
//! scope, group by one attribute, sum the amounts — answered from a rollup when one carries the scope and the
//! grouping and no `as_of` is asked, else from the ledger lines themselves. Every reported
//! number comes through here.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};

use super::scope::Scope;
use super::span::Span;
use super::{rollups, snapshots};
use crate::db::{DbConn, prefix_pattern};
use crate::error::AppResult;
use crate::regions::levels::Placed;

/// What a sum is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Total,
    Month,
    OriginCounty,
    OriginPrefecture,
    BuyerPrefecture,
    BuyerCounty,
    BuyerOrg,
    Producer,
    Category,
    /// The order's channel (catalogue, group_buy, live).
    Channel,
}

impl Group {
    /// The column (as text) in the ledger lines and in the rollups that have it.
    fn column(self) -> &'static str {
        match self {
            Group::Total => "CAST('' AS TEXT)",
            Group::Month => "CAST(month AS TEXT)",
            Group::OriginCounty => "origin_county",
            Group::OriginPrefecture => "origin_prefecture",
            Group::BuyerPrefecture => "buyer_prefecture",
            Group::BuyerCounty => "buyer_county",
            Group::BuyerOrg => "buyer_org_id",
            Group::Producer => "producer_id",
            Group::Category => "category",
            Group::Channel => "channel",
        }
    }
    /// The group's plain column, for equality filters (`GET /ledger?by=…&key=…`).
    pub fn plain_column(self) -> Option<&'static str> {
        match self {
            Group::Total => None,
            Group::Month => Some("month"),
            other => Some(other.column()),
        }
    }
}

pub use crate::db::sql::Bind;

/// Which tables can answer a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Grain {
    /// Province columns (and the pairing): the province-grain rollups.
    Province,
    /// Prefecture columns, the pairing, a buyer or a producer: the prefecture-grain rollups.
    #[default]
    Prefecture,
    /// Columns only the ledger lines have (a county, a path): the lines themselves.
    Lines,
}

/// A condition over ledger columns, with `?` placeholders.
#[derive(Debug, Clone, Default)]
pub struct Cond {
    pub sql: String,
    pub binds: Vec<Bind>,
    pub grain: Grain,
    /// A redundant condition (a prefecture's province) that lets a rollup's scope index, which
    /// leads with the province, find the rows; the lines' indexes lead with the prefecture and
    /// would have to visit the table to check it, so they are not given it.
    pub rollup_lead: Option<(String, Bind)>,
    /// Which side a region scope is on (`origin` or `buyer`); none for pairings, organisations
    /// and producers.
    pub side: Option<&'static str>,
}

/// The instant a report answers for, when it is not now, and now (to tell which of the nearest
/// snapshot and today's rollup is closer to it).
#[derive(Debug, Clone, Copy)]
pub struct Cutoff {
    pub at: NaiveDateTime,
    pub now: NaiveDateTime,
}

impl Cond {
    fn and(&mut self, sql: &str, binds: impl IntoIterator<Item = Bind>) {
        if !self.sql.is_empty() {
            self.sql.push_str(" AND ");
        }
        self.sql.push_str(sql);
        self.binds.extend(binds);
    }
}

fn region_cond(cond: &mut Cond, side: &'static str, p: &Placed) {
    cond.side = Some(side);
    match p.level.as_str() {
        "province" => {
            cond.and(&format!("{side}_province = ?"), [Bind::Text(p.code.clone())]);
            cond.grain = Grain::Province;
        }
        "prefecture" => {
            cond.and(&format!("{side}_prefecture = ?"), [Bind::Text(p.code.clone())]);
            cond.rollup_lead = Some((format!("{side}_province = ?"), Bind::Text(p.province.clone())));
        }
        // A county holds few enough lines to read them; the rollups stop at prefectures.
        _ if p.county == p.code => {
            cond.and(&format!("{side}_county = ?"), [Bind::Text(p.code.clone())]);
            cond.grain = Grain::Lines;
        }
        _ => {
            // Below a county (a town, a village): its county narrows the search, the path decides.
            let path_column = if side == "origin" { "origin_path" } else { "buyer_region_path" };
            cond.and(
                &format!("{side}_county = ? AND {path_column} LIKE ? ESCAPE '\\'"),
                [Bind::Text(p.county.clone()), Bind::Text(prefix_pattern(&p.path))],
            );
            cond.grain = Grain::Lines;
        }
    }
}

/// The lines a scope counts.
pub fn scope_cond(scope: &Scope) -> Cond {
    let mut cond = Cond::default();
    match scope {
        Scope::Recipient(p) => region_cond(&mut cond, "origin", p),
        Scope::Donor(p) => region_cond(&mut cond, "buyer", p),
        Scope::Pairing { row, .. } => cond.and("pairing_key = ?", [Bind::Text(row.id.clone())]),
        Scope::Org { org, .. } => {
            cond.and("buyer_org_path LIKE ? ESCAPE '\\'", [Bind::Text(prefix_pattern(&org.path))]);
            cond.grain = Grain::Lines;
        }
        Scope::Producer { org, .. } => {
            cond.and("producer_path LIKE ? ESCAPE '\\'", [Bind::Text(prefix_pattern(&org.path))]);
            cond.grain = Grain::Lines;
        }
    }
    cond
}

/// The rollup that answers a grouping under a condition over a span; `None`: only the lines can.
fn rollup(group: Group, cond: &Cond, span: &Span) -> Option<&'static str> {
    use Group as G;

    if !span.is_whole_year() {
        // The month rollups tell part of a year; they also carry the prefectures. A half's or a
        // quarter's buyers have rollups of their own.
        return match (cond.grain, group) {
            (Grain::Lines, _) => None,
            (_, G::BuyerOrg) => span.part().and(buyer_rollup(cond)).map(|(_, by_part)| by_part),
            (_, G::Channel) => Some("ledger_sums_channel"),
            (Grain::Province, G::Total | G::Month | G::Category) => Some("ledger_sums_month_province"),
            (_, G::Total | G::Month | G::Category | G::OriginPrefecture | G::BuyerPrefecture) => {
                Some("ledger_sums_month")
            }
            _ => None,
        };
    }
    Some(match (cond.grain, group) {
        (Grain::Lines, _) => return None,
        (_, G::Channel) => "ledger_sums_channel",
        (_, G::OriginPrefecture | G::BuyerPrefecture) => "ledger_sums_pref",
        (_, G::OriginCounty | G::BuyerCounty) => "ledger_sums_county",
        (Grain::Province, G::Total | G::Month | G::Category) => "ledger_sums_month_province",
        (_, G::BuyerOrg) => match buyer_rollup(cond) {
            Some((year, _)) => year,
            // A pairing's buyers: the rollup that keeps the pairing.
            None => "ledger_sums_buyer",
        },
        (Grain::Province, G::Producer) => "ledger_sums_producer_province",
        (Grain::Prefecture, G::Total | G::Month | G::Category) => "ledger_sums_month",
        (Grain::Prefecture, G::Producer) => "ledger_sums_producer",
    })
}

/// The rollups with one row per buyer of a region scope: for the year, and per half and quarter.
fn buyer_rollup(cond: &Cond) -> Option<(&'static str, &'static str)> {
    match (cond.side, cond.grain) {
        (_, Grain::Lines) | (None, _) => None,
        (Some("origin"), Grain::Province) => {
            Some(("ledger_sums_buyer_origin_province", "ledger_sums_buyer_origin_province_part"))
        }
        (Some("origin"), _) => Some(("ledger_sums_buyer_origin", "ledger_sums_buyer_origin_part")),
        (Some(_), _) => Some(("ledger_sums_buyer_donor", "ledger_sums_buyer_donor_part")),
    }
}

#[derive(QueryableByName)]
struct KeySum {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    amount: i64,
}

/// Sums of a span's ledger in a scope, grouped; `as_of` counts only entries recorded by then.
/// From a rollup where one answers. With `as_of`, from whichever is nearer to it: today's rollup
/// less the lines recorded since, or a month-end snapshot plus or minus the lines recorded
/// between it and `as_of` — each in one statement (one snapshot of the database).
pub fn sums(
    conn: &mut DbConn,
    span: &Span,
    cond: &Cond,
    group: Group,
    as_of: Option<Cutoff>,
) -> AppResult<Vec<(String, i64)>> {
    let column = group.column();
    let (sql, binds) = match (rollup(group, cond, span), as_of) {
        (None, None) => part("ledger_lines", None, span, cond, column, "amount_fen"),
        (None, Some(c)) => {
            let (mut sql, mut binds) = part("ledger_lines", None, span, cond, column, "amount_fen");
            sql.push_str(" AND recorded_at <= ?");
            binds.push(Bind::Time(c.at));
            (sql, binds)
        }
        (Some(table), None) => part(table, None, span, cond, column, "amount_fen"),
        (Some(table), Some(c)) => {
            let base = base(conn, table, group, cond, span, c)?;
            let (stored, mut binds) = part(base.table, base.taken_at, span, cond, column, "amount_fen");
            let (lines, lines_binds) = between(&base, span, cond, column);
            binds.extend(lines_binds);
            (format!("{stored} UNION ALL {lines}"), binds)
        }
    };
    let sql = format!("SELECT key, CAST(COALESCE(SUM(a), 0) AS BIGINT) AS amount FROM ({sql}) x GROUP BY key");
    let rows: Vec<KeySum> = query(conn, &sql, &binds)?;
    Ok(rows.into_iter().map(|r| (r.key, r.amount)).collect())
}

/// Where an `as_of` answer starts, and the lines that take it to the instant: those recorded
/// after `from` (and by `to`), added (`adds`) or taken away.
struct Base {
    table: &'static str,
    taken_at: Option<NaiveDateTime>,
    from: NaiveDateTime,
    to: Option<NaiveDateTime>,
    adds: bool,
}

/// The snapshot table that can stand in for `table` for this grouping; pairings have none.
fn snapshot_table(table: &str, group: Group, cond: &Cond) -> Option<&'static snapshots::Snapshot> {
    cond.side?;
    match group {
        Group::Total | Group::Month | Group::OriginPrefecture | Group::BuyerPrefecture => {
            snapshots::named("ledger_snap_month")
        }
        Group::BuyerOrg => snapshots::of_rollup(table),
        _ => None,
    }
}

/// Today's rollup less what was recorded after the instant, or the nearest month-end snapshot,
/// whichever is nearer in time (the lines between are what costs).
fn base(conn: &mut DbConn, table: &'static str, group: Group, cond: &Cond, span: &Span, c: Cutoff) -> AppResult<Base> {
    let current = Base { table, taken_at: None, from: c.at, to: None, adds: false };
    let Some(snap) = snapshot_table(table, group, cond) else {
        return Ok(current);
    };
    Ok(match snapshots::nearest(conn, snap, span.year, c.at)? {
        Some((taken_at, distance)) if distance < (c.now - c.at).num_seconds() => Base {
            table: snap.table,
            taken_at: Some(taken_at),
            from: taken_at.min(c.at),
            to: Some(taken_at.max(c.at)),
            adds: taken_at <= c.at,
        },
        _ => current,
    })
}

/// A breakdown's largest groups, the count and the sum of the rest.
#[derive(Debug)]
pub struct Top {
    pub rows: Vec<(String, i64)>,
    pub rest_count: usize,
    pub rest_sum: i64,
}

/// A row of `part`.
#[derive(QueryableByName)]
struct Part {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    a: i64,
}

#[derive(QueryableByName)]
struct Stats {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// A buyer the lines between base and instant touch: what they add (or take away) and what the
/// base holds for it.
#[derive(QueryableByName)]
struct Touched {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    delta: i64,
    #[diesel(sql_type = BigInt)]
    before: i64,
}

/// The `limit` largest buyers of a region scope over a year, a half or a quarter (amount descending, key
/// ascending; groups adding up to nothing left out), read from the top of an index of a rollup
/// or snapshot that holds one row per buyer, instead of summing every buyer. With `as_of`, the
/// buyers the lines between base and instant touch are summed in one statement that also reads
/// what the base holds for each, and corrected exactly: the top `limit + t` rows of the base,
/// `t` the touched buyers the base holds, contain every untouched buyer that can still be among
/// the `limit` largest; the count and the sum are the base's, moved by the same lines. Every
/// statement reads one snapshot of the database (`read_tx`), so the rows add up to the total.
/// `None`: no such table answers; use `sums`.
pub fn top(
    conn: &mut DbConn,
    span: &Span,
    cond: &Cond,
    group: Group,
    as_of: Option<Cutoff>,
    limit: usize,
) -> AppResult<Option<Top>> {
    if group != Group::BuyerOrg {
        return Ok(None);
    }
    let Some(table) = rollup(group, cond, span).filter(|t| *t != "ledger_sums_buyer") else {
        return Ok(None);
    };
    crate::db::read_tx(conn, |conn| {
        let base = match as_of {
            Some(c) => Some(base(conn, table, group, cond, span, c)?),
            None => None,
        };
        let (stored, taken_at) = base.as_ref().map_or((table, None), |b| (b.table, b.taken_at));
        let (scoped, scoped_binds) = part(stored, taken_at, span, cond, "buyer_org_id", "amount_fen");
        let touched: Vec<Touched> = match &base {
            Some(b) => {
                let (lines, mut binds) = between(b, span, cond, "buyer_org_id");
                binds.extend(scoped_binds.iter().cloned());
                let sql = format!(
                    "SELECT d.key, d.delta, CAST(COALESCE(s.a, 0) AS BIGINT) AS before \
                     FROM (SELECT key, CAST(SUM(a) AS BIGINT) AS delta FROM ({lines}) l GROUP BY key) d \
                     LEFT JOIN ({scoped}) s ON s.key = d.key"
                );
                query(conn, &sql, &binds)?
            }
            None => Vec::new(),
        };
        let held = touched.iter().filter(|t| t.before != 0).count();
        let mut binds = scoped_binds.clone();
        binds.push(Bind::BigInt((limit + held) as i64));
        let head: Vec<Part> = query(
            conn,
            &format!("{scoped} AND amount_fen <> 0 ORDER BY amount_fen DESC, buyer_org_id LIMIT ?"),
            &binds,
        )?;
        let stats: Vec<Stats> = query(
            conn,
            &format!(
                "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(a), 0) AS BIGINT) AS total FROM ({scoped} AND amount_fen <> 0) x"
            ),
            &scoped_binds,
        )?;
        let (mut count, mut total) = stats.first().map_or((0, 0), |s| (s.n, s.total));
        let mut values: HashMap<String, i64> = head.into_iter().map(|r| (r.key, r.a)).collect();
        for t in touched {
            let after = t.before + t.delta;
            count += i64::from(after != 0) - i64::from(t.before != 0);
            total += t.delta;
            values.insert(t.key, after);
        }
        let mut rows: Vec<(String, i64)> = values.into_iter().filter(|(_, v)| *v != 0).collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        rows.truncate(limit);
        let shown: i64 = rows.iter().map(|(_, v)| v).sum();
        Ok(Some(Top { rest_count: (count as usize).saturating_sub(rows.len()), rest_sum: total - shown, rows }))
    })
}

/// The lines that take a base to the instant, signed: `SELECT column AS key, ±amount_fen AS a
/// FROM ledger_lines WHERE … AND recorded_at > from [AND recorded_at <= to]`.
fn between(b: &Base, span: &Span, cond: &Cond, column: &str) -> (String, Vec<Bind>) {
    let sign = if b.adds { "amount_fen" } else { "-amount_fen" };
    let (mut sql, mut binds) = part("ledger_lines", None, span, cond, column, sign);
    sql.push_str(" AND recorded_at > ?");
    binds.push(Bind::Time(b.from));
    if let Some(to) = b.to {
        sql.push_str(" AND recorded_at <= ?");
        binds.push(Bind::Time(to));
    }
    (sql, binds)
}

/// `SELECT key, amount FROM table WHERE [taken_at = ? AND] year = ? [AND month BETWEEN ? AND ?
/// | AND part = ?] AND cond`.
fn part(
    table: &str,
    taken_at: Option<NaiveDateTime>,
    span: &Span,
    cond: &Cond,
    column: &str,
    amount: &str,
) -> (String, Vec<Bind>) {
    let mut sql = format!("SELECT {column} AS key, {amount} AS a FROM {table} WHERE ");
    let mut binds = Vec::new();
    if let Some(t) = taken_at {
        sql.push_str("taken_at = ? AND ");
        binds.push(Bind::Time(t));
    }
    sql.push_str("year = ?");
    binds.push(Bind::Int(span.year));
    match (rollups::find(table).filter(|r| r.by_part()), span.part()) {
        (Some(_), Some(part)) => {
            sql.push_str(" AND part = ?");
            binds.push(Bind::Text(part));
        }
        _ if !span.is_whole_year() => {
            sql.push_str(" AND month BETWEEN ? AND ?");
            binds.extend([Bind::Int(span.first_month as i32), Bind::Int(span.last_month as i32)]);
        }
        _ => {}
    }
    if let Some((lead, value)) = cond.rollup_lead.as_ref().filter(|_| table != "ledger_lines") {
        sql.push_str(" AND ");
        sql.push_str(lead);
        binds.push(value.clone());
    }
    if !cond.sql.is_empty() {
        sql.push_str(" AND ");
        sql.push_str(&cond.sql);
        binds.extend(cond.binds.iter().cloned());
    }
    (sql, binds)
}

/// Runs raw SQL written with `?` placeholders on either backend.
pub fn query<T>(conn: &mut DbConn, sql: &str, binds: &[Bind]) -> AppResult<Vec<T>>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    crate::db::sql::query(conn, sql, binds)
}
