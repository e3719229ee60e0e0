//! The producer's products: `/producer/products` (each with its state, certificate and its
//! validity, price, tiers and stock; a certificate running out within 30 days is marked), and
//! putting one on sale or taking it off, through the same services as the API.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{base, check_form, html, list_context, list_query, read_form, require_kind};
use crate::catalog::categories;
use crate::catalog::service::{self as catalog, ProductListQuery};
use crate::catalog::view::ProductView;
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::http::pagination::Paged;
use crate::identity::types::OrgKind;
use crate::notify::yuan;
use crate::state::AppState;

const PLACE: &str = "the producer workplace";
const STATUSES: [&str; 3] = ["draft", "listed", "unlisted"];

fn product_label(status: &str) -> &'static str {
    match status {
        "draft" => "草稿",
        "listed" => "在售",
        "unlisted" => "已下架",
        _ => "—",
    }
}

fn certification_label(status: &str) -> &'static str {
    match status {
        "none" => "未申请",
        "pending" => "审核中",
        "certified" => "已认证",
        "rejected" => "未通过",
        "expired" => "已过期",
        "revoked" => "已撤销",
        _ => "—",
    }
}

fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

pub(super) fn product_json(p: &ProductView, today: chrono::NaiveDate) -> Value {
    let (status, cert) = (name_of(&p.status), name_of(&p.certification.status));
    let expiring = p.certification.valid_until.is_some_and(|d| cert == "certified" && (d - today).num_days() <= 30);
    json!({
        "id": p.id, "name": p.name, "spec": p.spec, "unit": p.unit,
        "category": categories::find(&p.category).map(|c| c.name).unwrap_or(p.category.as_str()),
        "status": status, "status_label": product_label(&status),
        "certification": cert, "certification_label": certification_label(&cert),
        "certificate_no": p.certification.certificate_no,
        "valid_until": p.certification.valid_until.map(|d| d.to_string()),
        "expiring": expiring,
        "price": yuan(p.price_fen), "stock": p.stock, "min_order_qty": p.min_order_qty,
        "origin_region_code": p.origin_region_code, "images": p.images,
        "tiers": p.tiers.iter().map(|t| format!("{}{}起 ¥{}", t.min_qty, p.unit, yuan(t.price_fen))).collect::<Vec<_>>(),
        "can_publish": status != "listed" && cert == "certified",
        "can_unpublish": status == "listed",
    })
}

/// `GET /producer/products?status=&cursor=`.
pub async fn products(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Producer, PLACE)?;
        let q = list_query(raw.as_deref())?;
        let (_, today) = state.now();
        let actor = who.actor.clone();
        let list_q = ProductListQuery {
            producer_id: Some(actor.org.id.clone()),
            status: q.status.clone(),
            category: None,
            origin: None,
            limit: Some(50),
            cursor: q.cursor,
        };
        let page = list_q.page()?;
        let found = state.db.read(move |c| catalog::list(c, Some(&actor), list_q, &page, today)).await?;
        let mut context = base(&who);
        context["items"] = found.items.iter().map(|p| product_json(p, today)).collect::<Vec<_>>().into();
        list_context(
            &mut context,
            "/producer/products",
            &STATUSES,
            product_label,
            q.status.as_deref(),
            found.next_cursor,
        );
        html("producer_products.html", StatusCode::OK, &context)
    }
    .await;
    web::respond(&headers, result)
}

#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /producer/products/{id}/publish` and `…/unpublish`: as the API's, then back to the list.
async fn put_on_sale(
    state: AppState,
    headers: HeaderMap,
    who: WebActor,
    id: String,
    body: &[u8],
    on: bool,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Producer, PLACE)?;
        let form: TokenForm = read_form(body)?;
        check_form(&headers, &who, &form.csrf)?;
        let (now, today) = state.now();
        let actor = who.actor.clone();
        state
            .db
            .write(move |c| {
                if on {
                    catalog::publish(c, &actor, &id, now, today)
                } else {
                    catalog::unpublish(c, &actor, &id, now, today)
                }
            })
            .await?;
        Ok(Redirect::to("/producer/products").into_response())
    }
    .await;
    web::respond(&headers, result)
}

pub async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    put_on_sale(state, headers, who, id, &body, true).await
}

pub async fn unpublish(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    put_on_sale(state, headers, who, id, &body, false).await
}
