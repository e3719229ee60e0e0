//! What a product looks like: its status and certification as of today (a certificate past its
//! date reads `expired`), whether it is on sale, and the price check against its category.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{self, ProductRow};
use super::types::{Storage, Tier};
use crate::clock::utc;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};

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
    /// Its quality labels (圳品, 绿色食品, 有机产品, 农产品地理标志), on `GET /products/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<LabelView>>,
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

/// 409 `not_orderable`: the product is not on sale (not listed, or no valid certificate).
pub fn not_orderable(product_id: &str) -> AppError {
    AppError::conflict(
        "not_orderable",
        format!("product {product_id} is not on sale (not listed, or no valid certificate)"),
    )
    .with("product_id", product_id)
}

impl ProductView {
    pub fn from_row(row: ProductRow, today: NaiveDate) -> AppResult<Self> {
        let cert_status = certification_status(&row, today);
        Ok(ProductView {
            tiers: row.tiers()?,
            images: row.images()?,
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
            labels: None,
        })
    }
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

/// The labels a product may carry: (code, Chinese name).
pub const KINDS: [(&str, &str); 4] =
    [("szpin", "圳品"), ("green_food", "绿色食品"), ("organic", "有机产品"), ("geo_indication", "农产品地理标志")];

/// Whether `kind` is one of the label kinds (the search filter and adding a label both ask).
pub fn is_label_kind(kind: &str) -> bool {
    KINDS.iter().any(|(code, _)| *code == kind)
}

/// How a refusal of an unknown label kind reads.
pub const LABEL_KINDS_TEXT: &str = "must be szpin, green_food, organic or geo_indication";

pub fn kind_name(kind: &str) -> &'static str {
    KINDS.iter().find(|(code, _)| *code == kind).map_or("", |(_, name)| name)
}

/// A label as the product, the trace page and the producer show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabelView {
    pub id: String,
    pub product_id: String,
    pub kind: String,
    /// 圳品, 绿色食品, 有机产品 or 农产品地理标志.
    pub kind_name: String,
    pub issuer: String,
    pub certificate_no: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub document_url: Option<String>,
    /// `valid`, `expired` (after `valid_until`) or `not_yet_valid` (before `valid_from`), today.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

pub fn status_on(row: &super::model::LabelRow, today: NaiveDate) -> &'static str {
    if today < row.valid_from {
        "not_yet_valid"
    } else if today > row.valid_until {
        "expired"
    } else {
        "valid"
    }
}

pub fn label_view(row: super::model::LabelRow, today: NaiveDate) -> LabelView {
    LabelView {
        status: status_on(&row, today).to_owned(),
        kind_name: kind_name(&row.kind).to_owned(),
        id: row.id,
        product_id: row.product_id,
        kind: row.kind,
        issuer: row.issuer,
        certificate_no: row.certificate_no,
        valid_from: row.valid_from,
        valid_until: row.valid_until,
        document_url: row.document_url,
        created_at: crate::clock::utc(row.created_at),
    }
}
