//! What an order looks like to each viewer: the buyer side sees the whole order, a producer its
//! own sub-orders and lines. Views are built from rows loaded in one query per table.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{self, LineRow, OrderRow, RatingRow, SubOrderRow};
use super::state::{OrderStatus, SubOrderStatus};
use super::types::Delivery;
use crate::clock::utc;
use crate::db::DbConn;
use crate::db::schema::ratings;
use crate::error::{AppError, AppResult};
use crate::identity::Actor;
use crate::identity::model::org_names;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineView {
    pub id: String,
    pub sub_order_id: String,
    pub product_id: String,
    /// Name, specification and unit as they were when the order was placed.
    pub product_name: String,
    pub spec: String,
    pub unit: String,
    pub category: String,
    pub origin_region_code: String,
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub subtotal_fen: i64,
    pub producer_id: String,
    /// The product's certificate when the order was placed.
    pub certificate_no: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SubOrderRating)]
pub struct RatingView {
    pub sub_order_id: String,
    pub stars: i32,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubOrderView {
    pub id: String,
    pub order_id: String,
    pub producer_id: String,
    pub producer_name: String,
    pub status: SubOrderStatus,
    pub total_fen: i64,
    pub refunded_fen: i64,
    pub line_ids: Vec<String>,
    pub carrier: Option<String>,
    pub tracking_no: Option<String>,
    pub invoice_no: Option<String>,
    pub acceptance_note: Option<String>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub rating: Option<RatingView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An order. A producer sees only its own sub-orders and lines, and totals over them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    pub buyer_org_id: String,
    pub buyer_org_name: String,
    pub buyer_user_id: String,
    pub group_buy_id: Option<String>,
    /// The group-purchase pledge this order fulfils.
    pub pledge_id: Option<String>,
    /// `catalogue`, `group_buy` or `live`.
    pub channel: String,
    /// The live session whose prices the order was placed at.
    pub live_session_id: Option<String>,
    pub status: OrderStatus,
    pub total_fen: i64,
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub lines: Vec<LineView>,
    pub sub_orders: Vec<SubOrderView>,
    pub delivery: Delivery,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// A sub-order with what its producer needs to ship it: the lines, the buyer and the address.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubOrderDetail {
    #[serde(flatten)]
    pub sub_order: SubOrderView,
    pub order_status: OrderStatus,
    pub buyer_org_id: String,
    pub buyer_org_name: String,
    pub group_buy_id: Option<String>,
    pub lines: Vec<LineView>,
    pub delivery: Delivery,
    pub note: Option<String>,
}

fn line_view(l: LineRow) -> LineView {
    LineView {
        id: l.id,
        sub_order_id: l.sub_order_id,
        product_id: l.product_id,
        product_name: l.product_name,
        spec: l.spec,
        unit: l.unit,
        category: l.category,
        origin_region_code: l.origin_region_code,
        quantity: l.quantity,
        unit_price_fen: l.unit_price_fen,
        subtotal_fen: l.subtotal_fen,
        producer_id: l.producer_id,
        certificate_no: l.certificate_no,
    }
}

pub(super) fn rating_view(r: RatingRow) -> RatingView {
    RatingView { sub_order_id: r.sub_order_id, stars: r.stars, comment: r.comment, created_at: utc(r.created_at) }
}

fn delivery_of(o: &OrderRow) -> Delivery {
    Delivery {
        address: o.delivery_address.clone(),
        contact_name: o.delivery_contact.clone(),
        phone: o.delivery_phone.clone(),
    }
}

/// Everything the views of some orders need, loaded in a handful of queries.
pub(super) struct Loaded {
    pub(super) subs: Vec<SubOrderRow>,
    pub(super) lines: Vec<LineRow>,
    pub(super) ratings: HashMap<String, RatingRow>,
    pub(super) names: HashMap<String, String>,
}

pub(super) fn load(conn: &mut DbConn, orders: &[OrderRow]) -> AppResult<Loaded> {
    let ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
    let subs = model::sub_orders_of(conn, &ids)?;
    let lines = model::lines_of(conn, &ids)?;
    let sub_ids: Vec<String> = subs.iter().map(|s| s.id.clone()).collect();
    let ratings = ratings::table
        .filter(ratings::sub_order_id.eq_any(&sub_ids))
        .select(RatingRow::as_select())
        .load::<RatingRow>(conn)?
        .into_iter()
        .map(|r| (r.sub_order_id.clone(), r))
        .collect();
    let mut org_ids: Vec<String> = orders.iter().map(|o| o.buyer_org_id.clone()).collect();
    org_ids.extend(subs.iter().map(|s| s.producer_id.clone()));
    org_ids.sort_unstable();
    org_ids.dedup();
    let names = org_names(conn, &org_ids)?;
    Ok(Loaded { subs, lines, ratings, names })
}

impl Loaded {
    fn sub_view(&self, s: &SubOrderRow) -> AppResult<SubOrderView> {
        Ok(SubOrderView {
            id: s.id.clone(),
            order_id: s.order_id.clone(),
            producer_id: s.producer_id.clone(),
            producer_name: self.names.get(&s.producer_id).cloned().unwrap_or_default(),
            status: SubOrderStatus::parse(&s.status)?,
            total_fen: s.total_fen,
            refunded_fen: s.refunded_fen,
            line_ids: self.lines.iter().filter(|l| l.sub_order_id == s.id).map(|l| l.id.clone()).collect(),
            carrier: s.carrier.clone(),
            tracking_no: s.tracking_no.clone(),
            invoice_no: s.invoice_no.clone(),
            acceptance_note: s.acceptance_note.clone(),
            shipped_at: s.shipped_at.map(utc),
            accepted_at: s.accepted_at.map(utc),
            rating: self.ratings.get(&s.id).cloned().map(rating_view),
            created_at: utc(s.created_at),
            updated_at: utc(s.updated_at),
        })
    }

    pub(super) fn order_view(&self, actor: &Actor, o: OrderRow) -> AppResult<OrderView> {
        let whole = model::sees_whole(actor, &o);
        let subs: Vec<&SubOrderRow> = self
            .subs
            .iter()
            .filter(|s| s.order_id == o.id && (whole || s.producer_path.starts_with(&actor.org.path)))
            .collect();
        let lines: Vec<LineView> = self
            .lines
            .iter()
            .filter(|l| l.order_id == o.id && subs.iter().any(|s| s.id == l.sub_order_id))
            .cloned()
            .map(line_view)
            .collect();
        let (total_fen, paid_fen, refunded_fen) = if whole {
            (o.total_fen, o.paid_fen, o.refunded_fen)
        } else {
            let total: i64 = subs.iter().map(|s| s.total_fen).sum();
            (total, if o.paid_fen > 0 { total } else { 0 }, subs.iter().map(|s| s.refunded_fen).sum())
        };
        Ok(OrderView {
            buyer_org_name: self.names.get(&o.buyer_org_id).cloned().unwrap_or_default(),
            status: OrderStatus::parse(&o.status)?,
            sub_orders: subs.iter().map(|s| self.sub_view(s)).collect::<AppResult<_>>()?,
            lines,
            total_fen,
            paid_fen,
            refunded_fen,
            delivery: delivery_of(&o),
            id: o.id,
            buyer_org_id: o.buyer_org_id,
            buyer_user_id: o.buyer_user_id,
            group_buy_id: o.group_buy_id,
            pledge_id: o.pledge_id,
            channel: o.channel,
            live_session_id: o.live_session_id,
            note: o.note,
            created_at: utc(o.created_at),
            updated_at: utc(o.updated_at),
            paid_at: o.paid_at.map(utc),
        })
    }

    pub(super) fn detail(&self, order: &OrderRow, s: &SubOrderRow) -> AppResult<SubOrderDetail> {
        Ok(SubOrderDetail {
            sub_order: self.sub_view(s)?,
            order_status: OrderStatus::parse(&order.status)?,
            buyer_org_id: order.buyer_org_id.clone(),
            buyer_org_name: self.names.get(&order.buyer_org_id).cloned().unwrap_or_default(),
            group_buy_id: order.group_buy_id.clone(),
            lines: self.lines.iter().filter(|l| l.sub_order_id == s.id).cloned().map(line_view).collect(),
            delivery: delivery_of(order),
            note: order.note.clone(),
        })
    }
}

pub fn views(conn: &mut DbConn, actor: &Actor, orders: Vec<OrderRow>) -> AppResult<Vec<OrderView>> {
    let loaded = load(conn, &orders)?;
    orders.into_iter().map(|o| loaded.order_view(actor, o)).collect()
}

pub fn view(conn: &mut DbConn, actor: &Actor, order: OrderRow) -> AppResult<OrderView> {
    views(conn, actor, vec![order])?.pop().ok_or_else(|| AppError::not_found("order"))
}

pub fn sub_order_detail(conn: &mut DbConn, order: &OrderRow, sub: &SubOrderRow) -> AppResult<SubOrderDetail> {
    load(conn, std::slice::from_ref(order))?.detail(order, sub)
}
