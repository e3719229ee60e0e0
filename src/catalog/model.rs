use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::types::{ProductFields, Storage, Tier};
use crate::db::schema::{batches, certification_events, certification_requests, organizations, products};
use crate::db::sql::{self, Statement};
use crate::db::{DbConn, MultiBackend, prefix_pattern};
use crate::error::AppResult;
use crate::identity::Actor;
use crate::identity::types::OrgKind;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = products)]
pub struct ProductRow {
    pub id: String,
    pub producer_id: String,
    pub name: String,
    pub category: String,
    pub description: String,
    pub origin_region_code: String,
    pub origin_path: String,
    pub unit: String,
    pub spec: String,
    pub net_weight_g: Option<i64>,
    pub price_fen: i64,
    pub price_per_500g_fen: Option<i64>,
    pub tiers: String,
    pub min_order_qty: i64,
    pub stock: i64,
    pub storage: String,
    pub shelf_life_days: Option<i64>,
    pub images: String,
    pub status: String,
    pub cert_status: String,
    pub certificate_no: Option<String>,
    pub cert_valid_until: Option<NaiveDate>,
    pub rating_sum: i64,
    pub rating_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ProductRow {
    /// Mean stars to two decimals; `None` before the first rating.
    pub fn rating_avg(&self) -> Option<f64> {
        (self.rating_count > 0).then(|| ((self.rating_sum as f64 / self.rating_count as f64) * 100.0).round() / 100.0)
    }

    pub fn tiers(&self) -> AppResult<Vec<Tier>> {
        parse_json(&self.tiers, "tiers")
    }

    pub fn images(&self) -> AppResult<Vec<String>> {
        parse_json(&self.images, "images")
    }

    /// The row's fields as a body would give them (a PATCH changes some of them).
    pub fn fields(&self) -> AppResult<ProductFields> {
        Ok(ProductFields {
            name: self.name.clone(),
            category: self.category.clone(),
            description: self.description.clone(),
            origin_region_code: self.origin_region_code.clone(),
            unit: self.unit.clone(),
            spec: self.spec.clone(),
            net_weight_g: self.net_weight_g,
            price_fen: self.price_fen,
            tiers: self.tiers()?,
            min_order_qty: self.min_order_qty,
            stock: self.stock,
            storage: Storage::parse(&self.storage).unwrap_or(Storage::Ambient),
            shelf_life_days: self.shelf_life_days,
            images: self.images()?,
        })
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> AppResult<T> {
    serde_json::from_str(text).map_err(|e| anyhow::anyhow!("stored {what} unreadable: {e}").into())
}

type ProductCondition = Box<dyn BoxableExpression<products::table, MultiBackend, SqlType = Bool>>;

/// Listed with a certificate valid on `today`: what the public may see and buyers may order.
pub fn on_sale(today: NaiveDate) -> ProductCondition {
    Box::new(
        products::status
            .eq("listed")
            .and(products::cert_status.eq("certified"))
            .and(products::cert_valid_until.ge(today).assume_not_null()),
    )
}

/// The products `viewer` may see: everything on sale, plus its own (producers), those from
/// inside its region (coordinators, who review them), or all (platform).
fn visible(viewer: Option<&Actor>, today: NaiveDate) -> Option<ProductCondition> {
    let Some(actor) = viewer else { return Some(on_sale(today)) };
    match actor.org_kind {
        OrgKind::Platform => None,
        OrgKind::Producer => Some(Box::new(on_sale(today).or(products::producer_id.eq(actor.org.id.clone())))),
        OrgKind::Coordinator => Some(Box::new(
            on_sale(today).or(products::origin_path.like(prefix_pattern(&actor.region_path)).escape('\\')),
        )),
        OrgKind::Agency => Some(on_sale(today)),
    }
}

/// Platform users, and coordinators whose region contains the origin, follow certification.
pub fn is_reviewer(actor: &Actor, product: &ProductRow) -> bool {
    match actor.org_kind {
        OrgKind::Platform => true,
        OrgKind::Coordinator => product.origin_path.starts_with(&actor.region_path),
        _ => false,
    }
}

pub fn find_visible(
    conn: &mut DbConn,
    viewer: Option<&Actor>,
    id: &str,
    today: NaiveDate,
) -> AppResult<Option<ProductRow>> {
    let mut query = products::table.filter(products::id.eq(id.to_owned())).select(ProductRow::as_select()).into_boxed();
    if let Some(cond) = visible(viewer, today) {
        query = query.filter(cond);
    }
    Ok(query.first(conn).optional()?)
}

pub fn find(conn: &mut DbConn, id: &str) -> AppResult<Option<ProductRow>> {
    Ok(products::table.find(id).select(ProductRow::as_select()).first(conn).optional()?)
}

#[derive(Debug, Default)]
pub struct ProductFilter {
    pub producer_id: Option<String>,
    pub status: Option<String>,
    pub category: Option<String>,
    pub origin_path: Option<String>,
    pub after_id: Option<String>,
}

pub fn list_visible(
    conn: &mut DbConn,
    viewer: Option<&Actor>,
    filter: ProductFilter,
    today: NaiveDate,
    limit: i64,
) -> AppResult<Vec<ProductRow>> {
    let mut query = products::table.select(ProductRow::as_select()).order(products::id.asc()).limit(limit).into_boxed();
    if let Some(cond) = visible(viewer, today) {
        query = query.filter(cond);
    }
    if let Some(v) = filter.producer_id {
        query = query.filter(products::producer_id.eq(v));
    }
    if let Some(v) = filter.status {
        query = query.filter(products::status.eq(v));
    }
    if let Some(v) = filter.category {
        query = query.filter(products::category.eq(v));
    }
    if let Some(v) = filter.origin_path {
        query = query.filter(products::origin_path.like(prefix_pattern(&v)).escape('\\'));
    }
    if let Some(v) = filter.after_id {
        query = query.filter(products::id.gt(v));
    }
    Ok(query.load(conn)?)
}

pub fn find_many(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<ProductRow>> {
    Ok(products::table.filter(products::id.eq_any(ids)).select(ProductRow::as_select()).load(conn)?)
}

/// Takes `quantity` from the stock if that much is there: one conditional update, never a
/// read-modify-write, so concurrent buyers can never take more than there is. Returns the stock
/// left, or `None` when there was not enough.
pub fn take_stock(conn: &mut DbConn, id: &str, quantity: i64, now: NaiveDateTime) -> AppResult<Option<i64>> {
    let s = take_stock_statement(id, quantity, now);
    let left = sql::returning_all(conn, &[(s, "stock")])?;
    Ok(left.first().and_then(|l| l.first()).copied())
}

/// [`take_stock`] as a statement, for a batch that sends it with others (returning `stock`).
pub fn take_stock_statement(id: &str, quantity: i64, now: NaiveDateTime) -> Statement {
    Statement {
        sql: "UPDATE products SET stock = stock - ?, stock_changed_at = ? WHERE id = ? AND stock >= ?".into(),
        binds: vec![quantity.into(), now.into(), id.to_owned().into(), quantity.into()],
    }
}

/// Puts `quantity` back; returns the stock now there.
pub fn return_stock(conn: &mut DbConn, id: &str, quantity: i64, now: NaiveDateTime) -> AppResult<i64> {
    Ok(diesel::update(products::table.find(id))
        .set((products::stock.eq(products::stock + quantity), products::stock_changed_at.eq(now)))
        .returning(products::stock)
        .get_result(conn)?)
}

/// Products whose stock orders changed in [from, to): the search index refreshes them in one go.
pub fn stock_changed_between(conn: &mut DbConn, from: NaiveDateTime, to: NaiveDateTime) -> AppResult<Vec<String>> {
    Ok(products::table
        .filter(products::stock_changed_at.ge(from))
        .filter(products::stock_changed_at.lt(to))
        .select(products::id)
        .load(conn)?)
}

pub fn stock_of(conn: &mut DbConn, id: &str) -> AppResult<i64> {
    Ok(products::table.find(id).select(products::stock).first(conn)?)
}

/// Adds one rating of `stars` to a product.
pub fn add_rating(conn: &mut DbConn, id: &str, stars: i64) -> AppResult<()> {
    diesel::update(products::table.find(id))
        .set((
            products::rating_sum.eq(products::rating_sum + stars),
            products::rating_count.eq(products::rating_count + 1),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn insert(conn: &mut DbConn, row: &ProductRow) -> AppResult<()> {
    diesel::insert_into(products::table).values(row).execute(conn)?;
    Ok(())
}

pub fn insert_many(conn: &mut DbConn, rows: &[ProductRow]) -> AppResult<usize> {
    let mut n = 0;
    for chunk in rows.chunks(500) {
        n += crate::insert_batch!(conn, products::table, chunk)?;
    }
    Ok(n)
}

/// What an edit of a product may write: never the counters (stock, ratings), which orders and
/// ratings change concurrently with conditional updates; writing back a value read earlier
/// would undo theirs.
#[derive(AsChangeset)]
#[diesel(table_name = products, treat_none_as_null = true)]
struct ProductEdit<'a> {
    name: &'a str,
    category: &'a str,
    description: &'a str,
    origin_region_code: &'a str,
    origin_path: &'a str,
    unit: &'a str,
    spec: &'a str,
    net_weight_g: Option<i64>,
    price_fen: i64,
    price_per_500g_fen: Option<i64>,
    tiers: &'a str,
    min_order_qty: i64,
    storage: &'a str,
    shelf_life_days: Option<i64>,
    images: &'a str,
    status: &'a str,
    cert_status: &'a str,
    certificate_no: Option<&'a str>,
    cert_valid_until: Option<NaiveDate>,
    updated_at: NaiveDateTime,
}

/// Saves an edited product, leaving stock and ratings as they are in the database.
pub fn save(conn: &mut DbConn, row: &ProductRow) -> AppResult<()> {
    let edit = ProductEdit {
        name: &row.name,
        category: &row.category,
        description: &row.description,
        origin_region_code: &row.origin_region_code,
        origin_path: &row.origin_path,
        unit: &row.unit,
        spec: &row.spec,
        net_weight_g: row.net_weight_g,
        price_fen: row.price_fen,
        price_per_500g_fen: row.price_per_500g_fen,
        tiers: &row.tiers,
        min_order_qty: row.min_order_qty,
        storage: &row.storage,
        shelf_life_days: row.shelf_life_days,
        images: &row.images,
        status: &row.status,
        cert_status: &row.cert_status,
        certificate_no: row.certificate_no.as_deref(),
        cert_valid_until: row.cert_valid_until,
        updated_at: row.updated_at,
    };
    diesel::update(products::table.find(&row.id)).set(edit).execute(conn)?;
    Ok(())
}

/// The producer states how many it has: an explicit set, unlike the orders' conditional takes.
pub fn set_stock(conn: &mut DbConn, id: &str, stock: i64, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(products::table.find(id))
        .set((products::stock.eq(stock), products::stock_changed_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn producer_name(conn: &mut DbConn, producer_id: &str) -> AppResult<String> {
    Ok(organizations::table.find(producer_id).select(organizations::name).first(conn)?)
}

/// Per-500 g prices of the products on sale in a category, ascending, leaving one product out.
pub fn category_prices_per_500g(
    conn: &mut DbConn,
    category: &str,
    except_id: &str,
    today: NaiveDate,
) -> AppResult<Vec<i64>> {
    Ok(products::table
        .filter(on_sale(today))
        .filter(products::category.eq(category.to_owned()))
        .filter(products::id.ne(except_id.to_owned()))
        .filter(products::price_per_500g_fen.is_not_null())
        .select(products::price_per_500g_fen.assume_not_null())
        .order(products::price_per_500g_fen.asc())
        .load(conn)?)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = certification_requests)]
pub struct RequestRow {
    pub id: String,
    pub product_id: String,
    pub status: String,
    pub benefit_mechanism: String,
    pub documents: String,
    pub submitted_by: String,
    pub submitted_at: NaiveDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub decision_reason: Option<String>,
    pub certificate_no: Option<String>,
    pub valid_until: Option<NaiveDate>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = certification_events)]
pub struct EventRow {
    pub id: String,
    pub product_id: String,
    pub request_id: Option<String>,
    pub action: String,
    pub actor_user_id: Option<String>,
    pub actor_org_id: Option<String>,
    pub reason: Option<String>,
    pub details: String,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = batches)]
pub struct BatchRow {
    pub id: String,
    pub product_id: String,
    pub batch_no: String,
    pub produced_on: NaiveDate,
    pub quantity: i64,
    pub inspection_report_url: Option<String>,
    pub trace_code: String,
    pub created_at: NaiveDateTime,
}

/// A quality label of a product (see `labels.rs`); kept, marked removed, when taken off.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::product_labels)]
pub struct LabelRow {
    pub id: String,
    pub product_id: String,
    pub kind: String,
    pub issuer: String,
    pub certificate_no: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub document_url: Option<String>,
    pub added_by: String,
    pub created_at: NaiveDateTime,
    pub removed_at: Option<NaiveDateTime>,
}
