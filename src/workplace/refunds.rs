//! The producer's answer to a refund request (`POST /producer/refund-requests/{id}/grant` and `…/decline`), through
//! the same services as `/api/v1/refund-requests`. A decline without a reason is shown beside
//! its field on the sub-order's page and changes nothing.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::forms::{field_errors, posted};
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::identity::types::OrgKind;
use crate::payments::refund_requests::{self, RefundDeclineBody};
use crate::state::AppState;

const PLACE: &str = "the producer workplace";

/// `POST /producer/refund-requests/{id}/grant`: the refund is made for the asked amount.
pub async fn grant(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        posted(&headers, &who, OrgKind::Producer, PLACE, &body)?;
        let (ctx, actor) = (state.ctx(), who.actor.clone());
        let granted = state.db.write(move |c| refund_requests::grant(c, &actor, &id, &ctx)).await?;
        // A refund of a card payment is made at Stripe by the worker.
        state.stripe_nudge.notify_one();
        Ok(Redirect::to(&format!("/producer/orders/{}", granted.sub_order_id)).into_response())
    }
    .await;
    web::respond(&headers, result)
}

/// `POST /producer/refund-requests/{id}/decline`: with a reason the buying unit reads.
pub async fn decline(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = posted(&headers, &who, OrgKind::Producer, PLACE, &body)?;
        let reason = form.get("reason").to_owned();
        let (ctx, actor, request_id) = (state.ctx(), who.actor.clone(), id.clone());
        let body = RefundDeclineBody { reason: reason.clone() };
        match state.db.write(move |c| refund_requests::decline(c, &actor, &request_id, body, &ctx)).await {
            Ok(declined) => Ok(Redirect::to(&format!("/producer/orders/{}", declined.sub_order_id)).into_response()),
            Err(e) => {
                let Some((fields, detail)) = field_errors(&e) else { return Err(e) };
                let actor = who.actor.clone();
                let request = state.db.read(move |c| refund_requests::get(c, &actor, &id)).await?;
                let refused = json!({"request_id": request.id, "reason": reason, "fields": fields, "detail": detail});
                super::producer::sub_order_view(&state, &who, request.sub_order_id, Some(refused)).await
            }
        }
    }
    .await;
    web::respond(&headers, result)
}
