//! What happens to an order after it is placed, by the people concerned: shipment, acceptance
//! (验收) and the rating, each a move of the state machine (`state`) under the order's lock.
//! Money moves (payments, refunds, cancellation) are in `payments`.

use diesel::prelude::*;
use serde_json::json;

use super::model::{self, OrderRow, RatingRow, SubOrderRow};
use super::state::{self, SubOrderEvent, SubOrderStatus};
use super::types::{AcceptBody, RatingBody, Shipment};
use super::view::{RatingView, SubOrderDetail, rating_view, sub_order_detail};
use crate::catalog::model::{self as products};
use crate::catalog::service::{give_back_stock, reindex};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{order_lines, ratings, sub_orders};
use crate::error::{AppError, AppResult, Violations, on_unique_violation};
use crate::identity::Actor;
use crate::identity::Who;
use crate::ids::new_id;
use crate::validate::optional_text;
use crate::worker::job::enqueue;
use crate::worker::payloads::Notice;

/// The order if `actor` sees it (404 otherwise), with its row locked for a change.
pub fn lock_visible(conn: &mut DbConn, actor: &Actor, id: &str, ctx: &Ctx) -> AppResult<OrderRow> {
    model::find_visible(conn, actor, id)?.ok_or_else(|| AppError::not_found("order"))?;
    model::lock(conn, id, ctx.now)?;
    model::find(conn, id)?.ok_or_else(|| AppError::not_found("order"))
}

/// The sub-order and its order if `actor` sees that sub-order: the buyer side sees all of an
/// order's sub-orders, a producer its own (404 otherwise).
pub(super) fn visible_sub_order(conn: &mut DbConn, actor: &Actor, sub_id: &str) -> AppResult<(OrderRow, SubOrderRow)> {
    let missing = || AppError::not_found("sub-order");
    let sub = model::find_sub_order(conn, sub_id)?.ok_or_else(missing)?;
    let order = model::find_visible(conn, actor, &sub.order_id)?.ok_or_else(missing)?;
    if !(model::sees_whole(actor, &order) || sub.producer_path.starts_with(&actor.org.path)) {
        return Err(missing());
    }
    Ok((order, sub))
}

/// [`visible_sub_order`], with the order locked for a change and both read again under the lock.
pub fn lock_sub_order(conn: &mut DbConn, actor: &Actor, sub_id: &str, ctx: &Ctx) -> AppResult<(OrderRow, SubOrderRow)> {
    let missing = || AppError::not_found("sub-order");
    let (order, _) = visible_sub_order(conn, actor, sub_id)?;
    model::lock(conn, &order.id, ctx.now)?;
    let order = model::find(conn, &order.id)?.ok_or_else(missing)?;
    let sub = model::find_sub_order(conn, sub_id)?.ok_or_else(missing)?;
    Ok((order, sub))
}

pub(crate) fn require_buyer(actor: &Actor, order: &OrderRow, action: &str) -> AppResult<()> {
    if actor.org.id == order.buyer_org_id {
        Ok(())
    } else {
        Err(AppError::forbidden(format!("only the buying organisation may {action}")))
    }
}

/// Puts the goods of a sub-order that never shipped back on sale.
pub fn return_stock(conn: &mut DbConn, sub_id: &str, ctx: &Ctx) -> AppResult<()> {
    let lines: Vec<(String, i64)> = order_lines::table
        .filter(order_lines::sub_order_id.eq(sub_id))
        .select((order_lines::product_id, order_lines::quantity))
        .load(conn)?;
    for (product_id, quantity) in lines {
        give_back_stock(conn, &product_id, quantity, ctx.now)?;
    }
    Ok(())
}

pub fn ship(
    conn: &mut DbConn,
    actor: &Actor,
    sub_id: &str,
    shipment: Shipment,
    ctx: &Ctx,
) -> AppResult<SubOrderDetail> {
    let (order, mut sub) = lock_sub_order(conn, actor, sub_id, ctx)?;
    if sub.producer_id != actor.org.id {
        return Err(AppError::forbidden("only the sub-order's producer ships it"));
    }
    let details =
        json!({"carrier": shipment.carrier, "tracking_no": shipment.tracking_no, "invoice_no": shipment.invoice_no});
    state::move_sub_order(conn, &order, &mut sub, SubOrderEvent::Ship, &Who::of(actor), details, ctx)?;
    diesel::update(sub_orders::table.find(&sub.id))
        .set((
            sub_orders::carrier.eq(&shipment.carrier),
            sub_orders::tracking_no.eq(&shipment.tracking_no),
            sub_orders::invoice_no.eq(&shipment.invoice_no),
            sub_orders::shipped_at.eq(ctx.now),
        ))
        .execute(conn)?;
    enqueue(conn, &Notice::SubOrderShipped { sub_order_id: sub.id.clone() }, ctx.now)?;
    let sub = model::find_sub_order(conn, sub_id)?.ok_or_else(|| AppError::not_found("sub-order"))?;
    sub_order_detail(conn, &order, &sub)
}

pub fn accept(
    conn: &mut DbConn,
    actor: &Actor,
    sub_id: &str,
    body: AcceptBody,
    ctx: &Ctx,
) -> AppResult<SubOrderDetail> {
    let (mut order, mut sub) = lock_sub_order(conn, actor, sub_id, ctx)?;
    require_buyer(actor, &order, "accept a delivery")?;
    let mut v = Violations::new();
    let note = optional_text(&mut v, "note", body.note, 500);
    v.finish("validation_failed")?;
    let who = Who::of(actor);
    state::move_sub_order(conn, &order, &mut sub, SubOrderEvent::Accept, &who, json!({"note": note}), ctx)?;
    diesel::update(sub_orders::table.find(&sub.id))
        .set((sub_orders::accepted_at.eq(ctx.now), sub_orders::acceptance_note.eq(&note)))
        .execute(conn)?;
    let subs = model::sub_orders_of(conn, std::slice::from_ref(&order.id))?;
    state::settle(conn, &mut order, &subs, &who, ctx)?;
    let sub = model::find_sub_order(conn, sub_id)?.ok_or_else(|| AppError::not_found("sub-order"))?;
    sub_order_detail(conn, &order, &sub)
}

/// One rating per accepted sub-order; every product in it gets the stars.
pub fn rate(conn: &mut DbConn, actor: &Actor, sub_id: &str, body: RatingBody, ctx: &Ctx) -> AppResult<RatingView> {
    let (order, sub) = lock_sub_order(conn, actor, sub_id, ctx)?;
    require_buyer(actor, &order, "rate a delivery")?;
    let mut v = Violations::new();
    v.check((1..=5).contains(&body.stars), "stars", "must be 1 to 5");
    let comment = optional_text(&mut v, "comment", body.comment, 500);
    v.finish("validation_failed")?;
    let already = || AppError::conflict("already_rated", "this sub-order has been rated");
    if model::rating_of(conn, sub_id)?.is_some() {
        return Err(already());
    }
    let status = SubOrderStatus::parse(&sub.status)?;
    if status != SubOrderStatus::Accepted {
        return Err(AppError::conflict(
            "invalid_state",
            format!("the sub-order is {}; it can be rated once accepted", status.as_str()),
        )
        .with("current_status", status.as_str()));
    }
    let row = RatingRow {
        id: new_id("rat"),
        sub_order_id: sub.id.clone(),
        buyer_org_id: order.buyer_org_id.clone(),
        user_id: actor.user_id.clone(),
        stars: body.stars,
        comment,
        created_at: ctx.now,
    };
    diesel::insert_into(ratings::table).values(&row).execute(conn).map_err(|e| on_unique_violation(e, already))?;
    let mut product_ids: Vec<String> =
        order_lines::table.filter(order_lines::sub_order_id.eq(&sub.id)).select(order_lines::product_id).load(conn)?;
    product_ids.sort_unstable();
    product_ids.dedup();
    for id in &product_ids {
        products::add_rating(conn, id, i64::from(body.stars))?;
        reindex(conn, id, ctx.now)?;
    }
    let details = json!({"stars": row.stars, "comment": row.comment});
    state::record_event(conn, &order.id, Some(&sub.id), "rated", None, None, &Who::of(actor), details, ctx)?;
    Ok(rating_view(row))
}
