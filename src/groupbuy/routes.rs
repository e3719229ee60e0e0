use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::campaigns::CampaignListQuery;
use super::card::AuthorizationView;
use super::close::Closer;
use super::pledges::{PledgeListQuery, PledgeMade};
use super::types::{CancelBody, NewCampaignBody, NewPledge, PledgeBody};
use super::view::{CampaignView, PledgeView};
use super::{campaigns, close, pledges, rush, view};
use crate::error::{AppResult, Problem};
use crate::http::auth::Authenticated;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, Paged};
use crate::idempotency::{IdempotencyKey, Stored};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_campaign, list_campaigns))
        .routes(routes!(get_campaign))
        .routes(routes!(pledge, list_pledges))
        .routes(routes!(withdraw))
        .routes(routes!(authorize_card))
        .routes(routes!(close_campaign))
        .routes(routes!(cancel_campaign))
}

/// Starts a group purchase (coordinator or agency administrators, for buyers inside their region):
/// one product, tiers priced by the total of every pledge, a minimum and a maximum total, and
/// the time it takes pledges.
#[utoipa::path(post, path = "/group-buys", tag = "group-buys", security(("bearer" = [])), request_body = NewCampaignBody,
    responses(
        (status = 201, body = CampaignView),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "not_orderable (with product_id)", body = Problem),
        (status = 422, description = "validation_failed (tiers that do not get cheaper, a first tier above the product's price …), unknown_region", body = Problem),
    ))]
async fn create_campaign(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<NewCampaignBody>,
) -> AppResult<(StatusCode, Json<CampaignView>)> {
    let ctx = state.ctx();
    let new = body.parse(ctx.now)?;
    let view = state.db.write(move |c| campaigns::create(c, &actor, new, &ctx)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Campaigns, newest first, with their live totals, the price reached and what the next tier takes.
#[utoipa::path(get, path = "/group-buys", tag = "group-buys", security(("bearer" = [])), params(CampaignListQuery),
    responses((status = 200, body = Page<CampaignView>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_campaigns(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<CampaignListQuery>,
) -> AppResult<Json<Page<CampaignView>>> {
    let page = q.page()?;
    let ctx = state.ctx();
    Ok(Json(state.db.run(move |c| campaigns::list(c, &actor, q, &page, &ctx)).await?))
}

/// One campaign, live: total, pledge count, the current tier price and the quantity still needed
/// for the next (`再凑 10 罐享 60 元/罐`), and the caller's own pledge.
#[utoipa::path(get, path = "/group-buys/{id}", tag = "group-buys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = CampaignView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_campaign(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<CampaignView>> {
    let ctx = state.ctx();
    Ok(Json(state.db.run(move |c| campaigns::get(c, &actor, &id, &ctx)).await?))
}

/// Pledges a quantity (agency users whose organisation lies inside the eligible region), taken
/// from the product's stock at once. Pledging again replaces the organisation's active pledge.
#[utoipa::path(post, path = "/group-buys/{id}/pledges", tag = "group-buys", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "Replays return the first response; kept 72 h per organisation")),
    request_body = PledgeBody,
    responses(
        (status = 201, body = PledgeMade),
        (status = 401, body = Problem),
        (status = 403, description = "not_eligible (outside the eligible region), forbidden (not an agency)", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "campaign_not_open (with status), campaign_full (with available), insufficient_stock (with product_id and available)", body = Problem),
        (status = 422, description = "invalid_quantity, validation_failed, idempotency_key_reused", body = Problem),
    ))]
async fn pledge(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    key: IdempotencyKey,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PledgeBody>,
) -> AppResult<Stored> {
    let fingerprint = key.fingerprint(&body);
    let new = NewPledge::try_from(body)?;
    let asked = rush::Asked { actor, new, key: key.key().map(str::to_owned), fingerprint, ctx: state.ctx() };
    rush::pledge(&state.db, &state.pledge_batches, &id, asked).await.inspect(|_| state.stripe_nudge.notify_one())
}

/// A campaign's pledges, newest first: every pledge for the organiser and the platform, a
/// buyer's own (and those of organisations under it) for everyone else.
#[utoipa::path(get, path = "/group-buys/{id}/pledges", tag = "group-buys", security(("bearer" = [])),
    params(("id" = String, Path), PledgeListQuery),
    responses((status = 200, body = Page<PledgeView>), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_pledges(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PledgeListQuery>,
) -> AppResult<Json<Page<PledgeView>>> {
    let page = q.page()?;
    Ok(Json(state.db.run(move |c| pledges::pledges(c, &actor, &id, q, &page)).await?))
}

/// Withdraws the organisation's pledge while the campaign is open; its quantity goes back on sale.
#[utoipa::path(delete, path = "/group-buys/{id}/pledges/{pledge_id}", tag = "group-buys", security(("bearer" = [])),
    params(("id" = String, Path), ("pledge_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "campaign_not_open, invalid_state (the pledge was replaced or became an order)", body = Problem)))]
async fn withdraw(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath((id, pledge_id)): ApiPath<(String, String)>,
) -> AppResult<StatusCode> {
    let ctx = state.ctx();
    state.db.write(move |c| pledges::withdraw(c, &actor, &id, &pledge_id, &ctx)).await?;
    // A card authorisation of the pledge is released from the outbox.
    state.stripe_nudge.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// Authorises the pledge's card (Stripe, manual capture) for the most it can cost: its quantity
/// at the first tier's price. Only while the campaign closes within 6 days (an authorisation
/// holds about seven); the close captures what the order finally costs and releases the rest.
/// Longer campaigns: pay the order after the close (`POST /orders/{id}/payments/stripe` or offline).
#[utoipa::path(post, path = "/group-buys/{id}/pledges/{pledge_id}/authorization", tag = "group-buys", security(("bearer" = [])),
    params(("id" = String, Path), ("pledge_id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "Replays return the first response")),
    responses((status = 201, body = AuthorizationView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "authorization_unavailable (closes in more than 6 days), campaign_not_open, invalid_state", body = Problem),
        (status = 503, description = "stripe_not_configured, payment_provider_unavailable", body = Problem)))]
async fn authorize_card(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    key: IdempotencyKey,
    ApiPath((id, pledge_id)): ApiPath<(String, String)>,
) -> AppResult<Stored> {
    super::card::authorize(&state, &actor, id, pledge_id, key).await
}

/// Closes the campaign now (its organiser; the worker does it at `closes_at`). Reached the
/// minimum: every pledge becomes one order at the tier price reached. Otherwise `failed`, every
/// pledge released. Closing a closed campaign returns it unchanged.
#[utoipa::path(post, path = "/group-buys/{id}/close", tag = "group-buys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = CampaignView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "campaign_not_open (not yet open), invalid_state (cancelled)", body = Problem)))]
async fn close_campaign(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<CampaignView>> {
    let ctx = state.ctx();
    let view = state
        .db
        .write(move |c| {
            let row = close::close(c, &id, Closer::Organiser(&actor), &ctx)?;
            view::view(c, Some(&actor), row, ctx.now)
        })
        .await?;
    // Card authorisations are captured or released from the outbox.
    state.stripe_nudge.notify_one();
    Ok(Json(view))
}

/// Calls the round off before it closes (its organiser): every pledge is released.
#[utoipa::path(post, path = "/group-buys/{id}/cancel", tag = "group-buys", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CancelBody,
    responses((status = 200, body = CampaignView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state", body = Problem), (status = 422, body = Problem)))]
async fn cancel_campaign(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CancelBody>,
) -> AppResult<Json<CampaignView>> {
    let ctx = state.ctx();
    let view = state.db.write(move |c| close::cancel(c, &actor, &id, &body.reason, &ctx)).await?;
    state.stripe_nudge.notify_one();
    Ok(Json(view))
}
