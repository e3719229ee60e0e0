//! `GET /dashboard?year=&scope=&as_of=`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::session::{WebActor, form_token};
use super::{query, view, web};
use crate::state::AppState;

pub async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let ctx = state.ctx();
        let sel = query::selection(&query::parse_raw(raw.as_deref())?, &ctx)?;
        let actor = who.actor;
        let mut context = state.db.read(move |c| view::dashboard(c, &actor, &sel, &ctx)).await?;
        context["form_token"] = form_token(&who.token).into();
        Ok(web::page(StatusCode::OK, web::render("dashboard.html", &context)?))
    }
    .await;
    web::respond(&headers, result)
}
