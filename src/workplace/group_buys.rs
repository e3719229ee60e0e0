//! The agency's group purchases (团购): `/agency/group-buys` lists the rounds by state (open ones
//! first), each with the price its total has reached and what the next tier takes; one round's
//! page shows its tiers and this unit's pledge, which is made, changed and withdrawn here through
//! the same services as `POST /api/v1/group-buys/{id}/pledges` and its `DELETE`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::forms::{Pairs, base, html, list_context, posted, read_query, require_kind, time};
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::error::{AppError, AppResult, Violations};
use crate::groupbuy::campaigns::{self, CampaignListQuery};
use crate::groupbuy::pledges;
use crate::groupbuy::types::NewPledge;
use crate::groupbuy::view::CampaignView;
use crate::http::pagination::Paged;
use crate::idempotency;
use crate::identity::types::OrgKind;
use crate::notify::yuan;
use crate::orders::types::Delivery;
use crate::state::AppState;
use crate::validate::optional_text;

const PLACE: &str = "the agency workplace";
const STATUSES: [&str; 5] = ["open", "scheduled", "succeeded", "failed", "cancelled"];

fn status_label(status: &str) -> &'static str {
    match status {
        "open" => "进行中",
        "scheduled" => "即将开团",
        "succeeded" => "已成团",
        "failed" => "未成团",
        "cancelled" => "已取消",
        _ => "—",
    }
}

fn campaign_json(c: &CampaignView, zone: chrono_tz::Tz) -> Value {
    let status = c.status.as_str();
    let current = c.current_unit_price_fen;
    json!({
        "id": c.id, "title": c.title, "description": c.description, "organizer": c.organizer_org_name,
        "product": c.product_name, "spec": c.spec, "unit": c.unit, "producer": c.producer_name,
        "status": status, "status_label": status_label(status), "accepting": c.accepting_pledges,
        "headline": c.headline,
        "list_price": yuan(c.list_price_fen), "current_price": yuan(current),
        "saving": (c.list_price_fen > current).then(|| yuan(c.list_price_fen - current)),
        "next": c.next_tier.as_ref().map(|n| json!({
            "min_qty": n.min_qty, "price": yuan(n.unit_price_fen), "qty_needed": n.qty_needed,
        })),
        "tiers": c.tiers.iter().map(|t| json!({
            "min_qty": t.min_qty, "price": yuan(t.unit_price_fen), "reached": c.total_qty >= t.min_qty,
            "current": t.unit_price_fen == current,
        })).collect::<Vec<_>>(),
        "total_qty": c.total_qty, "pledge_count": c.pledge_count, "min_total_qty": c.min_total_qty,
        "max_total_qty": c.max_total_qty, "available_qty": c.available_qty, "qty_to_succeed": c.qty_to_succeed,
        "min_pledge_qty": c.min_pledge_qty,
        "filled_percent": (c.total_qty * 100).checked_div(c.max_total_qty).unwrap_or(0).clamp(0, 100),
        "opens_at": time(Some(c.opens_at), zone), "closes_at": time(Some(c.closes_at), zone),
        "outcome_reason": c.outcome_reason,
        "mine": c.my_pledge.as_ref().map(|p| json!({
            "id": p.id, "quantity": p.quantity, "status": p.status, "delivery": p.delivery, "note": p.note,
            "order_id": p.order_id, "cost": yuan(p.quantity * current),
        })),
    })
}

/// `GET /agency/group-buys?status=`: open rounds unless another state is chosen.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, PLACE)?;
        let q: super::forms::ListQuery = read_query(raw.as_deref())?;
        let status = q.status.filter(|s| !s.is_empty()).unwrap_or_else(|| "open".to_owned());
        let (ctx, zone, actor) = (state.ctx(), state.config.timezone, who.actor.clone());
        let list_q =
            CampaignListQuery { status: Some(status.clone()), limit: Some(50), cursor: q.cursor, ..Default::default() };
        let page = list_q.page()?;
        let found = state.db.read(move |c| campaigns::list(c, &actor, list_q, &page, &ctx)).await?;
        let mut context = base(&who);
        context["items"] = found.items.iter().map(|c| campaign_json(c, zone)).collect::<Vec<_>>().into();
        list_context(&mut context, "/agency/group-buys", &STATUSES, status_label, Some(&status), found.next_cursor);
        // The tabs' "all" is no state here: open is the default.
        if let Some(tabs) = context["tabs"].as_array_mut() {
            tabs.retain(|t| t["value"] != "");
        }
        html("agency_group_buys.html", StatusCode::OK, &context)
    }
    .await;
    web::respond(&headers, result)
}

/// One round's page; with a refused pledge, what was typed and its errors (`status`).
async fn round_page(
    state: &AppState,
    who: &WebActor,
    id: String,
    status: StatusCode,
    refused: Option<Value>,
) -> AppResult<Response> {
    require_kind(who, OrgKind::Agency, PLACE)?;
    let (ctx, zone, actor) = (state.ctx(), state.config.timezone, who.actor.clone());
    let (campaign, last) = state
        .db
        .read(move |c| Ok((campaigns::get(c, &actor, &id, &ctx)?, super::cart::last_delivery(c, &actor)?)))
        .await?;
    let mut context = base(who);
    context["c"] = campaign_json(&campaign, zone);
    let typed = match (&refused, &campaign.my_pledge, last) {
        (Some(r), _, _) => r["typed"].clone(),
        (None, Some(p), _) => json!({
            "quantity": p.quantity.to_string(), "address": p.delivery.address,
            "contact_name": p.delivery.contact_name, "phone": p.delivery.phone, "note": p.note,
        }),
        (None, None, Some((address, contact_name, phone))) => json!({
            "quantity": campaign.min_pledge_qty.to_string(), "address": address,
            "contact_name": contact_name, "phone": phone,
        }),
        (None, None, None) => json!({"quantity": campaign.min_pledge_qty.to_string()}),
    };
    context["typed"] = typed;
    context["refused"] = refused.unwrap_or_else(|| json!({"fields": {}}));
    context["key"] = crate::ids::new_id("pk").into();
    html("agency_group_buy.html", status, &context)
}

/// `GET /agency/group-buys/{id}`.
pub async fn round(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
) -> Response {
    let result = round_page(&state, &who, id, StatusCode::OK, None).await;
    web::respond(&headers, result)
}

/// The pledge form read as the API's pledge; what cannot be read is refused as the API would.
fn pledge_of(form: &Pairs) -> AppResult<NewPledge> {
    let mut v = Violations::new();
    let delivery = Delivery {
        address: form.get("address").into(),
        contact_name: form.get("contact_name").into(),
        phone: form.get("phone").into(),
    }
    .parse("", &mut v);
    let note = optional_text(&mut v, "note", Some(form.get("note").to_owned()), 500);
    let quantity = super::forms::int_of(&mut v, "quantity", form.get("quantity"));
    v.check(!form.get("quantity").trim().is_empty(), "quantity", "请填写认购数量");
    let key = form.get("key").trim();
    v.check(
        (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()),
        "key",
        "the form is stale: open the page again",
    );
    v.finish("validation_failed")?;
    let quantity = quantity.unwrap_or_default();
    if !(1..=crate::catalog::types::MAX_ORDER_QTY).contains(&quantity) {
        return Err(AppError::invalid_field(
            "invalid_quantity",
            "quantity",
            "must be a whole number from 1 to 10000000",
        ));
    }
    Ok(NewPledge { quantity, delivery, note })
}

/// A refusal the round's page shows beside the form: a field's (422), a round that is full or
/// no longer open (409), or a unit outside the round's region (403 `not_eligible`).
fn shown_refusal(err: AppError) -> AppResult<(StatusCode, Value)> {
    let problem = err.to_problem();
    let shown = matches!(problem.status, 409 | 422) || problem.code == "not_eligible";
    if !shown || problem.code == "csrf_failed" {
        return Err(err);
    }
    let mut fields = serde_json::Map::new();
    for e in &problem.errors {
        fields.entry(e.field.clone()).or_insert_with(|| e.message.clone().into());
    }
    if problem.code == "campaign_full" || problem.code == "invalid_quantity" {
        fields.entry("quantity").or_insert_with(|| problem.detail.clone().into());
    }
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    Ok((status, json!({"fields": fields, "detail": problem.detail, "code": problem.code})))
}

/// `POST /agency/group-buys/{id}/pledge`: pledge, or pledge again to change the quantity or
/// delivery; under the form's idempotency key, so a double click pledges once.
pub async fn pledge(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = posted(&headers, &who, OrgKind::Agency, PLACE, &body)?;
        let typed = json!({
            "quantity": form.get("quantity"), "address": form.get("address"),
            "contact_name": form.get("contact_name"), "phone": form.get("phone"), "note": form.get("note"),
        });
        let done = match pledge_of(&form) {
            Ok(new) => {
                let path = format!("/agency/group-buys/{id}/pledge");
                let fingerprint = idempotency::fingerprint("POST", &path, &typed);
                let key = format!("pledge:{}", form.get("key").trim());
                let (ctx, actor, round) = (state.ctx(), who.actor.clone(), id.clone());
                let org = actor.org.id.clone();
                state
                    .db
                    .run(move |c| {
                        idempotency::run_in(c, &org, Some(&key), &fingerprint, ctx.now, |c| {
                            idempotency::created(&pledges::pledge(c, &actor, &round, new, &ctx)?)
                        })
                    })
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        };
        match done {
            Ok(()) => Ok(Redirect::to(&format!("/agency/group-buys/{id}")).into_response()),
            Err(e) => {
                let (status, mut refused) = shown_refusal(e)?;
                refused["typed"] = typed;
                round_page(&state, &who, id, status, Some(refused)).await
            }
        }
    }
    .await;
    web::respond(&headers, result)
}

/// `POST /agency/group-buys/{id}/withdraw`: the unit's pledge, while the round is open; the
/// quantity goes back to the round and the product's stock.
pub async fn withdraw(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = posted(&headers, &who, OrgKind::Agency, PLACE, &body)?;
        let pledge_id = form.get("pledge_id").to_owned();
        let (ctx, actor, round) = (state.ctx(), who.actor.clone(), id.clone());
        state.db.write(move |c| pledges::withdraw(c, &actor, &round, &pledge_id, &ctx)).await?;
        // A card authorisation of the pledge is released from the outbox, as after the API's.
        state.stripe_nudge.notify_one();
        Ok(Redirect::to(&format!("/agency/group-buys/{id}")).into_response())
    }
    .await;
    web::respond(&headers, result)
}
