//! Group purchases: campaigns, pledges and the close. Every change to a campaign or its pledges
//! first takes the campaign's row lock, then checks under it and moves the totals by conditional
//! updates; the close writes the outcome once (only a live campaign moves), so any number of
//! closes by any number of workers and servers make each pledge's order exactly once.
//!
//! ```text
//! scheduled ─(opens_at)→ open ─(closes_at or the organiser)→ succeeded   every pledge → one order
//!     │                    │                                └→ failed      every pledge released
//!     └──────────────(the organiser)──────────────────────────→ cancelled   every pledge released
//! ```

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, CampaignFilter, CampaignRow, PledgeRow};
use super::types::{CampaignTier, NewCampaign, NewPledge, NextTier, next_tier, price_at, yuan_short};
use crate::catalog::model::{self as products, ProductRow};
use crate::catalog::service::{give_back_stock, is_on_sale, take_stock};
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::Who;
use crate::identity::model::{find_orgs, org_names};
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::money::Fen;
use crate::orders::service::{Buyer, FromPledge, PricedLine, insert_order, require_agency};
use crate::orders::types::Delivery;
use crate::worker::job::enqueue;
use crate::worker::payloads::Notice;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Scheduled,
    Open,
    Succeeded,
    Failed,
    Cancelled,
}

impl CampaignStatus {
    pub const ALL: [&'static str; 5] = ["scheduled", "open", "succeeded", "failed", "cancelled"];

    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Open => "open",
            CampaignStatus::Succeeded => "succeeded",
            CampaignStatus::Failed => "failed",
            CampaignStatus::Cancelled => "cancelled",
        }
    }

    /// The status at `now`: a stored `scheduled` or `open` depends on the time, so a reader never
    /// waits for the worker to notice that `opens_at` has come.
    pub fn of(row: &CampaignRow, now: NaiveDateTime) -> AppResult<CampaignStatus> {
        Ok(match row.status.as_str() {
            "scheduled" | "open" if now < row.opens_at => CampaignStatus::Scheduled,
            "scheduled" | "open" => CampaignStatus::Open,
            "succeeded" => CampaignStatus::Succeeded,
            "failed" => CampaignStatus::Failed,
            "cancelled" => CampaignStatus::Cancelled,
            other => return Err(anyhow::anyhow!("unknown campaign status in database: {other}").into()),
        })
    }
}

/// Pledges are taken from `opens_at` until `closes_at` (even if the worker has not closed it yet).
pub(super) fn accepting(row: &CampaignRow, now: NaiveDateTime) -> AppResult<bool> {
    Ok(CampaignStatus::of(row, now)? == CampaignStatus::Open && now < row.closes_at)
}

pub(super) fn not_open(row: &CampaignRow, now: NaiveDateTime) -> AppResult<AppError> {
    let status = CampaignStatus::of(row, now)?;
    let detail = match status {
        CampaignStatus::Scheduled => format!("the campaign opens at {}", utc(row.opens_at).to_rfc3339()),
        CampaignStatus::Open => format!("the campaign closed for pledges at {}", utc(row.closes_at).to_rfc3339()),
        other => format!("the campaign is {}", other.as_str()),
    };
    Ok(AppError::conflict("campaign_not_open", detail)
        .with("current_status", status.as_str())
        .with("opens_at", utc(row.opens_at).to_rfc3339())
        .with("closes_at", utc(row.closes_at).to_rfc3339()))
}

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

fn pledge_view(p: PledgeRow, names: &HashMap<String, String>) -> PledgeView {
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
struct Loaded {
    products: HashMap<String, ProductRow>,
    names: HashMap<String, String>,
    mine: HashMap<String, PledgeRow>,
}

fn load(conn: &mut DbConn, viewer: Option<&Actor>, rows: &[CampaignRow]) -> AppResult<Loaded> {
    let ids: Vec<String> = rows.iter().map(|c| c.id.clone()).collect();
    let product_ids: Vec<String> = rows.iter().map(|c| c.product_id.clone()).collect();
    let products = products::find_many(conn, &product_ids)?.into_iter().map(|p| (p.id.clone(), p)).collect();
    let mine: HashMap<String, PledgeRow> = match viewer {
        Some(actor) if actor.org_kind == OrgKind::Agency => model::active_pledges_within(conn, &ids, &actor.org.path)?
            .into_iter()
            .filter(|p| p.org_id == actor.org.id)
            .map(|p| (p.group_buy_id.clone(), p))
            .collect(),
        _ => HashMap::new(),
    };
    let mut org_ids: Vec<String> =
        rows.iter().flat_map(|c| [c.organizer_org_id.clone(), c.producer_id.clone()]).collect();
    org_ids.extend(mine.values().map(|p| p.org_id.clone()));
    org_ids.sort_unstable();
    org_ids.dedup();
    Ok(Loaded { products, names: org_names(conn, &org_ids)?, mine })
}

impl Loaded {
    fn view(&self, c: CampaignRow, now: NaiveDateTime) -> AppResult<CampaignView> {
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

/// A notice of a campaign's life (`opened`, `closing_soon`, `succeeded`, `failed`, `cancelled`)
/// for the mail worker: event `group_buy.<what>`.
pub(super) fn notify(conn: &mut DbConn, campaign_id: &str, what: &str, now: NaiveDateTime) -> AppResult<()> {
    enqueue(conn, &Notice::group_buy(what, campaign_id)?, now)
}

fn not_orderable(product_id: &str) -> AppError {
    AppError::conflict(
        "not_orderable",
        format!("product {product_id} is not on sale (not listed, or no valid certificate)"),
    )
    .with("product_id", product_id)
}

/// Coordinators' and agencies' administrators organise rounds for buyers inside their region;
/// platform administrators anywhere.
fn require_organiser_role(actor: &Actor, eligible_path: &str) -> AppResult<()> {
    if actor.is_platform_admin() {
        return Ok(());
    }
    if !(actor.is_admin() && matches!(actor.org_kind, OrgKind::Coordinator | OrgKind::Agency)) {
        return Err(AppError::forbidden("only coordinator or agency administrators organise group purchases"));
    }
    if !actor.region_contains(eligible_path) {
        return Err(AppError::forbidden("the eligible region must lie inside your organisation's region"));
    }
    Ok(())
}

/// The campaign's own organiser (its organisation's administrators) or a platform administrator.
fn require_organiser_of(actor: &Actor, c: &CampaignRow) -> AppResult<()> {
    if actor.is_platform_admin() || (actor.is_admin() && actor.org.id == c.organizer_org_id) {
        Ok(())
    } else {
        Err(AppError::forbidden("only the campaign's organiser may do this"))
    }
}

pub fn create(conn: &mut DbConn, actor: &Actor, new: NewCampaign, ctx: &Ctx) -> AppResult<CampaignView> {
    let region = crate::regions::model::find(conn, &new.eligible_region_code)?.ok_or_else(|| {
        AppError::invalid_field("unknown_region", "eligible_region_code", "is not a known region code")
    })?;
    require_organiser_role(actor, &region.path)?;
    let product = products::find(conn, &new.product_id)?
        .filter(|p| is_on_sale(p, ctx.today))
        .ok_or_else(|| not_orderable(&new.product_id))?;
    if let Some(first) = new.tiers.first()
        && first.unit_price_fen > product.price_fen
    {
        return Err(AppError::invalid_field(
            "validation_failed",
            "tiers[0].unit_price_fen",
            format!("must not be above the product's own price ({} fen)", product.price_fen),
        ));
    }
    let opens_now = new.opens_at <= ctx.now;
    let row = CampaignRow {
        id: new_id("gb"),
        title: new.title,
        description: new.description,
        organizer_org_id: actor.org.id.clone(),
        organizer_user_id: actor.user_id.clone(),
        product_id: product.id.clone(),
        producer_id: product.producer_id.clone(),
        tiers: serde_json::to_string(&new.tiers).map_err(|e| anyhow::anyhow!("tiers: {e}"))?,
        min_total_qty: new.min_total_qty,
        max_total_qty: new.max_total_qty,
        min_pledge_qty: new.min_pledge_qty,
        opens_at: new.opens_at,
        closes_at: new.closes_at,
        eligible_region_code: region.code,
        eligible_region_path: region.path,
        status: if opens_now { "open" } else { "scheduled" }.to_owned(),
        total_qty: 0,
        pledge_count: 0,
        final_unit_price_fen: None,
        outcome_reason: None,
        closed_at: None,
        closed_by_user_id: None,
        reminded_at: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    model::insert(conn, &row)?;
    if opens_now {
        notify(conn, &row.id, "opened", ctx.now)?;
    }
    view(conn, Some(actor), row, ctx.now)
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &str, ctx: &Ctx) -> AppResult<CampaignView> {
    let row = model::find(conn, id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    view(conn, Some(actor), row, ctx.now)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CampaignListQuery {
    /// `scheduled`, `open`, `succeeded`, `failed` or `cancelled`.
    pub status: Option<String>,
    pub product_id: Option<String>,
    pub organizer_org_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Campaigns, newest first.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    q: CampaignListQuery,
    page: &PageRequest,
    ctx: &Ctx,
) -> AppResult<Page<CampaignView>> {
    if let Some(s) = &q.status
        && !CampaignStatus::ALL.contains(&s.as_str())
    {
        return Err(AppError::invalid_field(
            "validation_failed",
            "status",
            format!("must be one of {}", CampaignStatus::ALL.join(", ")),
        ));
    }
    let filter = CampaignFilter {
        status: q.status,
        product_id: q.product_id,
        organizer_org_id: q.organizer_org_id,
        before_id: page.after.clone(),
    };
    let rows = model::list(conn, filter, ctx.now, page.limit + 1)?;
    let page = Page::from_rows(rows, page, |c| c.id.clone(), |c| c);
    let loaded = load(conn, Some(actor), &page.items)?;
    let items = page.items.into_iter().map(|c| loaded.view(c, ctx.now)).collect::<AppResult<_>>()?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// The campaign, locked for a change; 404 if there is none.
fn lock(conn: &mut DbConn, id: &str, ctx: &Ctx) -> AppResult<CampaignRow> {
    let missing = || AppError::not_found("group purchase");
    if !model::lock(conn, id, ctx.now)? {
        return Err(missing());
    }
    model::find(conn, id)?.ok_or_else(missing)
}

/// A pledge and the campaign after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PledgeMade {
    #[serde(flatten)]
    pub pledge: PledgeView,
    pub group_buy: CampaignView,
}

fn campaign_full(available: i64, asked: i64) -> AppError {
    AppError::conflict(
        "campaign_full",
        format!("the campaign can take at most {available} more from your organisation; {asked} were pledged"),
    )
    .with("available", available)
}

/// An agency pledges (or, pledging again, replaces its pledge): the quantity comes out of the
/// product's stock at once, and the campaign's total never passes `max_total_qty`.
pub fn pledge(conn: &mut DbConn, actor: &Actor, id: &str, new: NewPledge, ctx: &Ctx) -> AppResult<PledgeMade> {
    require_agency(actor)?;
    let c = lock(conn, id, ctx)?;
    if !actor.region_path.starts_with(&c.eligible_region_path) {
        return Err(AppError::forbidden_code(
            "not_eligible",
            format!("only buyers inside region {} may join this campaign", c.eligible_region_code),
        )
        .with("eligible_region_code", c.eligible_region_code.clone()));
    }
    if !accepting(&c, ctx.now)? {
        return Err(not_open(&c, ctx.now)?);
    }
    if new.quantity < c.min_pledge_qty {
        return Err(AppError::invalid_field(
            "invalid_quantity",
            "quantity",
            format!("the smallest pledge in this campaign is {}", c.min_pledge_qty),
        )
        .with("min_pledge_qty", c.min_pledge_qty));
    }
    let previous = model::active_pledge_of(conn, &c.id, &actor.org.id)?;
    let before = previous.as_ref().map_or(0, |p| p.quantity);
    // What this organisation may hold: the room left plus what it holds already.
    let available = c.max_total_qty - c.total_qty + before;
    if new.quantity > available {
        return Err(campaign_full(available, new.quantity));
    }
    let delta = new.quantity - before;
    if !model::add_to_total(conn, &c.id, delta, i32::from(previous.is_none()))? {
        return Err(campaign_full(available, new.quantity));
    }
    match delta {
        d if d > 0 => take_stock(conn, &c.product_id, d, ctx.now)?,
        d if d < 0 => give_back_stock(conn, &c.product_id, -d, ctx.now)?,
        _ => {}
    }
    if let Some(p) = &previous {
        if !model::end_pledge(conn, &p.id, "replaced", ctx.now)? {
            return Err(anyhow::anyhow!("pledge {} stopped being active under the campaign lock", p.id).into());
        }
        super::card::void_for(conn, &p.id, ctx.now)?;
    }
    let row = PledgeRow {
        id: new_id("plg"),
        group_buy_id: c.id.clone(),
        org_id: actor.org.id.clone(),
        org_path: actor.org.path.clone(),
        user_id: actor.user_id.clone(),
        quantity: new.quantity,
        status: "active".into(),
        delivery_address: new.delivery.address,
        delivery_contact: new.delivery.contact_name,
        delivery_phone: new.delivery.phone,
        note: new.note,
        replaces_id: previous.map(|p| p.id),
        order_id: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        ended_at: None,
    };
    model::insert_pledge(conn, &row)?;
    let campaign = model::find(conn, &c.id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    let group_buy = view(conn, Some(actor), campaign, ctx.now)?;
    let names = HashMap::from([(actor.org.id.clone(), actor.org.name.clone())]);
    Ok(PledgeMade { pledge: pledge_view(row, &names), group_buy })
}

/// The pledging organisation withdraws its pledge while the campaign is open: the quantity goes
/// back to the product's stock. Withdrawing a withdrawn pledge changes nothing.
pub fn withdraw(conn: &mut DbConn, actor: &Actor, id: &str, pledge_id: &str, ctx: &Ctx) -> AppResult<()> {
    let c = lock(conn, id, ctx)?;
    let p = model::find_pledge(conn, pledge_id)?
        .filter(|p| p.group_buy_id == c.id && p.org_id == actor.org.id)
        .ok_or_else(|| AppError::not_found("pledge"))?;
    match p.status.as_str() {
        "withdrawn" => return Ok(()),
        "active" => {}
        other => {
            return Err(AppError::conflict("invalid_state", format!("the pledge is {other}; it cannot be withdrawn"))
                .with("current_status", other));
        }
    }
    if !accepting(&c, ctx.now)? {
        return Err(not_open(&c, ctx.now)?);
    }
    if !model::add_to_total(conn, &c.id, -p.quantity, -1)? || !model::end_pledge(conn, &p.id, "withdrawn", ctx.now)? {
        return Err(anyhow::anyhow!("pledge {} could not be withdrawn under the campaign lock", p.id).into());
    }
    super::card::void_for(conn, &p.id, ctx.now)?;
    give_back_stock(conn, &c.product_id, p.quantity, ctx.now)
}

/// Who closes: the organiser on demand (before `closes_at` too), or the worker once it is due.
pub enum Closer<'a> {
    Organiser(&'a Actor),
    Worker,
}

/// Closes a campaign. Reached `min_total_qty` (and the product still on sale): every active
/// pledge becomes one order at the tier price the total reached, which then goes the way of any
/// order (payment, shipment, counting). Otherwise every pledge is released and its stock given
/// back. A campaign already closed is returned as it is: nothing happens twice.
pub fn close(conn: &mut DbConn, id: &str, closer: Closer<'_>, ctx: &Ctx) -> AppResult<CampaignRow> {
    let c = lock(conn, id, ctx)?;
    let who = match &closer {
        Closer::Organiser(actor) => {
            require_organiser_of(actor, &c)?;
            Who::of(actor)
        }
        Closer::Worker => Who::system(),
    };
    match CampaignStatus::of(&c, ctx.now)? {
        CampaignStatus::Succeeded | CampaignStatus::Failed => return Ok(c),
        CampaignStatus::Cancelled => {
            return Err(AppError::conflict("invalid_state", "the campaign was cancelled; it cannot be closed")
                .with("current_status", "cancelled"));
        }
        CampaignStatus::Scheduled => return Err(not_open(&c, ctx.now)?),
        CampaignStatus::Open if matches!(closer, Closer::Worker) && ctx.now < c.closes_at => return Ok(c),
        CampaignStatus::Open => {}
    }
    let product = products::find(conn, &c.product_id)?.ok_or_else(|| anyhow::anyhow!("campaign product missing"))?;
    let pledges = model::active_pledges(conn, &c.id)?;
    let pledged: i64 = pledges.iter().map(|p| p.quantity).sum();
    if pledged != c.total_qty {
        return Err(anyhow::anyhow!("campaign {} totals {} but its pledges hold {pledged}", c.id, c.total_qty).into());
    }
    let failure = if c.total_qty < c.min_total_qty {
        Some("min_total_not_reached")
    } else if !is_on_sale(&product, ctx.today) {
        Some("product_not_orderable")
    } else {
        None
    };
    match failure {
        None => {
            let price = price_at(&c.tiers()?, c.total_qty);
            finish(conn, &c, "succeeded", Some(price), None, &who, ctx)?;
            order_pledges(conn, &c, &product, Fen(price), pledges, &who, ctx)?;
        }
        Some(reason) => {
            finish(conn, &c, "failed", None, Some(reason), &who, ctx)?;
            release(conn, &c, pledges, ctx)?;
        }
    }
    model::find(conn, &c.id)?.ok_or_else(|| AppError::not_found("group purchase"))
}

fn finish(
    conn: &mut DbConn,
    c: &CampaignRow,
    status: &str,
    price: Option<i64>,
    reason: Option<&str>,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<()> {
    if !model::finish(conn, &c.id, status, price, reason, who.user_id.as_deref(), ctx.now)? {
        return Err(anyhow::anyhow!("campaign {} stopped being live under its lock", c.id).into());
    }
    notify(conn, &c.id, status, ctx.now)
}

/// One order per pledge, for the pledge's organisation and address, at `price`: the stock was
/// taken when it was pledged.
fn order_pledges(
    conn: &mut DbConn,
    c: &CampaignRow,
    product: &ProductRow,
    price: Fen,
    pledges: Vec<PledgeRow>,
    who: &Who,
    ctx: &Ctx,
) -> AppResult<()> {
    let org_ids: Vec<String> = pledges.iter().map(|p| p.org_id.clone()).collect();
    let orgs: HashMap<String, crate::identity::model::OrgRow> =
        find_orgs(conn, &org_ids)?.into_iter().map(|o| (o.id.clone(), o)).collect();
    for p in pledges {
        let org = orgs.get(&p.org_id).ok_or_else(|| anyhow::anyhow!("pledging organisation {} missing", p.org_id))?;
        let buyer = Buyer {
            org_id: org.id.clone(),
            org_path: org.path.clone(),
            region_code: org.region_code.clone(),
            user_id: p.user_id.clone(),
        };
        let note = match &p.note {
            Some(n) => format!("团购「{}」：{n}", c.title),
            None => format!("团购「{}」", c.title),
        };
        let line = PricedLine { product: product.clone(), quantity: p.quantity, unit_price: price };
        let delivery = Delivery {
            address: p.delivery_address.clone(),
            contact_name: p.delivery_contact.clone(),
            phone: p.delivery_phone.clone(),
        };
        let from = FromPledge { group_buy_id: c.id.clone(), pledge_id: p.id.clone() };
        let placed = insert_order(conn, &buyer, vec![line], delivery, Some(note), Some(from), who, ctx)?;
        if !model::mark_ordered(conn, &p.id, &placed.order.id, ctx.now)? {
            return Err(anyhow::anyhow!("pledge {} stopped being active under the campaign lock", p.id).into());
        }
        super::card::capture_for(conn, &p, &placed.order, ctx)?;
    }
    Ok(())
}

/// Every pledge released and its quantity back on sale.
fn release(conn: &mut DbConn, c: &CampaignRow, pledges: Vec<PledgeRow>, ctx: &Ctx) -> AppResult<()> {
    let mut back = 0;
    for p in &pledges {
        if !model::end_pledge(conn, &p.id, "released", ctx.now)? {
            return Err(anyhow::anyhow!("pledge {} stopped being active under the campaign lock", p.id).into());
        }
        super::card::void_for(conn, &p.id, ctx.now)?;
        back += p.quantity;
    }
    if back > 0 {
        give_back_stock(conn, &c.product_id, back, ctx.now)?;
    }
    Ok(())
}

/// The organiser calls the round off before it closes: every pledge is released.
pub fn cancel(conn: &mut DbConn, actor: &Actor, id: &str, reason: &str, ctx: &Ctx) -> AppResult<CampaignView> {
    let c = lock(conn, id, ctx)?;
    require_organiser_of(actor, &c)?;
    let reason = crate::validate::parse_name(reason, 500)
        .map_err(|m| AppError::invalid_field("validation_failed", "reason", m))?;
    let status = CampaignStatus::of(&c, ctx.now)?;
    if !matches!(status, CampaignStatus::Scheduled | CampaignStatus::Open) {
        return Err(AppError::conflict(
            "invalid_state",
            format!("the campaign is {}; it cannot be cancelled", status.as_str()),
        )
        .with("current_status", status.as_str()));
    }
    let pledges = model::active_pledges(conn, &c.id)?;
    finish(conn, &c, "cancelled", None, Some(&reason), &Who::of(actor), ctx)?;
    release(conn, &c, pledges, ctx)?;
    let row = model::find(conn, &c.id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    view(conn, Some(actor), row, ctx.now)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PledgeListQuery {
    /// `active`, `replaced`, `withdrawn`, `ordered` or `released`.
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

const PLEDGE_STATUSES: [&str; 5] = ["active", "replaced", "withdrawn", "ordered", "released"];

/// A campaign's pledges, newest first: all of them for its organiser and the platform; a buyer
/// sees its own and those of the organisations under it.
pub fn pledges(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    q: PledgeListQuery,
    page: &PageRequest,
) -> AppResult<Page<PledgeView>> {
    if let Some(s) = &q.status
        && !PLEDGE_STATUSES.contains(&s.as_str())
    {
        return Err(AppError::invalid_field(
            "validation_failed",
            "status",
            format!("must be one of {}", PLEDGE_STATUSES.join(", ")),
        ));
    }
    let c = model::find(conn, id)?.ok_or_else(|| AppError::not_found("group purchase"))?;
    let sees_all = actor.org_kind == OrgKind::Platform || actor.org.id == c.organizer_org_id;
    let within = (!sees_all).then_some(actor.org.path.as_str());
    let rows = model::pledges(conn, &c.id, within, q.status.as_deref(), page.after.as_deref(), page.limit + 1)?;
    let page = Page::from_rows(rows, page, |p| p.id.clone(), |p| p);
    let mut org_ids: Vec<String> = page.items.iter().map(|p| p.org_id.clone()).collect();
    org_ids.sort_unstable();
    org_ids.dedup();
    let names = org_names(conn, &org_ids)?;
    Ok(Page { items: page.items.into_iter().map(|p| pledge_view(p, &names)).collect(), next_cursor: page.next_cursor })
}
