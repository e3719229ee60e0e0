//! Progress against a target: counted so far, the even pace to date, the projection to year end,
//! the status, the twelve months; as of any instant (the entries recorded by then).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::facts::{self, Cutoff, Group};
use super::scope::{self, Scope, ScopeKind};
use super::span::Span;
pub use super::span::expected;
use super::targets;
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::identity::Actor;

/// "Behind" means counted below this share of what an even pace would have reached by now.
pub const BEHIND_BELOW: f64 = 0.8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Achieved,
    OnTrack,
    Behind,
    NoTarget,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Achieved => "已完成",
            Status::OnTrack => "进度正常",
            Status::Behind => "进度滞后",
            Status::NoTarget => "未设目标",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MonthFigure {
    /// `2021-01`.
    pub month: String,
    pub counted_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProgressView {
    pub year: i32,
    /// `year` (the default), `H1`, `H2`, `Q1`..`Q4` or `M01`..`M12`.
    pub period: String,
    /// The period's first day, in the deployment's zone.
    pub starts_on: chrono::NaiveDate,
    /// The period's last day, in the deployment's zone.
    pub ends_on: chrono::NaiveDate,
    pub scope_kind: ScopeKind,
    pub scope_id: String,
    pub scope_name: String,
    /// The target for the period: the year's target, or its even-pace share of a part of the year.
    pub target_fen: Option<i64>,
    /// The year's target, whatever the period.
    pub year_target_fen: Option<i64>,
    /// Counted within the period.
    pub counted_fen: i64,
    /// counted ÷ target, four decimals; null without a target.
    pub ratio: Option<f64>,
    /// The target spread evenly over the period, up to `as_of`; null without a target.
    pub expected_to_date_fen: Option<i64>,
    /// The period's end at the pace so far (the counted figure itself once the period is over).
    pub projected_year_end_fen: i64,
    /// `achieved`, `on_track`, `behind` (below 80% of the even pace) or `no_target`.
    pub status: Status,
    /// The period's months.
    pub by_month: Vec<MonthFigure>,
    /// The instant the figures stand at.
    pub as_of: DateTime<Utc>,
}

/// The moment a report answers for: `as_of` (not in the future) or now.
pub fn instant(as_of: Option<DateTime<Utc>>, ctx: &Ctx) -> AppResult<(Option<Cutoff>, NaiveDateTime)> {
    match as_of {
        Some(t) if t.naive_utc() > ctx.now => {
            Err(AppError::invalid_field("validation_failed", "as_of", "must not be in the future"))
        }
        Some(t) => Ok((Some(Cutoff { at: t.naive_utc(), now: ctx.now }), t.naive_utc())),
        None => Ok((None, ctx.now)),
    }
}

pub fn ratio(counted: i64, target: i64) -> f64 {
    (counted as f64 / target as f64 * 10_000.0).round() / 10_000.0
}

pub fn status(counted: i64, target: Option<i64>, expected_fen: i64) -> Status {
    match target {
        None => Status::NoTarget,
        Some(t) if counted >= t => Status::Achieved,
        Some(_) if (counted as f64) < BEHIND_BELOW * expected_fen as f64 => Status::Behind,
        Some(_) => Status::OnTrack,
    }
}

/// The scope named by a report query, after checking the caller may see it.
pub fn visible_scope(conn: &mut DbConn, actor: &Actor, kind: &str, id: &str) -> AppResult<Scope> {
    let kind = scope::parse_kind(kind, "scope_kind")?;
    let scope = scope::resolve(conn, kind, id)?;
    scope::authorize(conn, actor, &scope)?;
    Ok(scope)
}

/// A readable name for a scope.
pub fn scope_name(conn: &mut DbConn, scope: &Scope) -> AppResult<String> {
    Ok(match scope {
        Scope::Recipient(p) | Scope::Donor(p) => crate::regions::service::get(conn, &p.code)?.full_name,
        Scope::Org { org, .. } | Scope::Producer { org, .. } => org.name.clone(),
        Scope::Pairing { row, .. } => {
            let v = super::pairings::view(conn, row.clone())?;
            format!("{} → {}", v.donor_name, v.recipient_name)
        }
    })
}

pub fn progress(
    conn: &mut DbConn,
    scope: &Scope,
    span: &Span,
    as_of: Option<DateTime<Utc>>,
    ctx: &Ctx,
) -> AppResult<ProgressView> {
    let (cutoff, at) = instant(as_of, ctx)?;
    let year = span.year;
    let cond = facts::scope_cond(scope);
    let months: HashMap<String, i64> = facts::sums(conn, span, &cond, Group::Month, cutoff)?.into_iter().collect();
    let by_month: Vec<MonthFigure> = span
        .months()
        .map(|m| MonthFigure {
            month: format!("{year}-{m:02}"),
            counted_fen: months.get(&m.to_string()).copied().unwrap_or(0),
        })
        .collect();
    let counted: i64 = by_month.iter().map(|m| m.counted_fen).sum();
    let year_target = targets::find(conn, year, scope.kind(), scope.id())?.map(|t| t.amount_fen);
    let target = year_target.map(|t| span.share(t, ctx));
    let expected_fen = year_target.map(|t| span.expected_by(t, at, ctx));
    let (elapsed, length) = span.elapsed(at, ctx);
    let projected = if elapsed >= length || elapsed == 0 {
        counted
    } else {
        (counted as i128 * length as i128 / elapsed as i128) as i64
    };
    Ok(ProgressView {
        year,
        period: span.code(),
        starts_on: span.starts_on(),
        ends_on: span.ends_on(),
        scope_kind: scope.kind(),
        scope_id: scope.id().to_owned(),
        scope_name: scope_name(conn, scope)?,
        target_fen: target,
        year_target_fen: year_target,
        counted_fen: counted,
        ratio: target.map(|t| ratio(counted, t)),
        expected_to_date_fen: expected_fen,
        projected_year_end_fen: projected,
        status: status(counted, target, expected_fen.unwrap_or(0)),
        by_month,
        as_of: utc(at),
    })
}
