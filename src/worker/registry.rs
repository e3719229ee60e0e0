//! Every job the worker performs and every task on its timetable, in one list. Registering a job
//! is what allows its payload to be enqueued at all (`Registered`), so there is no topic that
//! rows can be written to and nobody performs; rows of a topic no job knows (written by an older
//! or a newer version, or by hand) are set aside as dead letters with the reason, never dropped.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use super::job::{Job, Periodic, Registered};
use super::jobs::expand_notices::ExpandNotices;
use super::jobs::index_products::IndexProducts;
use super::jobs::run_settlement::RunSettlement;
use super::jobs::send_mail::SendMail;
use super::jobs::stripe::{CaptureAuthorization, PushRefund, PushTransfer, ReturnSurplus, Stripe, VoidAuthorization};
use super::jobs::timetables::{
    ExpirySweep, GroupBuyTimetable, Housekeeping, LedgerSnapshots, LiveTimetable, MailTimetable, SettlementTimetable,
    StockSweep,
};
use super::runner::{self, Ran};
use crate::error::AppResult;
use crate::state::AppState;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Shutdown = tokio::sync::watch::Receiver<bool>;

/// A registered job, its type erased.
pub trait Entry: Send + Sync {
    fn topic(&self) -> &'static str;
    fn enabled(&self, state: &AppState) -> bool;
    fn run_batch<'a>(&self, state: &'a AppState) -> BoxFuture<'a, AppResult<Ran>>;
    fn serve(&self, state: AppState, shutdown: Shutdown) -> BoxFuture<'static, ()>;
}

struct JobEntry<J>(PhantomData<J>);

impl<J: Job> Entry for JobEntry<J> {
    fn topic(&self) -> &'static str {
        J::TOPIC
    }
    fn enabled(&self, state: &AppState) -> bool {
        J::enabled(state)
    }
    fn run_batch<'a>(&self, state: &'a AppState) -> BoxFuture<'a, AppResult<Ran>> {
        Box::pin(runner::run_batch::<J>(state))
    }
    fn serve(&self, state: AppState, shutdown: Shutdown) -> BoxFuture<'static, ()> {
        Box::pin(runner::serve::<J>(state, shutdown))
    }
}

/// A task of the timetable, its type erased.
pub trait Task: Send + Sync {
    fn name(&self) -> &'static str;
    fn serve(&self, state: AppState, shutdown: Shutdown) -> BoxFuture<'static, ()>;
}

struct TaskEntry<P>(PhantomData<P>);

impl<P: Periodic> Task for TaskEntry<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }
    fn serve(&self, state: AppState, shutdown: Shutdown) -> BoxFuture<'static, ()> {
        Box::pin(runner::every::<P>(state, shutdown))
    }
}

macro_rules! registry {
    (jobs: [$($job:ty),* $(,)?], timetable: [$($task:ty),* $(,)?] $(,)?) => {
        $(impl Registered for <$job as Job>::Payload {})*

        /// The registered jobs, in the order a pass runs them (notices before the mail they make).
        pub fn jobs() -> Vec<Box<dyn Entry>> {
            vec![$(Box::new(JobEntry::<$job>(PhantomData))),*]
        }

        /// The timetable's tasks.
        pub fn timetable() -> Vec<Box<dyn Task>> {
            vec![$(Box::new(TaskEntry::<$task>(PhantomData))),*]
        }
    };
}

registry! {
    jobs: [
        IndexProducts,
        ExpandNotices,
        SendMail,
        Stripe<PushRefund>,
        Stripe<ReturnSurplus>,
        Stripe<CaptureAuthorization>,
        Stripe<VoidAuthorization>,
        RunSettlement,
        Stripe<PushTransfer>,
    ],
    timetable: [Housekeeping, MailTimetable, GroupBuyTimetable, LiveTimetable, StockSweep, ExpirySweep, SettlementTimetable, LedgerSnapshots, UnknownTopics],
}

/// Every topic a registered job performs.
pub fn topics() -> Vec<&'static str> {
    jobs().iter().map(|j| j.topic()).collect()
}

/// Looks for rows of unknown topics every minute.
pub struct UnknownTopics;

impl Periodic for UnknownTopics {
    const NAME: &'static str = "rows of unknown topics set aside";
    const EVERY: std::time::Duration = std::time::Duration::from_secs(60);
    type Report = usize;

    async fn tick(state: &AppState) -> AppResult<usize> {
        set_aside_unknown_topics(state).await
    }
}

/// Sets aside, as dead letters naming their topic, pending rows that no registered job performs;
/// returns how many.
pub async fn set_aside_unknown_topics(state: &AppState) -> AppResult<usize> {
    let now = state.clock.now_naive();
    state
        .db
        .write(move |c| {
            let known = topics();
            let mut n = 0;
            for (id, topic) in crate::outbox::unknown_topics(c, &known, 500)? {
                let error = format!(
                    "unknown outbox topic {topic:?}: no job is registered for it (known: {})",
                    known.join(", ")
                );
                n += crate::outbox::dead_letter(c, &[id], &error, now)?;
            }
            Ok(n)
        })
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_topic_has_one_job() {
        let mut topics = super::topics();
        let n = topics.len();
        topics.sort_unstable();
        topics.dedup();
        assert_eq!(topics.len(), n, "two jobs claim one topic: {topics:?}");
        for expected in [
            "search.product",
            "notify",
            "mail.send",
            "stripe.refund",
            "stripe.surplus",
            "stripe.capture",
            "stripe.void",
            "settlement.run",
            "stripe.transfer",
        ] {
            assert!(topics.contains(&expected), "{expected} has no job");
        }
    }
}
