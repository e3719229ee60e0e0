//! One product of the producer's (`/producer/products/{id}`): its form to edit, its certification
//! (the state, every request with its decision, a form to ask for certification or its renewal),
//! and its batches with their trace codes, each linked to the public trace page; a batch and a
//! request are made here through the same services as the API.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{Pairs, base, html, posted, read_query, require_kind};
use super::product_form::{PLACE, body_from, form_context, patch_of, refusal, typed_from, typed_of};
use super::products::product_json;
use crate::catalog::certification::{self, Document, NewRequestBody, RequestListQuery};
use crate::catalog::labels;
use crate::catalog::service as catalog;
use crate::catalog::trace::{self, NewBatchBody};
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::error::{AppError, AppResult, Violations};
use crate::http::pagination::PageRequest;
use crate::identity::types::OrgKind;
use crate::state::AppState;

/// Document rows the certification form offers (the API takes up to twenty).
const DOCUMENT_ROWS: usize = 3;

/// The most requests and batches the page shows, newest last.
const SHOWN: i64 = 100;

/// Which of the page's forms was refused, with what was typed and its errors.
pub enum Refused {
    None,
    /// Nothing refused, and the edit just saved.
    Saved,
    Edit(Value),
    Certification(Value),
    Batch(Value),
    Label(Value),
}

/// A quality label's state as the pages say it.
pub fn label_status(status: &str) -> &'static str {
    match status {
        "valid" => "有效",
        "expired" => "已过期",
        "not_yet_valid" => "未生效",
        _ => "—",
    }
}

fn request_label(status: &str) -> &'static str {
    match status {
        "pending" => "审核中",
        "approved" => "已通过",
        "rejected" => "未通过",
        "withdrawn" => "已撤回",
        _ => "—",
    }
}

/// The page, with a refused form's errors beside its fields (422) or none (200).
pub async fn render(state: &AppState, who: &WebActor, id: String, refused: Refused) -> AppResult<Response> {
    require_kind(who, OrgKind::Producer, PLACE)?;
    let (_, today) = state.now();
    let zone = state.config.timezone;
    let actor = who.actor.clone();
    let (product, requests, batches, labels) = state
        .db
        .read(move |c| {
            catalog::owned(c, &actor, &id, today)?;
            let product = catalog::get(c, Some(&actor), &id, today)?;
            let page = PageRequest { limit: SHOWN, after: None };
            let q = RequestListQuery { product_id: Some(id.clone()), ..Default::default() };
            let requests = certification::list(c, &actor, q, &page, today)?.items;
            let batches = trace::list(c, &actor, &id, &page, today)?.items;
            let labels = labels::of_product(c, &id, today)?;
            Ok((product, requests, batches, labels))
        })
        .await?;
    let mut context = base(who);
    context["p"] = product_json(&product, today);
    context["requests"] = requests
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "status": r.status, "status_label": request_label(&r.status),
                "benefit_mechanism": r.benefit_mechanism,
                "documents": r.documents,
                "submitted_at": super::forms::time(Some(r.submitted_at), zone),
                "decided_at": super::forms::time(r.decided_at, zone),
                "decision_reason": r.decision_reason, "certificate_no": r.certificate_no,
                "valid_until": r.valid_until.map(|d| d.to_string()),
            })
        })
        .collect::<Vec<_>>()
        .into();
    context["batches"] = batches
        .iter()
        .map(|b| {
            json!({
                "batch_no": b.batch_no, "produced_on": b.produced_on.to_string(), "quantity": b.quantity,
                "inspection_report_url": b.inspection_report_url, "trace_code": b.trace_code,
            })
        })
        .collect::<Vec<_>>()
        .into();
    context["labels"] = labels
        .iter()
        .map(|l| {
            json!({
                "id": l.id, "kind": l.kind, "kind_name": l.kind_name, "issuer": l.issuer,
                "certificate_no": l.certificate_no, "valid_from": l.valid_from.to_string(),
                "valid_until": l.valid_until.to_string(), "document_url": l.document_url,
                "status": l.status, "status_label": label_status(&l.status),
            })
        })
        .collect::<Vec<_>>()
        .into();
    context["label_kinds"] =
        labels::KINDS.iter().map(|(code, name)| json!({"code": code, "name": name})).collect::<Vec<_>>().into();
    let pending = requests.iter().any(|r| r.status == "pending");
    context["can_request"] = (!pending).into();
    let empty_docs = vec![json!({"kind": "", "name": "", "url": ""}); DOCUMENT_ROWS];
    let mut label = json!({"typed": {}, "fields": {}});
    let (mut edit, mut cert, mut batch) = (
        None,
        json!({"typed": {"documents": empty_docs}, "fields": {}}),
        json!({"typed": {"produced_on": today.to_string()}, "fields": {}}),
    );
    let status = match refused {
        Refused::None => StatusCode::OK,
        Refused::Saved => {
            context["saved"] = true.into();
            StatusCode::OK
        }
        Refused::Edit(form) => {
            edit = Some(form);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Refused::Certification(form) => {
            cert = form;
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Refused::Batch(form) => {
            batch = form;
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Refused::Label(form) => {
            label = form;
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    context["form"] = edit.unwrap_or_else(|| form_context(typed_of(Some(&product), &who.actor.org.region_code), None));
    context["cert"] = cert;
    context["batch"] = batch;
    context["label"] = label;
    html("producer_product.html", status, &context)
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    saved: Option<String>,
}

/// `GET /producer/products/{id}`: the owner's; another producer's is 403, as in the API.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let q: PageQuery = read_query(raw.as_deref())?;
        // A save redirects here with `saved=1`, so the page can say it was saved.
        let shown = if q.saved.is_some() { Refused::Saved } else { Refused::None };
        render(&state, &who, id, shown).await
    }
    .await;
    web::respond(&headers, result)
}

/// The certification form's documents: rows with any field filled, each needing all three.
fn documents_of(form: &Pairs) -> Vec<Document> {
    let (kinds, names, urls) = (form.all("doc_kind"), form.all("doc_name"), form.all("doc_url"));
    (0..kinds.len().max(names.len()).max(urls.len()))
        .map(|i| {
            let at = |v: &Vec<&str>| v.get(i).map_or(String::new(), |s| s.trim().to_owned());
            Document { kind: at(&kinds), name: at(&names), url: at(&urls) }
        })
        .filter(|d| !(d.kind.is_empty() && d.name.is_empty() && d.url.is_empty()))
        .collect()
}

/// `POST /producer/products/{id}/certification`: as `POST /api/v1/products/{id}/certification-requests`.
pub async fn request_certification(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = posted(&headers, &who, OrgKind::Producer, PLACE, &body)?;
        let documents = documents_of(&form);
        let request = NewRequestBody { benefit_mechanism: form.get("benefit_mechanism").into(), documents };
        let (now, today) = state.now();
        let (actor, product_id) = (who.actor.clone(), id.clone());
        let done = state.db.write(move |c| certification::submit(c, &actor, &product_id, request, now, today)).await;
        match done {
            Ok(_) => Ok(Redirect::to(&format!("/producer/products/{id}#certification")).into_response()),
            Err(e) => {
                let (fields, detail) = refusal(e)?;
                let docs: Vec<Value> = (0..DOCUMENT_ROWS.max(form.all("doc_kind").len()))
                    .map(|i| {
                        let at = |name: &str| form.all(name).get(i).copied().unwrap_or("").to_owned();
                        json!({"kind": at("doc_kind"), "name": at("doc_name"), "url": at("doc_url")})
                    })
                    .collect();
                let typed = json!({"benefit_mechanism": form.get("benefit_mechanism"), "documents": docs});
                let refused = Refused::Certification(json!({"typed": typed, "fields": fields, "detail": detail}));
                render(&state, &who, id, refused).await
            }
        }
    }
    .await;
    web::respond(&headers, result)
}

/// The batch form read into the API's body; a date or quantity that cannot be read is refused here.
fn batch_of(form: &Pairs) -> AppResult<NewBatchBody> {
    let mut v = Violations::new();
    let produced_on = NaiveDate::parse_from_str(form.get("produced_on").trim(), "%Y-%m-%d").ok();
    v.check(produced_on.is_some(), "produced_on", "请按 2021-06-01 的格式填写生产日期");
    let quantity = super::forms::int_of(&mut v, "quantity", form.get("quantity"));
    v.check(!form.get("quantity").trim().is_empty(), "quantity", "请填写数量");
    v.finish("validation_failed")?;
    let url = form.get("inspection_report_url").trim();
    Ok(NewBatchBody {
        batch_no: form.get("batch_no").into(),
        produced_on: produced_on.unwrap_or_default(),
        quantity: quantity.unwrap_or_default(),
        inspection_report_url: Some(url.to_owned()).filter(|u| !u.is_empty()),
    })
}

/// `POST /producer/products/{id}/batches`: as `POST /api/v1/products/{id}/batches`; the new
/// batch's trace code is on the page.
pub async fn add_batch(
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
        let done = match batch_of(&form) {
            Ok(b) => state.db.write(move |c| trace::create(c, &actor, &product_id, b, now, today)).await,
            Err(e) => Err(e),
        };
        // A batch number the product has already is the batch number field's error here.
        let done = done.map_err(|e| match e.code() {
            Some("batch_exists") => {
                AppError::invalid_field("batch_exists", "batch_no", "this product already has a batch with that number")
            }
            _ => e,
        });
        match done {
            Ok(_) => Ok(Redirect::to(&format!("/producer/products/{id}#batches")).into_response()),
            Err(e) => {
                let (fields, detail) = refusal(e)?;
                let typed = json!({
                    "batch_no": form.get("batch_no"), "produced_on": form.get("produced_on"),
                    "quantity": form.get("quantity"), "inspection_report_url": form.get("inspection_report_url"),
                });
                let refused = Refused::Batch(json!({"typed": typed, "fields": fields, "detail": detail}));
                render(&state, &who, id, refused).await
            }
        }
    }
    .await;
    web::respond(&headers, result)
}

/// `POST /producer/products/{id}`: as `PATCH /api/v1/products/{id}` with every field; a changed
/// origin or specification of a certified product sends it back to certification, as there.
pub async fn update(
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
        let done = match body_from(&form) {
            Ok(b) => state.db.write(move |c| catalog::update(c, &actor, &product_id, patch_of(b), now, today)).await,
            Err(e) => Err(e),
        };
        match done {
            Ok(p) => Ok(Redirect::to(&format!("/producer/products/{}?saved=1", p.id)).into_response()),
            Err(e) => {
                let errors = refusal(e)?;
                let refused = Refused::Edit(form_context(typed_from(&form), Some(errors)));
                render(&state, &who, id, refused).await
            }
        }
    }
    .await;
    web::respond(&headers, result)
}
