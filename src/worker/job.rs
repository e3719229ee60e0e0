//! What the worker can be asked to do, and how a transaction asks it.
//!
//! A request's transaction records a side effect as an outbox row through [`enqueue`], with a
//! typed payload ([`Topic`]: the payload names its topic). A [`Job`] performs rows of one topic;
//! the registry pairs every payload with its job, and only a registered payload can be
//! enqueued ([`Registered`] is implemented by the registry alone), so a row nobody performs
//! cannot be written. A [`Periodic`] task runs on a timetable instead of from rows.
//!
//! Any service may import this file and `payloads`; the registry and the runner sit above the
//! domains and import them.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::db::DbConn;
use crate::error::AppResult;
use crate::state::AppState;

/// A payload of an outbox row; its type decides the row's topic.
pub trait Topic: Serialize + DeserializeOwned + Send + 'static {
    const TOPIC: &'static str;
}

/// Implemented by the registry, for each payload that has a job: the bound on [`enqueue`].
pub trait Registered: Topic {}

/// Queues `payload` in the caller's transaction; the worker performs it after the commit.
pub fn enqueue<P: Registered>(conn: &mut DbConn, payload: &P, now: NaiveDateTime) -> AppResult<()> {
    let value = serde_json::to_value(payload).map_err(|e| anyhow::anyhow!("{} payload: {e}", P::TOPIC))?;
    crate::outbox::enqueue(conn, P::TOPIC, &value, now)
}

/// A claimed outbox row: its id and its payload.
#[derive(Debug, Clone)]
pub struct Claimed<P> {
    pub id: String,
    pub payload: P,
}

/// Performs the outbox rows of one topic. The runner claims due rows (several workers never
/// hold one row at once), calls [`Job::run_batch`], marks each row done, or failed with its
/// error: failed rows come back after a backoff until [`Job::MAX_ATTEMPTS`] makes them dead
/// letters. Effects must be idempotent: a worker killed mid-batch leaves its rows to another.
pub trait Job: Send + Sync + 'static {
    type Payload: Registered;
    /// The topic of the rows this job performs.
    const TOPIC: &'static str = <Self::Payload as Topic>::TOPIC;
    /// Rows claimed at once.
    const BATCH: i64 = 20;
    /// How long a claim holds before another worker may take the row (`DONGXI_OUTBOX_LEASE_SECS`
    /// overrides it).
    const LEASE_SECS: i64 = 60;
    /// Attempts before a row is set aside as a dead letter; `None`: retried for ever.
    const MAX_ATTEMPTS: Option<i32> = Some(20);
    /// How long the runner waits when it found nothing due.
    const POLL: Duration = Duration::from_secs(1);

    /// Whether this process performs the job at all (Stripe's only where Stripe is configured;
    /// elsewhere its rows wait).
    fn enabled(_state: &AppState) -> bool {
        true
    }

    /// Wakes the runner before its poll interval when a request in this process queued work.
    fn woken_by(_state: &AppState) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// Runs before each claim, due rows or not.
    fn prepare(_state: &AppState) -> impl Future<Output = AppResult<()>> + Send {
        async { Ok(()) }
    }

    /// Performs one row. An error leaves the row for a later attempt.
    fn run(state: &AppState, row: Claimed<Self::Payload>) -> impl Future<Output = AppResult<()>> + Send;

    /// Performs a claimed batch, one outcome per row, in order: one row after the other unless the
    /// job does better (one index update for many products, mail sent side by side).
    fn run_batch(
        state: &AppState,
        rows: Vec<Claimed<Self::Payload>>,
    ) -> impl Future<Output = Vec<AppResult<()>>> + Send {
        async move {
            let mut outcomes = Vec::with_capacity(rows.len());
            for row in rows {
                outcomes.push(Self::run(state, row).await);
            }
            outcomes
        }
    }
}

/// Work on a timetable: run when the worker starts, then every [`Periodic::EVERY`]. Safe in any
/// number of workers (each step claims its period or its rows).
pub trait Periodic: Send + Sync + 'static {
    const NAME: &'static str;
    const EVERY: Duration;
    /// What one run did; logged when it is not the default (nothing).
    type Report: Debug + Default + PartialEq + Send;

    fn tick(state: &AppState) -> impl Future<Output = AppResult<Self::Report>> + Send;
}
