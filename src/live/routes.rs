use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use diesel::prelude::*;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::SessionRow;
use super::sessions::{self, NewSessionBody};
use super::view::{SessionView, view};
use crate::db::schema::live_sessions as ls;
use crate::error::{AppResult, Problem};
use crate::http::auth::Authenticated;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, Paged};
use crate::state::AppState;
use crate::validate::one_of;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session, list_sessions))
        .routes(routes!(get_session))
        .routes(routes!(cancel_session))
}

/// Schedules a live session (coordinator or producer administrators; a producer pins only its
/// own products): a title, a host, a window of at most 12 hours, and 1 to 20 products each at a
/// live price not above its catalogue price, with an optional cap on the units sold at it.
#[utoipa::path(post, path = "/live-sessions", tag = "live", security(("bearer" = [])), request_body = NewSessionBody,
    responses(
        (status = 201, body = SessionView),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "live_session_overlap (with session_id), not_orderable (with product_id)", body = Problem),
        (status = 422, description = "validation_failed, live_price_above_catalogue (with catalogue_price_fen)", body = Problem),
    ))]
async fn create_session(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<NewSessionBody>,
) -> AppResult<(StatusCode, Json<SessionView>)> {
    let ctx = state.ctx();
    let view = state
        .db
        .write(move |c| {
            let row = sessions::create(c, &actor, body, &ctx)?;
            view(c, row, ctx.now)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionListQuery {
    /// `scheduled`, `live`, `ended` or `cancelled`, as the worker has last set it.
    pub status: Option<String>,
    /// 1 to 200; default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl Paged for SessionListQuery {
    fn limit(&self) -> Option<i64> {
        self.limit
    }
    fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
}

/// Sessions, latest start first, each with what it has sold. Every signed-in user sees them:
/// they are offers to every buyer.
#[utoipa::path(get, path = "/live-sessions", tag = "live", security(("bearer" = [])), params(SessionListQuery),
    responses((status = 200, body = Page<SessionView>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_sessions(
    State(state): State<AppState>,
    Authenticated(_actor): Authenticated,
    ApiQuery(q): ApiQuery<SessionListQuery>,
) -> AppResult<Json<Page<SessionView>>> {
    let page = q.page()?;
    one_of("status", q.status.as_deref(), &["scheduled", "live", "ended", "cancelled"])?;
    let ctx = state.ctx();
    let found = state
        .db
        .read(move |c| {
            let mut query = ls::table.select(SessionRow::as_select()).order(ls::id.desc()).into_boxed();
            if let Some(s) = q.status {
                query = query.filter(ls::status.eq(s));
            }
            if let Some(after) = &page.after {
                query = query.filter(ls::id.lt(after.clone()));
            }
            let rows: Vec<SessionRow> = query.limit(page.limit + 1).load(c)?;
            let rows = Page::from_rows(rows, &page, |r| r.id.clone(), |r| r);
            let mut items = Vec::with_capacity(rows.items.len());
            for row in rows.items {
                items.push(view(c, row, ctx.now)?);
            }
            Ok(Page { items, next_cursor: rows.next_cursor })
        })
        .await?;
    Ok(Json(found))
}

/// A session's live view: each product's units and amount sold at the live price and the cap
/// left, the totals, and (while it is on) when to ask again; after it ends, its summary.
#[utoipa::path(get, path = "/live-sessions/{id}", tag = "live", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_session(
    State(state): State<AppState>,
    Authenticated(_actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<SessionView>> {
    let ctx = state.ctx();
    Ok(Json(
        state
            .db
            .read(move |c| {
                let row = sessions::find(c, &id)?;
                view(c, row, ctx.now)
            })
            .await?,
    ))
}

/// Cancels a session that has not started (its organiser or a platform administrator).
#[utoipa::path(post, path = "/live-sessions/{id}/cancel", tag = "live", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state", body = Problem)))]
async fn cancel_session(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<SessionView>> {
    let ctx = state.ctx();
    Ok(Json(
        state
            .db
            .write(move |c| {
                let row = sessions::cancel(c, &actor, &id, &ctx)?;
                view(c, row, ctx.now)
            })
            .await?,
    ))
}
