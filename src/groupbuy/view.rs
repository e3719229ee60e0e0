//! What a campaign and a pledge look like to their viewers: the live total, the price reached,
//! the next tier and what it still takes, the caller's own pledge.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{self, CampaignRow, PledgeRow};
use super::status::{CampaignStatus, accepting};
use super::types::{CampaignTier, NextTier, next_tier, price_at, yuan_short};
use crate::catalog::model::{self as products, ProductRow};
use crate::clock::utc;
use crate::db::DbConn;
use crate::db::schema::products as products_table;
use crate::error::AppResult;
use crate::identity::Actor;
use crate::identity::model::org_names;
use crate::identity::types::OrgKind;
use crate::orders::types::Delivery;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PledgeView {
    pub id: String,
    pub group_buy_id: String,
    pub org_id: String,
    pub org_name: String,
    pub user_id: String,
    pub quantity: i64,
    /// `active`; then `replaced` (by a new pledge of the same organisation), `withdrawn`,
    /// `ordered` (the campaign succeeded: see `order_id`) or `released` (it failed or was cancelled).
    pub status: String,
    pub delivery: Delivery,
    pub note: Option<String>,
    pub replaces_pledge_id: Option<String>,
    pub order_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

pub(super) fn pledge_view(p: PledgeRow, names: &HashMap<String, String>) -> PledgeView {
    PledgeView {
        org_name: names.get(&p.org_id).cloned().unwrap_or_default(),
        delivery: Delivery { address: p.delivery_address, contact_name: p.delivery_contact, phone: p.delivery_phone },
        id: p.id,
        group_buy_id: p.group_buy_id,
        org_id: p.org_id,
        user_id: p.user_id,
        quantity: p.quantity,
        status: p.status,
        note: p.note,
        replaces_pledge_id: p.replaces_id,
        order_id: p.order_id,
        created_at: utc(p.created_at),
        ended_at: p.ended_at.map(utc),
    }
}

/// A campaign as its participants watch it: the total so far, the price it has reached, and
/// what the next tier takes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub organizer_org_id: String,
    pub organizer_org_name: String,
    pub product_id: String,
    pub product_name: String,
    pub unit: String,
    pub spec: String,
    pub producer_id: String,
    pub producer_name: String,
    /// The product's own price for one unit, to compare.
    pub list_price_fen: i64,
    pub tiers: Vec<CampaignTier>,
    pub min_total_qty: i64,
    pub max_total_qty: i64,
    pub min_pledge_qty: i64,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub eligible_region_code: String,
    pub status: CampaignStatus,
    /// True while pledges are taken (open, and before `closes_at`).
    pub accepting_pledges: bool,
    pub total_qty: i64,
    pub pledge_count: i32,
    /// What pledges may still add before `max_total_qty`.
    pub available_qty: i64,
    /// What the total still lacks to reach `min_total_qty` (0 once reached).
    pub qty_to_succeed: i64,
    /// The tier price the total has reached (the first tier's below it); once succeeded, the
    /// price every order was made at.
    pub current_unit_price_fen: i64,
    pub next_tier: Option<NextTier>,
    /// The state in one line, as a poster says it: `再凑 10 罐享 60 元/罐`.
    pub headline: String,
    pub final_unit_price_fen: Option<i64>,
    /// Why it failed (`min_total_not_reached`, `product_not_orderable`) or was cancelled.
    pub outcome_reason: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The caller's organisation's pledge (active, or the one that became its order).
    pub my_pledge: Option<PledgeView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn headline(c: &CampaignRow, status: CampaignStatus, unit: &str, current: i64, next: Option<NextTier>) -> String {
    let price = |fen: i64| format!("{} 元/{unit}", yuan_short(fen));
    match status {
        CampaignStatus::Scheduled => format!("即将开团，起团价 {}", price(current)),
        CampaignStatus::Open if c.total_qty < c.min_total_qty => {
            format!("还差 {} {unit}成团，当前 {}", c.min_total_qty - c.total_qty, price(current))
        }
        CampaignStatus::Open => match next {
            Some(n) if c.total_qty + n.qty_needed <= c.max_total_qty => {
                format!("再凑 {} {unit}享 {}", n.qty_needed, price(n.unit_price_fen))
            }
            _ => format!("已成团，当前 {}", price(current)),
        },
        CampaignStatus::Succeeded => format!("已成团：共 {} {unit}，{}", c.total_qty, price(current)),
        CampaignStatus::Failed => format!("未成团：共 {} {unit}，未达 {} {unit}", c.total_qty, c.min_total_qty),
        CampaignStatus::Cancelled => "已取消".to_owned(),
    }
}

/// What the views of some campaigns need, loaded in a few queries.
pub(super) struct Loaded {
    products: HashMap<String, ProductRow>,
    names: HashMap<String, String>,
    mine: HashMap<String, PledgeRow>,
}

pub(super) fn load(conn: &mut DbConn, viewer: Option<&Actor>, rows: &[CampaignRow]) -> AppResult<Loaded> {
    let ids: Vec<String> = rows.iter().map(|c| c.id.clone()).collect();
    let mine: HashMap<String, PledgeRow> = match viewer {
        Some(actor) if actor.org_kind == OrgKind::Agency => model::active_pledges_within(conn, &ids, &actor.org.path)?
            .into_iter()
            .filter(|p| p.org_id == actor.org.id)
            .map(|p| (p.group_buy_id.clone(), p))
            .collect(),
        _ => HashMap::new(),
    };
    load_with(conn, rows, mine)
}

/// What the views need when the viewer's pledges are known already (the one just made): reading
/// them back would look through every pledge of the round, each time one is made.
pub(super) fn load_with(
    conn: &mut DbConn,
    rows: &[CampaignRow],
    mine: HashMap<String, PledgeRow>,
) -> AppResult<Loaded> {
    let product_ids: Vec<String> = rows.iter().map(|c| c.product_id.clone()).collect();
    let products = products::find_many(conn, &product_ids)?.into_iter().map(|p| (p.id.clone(), p)).collect();
    let mut org_ids: Vec<String> =
        rows.iter().flat_map(|c| [c.organizer_org_id.clone(), c.producer_id.clone()]).collect();
    org_ids.extend(mine.values().map(|p| p.org_id.clone()));
    org_ids.sort_unstable();
    org_ids.dedup();
    Ok(Loaded { products, names: org_names(conn, &org_ids)?, mine })
}

/// What one campaign's view needs, in one query: its product, and the names of its organiser
/// and producer (a round's batch reads it under the round's lock, where every query waits).
pub(super) fn load_one(conn: &mut DbConn, c: &CampaignRow) -> AppResult<Loaded> {
    let name_of = |id: &str| {
        diesel::dsl::sql::<Nullable<Text>>("(SELECT name FROM organizations WHERE organizations.id = ")
            .bind::<Text, _>(id.to_owned())
            .sql(")")
    };
    let found: Option<(ProductRow, Option<String>, Option<String>)> = products_table::table
        .find(&c.product_id)
        .select((ProductRow::as_select(), name_of(&c.organizer_org_id), name_of(&c.producer_id)))
        .first(conn)
        .optional()?;
    let mut loaded = Loaded { products: HashMap::new(), names: HashMap::new(), mine: HashMap::new() };
    if let Some((product, organizer, producer)) = found {
        loaded.products.insert(product.id.clone(), product);
        let named = [(&c.organizer_org_id, organizer), (&c.producer_id, producer)];
        loaded.names.extend(named.into_iter().filter_map(|(id, name)| Some((id.clone(), name?))));
    }
    Ok(loaded)
}

impl Loaded {
    pub(super) fn product(&self, id: &str) -> Option<&ProductRow> {
        self.products.get(id)
    }

    /// Shows `pledge` as the viewer's own in its campaign's view, under `org_name`.
    pub(super) fn set_mine(&mut self, pledge: PledgeRow, org_name: &str) {
        self.names.insert(pledge.org_id.clone(), org_name.to_owned());
        self.mine.insert(pledge.group_buy_id.clone(), pledge);
    }

    pub(super) fn view(&self, c: CampaignRow, now: NaiveDateTime) -> AppResult<CampaignView> {
        let product = self
            .products
            .get(&c.product_id)
            .ok_or_else(|| anyhow::anyhow!("campaign product {} missing", c.product_id))?;
        let status = CampaignStatus::of(&c, now)?;
        let tiers = c.tiers()?;
        let current = c.final_unit_price_fen.unwrap_or_else(|| price_at(&tiers, c.total_qty));
        let live = matches!(status, CampaignStatus::Scheduled | CampaignStatus::Open);
        let next = if live { next_tier(&tiers, c.total_qty) } else { None };
        let name = |id: &str| self.names.get(id).cloned().unwrap_or_default();
        Ok(CampaignView {
            headline: headline(&c, status, &product.unit, current, next),
            accepting_pledges: accepting(&c, now)?,
            organizer_org_name: name(&c.organizer_org_id),
            producer_name: name(&c.producer_id),
            product_name: product.name.clone(),
            unit: product.unit.clone(),
            spec: product.spec.clone(),
            list_price_fen: product.price_fen,
            available_qty: if live { c.max_total_qty - c.total_qty } else { 0 },
            qty_to_succeed: (c.min_total_qty - c.total_qty).max(0),
            current_unit_price_fen: current,
            next_tier: next,
            my_pledge: self.mine.get(&c.id).cloned().map(|p| pledge_view(p, &self.names)),
            tiers,
            status,
            id: c.id,
            title: c.title,
            description: c.description,
            organizer_org_id: c.organizer_org_id,
            product_id: c.product_id,
            producer_id: c.producer_id,
            min_total_qty: c.min_total_qty,
            max_total_qty: c.max_total_qty,
            min_pledge_qty: c.min_pledge_qty,
            opens_at: utc(c.opens_at),
            closes_at: utc(c.closes_at),
            eligible_region_code: c.eligible_region_code,
            total_qty: c.total_qty,
            pledge_count: c.pledge_count,
            final_unit_price_fen: c.final_unit_price_fen,
            outcome_reason: c.outcome_reason,
            closed_at: c.closed_at.map(utc),
            created_at: utc(c.created_at),
            updated_at: utc(c.updated_at),
        })
    }
}

pub fn view(
    conn: &mut DbConn,
    viewer: Option<&Actor>,
    row: CampaignRow,
    now: NaiveDateTime,
) -> AppResult<CampaignView> {
    load(conn, viewer, std::slice::from_ref(&row))?.view(row, now)
}

/// Many campaigns at once, their names and the viewer's pledges loaded in one go each.
pub fn views(
    conn: &mut DbConn,
    viewer: Option<&Actor>,
    rows: Vec<CampaignRow>,
    now: NaiveDateTime,
) -> AppResult<Vec<CampaignView>> {
    let loaded = load(conn, viewer, &rows)?;
    rows.into_iter().map(|c| loaded.view(c, now)).collect()
}
