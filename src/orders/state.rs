//! The order state machine. Every status change of an order or a sub-order happens here, as a
//! conditional update from the status that was read, with an event row; and whatever must follow
//! a change (counting against targets) follows it here, in the same transaction.
//!
//! ```text
//! order:      pending_payment ─pay→ paid ─(all sub-orders done)→ completed
//!                   └──────cancel──────┴→ cancelled
//! sub-order:  pending_payment ─pay→ awaiting_shipment ─ship→ shipped ─accept→ accepted
//!                   └─cancel→ cancelled ←cancel─┘         └──────whole refund──────┴→ refunded
//! ```

use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::model::{EventRow, OrderRow, SubOrderRow};
use crate::accounting::ledger;
use crate::config::{CountOn, SettleOn};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{orders, sub_orders};
use crate::error::{AppError, AppResult};
use crate::identity::Who;
use crate::ids::new_id;
use crate::money::Fen;
use crate::settlement::payables;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Completed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubOrderStatus {
    PendingPayment,
    AwaitingShipment,
    Shipped,
    Accepted,
    Cancelled,
    Refunded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    Pay,
    Cancel,
    Complete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubOrderEvent {
    Pay,
    Ship,
    Accept,
    Cancel,
    RefundWhole,
}

impl OrderStatus {
    pub const ALL: [&'static str; 4] = ["pending_payment", "paid", "completed", "cancelled"];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> AppResult<Self> {
        Ok(match s {
            "pending_payment" => OrderStatus::PendingPayment,
            "paid" => OrderStatus::Paid,
            "completed" => OrderStatus::Completed,
            "cancelled" => OrderStatus::Cancelled,
            other => return Err(anyhow::anyhow!("unknown order status in database: {other}").into()),
        })
    }
    /// The only legal moves.
    pub fn after(self, event: OrderEvent) -> Option<OrderStatus> {
        use OrderEvent as E;
        use OrderStatus as S;
        match (self, event) {
            (S::PendingPayment, E::Pay) => Some(S::Paid),
            (S::PendingPayment | S::Paid, E::Cancel) => Some(S::Cancelled),
            (S::Paid, E::Complete) => Some(S::Completed),
            _ => None,
        }
    }
}

/// An order's status as the pages show it (an unknown one as a dash).
pub fn order_label(status: &str) -> &'static str {
    match status {
        "pending_payment" => "待付款",
        "paid" => "已付款",
        "completed" => "已完成",
        "cancelled" => "已取消",
        _ => "—",
    }
}

/// A sub-order's status as the pages show it.
pub fn sub_order_label(status: &str) -> &'static str {
    match status {
        "pending_payment" => "待付款",
        "awaiting_shipment" => "待发货",
        "shipped" => "已发货",
        "accepted" => "已验收",
        "cancelled" => "已取消",
        "refunded" => "已退款",
        _ => "—",
    }
}

impl SubOrderStatus {
    pub const ALL: [&'static str; 6] =
        ["pending_payment", "awaiting_shipment", "shipped", "accepted", "cancelled", "refunded"];

    pub fn as_str(self) -> &'static str {
        match self {
            SubOrderStatus::PendingPayment => "pending_payment",
            SubOrderStatus::AwaitingShipment => "awaiting_shipment",
            SubOrderStatus::Shipped => "shipped",
            SubOrderStatus::Accepted => "accepted",
            SubOrderStatus::Cancelled => "cancelled",
            SubOrderStatus::Refunded => "refunded",
        }
    }
    pub fn parse(s: &str) -> AppResult<Self> {
        Ok(match s {
            "pending_payment" => SubOrderStatus::PendingPayment,
            "awaiting_shipment" => SubOrderStatus::AwaitingShipment,
            "shipped" => SubOrderStatus::Shipped,
            "accepted" => SubOrderStatus::Accepted,
            "cancelled" => SubOrderStatus::Cancelled,
            "refunded" => SubOrderStatus::Refunded,
            other => return Err(anyhow::anyhow!("unknown sub-order status in database: {other}").into()),
        })
    }
    /// The only legal moves.
    pub fn after(self, event: SubOrderEvent) -> Option<SubOrderStatus> {
        use SubOrderEvent as E;
        use SubOrderStatus as S;
        match (self, event) {
            (S::PendingPayment, E::Pay) => Some(S::AwaitingShipment),
            (S::PendingPayment | S::AwaitingShipment, E::Cancel) => Some(S::Cancelled),
            (S::AwaitingShipment, E::Ship) => Some(S::Shipped),
            (S::Shipped, E::Accept) => Some(S::Accepted),
            (S::AwaitingShipment | S::Shipped | S::Accepted, E::RefundWhole) => Some(S::Refunded),
            _ => None,
        }
    }
    /// Nothing more will happen to the goods: the order completes when every sub-order is here.
    pub fn is_done(self) -> bool {
        matches!(self, SubOrderStatus::Accepted | SubOrderStatus::Cancelled | SubOrderStatus::Refunded)
    }
    /// Paid for, and the money not (wholly) returned: refunds may be made.
    pub fn holds_payment(self) -> bool {
        matches!(self, SubOrderStatus::AwaitingShipment | SubOrderStatus::Shipped | SubOrderStatus::Accepted)
    }
}

impl OrderEvent {
    fn name(self) -> &'static str {
        match self {
            OrderEvent::Pay => "paid",
            OrderEvent::Cancel => "cancelled",
            OrderEvent::Complete => "completed",
        }
    }
    fn verb(self) -> &'static str {
        match self {
            OrderEvent::Pay => "paid",
            OrderEvent::Cancel => "cancelled",
            OrderEvent::Complete => "completed",
        }
    }
}

impl SubOrderEvent {
    fn name(self) -> &'static str {
        match self {
            SubOrderEvent::Pay => "paid",
            SubOrderEvent::Ship => "shipped",
            SubOrderEvent::Accept => "accepted",
            SubOrderEvent::Cancel => "cancelled",
            SubOrderEvent::RefundWhole => "refunded",
        }
    }
}

pub fn invalid_state(what: &str, status: &str, action: &str) -> AppError {
    AppError::conflict("invalid_state", format!("the {what} is {status}; it cannot be {action}"))
        .with("current_status", status)
}

/// Appends one line to an order's history.
#[allow(clippy::too_many_arguments)]
pub fn record_event(
    conn: &mut DbConn,
    order_id: &str,
    sub_order_id: Option<&str>,
    action: &str,
    from: Option<&str>,
    to: Option<&str>,
    who: &Who,
    details: Value,
    ctx: &Ctx,
) -> AppResult<()> {
    let row = EventRow {
        id: new_id("oev"),
        order_id: order_id.to_owned(),
        sub_order_id: sub_order_id.map(str::to_owned),
        action: action.to_owned(),
        from_status: from.map(str::to_owned),
        to_status: to.map(str::to_owned),
        actor_user_id: who.user_id.clone(),
        actor_org_id: who.org_id.clone(),
        details: details.to_string(),
        at: ctx.now,
    };
    diesel::insert_into(crate::db::schema::order_events::table).values(&row).execute(conn)?;
    Ok(())
}

/// Moves an order; 409 `invalid_state` unless the move is legal from the status it holds now.
pub fn move_order(
    conn: &mut DbConn,
    order: &mut OrderRow,
    event: OrderEvent,
    who: &Who,
    details: Value,
    ctx: &Ctx,
) -> AppResult<()> {
    let from = OrderStatus::parse(&order.status)?;
    let to = from.after(event).ok_or_else(|| invalid_state("order", from.as_str(), event.verb()))?;
    let closed_at = matches!(to, OrderStatus::Completed | OrderStatus::Cancelled).then_some(ctx.now);
    let changed = diesel::update(orders::table.find(&order.id).filter(orders::status.eq(from.as_str())))
        .set((orders::status.eq(to.as_str()), orders::updated_at.eq(ctx.now), orders::closed_at.eq(closed_at)))
        .execute(conn)?;
    if changed != 1 {
        return Err(invalid_state("order", "changing", event.verb()));
    }
    order.status = to.as_str().to_owned();
    order.closed_at = closed_at;
    record_event(conn, &order.id, None, event.name(), Some(from.as_str()), Some(to.as_str()), who, details, ctx)
}

/// Moves a sub-order; 409 `invalid_state` unless legal. Counting follows here (see `count_if_due`).
pub fn move_sub_order(
    conn: &mut DbConn,
    order: &OrderRow,
    sub: &mut SubOrderRow,
    event: SubOrderEvent,
    who: &Who,
    details: Value,
    ctx: &Ctx,
) -> AppResult<()> {
    let from = SubOrderStatus::parse(&sub.status)?;
    let to = from.after(event).ok_or_else(|| invalid_state("sub-order", from.as_str(), event.name()))?;
    let changed = diesel::update(sub_orders::table.find(&sub.id).filter(sub_orders::status.eq(from.as_str())))
        .set((sub_orders::status.eq(to.as_str()), sub_orders::updated_at.eq(ctx.now)))
        .execute(conn)?;
    if changed != 1 {
        return Err(invalid_state("sub-order", "changing", event.name()));
    }
    sub.status = to.as_str().to_owned();
    sub.updated_at = ctx.now;
    record_event(
        conn,
        &order.id,
        Some(&sub.id),
        event.name(),
        Some(from.as_str()),
        Some(to.as_str()),
        who,
        details,
        ctx,
    )?;
    count_if_due(conn, order, sub, event, ctx)?;
    owe_if_due(conn, order, sub, event, ctx)
}

/// Where a sub-order becomes owed to its producer: when it is accepted, or, with
/// `DONGXI_SETTLE_ON=paid`, when its order is paid (see `settlement::payables`).
fn owe_if_due(
    conn: &mut DbConn,
    order: &OrderRow,
    sub: &SubOrderRow,
    event: SubOrderEvent,
    ctx: &Ctx,
) -> AppResult<()> {
    let due_at = match (ctx.settle_on, event) {
        (SettleOn::Accepted, SubOrderEvent::Accept) => ctx.now,
        (SettleOn::Paid, SubOrderEvent::Pay) => order.paid_at.unwrap_or(ctx.now),
        _ => return Ok(()),
    };
    let owed = payables::Owed {
        order_id: &order.id,
        sub_order_id: &sub.id,
        producer_id: &sub.producer_id,
        amount: Fen(sub.total_fen - sub.refunded_fen),
        due_at,
    };
    payables::owe(conn, &owed, ctx)
}

/// Where a sub-order starts to count against targets: when its order is paid (at the payment's
/// time), or, with `DONGXI_COUNT_ON=accepted`, when it is accepted.
fn count_if_due(
    conn: &mut DbConn,
    order: &OrderRow,
    sub: &SubOrderRow,
    event: SubOrderEvent,
    ctx: &Ctx,
) -> AppResult<()> {
    let counted_at = match (ctx.count_on, event) {
        (CountOn::Paid, SubOrderEvent::Pay) => order.paid_at.unwrap_or(ctx.now),
        (CountOn::Accepted, SubOrderEvent::Accept) => ctx.now,
        _ => return Ok(()),
    };
    ledger::count_sub_order(conn, &sale_of(order, sub), counted_at, ctx)
}

/// A sub-order as the ledger counts it: what was paid for it and not refunded.
pub fn sale_of<'a>(order: &'a OrderRow, sub: &'a SubOrderRow) -> ledger::Sale<'a> {
    ledger::Sale {
        order_id: &order.id,
        sub_order_id: &sub.id,
        buyer_org_id: &order.buyer_org_id,
        buyer_org_path: &order.buyer_org_path,
        buyer_region_code: &order.buyer_region_code,
        producer_id: &sub.producer_id,
        producer_path: &sub.producer_path,
        amount: Fen(sub.total_fen - sub.refunded_fen),
        channel: &order.channel,
    }
}

/// Completes a paid order once every sub-order is done.
pub fn settle(conn: &mut DbConn, order: &mut OrderRow, subs: &[SubOrderRow], who: &Who, ctx: &Ctx) -> AppResult<()> {
    if order.status != OrderStatus::Paid.as_str() {
        return Ok(());
    }
    let done = subs.iter().map(|s| SubOrderStatus::parse(&s.status)).collect::<AppResult<Vec<_>>>()?;
    if done.iter().all(|s| s.is_done()) {
        move_order(conn, order, OrderEvent::Complete, who, serde_json::json!({}), ctx)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_legal_moves_exist() {
        use SubOrderEvent as E;
        use SubOrderStatus as S;
        let all = [S::PendingPayment, S::AwaitingShipment, S::Shipped, S::Accepted, S::Cancelled, S::Refunded];
        let events = [E::Pay, E::Ship, E::Accept, E::Cancel, E::RefundWhole];
        let legal: Vec<(S, E, S)> =
            all.iter().flat_map(|s| events.iter().filter_map(move |e| s.after(*e).map(|t| (*s, *e, t)))).collect();
        assert_eq!(
            legal,
            vec![
                (S::PendingPayment, E::Pay, S::AwaitingShipment),
                (S::PendingPayment, E::Cancel, S::Cancelled),
                (S::AwaitingShipment, E::Ship, S::Shipped),
                (S::AwaitingShipment, E::Cancel, S::Cancelled),
                (S::AwaitingShipment, E::RefundWhole, S::Refunded),
                (S::Shipped, E::Accept, S::Accepted),
                (S::Shipped, E::RefundWhole, S::Refunded),
                (S::Accepted, E::RefundWhole, S::Refunded),
            ]
        );
        assert_eq!(OrderStatus::Completed.after(OrderEvent::Cancel), None);
        assert_eq!(OrderStatus::Paid.after(OrderEvent::Pay), None);
        assert_eq!(OrderStatus::Paid.after(OrderEvent::Cancel), Some(OrderStatus::Cancelled));
        for s in all {
            assert_eq!(SubOrderStatus::parse(s.as_str()).unwrap(), s);
        }
    }
}
