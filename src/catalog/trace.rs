//! Batches and trace codes (溯源): what a QR code on a package opens.

use super::service;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, BatchRow};
use super::view::CertificationView;
use super::view::certification_status;
use crate::clock::utc;
use crate::db::DbConn;
use crate::db::schema::batches;
use crate::error::{AppError, AppResult, Violations, on_unique_violation};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::ids::new_id;
use crate::regions;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBatchBody {
    pub batch_no: String,
    pub produced_on: NaiveDate,
    #[schema(minimum = 1, maximum = 1000000000)]
    pub quantity: i64,
    pub inspection_report_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    pub id: String,
    pub product_id: String,
    pub batch_no: String,
    pub produced_on: NaiveDate,
    pub quantity: i64,
    pub inspection_report_url: Option<String>,
    /// Short and unguessable; print it (or `trace_path` in a QR code) on the package.
    pub trace_code: String,
    pub trace_path: String,
    pub created_at: DateTime<Utc>,
}

impl From<BatchRow> for BatchView {
    fn from(b: BatchRow) -> Self {
        BatchView {
            trace_path: format!("/api/v1/trace/{}", b.trace_code),
            id: b.id,
            product_id: b.product_id,
            batch_no: b.batch_no,
            produced_on: b.produced_on,
            quantity: b.quantity,
            inspection_report_url: b.inspection_report_url,
            trace_code: b.trace_code,
            created_at: utc(b.created_at),
        }
    }
}

/// 12 characters of an unambiguous alphabet: 60 random bits.
fn new_trace_code() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    (0..12).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

fn batch_exists() -> AppError {
    AppError::conflict("batch_exists", "this product already has a batch with that number")
}

pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    product_id: &str,
    body: NewBatchBody,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<BatchView> {
    let product = service::owned(conn, actor, product_id, today)?;
    let mut v = Violations::new();
    let batch_no = body.batch_no.trim().to_owned();
    v.check(!batch_no.is_empty() && batch_no.chars().count() <= 64, "batch_no", "must have 1 to 64 characters");
    v.check(body.produced_on <= today, "produced_on", "must not be in the future");
    v.check((1..=1_000_000_000).contains(&body.quantity), "quantity", "must be between 1 and 1000000000");
    if let Some(url) = &body.inspection_report_url {
        v.check(
            (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 500,
            "inspection_report_url",
            "must be an http(s) URL",
        );
    }
    v.finish("validation_failed")?;
    let exists = batches::table
        .filter(batches::product_id.eq(&product.id))
        .filter(batches::batch_no.eq(&batch_no))
        .count()
        .get_result::<i64>(conn)?;
    if exists > 0 {
        return Err(batch_exists());
    }
    let row = BatchRow {
        id: new_id("bat"),
        product_id: product.id,
        batch_no,
        produced_on: body.produced_on,
        quantity: body.quantity,
        inspection_report_url: body.inspection_report_url,
        trace_code: new_trace_code(),
        created_at: now,
    };
    diesel::insert_into(batches::table).values(&row).execute(conn).map_err(|e| on_unique_violation(e, batch_exists))?;
    Ok(row.into())
}

pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    product_id: &str,
    page: &PageRequest,
    today: NaiveDate,
) -> AppResult<Page<BatchView>> {
    let product = service::owned(conn, actor, product_id, today)?;
    let mut query = batches::table
        .filter(batches::product_id.eq(&product.id))
        .order(batches::id.asc())
        .select(BatchRow::as_select())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(batches::id.gt(after.clone()));
    }
    let rows: Vec<BatchRow> = query.load(conn)?;
    Ok(Page::from_rows(rows, page, |b| b.id.clone(), BatchView::from))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TraceProduct {
    pub id: String,
    pub name: String,
    pub category: String,
    pub spec: String,
    pub unit: String,
    pub images: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TraceProducer {
    pub id: String,
    pub name: String,
    pub region_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TraceOrigin {
    pub code: String,
    /// From the province down: `贵州省 › 黔西南布依族苗族自治州 › 普安县`.
    pub display: String,
    pub chain: Vec<TraceRegion>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TraceRegion {
    pub code: String,
    pub name: String,
    pub level: regions::service::RegionLevel,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TraceView {
    pub trace_code: String,
    pub batch: BatchView,
    pub product: TraceProduct,
    pub producer: TraceProducer,
    pub origin: TraceOrigin,
    pub certificate: CertificationView,
    /// The product's quality labels, each with its state today.
    pub labels: Vec<super::view::LabelView>,
}

pub fn trace(conn: &mut DbConn, code: &str, today: NaiveDate) -> AppResult<TraceView> {
    let batch: BatchRow = batches::table
        .filter(batches::trace_code.eq(code.trim().to_uppercase()))
        .select(BatchRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("trace code"))?;
    let product = model::find(conn, &batch.product_id)?.ok_or_else(|| AppError::not_found("trace code"))?;
    let producer = crate::identity::model::find_org(conn, &product.producer_id)?
        .ok_or_else(|| AppError::not_found("trace code"))?
        .0;
    let codes: Vec<&str> = product.origin_path.split('/').filter(|c| !c.is_empty()).collect();
    let mut rows = regions::model::find_many(conn, &codes)?;
    rows.sort_by_key(|r| codes.iter().position(|c| *c == r.code));
    let chain: Vec<TraceRegion> = regions::service::views(conn, rows)?
        .into_iter()
        .map(|r| TraceRegion { code: r.code, name: r.name, level: r.level })
        .collect();
    let display = chain.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(" › ");
    let certificate = CertificationView {
        status: certification_status(&product, today),
        certificate_no: product.certificate_no.clone(),
        valid_until: product.cert_valid_until,
    };
    let labels = super::labels::of_product(conn, &product.id, today)?;
    Ok(TraceView {
        labels,
        trace_code: batch.trace_code.clone(),
        batch: batch.into(),
        product: TraceProduct {
            images: serde_json::from_str(&product.images).unwrap_or_default(),
            id: product.id,
            name: product.name,
            category: product.category,
            spec: product.spec,
            unit: product.unit,
        },
        producer: TraceProducer { id: producer.id, name: producer.name, region_code: producer.region_code },
        origin: TraceOrigin { code: product.origin_region_code, display, chain },
        certificate,
    })
}
