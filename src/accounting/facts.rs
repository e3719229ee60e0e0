//! Reading sums out of the ledger: one query shape — filter by year and scope, group by one
//! attribute, sum the amounts — answered from a rollup when one carries the scope and the
//! grouping and no `as_of` is asked, else from the ledger lines themselves. Every reported
//! number comes through here.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};

use super::scope::Scope;
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

/// A condition over ledger columns, with `?` placeholders.
#[derive(Debug, Clone, Default)]
pub struct Cond {
    pub sql: String,
    pub binds: Vec<Bind>,
    /// Only the ledger lines have the columns this condition uses.
    pub lines_only: bool,
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
        "province" => cond.and(&format!("{side}_province = ?"), [Bind::Text(p.code.clone())]),
        "prefecture" => cond.and(&format!("{side}_prefecture = ?"), [Bind::Text(p.code.clone())]),
        // A county holds few enough lines to read them; the rollups stop at prefectures.
        _ if p.county == p.code => {
            cond.and(&format!("{side}_county = ?"), [Bind::Text(p.code.clone())]);
            cond.lines_only = true;
        }
        _ => {
            // Below a county (a town, a village): its county narrows the search, the path decides.
            let path_column = if side == "origin" { "origin_path" } else { "buyer_region_path" };
            cond.and(
                &format!("{side}_county = ? AND {path_column} LIKE ? ESCAPE '\\'"),
                [Bind::Text(p.county.clone()), Bind::Text(prefix_pattern(&p.path))],
            );
            cond.lines_only = true;
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
            cond.lines_only = true;
        }
        Scope::Producer { org, .. } => {
            cond.and("producer_path LIKE ? ESCAPE '\\'", [Bind::Text(prefix_pattern(&org.path))]);
            cond.lines_only = true;
        }
    }
    cond
}

/// The table that answers a grouping: the rollup that has its column, or the lines.
fn source(group: Group, cond: &Cond, as_of: Option<NaiveDateTime>) -> &'static str {
    if cond.lines_only || as_of.is_some() {
        return "ledger_lines";
    }
    match group {
        Group::OriginCounty | Group::BuyerCounty => "ledger_sums_county",
        Group::BuyerOrg => "ledger_sums_buyer",
        Group::Producer => "ledger_sums_producer",
        Group::Total | Group::Month | Group::OriginPrefecture | Group::BuyerPrefecture | Group::Category => {
            "ledger_sums_month"
        }
    }
}

#[derive(QueryableByName)]
struct KeySum {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    amount: i64,
}

/// Sums of one year's ledger in a scope, grouped; `as_of` counts only entries recorded by then.
pub fn sums(
    conn: &mut DbConn,
    year: i32,
    cond: &Cond,
    group: Group,
    as_of: Option<NaiveDateTime>,
) -> AppResult<Vec<(String, i64)>> {
    sums_from(conn, source(group, cond, as_of), year, cond, group, as_of)
}

/// [`sums`] from a table chosen by the caller (`ledger verify` compares rollups with lines).
pub fn sums_from(
    conn: &mut DbConn,
    table: &str,
    year: i32,
    cond: &Cond,
    group: Group,
    as_of: Option<NaiveDateTime>,
) -> AppResult<Vec<(String, i64)>> {
    let column = group.column();
    let mut sql = format!(
        "SELECT {column} AS key, CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS amount FROM {table} WHERE year = ?"
    );
    let mut binds = vec![Bind::Int(year)];
    if !cond.sql.is_empty() {
        sql.push_str(" AND ");
        sql.push_str(&cond.sql);
        binds.extend(cond.binds.iter().cloned());
    }
    if let Some(t) = as_of {
        sql.push_str(" AND recorded_at <= ?");
        binds.push(Bind::Time(t));
    }
    if group != Group::Total {
        sql.push_str(&format!(" GROUP BY {column}"));
    }
    let rows: Vec<KeySum> = query(conn, &sql, &binds)?;
    Ok(rows.into_iter().map(|r| (r.key, r.amount)).collect())
}

/// Runs raw SQL written with `?` placeholders on either backend.
pub fn query<T>(conn: &mut DbConn, sql: &str, binds: &[Bind]) -> AppResult<Vec<T>>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    crate::db::sql::query(conn, sql, binds)
}
