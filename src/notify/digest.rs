//! The timetable of mail: the weekly progress digest (Monday 08:00 in the deployment's zone), the
//! half-yearly bulletin (1 July and 1 January, see `bulletin_mail`) and the daily certificate check (expiring in 30 days, expired). Each runs once per period however
//! many workers there are: the period is claimed in `scheduled_runs` first.

use crate::accounting::laggards;
use crate::accounting::progress;
use crate::accounting::span::Span;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone};
use diesel::prelude::*;
use serde_json::{Value, json};

use super::recipients::{Recipient, admins_of};
use super::{Mail, local_time, percent, yuan};
use crate::accounting::progress::ProgressView;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{organizations, products, targets};
use crate::error::AppResult;
use crate::identity::Actor;
use crate::identity::actor::actor_for_user;
use crate::identity::types::OrgKind;
use crate::state::AppState;
use crate::worker::job::enqueue;
use crate::worker::payloads::Notice;

/// When the digest goes out: Monday at this hour, local time.
pub const DIGEST_HOUR: u32 = 8;
/// How many days ahead producers hear that a certificate runs out.
pub const EXPIRY_NOTICE_DAYS: i64 = 30;
/// How many of the worst organisations a digest names per scope.
const LAGGARDS_SHOWN: usize = 5;

/// The digest week that is due at `now` (its Monday 08:00 local has come), e.g. `2026-W49`.
pub fn due_week(now: NaiveDateTime, zone: chrono_tz::Tz) -> Option<String> {
    let local = now.and_utc().with_timezone(&zone);
    let monday = local.date_naive() - Duration::days(i64::from(local.weekday().num_days_from_monday()));
    let start = zone.from_local_datetime(&monday.and_hms_opt(DIGEST_HOUR, 0, 0)?).earliest()?;
    let week = monday.iso_week();
    (local >= start).then(|| format!("{}-W{:02}", week.year(), week.week()))
}

/// What the timetable queued in one pass.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Queued {
    pub digests: usize,
    pub bulletins: usize,
    pub certificate_notices: usize,
}

/// Queues what is due: this week's digest, and the certificate notices of the last three days
/// (so a worker that was down a day or two catches up).
pub async fn run_due(state: &AppState) -> AppResult<Queued> {
    let ctx = state.ctx();
    state
        .db
        .write(move |c| {
            let mut queued = Queued::default();
            if let Some(week) = due_week(ctx.now, ctx.zone)
                && crate::db::claim_period(c, "weekly_digest", &week, ctx.now)?
            {
                enqueue(c, &Notice::Digest { week }, ctx.now)?;
                queued.digests += 1;
            }
            if let Some((year, half)) = super::bulletin_mail::due_half(ctx.now, ctx.zone)
                && crate::db::claim_period(c, "half_year_bulletin", &format!("{year}-{half}"), ctx.now)?
            {
                enqueue(c, &Notice::Bulletin { year, period: half.to_owned() }, ctx.now)?;
                queued.bulletins += 1;
            }
            for back in (0..3).rev() {
                let day = ctx.today - Duration::days(back);
                if crate::db::claim_period(c, "certificate_check", &day.to_string(), ctx.now)? {
                    queued.certificate_notices += certificate_notices(c, day, ctx.now)?;
                }
            }
            Ok(queued)
        })
        .await
}

/// On `day`: certificates that run out in 30 days, and those that ran out the day before.
fn certificate_notices(conn: &mut DbConn, day: NaiveDate, now: NaiveDateTime) -> AppResult<usize> {
    let mut n = 0;
    for (until, expiring) in [(day + Duration::days(EXPIRY_NOTICE_DAYS), true), (day - Duration::days(1), false)] {
        let ids: Vec<String> = products::table
            .filter(products::cert_status.eq("certified"))
            .filter(products::cert_valid_until.eq(until))
            .select(products::id)
            .load(conn)?;
        for id in ids {
            let notice = if expiring {
                Notice::CertificateExpiring { product_id: id }
            } else {
                Notice::CertificateExpired { product_id: id }
            };
            enqueue(conn, &notice, now)?;
            n += 1;
        }
    }
    Ok(n)
}

fn section(p: &ProgressView, laggards: Vec<laggards::LaggardRow>) -> Value {
    json!({
        "scope_name": p.scope_name,
        "scope_label": p.scope_kind.label(),
        "target": p.target_fen.map(yuan).unwrap_or_else(|| "未设".into()),
        "counted": yuan(p.counted_fen),
        "percent": percent(p.ratio),
        "expected": p.expected_to_date_fen.map(yuan).unwrap_or_else(|| "—".into()),
        "projected": yuan(p.projected_year_end_fen),
        "status": p.status.label(),
        "laggards": laggards.into_iter().take(LAGGARDS_SHOWN).map(|l| json!({
            "name": l.name, "target": yuan(l.target_fen), "counted": yuan(l.counted_fen), "percent": percent(Some(l.ratio)),
        })).collect::<Vec<_>>(),
    })
}

/// A recipient's scopes, through the same report functions as `GET /reports/progress` and
/// `/reports/laggards`: a coordinator's region as recipient and as donor (where there is a
/// target or anything counted), an agency's own organisation.
fn sections(conn: &mut DbConn, actor: &Actor, year: i32, ctx: &Ctx) -> AppResult<Vec<(ProgressView, Value)>> {
    let scopes: Vec<(&str, String)> = match actor.org_kind {
        OrgKind::Coordinator => {
            vec![("recipient", actor.org.region_code.clone()), ("donor", actor.org.region_code.clone())]
        }
        OrgKind::Agency => vec![("org", actor.org.id.clone())],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for (kind, id) in scopes {
        // A scope this recipient cannot be shown (a refusal, not a failure) is left out of their digest.
        let scope = match progress::visible_scope(conn, actor, kind, &id) {
            Ok(scope) => scope,
            Err(crate::error::AppError::Problem(p)) => {
                tracing::debug!(user = %actor.user_id, kind, id, code = %p.code, "scope left out of the digest");
                continue;
            }
            Err(e) => return Err(e),
        };
        let progress = progress::progress(conn, &scope, &Span::year(year), None, ctx)?;
        if progress.target_fen.is_none() && progress.counted_fen == 0 {
            continue;
        }
        let laggards: Vec<laggards::LaggardRow> = laggards::laggards(conn, &scope, &Span::year(year), None, ctx)?
            .rows
            .into_iter()
            .filter(|l| l.org_id != actor.org.id)
            .collect();
        let value = section(&progress, laggards);
        out.push((progress, value));
    }
    Ok(out)
}

/// The digest of `week`: every coordinator's administrators, and the administrators of every
/// agency with a target this year, each told their own figures.
pub fn mails(conn: &mut DbConn, week: &str, base_url: &str, ctx: &Ctx) -> AppResult<Vec<Mail>> {
    let year = ctx.today.year();
    let coordinators: Vec<String> =
        organizations::table.filter(organizations::kind.eq("coordinator")).select(organizations::id).load(conn)?;
    let agencies: Vec<String> = targets::table
        .filter(targets::year.eq(year))
        .filter(targets::scope_kind.eq("org"))
        .select(targets::scope_id)
        .load(conn)?;
    let mut recipients: Vec<Recipient> = admins_of(conn, &coordinators)?;
    recipients.extend(admins_of(conn, &agencies)?);
    let label = match week.split_once("-W") {
        Some((y, w)) => format!("{y}年第{}周", w.trim_start_matches('0')),
        None => week.to_owned(),
    };
    let mut out = Vec::new();
    for r in recipients {
        let Some(actor) = actor_for_user(conn, &r.user_id)? else { continue };
        let found = sections(conn, &actor, year, ctx)?;
        let Some((first, _)) = found.first() else { continue };
        let context = json!({
            "week": label, "headline": format!("{} {}", first.scope_name, first.status.label()),
            "as_of": local_time(ctx.now, ctx.zone), "year": year,
            "sections": found.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        });
        out.extend(super::recipients::mails(conn, vec![r], "digest", "digest", &context, Some(base_url))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::due_week;

    fn at(d: (i32, u32, u32), h: u32, m: u32) -> chrono::NaiveDateTime {
        NaiveDate::from_ymd_opt(d.0, d.1, d.2).unwrap().and_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn the_digest_is_due_from_monday_eight_in_beijing() {
        let zone = chrono_tz::Asia::Shanghai;
        // Monday 2026-11-30 08:00 in Beijing is 00:00 UTC.
        assert_eq!(due_week(at((2026, 11, 29), 23, 59), zone), None, "Monday 07:59 local: not yet");
        assert_eq!(due_week(at((2026, 11, 30), 0, 0), zone), Some("2026-W49".into()));
        assert_eq!(due_week(at((2026, 12, 2), 12, 0), zone), Some("2026-W49".into()), "later in the week, the same");
        assert_eq!(due_week(at((2026, 12, 6), 15, 59), zone), Some("2026-W49".into()), "Sunday 23:59 local");
        assert_eq!(
            due_week(at((2026, 11, 29), 15, 0), zone),
            Some("2026-W48".into()),
            "Sunday 23:00 local: last week's"
        );
    }
}
