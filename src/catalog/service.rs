use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::model::{self, ProductFilter, ProductRow};
use super::types::{ProductFields, Storage, Tier};
use crate::clock::utc;
use crate::db::DbConn;
use crate::error::{AppError, AppResult, Violations};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::regions;
use crate::validate::double_option;
use crate::worker::job::enqueue;
use crate::worker::payloads::ProductChanged;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    Draft,
    Listed,
    Unlisted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertificationStatus {
    None,
    Pending,
    Certified,
    Rejected,
    Expired,
    Revoked,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificationView {
    pub status: CertificationStatus,
    pub certificate_no: Option<String>,
    pub valid_until: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ProductRating)]
pub struct RatingView {
    /// Mean stars, two decimals; null before the first rating.
    pub avg: Option<f64>,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductView {
    pub id: String,
    pub producer_id: String,
    pub name: String,
    pub category: String,
    pub description: String,
    pub origin_region_code: String,
    pub unit: String,
    pub spec: String,
    pub net_weight_g: Option<i64>,
    pub price_fen: i64,
    pub tiers: Vec<Tier>,
    pub min_order_qty: i64,
    pub stock: i64,
    pub storage: Storage,
    pub shelf_life_days: Option<i64>,
    pub images: Vec<String>,
    pub status: ProductStatus,
    pub certification: CertificationView,
    pub rating: RatingView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Only for the producer and its reviewers, on `GET /products/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_check: Option<PriceCheck>,
}

/// A certificate past `valid_until` reads as expired (and is treated like a revoked one).
pub fn certification_status(row: &ProductRow, today: NaiveDate) -> CertificationStatus {
    match row.cert_status.as_str() {
        "certified" if row.cert_valid_until.is_some_and(|d| d >= today) => CertificationStatus::Certified,
        "certified" => CertificationStatus::Expired,
        "pending" => CertificationStatus::Pending,
        "rejected" => CertificationStatus::Rejected,
        "revoked" => CertificationStatus::Revoked,
        _ => CertificationStatus::None,
    }
}

pub fn is_on_sale(row: &ProductRow, today: NaiveDate) -> bool {
    row.status == "listed" && certification_status(row, today) == CertificationStatus::Certified
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> AppResult<T> {
    serde_json::from_str(text).map_err(|e| anyhow::anyhow!("stored {what} unreadable: {e}").into())
}

impl ProductView {
    pub fn from_row(row: ProductRow, today: NaiveDate) -> AppResult<Self> {
        let cert_status = certification_status(&row, today);
        Ok(ProductView {
            tiers: parse_json(&row.tiers, "tiers")?,
            images: parse_json(&row.images, "images")?,
            storage: Storage::parse(&row.storage).ok_or_else(|| anyhow::anyhow!("bad storage {}", row.storage))?,
            status: match row.status.as_str() {
                "listed" => ProductStatus::Listed,
                "unlisted" => ProductStatus::Unlisted,
                _ => ProductStatus::Draft,
            },
            certification: CertificationView {
                status: cert_status,
                certificate_no: row.certificate_no.clone(),
                valid_until: row.cert_valid_until,
            },
            rating: RatingView { avg: row.rating_avg(), count: row.rating_count },
            id: row.id,
            producer_id: row.producer_id,
            name: row.name,
            category: row.category,
            description: row.description,
            origin_region_code: row.origin_region_code,
            unit: row.unit,
            spec: row.spec,
            net_weight_g: row.net_weight_g,
            price_fen: row.price_fen,
            min_order_qty: row.min_order_qty,
            stock: row.stock,
            shelf_life_days: row.shelf_life_days,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            price_check: None,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProductBody {
    pub name: String,
    /// A code from `GET /categories`.
    pub category: String,
    #[serde(default)]
    pub description: String,
    /// An assisted region (county or below).
    pub origin_region_code: String,
    /// The sale unit: 罐, 箱, 袋, kg …
    pub unit: String,
    /// e.g. `250g/罐`.
    pub spec: String,
    pub net_weight_g: Option<i64>,
    pub price_fen: i64,
    /// Quantity prices, strictly cheaper as `min_qty` grows, all cheaper than `price_fen`.
    #[serde(default)]
    pub tiers: Vec<Tier>,
    #[serde(default = "one")]
    pub min_order_qty: i64,
    pub stock: i64,
    #[serde(default = "ambient")]
    pub storage: Storage,
    pub shelf_life_days: Option<i64>,
    #[serde(default)]
    pub images: Vec<String>,
}

fn one() -> i64 {
    1
}
fn ambient() -> Storage {
    Storage::Ambient
}

impl From<NewProductBody> for ProductFields {
    fn from(b: NewProductBody) -> Self {
        ProductFields {
            name: b.name,
            category: b.category,
            description: b.description,
            origin_region_code: b.origin_region_code,
            unit: b.unit,
            spec: b.spec,
            net_weight_g: b.net_weight_g,
            price_fen: b.price_fen,
            tiers: b.tiers,
            min_order_qty: b.min_order_qty,
            stock: b.stock,
            storage: b.storage,
            shelf_life_days: b.shelf_life_days,
            images: b.images,
        }
    }
}

/// A partial update: absent fields stay; `null` clears the optional ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchProductBody {
    pub name: Option<String>,
    pub category: Option<String>,
    pub description: Option<String>,
    pub origin_region_code: Option<String>,
    pub unit: Option<String>,
    pub spec: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub net_weight_g: Option<Option<i64>>,
    pub price_fen: Option<i64>,
    pub tiers: Option<Vec<Tier>>,
    pub min_order_qty: Option<i64>,
    pub stock: Option<i64>,
    pub storage: Option<Storage>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub shelf_life_days: Option<Option<i64>>,
    pub images: Option<Vec<String>>,
}

pub fn fields_of(row: &ProductRow) -> AppResult<ProductFields> {
    Ok(ProductFields {
        name: row.name.clone(),
        category: row.category.clone(),
        description: row.description.clone(),
        origin_region_code: row.origin_region_code.clone(),
        unit: row.unit.clone(),
        spec: row.spec.clone(),
        net_weight_g: row.net_weight_g,
        price_fen: row.price_fen,
        tiers: parse_json(&row.tiers, "tiers")?,
        min_order_qty: row.min_order_qty,
        stock: row.stock,
        storage: Storage::parse(&row.storage).unwrap_or(Storage::Ambient),
        shelf_life_days: row.shelf_life_days,
        images: parse_json(&row.images, "images")?,
    })
}

impl PatchProductBody {
    fn apply(self, f: &mut ProductFields) {
        macro_rules! set {
            ($($field:ident),*) => { $(if let Some(v) = self.$field { f.$field = v; })* };
        }
        set!(
            name,
            category,
            description,
            origin_region_code,
            unit,
            spec,
            net_weight_g,
            price_fen,
            tiers,
            min_order_qty,
            stock,
            storage,
            shelf_life_days,
            images
        );
    }
}

/// Checks the fields, then the origin: known (`unknown_region`) and assisted (`origin_not_assisted`).
/// Returns the origin's path.
pub fn validate_fields(conn: &mut DbConn, fields: &mut ProductFields) -> AppResult<String> {
    let mut v = Violations::new();
    fields.validate(&mut v);
    v.finish("validation_failed")?;
    let origin = regions::service::get(conn, &fields.origin_region_code)
        .map_err(|_| AppError::invalid_field("unknown_region", "origin_region_code", "no such region"))?;
    if !origin.assisted {
        return Err(AppError::invalid_field(
            "origin_not_assisted",
            "origin_region_code",
            format!("{} is not an assisted region; only goods from assisted regions may be listed", origin.full_name),
        ));
    }
    regions::path_of(conn, &fields.origin_region_code)?.ok_or_else(|| AppError::not_found("region"))
}

/// Writes validated fields onto a row (new or existing), keeping derived columns in step.
fn apply_fields(row: &mut ProductRow, fields: ProductFields, origin_path: String) {
    row.price_per_500g_fen = fields.price_per_500g_fen();
    row.tiers = json!(fields.tiers).to_string();
    row.images = json!(fields.images).to_string();
    row.storage = fields.storage.as_str().to_owned();
    row.name = fields.name;
    row.category = fields.category;
    row.description = fields.description;
    row.origin_region_code = fields.origin_region_code;
    row.origin_path = origin_path;
    row.unit = fields.unit;
    row.spec = fields.spec;
    row.net_weight_g = fields.net_weight_g;
    row.price_fen = fields.price_fen;
    row.min_order_qty = fields.min_order_qty;
    row.stock = fields.stock;
    row.shelf_life_days = fields.shelf_life_days;
}

/// A new draft row from validated fields.
pub fn new_row(producer_id: &str, fields: ProductFields, origin_path: String, now: NaiveDateTime) -> ProductRow {
    let mut row = ProductRow {
        id: new_id("prd"),
        producer_id: producer_id.to_owned(),
        name: String::new(),
        category: String::new(),
        description: String::new(),
        origin_region_code: String::new(),
        origin_path: String::new(),
        unit: String::new(),
        spec: String::new(),
        net_weight_g: None,
        price_fen: 0,
        price_per_500g_fen: None,
        tiers: String::new(),
        min_order_qty: 1,
        stock: 0,
        storage: String::new(),
        shelf_life_days: None,
        images: String::new(),
        status: "draft".into(),
        cert_status: "none".into(),
        certificate_no: None,
        cert_valid_until: None,
        rating_sum: 0,
        rating_count: 0,
        created_at: now,
        updated_at: now,
    };
    apply_fields(&mut row, fields, origin_path);
    row
}

fn require_producer(actor: &Actor) -> AppResult<()> {
    if actor.org_kind == OrgKind::Producer { Ok(()) } else { Err(AppError::forbidden("only producers list products")) }
}

pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    body: NewProductBody,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<ProductView> {
    require_producer(actor)?;
    let mut fields = ProductFields::from(body);
    let origin_path = validate_fields(conn, &mut fields)?;
    let row = new_row(&actor.org.id, fields, origin_path, now);
    model::insert(conn, &row)?;
    ProductView::from_row(row, today)
}

/// The product if `viewer` may see it (404 otherwise).
pub fn visible(conn: &mut DbConn, viewer: Option<&Actor>, id: &str, today: NaiveDate) -> AppResult<ProductRow> {
    model::find_visible(conn, viewer, id, today)?.ok_or_else(|| AppError::not_found("product"))
}

/// The product if `actor`'s organisation owns it: 404 when invisible, 403 when visible but another's.
pub fn owned(conn: &mut DbConn, actor: &Actor, id: &str, today: NaiveDate) -> AppResult<ProductRow> {
    let row = visible(conn, Some(actor), id, today)?;
    if row.producer_id != actor.org.id {
        return Err(AppError::forbidden("only the producer that owns this product may change it"));
    }
    Ok(row)
}

pub fn get(conn: &mut DbConn, viewer: Option<&Actor>, id: &str, today: NaiveDate) -> AppResult<ProductView> {
    let row = visible(conn, viewer, id, today)?;
    let concerned = viewer.is_some_and(|a| a.org.id == row.producer_id || super::certification::is_reviewer(a, &row));
    let check = if concerned { Some(price_check_of(conn, &row, today)?) } else { None };
    let mut view = ProductView::from_row(row, today)?;
    view.price_check = check;
    Ok(view)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductListQuery {
    pub producer_id: Option<String>,
    /// `draft`, `listed` or `unlisted`.
    pub status: Option<String>,
    pub category: Option<String>,
    /// A region code at any level: products from inside it.
    pub origin: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub fn list(
    conn: &mut DbConn,
    viewer: Option<&Actor>,
    q: ProductListQuery,
    page: &PageRequest,
    today: NaiveDate,
) -> AppResult<Page<ProductView>> {
    if let Some(status) = &q.status
        && !["draft", "listed", "unlisted"].contains(&status.as_str())
    {
        return Err(AppError::invalid_field("validation_failed", "status", "must be draft, listed or unlisted"));
    }
    let origin_path = match &q.origin {
        Some(code) => Some(
            regions::path_of(conn, code)?
                .ok_or_else(|| AppError::invalid_field("unknown_region", "origin", "no such region"))?,
        ),
        None => None,
    };
    let filter = ProductFilter {
        producer_id: q.producer_id,
        status: q.status,
        category: q.category,
        origin_path,
        after_id: page.after.clone(),
    };
    let rows = model::list_visible(conn, viewer, filter, today, page.limit + 1)?;
    let page = Page::from_rows(rows, page, |r| r.id.clone(), |r| r);
    Ok(Page {
        items: page.items.into_iter().map(|r| ProductView::from_row(r, today)).collect::<AppResult<_>>()?,
        next_cursor: page.next_cursor,
    })
}

pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    body: PatchProductBody,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<ProductView> {
    let mut row = owned(conn, actor, id, today)?;
    let mut fields = fields_of(&row)?;
    let new_stock = body.stock;
    body.apply(&mut fields);
    let origin_path = validate_fields(conn, &mut fields)?;
    let material = fields.origin_region_code != row.origin_region_code || fields.spec != row.spec;
    if material && matches!(row.cert_status.as_str(), "certified" | "pending") {
        // The certificate vouched for another origin or specification: it no longer applies.
        super::certification::reset_for_material_change(conn, actor, &mut row, now)?;
    }
    apply_fields(&mut row, fields, origin_path);
    row.updated_at = now;
    model::save(conn, &row)?;
    if let Some(stock) = new_stock {
        model::set_stock(conn, &row.id, stock, now)?;
    }
    reindex(conn, &row.id, now)?;
    let row = model::find(conn, &row.id)?.ok_or_else(|| AppError::not_found("product"))?;
    ProductView::from_row(row, today)
}

/// Queues the product for the search index, which decides whether it belongs there.
pub fn reindex(conn: &mut DbConn, product_id: &str, now: NaiveDateTime) -> AppResult<()> {
    enqueue(conn, &ProductChanged { product_id: product_id.to_owned(), reason: None }, now)
}

/// Takes `quantity` of a product's stock (an order, a pledge), or 409 `insufficient_stock` with
/// what is there. A product that sells out leaves in-stock searches at once (other stock changes
/// reach search in batches).
pub fn take_stock(conn: &mut DbConn, id: &str, quantity: i64, now: NaiveDateTime) -> AppResult<()> {
    match model::take_stock(conn, id, quantity, now)? {
        Some(0) => reindex(conn, id, now),
        Some(_) => Ok(()),
        None => {
            let available = model::stock_of(conn, id)?;
            Err(AppError::conflict(
                "insufficient_stock",
                format!("only {available} of product {id} are in stock; {quantity} were asked for"),
            )
            .with("product_id", id)
            .with("available", available))
        }
    }
}

/// Puts `quantity` back on sale; a product back in stock is searchable again at once.
pub fn give_back_stock(conn: &mut DbConn, id: &str, quantity: i64, now: NaiveDateTime) -> AppResult<()> {
    if model::return_stock(conn, id, quantity, now)? == quantity {
        reindex(conn, id, now)?;
    }
    Ok(())
}

pub fn publish(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<ProductView> {
    let mut row = owned(conn, actor, id, today)?;
    if certification_status(&row, today) != CertificationStatus::Certified {
        return Err(AppError::conflict("not_certified", "only a product with a valid certificate can be listed"));
    }
    if row.status != "listed" {
        row.status = "listed".into();
        row.updated_at = now;
        model::save(conn, &row)?;
        reindex(conn, &row.id, now)?;
    }
    ProductView::from_row(row, today)
}

pub fn unpublish(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<ProductView> {
    let mut row = owned(conn, actor, id, today)?;
    match row.status.as_str() {
        "listed" => {
            row.status = "unlisted".into();
            row.updated_at = now;
            model::save(conn, &row)?;
            reindex(conn, &row.id, now)?;
        }
        "unlisted" => {}
        _ => return Err(AppError::conflict("invalid_state", "a draft has never been listed")),
    }
    ProductView::from_row(row, today)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceCheck {
    pub product_id: String,
    /// Null without a net weight.
    pub price_per_500g_fen: Option<i64>,
    /// Median per 500 g of the other certified, listed products of the category; null without any.
    pub category_median_per_500g_fen: Option<i64>,
    /// Price per 500 g over the median, three decimals.
    pub ratio: Option<f64>,
    /// True above 1.2 × the median.
    pub flagged: bool,
    pub comparables: i64,
}

pub const PRICE_FLAG_RATIO: f64 = 1.2;

pub fn median(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2] + 1) / 2),
    }
}

pub fn price_check_of(conn: &mut DbConn, row: &ProductRow, today: NaiveDate) -> AppResult<PriceCheck> {
    let prices = model::category_prices_per_500g(conn, &row.category, &row.id, today)?;
    let median = median(&prices);
    let ratio = match (row.price_per_500g_fen, median) {
        (Some(p), Some(m)) if m > 0 => Some((p as f64 / m as f64 * 1000.0).round() / 1000.0),
        _ => None,
    };
    Ok(PriceCheck {
        product_id: row.id.clone(),
        price_per_500g_fen: row.price_per_500g_fen,
        category_median_per_500g_fen: median,
        flagged: ratio.is_some_and(|r| r > PRICE_FLAG_RATIO),
        ratio,
        comparables: prices.len() as i64,
    })
}

pub fn price_check(conn: &mut DbConn, viewer: Option<&Actor>, id: &str, today: NaiveDate) -> AppResult<PriceCheck> {
    let row = visible(conn, viewer, id, today)?;
    price_check_of(conn, &row, today)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5]), Some(5));
        assert_eq!(median(&[1, 3, 100]), Some(3));
        assert_eq!(median(&[1, 2, 3, 4]), Some(3));
        assert_eq!(median(&[10, 20]), Some(15));
    }
}
