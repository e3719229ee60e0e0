//! `notify`: turns what happened into one rendered mail per recipient, in the transaction that
//! marks the notice done, so a notice becomes its mails exactly once.

use crate::error::AppResult;
use crate::notify::events;
use crate::state::AppState;
use crate::worker::job::{Claimed, Job, enqueue};
use crate::worker::payloads::Notice;

pub struct ExpandNotices;

impl Job for ExpandNotices {
    type Payload = Notice;
    const LEASE_SECS: i64 = 120;

    async fn run(state: &AppState, row: Claimed<Notice>) -> AppResult<()> {
        let (ctx, base) = (state.ctx(), state.config.public_url.clone());
        state
            .db
            .write(move |c| {
                for mail in events::expand(c, &row.payload, &base, &ctx)? {
                    enqueue(c, &mail, ctx.now)?;
                }
                crate::outbox::mark_done(c, &[row.id], ctx.now)
            })
            .await
    }
}
