//! The half-yearly bulletin mail (半年通报): on the first day after each half-year (1 July and
//! 1 January, from 08:00 in the deployment's zone, for the month after), every coordinator's
//! administrators hear how each supervising organisation in their region stands — its units
//! against their reserved shares for the half, read by the same function as
//! `/api/v1/reports/bulletin` — with a link to the printable bulletin.

use chrono::{Datelike, NaiveDateTime, TimeZone};
use diesel::prelude::*;
use serde_json::json;

use super::recipients::admins_of;
use super::{Mail, local_time, percent, yuan};
use crate::accounting::bulletin::{self, BulletinView};
use crate::accounting::progress;
use crate::accounting::span::Span;
use crate::ctx::Ctx;
use crate::db::schema::{organizations, regions};
use crate::db::{DbConn, prefix_pattern};
use crate::error::AppResult;
use crate::identity::actor::actor_for_user;

/// When the bulletin goes out on the first day after a half, local time (as the weekly digest).
pub const BULLETIN_HOUR: u32 = 8;
/// How many of the units furthest behind a mail names per organisation.
const BEHIND_SHOWN: usize = 5;

/// The half-year whose bulletin is due at `now`: from 08:00 on the first day after it, for a month.
pub fn due_half(now: NaiveDateTime, zone: chrono_tz::Tz) -> Option<(i32, &'static str)> {
    let local = now.and_utc().with_timezone(&zone);
    let (year, half, month) = if local.month() >= 7 { (local.year(), "H1", 7) } else { (local.year() - 1, "H2", 1) };
    let first = chrono::NaiveDate::from_ymd_opt(local.year(), month, 1)?;
    let from = zone.from_local_datetime(&first.and_hms_opt(BULLETIN_HOUR, 0, 0)?).earliest()?;
    let within = local >= from && local.month() == month;
    within.then_some((year, half))
}

/// Supervising organisations (agencies with units under them) located in a region.
fn supervising_in(conn: &mut DbConn, region_code: &str) -> AppResult<Vec<String>> {
    let Some(path) = crate::regions::service::path_of(conn, region_code)? else { return Ok(Vec::new()) };
    let parents: Vec<String> = organizations::table
        .filter(organizations::parent_id.is_not_null())
        .select(organizations::parent_id.assume_not_null())
        .distinct()
        .load(conn)?;
    Ok(organizations::table
        .inner_join(regions::table)
        .filter(organizations::id.eq_any(&parents))
        .filter(organizations::kind.eq("agency"))
        .filter(regions::path.like(prefix_pattern(&path)).escape('\\'))
        .order(organizations::name.asc())
        .select(organizations::id)
        .load(conn)?)
}

fn section(b: &BulletinView, link: String) -> serde_json::Value {
    let mut behind: Vec<_> = b.rows.iter().filter(|r| r.ratio.is_some()).collect();
    behind.sort_by(|x, y| x.ratio.unwrap_or(0.0).total_cmp(&y.ratio.unwrap_or(0.0)));
    json!({
        "org_name": b.org_name, "units": b.units, "achieved": b.achieved, "on_track": b.on_track,
        "behind": b.behind, "no_target": b.no_target, "target": yuan(b.target_fen), "counted": yuan(b.counted_fen),
        "percent": percent(b.ratio), "link": link,
        "furthest_behind": behind.into_iter().filter(|r| r.status == progress::Status::Behind).take(BEHIND_SHOWN)
            .map(|r| json!({"name": r.name, "percent": percent(r.ratio), "counted": yuan(r.counted_fen)}))
            .collect::<Vec<_>>(),
    })
}

/// The bulletin mails of a half-year: one per coordinator administrator whose region holds a
/// supervising organisation with anything to report.
pub fn mails(conn: &mut DbConn, year: i32, period: &str, base_url: &str, ctx: &Ctx) -> AppResult<Vec<Mail>> {
    let span = Span::parse(year, Some(period))?;
    let coordinators: Vec<String> =
        organizations::table.filter(organizations::kind.eq("coordinator")).select(organizations::id).load(conn)?;
    let mut out = Vec::new();
    for r in admins_of(conn, &coordinators)? {
        let Some(actor) = actor_for_user(conn, &r.user_id)? else { continue };
        let mut sections = Vec::new();
        for org_id in supervising_in(conn, &actor.org.region_code)? {
            // An organisation this coordinator may not be shown (a refusal, not a failure) is left out.
            let scope = match progress::visible_scope(conn, &actor, "org", &org_id) {
                Ok(scope) => scope,
                Err(crate::error::AppError::Problem(_)) => continue,
                Err(e) => return Err(e),
            };
            let b = bulletin::bulletin(conn, &scope, &span, None, ctx)?;
            if b.units == b.no_target && b.counted_fen == 0 {
                continue;
            }
            let query = serde_urlencoded::to_string([
                ("year", year.to_string()),
                ("period", period.to_owned()),
                ("scope", format!("org:{org_id}")),
            ])
            .unwrap_or_default();
            sections.push(section(&b, format!("{}/dashboard/bulletin?{query}", base_url.trim_end_matches('/'))));
        }
        if sections.is_empty() {
            continue;
        }
        let context = json!({
            "title": span.label(), "starts_on": span.starts_on().to_string(), "ends_on": span.ends_on().to_string(),
            "as_of": local_time(ctx.now, ctx.zone), "region": actor.org.name, "sections": sections,
        });
        out.extend(super::recipients::mails(conn, vec![r], "bulletin", "bulletin", &context, Some(base_url))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::due_half;

    fn at(d: (i32, u32, u32), h: u32) -> chrono::NaiveDateTime {
        NaiveDate::from_ymd_opt(d.0, d.1, d.2).unwrap().and_hms_opt(h, 0, 0).unwrap()
    }

    #[test]
    fn the_bulletin_is_due_in_the_month_after_each_half() {
        let zone = chrono_tz::Asia::Shanghai;
        // 1 July 2021 08:00 in Beijing is 00:00 UTC.
        assert_eq!(due_half(at((2021, 6, 30), 23), zone), None, "07:00 local on 1 July: not yet");
        assert_eq!(due_half(at((2021, 7, 1), 0), zone), Some((2021, "H1")));
        assert_eq!(due_half(at((2021, 7, 31), 15), zone), Some((2021, "H1")), "23:00 on 31 July");
        assert_eq!(due_half(at((2021, 7, 31), 16), zone), None, "August: missed, not sent late");
        assert_eq!(due_half(at((2022, 1, 1), 0), zone), Some((2021, "H2")));
        assert_eq!(due_half(at((2021, 12, 31), 23), zone), None, "07:00 on 1 January");
        assert_eq!(due_half(at((2021, 11, 1), 0), zone), None);
    }
}
