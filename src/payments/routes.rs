use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::refund_requests::{self, RefundDeclineBody, RefundRequestBody, RefundRequestListQuery, RefundRequestView};
use super::service::{self, OfflinePaymentBody, PaymentRecorded, PaymentView, RefundBody, RefundRecorded, RefundView};
use super::stripe::{self as stripe_pay, IntentView};
use super::{cancel, webhook};
use crate::error::{AppResult, Problem};
use crate::http::auth::Authenticated;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::Paged;
use crate::idempotency::{self, IdempotencyKey, Stored};
use crate::orders::view::OrderView;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cancel_order))
        .routes(routes!(record_offline))
        .routes(routes!(list_payments))
        .routes(routes!(refund, list_refunds))
        .routes(routes!(ask_refund))
        .routes(routes!(list_refund_requests))
        .routes(routes!(grant_refund_request))
        .routes(routes!(decline_refund_request))
        .routes(routes!(pay_by_stripe))
        .routes(routes!(stripe_webhook))
}

#[derive(Serialize, ToSchema)]
struct PaymentList {
    items: Vec<PaymentView>,
    next_cursor: Option<String>,
}

/// Cancels the order (the buyer), before any sub-order shipped: stock goes back; a paid order is refunded.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state", body = Problem)))]
async fn cancel_order(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<OrderView>> {
    let ctx = state.ctx();
    let order = state.db.write(move |c| cancel::cancel(c, &actor, &id, &ctx)).await?;
    // A card payment goes back through Stripe: the refunds were queued with the cancellation.
    state.stripe_nudge.notify_one();
    Ok(Json(order))
}

#[derive(Serialize, ToSchema)]
struct RefundList {
    items: Vec<RefundView>,
    next_cursor: Option<String>,
}

/// Records a bank transfer for an order (the platform's finance admin): the order becomes paid
/// and its sub-orders await shipment. The amount must be exactly what is due.
#[utoipa::path(post, path = "/orders/{id}/payments/offline", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "Replays return the first response")),
    request_body = OfflinePaymentBody,
    responses((status = 201, body = PaymentRecorded), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state", body = Problem),
        (status = 422, description = "amount_mismatch (with amount_due_fen), validation_failed, idempotency_key_reused", body = Problem)))]
async fn record_offline(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    key: IdempotencyKey,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<OfflinePaymentBody>,
) -> AppResult<Stored> {
    let ctx = state.ctx();
    let fingerprint = key.fingerprint(&body);
    let org = actor.org.id.clone();
    idempotency::run(&state.db, org, key, fingerprint, ctx.now, move |c| {
        idempotency::created(&service::record_offline(c, &actor, &id, body, &ctx)?)
    })
    .await
}

/// The payments of an order (its viewers).
#[utoipa::path(get, path = "/orders/{id}/payments", tag = "payments", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = PaymentList), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn list_payments(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<PaymentList>> {
    let items = state.db.run(move |c| service::payments_of(c, &actor, &id)).await?;
    Ok(Json(PaymentList { items, next_cursor: None }))
}

/// Refunds part or all of a sub-order (its producer, or the platform admin). A whole refund ends
/// the sub-order; goods that never shipped go back to stock.
#[utoipa::path(post, path = "/sub-orders/{id}/refunds", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "Replays return the first response")),
    request_body = RefundBody,
    responses((status = 201, body = RefundRecorded), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state", body = Problem),
        (status = 422, description = "refund_exceeds_paid (with refundable_fen), validation_failed, idempotency_key_reused", body = Problem)))]
async fn refund(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    key: IdempotencyKey,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RefundBody>,
) -> AppResult<Stored> {
    let ctx = state.ctx();
    let fingerprint = key.fingerprint(&body);
    let org = actor.org.id.clone();
    let stored = idempotency::run(&state.db, org, key, fingerprint, ctx.now, move |c| {
        idempotency::created(&service::refund_sub_order(c, &actor, &id, body, &ctx)?)
    })
    .await?;
    // A refund of a card payment is `pending` until the worker has made it at Stripe.
    state.stripe_nudge.notify_one();
    Ok(stored)
}

/// The refunds of a sub-order (its viewers).
#[utoipa::path(get, path = "/sub-orders/{id}/refunds", tag = "payments", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RefundList), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn list_refunds(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<RefundList>> {
    let items = state.db.run(move |c| service::refunds_of(c, &actor, &id)).await?;
    Ok(Json(RefundList { items, next_cursor: None }))
}

#[derive(Serialize, ToSchema)]
struct RefundRequestList {
    items: Vec<RefundRequestView>,
    next_cursor: Option<String>,
}

/// The buying unit asks for a refund of part or all of a paid sub-order; its producer answers.
#[utoipa::path(post, path = "/sub-orders/{id}/refund-requests", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "Replays return the first response")),
    request_body = RefundRequestBody,
    responses((status = 201, body = RefundRequestView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "invalid_state (not paid, or already ended), already_requested", body = Problem),
        (status = 422, description = "refund_exceeds_paid (with refundable_fen), validation_failed, idempotency_key_reused", body = Problem)))]
async fn ask_refund(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    key: IdempotencyKey,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RefundRequestBody>,
) -> AppResult<Stored> {
    let ctx = state.ctx();
    let fingerprint = key.fingerprint(&body);
    let org = actor.org.id.clone();
    idempotency::run(&state.db, org, key, fingerprint, ctx.now, move |c| {
        idempotency::created(&refund_requests::ask(c, &actor, &id, body, &ctx)?)
    })
    .await
}

/// Refund requests: a buying unit's own, a producer's own, all for the platform.
#[utoipa::path(get, path = "/refund-requests", tag = "payments", security(("bearer" = [])), params(RefundRequestListQuery),
    responses((status = 200, body = RefundRequestList), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, description = "validation_failed", body = Problem)))]
async fn list_refund_requests(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<RefundRequestListQuery>,
) -> AppResult<Json<RefundRequestList>> {
    let page = q.page()?;
    let found = state.db.read(move |c| refund_requests::list(c, &actor, q, &page)).await?;
    Ok(Json(RefundRequestList { items: found.items, next_cursor: found.next_cursor }))
}

/// The producer (or the platform admin) grants the request: the refund is made for the asked amount.
#[utoipa::path(post, path = "/refund-requests/{id}/grant", tag = "payments", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RefundRequestView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state (already decided, or the sub-order ended)", body = Problem),
        (status = 422, description = "refund_exceeds_paid (refunded meanwhile)", body = Problem)))]
async fn grant_refund_request(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<RefundRequestView>> {
    let ctx = state.ctx();
    let granted = state.db.write(move |c| refund_requests::grant(c, &actor, &id, &ctx)).await?;
    // A refund of a card payment is `pending` until the worker has made it at Stripe.
    state.stripe_nudge.notify_one();
    Ok(Json(granted))
}

/// The producer (or the platform admin) declines the request, with a reason for the buying unit.
#[utoipa::path(post, path = "/refund-requests/{id}/decline", tag = "payments", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RefundDeclineBody,
    responses((status = 200, body = RefundRequestView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state (already decided)", body = Problem),
        (status = 422, description = "validation_failed", body = Problem)))]
async fn decline_refund_request(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RefundDeclineBody>,
) -> AppResult<Json<RefundRequestView>> {
    let ctx = state.ctx();
    Ok(Json(state.db.write(move |c| refund_requests::decline(c, &actor, &id, body, &ctx)).await?))
}

/// Starts (or resumes) a card payment through Stripe for the order's amount due (the buying
/// organisation). Answers with the PaymentIntent's client secret for Stripe.js; the order becomes
/// paid when Stripe confirms (webhook). An earlier attempt still open for the same amount is
/// returned instead of a second intent.
#[utoipa::path(post, path = "/orders/{id}/payments/stripe", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "Replays return the first response (the same intent)")),
    responses((status = 201, body = IntentView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state, payment_provider_refused", body = Problem),
        (status = 422, description = "idempotency_key_reused", body = Problem),
        (status = 503, description = "stripe_not_configured, payment_provider_unavailable", body = Problem)))]
async fn pay_by_stripe(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    key: IdempotencyKey,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Stored> {
    stripe_pay::start_payment(&state, &actor, id, key).await
}

#[derive(Serialize, ToSchema)]
struct WebhookAnswer {
    received: bool,
    /// What the event did: `paid`, `duplicate`, `failed`, `refund_recorded`, `ignored` …
    outcome: String,
}

/// Stripe's webhook endpoint. The `Stripe-Signature` header must verify against
/// `STRIPE_WEBHOOK_SECRET` within 300 s (400 `bad_signature` otherwise). Each event id is handled
/// once; other event types are acknowledged and ignored.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "payments",
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<HMAC-SHA256 hex>")),
    request_body(content = Object, description = "A Stripe event, signed"),
    responses((status = 200, body = WebhookAnswer), (status = 400, description = "bad_signature, malformed_event", body = Problem),
        (status = 503, description = "stripe_not_configured", body = Problem)))]
async fn stripe_webhook(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<Json<WebhookAnswer>> {
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let outcome = webhook::receive(&state, header, &body).await?;
    Ok(Json(WebhookAnswer { received: true, outcome: outcome.outcome }))
}
