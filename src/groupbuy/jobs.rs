//! The campaign timetable, run by every worker: scheduled campaigns open at `opens_at`, those
//! closing within a day are announced once, and due ones close. Each step is a conditional
//! update under the campaign's lock, so several workers (and an organiser closing by hand at
//! the same moment) do each thing once.

use chrono::Duration;

use super::campaigns::notify;
use super::close::{self, Closer, close};
use super::model;
use crate::error::AppResult;
use crate::state::AppState;

/// How far ahead of `closes_at` the "closing soon" notice goes out.
pub const REMINDER_AHEAD_HOURS: i64 = 24;
const BATCH: i64 = 50;

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub opened: usize,
    pub reminded: usize,
    pub closed: usize,
    pub failed: usize,
    /// Pledges of closed rounds made orders (or released) after the close's first chunk.
    pub settled: usize,
}

impl Pass {
    pub fn any(&self) -> bool {
        self != &Pass::default()
    }
}

/// One pass over everything due now.
pub async fn run_due(state: &AppState) -> AppResult<Pass> {
    let ctx = state.ctx();
    let now = ctx.now;
    let soon = now + Duration::hours(REMINDER_AHEAD_HOURS);
    let (opening, reminding, closing) = state
        .db
        .run(move |c| {
            Ok((
                model::due_to_open(c, now, BATCH)?,
                model::due_to_remind(c, now, soon, BATCH)?,
                model::due_to_close(c, now, BATCH)?,
            ))
        })
        .await?;
    let mut pass = Pass::default();
    for id in opening {
        let moved = state
            .db
            .write(move |c| {
                let moved = model::mark_open(c, &id, now)?;
                if moved {
                    notify(c, &id, "opened", now)?;
                }
                Ok(moved)
            })
            .await?;
        pass.opened += usize::from(moved);
    }
    for id in reminding {
        let marked = state
            .db
            .write(move |c| {
                let marked = model::mark_reminded(c, &id, now)?;
                if marked {
                    notify(c, &id, "closing_soon", now)?;
                }
                Ok(marked)
            })
            .await?;
        pass.reminded += usize::from(marked);
    }
    for id in closing {
        let campaign = id.clone();
        match state.db.write(move |c| close(c, &campaign, Closer::Worker, &ctx)).await {
            Ok(_) => pass.closed += 1,
            // One campaign that cannot close (a broken invariant) must not hold up the others.
            Err(e) => {
                tracing::error!(group_buy_id = %id, error = %e, "closing a group purchase failed");
                pass.failed += 1;
            }
        }
    }
    // Rounds closed with more pledges than one chunk: the rest, a chunk per transaction.
    let unsettled = state.db.run(|c| model::unsettled(c, BATCH)).await?;
    for id in unsettled {
        let campaign = id.clone();
        let done = state
            .db
            .run(move |c| {
                let who = close::closer_of(c, &campaign)?;
                let mut settled = 0;
                loop {
                    let n = crate::db::write_tx(c, |t| close::settle_chunk(t, &campaign, &who, &ctx))?;
                    settled += n;
                    if (n as i64) < close::SETTLE_CHUNK {
                        return Ok(settled);
                    }
                }
            })
            .await;
        match done {
            Ok(n) => pass.settled += n,
            Err(e) => {
                tracing::error!(group_buy_id = %id, error = %e, "settling a closed group purchase failed");
                pass.failed += 1;
            }
        }
    }
    if pass.closed > 0 || pass.settled > 0 {
        // Card authorisations of the closed campaigns are captured or released from the outbox.
        state.stripe_nudge.notify_one();
    }
    Ok(pass)
}
