//! The agency's purchase cart (采购车): products of several producers with the quantity of each,
//! priced as it is shown by the tier the quantity reaches (and what the next tier would save),
//! placed as one order (a sub-order per producer) through the API's placing. The place form
//! carries an idempotency key, so a double click orders once.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{base, check_form, field_errors, html, read_form, require_kind};
use crate::catalog::model::{self as products, ProductRow};
use crate::catalog::types::{MAX_ORDER_QTY, unit_price};
use crate::catalog::view::{is_on_sale, not_orderable};
use crate::ctx::Ctx;
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::db::DbConn;
use crate::db::schema::{cart_lines as cl, orders as o};
use crate::error::{AppError, AppResult, Violations};
use crate::idempotency;
use crate::identity::Actor;
use crate::identity::model::find_orgs;
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::notify::yuan;
use crate::orders::placing;
use crate::orders::types::{Delivery, LineBody, MAX_LINES, NewOrder};
use crate::state::AppState;
use crate::validate::optional_text;

const PLACE: &str = "the agency workplace";

fn lines_of(conn: &mut DbConn, user_id: &str) -> AppResult<Vec<(String, i64)>> {
    Ok(cl::table
        .filter(cl::user_id.eq(user_id))
        .order((cl::added_at, cl::product_id))
        .select((cl::product_id, cl::quantity))
        .load(conn)?)
}

fn quantity_of(v: &mut Violations, field: &str, typed: &str) -> i64 {
    match typed.trim().parse::<i64>() {
        Ok(q) if (0..=MAX_ORDER_QTY).contains(&q) => q,
        _ => {
            v.add(field, format!("数量须是 0 到 {MAX_ORDER_QTY} 的整数（0 为移出采购车）"));
            0
        }
    }
}

/// Sets one product's quantity in the user's cart (0 takes it out); only goods on sale go in.
fn set(conn: &mut DbConn, actor: &Actor, product_id: &str, quantity: i64, add: bool, ctx: &Ctx) -> AppResult<()> {
    placing::require_agency(actor)?;
    let mine = cl::table.filter(cl::user_id.eq(&actor.user_id)).filter(cl::product_id.eq(product_id));
    if quantity == 0 {
        diesel::delete(mine).execute(conn)?;
        return Ok(());
    }
    match products::find(conn, product_id)? {
        Some(p) if is_on_sale(&p, ctx.today) => {}
        _ => return Err(not_orderable(product_id)),
    }
    let had: Option<i64> = mine.select(cl::quantity).first(conn).optional()?;
    match had {
        Some(q) => {
            let new = if add { (q + quantity).min(MAX_ORDER_QTY) } else { quantity };
            diesel::update(mine).set(cl::quantity.eq(new)).execute(conn)?;
        }
        None => {
            let count: i64 = cl::table.filter(cl::user_id.eq(&actor.user_id)).count().get_result(conn)?;
            if count as usize >= MAX_LINES {
                return Err(AppError::invalid_field(
                    "validation_failed",
                    "quantity",
                    format!("采购车最多 {MAX_LINES} 种商品（一张订单的上限）；请先下单"),
                ));
            }
            diesel::insert_into(cl::table)
                .values((
                    cl::user_id.eq(&actor.user_id),
                    cl::product_id.eq(product_id),
                    cl::quantity.eq(quantity),
                    cl::added_at.eq(ctx.now),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// The cart as shown: per producer, each line at its tier price now, with the next tier.
fn priced(conn: &mut DbConn, actor: &Actor, today: chrono::NaiveDate) -> AppResult<(Vec<Value>, i64, usize, usize)> {
    let lines = lines_of(conn, &actor.user_id)?;
    let ids: Vec<String> = lines.iter().map(|(id, _)| id.clone()).collect();
    let found: BTreeMap<String, ProductRow> =
        products::find_many(conn, &ids)?.into_iter().map(|p| (p.id.clone(), p)).collect();
    let mut producer_ids: Vec<String> = found.values().map(|p| p.producer_id.clone()).collect();
    producer_ids.sort_unstable();
    producer_ids.dedup();
    let names: BTreeMap<String, String> = find_orgs(conn, &producer_ids)?.into_iter().map(|o| (o.id, o.name)).collect();
    let mut groups: BTreeMap<String, (Vec<Value>, i64)> = BTreeMap::new();
    let (mut total, mut count, mut problems) = (0i64, 0usize, 0usize);
    for (id, quantity) in &lines {
        let Some(p) = found.get(id) else { continue };
        let tiers = p.tiers()?;
        let price = unit_price(p.price_fen, &tiers, *quantity);
        let next = tiers.iter().filter(|t| t.min_qty > *quantity && t.price_fen < price).min_by_key(|t| t.min_qty);
        let mut problem = None;
        if !is_on_sale(p, today) {
            problem = Some("已下架或认证失效，下单前请移出".to_owned());
        } else if *quantity < p.min_order_qty {
            problem = Some(format!("起订量 {}{}", p.min_order_qty, p.unit));
        } else if *quantity > p.stock {
            problem = Some(format!("库存只有 {}{}", p.stock, p.unit));
        }
        problems += problem.is_some() as usize;
        count += 1;
        total += price * quantity;
        let group = groups.entry(p.producer_id.clone()).or_default();
        group.1 += price * quantity;
        group.0.push(json!({
            "product_id": p.id, "name": p.name, "spec": p.spec, "unit": p.unit, "quantity": quantity,
            "list_price": yuan(p.price_fen), "unit_price": yuan(price), "subtotal": yuan(price * quantity),
            "discounted": price < p.price_fen, "min_order_qty": p.min_order_qty, "stock": p.stock,
            "tiers": tiers.iter().map(|t| json!({"label": format!("{}{}起 ¥{}", t.min_qty, p.unit, yuan(t.price_fen)),
                "current": t.price_fen == price && *quantity >= t.min_qty})).collect::<Vec<_>>(),
            "next": next.map(|t| format!("再加 {}{}，单价降到 ¥{}，可省 ¥{}", t.min_qty - quantity, p.unit, yuan(t.price_fen),
                yuan((price - t.price_fen) * t.min_qty - price * (t.min_qty - quantity)).replace('-', "−"))),
            "problem": problem,
        }));
    }
    let shown = groups
        .into_iter()
        .map(|(producer, (lines, sum))| {
            json!({"producer": names.get(&producer).cloned().unwrap_or_default(), "lines": lines, "total": yuan(sum)})
        })
        .collect();
    Ok((shown, total, count, problems))
}

/// The delivery the unit used last, to fill the form.
pub(super) fn last_delivery(conn: &mut DbConn, actor: &Actor) -> AppResult<Option<(String, String, String)>> {
    Ok(o::table
        .filter(o::buyer_org_id.eq(&actor.org.id))
        .order((o::created_at.desc(), o::id.desc()))
        .select((o::delivery_address, o::delivery_contact, o::delivery_phone))
        .first(conn)
        .optional()?)
}

/// What a refused cart form shows: per product line and per delivery field, and a message.
#[derive(Default)]
struct Refused {
    lines: BTreeMap<String, (String, String)>,
    fields: BTreeMap<String, String>,
    detail: Option<String>,
    typed: Option<Value>,
}

async fn cart_page(state: &AppState, who: &WebActor, status: StatusCode, refused: Refused) -> AppResult<Response> {
    let (actor, today) = (who.actor.clone(), state.now().1);
    let refused_ids: Vec<String> = refused.lines.keys().cloned().collect();
    let (groups, total, count, problems, last, names) = state
        .db
        .read(move |c| {
            let (groups, total, count, problems) = priced(c, &actor, today)?;
            let names: BTreeMap<String, String> =
                products::find_many(c, &refused_ids)?.into_iter().map(|p| (p.id, p.name)).collect();
            Ok((groups, total, count, problems, last_delivery(c, &actor)?, names))
        })
        .await?;
    // A refused add names a product not in the cart: shown above it, with its name.
    let in_cart: Vec<&str> = groups
        .iter()
        .flat_map(|g| g["lines"].as_array().into_iter().flatten())
        .filter_map(|l| l["product_id"].as_str())
        .collect();
    let orphans: Vec<Value> = refused
        .lines
        .iter()
        .filter(|(id, _)| !in_cart.contains(&id.as_str()))
        .map(|(id, (message, typed))| {
            json!({"product_id": id, "name": names.get(id).cloned().unwrap_or_else(|| id.clone()), "message": message, "typed": typed})
        })
        .collect();
    let mut context = base(who);
    let (address, contact, phone) = last.unwrap_or_default();
    context["groups"] = groups.into();
    context["total"] = yuan(total).into();
    context["count"] = count.into();
    context["problems"] = problems.into();
    context["key"] = new_id("cart").into();
    context["delivery"] = refused
        .typed
        .unwrap_or_else(|| json!({"address": address, "contact_name": contact, "phone": phone, "note": ""}));
    context["line_errors"] = json!(
        refused
            .lines
            .iter()
            .map(|(k, (msg, typed))| (k.clone(), json!({"message": msg, "typed": typed})))
            .collect::<serde_json::Map<_, _>>()
    );
    context["errors"] = json!(refused.fields);
    context["orphans"] = orphans.into();
    context["detail"] = refused.detail.into();
    html("agency_cart.html", status, &context)
}

/// `GET /agency/cart`.
pub async fn cart(State(state): State<AppState>, headers: HeaderMap, who: WebActor) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        cart_page(&state, &who, StatusCode::OK, Refused::default()).await
    }
    .await;
    web::respond(&headers, result)
}

#[derive(Debug, Default, Deserialize)]
pub struct LineForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    quantity: String,
    remove: Option<String>,
}

/// A line refused: shown beside its quantity on the cart page (the goods page's add form
/// included: the product is then listed with the error).
async fn line_refused(
    state: &AppState,
    who: &WebActor,
    product_id: &str,
    typed: &str,
    e: AppError,
) -> AppResult<Response> {
    let problem = e.to_problem();
    if !matches!(problem.status, 409 | 422) {
        return Err(e);
    }
    let message = problem.errors.first().map(|f| f.message.clone()).unwrap_or(problem.detail);
    let mut refused = Refused::default();
    refused.lines.insert(product_id.to_owned(), (message, typed.to_owned()));
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    cart_page(state, who, status, refused).await
}

async fn change(
    state: AppState,
    headers: HeaderMap,
    who: WebActor,
    product_id: String,
    form: LineForm,
    add: bool,
) -> AppResult<Response> {
    require_kind(&who, OrgKind::Agency, PLACE)?;
    check_form(&headers, &who, &form.csrf)?;
    let mut v = Violations::new();
    let quantity = if form.remove.is_some() { 0 } else { quantity_of(&mut v, "quantity", &form.quantity) };
    if add && quantity == 0 && v.is_empty() {
        v.add("quantity", "加入采购车的数量至少为 1");
    }
    if let Err(e) = v.finish("validation_failed") {
        return line_refused(&state, &who, &product_id, &form.quantity, e).await;
    }
    let (ctx, actor, id) = (state.ctx(), who.actor.clone(), product_id.clone());
    match state.db.write(move |c| set(c, &actor, &id, quantity, add, &ctx)).await {
        Ok(()) => Ok(Redirect::to("/agency/cart").into_response()),
        Err(e) => line_refused(&state, &who, &product_id, &form.quantity, e).await,
    }
}

/// `POST /agency/cart` (`product_id`, `quantity`): adds to the cart, from the goods page.
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form: LineForm = read_form(&body)?;
        let id = form.product_id.trim().to_owned();
        change(state, headers.clone(), who, id, form, true).await
    }
    .await;
    web::respond(&headers, result)
}

/// `POST /agency/cart/lines/{product_id}` (`quantity`, or `remove`): changes a line.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(product_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form: LineForm = read_form(&body)?;
        change(state, headers.clone(), who, product_id, form, false).await
    }
    .await;
    web::respond(&headers, result)
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct PlaceForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    #[serde(default, skip_serializing)]
    key: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    note: String,
}

/// `POST /agency/cart/place`: the cart as one order, under the form's idempotency key (the same
/// key and delivery replay the first order: a double click orders once).
pub async fn place(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        let form: PlaceForm = read_form(&body)?;
        check_form(&headers, &who, &form.csrf)?;
        let typed =
            json!({"address": form.address, "contact_name": form.contact_name, "phone": form.phone, "note": form.note});
        let mut v = Violations::new();
        let delivery = Delivery {
            address: form.address.clone(),
            contact_name: form.contact_name.clone(),
            phone: form.phone.clone(),
        }
        .parse("", &mut v);
        let note = optional_text(&mut v, "note", Some(form.note.clone()), 500);
        let key = form.key.trim().to_owned();
        v.check(
            (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()),
            "key",
            "the form is stale: open the cart again",
        );
        if let Err(e) = v.finish("validation_failed") {
            let Some((fields, detail)) = field_errors(&e) else { return Err(e) };
            let refused = Refused { fields, detail: Some(detail), typed: Some(typed), ..Default::default() };
            return cart_page(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, refused).await;
        }
        // The same request is the same key with the same delivery; the cart is read inside.
        let fingerprint = idempotency::fingerprint("POST", "/agency/cart/place", &json!(form));
        let (ctx, actor) = (state.ctx(), who.actor.clone());
        let org = actor.org.id.clone();
        let done = state
            .db
            .run(move |c| {
                idempotency::run_in(c, &org, Some(&format!("cart:{key}")), &fingerprint, ctx.now, |c| {
                    let lines: Vec<LineBody> = lines_of(c, &actor.user_id)?
                        .into_iter()
                        .map(|(product_id, quantity)| LineBody { product_id, quantity })
                        .collect();
                    if lines.is_empty() {
                        return Err(AppError::unprocessable("cart_empty", "采购车是空的：请先在找货页加入商品"));
                    }
                    let ids: Vec<String> = lines.iter().map(|l| l.product_id.clone()).collect();
                    let placed =
                        placing::place(c, &actor, NewOrder { lines, delivery, note, live_session_id: None }, &ctx)?;
                    diesel::delete(
                        cl::table.filter(cl::user_id.eq(&actor.user_id)).filter(cl::product_id.eq_any(&ids)),
                    )
                    .execute(c)?;
                    idempotency::created(&placed)
                })
            })
            .await;
        match done {
            Ok(stored) => {
                let id = stored.body["id"].as_str().unwrap_or_default().to_owned();
                Ok(Redirect::to(&format!("/agency/orders/{id}")).into_response())
            }
            Err(e) => {
                let problem = e.to_problem();
                if !matches!(problem.status, 409 | 422) {
                    return Err(e);
                }
                let mut refused =
                    Refused { detail: Some(problem.detail.clone()), typed: Some(typed), ..Default::default() };
                if let Some(Value::String(product)) = problem.extra.get("product_id") {
                    refused.lines.insert(product.clone(), (problem.detail.clone(), String::new()));
                }
                let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::CONFLICT);
                cart_page(&state, &who, status, refused).await
            }
        }
    }
    .await;
    web::respond(&headers, result)
}
