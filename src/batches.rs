//! Work that would otherwise queue inside the database on one row lock, holding a connection and
//! a backend each (pledges into one group-purchase round), waits in the process instead, where a
//! queue of futures costs nothing and no waiting backend takes the CPU the lock holder needs.
//!
//! Requests for one key are gathered while the key's previous batch runs, so that one transaction
//! does the work of many: one lock of the row, one commit, multi-row writes.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard};

type Queued = Vec<Box<dyn Any + Send>>;

/// Queues of jobs by key. A key with an entry has a drainer: the task that [`Batches::push`]
/// told to start one, taking batches with [`Batches::take`] until none is left. Jobs are kept by
/// their type as well as their key, so two kinds of job never meet in one queue.
#[derive(Default)]
pub struct Batches {
    queues: Mutex<HashMap<(TypeId, String), Queued>>,
}

impl Batches {
    fn queues(&self) -> MutexGuard<'_, HashMap<(TypeId, String), Queued>> {
        self.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `job` at `key`. True when no drainer runs for the key: the caller must start one.
    pub fn push<J: Any + Send>(&self, key: &str, job: J) -> bool {
        match self.queues().entry((TypeId::of::<J>(), key.to_owned())) {
            Entry::Occupied(mut queued) => {
                queued.get_mut().push(Box::new(job));
                false
            }
            Entry::Vacant(free) => {
                free.insert(vec![Box::new(job)]);
                true
            }
        }
    }

    /// The drainer's next batch: up to `max` jobs, first come first. Empty means the drainer is
    /// done and the key forgotten, in the same step, so a job pushed after it starts a new one.
    fn take<J: Any + Send>(&self, key: &str, max: usize) -> Vec<J> {
        let mut queues = self.queues();
        let id = (TypeId::of::<J>(), key.to_owned());
        let Some(queued) = queues.get_mut(&id) else { return Vec::new() };
        if queued.is_empty() {
            queues.remove(&id);
            return Vec::new();
        }
        let n = queued.len().min(max.max(1));
        // Every job under this id was pushed as a `J`, so none is dropped here.
        queued.drain(..n).filter_map(|job| job.downcast::<J>().ok()).map(|job| *job).collect()
    }

    /// A drainer that stops before its queue is empty (it panicked) drops what is queued, so
    /// that whoever waits on those jobs hears so, and frees the key for a new drainer.
    fn abandon<J: Any + Send>(&self, key: &str) {
        self.queues().remove(&(TypeId::of::<J>(), key.to_owned()));
    }
}

/// Held by a drainer: if it is dropped before [`Draining::finish`] (a panic), the queue is
/// abandoned rather than left with no drainer.
pub struct Draining<J: Any + Send> {
    batches: Arc<Batches>,
    key: String,
    finished: bool,
    job: std::marker::PhantomData<fn() -> J>,
}

impl<J: Any + Send> Draining<J> {
    pub fn new(batches: Arc<Batches>, key: String) -> Self {
        Draining { batches, key, finished: false, job: std::marker::PhantomData }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The next batch, or `None` once the queue is empty (and forgotten).
    pub fn next(&mut self, max: usize) -> Option<Vec<J>> {
        let jobs = self.batches.take::<J>(&self.key, max);
        self.finished = jobs.is_empty();
        (!jobs.is_empty()).then_some(jobs)
    }
}

impl<J: Any + Send> Drop for Draining<J> {
    fn drop(&mut self) {
        if !self.finished {
            self.batches.abandon::<J>(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_gather_jobs_while_a_drainer_runs_and_end_when_empty() {
        let batches = Arc::new(Batches::default());
        assert!(batches.push("gb_a", 1u32), "the first job starts a drainer");
        assert!(!batches.push("gb_a", 2u32), "a second job joins the queue");
        assert!(batches.push("gb_a", "other kind"), "another kind of job has its own queue");
        assert!(batches.push("gb_b", 3u32), "another key has its own drainer");
        let mut draining = Draining::<u32>::new(batches.clone(), "gb_a".into());
        assert_eq!(draining.next(1), Some(vec![1]));
        assert!(!batches.push("gb_a", 4u32), "jobs pushed while draining join the queue");
        assert_eq!(draining.next(10), Some(vec![2, 4]), "first come first, up to the most asked");
        assert_eq!(draining.next(10), None);
        drop(draining);
        assert!(batches.push("gb_a", 5u32), "after the drainer ended, a job starts a new one");
        assert_eq!(batches.take::<&str>("gb_a", 10), vec!["other kind"]);
        assert_eq!(batches.take::<u32>("gb_b", 10), vec![3]);
    }

    #[test]
    fn a_drainer_dropped_midway_abandons_its_queue() {
        let batches = Arc::new(Batches::default());
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        batches.push("gb_a", tx);
        drop(Draining::<std::sync::mpsc::Sender<()>>::new(batches.clone(), "gb_a".into()));
        assert!(rx.recv().is_err(), "the queued job was not dropped");
        assert!(batches.push("gb_a", std::sync::mpsc::channel::<()>().0), "the key was not freed");
    }
}
