//! A product's quality labels in the producer's workplace: added by form on the product's page
//! (kind, issuer, certificate number, validity, document) and removed there, through the same
//! service as `POST /api/v1/products/{id}/labels` and its `DELETE`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde_json::json;

use super::forms::{Pairs, posted};
use super::product_form::{PLACE, refusal};
use super::product_page::{Refused, render};
use crate::catalog::labels::{self, NewLabelBody};
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::error::{AppError, AppResult, Violations};
use crate::identity::types::OrgKind;
use crate::state::AppState;

/// The form's dates read; one that cannot be read is refused beside its field.
fn label_of(form: &Pairs) -> AppResult<NewLabelBody> {
    let mut v = Violations::new();
    let mut date = |field: &str| {
        let d = NaiveDate::parse_from_str(form.get(field).trim(), "%Y-%m-%d").ok();
        v.check(d.is_some(), field, "请按 2021-06-01 的格式填写日期");
        d.unwrap_or_default()
    };
    let (valid_from, valid_until) = (date("valid_from"), date("valid_until"));
    v.finish("validation_failed")?;
    Ok(NewLabelBody {
        kind: form.get("kind").into(),
        issuer: form.get("issuer").into(),
        certificate_no: form.get("certificate_no").into(),
        valid_from,
        valid_until,
        document_url: Some(form.get("document_url").to_owned()),
    })
}

/// `POST /producer/products/{id}/labels`.
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = posted(&headers, &who, OrgKind::Producer, PLACE, &body)?;
        let (now, today) = state.now();
        let (actor, product_id) = (who.actor.clone(), id.clone());
        let done = match label_of(&form) {
            Ok(b) => state.db.write(move |c| labels::add(c, &actor, &product_id, b, now, today)).await,
            Err(e) => Err(e),
        };
        // A kind the product carries already is the kind field's error here.
        let done = done.map_err(|e| match e.code() {
            Some("label_exists") => {
                AppError::invalid_field("label_exists", "kind", "该产品已有此类标识：请先移除原标识")
            }
            _ => e,
        });
        match done {
            Ok(_) => Ok(Redirect::to(&format!("/producer/products/{id}#labels")).into_response()),
            Err(e) => {
                let (fields, detail) = refusal(e)?;
                let refused = json!({"typed": typed_of(&form), "fields": fields, "detail": detail});
                render(&state, &who, id, Refused::Label(refused)).await
            }
        }
    }
    .await;
    web::respond(&headers, result)
}

fn typed_of(form: &Pairs) -> serde_json::Value {
    json!({
        "kind": form.get("kind"), "issuer": form.get("issuer"), "certificate_no": form.get("certificate_no"),
        "valid_from": form.get("valid_from"), "valid_until": form.get("valid_until"),
        "document_url": form.get("document_url"),
    })
}

/// `POST /producer/products/{id}/labels/{label_id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path((id, label_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        posted(&headers, &who, OrgKind::Producer, PLACE, &body)?;
        let (now, today) = state.now();
        let (actor, product_id) = (who.actor.clone(), id.clone());
        state.db.write(move |c| labels::remove(c, &actor, &product_id, &label_id, now, today)).await?;
        Ok(Redirect::to(&format!("/producer/products/{id}#labels")).into_response())
    }
    .await;
    web::respond(&headers, result)
}
