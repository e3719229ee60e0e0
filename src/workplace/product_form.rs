//! The producer's product form, new (`/producer/products/new`) and as edited on the product's
//! page: every field as `POST /api/v1/products` and `PATCH
//! /api/v1/products/{id}` take it, prices typed in yuan, up to four quantity tiers, photos by URL
//! one a line. A refused value is shown beside its field with what was typed, and nothing is saved.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::forms::{Pairs, base, fen_of, field_errors, form_fields, html, int_of, posted, require_kind};
use crate::catalog::categories;
use crate::catalog::service as catalog;
use crate::catalog::types::{NewProductBody, PatchProductBody, Storage, Tier};
use crate::catalog::view::ProductView;
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::error::{AppError, AppResult, Violations};
use crate::identity::types::OrgKind;
use crate::notify::yuan;
use crate::state::AppState;

pub const PLACE: &str = "the producer workplace";

/// Tier rows the form offers; the API takes up to ten, a producer rarely needs more than three.
const TIER_ROWS: usize = 4;

/// The API's field names as the form calls them.
const RENAMES: &[(&str, &str)] = &[("price_fen", "price"), ("tiers", "tiers"), ("images", "images")];

const TEXT_FIELDS: [&str; 11] = [
    "name",
    "category",
    "description",
    "origin_region_code",
    "unit",
    "spec",
    "net_weight_g",
    "price",
    "min_order_qty",
    "stock",
    "shelf_life_days",
];

/// What the form shows: typed values (or the product's), each field's error, the choices.
pub fn form_context(typed: Value, errors: Option<(BTreeMap<String, String>, String)>) -> Value {
    let cats: Vec<Value> = categories::CATEGORIES.iter().map(|c| json!({"code": c.code, "name": c.name})).collect();
    let storages = [("ambient", "常温"), ("chilled", "冷藏"), ("frozen", "冷冻")]
        .iter()
        .map(|(code, name)| json!({"code": code, "name": name}))
        .collect::<Vec<_>>();
    let (fields, detail) = errors.unwrap_or_default();
    json!({"typed": typed, "fields": fields, "detail": detail, "categories": cats, "storages": storages})
}

/// The form filled from a product (to edit it) or, for a new one, from the producer's county.
pub fn typed_of(p: Option<&ProductView>, region_code: &str) -> Value {
    let Some(p) = p else {
        let tiers = vec![json!({"qty": "", "price": ""}); TIER_ROWS];
        return json!({"origin_region_code": region_code, "min_order_qty": "1", "storage": "ambient", "tiers": tiers});
    };
    let mut tiers: Vec<Value> =
        p.tiers.iter().map(|t| json!({"qty": t.min_qty.to_string(), "price": yuan(t.price_fen)})).collect();
    tiers.resize(TIER_ROWS.max(tiers.len()), json!({"qty": "", "price": ""}));
    let opt = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    json!({
        "name": p.name, "category": p.category, "description": p.description,
        "origin_region_code": p.origin_region_code, "unit": p.unit, "spec": p.spec,
        "net_weight_g": opt(p.net_weight_g), "price": yuan(p.price_fen),
        "min_order_qty": p.min_order_qty.to_string(), "stock": p.stock.to_string(),
        "storage": p.storage.as_str(), "shelf_life_days": opt(p.shelf_life_days),
        "images": p.images.join("\n"), "tiers": tiers,
    })
}

/// The form as typed, to show again.
pub(super) fn typed_from(form: &Pairs) -> Value {
    let mut typed = serde_json::Map::new();
    for name in TEXT_FIELDS.iter().chain(&["storage", "images"]) {
        typed.insert((*name).into(), form.get(name).into());
    }
    let (qtys, prices) = (form.all("tier_qty"), form.all("tier_price"));
    let rows = TIER_ROWS.max(qtys.len()).max(prices.len());
    let tiers: Vec<Value> = (0..rows)
        .map(|i| json!({"qty": qtys.get(i).copied().unwrap_or(""), "price": prices.get(i).copied().unwrap_or("")}))
        .collect();
    typed.insert("tiers".into(), tiers.into());
    Value::Object(typed)
}

/// Every field read into the API's body; what cannot be read (a price that is not yuan, a tier
/// row half filled) is refused here with the same `validation_failed` the API gives.
pub(super) fn body_from(form: &Pairs) -> AppResult<NewProductBody> {
    let mut v = Violations::new();
    let price_fen = fen_of(&mut v, "price", form.get("price"));
    v.check(!form.get("price").trim().is_empty(), "price", "请填写单价");
    let stock = int_of(&mut v, "stock", form.get("stock"));
    v.check(!form.get("stock").trim().is_empty(), "stock", "请填写库存");
    let min_order_qty = int_of(&mut v, "min_order_qty", form.get("min_order_qty"));
    let net_weight_g = int_of(&mut v, "net_weight_g", form.get("net_weight_g"));
    let shelf_life_days = int_of(&mut v, "shelf_life_days", form.get("shelf_life_days"));
    let storage = Storage::parse(form.get("storage"));
    v.check(storage.is_some(), "storage", "choose 常温, 冷藏 or 冷冻");
    let mut tiers = Vec::new();
    for (i, (qty, price)) in form.all("tier_qty").into_iter().zip(form.all("tier_price")).enumerate() {
        let field = format!("tiers[{i}]");
        match (qty.trim().is_empty(), price.trim().is_empty()) {
            (true, true) => continue,
            (false, false) => {}
            _ => {
                v.add(&field, "起订量和单价都要填写");
                continue;
            }
        }
        let min_qty = int_of(&mut v, &field, qty);
        let price_fen = fen_of(&mut v, &field, price);
        if let (Some(min_qty), Some(price_fen)) = (min_qty, price_fen) {
            tiers.push(Tier { min_qty, price_fen });
        }
    }
    let images: Vec<String> =
        form.get("images").lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    v.finish("validation_failed")?;
    Ok(NewProductBody {
        name: form.get("name").into(),
        category: form.get("category").into(),
        description: form.get("description").into(),
        origin_region_code: form.get("origin_region_code").trim().into(),
        unit: form.get("unit").into(),
        spec: form.get("spec").into(),
        net_weight_g,
        price_fen: price_fen.unwrap_or_default(),
        tiers,
        min_order_qty: min_order_qty.unwrap_or(1),
        stock: stock.unwrap_or_default(),
        storage: storage.unwrap_or(Storage::Ambient),
        shelf_life_days,
        images,
    })
}

/// The whole form as a partial update that sets every field (an empty optional one clears it).
pub(super) fn patch_of(b: NewProductBody) -> PatchProductBody {
    PatchProductBody {
        name: Some(b.name),
        category: Some(b.category),
        description: Some(b.description),
        origin_region_code: Some(b.origin_region_code),
        unit: Some(b.unit),
        spec: Some(b.spec),
        net_weight_g: Some(b.net_weight_g),
        price_fen: Some(b.price_fen),
        tiers: Some(b.tiers),
        min_order_qty: Some(b.min_order_qty),
        stock: Some(b.stock),
        storage: Some(b.storage),
        shelf_life_days: Some(b.shelf_life_days),
        images: Some(b.images),
    }
}

/// A refusal a form shows (422), its fields named as the form names them; else the error.
pub fn refusal(err: AppError) -> AppResult<(BTreeMap<String, String>, String)> {
    match field_errors(&err) {
        Some((fields, detail)) => Ok((form_fields(fields, RENAMES), detail)),
        None => Err(err),
    }
}

/// `GET /producer/products/new`.
pub async fn new(headers: HeaderMap, who: WebActor) -> Response {
    let result = (|| {
        require_kind(&who, OrgKind::Producer, PLACE)?;
        let mut context = base(&who);
        context["form"] = form_context(typed_of(None, &who.actor.org.region_code), None);
        html("producer_product_new.html", StatusCode::OK, &context)
    })();
    web::respond(&headers, result)
}

/// `POST /producer/products/new`: as `POST /api/v1/products`; a draft, then its page.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = posted(&headers, &who, OrgKind::Producer, PLACE, &body)?;
        let (now, today) = state.now();
        let actor = who.actor.clone();
        let done = match body_from(&form) {
            Ok(b) => state.db.write(move |c| catalog::create(c, &actor, b, now, today)).await,
            Err(e) => Err(e),
        };
        match done {
            Ok(p) => Ok(Redirect::to(&format!("/producer/products/{}", p.id)).into_response()),
            Err(e) => {
                let errors = refusal(e)?;
                let mut context = base(&who);
                context["form"] = form_context(typed_from(&form), Some(errors));
                html("producer_product_new.html", StatusCode::UNPROCESSABLE_ENTITY, &context)
            }
        }
    }
    .await;
    web::respond(&headers, result)
}
