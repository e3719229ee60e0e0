//! Products: creating and editing (a material change voids the certificate), reading with
//! visibility, publishing, stock taken and given back by conditional updates, the price check.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;
use serde_json::json;

use super::audit::{pending_of, record, save_request};
use super::model::{self, ProductFilter, ProductRow};
use super::types::{NewProductBody, PatchProductBody, ProductFields};
use super::view::{CertificationStatus, PriceCheck, ProductView, certification_status, price_check_of};
use crate::db::DbConn;
use crate::error::{AppError, AppResult, Violations};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::regions;
use crate::worker::job::enqueue;
use crate::worker::payloads::ProductChanged;

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
    let concerned = viewer.is_some_and(|a| a.org.id == row.producer_id || super::model::is_reviewer(a, &row));
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

crate::paged!(ProductListQuery);

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
    let mut fields = row.fields()?;
    let new_stock = body.stock;
    body.apply(&mut fields);
    let origin_path = validate_fields(conn, &mut fields)?;
    let material = fields.origin_region_code != row.origin_region_code || fields.spec != row.spec;
    if material && matches!(row.cert_status.as_str(), "certified" | "pending") {
        // The certificate vouched for another origin or specification: it no longer applies.
        super::service::reset_for_material_change(conn, actor, &mut row, now)?;
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
        None => Err(insufficient_stock(id, model::stock_of(conn, id)?, quantity)),
    }
}

/// 409 `insufficient_stock`, with what is there.
pub fn insufficient_stock(id: &str, available: i64, quantity: i64) -> AppError {
    AppError::conflict(
        "insufficient_stock",
        format!("only {available} of product {id} are in stock; {quantity} were asked for"),
    )
    .with("product_id", id)
    .with("available", available)
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

pub fn price_check(conn: &mut DbConn, viewer: Option<&Actor>, id: &str, today: NaiveDate) -> AppResult<PriceCheck> {
    let row = visible(conn, viewer, id, today)?;
    price_check_of(conn, &row, today)
}

/// Origin or specification changed: the certificate (or the pending request) no longer applies.
pub fn reset_for_material_change(
    conn: &mut DbConn,
    actor: &Actor,
    product: &mut ProductRow,
    now: NaiveDateTime,
) -> AppResult<()> {
    if let Some(mut pending) = pending_of(conn, &product.id)? {
        pending.status = "withdrawn".into();
        pending.decided_at = Some(now);
        pending.decision_reason = Some("产品产地或规格已变更".into());
        save_request(conn, &pending)?;
        record(
            conn,
            &product.id,
            Some(&pending.id),
            "withdrawn",
            Some(actor),
            pending.decision_reason.as_deref(),
            json!({}),
            now,
        )?;
    }
    let details = json!({"certificate_no": product.certificate_no, "valid_until": product.cert_valid_until,
        "origin_region_code": product.origin_region_code, "spec": product.spec});
    product.cert_status = "none".into();
    product.certificate_no = None;
    product.cert_valid_until = None;
    if product.status == "listed" {
        product.status = "unlisted".into();
    }
    record(conn, &product.id, None, "reset", Some(actor), Some("产品产地或规格已变更"), details, now)
}
