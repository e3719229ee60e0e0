//! The agency orders in bulk from an order sheet (订货单): `/agency/sheets` takes a CSV or XLSX
//! upload (at most 1 MB and 5,000 lines; a Chinese template to download), keeps it, and shows
//! a preview that marks every bad line before anything is placed; placing makes one order per
//! delivery address through the API's placing, once however often it is clicked.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{base, check_form, html, read_form, read_query, require_kind, time};
use super::sheet::{self, HEADINGS, MAX_SHEET_BYTES, MAX_SHEET_LINES, SheetRecord};
use crate::accounting::export::{self, FileFormat};
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::error::{AppError, AppResult};
use crate::identity::types::OrgKind;
use crate::notify::yuan;
use crate::state::AppState;

const PLACE: &str = "the agency workplace";
/// Room for the form's other fields and the multipart framing around the file.
const FORM_OVERHEAD: usize = 16 * 1024;

fn limits() -> Value {
    json!({"max_bytes": MAX_SHEET_BYTES, "max_lines": MAX_SHEET_LINES, "max_label": "1 MB"})
}

fn sheet_json(s: &SheetRecord, zone: chrono_tz::Tz) -> Value {
    json!({
        "id": s.id, "file_name": s.file_name, "line_count": s.line_count,
        "created_at": time(Some(s.created_at.and_utc()), zone),
        "placed_at": time(s.placed_at.map(|t| t.and_utc()), zone),
    })
}

/// The upload page, with the recent sheets; `refused` is an upload's error for the file field.
async fn upload_page(
    state: &AppState,
    who: &WebActor,
    status: StatusCode,
    refused: Option<(String, Value)>,
) -> AppResult<Response> {
    let actor = who.actor.clone();
    let recent = state.db.read(move |c| sheet::recent(c, &actor, 10)).await?;
    let mut context = base(who);
    context["limits"] = limits();
    context["recent"] = recent.iter().map(|s| sheet_json(s, state.config.timezone)).collect::<Vec<_>>().into();
    if let Some((message, typed)) = refused {
        context["errors"] = json!({"file": message});
        context["typed"] = typed;
    }
    html("agency_sheets.html", status, &context)
}

/// `GET /agency/sheets`.
pub async fn sheets(State(state): State<AppState>, headers: HeaderMap, who: WebActor) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        upload_page(&state, &who, StatusCode::OK, None).await
    }
    .await;
    web::respond(&headers, result)
}

#[derive(Default)]
struct Upload {
    csrf: String,
    contact: String,
    phone: String,
    file_name: String,
    bytes: Vec<u8>,
}

/// Reads the multipart form, refusing a body over the limit before it is read whole.
async fn read_upload(request: Request) -> AppResult<Upload> {
    let limit = MAX_SHEET_BYTES + FORM_OVERHEAD;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared.filter(|n| *n > limit) {
        return Err(sheet::too_large(n));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| sheet::too_large(limit + 1))?;
    let request = Request::from_parts(parts, Body::from(bytes));
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| AppError::bad_request("malformed_form", format!("the upload is not a multipart form: {e}")))?;
    let mut upload = Upload::default();
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        AppError::bad_request("malformed_form", format!("the upload is not readable: {e}"))
    };
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        match field.name().unwrap_or("") {
            "file" => {
                upload.file_name = field.file_name().unwrap_or("").to_owned();
                upload.bytes = field.bytes().await.map_err(unreadable)?.to_vec();
            }
            "csrf" => upload.csrf = field.text().await.map_err(unreadable)?,
            "contact" => upload.contact = field.text().await.map_err(unreadable)?,
            "phone" => upload.phone = field.text().await.map_err(unreadable)?,
            _ => {}
        }
    }
    Ok(upload)
}

/// `POST /agency/sheets` (multipart: `file`, default `contact` and `phone`, `csrf`): keeps the
/// sheet and shows its preview; a file that cannot be read is refused beside the file field.
pub async fn upload(State(state): State<AppState>, headers: HeaderMap, who: WebActor, request: Request) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        let upload = match read_upload(request).await {
            Ok(u) => u,
            Err(e) if e.code() == Some("payload_too_large") => {
                let message = e.to_problem().detail;
                return upload_page(&state, &who, StatusCode::PAYLOAD_TOO_LARGE, Some((message, json!({})))).await;
            }
            Err(e) => return Err(e),
        };
        check_form(&headers, &who, &upload.csrf)?;
        let typed = json!({"contact": upload.contact, "phone": upload.phone});
        let rows = match sheet::read(&upload.file_name, upload.bytes, &upload.contact, &upload.phone) {
            Ok(rows) => rows,
            Err(e) => {
                let problem = e.to_problem();
                let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
                let message = problem.errors.first().map(|f| f.message.clone()).unwrap_or(problem.detail);
                return upload_page(&state, &who, status, Some((message, typed))).await;
            }
        };
        let (ctx, actor, name) = (state.ctx(), who.actor.clone(), upload.file_name.clone());
        let id = state.db.write(move |c| sheet::store(c, &actor, &name, &rows, &ctx)).await?;
        Ok(Redirect::to(&format!("/agency/sheets/{id}")).into_response())
    }
    .await;
    web::respond(&headers, result)
}

/// `GET /agency/sheets/{id}`: the preview (every line checked as of now), or the orders it placed.
pub async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        preview_page(&state, &who, &id, StatusCode::OK, None).await
    }
    .await;
    web::respond(&headers, result)
}

async fn preview_page(
    state: &AppState,
    who: &WebActor,
    id: &str,
    status: StatusCode,
    refusal: Option<String>,
) -> AppResult<Response> {
    let (actor, id, today, zone) = (who.actor.clone(), id.to_owned(), state.now().1, state.config.timezone);
    let (record, checked, orders) = state
        .db
        .read(move |c| {
            let record = sheet::get(c, &actor, &id)?;
            if record.placed_at.is_some() {
                let ids = record.order_ids()?;
                let mut orders = Vec::new();
                for oid in &ids {
                    orders.push(crate::orders::listing::get(c, &actor, oid)?);
                }
                return Ok((record, None, orders));
            }
            let checked = sheet::check(c, &record.rows()?, today)?;
            Ok((record, Some(checked), Vec::new()))
        })
        .await?;
    let mut context = base(who);
    context["sheet"] = sheet_json(&record, zone);
    context["limits"] = limits();
    context["refusal"] = refusal.into();
    if let Some(checked) = checked {
        context["lines"] = checked
            .lines
            .iter()
            .map(|l| {
                json!({
                    "row": l.row, "typed": l.typed, "product_id": l.product_id, "product": l.product_name,
                    "spec": l.spec, "unit": l.unit, "producer": l.producer, "quantity": l.quantity,
                    "unit_price": if l.product_id.is_some() { yuan(l.unit_price_fen) } else { String::new() },
                    "subtotal": if l.product_id.is_some() { yuan(l.subtotal_fen) } else { String::new() },
                    "order_no": l.order_no, "errors": l.errors,
                })
            })
            .collect::<Vec<_>>()
            .into();
        context["bad_rows"] =
            checked.lines.iter().filter(|l| !l.errors.is_empty()).map(|l| l.row).collect::<Vec<_>>().into();
        context["bad_lines"] = checked.bad_lines.into();
        context["order_count"] = checked.orders.len().into();
        context["total"] = yuan(checked.total_fen).into();
        context["orders_planned"] = checked
            .orders
            .iter()
            .enumerate()
            .map(|(i, o)| {
                json!({"no": i + 1, "address": o.delivery.address, "contact": o.delivery.contact_name,
                       "phone": o.delivery.phone, "products": o.lines.len(), "total": yuan(o.total_fen)})
            })
            .collect::<Vec<_>>()
            .into();
    } else {
        context["placed"] = orders
            .iter()
            .map(|o| json!({"id": o.id, "total": yuan(o.total_fen), "status_label": crate::orders::state::order_label(o.status.as_str()),
                            "address": o.delivery.address, "sub_orders": o.sub_orders.len()}))
            .collect::<Vec<_>>()
            .into();
        context["placed_total"] = yuan(orders.iter().map(|o| o.total_fen).sum()).into();
    }
    html("agency_sheet.html", status, &context)
}

#[derive(Debug, Default, Deserialize)]
pub struct PlaceForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /agency/sheets/{id}/place`: every order of the sheet or none; placed once.
pub async fn place(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        let form: PlaceForm = read_form(&body)?;
        check_form(&headers, &who, &form.csrf)?;
        let (ctx, actor, sheet_id) = (state.ctx(), who.actor.clone(), id.clone());
        match state.db.write(move |c| sheet::place(c, &actor, &sheet_id, &ctx)).await {
            Ok(_) => Ok(Redirect::to(&format!("/agency/sheets/{id}")).into_response()),
            // The catalogue moved since the preview (stock sold, a certificate lapsed): show it again.
            Err(e) if matches!(e.to_problem().status, 409 | 422) => {
                let detail = e.to_problem().detail;
                preview_page(&state, &who, &id, StatusCode::CONFLICT, Some(detail)).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    web::respond(&headers, result)
}

#[derive(Debug, Default, Deserialize)]
struct TemplateQuery {
    format: Option<String>,
}

/// `GET /agency/sheet-template?format=xlsx|csv`: the headings in Chinese and two example lines
/// of goods on sale now.
pub async fn template(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        let q: TemplateQuery = read_query(raw.as_deref())?;
        let format = match export::parse_format(Some(q.format.as_deref().unwrap_or("xlsx")))? {
            FileFormat::Json => {
                return Err(AppError::invalid_field("validation_failed", "format", "must be xlsx or csv"));
            }
            other => other,
        };
        let today = state.now().1;
        let examples: Vec<(String, String)> = state
            .db
            .read(move |c| {
                use crate::db::schema::products as p;
                Ok(p::table
                    .filter(p::status.eq("listed"))
                    .filter(p::cert_status.eq("certified"))
                    .filter(p::cert_valid_until.ge(today))
                    .filter(p::stock.gt(0))
                    .order(p::id)
                    .limit(2)
                    .select((p::id, p::name))
                    .load(c)?)
            })
            .await?;
        let address = format!("{}（请改为实际收货地址）", who.actor.org.name);
        let mut rows: Vec<[String; 5]> = examples
            .iter()
            .enumerate()
            .map(|(i, (id, name))| {
                let product = if i == 0 { id.clone() } else { name.clone() };
                [product, "10".into(), address.clone(), "张老师".into(), "0752-2801234".into()]
            })
            .collect();
        if rows.is_empty() {
            rows.push([
                "prd_…（商品编码）或商品名称".into(),
                "10".into(),
                address,
                "张老师".into(),
                "0752-2801234".into(),
            ]);
        }
        let (bytes, kind, ext) = if format == FileFormat::Csv {
            let mut w = csv::Writer::from_writer(Vec::from("\u{feff}".as_bytes()));
            let write = |w: &mut csv::Writer<Vec<u8>>, r: &[String]| {
                w.write_record(r).map_err(|e| AppError::Unexpected(anyhow::anyhow!("template csv: {e}")))
            };
            write(&mut w, &HEADINGS.iter().map(|(h, _)| (*h).to_owned()).collect::<Vec<_>>())?;
            for r in &rows {
                write(&mut w, &r.iter().map(|c| export::never_a_formula(c)).collect::<Vec<_>>())?;
            }
            let bytes = w.into_inner().map_err(|e| AppError::Unexpected(anyhow::anyhow!("template csv: {e}")))?;
            (bytes, "text/csv; charset=utf-8", "csv")
        } else {
            (xlsx_template(&rows)?, export::XLSX_TYPE, "xlsx")
        };
        export::attachment(bytes, kind, "dongxi-order-sheet", "订货单", ext)
    }
    .await;
    web::respond(&headers, result)
}

fn xlsx_template(rows: &[[String; 5]]) -> AppResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let fault = |e: rust_xlsxwriter::XlsxError| AppError::Unexpected(anyhow::anyhow!("template xlsx: {e}"));
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("订货单").map_err(fault)?;
    for (i, (heading, _)) in HEADINGS.iter().enumerate() {
        sheet.write_string_with_format(0, i as u16, *heading, &bold).map_err(fault)?;
        sheet.set_column_width(i as u16, if i == 2 { 48 } else { 22 }).map_err(fault)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (i, cell) in row.iter().enumerate() {
            // Text, never a formula, whatever it starts with.
            sheet.write_string((r + 1) as u32, i as u16, cell).map_err(fault)?;
        }
    }
    let notes = book.add_worksheet().set_name("说明").map_err(fault)?;
    let lines = [
        "每行一种商品：商品编码（prd_ 开头，见找货页）或商品全名、数量（按商品的销售单位）、收货地址。".to_owned(),
        "收货人、联系电话可留空，上传时填写的默认收货人和电话会补上。".to_owned(),
        "同一收货地址（及收货人、电话）的各行合成一张订单；每种商品按该订单中的总数量计算阶梯价。".to_owned(),
        format!(
            "文件不超过 1 MB、{MAX_SHEET_LINES} 行。上传后先预览，标出有误的行（商品不存在、未认证、库存不足、低于起订量），改正后再下单。"
        ),
    ];
    for (i, l) in lines.iter().enumerate() {
        notes.write_string(i as u32, 0, l).map_err(fault)?;
    }
    notes.set_column_width(0, 100).map_err(fault)?;
    book.save_to_buffer().map_err(fault)
}
