//! The organisations under a scope that have a target, worst ratio first.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::facts::{self, Bind, Cond, Group};
use super::progress::{Status, instant, ratio, scope_name, status};
use super::scope::{Scope, ScopeKind};
use super::span::Span;
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::schema::{organizations, regions, targets as t};
use crate::db::{DbConn, prefix_pattern};
use crate::error::AppResult;
use crate::identity::model::org_names;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LaggardRow {
    pub org_id: String,
    pub name: String,
    /// `org` (purchases of the organisation and those under it) or `producer` (its sales).
    pub target_kind: ScopeKind,
    pub target_fen: i64,
    pub counted_fen: i64,
    pub ratio: f64,
    pub expected_to_date_fen: i64,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LaggardsView {
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
    /// Worst ratio first.
    pub rows: Vec<LaggardRow>,
    pub as_of: DateTime<Utc>,
}

/// Organisations under the scope that have a target for the year, worst ratio first.
pub fn laggards(
    conn: &mut DbConn,
    scope: &Scope,
    span: &Span,
    as_of: Option<DateTime<Utc>>,
    ctx: &Ctx,
) -> AppResult<LaggardsView> {
    let (cutoff, at) = instant(as_of, ctx)?;
    let year = span.year;
    let mut orgs = organizations::table.inner_join(regions::table).select(organizations::id).into_boxed();
    orgs = match scope {
        Scope::Recipient(p) | Scope::Donor(p) => orgs.filter(regions::path.like(prefix_pattern(&p.path)).escape('\\')),
        Scope::Org { org, .. } | Scope::Producer { org, .. } => {
            orgs.filter(organizations::path.like(prefix_pattern(&org.path)).escape('\\'))
        }
        Scope::Pairing { row, .. } if row.donor_org_id.is_some() => {
            orgs.filter(organizations::path.like(prefix_pattern(&row.donor_path)).escape('\\'))
        }
        Scope::Pairing { row, .. } => orgs.filter(regions::path.like(prefix_pattern(&row.donor_path)).escape('\\')),
    };
    let under: Vec<String> = orgs.load(conn)?;
    let goals: Vec<(String, String, i64)> = t::table
        .filter(t::year.eq(year))
        .filter(t::scope_kind.eq_any(["org", "producer"]))
        .filter(t::scope_id.eq_any(&under))
        .select((t::scope_id, t::scope_kind, t::amount_fen))
        .load(conn)?;
    let ids: Vec<String> = goals.iter().map(|(id, _, _)| id.clone()).collect();
    let bought = subtree_sums(conn, &ids, Group::BuyerOrg, span, cutoff)?;
    let sold = subtree_sums(conn, &ids, Group::Producer, span, cutoff)?;
    let names = org_names(conn, &ids)?;
    let mut rows: Vec<LaggardRow> = goals
        .into_iter()
        .map(|(id, kind, target)| {
            let target_kind = if kind == "producer" { ScopeKind::Producer } else { ScopeKind::Org };
            let sums = if target_kind == ScopeKind::Producer { &sold } else { &bought };
            let counted = sums.get(&id).copied().unwrap_or(0);
            let expected_fen = span.expected_by(target, at, ctx);
            let target = span.share(target, ctx);
            LaggardRow {
                name: names.get(&id).cloned().unwrap_or_default(),
                org_id: id,
                target_kind,
                target_fen: target,
                counted_fen: counted,
                ratio: ratio(counted, target),
                expected_to_date_fen: expected_fen,
                status: status(counted, Some(target), expected_fen),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.ratio.total_cmp(&b.ratio).then(a.name.cmp(&b.name)));
    Ok(LaggardsView {
        year,
        period: span.code(),
        starts_on: span.starts_on(),
        ends_on: span.ends_on(),
        scope_kind: scope.kind(),
        scope_id: scope.id().to_owned(),
        scope_name: scope_name(conn, scope)?,
        rows,
        as_of: utc(at),
    })
}

/// What each of `roots` bought (`Group::BuyerOrg`) or sold (`Group::Producer`) over a span,
/// together with the organisations under it: one ledger sum over every member, added up per root.
pub fn subtree_sums(
    conn: &mut DbConn,
    roots: &[String],
    group: Group,
    span: &Span,
    cutoff: Option<facts::Cutoff>,
) -> AppResult<HashMap<String, i64>> {
    let paths: Vec<(String, String)> = organizations::table
        .filter(organizations::id.eq_any(roots))
        .select((organizations::id, organizations::path))
        .load(conn)?;
    let mut tree: Vec<(String, String)> = Vec::new();
    for (_, path) in &paths {
        tree.extend(
            organizations::table
                .filter(organizations::path.like(prefix_pattern(path)).escape('\\'))
                .select((organizations::id, organizations::path))
                .load::<(String, String)>(conn)?,
        );
    }
    tree.sort_unstable();
    tree.dedup();
    let column = if group == Group::Producer { "producer_id" } else { "buyer_org_id" };
    let members = Cond {
        sql: format!("{column} IN ({})", vec!["?"; tree.len().max(1)].join(", ")),
        binds: if tree.is_empty() {
            vec![Bind::Text(String::new())]
        } else {
            tree.iter().map(|(id, _)| Bind::Text(id.clone())).collect()
        },
        grain: facts::Grain::Prefecture,
        rollup_lead: None,
        side: None,
    };
    let sums: HashMap<String, i64> = facts::sums(conn, span, &members, group, cutoff)?.into_iter().collect();
    Ok(paths
        .into_iter()
        .map(|(root, root_path)| {
            let total = tree
                .iter()
                .filter(|(_, p)| p.starts_with(&root_path))
                .map(|(m, _)| sums.get(m).copied().unwrap_or(0))
                .sum();
            (root, total)
        })
        .collect())
}
