//! Reading sums out of the ledger: one query shape — filter by span (a year or part of one) and
//! scope, group by one attribute, sum the amounts — answered from a rollup when one carries the scope and the
//! grouping and no `as_of` is asked, else from the ledger lines themselves. Every reported
//! number comes through here.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};

use super::scope::Scope;
use super::span::Span;
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
    /// The order's channel (catalogue, group_buy, live): only the lines carry it.
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

fn region_cond(cond: &mut Cond, side: &str, p: &Placed) {
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
        // Only the month rollups can tell part of a year; they also carry the prefectures.
        return match (cond.grain, group) {
            (Grain::Lines, _) | (_, G::Channel) => None,
            (Grain::Province, G::Total | G::Month | G::Category) => Some("ledger_sums_month_province"),
            (_, G::Total | G::Month | G::Category | G::OriginPrefecture | G::BuyerPrefecture) => {
                Some("ledger_sums_month")
            }
            _ => None,
        };
    }
    Some(match (cond.grain, group) {
        (Grain::Lines, _) | (_, G::Channel) => return None,
        (_, G::OriginPrefecture | G::BuyerPrefecture) => "ledger_sums_pref",
        (_, G::OriginCounty | G::BuyerCounty) => "ledger_sums_county",
        (Grain::Province, G::Total | G::Month | G::Category) => "ledger_sums_month_province",
        (Grain::Province, G::BuyerOrg) => "ledger_sums_buyer_province",
        (Grain::Province, G::Producer) => "ledger_sums_producer_province",
        (Grain::Prefecture, G::Total | G::Month | G::Category) => "ledger_sums_month",
        (Grain::Prefecture, G::BuyerOrg) => "ledger_sums_buyer",
        (Grain::Prefecture, G::Producer) => "ledger_sums_producer",
    })
}

#[derive(QueryableByName)]
struct KeySum {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    amount: i64,
}

/// Sums of a span's ledger in a scope, grouped; `as_of` counts only entries recorded by then.
/// From a rollup where one answers: with `as_of`, the rollup less the lines recorded after it, in
/// one statement (one snapshot) — cheap when `as_of` is recent, as it usually is.
pub fn sums(
    conn: &mut DbConn,
    span: &Span,
    cond: &Cond,
    group: Group,
    as_of: Option<NaiveDateTime>,
) -> AppResult<Vec<(String, i64)>> {
    let column = group.column();
    let (mut sql, mut binds) = part("ledger_lines", span, cond, column, "amount_fen");
    match (rollup(group, cond, span), as_of) {
        (None, Some(t)) => {
            sql.push_str(" AND recorded_at <= ?");
            binds.push(Bind::Time(t));
        }
        (None, None) => {}
        (Some(table), None) => (sql, binds) = part(table, span, cond, column, "amount_fen"),
        (Some(table), Some(t)) => {
            let (current, mut current_binds) = part(table, span, cond, column, "amount_fen");
            let (later, later_binds) = part("ledger_lines", span, cond, column, "-amount_fen");
            sql = format!("{current} UNION ALL {later} AND recorded_at > ?");
            current_binds.extend(later_binds);
            current_binds.push(Bind::Time(t));
            binds = current_binds;
        }
    }
    let sql = format!("SELECT key, CAST(COALESCE(SUM(a), 0) AS BIGINT) AS amount FROM ({sql}) x GROUP BY key");
    let rows: Vec<KeySum> = query(conn, &sql, &binds)?;
    Ok(rows.into_iter().map(|r| (r.key, r.amount)).collect())
}

/// `SELECT key, amount FROM table WHERE year = ? [AND month BETWEEN ? AND ?] AND cond`.
fn part(table: &str, span: &Span, cond: &Cond, column: &str, amount: &str) -> (String, Vec<Bind>) {
    let mut sql = format!("SELECT {column} AS key, {amount} AS a FROM {table} WHERE year = ?");
    let mut binds = vec![Bind::Int(span.year)];
    if !span.is_whole_year() {
        sql.push_str(" AND month BETWEEN ? AND ?");
        binds.extend([Bind::Int(span.first_month as i32), Bind::Int(span.last_month as i32)]);
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
