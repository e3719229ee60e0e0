//! Reading orders: one order, the lists (newest first, by status and by date in the
//! deployment's zone), a producer's sub-orders, an order's history.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lifecycle::visible_sub_order;
use super::model::{self, OrderFilter, OrderRow, SubOrderFilter};
use super::state::{OrderStatus, SubOrderStatus};
use super::view::{OrderView, SubOrderDetail, load, sub_order_detail, view, views};
use crate::clock::{start_of_day, utc};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::model::user_names;
use crate::validate::one_of;

pub fn get(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<OrderView> {
    let row = model::find_visible(conn, actor, id)?.ok_or_else(|| AppError::not_found("order"))?;
    view(conn, actor, row)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// `pending_payment`, `paid`, `completed` or `cancelled`.
    pub status: Option<String>,
    pub buyer_org_id: Option<String>,
    pub group_buy_id: Option<String>,
    /// Placed on or after this day (in the deployment's zone).
    pub created_from: Option<NaiveDate>,
    /// Placed on or before this day (in the deployment's zone).
    pub created_to: Option<NaiveDate>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(OrderListQuery);

/// A date range in the deployment's zone, as [from, before) instants.
fn day_range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    ctx: &Ctx,
) -> AppResult<(Option<NaiveDateTime>, Option<NaiveDateTime>)> {
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(AppError::invalid_field("validation_failed", "created_to", "must not be before created_from"));
    }
    let before = match to {
        Some(t) => Some(start_of_day(
            t.succ_opt().ok_or_else(|| AppError::invalid_field("validation_failed", "created_to", "out of range"))?,
            ctx.zone,
        )),
        None => None,
    };
    Ok((from.map(|f| start_of_day(f, ctx.zone)), before))
}

/// Orders the caller sees, newest first.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    q: OrderListQuery,
    page: &PageRequest,
    ctx: &Ctx,
) -> AppResult<Page<OrderView>> {
    one_of("status", q.status.as_deref(), &OrderStatus::ALL)?;
    let (created_from, created_before) = day_range(q.created_from, q.created_to, ctx)?;
    let filter = OrderFilter {
        status: q.status,
        buyer_org_id: q.buyer_org_id,
        group_buy_id: q.group_buy_id,
        created_from,
        created_before,
        before_id: page.after.clone(),
    };
    let rows = model::list_visible(conn, actor, filter, page.limit + 1)?;
    let page = Page::from_rows(rows, page, |o| o.id.clone(), |o| o);
    Ok(Page { items: views(conn, actor, page.items)?, next_cursor: page.next_cursor })
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubOrderListQuery {
    /// `pending_payment`, `awaiting_shipment`, `shipped`, `accepted`, `cancelled` or `refunded`.
    pub status: Option<String>,
    pub created_from: Option<NaiveDate>,
    pub created_to: Option<NaiveDate>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(SubOrderListQuery);

/// Sub-orders the caller sees, newest first: a producer's work queue.
pub fn list_sub_orders(
    conn: &mut DbConn,
    actor: &Actor,
    q: SubOrderListQuery,
    page: &PageRequest,
    ctx: &Ctx,
) -> AppResult<Page<SubOrderDetail>> {
    one_of("status", q.status.as_deref(), &SubOrderStatus::ALL)?;
    let (created_from, created_before) = day_range(q.created_from, q.created_to, ctx)?;
    let filter = SubOrderFilter { status: q.status, created_from, created_before, before_id: page.after.clone() };
    let rows = model::list_sub_orders(conn, actor, filter, page.limit + 1)?;
    let page = Page::from_rows(rows, page, |s| s.id.clone(), |s| s);
    let mut order_ids: Vec<String> = page.items.iter().map(|s| s.order_id.clone()).collect();
    order_ids.sort_unstable();
    order_ids.dedup();
    let orders: Vec<OrderRow> =
        order_ids.iter().filter_map(|id| model::find(conn, id).transpose()).collect::<AppResult<_>>()?;
    let loaded = load(conn, &orders)?;
    let mut items = Vec::with_capacity(page.items.len());
    for sub in &page.items {
        let order = orders.iter().find(|o| o.id == sub.order_id).ok_or_else(|| AppError::not_found("order"))?;
        items.push(loaded.detail(order, sub)?);
    }
    Ok(Page { items, next_cursor: page.next_cursor })
}

pub fn get_sub_order(conn: &mut DbConn, actor: &Actor, sub_id: &str) -> AppResult<SubOrderDetail> {
    let (order, sub) = visible_sub_order(conn, actor, sub_id)?;
    sub_order_detail(conn, &order, &sub)
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderEventView)]
pub struct EventView {
    pub id: String,
    pub order_id: String,
    pub sub_order_id: Option<String>,
    /// `placed`, `paid`, `shipped`, `accepted`, `rated`, `refund`, `refunded`, `cancelled`, `completed` …
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    /// Null when the system acted (a payment confirmation, the worker).
    pub actor_user_id: Option<String>,
    pub actor_name: Option<String>,
    pub actor_org_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// The history of an order: who did what, when. A producer sees the order's own events and those of its sub-orders.
pub fn events(conn: &mut DbConn, actor: &Actor, order_id: &str, page: &PageRequest) -> AppResult<Page<EventView>> {
    let order = model::find_visible(conn, actor, order_id)?.ok_or_else(|| AppError::not_found("order"))?;
    let own: Option<Vec<String>> = if model::sees_whole(actor, &order) {
        None
    } else {
        Some(
            model::sub_orders_of(conn, std::slice::from_ref(&order.id))?
                .into_iter()
                .filter(|s| s.producer_path.starts_with(&actor.org.path))
                .map(|s| s.id)
                .collect(),
        )
    };
    let rows = model::events_of(conn, order_id, own.as_deref(), page.after.as_deref(), page.limit + 1)?;
    let page = Page::from_rows(rows, page, |e| e.id.clone(), |e| e);
    let user_ids: Vec<String> = page.items.iter().filter_map(|e| e.actor_user_id.clone()).collect();
    let names = user_names(conn, &user_ids)?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|e| EventView {
                actor_name: e.actor_user_id.as_ref().and_then(|u| names.get(u).cloned()),
                details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
                id: e.id,
                order_id: e.order_id,
                sub_order_id: e.sub_order_id,
                action: e.action,
                from_status: e.from_status,
                to_status: e.to_status,
                actor_user_id: e.actor_user_id,
                actor_org_id: e.actor_org_id,
                at: utc(e.at),
            })
            .collect(),
        next_cursor: page.next_cursor,
    })
}
