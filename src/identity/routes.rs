use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::password::hash_password;
use super::service::{
    self, LoginBody, LoginResponse, MeView, NewOrgBody, NewUser, NewUserBody, OrgListQuery, OrgView, UserView,
};
use crate::error::{AppError, AppResult, Problem};
use crate::http::auth::Authenticated;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(create_org, list_orgs))
        .routes(routes!(get_org))
        .routes(routes!(create_user, list_users))
}

/// Signs in with email and password and returns a bearer token.
#[utoipa::path(post, path = "/auth/login", tag = "identity", request_body = LoginBody,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "invalid_credentials", body = Problem),
        (status = 429, description = "too_many_attempts: 10 failures in 15 minutes", body = Problem),
    ))]
async fn login(State(state): State<AppState>, ApiJson(body): ApiJson<LoginBody>) -> AppResult<Json<LoginResponse>> {
    Ok(Json(super::login::sign_in(&state, &body.email, body.password).await?))
}

/// Ends the session: the token stops working at once.
#[utoipa::path(post, path = "/auth/logout", tag = "identity", security(("bearer" = [])),
    responses((status = 204, description = "signed out"), (status = 401, body = Problem)))]
async fn logout(State(state): State<AppState>, Authenticated(actor): Authenticated) -> AppResult<StatusCode> {
    state.db.write(move |conn| service::logout(conn, &actor)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user and their organisation.
#[utoipa::path(get, path = "/me", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 401, body = Problem)))]
async fn me(Authenticated(actor): Authenticated) -> Json<MeView> {
    Json(service::me(&actor))
}

/// Creates an organisation: platform admins any kind; coordinator admins agencies and producers inside their region.
#[utoipa::path(post, path = "/organizations", tag = "identity", security(("bearer" = [])), request_body = NewOrgBody,
    responses(
        (status = 201, body = OrgView),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, description = "unknown_region, validation_failed", body = Problem),
    ))]
async fn create_org(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<NewOrgBody>,
) -> AppResult<(StatusCode, Json<OrgView>)> {
    let now = state.clock.now_naive();
    let org = state.db.write(move |conn| service::create_org(conn, &actor, body, now)).await?;
    Ok((StatusCode::CREATED, Json(org)))
}

/// Organisations the caller can see, filtered by kind, region (at any level) and parent.
#[utoipa::path(get, path = "/organizations", tag = "identity", security(("bearer" = [])), params(OrgListQuery),
    responses((status = 200, body = Page<OrgView>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_orgs(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<OrgListQuery>,
) -> AppResult<Json<Page<OrgView>>> {
    let page = q.page()?;
    let list = state.db.run(move |conn| service::list_orgs(conn, &actor, q.kind, q.region, q.parent_id, &page)).await?;
    Ok(Json(list))
}

/// One organisation; 404 when unknown or not visible to the caller.
#[utoipa::path(get, path = "/organizations/{id}", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = OrgView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_org(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<OrgView>> {
    Ok(Json(state.db.run(move |conn| service::get_org(conn, &actor, &id)).await?))
}

/// Adds a user to an organisation (platform admins, the organisation's admins, or the coordinator admins over it).
#[utoipa::path(post, path = "/organizations/{id}/users", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewUserBody,
    responses(
        (status = 201, body = UserView),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "email_taken", body = Problem),
        (status = 422, description = "weak_password, validation_failed", body = Problem),
    ))]
async fn create_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(org_id): ApiPath<String>,
    ApiJson(body): ApiJson<NewUserBody>,
) -> AppResult<(StatusCode, Json<UserView>)> {
    let now = state.clock.now_naive();
    // Authorise before validating, so a caller who may not manage the organisation learns nothing more.
    let actor = {
        let org_id = org_id.clone();
        state.db.run(move |conn| service::authorize_user_management(conn, &actor, &org_id).map(|_| actor)).await?
    };
    let user = NewUser::try_from(body)?;
    let (user, hash) = tokio::task::spawn_blocking(move || {
        let hash = hash_password(&user.password);
        (user, hash)
    })
    .await
    .map_err(|e| AppError::Unexpected(anyhow::anyhow!("password hashing failed: {e}")))?;
    let hash = hash?;
    let view = state
        .db
        .write(move |conn| {
            // Checked again inside the write: rights or the email may have changed while hashing.
            service::prepare_user(conn, &actor, &org_id, &user)?;
            service::insert_user(conn, &org_id, &user, hash, now)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Users of an organisation, for those who may manage them.
#[utoipa::path(get, path = "/organizations/{id}/users", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Page<UserView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_users(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(org_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> AppResult<Json<Page<UserView>>> {
    let page = q.page()?;
    Ok(Json(state.db.run(move |conn| service::list_users(conn, &actor, &org_id, &page)).await?))
}
