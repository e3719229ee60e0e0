//! `GET /live` and `GET /live/{id}`: live sessions for anyone signed in — the list, and one
//! session's live view (each product's live price, units and amount sold, the cap left), which
//! reloads itself while the session is on (a meta refresh: the pages run no script) and shows
//! the frozen summary once the worker has ended it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use diesel::prelude::*;
use serde_json::json;

use super::session::WebActor;
use super::web;
use crate::db::schema::live_sessions as ls;
use crate::live::model::SessionRow;
use crate::live::sessions;
use crate::live::view::{SessionView, view};
use crate::notify::{local_time, yuan};
use crate::state::AppState;

const LISTED: i64 = 50;

fn status_label(status: &str) -> &'static str {
    match status {
        "scheduled" => "未开始",
        "live" => "直播中",
        "ended" => "已结束",
        _ => "已取消",
    }
}

fn context(v: &SessionView, zone: chrono_tz::Tz) -> serde_json::Value {
    json!({
        "id": v.id, "title": v.title, "host": v.host, "organizer": v.organizer_name,
        "starts": local_time(v.starts_at.naive_utc(), zone), "ends": local_time(v.ends_at.naive_utc(), zone),
        "status": v.status, "status_label": status_label(&v.status),
        "refresh": v.poll_after_seconds,
        "units": v.units, "amount": yuan(v.amount_fen), "amount_fen": v.amount_fen, "orders": v.orders, "buyers": v.buyers,
        "summary": v.summary.as_ref().map(|s| json!({"units": s.units, "amount": yuan(s.amount_fen), "orders": s.orders})),
        "items": v.items.iter().map(|i| json!({
            "product_id": i.product_id, "name": i.name, "spec": i.spec, "unit": i.unit,
            "catalogue_price": yuan(i.catalogue_price_fen), "live_price": yuan(i.live_price_fen),
            "cap": i.stock_cap, "remaining": i.remaining, "units": i.units, "amount": yuan(i.amount_fen), "orders": i.orders,
        })).collect::<Vec<_>>(),
    })
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap, _who: WebActor) -> Response {
    let result = async {
        let ctx = state.ctx();
        let sessions = state
            .db
            .read(move |c| {
                let rows: Vec<SessionRow> = ls::table
                    .filter(ls::status.ne("cancelled"))
                    .order(ls::starts_at.desc())
                    .limit(LISTED)
                    .select(SessionRow::as_select())
                    .load(c)?;
                rows.into_iter().map(|r| view(c, r, ctx.now)).collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let sessions: Vec<_> = sessions.iter().map(|v| context(v, ctx.zone)).collect();
        Ok(web::page(StatusCode::OK, web::render("live_list.html", &json!({"sessions": sessions}))?))
    }
    .await;
    web::respond(&headers, result)
}

pub async fn one(
    State(state): State<AppState>,
    headers: HeaderMap,
    _who: WebActor,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let ctx = state.ctx();
        let v = state
            .db
            .read(move |c| {
                let row = sessions::find(c, &id)?;
                view(c, row, ctx.now)
            })
            .await?;
        Ok(web::page(StatusCode::OK, web::render("live.html", &json!({"s": context(&v, ctx.zone)}))?))
    }
    .await;
    web::respond(&headers, result)
}
