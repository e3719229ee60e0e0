//! Certification (认定): a producer applies per product; a coordinator admin whose region contains
//! the origin (or the platform admin) approves, rejects or later revokes. Every decision is an event.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{pending_of, record, save_request};
use super::model::{self, EventRow, ProductRow, RequestRow, is_reviewer};
use super::view::{CertificationStatus, PriceCheck, certification_status, price_check_of};
use super::{service, view};
use crate::clock::utc;
use crate::db::schema::{certification_events, certification_requests, products};
use crate::db::{DbConn, prefix_pattern};
use crate::error::{AppError, AppResult, Violations, on_unique_violation};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::worker::job::enqueue;
use crate::worker::payloads::Notice;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// What it is: 检测报告, 营业执照, 带贫协议 …
    pub kind: String,
    pub name: String,
    pub url: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequestBody {
    /// How poor households benefit (带贫机制).
    pub benefit_mechanism: String,
    #[serde(default)]
    pub documents: Vec<Document>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub product_id: String,
    pub product_name: String,
    pub producer_id: String,
    pub origin_region_code: String,
    /// `pending`, `approved`, `rejected` or `withdrawn`.
    pub status: String,
    pub benefit_mechanism: String,
    pub documents: Vec<Document>,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub certificate_no: Option<String>,
    pub valid_until: Option<NaiveDate>,
    /// The product's price against its category, for the reviewer.
    pub price_check: PriceCheck,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CertificationEventView)]
pub struct EventView {
    pub id: String,
    pub product_id: String,
    pub request_id: Option<String>,
    /// `requested`, `approved`, `rejected`, `revoked`, `withdrawn`, `reset`.
    pub action: String,
    pub actor_user_id: Option<String>,
    pub actor_org_id: Option<String>,
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Deciding takes an admin among the reviewers.
fn require_decider(actor: &Actor, product: &ProductRow) -> AppResult<()> {
    if actor.is_admin() && is_reviewer(actor, product) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only the platform admin, or a coordinator admin whose region contains the origin, decides certification",
        ))
    }
}

fn view(conn: &mut DbConn, req: RequestRow, product: &ProductRow, today: NaiveDate) -> AppResult<RequestView> {
    Ok(RequestView {
        documents: serde_json::from_str(&req.documents).map_err(|e| anyhow::anyhow!("stored documents: {e}"))?,
        price_check: price_check_of(conn, product, today)?,
        product_name: product.name.clone(),
        producer_id: product.producer_id.clone(),
        origin_region_code: product.origin_region_code.clone(),
        id: req.id,
        product_id: req.product_id,
        status: req.status,
        benefit_mechanism: req.benefit_mechanism,
        submitted_by: req.submitted_by,
        submitted_at: utc(req.submitted_at),
        decided_by: req.decided_by,
        decided_at: req.decided_at.map(utc),
        decision_reason: req.decision_reason,
        certificate_no: req.certificate_no,
        valid_until: req.valid_until,
    })
}

fn already_pending() -> AppError {
    AppError::conflict("already_pending", "this product already has a pending certification request")
}

pub fn submit(
    conn: &mut DbConn,
    actor: &Actor,
    product_id: &str,
    body: NewRequestBody,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<RequestView> {
    let mut product = service::owned(conn, actor, product_id, today)?;
    let mut v = Violations::new();
    let mechanism = body.benefit_mechanism.trim().to_owned();
    v.check(
        !mechanism.is_empty() && mechanism.chars().count() <= 2000,
        "benefit_mechanism",
        "must have 1 to 2000 characters",
    );
    v.check(body.documents.len() <= 20, "documents", "at most 20 documents");
    for (i, d) in body.documents.iter().enumerate() {
        v.check(
            !d.kind.trim().is_empty() && d.kind.chars().count() <= 50,
            &format!("documents[{i}].kind"),
            "must have 1 to 50 characters",
        );
        v.check(
            !d.name.trim().is_empty() && d.name.chars().count() <= 200,
            &format!("documents[{i}].name"),
            "must have 1 to 200 characters",
        );
        v.check(
            (d.url.starts_with("https://") || d.url.starts_with("http://")) && d.url.len() <= 500,
            &format!("documents[{i}].url"),
            "must be an http(s) URL of at most 500 characters",
        );
    }
    v.finish("validation_failed")?;
    if pending_of(conn, product_id)?.is_some() {
        return Err(already_pending());
    }
    let req = RequestRow {
        id: new_id("crq"),
        product_id: product_id.to_owned(),
        status: "pending".into(),
        benefit_mechanism: mechanism,
        documents: json!(body.documents).to_string(),
        submitted_by: actor.user_id.clone(),
        submitted_at: now,
        decided_by: None,
        decided_at: None,
        decision_reason: None,
        certificate_no: None,
        valid_until: None,
    };
    diesel::insert_into(certification_requests::table)
        .values(&req)
        .execute(conn)
        .map_err(|e| on_unique_violation(e, already_pending))?;
    // A renewal leaves a valid certificate in force while the new request is reviewed.
    if certification_status(&product, today) != CertificationStatus::Certified {
        product.cert_status = "pending".into();
        product.updated_at = now;
        model::save(conn, &product)?;
    }
    record(conn, product_id, Some(&req.id), "requested", Some(actor), None, json!({}), now)?;
    view(conn, req, &product, today)
}

fn find_request(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<(RequestRow, ProductRow)> {
    let req = certification_requests::table
        .find(id)
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("certification request"))?;
    let product = model::find(conn, &req.product_id)?.ok_or_else(|| AppError::not_found("certification request"))?;
    if !(is_reviewer(actor, &product) || product.producer_id == actor.org.id) {
        return Err(AppError::not_found("certification request"));
    }
    Ok((req, product))
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &str, today: NaiveDate) -> AppResult<RequestView> {
    let (req, product) = find_request(conn, actor, id)?;
    view(conn, req, &product, today)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestListQuery {
    /// `pending`, `approved`, `rejected` or `withdrawn`.
    pub status: Option<String>,
    pub product_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(RequestListQuery);

pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    q: RequestListQuery,
    page: &PageRequest,
    today: NaiveDate,
) -> AppResult<Page<RequestView>> {
    if let Some(s) = &q.status
        && !["pending", "approved", "rejected", "withdrawn"].contains(&s.as_str())
    {
        return Err(AppError::invalid_field(
            "validation_failed",
            "status",
            "must be pending, approved, rejected or withdrawn",
        ));
    }
    let mut query = certification_requests::table
        .inner_join(products::table)
        .select((RequestRow::as_select(), model::ProductRow::as_select()))
        .order(certification_requests::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    query = match actor.org_kind {
        OrgKind::Platform => query,
        OrgKind::Coordinator => {
            query.filter(products::origin_path.like(prefix_pattern(&actor.region_path)).escape('\\'))
        }
        OrgKind::Producer => query.filter(products::producer_id.eq(actor.org.id.clone())),
        OrgKind::Agency => return Err(AppError::forbidden("certification requests are for producers and reviewers")),
    };
    if let Some(s) = q.status {
        query = query.filter(certification_requests::status.eq(s));
    }
    if let Some(p) = q.product_id {
        query = query.filter(certification_requests::product_id.eq(p));
    }
    if let Some(after) = &page.after {
        query = query.filter(certification_requests::id.gt(after.clone()));
    }
    let rows: Vec<(RequestRow, ProductRow)> = query.load(conn)?;
    let page = Page::from_rows(rows, page, |(r, _)| r.id.clone(), |x| x);
    let mut items = Vec::with_capacity(page.items.len());
    for (req, product) in page.items {
        items.push(view(conn, req, &product, today)?);
    }
    Ok(Page { items, next_cursor: page.next_cursor })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The last day the certificate is valid (Asia/Shanghai); after today.
    pub valid_until: NaiveDate,
    /// Given by the catalogue office, or generated.
    #[schema(pattern = r"^[0-9A-Za-z-]{1,64}$")]
    pub certificate_no: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: String,
}

fn parse_reason(reason: &str) -> AppResult<String> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > 1000 {
        return Err(AppError::invalid_field("validation_failed", "reason", "must have 1 to 1000 characters"));
    }
    Ok(r.to_owned())
}

fn decidable(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<(RequestRow, ProductRow)> {
    let (req, product) = find_request(conn, actor, id)?;
    require_decider(actor, &product)?;
    if req.status != "pending" {
        return Err(AppError::conflict("invalid_state", format!("the request is already {}", req.status)));
    }
    Ok((req, product))
}

/// `DX-<origin>-<year>-<6 random>`, e.g. `DX-522323-2026-7KQ2MZ`.
fn generate_certificate_no(origin: &str, today: NaiveDate) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::thread_rng();
    let suffix: String = (0..6).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    format!("DX-{origin}-{}-{suffix}", today.format("%Y"))
}

pub fn approve(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    body: ApproveBody,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<RequestView> {
    let (mut req, mut product) = decidable(conn, actor, id)?;
    if body.valid_until <= today {
        return Err(AppError::invalid_field("validation_failed", "valid_until", "must be after today"));
    }
    let certificate_no = match body.certificate_no.map(|s| s.trim().to_owned()) {
        Some(no) => {
            if no.is_empty() || no.len() > 64 || !no.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(AppError::invalid_field(
                    "validation_failed",
                    "certificate_no",
                    "must be 1 to 64 letters, digits or '-'",
                ));
            }
            no
        }
        None => generate_certificate_no(&product.origin_region_code, today),
    };
    let taken = products::table
        .filter(products::certificate_no.eq(&certificate_no))
        .filter(products::id.ne(&product.id))
        .count()
        .get_result::<i64>(conn)?;
    if taken > 0 {
        return Err(AppError::conflict("certificate_no_taken", "another product holds this certificate number"));
    }
    req.status = "approved".into();
    req.decided_by = Some(actor.user_id.clone());
    req.decided_at = Some(now);
    req.certificate_no = Some(certificate_no.clone());
    req.valid_until = Some(body.valid_until);
    save_request(conn, &req)?;
    product.cert_status = "certified".into();
    product.certificate_no = Some(certificate_no.clone());
    product.cert_valid_until = Some(body.valid_until);
    product.updated_at = now;
    model::save(conn, &product).map_err(|e| match e {
        AppError::Database(d) => on_unique_violation(d, || {
            AppError::conflict("certificate_no_taken", "another product holds this certificate number")
        }),
        other => other,
    })?;
    let check = price_check_of(conn, &product, today)?;
    let details = json!({"certificate_no": certificate_no, "valid_until": body.valid_until, "price_check": check});
    record(conn, &product.id, Some(&req.id), "approved", Some(actor), None, details, now)?;
    service::reindex(conn, &product.id, now)?;
    enqueue(conn, &Notice::CertificationApproved { request_id: req.id.clone() }, now)?;
    view(conn, req, &product, today)
}

pub fn reject(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    body: ReasonBody,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<RequestView> {
    let (mut req, mut product) = decidable(conn, actor, id)?;
    let reason = parse_reason(&body.reason)?;
    req.status = "rejected".into();
    req.decided_by = Some(actor.user_id.clone());
    req.decided_at = Some(now);
    req.decision_reason = Some(reason.clone());
    save_request(conn, &req)?;
    if certification_status(&product, today) != CertificationStatus::Certified {
        product.cert_status = "rejected".into();
        product.updated_at = now;
        model::save(conn, &product)?;
    }
    record(conn, &product.id, Some(&req.id), "rejected", Some(actor), Some(&reason), json!({}), now)?;
    enqueue(conn, &Notice::CertificationRejected { request_id: req.id.clone() }, now)?;
    view(conn, req, &product, today)
}

/// A spot check failed: the certificate is withdrawn and the product leaves sale.
pub fn revoke(
    conn: &mut DbConn,
    actor: &Actor,
    product_id: &str,
    body: ReasonBody,
    now: NaiveDateTime,
    today: NaiveDate,
) -> AppResult<view::ProductView> {
    let mut product = service::visible(conn, Some(actor), product_id, today)?;
    require_decider(actor, &product)?;
    let reason = parse_reason(&body.reason)?;
    if product.cert_status != "certified" {
        return Err(AppError::conflict("not_certified", "the product holds no certificate to revoke"));
    }
    let details = json!({"certificate_no": product.certificate_no, "valid_until": product.cert_valid_until});
    product.cert_status = "revoked".into();
    if product.status == "listed" {
        product.status = "unlisted".into();
    }
    product.updated_at = now;
    model::save(conn, &product)?;
    record(conn, &product.id, None, "revoked", Some(actor), Some(&reason), details, now)?;
    service::reindex(conn, &product.id, now)?;
    view::ProductView::from_row(product, today)
}

/// The decision history of a product, for its producer and its reviewers.
pub fn events(
    conn: &mut DbConn,
    actor: &Actor,
    product_id: &str,
    page: &PageRequest,
    today: NaiveDate,
) -> AppResult<Page<EventView>> {
    let product = service::visible(conn, Some(actor), product_id, today)?;
    if !(is_reviewer(actor, &product) || product.producer_id == actor.org.id) {
        return Err(AppError::forbidden("the certification history is for the producer and its reviewers"));
    }
    let mut query = certification_events::table
        .filter(certification_events::product_id.eq(product_id.to_owned()))
        .order(certification_events::id.asc())
        .select(EventRow::as_select())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(certification_events::id.gt(after.clone()));
    }
    let rows: Vec<EventRow> = query.load(conn)?;
    Ok(Page::from_rows(
        rows,
        page,
        |e| e.id.clone(),
        |e| EventView {
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
            id: e.id,
            product_id: e.product_id,
            request_id: e.request_id,
            action: e.action,
            actor_user_id: e.actor_user_id,
            actor_org_id: e.actor_org_id,
            reason: e.reason,
            at: utc(e.at),
        },
    ))
}
