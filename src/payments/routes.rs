use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::gateway::StripeRefund;
use super::stripe::{self as stripe_pay, IntentView};
use super::webhook::{self, Event};
use super::{
    service::{self, OfflinePaymentBody, PaymentRecorded, PaymentView, RefundBody, RefundRecorded, RefundView},
    signature,
};
use crate::app::AppState;
use crate::error::{AppError, AppResult, Problem};
use crate::http::auth::Authenticated;
use crate::http::extract::{ApiJson, ApiPath};
use crate::idempotency::{self, IdempotencyKey, Stored};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_offline))
        .routes(routes!(list_payments))
        .routes(routes!(refund, list_refunds))
        .routes(routes!(pay_by_stripe))
        .routes(routes!(stripe_webhook))
}

#[derive(Serialize, ToSchema)]
struct PaymentList {
    items: Vec<PaymentView>,
    next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct RefundList {
    items: Vec<RefundView>,
    next_cursor: Option<String>,
}

/// Records a bank transfer for an order (the platform's finance admin): the order becomes paid
/// and its sub-orders await shipment. The amount must be exactly what is due.
#[utoipa::path(post, path = "/orders/{id}/payments/offline", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response")),
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
    let fingerprint = idempotency::fingerprint(
        "POST",
        &format!("/orders/{id}/payments/offline"),
        &serde_json::to_value(&body).unwrap_or_default(),
    );
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
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response")),
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
    let fingerprint = idempotency::fingerprint(
        "POST",
        &format!("/sub-orders/{id}/refunds"),
        &serde_json::to_value(&body).unwrap_or_default(),
    );
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

/// Starts (or resumes) a card payment through Stripe for the order's amount due (the buying
/// organisation). Answers with the PaymentIntent's client secret for Stripe.js; the order becomes
/// paid when Stripe confirms (webhook). An earlier attempt still open for the same amount is
/// returned instead of a second intent.
#[utoipa::path(post, path = "/orders/{id}/payments/stripe", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response (the same intent)")),
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
    let gateway = state.stripe.clone().ok_or_else(stripe_pay::not_configured)?;
    let fingerprint =
        idempotency::fingerprint("POST", &format!("/orders/{id}/payments/stripe"), &serde_json::json!({}));
    let org = actor.org.id.clone();
    // A replay must not reach Stripe at all.
    if let Some(stored) = idempotency::stored(&state.db, &org, &key, &fingerprint).await? {
        return Ok(stored);
    }
    let (a, i) = (actor.clone(), id.clone());
    let (_, due, pending) = state.db.run(move |c| stripe_pay::prepare(c, &a, &i)).await?;
    let open = match pending {
        Some(pi) => {
            Some(gateway.intent(&pi).await.map_err(stripe_pay::gateway_error)?).filter(|it| it.status != "canceled")
        }
        None => None,
    };
    let payment_id = crate::ids::new_id("pay");
    let intent = match open {
        Some(intent) => intent,
        None => {
            let stripe_key = stripe_pay::intent_key(&org, &id, &payment_id, key.0.as_deref());
            gateway.create_intent(due.0, &id, &stripe_key).await.map_err(stripe_pay::gateway_error)?
        }
    };
    let ctx = state.ctx();
    idempotency::run(&state.db, org, key, fingerprint, ctx.now, move |c| {
        idempotency::created(&stripe_pay::record_intent(c, &actor, &id, payment_id, &intent, &ctx)?)
    })
    .await
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
    let secret =
        state.config.stripe.as_ref().and_then(|s| s.webhook_secret.clone()).ok_or_else(stripe_pay::not_configured)?;
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    signature::verify(header, &body, &secret.0, state.clock.now().timestamp())
        .map_err(|e| AppError::bad_request("bad_signature", e.to_string()))?;
    let event = Event::parse(&body)?;
    let fetched: Option<Vec<StripeRefund>> = match (event.refunds_to_fetch(), &state.stripe) {
        (Some(pi), Some(gateway)) => Some(gateway.refunds_of(&pi).await.map_err(stripe_pay::gateway_error)?),
        _ => None,
    };
    let ctx = state.ctx();
    let outcome = state.db.write(move |c| webhook::handle(c, &event, fetched, &ctx)).await?;
    state.stripe_nudge.notify_one();
    Ok(Json(WebhookAnswer { received: true, outcome: outcome.outcome }))
}
