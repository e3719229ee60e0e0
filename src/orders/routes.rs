use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::listing::{EventView, OrderListQuery, SubOrderListQuery};
use super::types::{AcceptBody, NewOrder, NewOrderBody, RatingBody, ShipBody, Shipment};
use super::view::{OrderView, RatingView, SubOrderDetail};
use super::{lifecycle, listing, placing};
use crate::error::{AppResult, Problem};
use crate::http::auth::Authenticated;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::idempotency::{self, IdempotencyKey, Stored};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(order_events))
        .routes(routes!(list_sub_orders))
        .routes(routes!(get_sub_order))
        .routes(routes!(ship))
        .routes(routes!(accept))
        .routes(routes!(rate))
}

/// Places an order (agency users): one sub-order per producer, stock taken at once, each product
/// priced by its tiers for the quantity ordered.
#[utoipa::path(post, path = "/orders", tag = "orders", security(("bearer" = [])), request_body = NewOrderBody,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "Replays return the first response; kept 72 h per organisation")),
    responses(
        (status = 201, body = OrderView),
        (status = 401, body = Problem), (status = 403, description = "not an agency", body = Problem),
        (status = 409, description = "not_orderable (with product_id), insufficient_stock (with product_id and available)", body = Problem),
        (status = 422, description = "invalid_quantity, validation_failed, idempotency_key_reused", body = Problem),
    ))]
async fn place_order(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<NewOrderBody>,
) -> AppResult<Stored> {
    let ctx = state.ctx();
    let fingerprint = key.fingerprint(&body);
    placing::require_agency(&actor)?;
    let order = NewOrder::try_from(body)?;
    let org = actor.org.id.clone();
    idempotency::run(&state.db, org, key, fingerprint, ctx.now, move |c| {
        idempotency::created(&placing::place(c, &actor, order, &ctx)?)
    })
    .await
}

/// Orders the caller sees, newest first: the buyer organisation's (and, for a supervising
/// organisation, those under it), a producer's orders holding its sub-orders, all for the platform.
#[utoipa::path(get, path = "/orders", tag = "orders", security(("bearer" = [])), params(OrderListQuery),
    responses((status = 200, body = Page<OrderView>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_orders(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<OrderListQuery>,
) -> AppResult<Json<Page<OrderView>>> {
    let page = q.page()?;
    let ctx = state.ctx();
    Ok(Json(state.db.run(move |c| listing::list(c, &actor, q, &page, &ctx)).await?))
}

/// One order. A producer sees its own sub-orders and lines only.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_order(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<OrderView>> {
    Ok(Json(state.db.run(move |c| listing::get(c, &actor, &id)).await?))
}

/// The order's history: who did what, when.
#[utoipa::path(get, path = "/orders/{id}/events", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Page<EventView>), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn order_events(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> AppResult<Json<Page<EventView>>> {
    let page = q.page()?;
    Ok(Json(state.db.run(move |c| listing::events(c, &actor, &id, &page)).await?))
}

/// Sub-orders the caller sees, newest first: a producer's own (its work queue), a buyer's, all for the platform.
#[utoipa::path(get, path = "/sub-orders", tag = "orders", security(("bearer" = [])), params(SubOrderListQuery),
    responses((status = 200, body = Page<SubOrderDetail>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_sub_orders(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<SubOrderListQuery>,
) -> AppResult<Json<Page<SubOrderDetail>>> {
    let page = q.page()?;
    let ctx = state.ctx();
    Ok(Json(state.db.run(move |c| listing::list_sub_orders(c, &actor, q, &page, &ctx)).await?))
}

/// One sub-order with its lines and delivery address.
#[utoipa::path(get, path = "/sub-orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SubOrderDetail), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_sub_order(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<SubOrderDetail>> {
    Ok(Json(state.db.run(move |c| listing::get_sub_order(c, &actor, &id)).await?))
}

/// Ships a sub-order (its producer), with the carrier, tracking number and invoice number.
#[utoipa::path(post, path = "/sub-orders/{id}/ship", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ShipBody,
    responses((status = 200, body = SubOrderDetail), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state", body = Problem), (status = 422, body = Problem)))]
async fn ship(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ShipBody>,
) -> AppResult<Json<SubOrderDetail>> {
    let shipment = Shipment::try_from(body)?;
    let ctx = state.ctx();
    Ok(Json(state.db.write(move |c| lifecycle::ship(c, &actor, &id, shipment, &ctx)).await?))
}

/// Accepts a delivered sub-order (验收, the buyer).
#[utoipa::path(post, path = "/sub-orders/{id}/accept", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AcceptBody,
    responses((status = 200, body = SubOrderDetail), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state", body = Problem), (status = 422, body = Problem)))]
async fn accept(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AcceptBody>,
) -> AppResult<Json<SubOrderDetail>> {
    let ctx = state.ctx();
    Ok(Json(state.db.write(move |c| lifecycle::accept(c, &actor, &id, body, &ctx)).await?))
}

/// Rates an accepted sub-order, once (the buyer); the stars go to every product in it.
#[utoipa::path(post, path = "/sub-orders/{id}/rating", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RatingBody,
    responses((status = 201, body = RatingView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "already_rated, invalid_state", body = Problem),
        (status = 422, body = Problem)))]
async fn rate(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RatingBody>,
) -> AppResult<(axum::http::StatusCode, Json<RatingView>)> {
    let ctx = state.ctx();
    let view = state.db.write(move |c| lifecycle::rate(c, &actor, &id, body, &ctx)).await?;
    Ok((axum::http::StatusCode::CREATED, Json(view)))
}
