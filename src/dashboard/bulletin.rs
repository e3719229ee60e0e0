//! `GET /dashboard/bulletin?year=&period=&scope=org:ID[&as_of=][&format=xlsx|csv]`: a supervising
//! organisation's bulletin as a printable page (A4, the units ranked, a place to sign), or the
//! same table as `/api/v1/reports/bulletin?format=` for a file.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::query::{self, field_value};
use super::session::WebActor;
use super::view::{query_string, scope_param};
use super::web;
use crate::accounting::bulletin;
use crate::accounting::export::{self, FileFormat, as_of_text};
use crate::accounting::progress;
use crate::accounting::scope::ScopeKind;
use crate::error::AppError;
use crate::notify::{percent, yuan};
use crate::state::AppState;

pub async fn bulletin_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let ctx = state.ctx();
        let raw = query::parse_raw(raw.as_deref())?;
        let sel = query::selection(&raw, &ctx)?;
        let format = export::parse_format(raw.format.as_deref())?;
        let org_id = match sel.scope.clone() {
            Some((ScopeKind::Org, id)) => id,
            _ => {
                return Err(AppError::invalid_field(
                    "validation_failed",
                    "scope",
                    "org:ID, a supervising organisation",
                ));
            }
        };
        let actor = who.actor;
        let view = state
            .db
            .read(move |c| {
                let scope = progress::visible_scope(c, &actor, "org", &org_id)?;
                bulletin::bulletin(c, &scope, &sel.span, sel.as_of, &ctx)
            })
            .await?;
        if format != FileFormat::Json {
            return export::download(&export::bulletin_table(&view, ctx.zone), format);
        }
        let scope = scope_param(ScopeKind::Org, &view.org_id);
        let as_of_field = sel.as_of.map(|t| field_value(t, ctx.zone));
        let file = |format: &str| {
            format!(
                "/dashboard/bulletin?{}",
                query_string(&[("format", format)], &sel.span, &scope, as_of_field.as_deref())
            )
        };
        let context = json!({
            "org_name": view.org_name,
            "title": crate::accounting::span::label_of(view.year, &view.period),
            "starts_on": view.starts_on.to_string(), "ends_on": view.ends_on.to_string(),
            "as_of_text": as_of_text(view.as_of, ctx.zone),
            "units": view.units, "achieved": view.achieved, "on_track": view.on_track,
            "behind": view.behind, "no_target": view.no_target,
            "target": yuan(view.target_fen), "counted": yuan(view.counted_fen), "percent": percent(view.ratio),
            "rows": view.rows.iter().map(|r| json!({
                "rank": r.rank, "name": r.name, "org_id": r.org_id,
                "target": r.target_fen.map(yuan), "counted": yuan(r.counted_fen), "counted_fen": r.counted_fen,
                "percent": percent(r.ratio), "expected": r.expected_to_date_fen.map(yuan),
                "status": r.status, "status_label": r.status.label(),
            })).collect::<Vec<_>>(),
            "xlsx": file("xlsx"), "csv": file("csv"),
            "back": format!("/dashboard?{}", query_string(&[], &sel.span, &scope, as_of_field.as_deref())),
        });
        Ok(web::page(StatusCode::OK, web::render("bulletin.html", &context)?))
    }
    .await;
    web::respond(&headers, result)
}
