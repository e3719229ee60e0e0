//! Cancelling an order before anything shipped: the order and its sub-orders move to
//! `cancelled` (orders' state machine), their goods go back on sale, and what was paid goes back
//! through the one refund path. It lives in payments because money moves: payments calls orders,
//! never the reverse.

use crate::orders::lifecycle;
use crate::orders::view;
use serde_json::json;

use super::service::record_refund;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::identity::{Actor, Who};
use crate::money::Fen;
use crate::orders::model as order_model;
use crate::orders::state::{self, OrderEvent, OrderStatus, SubOrderEvent, SubOrderStatus, invalid_state};
use crate::orders::view::OrderView;

/// The buyer cancels before anything shipped: stock goes back and whatever was paid is refunded.
pub fn cancel(conn: &mut DbConn, actor: &Actor, id: &str, ctx: &Ctx) -> AppResult<OrderView> {
    let mut order = lifecycle::lock_visible(conn, actor, id, ctx)?;
    lifecycle::require_buyer(actor, &order, "cancel the order")?;
    let status = OrderStatus::parse(&order.status)?;
    if status.after(OrderEvent::Cancel).is_none() {
        return Err(invalid_state("order", status.as_str(), "cancelled"));
    }
    let mut subs = order_model::sub_orders_of(conn, std::slice::from_ref(&order.id))?;
    for s in &subs {
        if matches!(SubOrderStatus::parse(&s.status)?, SubOrderStatus::Shipped | SubOrderStatus::Accepted) {
            return Err(AppError::conflict(
                "invalid_state",
                format!("sub-order {} has shipped; the order can no longer be cancelled", s.id),
            )
            .with("current_status", s.status.clone())
            .with("sub_order_id", s.id.clone()));
        }
    }
    let who = Who::of(actor);
    state::move_order(conn, &mut order, OrderEvent::Cancel, &who, json!({}), ctx)?;
    for sub in subs.iter_mut() {
        let before = SubOrderStatus::parse(&sub.status)?;
        if before.after(SubOrderEvent::Cancel).is_none() {
            continue;
        }
        state::move_sub_order(conn, &order, sub, SubOrderEvent::Cancel, &who, json!({}), ctx)?;
        lifecycle::return_stock(conn, &sub.id, ctx)?;
        let remaining = Fen(sub.total_fen - sub.refunded_fen);
        if before.holds_payment() && remaining.is_positive() {
            record_refund(conn, &mut order, sub, remaining, "订单取消", &who, ctx)?;
        }
    }
    view::view(conn, actor, order)
}
