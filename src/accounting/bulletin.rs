//! The bulletin (通报) of a supervising organisation: how each unit directly under it (with the
//! units under that one) stands against its reserved share over a period — the half-yearly
//! written report the notices require — ranked best first, with the totals. Read from the same
//! ledger sums and targets as `/reports/laggards`.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::facts::Group;
use super::laggards::subtree_sums;
use super::progress::{Status, instant, ratio, status};
use super::scope::Scope;
use super::span::Span;
use super::targets;
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::organizations;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulletinRow {
    /// 1 for the best ratio; null for a unit without a target (listed after the ranked ones).
    pub rank: Option<u32>,
    pub org_id: String,
    pub name: String,
    /// The period's share of the unit's yearly target; null without one.
    pub target_fen: Option<i64>,
    /// Bought in the period by the unit and the units under it.
    pub counted_fen: i64,
    pub ratio: Option<f64>,
    /// The even pace over the period up to `as_of`.
    pub expected_to_date_fen: Option<i64>,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulletinView {
    pub year: i32,
    /// `H1`, `H2`, `Q1`..`Q4`, `M01`..`M12` or `year`.
    pub period: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub org_id: String,
    pub org_name: String,
    /// Units directly under the organisation.
    pub units: usize,
    pub achieved: usize,
    pub on_track: usize,
    pub behind: usize,
    pub no_target: usize,
    /// The units' period targets added up.
    pub target_fen: i64,
    /// The units' counted amounts added up.
    pub counted_fen: i64,
    /// counted ÷ target over the units with a target; null when none has one.
    pub ratio: Option<f64>,
    /// Best ratio first, then the units without a target by amount.
    pub rows: Vec<BulletinRow>,
    pub as_of: DateTime<Utc>,
}

/// The bulletin of the organisation a scope names (`scope_kind=org`).
pub fn bulletin(
    conn: &mut DbConn,
    scope: &Scope,
    span: &Span,
    as_of: Option<DateTime<Utc>>,
    ctx: &Ctx,
) -> AppResult<BulletinView> {
    let Scope::Org { org, .. } = scope else {
        return Err(AppError::invalid_field("validation_failed", "org_id", "must name an agency"));
    };
    let (cutoff, at) = instant(as_of, ctx)?;
    let units: Vec<(String, String)> = organizations::table
        .filter(organizations::parent_id.eq(&org.id))
        .order(organizations::name.asc())
        .select((organizations::id, organizations::name))
        .load(conn)?;
    let ids: Vec<String> = units.iter().map(|(id, _)| id.clone()).collect();
    let goals = targets::amounts(conn, span.year, super::scope::ScopeKind::Org, &ids)?;
    let bought = subtree_sums(conn, &ids, Group::BuyerOrg, span, cutoff)?;
    let mut rows: Vec<BulletinRow> = units
        .into_iter()
        .map(|(id, name)| {
            let counted = bought.get(&id).copied().unwrap_or(0);
            let year_target = goals.get(&id).copied();
            let target = year_target.map(|t| span.share(t, ctx));
            let expected = year_target.map(|t| span.expected_by(t, at, ctx));
            BulletinRow {
                rank: None,
                org_id: id,
                name,
                target_fen: target,
                counted_fen: counted,
                ratio: target.filter(|t| *t > 0).map(|t| ratio(counted, t)),
                expected_to_date_fen: expected,
                status: status(counted, target, expected.unwrap_or(0)),
            }
        })
        .collect();
    rows.sort_by(|a, b| match (a.ratio, b.ratio) {
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.name.cmp(&b.name)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => b.counted_fen.cmp(&a.counted_fen).then(a.name.cmp(&b.name)),
    });
    let mut rank = 0;
    for row in rows.iter_mut().filter(|r| r.ratio.is_some()) {
        rank += 1;
        row.rank = Some(rank);
    }
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    let target_fen: i64 = rows.iter().filter_map(|r| r.target_fen).sum();
    let counted_targeted: i64 = rows.iter().filter(|r| r.target_fen.is_some()).map(|r| r.counted_fen).sum();
    Ok(BulletinView {
        year: span.year,
        period: span.code(),
        starts_on: span.starts_on(),
        ends_on: span.ends_on(),
        org_id: org.id.clone(),
        org_name: org.name.clone(),
        units: rows.len(),
        achieved: count(Status::Achieved),
        on_track: count(Status::OnTrack),
        behind: count(Status::Behind),
        no_target: count(Status::NoTarget),
        target_fen,
        counted_fen: rows.iter().map(|r| r.counted_fen).sum(),
        ratio: (target_fen > 0).then(|| ratio(counted_targeted, target_fen)),
        rows,
        as_of: utc(at),
    })
}
