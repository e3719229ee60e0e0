//! Quality labels (质量标识) beside the assistance certificate: 圳品 (the Shenzhen standard),
//! 绿色食品, 有机产品 and 农产品地理标志, each with its issuer, certificate number, validity and a
//! document. A label's state is read from its dates on the day asked (it expires by itself, as a
//! certificate does); adding and removing one are audited in the product's certification history.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::record;
use super::model::LabelRow;
use super::service;
use super::view::label_view as view;
pub use super::view::{KINDS, LabelView};
use super::view::{LABEL_KINDS_TEXT, is_label_kind};
use crate::db::DbConn;
use crate::db::schema::product_labels as pl;
use crate::error::{AppError, AppResult, Violations, on_unique_violation};
use crate::identity::Actor;
use crate::ids::new_id;
use crate::validate::required_text;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLabelBody {
    /// `szpin` (圳品), `green_food` (绿色食品), `organic` (有机产品) or `geo_indication` (农产品地理标志).
    #[schema(pattern = r"^(szpin|green_food|organic|geo_indication)$")]
    pub kind: String,
    /// Who certified it, e.g. 中国绿色食品发展中心.
    #[schema(min_length = 1, max_length = 100)]
    pub issuer: String,
    #[schema(min_length = 1, max_length = 64)]
    pub certificate_no: String,
    /// The first day the label is valid (Asia/Shanghai).
    pub valid_from: NaiveDate,
    /// The last day it is valid; not before `valid_from`.
    pub valid_until: NaiveDate,
    /// The certificate's document, an http(s) URL.
    pub document_url: Option<String>,
}

fn label_exists() -> AppError {
    AppError::conflict("label_exists", "the product already carries a label of this kind; remove it first")
}

/// The producer adds a label to its product: one of each kind at a time.
pub fn add(
    conn: &mut DbConn,
    actor: &Actor,
    product_id: &str,
    body: NewLabelBody,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<LabelView> {
    let product = service::owned(conn, actor, product_id, today)?;
    let mut v = Violations::new();
    let kind = body.kind.trim().to_owned();
    v.check(is_label_kind(&kind), "kind", LABEL_KINDS_TEXT);
    let issuer = required_text(&mut v, "issuer", &body.issuer, 100);
    let certificate_no = required_text(&mut v, "certificate_no", &body.certificate_no, 64);
    v.check(body.valid_until >= body.valid_from, "valid_until", "must not be before valid_from");
    let document_url = body.document_url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    if let Some(url) = &document_url {
        v.check(
            (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= 500
                && !url.chars().any(|c| c.is_whitespace() || c.is_control()),
            "document_url",
            "must be an http(s) URL of at most 500 characters",
        );
    }
    v.finish("validation_failed")?;
    let carried: i64 = pl::table
        .filter(pl::product_id.eq(&product.id))
        .filter(pl::kind.eq(&kind))
        .filter(pl::removed_at.is_null())
        .count()
        .get_result(conn)?;
    if carried > 0 {
        return Err(label_exists());
    }
    let row = LabelRow {
        id: new_id("lbl"),
        product_id: product.id.clone(),
        kind,
        issuer,
        certificate_no,
        valid_from: body.valid_from,
        valid_until: body.valid_until,
        document_url,
        added_by: actor.user_id.clone(),
        created_at: now,
        removed_at: None,
    };
    diesel::insert_into(pl::table).values(&row).execute(conn).map_err(|e| on_unique_violation(e, label_exists))?;
    let details = json!({
        "label_id": row.id, "kind": row.kind, "issuer": row.issuer, "certificate_no": row.certificate_no,
        "valid_from": row.valid_from, "valid_until": row.valid_until,
    });
    record(conn, &product.id, None, "label_added", Some(actor), None, details, now)?;
    service::reindex(conn, &product.id, now)?;
    Ok(view(row, today))
}

/// The producer removes a label (it is kept, marked removed, for the audit trail).
pub fn remove(
    conn: &mut DbConn,
    actor: &Actor,
    product_id: &str,
    label_id: &str,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<()> {
    let product = service::owned(conn, actor, product_id, today)?;
    let removed = diesel::update(
        pl::table.filter(pl::id.eq(label_id)).filter(pl::product_id.eq(&product.id)).filter(pl::removed_at.is_null()),
    )
    .set(pl::removed_at.eq(now))
    .execute(conn)?;
    if removed == 0 {
        return Err(AppError::not_found("label"));
    }
    record(conn, &product.id, None, "label_removed", Some(actor), None, json!({"label_id": label_id}), now)?;
    service::reindex(conn, &product.id, now)
}

/// The labels a product carries (not removed), by kind; for anyone who may see the product.
pub fn of_product(conn: &mut DbConn, product_id: &str, today: NaiveDate) -> AppResult<Vec<LabelView>> {
    let rows: Vec<LabelRow> = pl::table
        .filter(pl::product_id.eq(product_id))
        .filter(pl::removed_at.is_null())
        .order((pl::kind.asc(), pl::id.asc()))
        .select(LabelRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| view(r, today)).collect())
}

/// `GET /products/{id}/labels`: the product's labels, if the viewer may see the product.
pub fn list(
    conn: &mut DbConn,
    viewer: Option<&Actor>,
    product_id: &str,
    today: NaiveDate,
) -> AppResult<Vec<LabelView>> {
    let product = service::visible(conn, viewer, product_id, today)?;
    of_product(conn, &product.id, today)
}
