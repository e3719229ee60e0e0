//! `GET /trace/{code}`: the public trace page (溯源) a package's QR code opens, for anyone and
//! without sign-in: the product, its producer, the origin from the province down, the batch and
//! the certificate as of today, from the same lookup as `GET /api/v1/trace/{code}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::forms::html;
use crate::catalog::categories;
use crate::catalog::trace;
use crate::dashboard::web;
use crate::state::AppState;

fn certificate_label(status: &str) -> &'static str {
    match status {
        "certified" => "有效",
        "expired" => "已过期",
        "revoked" => "已撤销",
        "pending" => "审核中",
        _ => "未认证",
    }
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap, Path(code): Path<String>) -> Response {
    let result = async {
        let (_, today) = state.now();
        let t = state.db.read(move |c| trace::trace(c, &code, today)).await?;
        let status = serde_json::to_value(t.certificate.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let context = json!({
            "code": t.trace_code,
            "product": {
                "name": t.product.name, "spec": t.product.spec, "unit": t.product.unit,
                "category": categories::find(&t.product.category).map_or(t.product.category.as_str(), |c| c.name),
            },
            "producer": t.producer.name,
            "origin": t.origin.chain.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
            "batch": {
                "batch_no": t.batch.batch_no, "produced_on": t.batch.produced_on.to_string(),
                "quantity": t.batch.quantity, "inspection_report_url": t.batch.inspection_report_url,
            },
            "certificate": {
                "status": status, "label": certificate_label(&status),
                "certificate_no": t.certificate.certificate_no,
                "valid_until": t.certificate.valid_until.map(|d| d.to_string()),
            },
            "labels": t.labels.iter().map(|l| json!({
                "kind": l.kind, "kind_name": l.kind_name, "issuer": l.issuer, "certificate_no": l.certificate_no,
                "valid_until": l.valid_until.to_string(), "status": l.status,
                "status_label": super::product_page::label_status(&l.status),
            })).collect::<Vec<_>>(),
            "today": today.to_string(),
        });
        html("trace.html", StatusCode::OK, &context)
    }
    .await;
    web::respond(&headers, result)
}
