//! The one loop every job runs in: claim due rows of its topic, read their payloads, perform
//! them, mark each done or failed. A payload no job can read is set aside at once (retrying
//! cannot mend it); a failure waits out its backoff; a row that used up its job's attempts
//! becomes a dead letter. Periodic tasks have their own small loop.

use super::job::{Claimed, Job, Periodic};
use crate::error::AppResult;
use crate::outbox;
use crate::state::AppState;

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// Rows claimed (done, failed or set aside).
    pub handled: usize,
    /// Of those, rows that failed and will be tried again (or became dead letters).
    pub failed: usize,
}

/// Claims and performs one batch of `J`'s due rows.
pub async fn run_batch<J: Job>(state: &AppState) -> AppResult<Ran> {
    J::prepare(state).await?;
    let (now, lease) = (state.clock.now_naive(), state.config.outbox_lease(J::LEASE_SECS));
    let claimed = state.db.run(move |c| crate::db::claim_outbox(c, J::TOPIC, now, lease, J::BATCH)).await?;
    if claimed.is_empty() {
        return Ok(Ran::default());
    }
    let handled = claimed.len();
    let mut rows = Vec::with_capacity(handled);
    let mut unreadable = Vec::new();
    for (id, payload) in claimed {
        match serde_json::from_str::<J::Payload>(&payload) {
            Ok(payload) => rows.push(Claimed { id, payload }),
            Err(e) => unreadable.push((id, format!("a {} payload this version cannot read: {e}", J::TOPIC))),
        }
    }
    for (id, error) in unreadable {
        state.db.write(move |c| outbox::dead_letter(c, &[id], &error, now)).await?;
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let outcomes = J::run_batch(state, rows).await;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (id, outcome) in ids.into_iter().zip(outcomes) {
        match outcome {
            Ok(()) => done.push(id),
            Err(e) => failed.push((id, e.to_string())),
        }
    }
    let ran = Ran { handled, failed: failed.len() };
    let now = state.clock.now_naive();
    if !done.is_empty() {
        state.db.write(move |c| outbox::mark_done(c, &done, now)).await?;
    }
    for (id, error) in failed {
        tracing::warn!(topic = J::TOPIC, outbox_id = %id, error = %error, "outbox row failed; will retry");
        state.db.write(move |c| outbox::mark_failed(c, &[id], &error, J::MAX_ATTEMPTS, now)).await?;
    }
    Ok(ran)
}

/// Runs `J` until `shutdown` flips: at once again while there is more, else after its poll
/// interval or when a request of this process wakes it.
pub async fn serve<J: Job>(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if !J::enabled(&state) {
        return;
    }
    let wake = J::woken_by(&state);
    loop {
        let handled = match run_batch::<J>(&state).await {
            Ok(ran) => ran.handled,
            Err(e) => {
                tracing::warn!(topic = J::TOPIC, error = %e, "outbox batch failed");
                0
            }
        };
        if *shutdown.borrow() {
            return;
        }
        if handled > 0 {
            continue;
        }
        let woken = async {
            match &wake {
                Some(notify) => notify.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(J::POLL) => {}
            _ = woken => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Runs `P` at start and then every `P::EVERY` until `shutdown` flips.
pub async fn every<P: Periodic>(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        match P::tick(&state).await {
            Ok(report) if report != P::Report::default() => tracing::info!(task = P::NAME, ?report, "worker"),
            Ok(_) => {}
            Err(e) => tracing::warn!(task = P::NAME, error = %e, "periodic task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(P::EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
