//! Closed years. Once a year is closed no entry is written into it: a correction of it (a late
//! payment, a refund of one of its orders) posts into the earliest open year after it, with
//! `adjusts_year` naming the year it corrects. So a closed year's figures never change.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::audit;
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::schema::periods;
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::identity::Actor;
use crate::identity::Who;
use crate::identity::policy;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodView {
    pub year: i32,
    pub closed_at: DateTime<Utc>,
    pub closed_by: Option<String>,
}

fn lock_name(year: i32) -> String {
    format!("period:{year}")
}

pub fn is_closed(conn: &mut DbConn, year: i32) -> AppResult<bool> {
    Ok(periods::table.find(year).select(periods::year).first::<i32>(conn).optional()?.is_some())
}

pub fn require_open(conn: &mut DbConn, year: i32) -> AppResult<()> {
    if is_closed(conn, year)? {
        return Err(AppError::conflict("period_closed", format!("{year} is closed; its figures no longer change"))
            .with("year", year));
    }
    Ok(())
}

/// A year can be closed only once it has ended; an entry for the current year written more than
/// this long before its end cannot meet a close, even from a process whose clock runs ahead.
const CLOCK_MARGIN_MINUTES: i64 = 60;

/// Where an entry for `year` goes: that year while it is open, else the earliest open year after
/// it (and the year it adjusts). Holds the chosen year open until the transaction ends.
pub fn posting_year(conn: &mut DbConn, year: i32, ctx: &Ctx) -> AppResult<(i32, Option<i32>)> {
    let soon = (ctx.now + chrono::Duration::minutes(CLOCK_MARGIN_MINUTES)).and_utc().with_timezone(&ctx.zone);
    if soon.year() == year {
        return Ok((year, None));
    }
    let mut candidate = year;
    loop {
        db::xact_lock(conn, &lock_name(candidate), true)?;
        if !is_closed(conn, candidate)? {
            return Ok((candidate, (candidate != year).then_some(year)));
        }
        candidate += 1;
        if candidate > year + 200 {
            return Err(anyhow::anyhow!("no open year after {year}").into());
        }
    }
}

/// Closes a year that has ended (in the deployment's zone): the platform admin.
pub fn close(conn: &mut DbConn, actor: &Actor, year: i32, ctx: &Ctx) -> AppResult<PeriodView> {
    policy::require_platform_admin(actor)?;
    super::scope::check_year(year, "year")?;
    if year >= ctx.today.year() {
        return Err(AppError::invalid_field(
            "validation_failed",
            "year",
            format!("{year} has not ended yet (today is {} in {})", ctx.today, ctx.zone),
        ));
    }
    // Waits for entries being written into this year to commit; later ones see it closed.
    db::xact_lock(conn, &lock_name(year), false)?;
    require_open(conn, year)?;
    diesel::insert_into(periods::table)
        .values((periods::year.eq(year), periods::closed_at.eq(ctx.now), periods::closed_by.eq(&actor.user_id)))
        .execute(conn)?;
    audit::record(conn, "period", &year.to_string(), "closed", &Who::of(actor), json!({}), ctx.now)?;
    Ok(PeriodView { year, closed_at: utc(ctx.now), closed_by: Some(actor.user_id.clone()) })
}

pub fn list(conn: &mut DbConn) -> AppResult<Vec<PeriodView>> {
    let rows: Vec<(i32, NaiveDateTime, Option<String>)> = periods::table
        .order(periods::year.asc())
        .select((periods::year, periods::closed_at, periods::closed_by))
        .load(conn)?;
    Ok(rows.into_iter().map(|(year, at, by)| PeriodView { year, closed_at: utc(at), closed_by: by }).collect())
}

/// When each closed year was closed.
pub fn closed_at(conn: &mut DbConn) -> AppResult<Vec<(i32, NaiveDateTime)>> {
    Ok(periods::table.select((periods::year, periods::closed_at)).load(conn)?)
}
