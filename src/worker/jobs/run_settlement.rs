//! `settlement.run`: performs a settlement run (see `settlement::runs`), producer by producer.
//! A worker killed halfway leaves the row to the next attempt, which skips what was settled.

use crate::error::AppResult;
use crate::settlement::runs;
use crate::state::AppState;
use crate::worker::job::{Claimed, Job};
use crate::worker::payloads::SettlementRunDue;

pub struct RunSettlement;

impl Job for RunSettlement {
    type Payload = SettlementRunDue;
    const BATCH: i64 = 1;
    /// A run over many producers takes a while; another worker waits this long before taking over.
    const LEASE_SECS: i64 = 600;

    async fn run(state: &AppState, row: Claimed<SettlementRunDue>) -> AppResult<()> {
        let (now, stripe) = (state.clock.now_naive(), state.stripe.is_some());
        let done = state.db.run(move |c| runs::perform(c, &row.payload.run_id, stripe, now)).await?;
        if done.settlements > 0 {
            tracing::info!(settlements = done.settlements, payables = done.payables, "settlement run");
            // Transfers to connected accounts were queued with the settlements.
            state.stripe_nudge.notify_one();
        }
        Ok(())
    }
}
