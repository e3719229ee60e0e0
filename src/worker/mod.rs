//! The background worker, run in every `serve` process and by `dongxi worker`: one typed job
//! runner for the outbox and a timetable.
//!
//! - `job`: the `Job` and `Periodic` traits and `enqueue`; `payloads`: every topic's payload.
//!   Core: any service may import these two.
//! - `jobs/`: one small file per job (topic, payload, limits, the call into its domain).
//! - `registry`: the list of jobs and tasks; only a registered payload can be enqueued.
//! - `runner`: the one claim → run → done / backoff / dead-letter loop.
//!
//! It imports every domain (it runs their work); no domain imports `jobs`, `registry` or
//! `runner`. Every job and task is safe to run in several processes at once.

pub mod housekeeping;
pub mod job;
pub mod jobs;
pub mod payloads;
pub mod registry;
pub mod runner;

pub use job::{Job, Periodic, Topic, enqueue};

use crate::state::AppState;

/// Starts every registered job and task; the handle ends when `shutdown` flips and all of them
/// have stopped.
pub fn spawn(state: &AppState, shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let mut running = tokio::task::JoinSet::new();
    for job in registry::jobs() {
        running.spawn(job.serve(state.clone(), shutdown.clone()));
    }
    for task in registry::timetable() {
        running.spawn(task.serve(state.clone(), shutdown.clone()));
    }
    tokio::spawn(async move {
        while let Some(ended) = running.join_next().await {
            if let Err(e) = ended {
                tracing::error!(error = %e, "a worker task failed");
            }
        }
    })
}

/// One batch of each registered job whose topic `wanted` selects (and that runs here), then the
/// rows of unknown topics set aside; returns how many rows were handled. For tests and tools
/// that drive the worker step by step.
pub async fn run_due(state: &AppState, wanted: impl Fn(&str) -> bool) -> usize {
    let mut handled = 0;
    for job in registry::jobs().into_iter().filter(|j| wanted(j.topic()) && j.enabled(state)) {
        match job.run_batch(state).await {
            Ok(ran) => handled += ran.handled,
            Err(e) => tracing::warn!(topic = job.topic(), error = %e, "outbox batch failed"),
        }
    }
    match registry::set_aside_unknown_topics(state).await {
        Ok(n) => handled + n,
        Err(e) => {
            tracing::warn!(error = %e, "could not set aside rows of unknown topics");
            handled
        }
    }
}
