//! `GET /dashboard/download?report=&by=&format=&year=&scope=&as_of=`: the reports as XLSX or
//! CSV, built by the same functions and tables as `/api/v1/reports/*?format=`.

use crate::accounting::breakdown;
use crate::accounting::laggards;
use crate::accounting::progress;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::session::WebActor;
use super::{query, web};
use crate::accounting::breakdown::By;
use crate::accounting::entries::LedgerQuery;
use crate::accounting::export::{self, FileFormat};
use crate::error::AppError;
use crate::state::AppState;
use crate::validate::not_one_of;

pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let ctx = state.ctx();
        let raw = query::parse_raw(raw.as_deref())?;
        let sel = query::selection(&raw, &ctx)?;
        let format = match export::parse_format(raw.format.as_deref())? {
            FileFormat::Json => {
                return Err(AppError::invalid_field("validation_failed", "format", "must be xlsx or csv"));
            }
            other => other,
        };
        let (kind, id) = sel.scope.clone().ok_or_else(|| {
            AppError::invalid_field("validation_failed", "scope", "kind:id, such as recipient:522300")
        })?;
        let report = raw.report.clone().unwrap_or_default();
        let by = raw.by.as_deref().map(By::parse).transpose()?;
        let actor = who.actor;
        let table = state
            .db
            .read(move |c| {
                let scope = progress::visible_scope(c, &actor, kind.as_str(), &id)?;
                let (year, as_of) = (sel.year, sel.as_of);
                match (report.as_str(), by) {
                    ("progress", _) => {
                        Ok(export::progress_table(&progress::progress(c, &scope, &sel.span, as_of, &ctx)?, ctx.zone))
                    }
                    ("breakdown", Some(by)) => Ok(export::breakdown_table(
                        &breakdown::breakdown(c, &scope, &sel.span, by, as_of, None, &ctx)?,
                        ctx.zone,
                    )),
                    ("breakdown", None) => Err(not_one_of("by", &By::ALL)),
                    ("laggards", _) => {
                        Ok(export::laggards_table(&laggards::laggards(c, &scope, &sel.span, as_of, &ctx)?, ctx.zone))
                    }
                    ("ledger", _) => {
                        let q = LedgerQuery {
                            year,
                            scope_kind: Some(kind.as_str().to_owned()),
                            scope_id: Some(id.clone()),
                            as_of,
                            period: (!sel.span.is_whole_year()).then(|| sel.span.code()),
                            ..Default::default()
                        };
                        export::ledger_export(c, &actor, &q, &ctx)
                    }
                    _ => Err(AppError::invalid_field(
                        "validation_failed",
                        "report",
                        "must be progress, breakdown, laggards or ledger",
                    )),
                }
            })
            .await?;
        export::download(&table, format)
    }
    .await;
    web::respond(&headers, result)
}
