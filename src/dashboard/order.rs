//! `GET /dashboard/orders/{id}?year=&scope=`: one order as the ledger counted it in a scope —
//! its entries and lines, who bought from whom — for a coordinator who may not see the order
//! itself (no address, no contact: only what the ledger holds).

use crate::accounting::entries;
use crate::accounting::progress;
use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use diesel::prelude::*;
use serde_json::json;

use super::session::WebActor;
use super::view::{query_string, scope_param};
use super::{query, web};
use crate::accounting::entries::LedgerQuery;
use crate::catalog::categories;
use crate::db::schema::products;
use crate::error::AppError;
use crate::http::pagination::PageRequest;
use crate::identity::model::org_names;
use crate::notify::yuan;
use crate::orders::state::order_label;
use crate::state::AppState;

pub async fn order(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(order_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let ctx = state.ctx();
        let sel = query::selection(&query::parse_raw(raw.as_deref())?, &ctx)?;
        let (kind, scope_id) =
            sel.scope.clone().ok_or_else(|| AppError::invalid_field("validation_failed", "scope", "kind:id, such as recipient:522300"))?;
        let actor = who.actor;
        let context = state
            .db
            .read(move |c| {
                let q = LedgerQuery {
                    year: sel.year,
                    scope_kind: Some(kind.as_str().to_owned()),
                    scope_id: Some(scope_id.clone()),
                    as_of: sel.as_of,
                    order_id: Some(order_id.clone()),
                    ..Default::default()
                };
                let entries = entries::ledger(c, &actor, &q, &PageRequest { limit: 200, after: None }, &ctx)?.items;
                // Nothing counted in this scope: as far as this page goes, there is no such order.
                let first = entries.first().ok_or_else(|| AppError::not_found("order"))?;
                let status: Option<String> = crate::db::schema::orders::table
                    .find(&order_id)
                    .select(crate::db::schema::orders::status)
                    .first(c)
                    .optional()?;
                let orgs: Vec<String> = entries.iter().flat_map(|e| [e.buyer_org_id.clone(), e.producer_id.clone()]).collect();
                let names = org_names(c, &orgs)?;
                let product_ids: Vec<String> = entries.iter().flat_map(|e| e.lines.iter().map(|l| l.product_id.clone())).collect();
                let product_names: HashMap<String, String> = products::table
                    .filter(products::id.eq_any(&product_ids))
                    .select((products::id, products::name))
                    .load::<(String, String)>(c)?
                    .into_iter()
                    .collect();
                let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_owned());
                let net: i64 = entries.iter().map(|e| e.amount_fen).sum();
                let scope = progress::visible_scope(c, &actor, kind.as_str(), &scope_id)?;
                let scope_value = scope_param(kind, &scope_id);
                let as_of_field = sel.as_of.map(|t| query::field_value(t, ctx.zone));
                Ok::<_, AppError>(json!({
                    "order_id": order_id,
                    "status": status.as_deref().map(order_label).unwrap_or("—"),
                    "buyer": name(&first.buyer_org_id),
                    "scope_name": progress::scope_name(c, &scope)?,
                    "year": sel.year,
                    "net": yuan(net),
                    "net_fen": net,
                    "back": format!("/dashboard?{}", query_string(&[], &sel.span, &scope_value, as_of_field.as_deref())),
                    "entries": entries.iter().map(|e| json!({
                        "id": e.id,
                        "kind": if e.kind == "reverse" { "冲回" } else { "计入" },
                        "amount": yuan(e.amount_fen),
                        "counted_at": e.counted_at.with_timezone(&ctx.zone).format("%Y-%m-%d %H:%M").to_string(),
                        "recorded_at": e.recorded_at.with_timezone(&ctx.zone).format("%Y-%m-%d %H:%M").to_string(),
                        "producer": name(&e.producer_id),
                        "certificate_no": e.certificate_no,
                        "adjusts_year": e.adjusts_year,
                        "lines": e.lines.iter().map(|l| json!({
                            "product": product_names.get(&l.product_id).cloned().unwrap_or_else(|| l.product_id.clone()),
                            "category": categories::find(&l.category).map(|c| c.name).unwrap_or(l.category.as_str()),
                            "amount": yuan(l.amount_fen),
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                }))
            })
            .await?;
        Ok(web::page(StatusCode::OK, web::render("order.html", &context)?))
    }
    .await;
    web::respond(&headers, result)
}
