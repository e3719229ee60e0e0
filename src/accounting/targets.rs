//! Yearly targets per scope. An approved reserved-share filing sets its agency's `org` target;
//! every change is in the audit trail, and a closed year's targets no longer change.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit;
use super::periods::require_open;
use super::scope::{self, Scope, ScopeKind};
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::targets as t;
use crate::error::{AppError, AppResult, on_unique_violation};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::Who;
use crate::ids::new_id;

/// ¥10 trillion: beyond any real target, far inside i64.
pub const MAX_TARGET_FEN: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = t)]
pub struct TargetRow {
    pub id: String,
    pub year: i32,
    pub scope_kind: String,
    pub scope_id: String,
    pub amount_fen: i64,
    pub source: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetView {
    pub id: String,
    pub year: i32,
    pub scope_kind: ScopeKind,
    pub scope_id: String,
    pub amount_fen: i64,
    /// `manual`, or `filing` when an approved reserved-share filing set it.
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TargetView {
    fn from_row(r: TargetRow) -> AppResult<TargetView> {
        Ok(TargetView {
            scope_kind: ScopeKind::parse(&r.scope_kind)
                .ok_or_else(|| anyhow::anyhow!("bad scope kind {}", r.scope_kind))?,
            id: r.id,
            year: r.year,
            scope_id: r.scope_id,
            amount_fen: r.amount_fen,
            source: r.source,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTargetBody {
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// `recipient`, `donor`, `org`, `pairing` or `producer`.
    #[schema(pattern = r"^(recipient|donor|org|pairing|producer)$")]
    pub scope_kind: String,
    /// A region code (recipient, donor), an organisation id (org, producer) or a pairing id.
    pub scope_id: String,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTargetBody {
    pub amount_fen: i64,
}

fn check_amount(amount: i64) -> AppResult<()> {
    if (1..=MAX_TARGET_FEN).contains(&amount) {
        Ok(())
    } else {
        Err(AppError::invalid_field("validation_failed", "amount_fen", "must be from 1 to 10^15 fen"))
    }
}

/// The scope a target names, for someone who may set it: an unknown or invisible scope is a bad
/// field (422), a visible one that is not theirs to manage 403.
fn managed_scope(conn: &mut DbConn, actor: &Actor, kind: ScopeKind, id: &str) -> AppResult<Scope> {
    let scope = scope::resolve(conn, kind, id).map_err(|_| {
        AppError::invalid_field("validation_failed", "scope_id", format!("no such {} scope", kind.as_str()))
    })?;
    if let Err(e) = scope::authorize(conn, actor, &scope)
        && e.code() == Some("not_found")
    {
        return Err(AppError::invalid_field(
            "validation_failed",
            "scope_id",
            format!("no such {} scope", kind.as_str()),
        ));
    }
    if !scope::may_manage(actor, &scope) {
        return Err(AppError::forbidden("only the platform admin, or an admin over this scope, sets its target"));
    }
    Ok(scope)
}

fn target_exists() -> AppError {
    AppError::conflict("target_exists", "this scope already has a target for that year; change it with PATCH")
}

pub fn create(conn: &mut DbConn, actor: &Actor, body: NewTargetBody, ctx: &Ctx) -> AppResult<TargetView> {
    let year = scope::check_year(body.year, "year")?;
    let kind = scope::parse_kind(&body.scope_kind, "scope_kind")?;
    check_amount(body.amount_fen)?;
    let scope = managed_scope(conn, actor, kind, &body.scope_id)?;
    require_open(conn, year)?;
    if find(conn, year, kind, scope.id())?.is_some() {
        return Err(target_exists());
    }
    let row = TargetRow {
        id: new_id("tgt"),
        year,
        scope_kind: kind.as_str().to_owned(),
        scope_id: scope.id().to_owned(),
        amount_fen: body.amount_fen,
        source: "manual".into(),
        created_by: Some(actor.user_id.clone()),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    diesel::insert_into(t::table).values(&row).execute(conn).map_err(|e| on_unique_violation(e, target_exists))?;
    let details =
        json!({"year": year, "scope_kind": kind.as_str(), "scope_id": row.scope_id, "amount_fen": row.amount_fen});
    audit::record(conn, "target", &row.id, "created", &Who::of(actor), details, ctx.now)?;
    TargetView::from_row(row)
}

pub fn find(conn: &mut DbConn, year: i32, kind: ScopeKind, id: &str) -> AppResult<Option<TargetRow>> {
    Ok(t::table
        .filter(t::year.eq(year))
        .filter(t::scope_kind.eq(kind.as_str()))
        .filter(t::scope_id.eq(id))
        .select(TargetRow::as_select())
        .first(conn)
        .optional()?)
}

/// Targets of many scopes of one kind, by scope id.
pub fn amounts(conn: &mut DbConn, year: i32, kind: ScopeKind, ids: &[String]) -> AppResult<HashMap<String, i64>> {
    Ok(t::table
        .filter(t::year.eq(year))
        .filter(t::scope_kind.eq(kind.as_str()))
        .filter(t::scope_id.eq_any(ids))
        .select((t::scope_id, t::amount_fen))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect())
}

/// A target and its scope, if the caller may see that scope (404 otherwise).
fn visible(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<(TargetRow, Scope)> {
    let row = t::table
        .find(id)
        .select(TargetRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("target"))?;
    let kind = ScopeKind::parse(&row.scope_kind).ok_or_else(|| anyhow::anyhow!("bad scope kind"))?;
    let scope = scope::resolve(conn, kind, &row.scope_id)?;
    scope::authorize(conn, actor, &scope).map_err(|_| AppError::not_found("target"))?;
    Ok((row, scope))
}

pub fn require_visible(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<()> {
    visible(conn, actor, id).map(|_| ())
}

pub fn update(conn: &mut DbConn, actor: &Actor, id: &str, body: PatchTargetBody, ctx: &Ctx) -> AppResult<TargetView> {
    let (mut row, scope) = visible(conn, actor, id)?;
    if !scope::may_manage(actor, &scope) {
        return Err(AppError::forbidden("only the platform admin, or an admin over this scope, changes its target"));
    }
    check_amount(body.amount_fen)?;
    require_open(conn, row.year)?;
    let before = row.amount_fen;
    row.amount_fen = body.amount_fen;
    row.updated_at = ctx.now;
    diesel::update(t::table.find(&row.id))
        .set((t::amount_fen.eq(row.amount_fen), t::updated_at.eq(ctx.now)))
        .execute(conn)?;
    let details = json!({"before_fen": before, "after_fen": row.amount_fen});
    audit::record(conn, "target", &row.id, "changed", &Who::of(actor), details, ctx.now)?;
    TargetView::from_row(row)
}

/// An approved filing's consequence: the agency's `org` target becomes `amount`, or none.
pub fn set_from_filing(
    conn: &mut DbConn,
    org_id: &str,
    year: i32,
    amount: Option<i64>,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<()> {
    let existing = find(conn, year, ScopeKind::Org, org_id)?;
    match (existing, amount) {
        (Some(row), Some(a)) => {
            diesel::update(t::table.find(&row.id))
                .set((t::amount_fen.eq(a), t::source.eq("filing"), t::updated_at.eq(ctx.now)))
                .execute(conn)?;
            let details = json!({"before_fen": row.amount_fen, "after_fen": a, "source": "filing"});
            audit::record(conn, "target", &row.id, "changed", who, details, ctx.now)?;
        }
        (None, Some(a)) => {
            let row = TargetRow {
                id: new_id("tgt"),
                year,
                scope_kind: ScopeKind::Org.as_str().to_owned(),
                scope_id: org_id.to_owned(),
                amount_fen: a,
                source: "filing".into(),
                created_by: who.user_id.clone(),
                created_at: ctx.now,
                updated_at: ctx.now,
            };
            diesel::insert_into(t::table).values(&row).execute(conn)?;
            let details =
                json!({"year": year, "scope_kind": "org", "scope_id": org_id, "amount_fen": a, "source": "filing"});
            audit::record(conn, "target", &row.id, "created", who, details, ctx.now)?;
        }
        (Some(row), None) => {
            diesel::delete(t::table.find(&row.id)).execute(conn)?;
            let details = json!({"before_fen": row.amount_fen, "reason": "no canteen"});
            audit::record(conn, "target", &row.id, "removed", who, details, ctx.now)?;
        }
        (None, None) => {}
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TargetQuery {
    pub year: Option<i32>,
    pub scope_kind: Option<String>,
    pub scope_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(TargetQuery);

/// Targets of the scopes the caller may see, in id order.
pub fn list(conn: &mut DbConn, actor: &Actor, q: TargetQuery, page: &PageRequest) -> AppResult<Page<TargetView>> {
    let kind = q.scope_kind.as_deref().map(|k| scope::parse_kind(k, "scope_kind")).transpose()?;
    let mut after = page.after.clone();
    let mut seen: Vec<TargetRow> = Vec::new();
    // Visibility is decided per scope, so pages are filled from batches until full or exhausted.
    loop {
        let mut query = t::table.select(TargetRow::as_select()).order(t::id.asc()).limit(200).into_boxed();
        if let Some(y) = q.year {
            query = query.filter(t::year.eq(y));
        }
        if let Some(k) = kind {
            query = query.filter(t::scope_kind.eq(k.as_str()));
        }
        if let Some(id) = &q.scope_id {
            query = query.filter(t::scope_id.eq(id.clone()));
        }
        if let Some(a) = &after {
            query = query.filter(t::id.gt(a.clone()));
        }
        let batch: Vec<TargetRow> = query.load(conn)?;
        let exhausted = batch.len() < 200;
        after = batch.last().map(|r| r.id.clone());
        for row in batch {
            let Some(kind) = ScopeKind::parse(&row.scope_kind) else { continue };
            let visible = scope::resolve(conn, kind, &row.scope_id).is_ok_and(|s| scope::may_see(actor, &s));
            if visible {
                seen.push(row);
            }
            if seen.len() as i64 > page.limit {
                break;
            }
        }
        if exhausted || seen.len() as i64 > page.limit {
            break;
        }
    }
    let page = Page::from_rows(seen, page, |r| r.id.clone(), |r| r);
    Ok(Page {
        items: page.items.into_iter().map(TargetView::from_row).collect::<AppResult<_>>()?,
        next_cursor: page.next_cursor,
    })
}
