//! Reserved-share filings (预留份额): each budget unit files its yearly canteen food budget and the
//! share it reserves for certified goods (at least 10%, lower with a reason, or "no canteen").
//! Its supervising organisation, or a coordinator over its region, approves or returns it; an
//! approved filing sets the unit's `org` target to budget × share.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit;
use super::periods::require_open;
use super::scope::check_year;
use super::targets::{self, MAX_TARGET_FEN};
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::schema::{filings as f, organizations, regions};
use crate::db::{DbConn, prefix_pattern};
use crate::error::{AppError, AppResult, Violations};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::Who;
use crate::identity::model::OrgRow;
use crate::identity::types::OrgKind;
use crate::identity::visibility::{OrgFilter, visible_orgs};
use crate::ids::new_id;
use crate::validate::optional_text;
use crate::worker::job::enqueue;
use crate::worker::payloads::Notice;

/// 10%: the national floor (财库〔2021〕19号); lower needs a reason.
pub const MIN_SHARE_BP: i32 = 1000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = f)]
pub struct FilingRow {
    pub id: String,
    pub org_id: String,
    pub year: i32,
    pub canteen_budget_fen: i64,
    pub share_bp: i32,
    pub no_canteen: bool,
    pub exemption_reason: Option<String>,
    pub status: String,
    pub submitted_by: String,
    pub submitted_at: NaiveDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub return_reason: Option<String>,
}

impl FilingRow {
    /// The target an approval sets: budget × share, to the fen (half up); none without a canteen.
    pub fn target_fen(&self) -> Option<i64> {
        if self.no_canteen {
            return None;
        }
        let amount = (self.canteen_budget_fen as i128 * self.share_bp as i128 + 5_000) / 10_000;
        (amount > 0).then_some(amount as i64)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FilingView {
    pub id: String,
    pub org_id: String,
    pub org_name: String,
    pub year: i32,
    pub canteen_budget_fen: i64,
    /// Basis points: 1000 = 10%.
    pub share_bp: i32,
    pub no_canteen: bool,
    pub exemption_reason: Option<String>,
    /// `submitted`, `approved` or `returned`.
    pub status: String,
    /// What approval sets (or has set) as the organisation's target; null without a canteen.
    pub target_fen: Option<i64>,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub return_reason: Option<String>,
}

fn view(row: FilingRow, org_name: String) -> FilingView {
    FilingView {
        target_fen: row.target_fen(),
        org_name,
        id: row.id,
        org_id: row.org_id,
        year: row.year,
        canteen_budget_fen: row.canteen_budget_fen,
        share_bp: row.share_bp,
        no_canteen: row.no_canteen,
        exemption_reason: row.exemption_reason,
        status: row.status,
        submitted_by: row.submitted_by,
        submitted_at: utc(row.submitted_at),
        decided_by: row.decided_by,
        decided_at: row.decided_at.map(utc),
        return_reason: row.return_reason,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilingBody {
    /// The year's canteen food-ingredient budget (年度食堂食材采购总额); 0 with `no_canteen`.
    #[schema(minimum = 0, maximum = 100000000000000.0)]
    pub canteen_budget_fen: i64,
    /// The reserved share in basis points (1000 = 10%).
    #[schema(minimum = 0, maximum = 10000)]
    pub share_bp: i32,
    #[serde(default)]
    pub no_canteen: bool,
    /// Required when `share_bp` is under 1000.
    #[schema(max_length = 1000)]
    pub exemption_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    pub reason: String,
}

fn find(conn: &mut DbConn, org_id: &str, year: i32) -> AppResult<Option<FilingRow>> {
    Ok(f::table
        .filter(f::org_id.eq(org_id))
        .filter(f::year.eq(year))
        .select(FilingRow::as_select())
        .first(conn)
        .optional()?)
}

/// The agency, if the caller may know of it (404 otherwise).
fn agency(conn: &mut DbConn, actor: &Actor, org_id: &str) -> AppResult<(OrgRow, String)> {
    let filter = OrgFilter { id: Some(org_id.to_owned()), ..Default::default() };
    visible_orgs(conn, actor, filter, 1)?.pop().ok_or_else(|| AppError::not_found("organization"))
}

/// The admin of a supervising organisation above it, or a coordinator admin over its region.
fn may_review(actor: &Actor, org: &OrgRow, region_path: &str) -> bool {
    actor.is_platform_admin()
        || (actor.is_admin() && org.path.starts_with(&actor.org.path) && org.id != actor.org.id)
        || (actor.is_coordinator_admin() && actor.region_contains(region_path))
}

/// Files (or files again) an agency's year: its own admin.
pub fn put(
    conn: &mut DbConn,
    actor: &Actor,
    org_id: &str,
    year: i32,
    body: FilingBody,
    ctx: &Ctx,
) -> AppResult<(bool, FilingView)> {
    let (org, _) = agency(conn, actor, org_id)?;
    if !(actor.org.id == org.id && actor.is_admin()) {
        return Err(AppError::forbidden("only the organisation's own admin files its reserved share"));
    }
    if org.kind != OrgKind::Agency.as_str() {
        return Err(AppError::forbidden("only budget units (agencies) file a reserved share"));
    }
    let year = check_year(year, "year")?;
    let mut v = Violations::new();
    v.check(
        (0..=MAX_TARGET_FEN).contains(&body.canteen_budget_fen),
        "canteen_budget_fen",
        "must be from 0 to 10^15 fen",
    );
    v.check((0..=10_000).contains(&body.share_bp), "share_bp", "must be from 0 to 10000 basis points");
    if body.no_canteen {
        v.check(body.canteen_budget_fen == 0, "canteen_budget_fen", "must be 0 for a unit with no canteen");
    } else {
        v.check(body.canteen_budget_fen > 0, "canteen_budget_fen", "must be positive (or file no_canteen)");
    }
    let reason = optional_text(&mut v, "exemption_reason", body.exemption_reason, 1000);
    if !body.no_canteen && body.share_bp < MIN_SHARE_BP && reason.is_none() {
        v.add("exemption_reason", "a share under 10% (1000 basis points) needs a reason");
    }
    v.finish("validation_failed")?;
    require_open(conn, year)?;
    let existing = find(conn, &org.id, year)?;
    let row = FilingRow {
        id: existing.as_ref().map(|e| e.id.clone()).unwrap_or_else(|| new_id("fil")),
        org_id: org.id.clone(),
        year,
        canteen_budget_fen: body.canteen_budget_fen,
        share_bp: body.share_bp,
        no_canteen: body.no_canteen,
        exemption_reason: reason,
        status: "submitted".into(),
        submitted_by: actor.user_id.clone(),
        submitted_at: ctx.now,
        decided_by: None,
        decided_at: None,
        return_reason: None,
    };
    let created = existing.is_none();
    if created {
        diesel::insert_into(f::table).values(&row).execute(conn)?;
    } else {
        diesel::update(f::table.find(&row.id))
            .set((
                f::canteen_budget_fen.eq(row.canteen_budget_fen),
                f::share_bp.eq(row.share_bp),
                f::no_canteen.eq(row.no_canteen),
                f::exemption_reason.eq(&row.exemption_reason),
                f::status.eq(&row.status),
                f::submitted_by.eq(&row.submitted_by),
                f::submitted_at.eq(row.submitted_at),
                f::decided_by.eq(None::<String>),
                f::decided_at.eq(None::<NaiveDateTime>),
                f::return_reason.eq(None::<String>),
            ))
            .execute(conn)?;
    }
    let details = json!({"year": year, "canteen_budget_fen": row.canteen_budget_fen, "share_bp": row.share_bp,
        "no_canteen": row.no_canteen, "exemption_reason": row.exemption_reason});
    audit::record(conn, "filing", &row.id, "submitted", &Who::of(actor), details, ctx.now)?;
    Ok((created, view(row, org.name)))
}

/// A filing under review, for someone who may decide it.
fn reviewable(conn: &mut DbConn, actor: &Actor, org_id: &str, year: i32) -> AppResult<(FilingRow, OrgRow)> {
    let (org, region_path) = agency(conn, actor, org_id)?;
    let row = find(conn, org_id, year)?.ok_or_else(|| AppError::not_found("filing"))?;
    if !may_review(actor, &org, &region_path) {
        return Err(AppError::forbidden(
            "only the admin of the supervising organisation, or a coordinator admin over the unit's region, decides its filing",
        ));
    }
    require_open(conn, year)?;
    if row.status != "submitted" {
        return Err(AppError::conflict(
            "invalid_state",
            format!("the filing is {}; only a submitted filing is decided", row.status),
        )
        .with("current_status", row.status.clone()));
    }
    Ok((row, org))
}

pub fn approve(conn: &mut DbConn, actor: &Actor, org_id: &str, year: i32, ctx: &Ctx) -> AppResult<FilingView> {
    let (mut row, org) = reviewable(conn, actor, org_id, year)?;
    row.status = "approved".into();
    row.decided_by = Some(actor.user_id.clone());
    row.decided_at = Some(ctx.now);
    diesel::update(f::table.find(&row.id))
        .set((f::status.eq("approved"), f::decided_by.eq(&row.decided_by), f::decided_at.eq(row.decided_at)))
        .execute(conn)?;
    let who = Who::of(actor);
    audit::record(conn, "filing", &row.id, "approved", &who, json!({"target_fen": row.target_fen()}), ctx.now)?;
    targets::set_from_filing(conn, &row.org_id, year, row.target_fen(), &who, ctx)?;
    Ok(view(row, org.name))
}

pub fn send_back(
    conn: &mut DbConn,
    actor: &Actor,
    org_id: &str,
    year: i32,
    body: ReturnBody,
    ctx: &Ctx,
) -> AppResult<FilingView> {
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(AppError::invalid_field("validation_failed", "reason", "must have 1 to 1000 characters"));
    }
    let (mut row, org) = reviewable(conn, actor, org_id, year)?;
    row.status = "returned".into();
    row.decided_by = Some(actor.user_id.clone());
    row.decided_at = Some(ctx.now);
    row.return_reason = Some(reason.clone());
    diesel::update(f::table.find(&row.id))
        .set((
            f::status.eq("returned"),
            f::decided_by.eq(&row.decided_by),
            f::decided_at.eq(row.decided_at),
            f::return_reason.eq(&row.return_reason),
        ))
        .execute(conn)?;
    audit::record(conn, "filing", &row.id, "returned", &Who::of(actor), json!({"reason": reason}), ctx.now)?;
    enqueue(conn, &Notice::FilingReturned { filing_id: row.id.clone() }, ctx.now)?;
    Ok(view(row, org.name))
}

/// One agency's filing: for the agency, its supervisors, the coordinators over it, the platform.
pub fn get(conn: &mut DbConn, actor: &Actor, org_id: &str, year: i32) -> AppResult<FilingView> {
    let (org, region_path) = agency(conn, actor, org_id)?;
    let own = org.path.starts_with(&actor.org.path);
    if !(own || may_review(actor, &org, &region_path) || actor.org_kind == OrgKind::Platform) {
        return Err(AppError::not_found("filing"));
    }
    let row = find(conn, org_id, year)?.ok_or_else(|| AppError::not_found("filing"))?;
    Ok(view(row, org.name))
}

/// 404 unless the caller may see the filing with this id.
pub fn require_visible(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<()> {
    let (org_id, year): (String, i32) = f::table
        .find(id)
        .select((f::org_id, f::year))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("filing"))?;
    get(conn, actor, &org_id, year).map(|_| ())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilingQuery {
    pub year: Option<i32>,
    /// `submitted`, `approved` or `returned`.
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(FilingQuery);

/// Filings the caller files or reviews: its own organisation and those under it, and for
/// coordinators every unit in their region.
pub fn list(conn: &mut DbConn, actor: &Actor, q: FilingQuery, page: &PageRequest) -> AppResult<Page<FilingView>> {
    if let Some(s) = &q.status
        && !["submitted", "approved", "returned"].contains(&s.as_str())
    {
        return Err(AppError::invalid_field("validation_failed", "status", "must be submitted, approved or returned"));
    }
    let mut query = f::table
        .inner_join(organizations::table.inner_join(regions::table))
        .select((FilingRow::as_select(), organizations::name))
        .order(f::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    match actor.org_kind {
        OrgKind::Platform => {}
        OrgKind::Coordinator => {
            query = query.filter(
                regions::path
                    .like(prefix_pattern(&actor.region_path))
                    .escape('\\')
                    .or(organizations::path.like(prefix_pattern(&actor.org.path)).escape('\\')),
            )
        }
        _ => query = query.filter(organizations::path.like(prefix_pattern(&actor.org.path)).escape('\\')),
    }
    if let Some(y) = q.year {
        query = query.filter(f::year.eq(y));
    }
    if let Some(s) = q.status {
        query = query.filter(f::status.eq(s));
    }
    if let Some(after) = &page.after {
        query = query.filter(f::id.gt(after.clone()));
    }
    let rows: Vec<(FilingRow, String)> = query.load(conn)?;
    Ok(Page::from_rows(rows, page, |(r, _)| r.id.clone(), |(r, name)| view(r, name)))
}
