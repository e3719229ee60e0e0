use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::db::schema::{order_events, order_lines, orders, ratings, sub_orders};
use crate::db::{DbConn, MultiBackend, prefix_pattern};
use crate::error::AppResult;
use crate::identity::Actor;
use crate::identity::types::OrgKind;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orders)]
pub struct OrderRow {
    pub id: String,
    pub buyer_org_id: String,
    pub buyer_org_path: String,
    pub buyer_region_code: String,
    pub buyer_user_id: String,
    pub group_buy_id: Option<String>,
    pub status: String,
    pub total_fen: i64,
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub delivery_address: String,
    pub delivery_contact: String,
    pub delivery_phone: String,
    pub note: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub pledge_id: Option<String>,
    /// `catalogue`, `group_buy` or `live`.
    pub channel: String,
    pub live_session_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sub_orders)]
pub struct SubOrderRow {
    pub id: String,
    pub order_id: String,
    pub producer_id: String,
    pub producer_path: String,
    pub status: String,
    pub total_fen: i64,
    pub refunded_fen: i64,
    pub carrier: Option<String>,
    pub tracking_no: Option<String>,
    pub invoice_no: Option<String>,
    pub acceptance_note: Option<String>,
    pub shipped_at: Option<NaiveDateTime>,
    pub accepted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_lines)]
pub struct LineRow {
    pub id: String,
    pub order_id: String,
    pub sub_order_id: String,
    pub position: i32,
    pub product_id: String,
    pub producer_id: String,
    pub product_name: String,
    pub spec: String,
    pub unit: String,
    pub category: String,
    pub origin_region_code: String,
    pub certificate_no: String,
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub subtotal_fen: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_events)]
pub struct EventRow {
    pub id: String,
    pub order_id: String,
    pub sub_order_id: Option<String>,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub actor_user_id: Option<String>,
    pub actor_org_id: Option<String>,
    pub details: String,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ratings)]
pub struct RatingRow {
    pub id: String,
    pub sub_order_id: String,
    pub buyer_org_id: String,
    pub user_id: String,
    pub stars: i32,
    pub comment: Option<String>,
    pub created_at: NaiveDateTime,
}

type OrderCondition = Box<dyn BoxableExpression<orders::table, MultiBackend, SqlType = Bool>>;

/// The orders `actor` may see, as one SQL condition (`None`: all of them): the buyer
/// organisation and those supervising it, and producers holding a sub-order.
pub fn visible(actor: &Actor) -> Option<OrderCondition> {
    if actor.org_kind == OrgKind::Platform {
        return None;
    }
    let prefix = prefix_pattern(&actor.org.path);
    let as_producer = diesel::dsl::exists(
        sub_orders::table
            .filter(sub_orders::order_id.eq(orders::id))
            .filter(sub_orders::producer_path.like(prefix.clone()).escape('\\')),
    );
    Some(Box::new(orders::buyer_org_path.like(prefix).escape('\\').or(as_producer)))
}

/// True when `actor` sees the whole order (platform, buyer side), not only its own sub-orders.
pub fn sees_whole(actor: &Actor, order: &OrderRow) -> bool {
    actor.org_kind == OrgKind::Platform || order.buyer_org_path.starts_with(&actor.org.path)
}

pub fn find_visible(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<Option<OrderRow>> {
    let mut query = orders::table.filter(orders::id.eq(id.to_owned())).select(OrderRow::as_select()).into_boxed();
    if let Some(cond) = visible(actor) {
        query = query.filter(cond);
    }
    Ok(query.first(conn).optional()?)
}

pub fn find(conn: &mut DbConn, id: &str) -> AppResult<Option<OrderRow>> {
    Ok(orders::table.find(id).select(OrderRow::as_select()).first(conn).optional()?)
}

/// Takes the order's row lock (PostgreSQL) so that concurrent changes to one order queue up;
/// returns false when there is no such order.
pub fn lock(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> AppResult<bool> {
    Ok(diesel::update(orders::table.find(id)).set(orders::updated_at.eq(now)).execute(conn)? == 1)
}

pub fn sub_orders_of(conn: &mut DbConn, order_ids: &[String]) -> AppResult<Vec<SubOrderRow>> {
    Ok(sub_orders::table
        .filter(sub_orders::order_id.eq_any(order_ids))
        .select(SubOrderRow::as_select())
        .order(sub_orders::id.asc())
        .load(conn)?)
}

pub fn lines_of(conn: &mut DbConn, order_ids: &[String]) -> AppResult<Vec<LineRow>> {
    Ok(order_lines::table
        .filter(order_lines::order_id.eq_any(order_ids))
        .select(LineRow::as_select())
        .order((order_lines::order_id.asc(), order_lines::position.asc()))
        .load(conn)?)
}

pub fn find_sub_order(conn: &mut DbConn, id: &str) -> AppResult<Option<SubOrderRow>> {
    Ok(sub_orders::table.find(id).select(SubOrderRow::as_select()).first(conn).optional()?)
}

pub fn rating_of(conn: &mut DbConn, sub_order_id: &str) -> AppResult<Option<RatingRow>> {
    Ok(ratings::table
        .filter(ratings::sub_order_id.eq(sub_order_id))
        .select(RatingRow::as_select())
        .first(conn)
        .optional()?)
}

#[derive(Debug, Default)]
pub struct OrderFilter {
    pub status: Option<String>,
    pub buyer_org_id: Option<String>,
    pub group_buy_id: Option<String>,
    pub created_from: Option<NaiveDateTime>,
    pub created_before: Option<NaiveDateTime>,
    /// Newest first: only ids below this one.
    pub before_id: Option<String>,
}

pub fn list_visible(conn: &mut DbConn, actor: &Actor, f: OrderFilter, limit: i64) -> AppResult<Vec<OrderRow>> {
    let mut query = orders::table.select(OrderRow::as_select()).order(orders::id.desc()).limit(limit).into_boxed();
    if let Some(cond) = visible(actor) {
        query = query.filter(cond);
    }
    if let Some(v) = f.status {
        query = query.filter(orders::status.eq(v));
    }
    if let Some(v) = f.buyer_org_id {
        query = query.filter(orders::buyer_org_id.eq(v));
    }
    if let Some(v) = f.group_buy_id {
        query = query.filter(orders::group_buy_id.eq(v));
    }
    if let Some(v) = f.created_from {
        query = query.filter(orders::created_at.ge(v));
    }
    if let Some(v) = f.created_before {
        query = query.filter(orders::created_at.lt(v));
    }
    if let Some(v) = f.before_id {
        query = query.filter(orders::id.lt(v));
    }
    Ok(query.load(conn)?)
}

#[derive(Debug, Default)]
pub struct SubOrderFilter {
    pub status: Option<String>,
    pub created_from: Option<NaiveDateTime>,
    pub created_before: Option<NaiveDateTime>,
    pub before_id: Option<String>,
}

/// Sub-orders `actor` may see: its own as a producer, those of its orders as a buyer, all for the platform.
pub fn list_sub_orders(conn: &mut DbConn, actor: &Actor, f: SubOrderFilter, limit: i64) -> AppResult<Vec<SubOrderRow>> {
    let mut query = sub_orders::table
        .inner_join(orders::table)
        .select(SubOrderRow::as_select())
        .order(sub_orders::id.desc())
        .limit(limit)
        .into_boxed();
    if actor.org_kind != OrgKind::Platform {
        let prefix = prefix_pattern(&actor.org.path);
        query = query.filter(
            sub_orders::producer_path
                .like(prefix.clone())
                .escape('\\')
                .or(orders::buyer_org_path.like(prefix).escape('\\')),
        );
    }
    if let Some(v) = f.status {
        query = query.filter(sub_orders::status.eq(v));
    }
    if let Some(v) = f.created_from {
        query = query.filter(sub_orders::created_at.ge(v));
    }
    if let Some(v) = f.created_before {
        query = query.filter(sub_orders::created_at.lt(v));
    }
    if let Some(v) = f.before_id {
        query = query.filter(sub_orders::id.lt(v));
    }
    Ok(query.load(conn)?)
}

pub fn events_of(
    conn: &mut DbConn,
    order_id: &str,
    only_sub_orders: Option<&[String]>,
    after: Option<&str>,
    limit: i64,
) -> AppResult<Vec<EventRow>> {
    let mut query = order_events::table
        .filter(order_events::order_id.eq(order_id.to_owned()))
        .select(EventRow::as_select())
        .order(order_events::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(subs) = only_sub_orders {
        query = query.filter(order_events::sub_order_id.is_null().or(order_events::sub_order_id.eq_any(subs.to_vec())));
    }
    if let Some(after) = after {
        query = query.filter(order_events::id.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}
