//! The ledger as a list: entries with their lines, by scope, by a breakdown row, by order, as of
//! an instant.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::breakdown::By;
use super::facts::{self, Bind, Group};
use super::model::{EntryRow, LedgerLine};
use super::progress::{instant, visible_scope};
use super::scope::{self};
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::ledger_lines;
use crate::error::{AppError, AppResult};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::types::OrgKind;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryShare {
    pub category: String,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryLineView {
    pub product_id: String,
    pub category: String,
    pub origin_region_code: String,
    pub certificate_no: String,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryView {
    pub id: String,
    pub order_id: String,
    pub sub_order_id: String,
    /// `count` or `reverse`.
    pub kind: String,
    pub amount_fen: i64,
    /// When the business event happened (payment, acceptance, refund); decides year and month.
    pub counted_at: DateTime<Utc>,
    /// When the entry was written.
    pub recorded_at: DateTime<Utc>,
    pub year: i32,
    pub month: i32,
    /// The closed year this entry corrects, when it was posted into a later one.
    pub adjusts_year: Option<i32>,
    pub buyer_org_id: String,
    pub buyer_region_code: String,
    pub producer_id: String,
    pub origin_region_code: String,
    pub pairing_id: Option<String>,
    pub certificate_no: String,
    pub refund_id: Option<String>,
    /// The count entry a reversal takes back.
    pub reverses_id: Option<String>,
    /// The category mix.
    pub categories: Vec<CategoryShare>,
    pub lines: Vec<EntryLineView>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// `year` (default), `H1`, `H2`, `Q1`..`Q4` or `M01`..`M12`: the entries of those months.
    #[param(pattern = r"^(year|H1|H2|Q[1-4]|M(0[1-9]|1[0-2]))$")]
    pub period: Option<String>,
    #[param(pattern = r"^(recipient|donor|org|pairing|producer)$")]
    pub scope_kind: Option<String>,
    pub scope_id: Option<String>,
    pub as_of: Option<DateTime<Utc>>,
    /// With `key`: only the entries behind one row of `GET /reports/breakdown?by=…`.
    #[param(pattern = r"^(recipient_county|recipient_prefecture|donor_region|buyer_org|producer|category|month)$")]
    pub by: Option<String>,
    pub key: Option<String>,
    pub order_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    #[param(pattern = r"^(json|csv|xlsx)$")]
    pub format: Option<String>,
}

crate::paged!(LedgerQuery);

/// The entries a ledger query selects, as SQL over `ledger_entries` and its binds.
fn ledger_selection(conn: &mut DbConn, actor: &Actor, q: &LedgerQuery, ctx: &Ctx) -> AppResult<(String, Vec<Bind>)> {
    let year = scope::check_year(q.year, "year")?;
    let span = super::span::Span::parse(year, q.period.as_deref())?;
    let (cutoff, _) = instant(q.as_of, ctx)?;
    let scope = match (&q.scope_kind, &q.scope_id) {
        (Some(kind), Some(id)) => Some(visible_scope(conn, actor, kind, id)?),
        (None, None) if actor.org_kind == OrgKind::Platform => None,
        _ => {
            return Err(AppError::invalid_field("validation_failed", "scope_id", "give scope_kind and scope_id"));
        }
    };
    let mut cond = scope.as_ref().map(facts::scope_cond).unwrap_or_default();
    if let (Some(by), Some(key)) = (&q.by, &q.key) {
        let by = By::parse(by)?;
        let group = scope.as_ref().map(|s| by.group(s)).unwrap_or(Group::BuyerPrefecture);
        if let Some(column) = group.plain_column() {
            let value = if by == By::Month {
                key.rsplit('-').next().and_then(|m| m.parse::<i32>().ok()).map(Bind::Int)
            } else {
                Some(Bind::Text(key.clone()))
            };
            let value =
                value.ok_or_else(|| AppError::invalid_field("validation_failed", "key", "a month is YYYY-MM"))?;
            if !cond.sql.is_empty() {
                cond.sql.push_str(" AND ");
            }
            cond.sql.push_str(&format!("{column} = ?"));
            cond.binds.push(value);
        }
    }
    let mut sql = String::from(
        "SELECT * FROM ledger_entries WHERE year = ? AND id IN (SELECT entry_id FROM ledger_lines WHERE year = ?",
    );
    let mut binds = vec![Bind::Int(year), Bind::Int(year)];
    if !span.is_whole_year() {
        sql.push_str(" AND month BETWEEN ? AND ?");
        binds.extend([Bind::Int(span.first_month as i32), Bind::Int(span.last_month as i32)]);
    }
    if !cond.sql.is_empty() {
        sql.push_str(" AND ");
        sql.push_str(&cond.sql);
        binds.extend(cond.binds);
    }
    sql.push(')');
    if let Some(t) = cutoff.map(|c| c.at) {
        sql.push_str(" AND recorded_at <= ?");
        binds.push(Bind::Time(t));
    }
    if let Some(order) = &q.order_id {
        sql.push_str(" AND order_id = ?");
        binds.push(Bind::Text(order.clone()));
    }
    Ok((sql, binds))
}

/// Ledger entries of a scope and year, in the order they were written.
pub fn ledger(
    conn: &mut DbConn,
    actor: &Actor,
    q: &LedgerQuery,
    page: &PageRequest,
    ctx: &Ctx,
) -> AppResult<Page<EntryView>> {
    let (mut sql, mut binds) = ledger_selection(conn, actor, q, ctx)?;
    if let Some(after) = &page.after {
        sql.push_str(" AND id > ?");
        binds.push(Bind::Text(after.clone()));
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {}", page.limit + 1));
    let rows: Vec<EntryRow> = facts::query(conn, &sql, &binds)?;
    let page = Page::from_rows(rows, page, |e| e.id.clone(), |e| e);
    Ok(Page { items: with_lines(conn, page.items)?, next_cursor: page.next_cursor })
}

/// The `n` entries of a ledger query written last, newest first.
pub fn latest_entries(
    conn: &mut DbConn,
    actor: &Actor,
    q: &LedgerQuery,
    n: usize,
    ctx: &Ctx,
) -> AppResult<Vec<EntryView>> {
    let (mut sql, binds) = ledger_selection(conn, actor, q, ctx)?;
    sql.push_str(&format!(" ORDER BY recorded_at DESC, id DESC LIMIT {n}"));
    let rows: Vec<EntryRow> = facts::query(conn, &sql, &binds)?;
    with_lines(conn, rows)
}

fn with_lines(conn: &mut DbConn, entries: Vec<EntryRow>) -> AppResult<Vec<EntryView>> {
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    let lines: Vec<LedgerLine> = ledger_lines::table
        .filter(ledger_lines::entry_id.eq_any(&ids))
        .order((ledger_lines::entry_id.asc(), ledger_lines::position.asc()))
        .select(LedgerLine::as_select())
        .load(conn)?;
    Ok(entries.into_iter().map(|e| entry_view(e, &lines)).collect())
}

fn entry_view(e: EntryRow, lines: &[LedgerLine]) -> EntryView {
    let mine: Vec<&LedgerLine> = lines.iter().filter(|l| l.entry_id == e.id).collect();
    let mut categories: Vec<CategoryShare> = Vec::new();
    for l in &mine {
        match categories.iter_mut().find(|c| c.category == l.category) {
            Some(c) => c.amount_fen += l.amount_fen,
            None => categories.push(CategoryShare { category: l.category.clone(), amount_fen: l.amount_fen }),
        }
    }
    EntryView {
        lines: mine
            .iter()
            .map(|l| EntryLineView {
                product_id: l.product_id.clone(),
                category: l.category.clone(),
                origin_region_code: l.origin_code.clone(),
                certificate_no: l.certificate_no.clone(),
                amount_fen: l.amount_fen,
            })
            .collect(),
        categories,
        id: e.id,
        order_id: e.order_id,
        sub_order_id: e.sub_order_id,
        kind: e.kind,
        amount_fen: e.amount_fen,
        counted_at: utc(e.counted_at),
        recorded_at: utc(e.recorded_at),
        year: e.year,
        month: e.month,
        adjusts_year: e.adjusts_year,
        buyer_org_id: e.buyer_org_id,
        buyer_region_code: e.buyer_region_code,
        producer_id: e.producer_id,
        origin_region_code: e.origin_region_code,
        pairing_id: e.pairing_id,
        certificate_no: e.certificate_no,
        refund_id: e.refund_id,
        reverses_id: e.reverses_id,
    }
}
