//! A session as the API and the live page show it: its state now, each pinned product with the
//! units and amount sold at the live price (orders not cancelled), the cap left, and the totals.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{ItemRow, SessionRow};
use crate::clock::utc;
use crate::db::DbConn;
use crate::db::schema::{live_items as li, orders as o, products as p};
use crate::db::sql::Bind;
use crate::error::AppResult;
use crate::identity::model::org_names;

#[derive(QueryableByName)]
struct Sold {
    #[diesel(sql_type = diesel::sql_types::Text)]
    product_id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    units: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    amount: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    orders: i64,
}

/// How often a live view asks again, in seconds, while the session is on.
pub const POLL_SECONDS: u32 = 5;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveItemView {
    pub product_id: String,
    pub name: String,
    pub spec: String,
    pub unit: String,
    /// The catalogue price of one unit, now.
    pub catalogue_price_fen: i64,
    pub live_price_fen: i64,
    pub stock_cap: Option<i64>,
    /// Units the cap has left (null without a cap).
    pub remaining: Option<i64>,
    /// Units sold at the live price, in orders not cancelled.
    pub units: i64,
    /// Their amount.
    pub amount_fen: i64,
    pub orders: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub organizer_org_id: String,
    pub organizer_name: String,
    pub title: String,
    pub host: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `scheduled`, `live`, `ended` or `cancelled`, as of now.
    pub status: String,
    /// When the worker closed the session (its summary is final from then).
    pub ended_at: Option<DateTime<Utc>>,
    pub items: Vec<LiveItemView>,
    pub units: i64,
    pub amount_fen: i64,
    pub orders: i64,
    pub buyers: i64,
    /// While the session is on: ask again after this many seconds.
    pub poll_after_seconds: Option<u32>,
    /// Frozen as the worker ended the session: what it had sold then.
    pub summary: Option<LiveSummary>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveSummary {
    pub units: i64,
    pub amount_fen: i64,
    pub orders: i64,
}

/// The state a session is in at `now`: the stored end or cancellation, else its window.
pub fn status_at(s: &SessionRow, now: NaiveDateTime) -> &'static str {
    match s.status.as_str() {
        "cancelled" => "cancelled",
        "ended" => "ended",
        _ if now < s.starts_at => "scheduled",
        _ if now < s.ends_at => "live",
        _ => "ended",
    }
}

/// Units, amount and orders per product sold at the session's price, in orders not cancelled.
pub fn sold(conn: &mut DbConn, session_id: &str) -> AppResult<HashMap<String, (i64, i64, i64)>> {
    Ok(crate::db::sql::query::<Sold>(
        conn,
        "SELECT l.product_id AS product_id, CAST(SUM(l.quantity) AS BIGINT) AS units, \
         CAST(SUM(l.subtotal_fen) AS BIGINT) AS amount, CAST(COUNT(DISTINCT l.order_id) AS BIGINT) AS orders \
         FROM order_lines l JOIN orders o ON o.id = l.order_id \
         WHERE o.live_session_id = ? AND o.status <> 'cancelled' GROUP BY l.product_id",
        &[Bind::Text(session_id.to_owned())],
    )?
    .into_iter()
    .map(|r| (r.product_id, (r.units, r.amount, r.orders)))
    .collect())
}

/// (orders, buying organisations) at the session's price, not cancelled.
pub fn order_count(conn: &mut DbConn, session_id: &str) -> AppResult<(i64, i64)> {
    Ok(o::table
        .filter(o::live_session_id.eq(session_id))
        .filter(o::status.ne("cancelled"))
        .select((diesel::dsl::count_star(), diesel::dsl::count(o::buyer_org_id).aggregate_distinct()))
        .first(conn)?)
}

pub fn view(conn: &mut DbConn, s: SessionRow, now: NaiveDateTime) -> AppResult<SessionView> {
    let items: Vec<(ItemRow, (String, String, String, i64))> = li::table
        .inner_join(p::table)
        .filter(li::session_id.eq(&s.id))
        .order(li::position.asc())
        .select((ItemRow::as_select(), (p::name, p::spec, p::unit, p::price_fen)))
        .load(conn)?;
    let sold = sold(conn, &s.id)?;
    let (orders, buyers) = order_count(conn, &s.id)?;
    let items: Vec<LiveItemView> = items
        .into_iter()
        .map(|(i, (name, spec, unit, price))| {
            let (units, amount_fen, orders) = sold.get(&i.product_id).copied().unwrap_or_default();
            LiveItemView {
                remaining: i.stock_cap.map(|c| (c - i.sold_qty).max(0)),
                product_id: i.product_id,
                name,
                spec,
                unit,
                catalogue_price_fen: price,
                live_price_fen: i.live_price_fen,
                stock_cap: i.stock_cap,
                units,
                amount_fen,
                orders,
            }
        })
        .collect();
    let status = status_at(&s, now);
    let organizer_name =
        org_names(conn, std::slice::from_ref(&s.organizer_org_id))?.remove(&s.organizer_org_id).unwrap_or_default();
    Ok(SessionView {
        units: items.iter().map(|i| i.units).sum(),
        amount_fen: items.iter().map(|i| i.amount_fen).sum(),
        orders,
        buyers,
        poll_after_seconds: (status == "live" || status == "scheduled").then_some(POLL_SECONDS),
        items,
        id: s.id,
        organizer_org_id: s.organizer_org_id,
        organizer_name,
        title: s.title,
        host: s.host,
        starts_at: utc(s.starts_at),
        ends_at: utc(s.ends_at),
        status: status.to_owned(),
        ended_at: s.ended_at.map(utc),
        summary: match (s.final_units, s.final_amount_fen, s.final_orders) {
            (Some(units), Some(amount_fen), Some(orders)) => Some(LiveSummary { units, amount_fen, orders }),
            _ => None,
        },
    })
}
