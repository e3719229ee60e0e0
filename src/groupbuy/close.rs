//! How a campaign ends, exactly once: closed by its organiser or the worker (every pledge an
//! order at the price reached, or every pledge released), or cancelled.
//!
//! The outcome is written first, under the campaign's row; then the pledges are settled (made
//! orders or released) a chunk at a time, each chunk its own transaction under the row, the first
//! with the outcome. A round of a few hundred pledges settles in one transaction; a 10,000-pledge
//! round never holds its row for longer than a chunk, and the worker carries on with the rest
//! (each pledge moves once: only an active pledge becomes an order or is released).

use std::collections::HashMap;

use super::campaigns::{lock, notify, require_organiser_of};
use super::model::{self, CampaignRow, PledgeRow};
use super::status::{CampaignStatus, not_open};
use super::types::price_at;
use super::view::{CampaignView, view};
use crate::catalog::model::{self as products, ProductRow};
use crate::catalog::service::give_back_stock;
use crate::catalog::view::is_on_sale;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::identity::Actor;
use crate::identity::Who;
use crate::identity::model::{find_orgs, find_user_record};
use crate::money::Fen;
use crate::orders::placing::Buyer;
use crate::orders::placing::PricedLine;
use crate::orders::placing::insert_order;
use crate::orders::placing::{FromPledge, Source};
use crate::orders::types::Delivery;

/// Who closes: the organiser on demand (before `closes_at` too), or the worker once it is due.
pub enum Closer<'a> {
    Organiser(&'a Actor),
    Worker,
}

/// Closes a campaign. Reached `min_total_qty` (and the product still on sale): every active
/// pledge becomes one order at the tier price the total reached, which then goes the way of any
/// order (payment, shipment, counting). Otherwise every pledge is released and its stock given
/// back. A campaign already closed is returned as it is: nothing happens twice.
pub fn close(conn: &mut DbConn, id: &str, closer: Closer<'_>, ctx: &Ctx) -> AppResult<CampaignRow> {
    let c = lock(conn, id, ctx)?;
    let who = match &closer {
        Closer::Organiser(actor) => {
            require_organiser_of(actor, &c)?;
            Who::of(actor)
        }
        Closer::Worker => Who::system(),
    };
    match CampaignStatus::of(&c, ctx.now)? {
        CampaignStatus::Succeeded | CampaignStatus::Failed => return Ok(c),
        CampaignStatus::Cancelled => {
            return Err(AppError::conflict("invalid_state", "the campaign was cancelled; it cannot be closed")
                .with("current_status", "cancelled"));
        }
        CampaignStatus::Scheduled => return Err(not_open(&c, ctx.now)?),
        CampaignStatus::Open if matches!(closer, Closer::Worker) && ctx.now < c.closes_at => return Ok(c),
        CampaignStatus::Open => {}
    }
    let product = products::find(conn, &c.product_id)?.ok_or_else(|| anyhow::anyhow!("campaign product missing"))?;
    let pledged = model::active_pledges(conn, &c.id)?.iter().map(|p| p.quantity).sum::<i64>();
    if pledged != c.total_qty {
        return Err(anyhow::anyhow!("campaign {} totals {} but its pledges hold {pledged}", c.id, c.total_qty).into());
    }
    let failure = if c.total_qty < c.min_total_qty {
        Some("min_total_not_reached")
    } else if !is_on_sale(&product, ctx.today) {
        Some("product_not_orderable")
    } else {
        None
    };
    match failure {
        None => {
            let price = price_at(&c.tiers()?, c.total_qty);
            finish(conn, &c, "succeeded", Some(price), None, &who, ctx)?;
        }
        Some(reason) => finish(conn, &c, "failed", None, Some(reason), &who, ctx)?,
    }
    settle_chunk(conn, &c.id, &who, ctx)?;
    model::find(conn, &c.id)?.ok_or_else(|| AppError::not_found("group purchase"))
}

/// Pledges settled per transaction: ~1.5 ms an order on PostgreSQL, so a chunk holds the
/// campaign's row for well under a second.
pub const SETTLE_CHUNK: i64 = 200;

/// Settles the next chunk of a closed round's pledges, under its row: orders at the price
/// reached when it succeeded, released otherwise. How many it settled; when none are left the
/// round is marked settled. A round not closed, or settled already, is left alone (0).
pub fn settle_chunk(conn: &mut DbConn, id: &str, who: &Who, ctx: &Ctx) -> AppResult<usize> {
    if !model::lock(conn, id, ctx.now)? {
        return Err(AppError::not_found("group purchase"));
    }
    let c = model::find(conn, id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    if c.closed_at.is_none() || c.pledges_settled_at.is_some() {
        return Ok(0);
    }
    let pledges = model::active_pledges_first(conn, id, SETTLE_CHUNK)?;
    let settled = pledges.len();
    match (c.status.as_str(), c.final_unit_price_fen) {
        ("succeeded", Some(price)) => {
            let product =
                products::find(conn, &c.product_id)?.ok_or_else(|| anyhow::anyhow!("campaign product missing"))?;
            order_pledges(conn, &c, &product, Fen(price), pledges, who, ctx)?;
        }
        ("succeeded", None) => return Err(anyhow::anyhow!("campaign {id} succeeded without a price").into()),
        _ => release(conn, &c, pledges, ctx)?,
    }
    if (settled as i64) < SETTLE_CHUNK {
        model::mark_settled(conn, id, ctx.now)?;
    }
    Ok(settled)
}

/// Who a later chunk's orders are placed by: whoever closed the round (the system for the worker).
pub fn closer_of(conn: &mut DbConn, id: &str) -> AppResult<Who> {
    let c = model::find(conn, id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    Ok(match c.closed_by_user_id {
        Some(user) => Who { org_id: find_user_record(conn, &user)?.map(|u| u.org_id), user_id: Some(user) },
        None => Who::system(),
    })
}

fn finish(
    conn: &mut DbConn,
    c: &CampaignRow,
    status: &str,
    price: Option<i64>,
    reason: Option<&str>,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<()> {
    if !model::finish(conn, &c.id, status, price, reason, who.user_id.as_deref(), ctx.now)? {
        return Err(anyhow::anyhow!("campaign {} stopped being live under its lock", c.id).into());
    }
    notify(conn, &c.id, status, ctx.now)
}

/// One order per pledge, for the pledge's organisation and address, at `price`: the stock was
/// taken when it was pledged.
fn order_pledges(
    conn: &mut DbConn,
    c: &CampaignRow,
    product: &ProductRow,
    price: Fen,
    pledges: Vec<PledgeRow>,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<()> {
    let org_ids: Vec<String> = pledges.iter().map(|p| p.org_id.clone()).collect();
    let orgs: HashMap<String, crate::identity::model::OrgRow> =
        find_orgs(conn, &org_ids)?.into_iter().map(|o| (o.id.clone(), o)).collect();
    for p in pledges {
        let org = orgs.get(&p.org_id).ok_or_else(|| anyhow::anyhow!("pledging organisation {} missing", p.org_id))?;
        let buyer = Buyer {
            org_id: org.id.clone(),
            org_path: org.path.clone(),
            region_code: org.region_code.clone(),
            user_id: p.user_id.clone(),
        };
        let note = match &p.note {
            Some(n) => format!("团购「{}」：{n}", c.title),
            None => format!("团购「{}」", c.title),
        };
        let line = PricedLine { product: product.clone(), quantity: p.quantity, unit_price: price };
        let delivery = Delivery {
            address: p.delivery_address.clone(),
            contact_name: p.delivery_contact.clone(),
            phone: p.delivery_phone.clone(),
        };
        let from = FromPledge { group_buy_id: c.id.clone(), pledge_id: p.id.clone() };
        let placed = insert_order(conn, &buyer, vec![line], delivery, Some(note), Source::Pledge(from), who, ctx)?;
        if !model::mark_ordered(conn, &p.id, &placed.order.id, ctx.now)? {
            return Err(anyhow::anyhow!("pledge {} stopped being active under the campaign lock", p.id).into());
        }
        super::card::capture_for(conn, &p, &placed.order, ctx)?;
    }
    Ok(())
}

/// Every pledge released and its quantity back on sale.
fn release(conn: &mut DbConn, c: &CampaignRow, pledges: Vec<PledgeRow>, ctx: &Ctx) -> AppResult<()> {
    let mut back = 0;
    for p in &pledges {
        if !model::end_pledge(conn, &p.id, "released", ctx.now)? {
            return Err(anyhow::anyhow!("pledge {} stopped being active under the campaign lock", p.id).into());
        }
        super::card::void_for(conn, &p.id, ctx.now)?;
        back += p.quantity;
    }
    if back > 0 {
        give_back_stock(conn, &c.product_id, back, ctx.now)?;
    }
    Ok(())
}

/// The organiser calls the round off before it closes: every pledge is released.
pub fn cancel(conn: &mut DbConn, actor: &Actor, id: &str, reason: &str, ctx: &Ctx) -> AppResult<CampaignView> {
    let c = lock(conn, id, ctx)?;
    require_organiser_of(actor, &c)?;
    let reason = crate::validate::parse_name(reason, 500)
        .map_err(|m| AppError::invalid_field("validation_failed", "reason", m))?;
    let status = CampaignStatus::of(&c, ctx.now)?;
    if !matches!(status, CampaignStatus::Scheduled | CampaignStatus::Open) {
        return Err(AppError::conflict(
            "invalid_state",
            format!("the campaign is {}; it cannot be cancelled", status.as_str()),
        )
        .with("current_status", status.as_str()));
    }
    finish(conn, &c, "cancelled", None, Some(&reason), &Who::of(actor), ctx)?;
    settle_chunk(conn, &c.id, &Who::of(actor), ctx)?;
    let row = model::find(conn, &c.id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    view(conn, Some(actor), row, ctx.now)
}
