//! Settlement runs: every producer's due payables (owed by the run's cutoff, not yet settled)
//! grouped into one settlement with its lines. Finance starts one (`POST /settlements/runs`), the
//! timetable starts one each day (at `DONGXI_SETTLE_AT`, over what is `DONGXI_SETTLE_DELAY_DAYS`
//! old), and the worker performs it: one transaction per producer, under that producer's lock,
//! assigning payables by a conditional update, so a payable joins one settlement however many
//! workers run and wherever a crash cuts a run short (the rest is done when the job is retried).
//! Nothing of an order is locked.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::model::{PayableRow, RunRow, SettlementRow, record_event};
use super::payouts;
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::schema::{organizations, payables as p, regions, settlement_runs as r, settlements as s};
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::identity::{Actor, Who, policy};
use crate::ids::new_id;
use crate::worker::job::enqueue;
use crate::worker::payloads::SettlementRunDue;

/// Producers looked at per query while a run goes through them.
const PRODUCERS_PER_PAGE: i64 = 500;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    /// Payables owed by this instant are settled.
    pub cutoff: DateTime<Utc>,
    /// `manual` or `scheduled`.
    pub kind: String,
    /// `queued` until the worker has been through every producer, then `finished`.
    pub status: String,
    pub settlements: i32,
    pub payables: i32,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<RunRow> for RunView {
    fn from(row: RunRow) -> Self {
        RunView {
            status: if row.finished_at.is_some() { "finished" } else { "queued" }.into(),
            id: row.id,
            cutoff: utc(row.cutoff),
            kind: row.kind,
            settlements: row.settlements,
            payables: row.payables,
            created_at: utc(row.created_at),
            finished_at: row.finished_at.map(utc),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// Settle what was owed by then (default: `DONGXI_SETTLE_DELAY_DAYS` ago). Not in the future.
    pub cutoff: Option<DateTime<Utc>>,
}

/// Queues a run over what was owed by `cutoff`; the worker performs it.
pub fn queue(
    conn: &mut DbConn,
    kind: &str,
    cutoff: NaiveDateTime,
    by: Option<&str>,
    now: NaiveDateTime,
) -> AppResult<RunRow> {
    let row = RunRow {
        id: new_id("srn"),
        cutoff,
        kind: kind.to_owned(),
        requested_by: by.map(str::to_owned),
        created_at: now,
        finished_at: None,
        settlements: 0,
        payables: 0,
    };
    diesel::insert_into(r::table).values(&row).execute(conn)?;
    enqueue(conn, &SettlementRunDue { run_id: row.id.clone() }, now)?;
    Ok(row)
}

/// Finance starts a run (platform administrators).
pub fn request(conn: &mut DbConn, actor: &Actor, body: RunBody, delay_days: i64, ctx: &Ctx) -> AppResult<RunView> {
    policy::require_platform_admin(actor)?;
    let cutoff = match body.cutoff {
        Some(at) if at.naive_utc() > ctx.now => {
            return Err(AppError::invalid_field("validation_failed", "cutoff", "must not be in the future"));
        }
        Some(at) => at.naive_utc(),
        None => ctx.now - chrono::Duration::days(delay_days),
    };
    Ok(queue(conn, "manual", cutoff, Some(&actor.user_id), ctx.now)?.into())
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<RunView> {
    policy::require_platform_admin(actor)?;
    let row: RunRow = r::table
        .find(id)
        .select(RunRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("settlement run"))?;
    Ok(row.into())
}

/// What performing a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Performed {
    pub settlements: usize,
    pub payables: usize,
}

/// Performs a run: every producer with payables due by the cutoff, one transaction each. Safe
/// to repeat and to run in several workers at once; a finished run does nothing again.
/// `stripe`: whether payouts to Stripe connected accounts can be started here.
pub fn perform(conn: &mut DbConn, run_id: &str, stripe: bool, now: NaiveDateTime) -> AppResult<Performed> {
    let Some(run) = r::table.find(run_id).select(RunRow::as_select()).first::<RunRow>(conn).optional()? else {
        return Err(anyhow::anyhow!("settlement run {run_id} does not exist").into());
    };
    let mut done = Performed::default();
    if run.finished_at.is_some() {
        return Ok(done);
    }
    let mut after = String::new();
    loop {
        let producers: Vec<String> = p::table
            .filter(p::settlement_id.is_null())
            .filter(p::due_at.le(run.cutoff))
            .filter(p::producer_id.gt(&after))
            .select(p::producer_id)
            .distinct()
            .order(p::producer_id.asc())
            .limit(PRODUCERS_PER_PAGE)
            .load(conn)?;
        let Some(last) = producers.last() else { break };
        after = last.clone();
        for producer in producers {
            if let Some(n) = db::write_tx(conn, |c| settle_producer(c, &run, &producer, stripe, now))? {
                done.settlements += 1;
                done.payables += n;
            }
        }
    }
    diesel::update(r::table.find(run_id).filter(r::finished_at.is_null())).set(r::finished_at.eq(now)).execute(conn)?;
    Ok(done)
}

/// One producer's settlement of this run: its due unsettled payables, if they come to more than
/// nothing (deductions alone wait for the next sales). Returns how many payables it took.
fn settle_producer(
    conn: &mut DbConn,
    run: &RunRow,
    producer_id: &str,
    stripe: bool,
    now: NaiveDateTime,
) -> AppResult<Option<usize>> {
    db::xact_lock(conn, &format!("settle:{producer_id}"), false)?;
    let due: Vec<PayableRow> = p::table
        .filter(p::producer_id.eq(producer_id))
        .filter(p::settlement_id.is_null())
        .filter(p::due_at.le(run.cutoff))
        .order((p::due_at.asc(), p::id.asc()))
        .select(PayableRow::as_select())
        .load(conn)?;
    let amount: i64 = due.iter().map(|x| x.net_fen).sum();
    let (Some(first), Some(last)) = (due.first(), due.last()) else { return Ok(None) };
    if amount <= 0 {
        return Ok(None);
    }
    let (org_path, region_path): (String, String) = organizations::table
        .inner_join(regions::table)
        .filter(organizations::id.eq(producer_id))
        .select((organizations::path, regions::path))
        .first(conn)?;
    let row = SettlementRow {
        id: new_id("stl"),
        run_id: run.id.clone(),
        producer_id: producer_id.to_owned(),
        producer_path: org_path,
        producer_region_path: region_path,
        status: "scheduled".into(),
        gross_fen: due.iter().filter(|x| x.kind == "sale").map(|x| x.gross_fen).sum(),
        fee_fen: due.iter().map(|x| x.fee_fen).sum(),
        deducted_fen: -due.iter().filter(|x| x.kind == "refund").map(|x| x.gross_fen).sum::<i64>(),
        amount_fen: amount,
        line_count: due.len() as i32,
        due_from: first.due_at,
        due_to: last.due_at,
        created_at: now,
        updated_at: now,
        paid_at: None,
        cancel_reason: None,
    };
    diesel::insert_into(s::table).values(&row).execute(conn)?;
    let ids: Vec<&String> = due.iter().map(|x| &x.id).collect();
    let taken = diesel::update(p::table.filter(p::id.eq_any(&ids)).filter(p::settlement_id.is_null()))
        .set(p::settlement_id.eq(&row.id))
        .execute(conn)?;
    if taken != due.len() {
        // Under the producer's lock this cannot happen; if it did, nothing of it stays.
        return Err(anyhow::anyhow!("payables of {producer_id} were settled meanwhile").into());
    }
    diesel::update(r::table.find(&run.id))
        .set((r::settlements.eq(r::settlements + 1), r::payables.eq(r::payables + taken as i32)))
        .execute(conn)?;
    let details = json!({"run_id": run.id, "amount_fen": amount, "lines": taken});
    record_event(conn, &row.id, "created", &Who::system(), details, now)?;
    if stripe {
        payouts::start_stripe_if_connected(conn, &row, now)?;
    }
    Ok(Some(taken))
}
