//! Pledging: an agency's quantity taken from stock at once under the campaign lock, replaced
//! by pledging again, withdrawn while open; the pledges of a campaign.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::campaigns::lock;
use super::model::{self, CampaignRow, PledgeRow};
use super::status::{accepting, not_open};
use super::types::NewPledge;
use super::view::{CampaignView, PledgeView, load_one, pledge_view};
use crate::catalog::service::{give_back_stock, take_stock};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::model::org_names;
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::orders::placing::require_agency;
use crate::validate::one_of;

/// A pledge and the campaign after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PledgeMade {
    #[serde(flatten)]
    pub pledge: PledgeView,
    pub group_buy: CampaignView,
}

pub(super) fn campaign_full(available: i64, asked: i64) -> AppError {
    AppError::conflict(
        "campaign_full",
        format!("the campaign can take at most {available} more from your organisation; {asked} were pledged"),
    )
    .with("available", available)
}

/// Whether this agency may pledge this quantity into the campaign as it is at `now`: inside the
/// eligible region, while it takes pledges, at least the smallest pledge. The cap and the stock
/// are checked where the total and the stock are taken.
pub(super) fn admissible(actor: &Actor, c: &CampaignRow, new: &NewPledge, now: NaiveDateTime) -> AppResult<()> {
    if !actor.region_path.starts_with(&c.eligible_region_path) {
        return Err(AppError::forbidden_code(
            "not_eligible",
            format!("only buyers inside region {} may join this campaign", c.eligible_region_code),
        )
        .with("eligible_region_code", c.eligible_region_code.clone()));
    }
    if !accepting(c, now)? {
        return Err(not_open(c, now)?);
    }
    if new.quantity < c.min_pledge_qty {
        return Err(AppError::invalid_field(
            "invalid_quantity",
            "quantity",
            format!("the smallest pledge in this campaign is {}", c.min_pledge_qty),
        )
        .with("min_pledge_qty", c.min_pledge_qty));
    }
    Ok(())
}

/// An active pledge of the actor's organisation, replacing `replaces_id` if any.
pub(super) fn new_row(
    actor: &Actor,
    campaign_id: &str,
    new: NewPledge,
    replaces_id: Option<String>,
    now: NaiveDateTime,
) -> PledgeRow {
    PledgeRow {
        id: new_id("plg"),
        group_buy_id: campaign_id.to_owned(),
        org_id: actor.org.id.clone(),
        org_path: actor.org.path.clone(),
        user_id: actor.user_id.clone(),
        quantity: new.quantity,
        status: "active".into(),
        delivery_address: new.delivery.address,
        delivery_contact: new.delivery.contact_name,
        delivery_phone: new.delivery.phone,
        note: new.note,
        replaces_id,
        order_id: None,
        created_at: now,
        updated_at: now,
        ended_at: None,
    }
}

/// An agency pledges (or, pledging again, replaces its pledge): the quantity comes out of the
/// product's stock at once, and the campaign's total never passes `max_total_qty`.
///
/// A round's pledges all change its row, so they queue on it: the campaign is read, not locked,
/// and the row is taken as late as possible, by the one conditional update that checks what
/// matters at that moment (still taking pledges, the total within the cap), followed only by
/// the product's stock, so a pledge holds the row for two statements and the commit. Campaign
/// row, then product row, as closing and withdrawing take them, so none of them deadlock.
pub fn pledge(conn: &mut DbConn, actor: &Actor, id: &str, new: NewPledge, ctx: &Ctx) -> AppResult<PledgeMade> {
    require_agency(actor)?;
    let c = model::find(conn, id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    admissible(actor, &c, &new, ctx.now)?;
    let previous = model::active_pledge_of(conn, &c.id, &actor.org.id)?;
    let before = previous.as_ref().map_or(0, |p| p.quantity);
    let row = new_row(actor, &c.id, new, previous.as_ref().map(|p| p.id.clone()), ctx.now);
    // A first pledge (nearly all of a rush) is written before the row is taken. A second one
    // must end the first before it is written (one active pledge per organisation), and ending
    // it locks a pledge that a close also locks, after the campaign row: so that happens after.
    let first = previous.is_none();
    if first {
        model::insert_pledge(conn, &row)?;
    }
    let mut loaded = load_one(conn, &c)?;
    loaded.set_mine(row.clone(), &actor.org.name);
    let delta = row.quantity - before;
    let Some((total_qty, pledge_count)) = model::add_to_total(conn, &c.id, delta, i32::from(first), ctx.now)? else {
        // Closed, or full, since it was read: say which, from the campaign as it is now.
        let now = model::find(conn, &c.id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
        if !accepting(&now, ctx.now)? {
            return Err(not_open(&now, ctx.now)?);
        }
        return Err(campaign_full(now.max_total_qty - now.total_qty + before, row.quantity));
    };
    let after = CampaignRow { total_qty, pledge_count, updated_at: ctx.now, ..c };
    match delta {
        d if d > 0 => take_stock(conn, &after.product_id, d, ctx.now)?,
        d if d < 0 => give_back_stock(conn, &after.product_id, -d, ctx.now)?,
        _ => {}
    }
    if let Some(p) = &previous {
        if !model::end_pledge(conn, &p.id, "replaced", ctx.now)? {
            return Err(AppError::conflict(
                "conflict",
                "your organisation's pledge changed while this one was being made; look at it and pledge again",
            ));
        }
        super::card::void_for(conn, &p.id, ctx.now)?;
        model::insert_pledge(conn, &row)?;
    }
    let group_buy = loaded.view(after, ctx.now)?;
    let names = HashMap::from([(actor.org.id.clone(), actor.org.name.clone())]);
    Ok(PledgeMade { pledge: pledge_view(row, &names), group_buy })
}

/// The pledging organisation withdraws its pledge while the campaign is open: the quantity goes
/// back to the product's stock. Withdrawing a withdrawn pledge changes nothing.
pub fn withdraw(conn: &mut DbConn, actor: &Actor, id: &str, pledge_id: &str, ctx: &Ctx) -> AppResult<()> {
    let c = lock(conn, id, ctx)?;
    let p = model::find_pledge(conn, pledge_id)?
        .filter(|p| p.group_buy_id == c.id && p.org_id == actor.org.id)
        .ok_or_else(|| AppError::not_found("pledge"))?;
    match p.status.as_str() {
        "withdrawn" => return Ok(()),
        "active" => {}
        other => {
            return Err(AppError::conflict("invalid_state", format!("the pledge is {other}; it cannot be withdrawn"))
                .with("current_status", other));
        }
    }
    if !accepting(&c, ctx.now)? {
        return Err(not_open(&c, ctx.now)?);
    }
    if model::add_to_total(conn, &c.id, -p.quantity, -1, ctx.now)?.is_none()
        || !model::end_pledge(conn, &p.id, "withdrawn", ctx.now)?
    {
        return Err(anyhow::anyhow!("pledge {} could not be withdrawn under the campaign lock", p.id).into());
    }
    super::card::void_for(conn, &p.id, ctx.now)?;
    give_back_stock(conn, &c.product_id, p.quantity, ctx.now)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PledgeListQuery {
    /// `active`, `replaced`, `withdrawn`, `ordered` or `released`.
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(PledgeListQuery);

const PLEDGE_STATUSES: [&str; 5] = ["active", "replaced", "withdrawn", "ordered", "released"];

/// A campaign's pledges, newest first: all of them for its organiser and the platform; a buyer
/// sees its own and those of the organisations under it.
pub fn pledges(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    q: PledgeListQuery,
    page: &PageRequest,
) -> AppResult<Page<PledgeView>> {
    one_of("status", q.status.as_deref(), &PLEDGE_STATUSES)?;
    let c = model::find(conn, id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    let sees_all = actor.org_kind == OrgKind::Platform || actor.org.id == c.organizer_org_id;
    let within = (!sees_all).then_some(actor.org.path.as_str());
    let rows = model::pledges(conn, &c.id, within, q.status.as_deref(), page.after.as_deref(), page.limit + 1)?;
    let page = Page::from_rows(rows, page, |p| p.id.clone(), |p| p);
    let mut org_ids: Vec<String> = page.items.iter().map(|p| p.org_id.clone()).collect();
    org_ids.sort_unstable();
    org_ids.dedup();
    let names = org_names(conn, &org_ids)?;
    Ok(Page { items: page.items.into_iter().map(|p| pledge_view(p, &names)).collect(), next_cursor: page.next_cursor })
}
