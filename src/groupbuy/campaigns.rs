//! Organising a round: who may, creating it, reading and listing, the campaign lock, and the
//! notices of its life for the mail worker.

use chrono::NaiveDateTime;
use serde::Deserialize;

use super::model::{self, CampaignFilter, CampaignRow};
use super::status::CampaignStatus;
use super::types::NewCampaign;
use super::view::{CampaignView, view, views};
use crate::catalog::model as products;
use crate::catalog::view::{is_on_sale, not_orderable};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::validate::one_of;
use crate::worker::job::enqueue;
use crate::worker::payloads::Notice;

/// A notice of a campaign's life (`opened`, `closing_soon`, `succeeded`, `failed`, `cancelled`)
/// for the mail worker: event `group_buy.<what>`.
pub(super) fn notify(conn: &mut DbConn, campaign_id: &str, what: &str, now: NaiveDateTime) -> AppResult<()> {
    enqueue(conn, &Notice::group_buy(what, campaign_id)?, now)
}

/// Coordinators' and agencies' administrators organise rounds for buyers inside their region;
/// platform administrators anywhere.
fn require_organiser_role(actor: &Actor, eligible_path: &str) -> AppResult<()> {
    if actor.is_platform_admin() {
        return Ok(());
    }
    if !(actor.is_admin() && matches!(actor.org_kind, OrgKind::Coordinator | OrgKind::Agency)) {
        return Err(AppError::forbidden("only coordinator or agency administrators organise group purchases"));
    }
    if !actor.region_contains(eligible_path) {
        return Err(AppError::forbidden("the eligible region must lie inside your organisation's region"));
    }
    Ok(())
}

/// The campaign's own organiser (its organisation's administrators) or a platform administrator.
pub(super) fn require_organiser_of(actor: &Actor, c: &CampaignRow) -> AppResult<()> {
    if actor.is_platform_admin() || (actor.is_admin() && actor.org.id == c.organizer_org_id) {
        Ok(())
    } else {
        Err(AppError::forbidden("only the campaign's organiser may do this"))
    }
}

pub fn create(conn: &mut DbConn, actor: &Actor, new: NewCampaign, ctx: &Ctx) -> AppResult<CampaignView> {
    let region = crate::regions::model::find(conn, &new.eligible_region_code)?.ok_or_else(|| {
        AppError::invalid_field("unknown_region", "eligible_region_code", "is not a known region code")
    })?;
    require_organiser_role(actor, &region.path)?;
    let product = products::find(conn, &new.product_id)?
        .filter(|p| is_on_sale(p, ctx.today))
        .ok_or_else(|| not_orderable(&new.product_id))?;
    if let Some(first) = new.tiers.first()
        && first.unit_price_fen > product.price_fen
    {
        return Err(AppError::invalid_field(
            "validation_failed",
            "tiers[0].unit_price_fen",
            format!("must not be above the product's own price ({} fen)", product.price_fen),
        ));
    }
    let opens_now = new.opens_at <= ctx.now;
    let row = CampaignRow {
        id: new_id("gb"),
        title: new.title,
        description: new.description,
        organizer_org_id: actor.org.id.clone(),
        organizer_user_id: actor.user_id.clone(),
        product_id: product.id.clone(),
        producer_id: product.producer_id.clone(),
        tiers: serde_json::to_string(&new.tiers).map_err(|e| anyhow::anyhow!("tiers: {e}"))?,
        min_total_qty: new.min_total_qty,
        max_total_qty: new.max_total_qty,
        min_pledge_qty: new.min_pledge_qty,
        opens_at: new.opens_at,
        closes_at: new.closes_at,
        eligible_region_code: region.code,
        eligible_region_path: region.path,
        status: if opens_now { "open" } else { "scheduled" }.to_owned(),
        total_qty: 0,
        pledge_count: 0,
        final_unit_price_fen: None,
        outcome_reason: None,
        closed_at: None,
        closed_by_user_id: None,
        reminded_at: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        pledges_settled_at: None,
    };
    model::insert(conn, &row)?;
    if opens_now {
        notify(conn, &row.id, "opened", ctx.now)?;
    }
    view(conn, Some(actor), row, ctx.now)
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &str, ctx: &Ctx) -> AppResult<CampaignView> {
    let row = model::find(conn, id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    view(conn, Some(actor), row, ctx.now)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CampaignListQuery {
    /// `scheduled`, `open`, `succeeded`, `failed` or `cancelled`.
    pub status: Option<String>,
    pub product_id: Option<String>,
    pub organizer_org_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(CampaignListQuery);

/// Campaigns, newest first.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    q: CampaignListQuery,
    page: &PageRequest,
    ctx: &Ctx,
) -> AppResult<Page<CampaignView>> {
    one_of("status", q.status.as_deref(), &CampaignStatus::ALL)?;
    let filter = CampaignFilter {
        status: q.status,
        product_id: q.product_id,
        organizer_org_id: q.organizer_org_id,
        before_id: page.after.clone(),
    };
    let rows = model::list(conn, filter, ctx.now, page.limit + 1)?;
    let page = Page::from_rows(rows, page, |c| c.id.clone(), |c| c);
    let items = views(conn, Some(actor), page.items, ctx.now)?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// The campaign, locked for a change; 404 if there is none.
pub(super) fn lock(conn: &mut DbConn, id: &str, ctx: &Ctx) -> AppResult<CampaignRow> {
    let missing = || AppError::not_found("group purchase");
    if !model::lock(conn, id, ctx.now)? {
        return Err(missing());
    }
    model::find(conn, id)?.ok_or_else(missing)
}
