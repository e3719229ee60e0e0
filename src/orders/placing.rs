//! Placing an order: each product priced by its tiers for the quantity ordered of it, one
//! sub-order per producer, every line keeping what it was bought with, stock taken by
//! conditional updates in the same transaction. Group purchases place theirs through
//! `insert_order` too.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::json;

use super::model::{LineRow, OrderRow, SubOrderRow};
use super::state::{self, OrderStatus, SubOrderStatus};
use super::types::{Delivery, NewOrder};
use super::view::{Loaded, OrderView};
use crate::catalog::model::{self as products, ProductRow};
use crate::catalog::service::take_stock;
use crate::catalog::types::unit_price;
use crate::catalog::view::{is_on_sale, not_orderable};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{order_lines, sub_orders};
use crate::error::{AppError, AppResult};
use crate::identity::Actor;
use crate::identity::Who;
use crate::identity::model::find_orgs;
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::live::selling::Wanted;
use crate::money::Fen;
use crate::worker::job::enqueue;
use crate::worker::payloads::Notice;

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
    // At a live session's price: never above the tier price the quantity would get anyway.
    let source = match &order.live_session_id {
        None => Source::Catalogue,
        Some(session_id) => {
            let mut wanted: Vec<Wanted> = per_product
                .iter()
                .map(|(id, (quantity, line))| Wanted { product_id: id, quantity: *quantity, line: *line })
                .collect();
            wanted.sort_by_key(|w| w.product_id);
            let live = crate::live::selling::take(conn, session_id, &wanted, ctx)?;
            for (id, price) in prices.iter_mut() {
                if let Some(live_price) = live.get(*id) {
                    *price = Fen(price.0.min(*live_price));
                }
            }
            Source::Live { session_id: session_id.clone() }
        }
    };
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
    let placed =
        insert_order(conn, &Buyer::of(actor), lines, order.delivery, order.note, source, &Who::of(actor), ctx)?;
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

/// Where an order comes from: the catalogue, a group purchase's pledge, or a live session.
#[derive(Debug, Clone)]
pub enum Source {
    Catalogue,
    Pledge(FromPledge),
    Live { session_id: String },
}

impl Source {
    pub fn channel(&self) -> &'static str {
        match self {
            Source::Catalogue => "catalogue",
            Source::Pledge(_) => "group_buy",
            Source::Live { .. } => "live",
        }
    }
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
    source: Source,
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
        group_buy_id: match &source {
            Source::Pledge(p) => Some(p.group_buy_id.clone()),
            _ => None,
        },
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
        channel: source.channel().to_owned(),
        live_session_id: match &source {
            Source::Live { session_id } => Some(session_id.clone()),
            _ => None,
        },
        pledge_id: match source {
            Source::Pledge(p) => Some(p.pledge_id),
            _ => None,
        },
    };
    diesel::insert_into(crate::db::schema::orders::table).values(&row).execute(conn)?;
    crate::insert_batch!(conn, sub_orders::table, &sub_rows)?;
    crate::insert_batch!(conn, order_lines::table, &line_rows)?;
    let details = json!({
        "total_fen": row.total_fen, "lines": line_rows.len(), "sub_orders": sub_rows.len(),
        "channel": row.channel, "live_session_id": row.live_session_id,
    });
    state::record_event(conn, &row.id, None, "placed", None, Some(&row.status), who, details, ctx)?;
    enqueue(conn, &Notice::OrderPlaced { order_id: row.id.clone() }, ctx.now)?;
    Ok(Placed {
        order: row,
        sub_orders: sub_rows,
        lines: line_rows,
        producer_names: orgs.into_iter().map(|o| (o.id, o.name)).collect(),
    })
}
