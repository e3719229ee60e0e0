use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::categories::{CATEGORIES, Category};
use super::certification::{ApproveBody, EventView, NewRequestBody, ReasonBody, RequestListQuery, RequestView};
use super::labels::{self, LabelView, NewLabelBody};
use super::service::ProductListQuery;
use super::trace::{self, BatchView, NewBatchBody, TraceView};
use super::types::{NewProductBody, PatchProductBody};
use super::view::{PriceCheck, ProductView};
use super::{certification, service};
use crate::error::{AppResult, Problem};
use crate::http::auth::{Authenticated, MaybeAuthenticated};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_categories))
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, patch_product))
        .routes(routes!(publish))
        .routes(routes!(unpublish))
        .routes(routes!(price_check))
        .routes(routes!(request_certification))
        .routes(routes!(certification_events))
        .routes(routes!(list_requests))
        .routes(routes!(get_request))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(revoke))
        .routes(routes!(create_batch, list_batches))
        .routes(routes!(add_label, list_labels))
        .routes(routes!(remove_label))
        .routes(routes!(trace_code))
}

#[derive(Serialize, ToSchema)]
struct CategoryList {
    items: Vec<Category>,
    next_cursor: Option<String>,
}

/// Product categories with their Chinese names.
#[utoipa::path(get, path = "/categories", tag = "catalog", responses((status = 200, body = CategoryList)))]
async fn list_categories() -> Json<CategoryList> {
    Json(CategoryList { items: CATEGORIES.to_vec(), next_cursor: None })
}

/// Lists a new product as a draft (producers).
#[utoipa::path(post, path = "/products", tag = "catalog", security(("bearer" = [])), request_body = NewProductBody,
    responses(
        (status = 201, body = ProductView),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, description = "validation_failed, unknown_region, origin_not_assisted", body = Problem),
    ))]
async fn create_product(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<NewProductBody>,
) -> AppResult<(StatusCode, Json<ProductView>)> {
    let (now, today) = state.now();
    let view = state.db.write(move |c| service::create(c, &actor, body, now, today)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Products the caller may see: on sale for everyone; producers also their own, coordinators those from their region.
#[utoipa::path(get, path = "/products", tag = "catalog", params(ProductListQuery),
    responses((status = 200, body = Page<ProductView>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_products(
    State(state): State<AppState>,
    MaybeAuthenticated(actor): MaybeAuthenticated,
    ApiQuery(q): ApiQuery<ProductListQuery>,
) -> AppResult<Json<Page<ProductView>>> {
    let page = q.page()?;
    let (_, today) = state.now();
    Ok(Json(state.db.run(move |c| service::list(c, actor.as_ref(), q, &page, today)).await?))
}

/// One product: public when on sale; always for its producer and its reviewers.
#[utoipa::path(get, path = "/products/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, body = ProductView), (status = 404, body = Problem)))]
async fn get_product(
    State(state): State<AppState>,
    MaybeAuthenticated(actor): MaybeAuthenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<ProductView>> {
    let (_, today) = state.now();
    Ok(Json(
        state
            .db
            .run(move |c| {
                let mut view = service::get(c, actor.as_ref(), &id, today)?;
                view.labels = Some(labels::of_product(c, &view.id, today)?);
                Ok(view)
            })
            .await?,
    ))
}

/// Changes a product (its producer). Changing the origin or the specification of a certified product voids the certificate.
#[utoipa::path(patch, path = "/products/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PatchProductBody,
    responses(
        (status = 200, body = ProductView),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem),
    ))]
async fn patch_product(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchProductBody>,
) -> AppResult<Json<ProductView>> {
    let (now, today) = state.now();
    Ok(Json(state.db.write(move |c| service::update(c, &actor, &id, body, now, today)).await?))
}

/// Lists the product for sale; needs a valid certificate.
#[utoipa::path(post, path = "/products/{id}/publish", tag = "catalog", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ProductView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "not_certified", body = Problem)))]
async fn publish(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<ProductView>> {
    let (now, today) = state.now();
    Ok(Json(state.db.write(move |c| service::publish(c, &actor, &id, now, today)).await?))
}

/// Takes the product off sale.
#[utoipa::path(post, path = "/products/{id}/unpublish", tag = "catalog", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ProductView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state", body = Problem)))]
async fn unpublish(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<ProductView>> {
    let (now, today) = state.now();
    Ok(Json(state.db.write(move |c| service::unpublish(c, &actor, &id, now, today)).await?))
}

/// The price per 500 g against the median of the category's certified products; flagged above 1.2×.
#[utoipa::path(get, path = "/products/{id}/price-check", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, body = PriceCheck), (status = 404, body = Problem)))]
async fn price_check(
    State(state): State<AppState>,
    MaybeAuthenticated(actor): MaybeAuthenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<PriceCheck>> {
    let (_, today) = state.now();
    Ok(Json(state.db.run(move |c| service::price_check(c, actor.as_ref(), &id, today)).await?))
}

/// Applies for certification (the product's producer).
#[utoipa::path(post, path = "/products/{id}/certification-requests", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewRequestBody,
    responses((status = 201, body = RequestView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "already_pending", body = Problem), (status = 422, body = Problem)))]
async fn request_certification(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NewRequestBody>,
) -> AppResult<(StatusCode, Json<RequestView>)> {
    let (now, today) = state.now();
    let view = state.db.write(move |c| certification::submit(c, &actor, &id, body, now, today)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The audit trail of certification decisions (who, when, what, why), for the producer and its reviewers.
#[utoipa::path(get, path = "/products/{id}/certification-events", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Page<EventView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn certification_events(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> AppResult<Json<Page<EventView>>> {
    let page = q.page()?;
    let (_, today) = state.now();
    Ok(Json(state.db.run(move |c| certification::events(c, &actor, &id, &page, today)).await?))
}

/// Certification requests: reviewers see those from their region, producers their own.
#[utoipa::path(get, path = "/certification-requests", tag = "catalog", security(("bearer" = [])), params(RequestListQuery),
    responses((status = 200, body = Page<RequestView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_requests(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<RequestListQuery>,
) -> AppResult<Json<Page<RequestView>>> {
    let page = q.page()?;
    let (_, today) = state.now();
    Ok(Json(state.db.run(move |c| certification::list(c, &actor, q, &page, today)).await?))
}

/// One certification request.
#[utoipa::path(get, path = "/certification-requests/{id}", tag = "catalog", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RequestView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_request(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<RequestView>> {
    let (_, today) = state.now();
    Ok(Json(state.db.run(move |c| certification::get(c, &actor, &id, today)).await?))
}

/// Approves: the product is certified until `valid_until`.
#[utoipa::path(post, path = "/certification-requests/{id}/approve", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ApproveBody,
    responses((status = 200, body = RequestView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "invalid_state, certificate_no_taken", body = Problem), (status = 422, body = Problem)))]
async fn approve(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ApproveBody>,
) -> AppResult<Json<RequestView>> {
    let (now, today) = state.now();
    Ok(Json(state.db.write(move |c| certification::approve(c, &actor, &id, body, now, today)).await?))
}

/// Rejects, with a reason the producer sees.
#[utoipa::path(post, path = "/certification-requests/{id}/reject", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = RequestView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "invalid_state", body = Problem), (status = 422, body = Problem)))]
async fn reject(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> AppResult<Json<RequestView>> {
    let (now, today) = state.now();
    Ok(Json(state.db.write(move |c| certification::reject(c, &actor, &id, body, now, today)).await?))
}

/// Revokes a certificate after a failed spot check: the product leaves sale.
#[utoipa::path(post, path = "/products/{id}/revoke-certification", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = ProductView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "not_certified", body = Problem), (status = 422, body = Problem)))]
async fn revoke(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> AppResult<Json<ProductView>> {
    let (now, today) = state.now();
    Ok(Json(state.db.write(move |c| certification::revoke(c, &actor, &id, body, now, today)).await?))
}

/// Records a production batch and returns its trace code.
#[utoipa::path(post, path = "/products/{id}/batches", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewBatchBody,
    responses((status = 201, body = BatchView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "batch_exists", body = Problem), (status = 422, body = Problem)))]
async fn create_batch(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NewBatchBody>,
) -> AppResult<(StatusCode, Json<BatchView>)> {
    let (now, today) = state.now();
    let view = state.db.write(move |c| trace::create(c, &actor, &id, body, now, today)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The product's batches (its producer).
#[utoipa::path(get, path = "/products/{id}/batches", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Page<BatchView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_batches(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> AppResult<Json<Page<BatchView>>> {
    let page = q.page()?;
    let (_, today) = state.now();
    Ok(Json(state.db.run(move |c| trace::list(c, &actor, &id, &page, today)).await?))
}

#[derive(Serialize, ToSchema)]
struct LabelList {
    items: Vec<LabelView>,
    next_cursor: Option<String>,
}

/// Adds a quality label (圳品, 绿色食品, 有机产品, 农产品地理标志) to the product (its producer).
#[utoipa::path(post, path = "/products/{id}/labels", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewLabelBody,
    responses((status = 201, body = LabelView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "label_exists (one of each kind at a time)", body = Problem),
        (status = 422, description = "validation_failed (an unknown kind, an end before the start, a bad URL)", body = Problem)))]
async fn add_label(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NewLabelBody>,
) -> AppResult<(StatusCode, Json<LabelView>)> {
    let (now, today) = state.now();
    let view = state.db.write(move |c| labels::add(c, &actor, &id, body, now, today)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The product's quality labels, each with its state today (anyone who may see the product).
#[utoipa::path(get, path = "/products/{id}/labels", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, body = LabelList), (status = 404, body = Problem)))]
async fn list_labels(
    State(state): State<AppState>,
    MaybeAuthenticated(actor): MaybeAuthenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<LabelList>> {
    let (_, today) = state.now();
    let items = state.db.read(move |c| labels::list(c, actor.as_ref(), &id, today)).await?;
    Ok(Json(LabelList { items, next_cursor: None }))
}

/// Removes a label from the product (its producer); the removal stays in the audit trail.
#[utoipa::path(delete, path = "/products/{id}/labels/{label_id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path), ("label_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn remove_label(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath((id, label_id)): ApiPath<(String, String)>,
) -> AppResult<StatusCode> {
    let (now, today) = state.now();
    state.db.write(move |c| labels::remove(c, &actor, &id, &label_id, now, today)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a package's QR code opens: product, producer, origin chain, batch and certificate. Public.
#[utoipa::path(get, path = "/trace/{code}", tag = "catalog", params(("code" = String, Path)),
    responses((status = 200, body = TraceView), (status = 404, body = Problem)))]
async fn trace_code(State(state): State<AppState>, ApiPath(code): ApiPath<String>) -> AppResult<Json<TraceView>> {
    let (_, today) = state.now();
    Ok(Json(state.db.run(move |c| trace::trace(c, &code, today)).await?))
}
