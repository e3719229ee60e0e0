//! The worker's timetable: what runs every so often rather than from outbox rows. Each task is
//! safe in any number of workers (it claims its period, or the rows it changes).

use std::time::Duration;

use crate::error::AppResult;
use crate::groupbuy::jobs::Pass;
use crate::notify::digest::Queued;
use crate::search::indexer;
use crate::state::AppState;
use crate::worker::housekeeping::{self, Swept};
use crate::worker::job::Periodic;

/// Forgets idempotency keys, sessions and handled outbox rows past their retention.
pub struct Housekeeping;

impl Periodic for Housekeeping {
    const NAME: &'static str = "housekeeping";
    const EVERY: Duration = Duration::from_secs(60);
    type Report = Swept;

    async fn tick(state: &AppState) -> AppResult<Swept> {
        let now = state.clock.now_naive();
        state.db.write(move |c| housekeeping::sweep(c, now)).await
    }
}

/// The weekly digest (Monday 08:00 in the deployment's zone) and certificate notices.
pub struct MailTimetable;

impl Periodic for MailTimetable {
    const NAME: &'static str = "mail timetable";
    const EVERY: Duration = Duration::from_secs(60);
    type Report = Queued;

    async fn tick(state: &AppState) -> AppResult<Queued> {
        crate::notify::digest::run_due(state).await
    }
}

/// Live sessions go live at their start and end at their end, each exactly once.
pub struct LiveTimetable;

impl Periodic for LiveTimetable {
    const NAME: &'static str = "live sessions";
    const EVERY: Duration = Duration::from_secs(1);
    type Report = (usize, usize);

    async fn tick(state: &AppState) -> AppResult<(usize, usize)> {
        let now = state.clock.now_naive();
        // Most seconds nothing is due: look first, and take the write lock only to change something.
        if !state.db.read(move |c| crate::live::sessions::any_due(c, now)).await? {
            return Ok((0, 0));
        }
        state.db.write(move |c| crate::live::sessions::advance(c, now)).await
    }
}

/// Group purchases open, are announced before closing, and close on time.
pub struct GroupBuyTimetable;

impl Periodic for GroupBuyTimetable {
    const NAME: &'static str = "group purchases";
    const EVERY: Duration = Duration::from_secs(1);
    type Report = Pass;

    async fn tick(state: &AppState) -> AppResult<Pass> {
        crate::groupbuy::jobs::run_due(state).await
    }
}

/// Orders change stock without queueing the product: products whose stock moved are queued for
/// the index once per window.
pub struct StockSweep;

impl Periodic for StockSweep {
    const NAME: &'static str = "stock changes to search";
    const EVERY: Duration = Duration::from_secs(indexer::STOCK_SWEEP_SECS);
    type Report = usize;

    async fn tick(state: &AppState) -> AppResult<usize> {
        let now = state.clock.now_naive();
        state.db.run(move |c| indexer::sweep_stock_changes(c, now)).await
    }
}

/// Once a day, products whose certificate lapsed are queued so the index drops them.
pub struct ExpirySweep;

impl Periodic for ExpirySweep {
    const NAME: &'static str = "lapsed certificates out of search";
    const EVERY: Duration = Duration::from_secs(60);
    type Report = usize;

    async fn tick(state: &AppState) -> AppResult<usize> {
        let ctx = state.ctx();
        state.db.run(move |c| indexer::sweep_expired(c, ctx.today, ctx.now)).await
    }
}

/// Every day at `DONGXI_SETTLE_AT` (local time) a settlement run over what has been owed for
/// `DONGXI_SETTLE_DELAY_DAYS`: once a day whatever the number of workers.
pub struct SettlementTimetable;

impl Periodic for SettlementTimetable {
    const NAME: &'static str = "daily settlement run";
    const EVERY: Duration = Duration::from_secs(60);
    type Report = usize;

    async fn tick(state: &AppState) -> AppResult<usize> {
        let (ctx, schedule) = (state.ctx(), state.config.settle);
        let local = ctx.now.and_utc().with_timezone(&ctx.zone);
        if local.time() < schedule.at {
            return Ok(0);
        }
        let day = local.date_naive().to_string();
        let cutoff = ctx.now - chrono::Duration::days(schedule.delay_days);
        state
            .db
            .write(move |c| {
                if !crate::db::claim_period(c, "settlement", &day, ctx.now)? {
                    return Ok(0);
                }
                crate::settlement::runs::queue(c, "scheduled", cutoff, None, ctx.now)?;
                Ok(1)
            })
            .await
    }
}

/// Once a month or a week has ended (and the grace for transactions in flight has passed), the
/// ledger's snapshot, which reports `as_of` an earlier instant start from; week-end snapshots of
/// years before last are then dropped. Once per month or week end whatever the number of
/// workers: the snapshot's own row is the claim. The month's first, so that an instant that ends
/// both is a month-end snapshot (which fills every table).
pub struct LedgerSnapshots;

impl Periodic for LedgerSnapshots {
    const NAME: &'static str = "ledger month-end and week-end snapshots";
    const EVERY: Duration = Duration::from_secs(60);
    type Report = bool;

    async fn tick(state: &AppState) -> AppResult<bool> {
        use crate::accounting::snapshots::{self, Kind};
        let ctx = state.ctx();
        let mut took = false;
        for (kind, due) in [
            (Kind::Month, snapshots::due_month_end(ctx.now, ctx.zone)),
            (Kind::Week, snapshots::due_week_end(ctx.now, ctx.zone)),
        ] {
            let Some(at) = due else { continue };
            if state.db.read(move |c| snapshots::exists(c, at)).await? {
                continue;
            }
            if state.db.write(move |c| snapshots::take(c, at, kind, ctx.zone, ctx.now)).await? {
                took = true;
                if kind == Kind::Week {
                    state.db.run(move |c| snapshots::forget_old_weeks(c, ctx.now, ctx.zone)).await?;
                }
            }
        }
        if took {
            state.db.run(snapshots::tidy).await?;
        }
        Ok(took)
    }
}
