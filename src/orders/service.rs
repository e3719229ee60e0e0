//! Orders: placing (priced by tiers, split per producer, stock taken at once), reading with
//! visibility, cancelling, shipping, acceptance and ratings. Money moves in `payments::service`;
//! statuses move in `state`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::model::{self, LineRow, OrderFilter, OrderRow, RatingRow, SubOrderFilter, SubOrderRow};
use super::state::{self, OrderStatus, SubOrderEvent, SubOrderStatus};
use super::types::{AcceptBody, Delivery, NewOrder, RatingBody, Shipment};
use crate::catalog::model::{self as products, ProductRow};
use crate::catalog::service::{give_back_stock, is_on_sale, reindex, take_stock};
use crate::catalog::types::unit_price;
use crate::clock::{start_of_day, utc};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{order_lines, ratings, sub_orders};
use crate::error::{AppError, AppResult, Violations, on_unique_violation};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::Who;
use crate::identity::model::{find_orgs, org_names, user_names};
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::money::Fen;
use crate::validate::optional_text;
use crate::worker::job::enqueue;
use crate::worker::payloads::Notice;

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

fn rating_view(r: RatingRow) -> RatingView {
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
struct Loaded {
    subs: Vec<SubOrderRow>,
    lines: Vec<LineRow>,
    ratings: HashMap<String, RatingRow>,
    names: HashMap<String, String>,
}

fn load(conn: &mut DbConn, orders: &[OrderRow]) -> AppResult<Loaded> {
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

    fn order_view(&self, actor: &Actor, o: OrderRow) -> AppResult<OrderView> {
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
            note: o.note,
            created_at: utc(o.created_at),
            updated_at: utc(o.updated_at),
            paid_at: o.paid_at.map(utc),
        })
    }

    fn detail(&self, order: &OrderRow, s: &SubOrderRow) -> AppResult<SubOrderDetail> {
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

/// Who the order is for: the buying organisation and the user who placed it.
#[derive(Debug, Clone)]
pub struct Buyer {
    pub org_id: String,
    pub org_path: String,
    pub region_code: String,
    pub user_id: String,
}

impl Buyer {
    pub fn of(actor: &Actor) -> Buyer {
        Buyer {
            org_id: actor.org.id.clone(),
            org_path: actor.org.path.clone(),
            region_code: actor.org.region_code.clone(),
            user_id: actor.user_id.clone(),
        }
    }
}

/// A product, a quantity and the unit price it is sold at.
pub struct PricedLine {
    pub product: ProductRow,
    pub quantity: i64,
    pub unit_price: Fen,
}

fn not_orderable(product_id: &str) -> AppError {
    AppError::conflict(
        "not_orderable",
        format!("product {product_id} is not on sale (not listed, or no valid certificate)"),
    )
    .with("product_id", product_id)
}

pub fn require_agency(actor: &Actor) -> AppResult<()> {
    if actor.org_kind == OrgKind::Agency {
        Ok(())
    } else {
        Err(AppError::forbidden("only buyer organisations (agencies) place orders"))
    }
}

/// Places an order: checks every line, prices each product by its tiers for the quantity
/// ordered of it, takes the stock (in product-id order, so concurrent orders lock alike) and
/// writes one sub-order per producer.
pub fn place(conn: &mut DbConn, actor: &Actor, order: NewOrder, ctx: &Ctx) -> AppResult<OrderView> {
    require_agency(actor)?;
    let mut ids: Vec<String> = order.lines.iter().map(|l| l.product_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let found: HashMap<String, ProductRow> =
        products::find_many(conn, &ids)?.into_iter().map(|p| (p.id.clone(), p)).collect();
    for line in &order.lines {
        match found.get(&line.product_id) {
            Some(p) if is_on_sale(p, ctx.today) => {}
            _ => return Err(not_orderable(&line.product_id)),
        }
    }
    // Quantity per product (several lines of one product count together), and where it first appears.
    let mut per_product: HashMap<&str, (i64, usize)> = HashMap::new();
    for (i, line) in order.lines.iter().enumerate() {
        let entry = per_product.entry(&line.product_id).or_insert((0, i));
        entry.0 += line.quantity;
    }
    let mut prices: HashMap<&str, Fen> = HashMap::new();
    for (id, (quantity, first)) in &per_product {
        let p = &found[*id];
        if *quantity < p.min_order_qty {
            return Err(AppError::invalid_field(
                "invalid_quantity",
                &format!("lines[{first}].quantity"),
                format!("the minimum order of {} is {} {}", p.name, p.min_order_qty, p.unit),
            )
            .with("product_id", p.id.clone())
            .with("min_order_qty", p.min_order_qty));
        }
        prices.insert(id, Fen(unit_price(p.price_fen, &p.tiers()?, *quantity)));
    }
    for id in &ids {
        take_stock(conn, id, per_product[id.as_str()].0, ctx.now)?;
    }
    let lines = order
        .lines
        .iter()
        .map(|l| PricedLine {
            product: found[&l.product_id].clone(),
            quantity: l.quantity,
            unit_price: prices[l.product_id.as_str()],
        })
        .collect();
    let placed = insert_order(conn, &Buyer::of(actor), lines, order.delivery, order.note, None, &Who::of(actor), ctx)?;
    // Everything the answer shows was just written: build it from memory, not by reading it back.
    let mut names: HashMap<String, String> = placed.producer_names;
    names.insert(actor.org.id.clone(), actor.org.name.clone());
    let loaded = Loaded { subs: placed.sub_orders, lines: placed.lines, ratings: HashMap::new(), names };
    loaded.order_view(actor, placed.order)
}

/// A freshly written order with its parts.
pub struct Placed {
    pub order: OrderRow,
    pub sub_orders: Vec<SubOrderRow>,
    pub lines: Vec<LineRow>,
    pub producer_names: HashMap<String, String>,
}

/// The group-purchase pledge an order fulfils.
#[derive(Debug, Clone)]
pub struct FromPledge {
    pub group_buy_id: String,
    pub pledge_id: String,
}

/// Writes an order whose lines are priced and whose stock is already taken: by `place`, and by
/// a group purchase turning a pledge into an order.
#[allow(clippy::too_many_arguments)]
pub fn insert_order(
    conn: &mut DbConn,
    buyer: &Buyer,
    lines: Vec<PricedLine>,
    delivery: Delivery,
    note: Option<String>,
    from_pledge: Option<FromPledge>,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<Placed> {
    let order_id = new_id("ord");
    let mut producers: Vec<String> = Vec::new();
    for l in &lines {
        if !producers.contains(&l.product.producer_id) {
            producers.push(l.product.producer_id.clone());
        }
    }
    let orgs = find_orgs(conn, &producers)?;
    let paths: HashMap<String, String> = orgs.iter().map(|o| (o.id.clone(), o.path.clone())).collect();
    let mut sub_rows = Vec::with_capacity(producers.len());
    let mut line_rows = Vec::with_capacity(lines.len());
    for producer in &producers {
        let sub_id = new_id("sub");
        let mut total = Fen::ZERO;
        for (position, l) in lines.iter().enumerate().filter(|(_, l)| &l.product.producer_id == producer) {
            let subtotal = l.unit_price.times(l.quantity)?;
            total = total.checked_add(subtotal)?;
            line_rows.push(LineRow {
                id: new_id("oln"),
                order_id: order_id.clone(),
                sub_order_id: sub_id.clone(),
                position: position as i32,
                product_id: l.product.id.clone(),
                producer_id: producer.clone(),
                product_name: l.product.name.clone(),
                spec: l.product.spec.clone(),
                unit: l.product.unit.clone(),
                category: l.product.category.clone(),
                origin_region_code: l.product.origin_region_code.clone(),
                certificate_no: l.product.certificate_no.clone().unwrap_or_default(),
                quantity: l.quantity,
                unit_price_fen: l.unit_price.0,
                subtotal_fen: subtotal.0,
            });
        }
        sub_rows.push(SubOrderRow {
            id: sub_id,
            order_id: order_id.clone(),
            producer_id: producer.clone(),
            producer_path: paths
                .get(producer)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("producer {producer} missing"))?,
            status: SubOrderStatus::PendingPayment.as_str().to_owned(),
            total_fen: total.0,
            refunded_fen: 0,
            carrier: None,
            tracking_no: None,
            invoice_no: None,
            acceptance_note: None,
            shipped_at: None,
            accepted_at: None,
            created_at: ctx.now,
            updated_at: ctx.now,
        });
    }
    line_rows.sort_by_key(|l| l.position);
    let total = Fen::sum(sub_rows.iter().map(|s| Fen(s.total_fen)))?;
    let row = OrderRow {
        id: order_id,
        buyer_org_id: buyer.org_id.clone(),
        buyer_org_path: buyer.org_path.clone(),
        buyer_region_code: buyer.region_code.clone(),
        buyer_user_id: buyer.user_id.clone(),
        group_buy_id: from_pledge.as_ref().map(|p| p.group_buy_id.clone()),
        status: OrderStatus::PendingPayment.as_str().to_owned(),
        total_fen: total.0,
        paid_fen: 0,
        refunded_fen: 0,
        delivery_address: delivery.address,
        delivery_contact: delivery.contact_name,
        delivery_phone: delivery.phone,
        note,
        created_at: ctx.now,
        updated_at: ctx.now,
        paid_at: None,
        closed_at: None,
        pledge_id: from_pledge.map(|p| p.pledge_id),
    };
    diesel::insert_into(crate::db::schema::orders::table).values(&row).execute(conn)?;
    crate::insert_batch!(conn, sub_orders::table, &sub_rows)?;
    crate::insert_batch!(conn, order_lines::table, &line_rows)?;
    let details = json!({"total_fen": row.total_fen, "lines": line_rows.len(), "sub_orders": sub_rows.len()});
    state::record_event(conn, &row.id, None, "placed", None, Some(&row.status), who, details, ctx)?;
    enqueue(conn, &Notice::OrderPlaced { order_id: row.id.clone() }, ctx.now)?;
    Ok(Placed {
        order: row,
        sub_orders: sub_rows,
        lines: line_rows,
        producer_names: orgs.into_iter().map(|o| (o.id, o.name)).collect(),
    })
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<OrderView> {
    let row = model::find_visible(conn, actor, id)?.ok_or_else(|| AppError::not_found("order"))?;
    view(conn, actor, row)
}

/// The order if `actor` sees it (404 otherwise), with its row locked for a change.
pub fn lock_visible(conn: &mut DbConn, actor: &Actor, id: &str, ctx: &Ctx) -> AppResult<OrderRow> {
    model::find_visible(conn, actor, id)?.ok_or_else(|| AppError::not_found("order"))?;
    model::lock(conn, id, ctx.now)?;
    model::find(conn, id)?.ok_or_else(|| AppError::not_found("order"))
}

/// The sub-order and its order if `actor` sees that sub-order: the buyer side sees all of an
/// order's sub-orders, a producer its own (404 otherwise).
fn visible_sub_order(conn: &mut DbConn, actor: &Actor, sub_id: &str) -> AppResult<(OrderRow, SubOrderRow)> {
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

fn check_status(status: &Option<String>, allowed: &[&str]) -> AppResult<()> {
    match status {
        Some(s) if !allowed.contains(&s.as_str()) => Err(AppError::invalid_field(
            "validation_failed",
            "status",
            format!("must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

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
    check_status(&q.status, &OrderStatus::ALL)?;
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

/// Sub-orders the caller sees, newest first: a producer's work queue.
pub fn list_sub_orders(
    conn: &mut DbConn,
    actor: &Actor,
    q: SubOrderListQuery,
    page: &PageRequest,
    ctx: &Ctx,
) -> AppResult<Page<SubOrderDetail>> {
    check_status(&q.status, &SubOrderStatus::ALL)?;
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
