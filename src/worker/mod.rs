//! The background worker: the outbox consumers (search indexing) and the scheduled jobs, run in
//! every `serve` process and by `dongxi worker`. Every job is safe to run in several processes.

pub mod housekeeping;

use std::time::Duration;

use crate::app::AppState;

/// Starts everything the worker does; it ends when `shutdown` flips.
pub fn spawn(state: &AppState, shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let (db, engine, clock, zone) =
        (state.db.clone(), state.search.clone(), state.clock.clone(), state.config.timezone);
    let indexer = crate::search::indexer::run(db, engine, clock, zone, shutdown.clone());
    let jobs = scheduled(state.clone(), shutdown);
    tokio::spawn(async move {
        tokio::join!(indexer, jobs);
    })
}

/// Jobs that run on a timetable rather than from the outbox.
async fn scheduled(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        let now = state.clock.now_naive();
        match state.db.write(move |c| housekeeping::sweep(c, now)).await {
            Ok(swept) if swept.any() => tracing::info!(?swept, "housekeeping"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
