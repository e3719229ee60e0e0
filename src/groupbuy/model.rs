//! Campaign and pledge rows, and the queries on them. Totals move only through the conditional
//! updates here, each taken under the campaign's row lock ([`lock`]).

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::types::CampaignTier;
use crate::db::schema::{group_buy_pledges as p, group_buys as g};
use crate::db::sql::{self, Statement};
use crate::db::{DbConn, prefix_pattern};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = g)]
pub struct CampaignRow {
    pub id: String,
    pub title: String,
    pub description: String,
    pub organizer_org_id: String,
    pub organizer_user_id: String,
    pub product_id: String,
    pub producer_id: String,
    pub tiers: String,
    pub min_total_qty: i64,
    pub max_total_qty: i64,
    pub min_pledge_qty: i64,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub eligible_region_code: String,
    pub eligible_region_path: String,
    pub status: String,
    pub total_qty: i64,
    pub pledge_count: i32,
    pub final_unit_price_fen: Option<i64>,
    pub outcome_reason: Option<String>,
    pub closed_at: Option<NaiveDateTime>,
    pub closed_by_user_id: Option<String>,
    pub reminded_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When the last pledge of a closed round became its order (or was released).
    pub pledges_settled_at: Option<NaiveDateTime>,
}

impl CampaignRow {
    pub fn tiers(&self) -> AppResult<Vec<CampaignTier>> {
        serde_json::from_str(&self.tiers).map_err(|e| anyhow::anyhow!("stored campaign tiers unreadable: {e}").into())
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = p)]
pub struct PledgeRow {
    pub id: String,
    pub group_buy_id: String,
    pub org_id: String,
    pub org_path: String,
    pub user_id: String,
    pub quantity: i64,
    pub status: String,
    pub delivery_address: String,
    pub delivery_contact: String,
    pub delivery_phone: String,
    pub note: Option<String>,
    pub replaces_id: Option<String>,
    pub order_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
}

/// Stored statuses that may still take pledges (once `opens_at` has come).
pub const LIVE: [&str; 2] = ["scheduled", "open"];

pub fn find(conn: &mut DbConn, id: &str) -> AppResult<Option<CampaignRow>> {
    Ok(g::table.find(id).select(CampaignRow::as_select()).first(conn).optional()?)
}

/// Takes the campaign's row lock for the rest of the transaction (every change to a campaign or
/// its pledges takes it first, so they happen one at a time); false if there is no such campaign.
pub fn lock(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> AppResult<bool> {
    Ok(diesel::update(g::table.find(id)).set(g::updated_at.eq(now)).execute(conn)? == 1)
}

/// Takes the campaign's row for the rest of the transaction, and reads it as it is then: on
/// PostgreSQL `FOR UPDATE`; SQLite's writer already holds the database.
pub fn lock_and_read(conn: &mut DbConn, id: &str) -> AppResult<Option<CampaignRow>> {
    Ok(match conn {
        DbConn::Postgres(c) => g::table.find(id).for_update().select(CampaignRow::as_select()).first(c).optional()?,
        DbConn::Sqlite(c) => g::table.find(id).select(CampaignRow::as_select()).first(c).optional()?,
    })
}

pub fn insert(conn: &mut DbConn, row: &CampaignRow) -> AppResult<()> {
    diesel::insert_into(g::table).values(row).execute(conn)?;
    Ok(())
}

/// Moves the total by `delta` (and the pledge count by `count_delta`) while the campaign takes
/// pledges (open, inside its window) and the total stays within `[0, max_total_qty]`: the
/// total and count after it, or `None` when it would not. One statement, so it holds whatever it
/// checked at the moment it takes the row.
pub fn add_to_total(
    conn: &mut DbConn,
    id: &str,
    delta: i64,
    count_delta: i32,
    now: NaiveDateTime,
) -> AppResult<Option<(i64, i32)>> {
    #[derive(QueryableByName)]
    struct After {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total_qty: i64,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pledge_count: i32,
    }
    let s = add_to_total_statement(id, delta, count_delta, now);
    let after = sql::query::<After>(conn, &format!("{} RETURNING total_qty, pledge_count", s.sql), &s.binds)?;
    Ok(after.first().map(|a| (a.total_qty, a.pledge_count)))
}

/// [`add_to_total`] as a statement, for a batch that sends it with others.
pub fn add_to_total_statement(id: &str, delta: i64, count_delta: i32, now: NaiveDateTime) -> Statement {
    let [scheduled, open] = LIVE.map(String::from);
    Statement {
        sql: "UPDATE group_buys SET total_qty = total_qty + ?, pledge_count = pledge_count + ?, updated_at = ? \
              WHERE id = ? AND status IN (?, ?) AND opens_at <= ? AND closes_at > ? \
              AND total_qty + ? <= max_total_qty AND total_qty + ? >= 0"
            .into(),
        binds: vec![
            delta.into(),
            count_delta.into(),
            now.into(),
            id.to_owned().into(),
            scheduled.into(),
            open.into(),
            now.into(),
            now.into(),
            delta.into(),
            delta.into(),
        ],
    }
}

/// The campaign's outcome, written once: only a live campaign moves, so a second close (another
/// worker, another server) changes nothing and learns so from the `false`.
pub fn finish(
    conn: &mut DbConn,
    id: &str,
    status: &str,
    final_unit_price_fen: Option<i64>,
    reason: Option<&str>,
    by: Option<&str>,
    now: NaiveDateTime,
) -> AppResult<bool> {
    let changed = diesel::update(g::table.find(id).filter(g::status.eq_any(LIVE)))
        .set((
            g::status.eq(status),
            g::final_unit_price_fen.eq(final_unit_price_fen),
            g::outcome_reason.eq(reason),
            g::closed_at.eq(now),
            g::closed_by_user_id.eq(by),
            g::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// `scheduled` → `open` once `opens_at` has come; true for the one caller that moved it.
pub fn mark_open(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> AppResult<bool> {
    let changed = diesel::update(g::table.find(id).filter(g::status.eq("scheduled")).filter(g::opens_at.le(now)))
        .set((g::status.eq("open"), g::updated_at.eq(now)))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Records that the "closing soon" notice was queued; true for the one caller that did.
pub fn mark_reminded(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> AppResult<bool> {
    let changed = diesel::update(g::table.find(id).filter(g::status.eq_any(LIVE)).filter(g::reminded_at.is_null()))
        .set(g::reminded_at.eq(now))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Live campaigns whose closing time has come, soonest first.
pub fn due_to_close(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> AppResult<Vec<String>> {
    Ok(g::table
        .filter(g::status.eq_any(LIVE))
        .filter(g::closes_at.le(now))
        .order(g::closes_at.asc())
        .limit(limit)
        .select(g::id)
        .load(conn)?)
}

pub fn due_to_open(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> AppResult<Vec<String>> {
    Ok(g::table
        .filter(g::status.eq("scheduled"))
        .filter(g::opens_at.le(now))
        .order(g::opens_at.asc())
        .limit(limit)
        .select(g::id)
        .load(conn)?)
}

/// Open campaigns closing before `before` whose reminder has not gone out.
pub fn due_to_remind(
    conn: &mut DbConn,
    now: NaiveDateTime,
    before: NaiveDateTime,
    limit: i64,
) -> AppResult<Vec<String>> {
    Ok(g::table
        .filter(g::status.eq_any(LIVE))
        .filter(g::opens_at.le(now))
        .filter(g::closes_at.gt(now))
        .filter(g::closes_at.le(before))
        .filter(g::reminded_at.is_null())
        .order(g::closes_at.asc())
        .limit(limit)
        .select(g::id)
        .load(conn)?)
}

/// The soonest moment something is due (an opening or a closing), for the worker's sleep.
pub fn next_due(conn: &mut DbConn) -> AppResult<Option<NaiveDateTime>> {
    let closing: Option<NaiveDateTime> =
        g::table.filter(g::status.eq_any(LIVE)).select(diesel::dsl::min(g::closes_at)).first(conn)?;
    let opening: Option<NaiveDateTime> =
        g::table.filter(g::status.eq("scheduled")).select(diesel::dsl::min(g::opens_at)).first(conn)?;
    Ok(match (closing, opening) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

#[derive(Debug, Default)]
pub struct CampaignFilter {
    /// The status as read at `now` (`scheduled` and `open` depend on the time).
    pub status: Option<String>,
    pub product_id: Option<String>,
    pub organizer_org_id: Option<String>,
    pub before_id: Option<String>,
}

/// Campaigns, newest first. Every signed-in user sees every campaign.
pub fn list(conn: &mut DbConn, filter: CampaignFilter, now: NaiveDateTime, limit: i64) -> AppResult<Vec<CampaignRow>> {
    let mut query = g::table.select(CampaignRow::as_select()).order(g::id.desc()).limit(limit).into_boxed();
    match filter.status.as_deref() {
        Some("scheduled") => query = query.filter(g::status.eq_any(LIVE)).filter(g::opens_at.gt(now)),
        Some("open") => query = query.filter(g::status.eq_any(LIVE)).filter(g::opens_at.le(now)),
        Some(other) => query = query.filter(g::status.eq(other.to_owned())),
        None => {}
    }
    if let Some(v) = filter.product_id {
        query = query.filter(g::product_id.eq(v));
    }
    if let Some(v) = filter.organizer_org_id {
        query = query.filter(g::organizer_org_id.eq(v));
    }
    if let Some(v) = filter.before_id {
        query = query.filter(g::id.lt(v));
    }
    Ok(query.load(conn)?)
}

pub fn find_pledge(conn: &mut DbConn, id: &str) -> AppResult<Option<PledgeRow>> {
    Ok(p::table.find(id).select(PledgeRow::as_select()).first(conn).optional()?)
}

pub fn active_pledge_of(conn: &mut DbConn, campaign_id: &str, org_id: &str) -> AppResult<Option<PledgeRow>> {
    // `status = 'active'` as a literal: with a bound status, PostgreSQL's generic plan for this
    // prepared statement cannot use the partial index `group_buy_pledges_one_active` and walks
    // every active pledge of the round instead (0.22 ms each at 10,000 pledgers, and growing).
    Ok(p::table
        .filter(p::group_buy_id.eq(campaign_id))
        .filter(p::org_id.eq(org_id))
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("group_buy_pledges.status = 'active'"))
        .select(PledgeRow::as_select())
        .first(conn)
        .optional()?)
}

/// Which of these organisations have an active pledge in the campaign (`status` a literal, for
/// the partial index, as in [`active_pledge_of`]).
pub fn with_active_pledge(conn: &mut DbConn, campaign_id: &str, org_ids: &[&str]) -> AppResult<Vec<String>> {
    Ok(p::table
        .filter(p::group_buy_id.eq(campaign_id))
        .filter(p::org_id.eq_any(org_ids))
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("group_buy_pledges.status = 'active'"))
        .select(p::org_id)
        .load(conn)?)
}

/// Active pledges of organisations inside `org_path` (their own, for a buyer), for many campaigns.
pub fn active_pledges_within(conn: &mut DbConn, campaign_ids: &[String], org_path: &str) -> AppResult<Vec<PledgeRow>> {
    Ok(p::table
        .filter(p::group_buy_id.eq_any(campaign_ids))
        .filter(p::status.eq("active").or(p::status.eq("ordered")))
        .filter(p::org_path.like(prefix_pattern(org_path)).escape('\\'))
        .order(p::id.asc())
        .select(PledgeRow::as_select())
        .load(conn)?)
}

/// Up to `limit` active pledges of a campaign, in the order they were made.
pub fn active_pledges_first(conn: &mut DbConn, campaign_id: &str, limit: i64) -> AppResult<Vec<PledgeRow>> {
    Ok(p::table
        .filter(p::group_buy_id.eq(campaign_id))
        .filter(p::status.eq("active"))
        .order(p::id.asc())
        .limit(limit)
        .select(PledgeRow::as_select())
        .load(conn)?)
}

/// Closed rounds whose pledges are not all settled yet, oldest first.
pub fn unsettled(conn: &mut DbConn, limit: i64) -> AppResult<Vec<String>> {
    Ok(g::table
        .filter(g::closed_at.is_not_null())
        .filter(g::pledges_settled_at.is_null())
        .order(g::closed_at.asc())
        .limit(limit)
        .select(g::id)
        .load(conn)?)
}

/// Every pledge of a closed round is settled; true for the one caller that marked it.
pub fn mark_settled(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> AppResult<bool> {
    let changed = diesel::update(g::table.find(id).filter(g::pledges_settled_at.is_null()))
        .set(g::pledges_settled_at.eq(now))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Every active pledge of a campaign, in the order they were made.
pub fn active_pledges(conn: &mut DbConn, campaign_id: &str) -> AppResult<Vec<PledgeRow>> {
    Ok(p::table
        .filter(p::group_buy_id.eq(campaign_id))
        .filter(p::status.eq("active"))
        .order(p::id.asc())
        .select(PledgeRow::as_select())
        .load(conn)?)
}

/// A campaign's pledges (of organisations inside `org_path`, when given), newest first.
pub fn pledges(
    conn: &mut DbConn,
    campaign_id: &str,
    org_path: Option<&str>,
    status: Option<&str>,
    before_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<PledgeRow>> {
    let mut query = p::table
        .filter(p::group_buy_id.eq(campaign_id.to_owned()))
        .select(PledgeRow::as_select())
        .order(p::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(path) = org_path {
        query = query.filter(p::org_path.like(prefix_pattern(path)).escape('\\'));
    }
    if let Some(s) = status {
        query = query.filter(p::status.eq(s.to_owned()));
    }
    if let Some(b) = before_id {
        query = query.filter(p::id.lt(b.to_owned()));
    }
    Ok(query.load(conn)?)
}

pub fn insert_pledge(conn: &mut DbConn, row: &PledgeRow) -> AppResult<()> {
    diesel::insert_into(p::table).values(row).execute(conn)?;
    Ok(())
}

/// Inserts pledges as first pledges of their organisations: one whose organisation has an
/// active pledge in the round already is skipped (the partial unique index, without an error,
/// so the rest of the transaction stands). Returns the ids inserted.
pub fn insert_first_pledges(conn: &mut DbConn, rows: &[PledgeRow]) -> AppResult<HashSet<String>> {
    let mut inserted = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(100) {
        let ids: Vec<String> = match &mut *conn {
            DbConn::Sqlite(c) => {
                diesel::insert_into(p::table).values(chunk).on_conflict_do_nothing().returning(p::id).get_results(c)?
            }
            DbConn::Postgres(c) => {
                diesel::insert_into(p::table).values(chunk).on_conflict_do_nothing().returning(p::id).get_results(c)?
            }
        };
        inserted.extend(ids);
    }
    Ok(inserted)
}

/// Ends an active pledge (`replaced`, `withdrawn`, `released`); false if it was not active.
pub fn end_pledge(conn: &mut DbConn, id: &str, status: &str, now: NaiveDateTime) -> AppResult<bool> {
    let changed = diesel::update(p::table.find(id).filter(p::status.eq("active")))
        .set((p::status.eq(status), p::updated_at.eq(now), p::ended_at.eq(now)))
        .execute(conn)?;
    Ok(changed == 1)
}

/// An active pledge became its order; false if it was not active.
pub fn mark_ordered(conn: &mut DbConn, id: &str, order_id: &str, now: NaiveDateTime) -> AppResult<bool> {
    let changed = diesel::update(p::table.find(id).filter(p::status.eq("active")))
        .set((p::status.eq("ordered"), p::order_id.eq(order_id), p::updated_at.eq(now), p::ended_at.eq(now)))
        .execute(conn)?;
    Ok(changed == 1)
}
