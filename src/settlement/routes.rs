use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::bank::{self, BankAccountBody, BankAccountView, BankEventView};
use super::fees::{self, FeeBody, FeeView};
use super::model::SettlementRow;
use super::payouts::{self, BatchBody, BatchView, PaidBody, ReasonBody};
use super::runs::{self, RunBody, RunView};
use super::time_to_money::{self, TimeToMoneyQuery, TimeToMoneyView};
use super::view::{self, BalanceView, SettlementDetail, SettlementListQuery, SettlementView};
use crate::accounting::export::{self, Cell, FileFormat, Table};
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::error::{AppResult, Problem};
use crate::http::auth::Authenticated;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, Paged};
use crate::identity::Actor;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_fees))
        .routes(routes!(set_fee))
        .routes(routes!(start_run))
        .routes(routes!(get_run))
        .routes(routes!(list_settlements))
        .routes(routes!(get_settlement))
        .routes(routes!(statement_csv))
        .routes(routes!(statement_xlsx))
        .routes(routes!(create_batch))
        .routes(routes!(batch_file))
        .routes(routes!(record_paid))
        .routes(routes!(record_failed))
        .routes(routes!(cancel_settlement))
        .routes(routes!(balance))
        .routes(routes!(get_bank_account, put_bank_account))
        .routes(routes!(bank_account_events))
        .routes(routes!(time_to_money))
}

#[derive(Serialize, ToSchema)]
struct FeeList {
    items: Vec<FeeView>,
    next_cursor: Option<String>,
}

/// The service fee of every category, in basis points (0 where none is set).
#[utoipa::path(get, path = "/service-fees", tag = "settlement", security(("bearer" = [])),
    responses((status = 200, body = FeeList), (status = 401, body = Problem)))]
async fn list_fees(State(state): State<AppState>, Authenticated(_actor): Authenticated) -> AppResult<Json<FeeList>> {
    let items = state.db.run(fees::list).await?;
    Ok(Json(FeeList { items, next_cursor: None }))
}

/// Sets a category's service fee (platform finance): 0 to 10 000 basis points. What is owed
/// already keeps its fee; the change is in the accounting audit trail.
#[utoipa::path(put, path = "/service-fees/{category}", tag = "settlement", security(("bearer" = [])),
    params(("category" = String, Path)), request_body = FeeBody,
    responses((status = 200, body = FeeView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, description = "validation_failed (unknown category, rate outside 0–10000)", body = Problem)))]
async fn set_fee(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(category): ApiPath<String>,
    ApiJson(body): ApiJson<FeeBody>,
) -> AppResult<Json<FeeView>> {
    let now = state.clock.now_naive();
    Ok(Json(state.db.write(move |c| fees::set(c, &actor, &category, body, now)).await?))
}

/// Starts a settlement run (platform finance): every producer's payables owed by the cutoff
/// (default: `DONGXI_SETTLE_DELAY_DAYS` ago) become one settlement each. The worker performs it;
/// the answer is the queued run, to be followed at `GET /settlements/runs/{id}`.
#[utoipa::path(post, path = "/settlements/runs", tag = "settlement", security(("bearer" = [])), request_body = RunBody,
    responses((status = 202, body = RunView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, description = "validation_failed (a cutoff in the future)", body = Problem)))]
async fn start_run(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<RunBody>,
) -> AppResult<(StatusCode, Json<RunView>)> {
    let (ctx, delay) = (state.ctx(), state.config.settle.delay_days);
    let run = state.db.write(move |c| runs::request(c, &actor, body, delay, &ctx)).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// A settlement run: `queued` until the worker has been through every producer, then `finished`.
#[utoipa::path(get, path = "/settlements/runs/{id}", tag = "settlement", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RunView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_run(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<RunView>> {
    Ok(Json(state.db.run(move |c| runs::get(c, &actor, &id)).await?))
}

/// Settlements, newest first: a producer's own, a coordinator's producers', all for the platform.
#[utoipa::path(get, path = "/settlements", tag = "settlement", security(("bearer" = [])), params(SettlementListQuery),
    responses((status = 200, body = Page<SettlementView>), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_settlements(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<SettlementListQuery>,
) -> AppResult<Json<Page<SettlementView>>> {
    let page = q.page()?;
    Ok(Json(state.db.run(move |c| view::list(c, &actor, q, &page)).await?))
}

/// One settlement with its lines (order, sub-order, amount, fee, refunds), payouts and history.
#[utoipa::path(get, path = "/settlements/{id}", tag = "settlement", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SettlementDetail), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_settlement(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<SettlementDetail>> {
    Ok(Json(state.db.run(move |c| view::get(c, &actor, &id)).await?))
}

async fn statement(state: AppState, actor: Actor, id: String, format: FileFormat) -> AppResult<Response> {
    let zone = state.config.timezone;
    let table = state.db.run(move |c| view::statement(c, &actor, &id, zone)).await?;
    export::download(&table, format)
}

/// The settlement's statement (对账单) as CSV, with Chinese headers and yuan.
#[utoipa::path(get, path = "/settlements/{id}/statement.csv", tag = "settlement", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "the statement", content_type = "text/csv"), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn statement_csv(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    statement(state, actor, id, FileFormat::Csv).await
}

/// The settlement's statement (对账单) as an Excel workbook.
#[utoipa::path(get, path = "/settlements/{id}/statement.xlsx", tag = "settlement", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "the statement", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn statement_xlsx(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    statement(state, actor, id, FileFormat::Xlsx).await
}

/// Takes scheduled settlements into a bank batch (platform finance): each gets a pending bank
/// payout and reads `paying`. Settlements whose producers have no bank details are left out
/// (or, when named, refused).
#[utoipa::path(post, path = "/settlements/batches", operation_id = "create_payment_batch", tag = "settlement", security(("bearer" = [])), request_body = BatchBody,
    responses((status = 201, body = BatchView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "invalid_state (a named settlement is not scheduled), nothing_to_batch (none is scheduled), no_bank_details (none of their producers has bank details; `skipped_settlement_ids` names them)", body = Problem),
        (status = 422, body = Problem)))]
async fn create_batch(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<BatchBody>,
) -> AppResult<(StatusCode, Json<BatchView>)> {
    let ctx = state.ctx();
    Ok((StatusCode::CREATED, Json(state.db.write(move |c| payouts::batch(c, &actor, body, &ctx)).await?)))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FileQuery {
    /// `csv` (default) or `xlsx`.
    format: Option<String>,
}

/// The bank's file of a batch's pending transfers (platform finance): 户名, 开户行, 账号, 金额, 摘要.
#[utoipa::path(get, path = "/settlements/batches/{id}/file", tag = "settlement", security(("bearer" = [])),
    params(("id" = String, Path), FileQuery),
    responses((status = 200, description = "CSV or XLSX", content_type = "text/csv"), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn batch_file(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<FileQuery>,
) -> AppResult<Response> {
    let format = match export::parse_format(q.format.as_deref())? {
        FileFormat::Json => FileFormat::Csv,
        other => other,
    };
    let zone = state.config.timezone;
    let batch = id.clone();
    let lines = state.db.run(move |c| payouts::batch_lines(c, &actor, &batch, zone)).await?;
    let table = Table {
        title: format!("东西 货款结算批量付款 {id}"),
        file_stem: format!("payouts-{id}"),
        preamble: vec![
            ("笔数".into(), Cell::Int(lines.len() as i64)),
            ("合计（元）".into(), Cell::Yuan(lines.iter().map(|l| l.amount_fen).sum())),
        ],
        headers: vec!["户名", "开户行", "账号", "金额", "摘要"],
        rows: lines
            .into_iter()
            .map(|l| {
                vec![
                    Cell::Text(l.account_name),
                    Cell::Text(l.bank_name),
                    Cell::Text(l.account_no),
                    Cell::Yuan(l.amount_fen),
                    Cell::Text(l.memo),
                ]
            })
            .collect(),
    };
    export::download(&table, format)
}

/// Records the bank's confirmation of a settlement's transfer (platform finance): its payout and
/// the settlement are paid and the producer is told by mail. A scheduled settlement paid outside
/// a batch gets its bank payout here.
#[utoipa::path(post, path = "/settlements/{id}/paid", tag = "settlement", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PaidBody,
    responses((status = 200, body = SettlementDetail), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "invalid_state (paid already, cancelled), payout_in_progress (a Stripe transfer)", body = Problem),
        (status = 422, body = Problem)))]
async fn record_paid(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PaidBody>,
) -> AppResult<Json<SettlementDetail>> {
    act_then_show(state, actor, id, move |c, actor, id, ctx| payouts::record_paid(c, actor, id, body, ctx)).await
}

/// Records that a settlement's bank transfer failed or came back (platform finance): the payout
/// is failed and the settlement scheduled again, to be paid once more.
#[utoipa::path(post, path = "/settlements/{id}/failed", tag = "settlement", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReasonBody,
    responses((status = 200, body = SettlementDetail), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "invalid_state (no payout under way), payout_in_progress", body = Problem), (status = 422, body = Problem)))]
async fn record_failed(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> AppResult<Json<SettlementDetail>> {
    act_then_show(state, actor, id, move |c, actor, id, ctx| payouts::record_failed(c, actor, id, body, ctx)).await
}

/// Cancels a scheduled settlement (platform finance): its payables go back to the next run.
#[utoipa::path(post, path = "/settlements/{id}/cancel", tag = "settlement", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReasonBody,
    responses((status = 200, body = SettlementDetail), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "invalid_state (not scheduled)", body = Problem), (status = 422, body = Problem)))]
async fn cancel_settlement(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> AppResult<Json<SettlementDetail>> {
    act_then_show(state, actor, id, move |c, actor, id, ctx| payouts::cancel(c, actor, id, body, ctx)).await
}

/// Finance acts on a settlement, then the answer is the settlement as it now stands.
async fn act_then_show<F>(state: AppState, actor: Actor, id: String, act: F) -> AppResult<Json<SettlementDetail>>
where
    F: FnOnce(&mut DbConn, &Actor, &str, &Ctx) -> AppResult<SettlementRow> + Send + 'static,
{
    let ctx = state.ctx();
    Ok(Json(
        state
            .db
            .write(move |c| {
                act(c, &actor, &id, &ctx)?;
                view::get(c, &actor, &id)
            })
            .await?,
    ))
}

/// A producer's money: owed but not yet due, due for the next run, scheduled, paid, refunds
/// deducted and fees taken (the producer, its group, platform finance, its region's coordinators).
#[utoipa::path(get, path = "/organizations/{id}/balance", tag = "settlement", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = BalanceView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn balance(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<BalanceView>> {
    let (ctx, delay) = (state.ctx(), state.config.settle.delay_days);
    Ok(Json(state.db.run(move |c| view::balance(c, &actor, &id, delay, &ctx)).await?))
}

/// A producer's bank details for payouts: the account number masked to its last four digits for
/// everyone but platform finance.
#[utoipa::path(get, path = "/organizations/{id}/bank-account", tag = "settlement", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = BankAccountView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_bank_account(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<BankAccountView>> {
    Ok(Json(state.db.run(move |c| bank::get(c, &actor, &id)).await?))
}

/// Sets a producer's bank details (its administrators, or platform finance): validated, the
/// change kept in its history and mailed to the producer's administrators.
#[utoipa::path(put, path = "/organizations/{id}/bank-account", tag = "settlement", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = BankAccountBody,
    responses((status = 200, body = BankAccountView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn put_bank_account(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<BankAccountBody>,
) -> AppResult<Json<BankAccountView>> {
    let now = state.clock.now_naive();
    Ok(Json(state.db.write(move |c| bank::set(c, &actor, &id, body, now)).await?))
}

#[derive(Serialize, ToSchema)]
struct BankEventList {
    items: Vec<BankEventView>,
    next_cursor: Option<String>,
}

/// Every change to a producer's bank details, oldest first, numbers masked.
#[utoipa::path(get, path = "/organizations/{id}/bank-account/events", tag = "settlement", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = BankEventList), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn bank_account_events(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<BankEventList>> {
    let items = state.db.run(move |c| bank::events(c, &actor, &id)).await?;
    Ok(Json(BankEventList { items, next_cursor: None }))
}

/// Time to money (结算时效): days from being owed to being paid, median and 90th percentile, per
/// county or producer (platform, coordinators for their region, producers for themselves).
#[utoipa::path(get, path = "/reports/time-to-money", tag = "settlement", security(("bearer" = [])), params(TimeToMoneyQuery),
    responses((status = 200, body = TimeToMoneyView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn time_to_money(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<TimeToMoneyQuery>,
) -> AppResult<Json<TimeToMoneyView>> {
    let zone = state.config.timezone;
    Ok(Json(state.db.read(move |c| time_to_money::report(c, &actor, q, zone)).await?))
}
