use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{self, AuditView};
use super::breakdown::{BreakdownView, By};
use super::bulletin::BulletinView;
use super::entries::{EntryView, LedgerQuery};
use super::export::{self, FileFormat};
use super::filings::{self, FilingBody, FilingQuery, FilingView, ReturnBody};
use super::laggards::LaggardsView;
use super::pairings::{self, NewPairingBody, PairingQuery, PairingView, PatchPairingBody};
use super::periods::{self, PeriodView};
use super::progress::ProgressView;
use super::span::Span;
use super::targets::{self, NewTargetBody, PatchTargetBody, TargetQuery, TargetView};
use super::{breakdown, bulletin, entries, laggards, progress, scope};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::error::{AppError, AppResult, Problem};
use crate::http::auth::Authenticated;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, Paged};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_pairing, list_pairings))
        .routes(routes!(get_pairing, patch_pairing))
        .routes(routes!(create_target, list_targets))
        .routes(routes!(patch_target))
        .routes(routes!(put_filing, get_filing))
        .routes(routes!(approve_filing))
        .routes(routes!(return_filing))
        .routes(routes!(list_filings))
        .routes(routes!(close_period))
        .routes(routes!(list_periods))
        .routes(routes!(ledger))
        .routes(routes!(progress))
        .routes(routes!(breakdown))
        .routes(routes!(laggards))
        .routes(routes!(bulletin))
        .routes(routes!(accounting_events))
}

/// Pairs a donor (a region, or one organisation) with a recipient region over a span of days
/// (platform admin; a coordinator admin on either side). 409 `pairing_overlap` when the same
/// donor and recipient are already paired on an overlapping day.
#[utoipa::path(post, path = "/pairings", tag = "accounting", security(("bearer" = [])), request_body = NewPairingBody,
    responses((status = 201, body = PairingView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "pairing_overlap", body = Problem), (status = 422, description = "validation_failed, unknown_region", body = Problem)))]
async fn create_pairing(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<NewPairingBody>,
) -> AppResult<(StatusCode, Json<PairingView>)> {
    let ctx = state.ctx();
    let view = state.db.write(move |c| pairings::create(c, &actor, body, &ctx)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Pairings (public announcements: any signed-in user), filtered by recipient, donor and a day in force.
#[utoipa::path(get, path = "/pairings", tag = "accounting", security(("bearer" = [])), params(PairingQuery),
    responses((status = 200, body = Page<PairingView>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_pairings(
    State(state): State<AppState>,
    Authenticated(_actor): Authenticated,
    ApiQuery(q): ApiQuery<PairingQuery>,
) -> AppResult<Json<Page<PairingView>>> {
    let page = q.page()?;
    Ok(Json(state.db.run(move |c| pairings::list(c, q, &page)).await?))
}

/// One pairing.
#[utoipa::path(get, path = "/pairings/{id}", tag = "accounting", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = PairingView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_pairing(
    State(state): State<AppState>,
    Authenticated(_actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<PairingView>> {
    Ok(Json(state.db.run(move |c| pairings::get(c, &id)).await?))
}

/// Ends (or extends) a pairing, or changes its note. Entries already written keep their pairing.
#[utoipa::path(patch, path = "/pairings/{id}", tag = "accounting", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PatchPairingBody,
    responses((status = 200, body = PairingView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "pairing_overlap", body = Problem), (status = 422, body = Problem)))]
async fn patch_pairing(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchPairingBody>,
) -> AppResult<Json<PairingView>> {
    let ctx = state.ctx();
    Ok(Json(state.db.write(move |c| pairings::update(c, &actor, &id, body, &ctx)).await?))
}

/// Sets a yearly target for a scope (platform admin; coordinator admins for scopes in their
/// region; a supervising organisation's admin for those under it). 409 `target_exists`,
/// 409 `period_closed`.
#[utoipa::path(post, path = "/targets", tag = "accounting", security(("bearer" = [])), request_body = NewTargetBody,
    responses((status = 201, body = TargetView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "target_exists, period_closed", body = Problem), (status = 422, body = Problem)))]
async fn create_target(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<NewTargetBody>,
) -> AppResult<(StatusCode, Json<TargetView>)> {
    let ctx = state.ctx();
    let view = state.db.write(move |c| targets::create(c, &actor, body, &ctx)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Targets of the scopes the caller may see.
#[utoipa::path(get, path = "/targets", tag = "accounting", security(("bearer" = [])), params(TargetQuery),
    responses((status = 200, body = Page<TargetView>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_targets(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<TargetQuery>,
) -> AppResult<Json<Page<TargetView>>> {
    let page = q.page()?;
    Ok(Json(state.db.run(move |c| targets::list(c, &actor, q, &page)).await?))
}

/// Changes a target's amount (the audit trail keeps the old one). 409 `period_closed`.
#[utoipa::path(patch, path = "/targets/{id}", tag = "accounting", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PatchTargetBody,
    responses((status = 200, body = TargetView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "period_closed", body = Problem), (status = 422, body = Problem)))]
async fn patch_target(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchTargetBody>,
) -> AppResult<Json<TargetView>> {
    let ctx = state.ctx();
    Ok(Json(state.db.write(move |c| targets::update(c, &actor, &id, body, &ctx)).await?))
}

/// Files the agency's reserved share for a year (its own admin) → `submitted`. A share under
/// 10% (1000 bp) needs `exemption_reason`; `no_canteen` means no target.
#[utoipa::path(put, path = "/organizations/{id}/filings/{year}", tag = "accounting", security(("bearer" = [])),
    params(("id" = String, Path), ("year" = i32, Path, minimum = 2000, maximum = 2100)), request_body = FilingBody,
    responses((status = 200, description = "filed again", body = FilingView), (status = 201, description = "first filing", body = FilingView),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "period_closed", body = Problem), (status = 422, body = Problem)))]
async fn put_filing(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath((id, year)): ApiPath<(String, i32)>,
    ApiJson(body): ApiJson<FilingBody>,
) -> AppResult<(StatusCode, Json<FilingView>)> {
    let ctx = state.ctx();
    let (created, view) = state.db.write(move |c| filings::put(c, &actor, &id, year, body, &ctx)).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

/// One agency's filing for a year.
#[utoipa::path(get, path = "/organizations/{id}/filings/{year}", tag = "accounting", security(("bearer" = [])),
    params(("id" = String, Path), ("year" = i32, Path, minimum = 2000, maximum = 2100)),
    responses((status = 200, body = FilingView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_filing(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath((id, year)): ApiPath<(String, i32)>,
) -> AppResult<Json<FilingView>> {
    Ok(Json(state.db.run(move |c| filings::get(c, &actor, &id, year)).await?))
}

/// Approves a submitted filing (the supervising organisation's admin, or a coordinator admin
/// over the agency's region): the agency's `org` target becomes budget × share.
#[utoipa::path(post, path = "/organizations/{id}/filings/{year}/approve", tag = "accounting", security(("bearer" = [])),
    params(("id" = String, Path), ("year" = i32, Path, minimum = 2000, maximum = 2100)),
    responses((status = 200, body = FilingView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state, period_closed", body = Problem)))]
async fn approve_filing(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath((id, year)): ApiPath<(String, i32)>,
) -> AppResult<Json<FilingView>> {
    let ctx = state.ctx();
    Ok(Json(state.db.write(move |c| filings::approve(c, &actor, &id, year, &ctx)).await?))
}

/// Sends a submitted filing back with a reason; the agency files again.
#[utoipa::path(post, path = "/organizations/{id}/filings/{year}/return", tag = "accounting", security(("bearer" = [])),
    params(("id" = String, Path), ("year" = i32, Path, minimum = 2000, maximum = 2100)), request_body = ReturnBody,
    responses((status = 200, body = FilingView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "invalid_state, period_closed", body = Problem), (status = 422, body = Problem)))]
async fn return_filing(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath((id, year)): ApiPath<(String, i32)>,
    ApiJson(body): ApiJson<ReturnBody>,
) -> AppResult<Json<FilingView>> {
    let ctx = state.ctx();
    Ok(Json(state.db.write(move |c| filings::send_back(c, &actor, &id, year, body, &ctx)).await?))
}

/// Filings the caller files or reviews.
#[utoipa::path(get, path = "/filings", tag = "accounting", security(("bearer" = [])), params(FilingQuery),
    responses((status = 200, body = Page<FilingView>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_filings(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<FilingQuery>,
) -> AppResult<Json<Page<FilingView>>> {
    let page = q.page()?;
    Ok(Json(state.db.run(move |c| filings::list(c, &actor, q, &page)).await?))
}

/// Closes a year that has ended (platform admin): its figures never change again; corrections
/// post into the earliest open year with `adjusts_year`.
#[utoipa::path(post, path = "/periods/{year}/close", tag = "accounting", security(("bearer" = [])), params(("year" = i32, Path, minimum = 2000, maximum = 2100)),
    responses((status = 200, body = PeriodView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "period_closed", body = Problem), (status = 422, description = "the year has not ended", body = Problem)))]
async fn close_period(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(year): ApiPath<i32>,
) -> AppResult<Json<PeriodView>> {
    let ctx = state.ctx();
    Ok(Json(state.db.write(move |c| periods::close(c, &actor, year, &ctx)).await?))
}

#[derive(Serialize, ToSchema)]
struct PeriodList {
    items: Vec<PeriodView>,
    next_cursor: Option<String>,
}

/// The closed years.
#[utoipa::path(get, path = "/periods", tag = "accounting", security(("bearer" = [])),
    responses((status = 200, body = PeriodList), (status = 401, body = Problem)))]
async fn list_periods(
    State(state): State<AppState>,
    Authenticated(_actor): Authenticated,
) -> AppResult<Json<PeriodList>> {
    let items = state.db.run(periods::list).await?;
    Ok(Json(PeriodList { items, next_cursor: None }))
}

/// The ledger entries of a scope and year (with `as_of`: those recorded by then), each with its
/// category mix and lines; `by` and `key` narrow it to one breakdown row. `format=csv|xlsx`
/// downloads all of them.
#[utoipa::path(get, path = "/ledger", tag = "accounting", security(("bearer" = [])), params(LedgerQuery),
    responses((status = 200, description = "entries; a CSV or XLSX file with format=csv|xlsx", content((Page<EntryView> = "application/json"), ("text/csv"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn ledger(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<LedgerQuery>,
) -> AppResult<Response> {
    let format = export::parse_format(q.format.as_deref())?;
    let ctx = state.ctx();
    if format == FileFormat::Json {
        let page = q.page()?;
        return Ok(Json(state.db.read(move |c| entries::ledger(c, &actor, &q, &page, &ctx)).await?).into_response());
    }
    let table = state.db.read(move |c| export::ledger_export(c, &actor, &q, &ctx)).await?;
    export::download(&table, format)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// `year` (default), `H1`, `H2`, `Q1`..`Q4` or `M01`..`M12`, in the deployment's zone.
    #[param(pattern = r"^(year|H1|H2|Q[1-4]|M(0[1-9]|1[0-2]))$")]
    pub period: Option<String>,
    /// `recipient`, `donor`, `org`, `pairing` or `producer`.
    #[param(pattern = r"^(recipient|donor|org|pairing|producer)$")]
    pub scope_kind: String,
    pub scope_id: String,
    /// The figures as they stood at this instant (entries recorded by then).
    pub as_of: Option<DateTime<Utc>>,
    /// `json` (default), `csv` or `xlsx`.
    #[param(pattern = r"^(json|csv|xlsx)$")]
    pub format: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownQuery {
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// `year` (default), `H1`, `H2`, `Q1`..`Q4` or `M01`..`M12`, in the deployment's zone.
    #[param(pattern = r"^(year|H1|H2|Q[1-4]|M(0[1-9]|1[0-2]))$")]
    pub period: Option<String>,
    #[param(pattern = r"^(recipient|donor|org|pairing|producer)$")]
    pub scope_kind: String,
    pub scope_id: String,
    /// `recipient_county`, `recipient_prefecture`, `donor_region`, `buyer_org`, `producer`, `category` or `month`.
    #[param(pattern = r"^(recipient_county|recipient_prefecture|donor_region|buyer_org|producer|category|month)$")]
    pub by: String,
    pub as_of: Option<DateTime<Utc>>,
    /// The largest rows to return (1 to 100000; JSON default 1000, files all); the rest are summed
    /// in one more row with key `_other`.
    #[param(minimum = 1, maximum = 100000)]
    pub limit: Option<i64>,
    /// `json` (default), `csv` or `xlsx`.
    #[param(pattern = r"^(json|csv|xlsx)$")]
    pub format: Option<String>,
}

/// A report: its format and period checked first (422 before any work), the view read on a read
/// connection, then JSON or the file.
async fn report<T: Serialize + Send + 'static>(
    state: &AppState,
    (year, period, format): (i32, Option<&str>, Option<&str>),
    view: impl FnOnce(&mut DbConn, &Span, &Ctx) -> AppResult<T> + Send + 'static,
    table: fn(&T, chrono_tz::Tz) -> export::Table,
) -> AppResult<Response> {
    let format = export::parse_format(format)?;
    let span = Span::parse(scope::check_year(year, "year")?, period)?;
    let ctx = state.ctx();
    let view = state.db.read(move |c| view(c, &span, &ctx)).await?;
    match format {
        FileFormat::Json => Ok(Json(view).into_response()),
        other => export::download(&table(&view, ctx.zone), other),
    }
}

/// Progress of a scope against its target for a year: counted, ratio, the even-pace figure to
/// date, a year-end projection, a status and the twelve months.
#[utoipa::path(get, path = "/reports/progress", tag = "accounting", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, description = "the progress; a CSV or XLSX file with format=csv|xlsx", content((ProgressView = "application/json"), ("text/csv"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn progress(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> AppResult<Response> {
    let (year, period, format) = (q.year, q.period.clone(), q.format.clone());
    let view = move |c: &mut DbConn, span: &Span, ctx: &Ctx| {
        let scope = progress::visible_scope(c, &actor, &q.scope_kind, &q.scope_id)?;
        progress::progress(c, &scope, span, q.as_of, ctx)
    };
    report(&state, (year, period.as_deref(), format.as_deref()), view, export::progress_table).await
}

/// A scope's counted amount split by county, prefecture, donor region, buying organisation,
/// producer, category or month, largest first; the rows (with an `_other` row for any left out
/// by `limit`) add up to `total_fen`, the progress figure.
#[utoipa::path(get, path = "/reports/breakdown", tag = "accounting", security(("bearer" = [])), params(BreakdownQuery),
    responses((status = 200, description = "the breakdown; a CSV or XLSX file with format=csv|xlsx", content((BreakdownView = "application/json"), ("text/csv"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn breakdown(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<BreakdownQuery>,
) -> AppResult<Response> {
    let json = export::parse_format(q.format.as_deref())? == FileFormat::Json;
    let by = By::parse(&q.by)?;
    let limit = match q.limit {
        Some(n) if (1..=100_000).contains(&n) => Some(n as usize),
        Some(_) => return Err(AppError::invalid_field("validation_failed", "limit", "must be from 1 to 100000")),
        None if json => Some(breakdown::DEFAULT_ROWS),
        None => None,
    };
    let (year, period, format) = (q.year, q.period.clone(), q.format.clone());
    let view = move |c: &mut DbConn, span: &Span, ctx: &Ctx| {
        let scope = progress::visible_scope(c, &actor, &q.scope_kind, &q.scope_id)?;
        breakdown::breakdown(c, &scope, span, by, q.as_of, limit, ctx)
    };
    report(&state, (year, period.as_deref(), format.as_deref()), view, export::breakdown_table).await
}

/// Organisations under the scope that have a target for the year, worst ratio first.
#[utoipa::path(get, path = "/reports/laggards", tag = "accounting", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, description = "the laggards; a CSV or XLSX file with format=csv|xlsx", content((LaggardsView = "application/json"), ("text/csv"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn laggards(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> AppResult<Response> {
    let (year, period, format) = (q.year, q.period.clone(), q.format.clone());
    let view = move |c: &mut DbConn, span: &Span, ctx: &Ctx| {
        let scope = progress::visible_scope(c, &actor, &q.scope_kind, &q.scope_id)?;
        laggards::laggards(c, &scope, span, q.as_of, ctx)
    };
    report(&state, (year, period.as_deref(), format.as_deref()), view, export::laggards_table).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulletinQuery {
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// `H1` or `H2` for the half-yearly bulletin; also `Q1`..`Q4`, `M01`..`M12` or `year` (default).
    #[param(pattern = r"^(year|H1|H2|Q[1-4]|M(0[1-9]|1[0-2]))$")]
    pub period: Option<String>,
    /// The supervising organisation (an agency with units under it).
    pub org_id: String,
    pub as_of: Option<DateTime<Utc>>,
    /// `json` (default), `csv` or `xlsx`.
    #[param(pattern = r"^(json|csv|xlsx)$")]
    pub format: Option<String>,
}

/// The bulletin of a supervising organisation: each unit directly under it (with those under the
/// unit) against its reserved share over the period, ranked best first, with the totals.
#[utoipa::path(get, path = "/reports/bulletin", tag = "accounting", security(("bearer" = [])), params(BulletinQuery),
    responses((status = 200, description = "the bulletin; a CSV or XLSX file with format=csv|xlsx", content((BulletinView = "application/json"), ("text/csv"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn bulletin(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<BulletinQuery>,
) -> AppResult<Response> {
    let (year, period, format) = (q.year, q.period.clone(), q.format.clone());
    let view = move |c: &mut DbConn, span: &Span, ctx: &Ctx| {
        let scope = progress::visible_scope(c, &actor, "org", &q.org_id)?;
        bulletin::bulletin(c, &scope, span, q.as_of, ctx)
    };
    report(&state, (year, period.as_deref(), format.as_deref()), view, export::bulletin_table).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `pairing`, `target`, `filing` or `period`.
    #[param(pattern = r"^(pairing|target|filing|period)$")]
    pub subject_kind: String,
    pub subject_id: String,
}

#[derive(Serialize, ToSchema)]
struct AuditList {
    items: Vec<AuditView>,
    next_cursor: Option<String>,
}

/// Who changed a pairing, target, filing or closed year, when, and how — for those who may see it.
#[utoipa::path(get, path = "/accounting-events", tag = "accounting", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn accounting_events(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> AppResult<Json<AuditList>> {
    let items = state
        .db
        .run(move |c| {
            match q.subject_kind.as_str() {
                "pairing" => drop(pairings::find(c, &q.subject_id)?),
                "period" | "service_fee" => {}
                "target" => targets::require_visible(c, &actor, &q.subject_id)?,
                "filing" => filings::require_visible(c, &actor, &q.subject_id)?,
                _ => {
                    return Err(AppError::invalid_field(
                        "validation_failed",
                        "subject_kind",
                        "must be pairing, target, filing or period",
                    ));
                }
            }
            audit::history(c, &q.subject_kind, &q.subject_id)
        })
        .await?;
    Ok(Json(AuditList { items, next_cursor: None }))
}
