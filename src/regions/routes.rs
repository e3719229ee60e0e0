use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{self, NewRegionBody, PatchRegionBody, RegionView};
use crate::error::{AppResult, Problem};
use crate::http::auth::Authenticated;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, Paged};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_regions, create_region)).routes(routes!(get_region, patch_region))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RegionListQuery {
    /// Parent region code; without it, the provinces.
    parent: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    cursor: Option<String>,
}

crate::paged!(RegionListQuery);

/// One region with its full name and whether it is assisted. Public.
#[utoipa::path(get, path = "/regions/{code}", tag = "regions", params(("code" = String, Path, example = "522323")),
    responses((status = 200, body = RegionView), (status = 404, body = Problem)))]
async fn get_region(State(state): State<AppState>, ApiPath(code): ApiPath<String>) -> AppResult<Json<RegionView>> {
    Ok(Json(state.db.run(move |conn| service::get(conn, &code)).await?))
}

/// The children of a region, in code order; the provinces without `parent`. Public.
#[utoipa::path(get, path = "/regions", tag = "regions", params(RegionListQuery),
    responses((status = 200, body = Page<RegionView>), (status = 422, description = "unknown_region", body = Problem)))]
async fn list_regions(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RegionListQuery>,
) -> AppResult<Json<Page<RegionView>>> {
    let page = q.page()?;
    Ok(Json(state.db.run(move |conn| service::list_children(conn, q.parent.as_deref(), &page)).await?))
}

/// Adds a unit without a national code (township, village, corps company) under a region.
#[utoipa::path(post, path = "/regions", tag = "regions", security(("bearer" = [])), request_body = NewRegionBody,
    responses(
        (status = 201, body = RegionView),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "region_exists", body = Problem),
        (status = 422, description = "unknown_region, validation_failed", body = Problem),
    ))]
async fn create_region(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<NewRegionBody>,
) -> AppResult<(StatusCode, Json<RegionView>)> {
    let now = state.clock.now_naive();
    let view = state.db.write(move |conn| service::create_unit(conn, &actor, body, now)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Marks or unmarks a region as a recipient (assisted) region; descendants inherit the mark. Platform admins.
#[utoipa::path(patch, path = "/regions/{code}", tag = "regions", security(("bearer" = [])),
    params(("code" = String, Path)), request_body = PatchRegionBody,
    responses((status = 200, body = RegionView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn patch_region(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<PatchRegionBody>,
) -> AppResult<Json<RegionView>> {
    Ok(Json(state.db.write(move |conn| service::set_assisted(conn, &actor, &code, body)).await?))
}
