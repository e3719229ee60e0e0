//! Turns: at most a few tasks per key at once, the rest waiting in the process. For work that
//! would otherwise queue inside the database on one row lock while holding a connection and a
//! backend each (pledges into one group-purchase round): a queue of futures costs nothing,
//! waiting backends take the CPU the lock holder needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Keys nobody holds a turn at are forgotten once this many are remembered.
const REMEMBERED: usize = 256;

pub struct Turns {
    at_once: usize,
    keys: Mutex<HashMap<String, Weak<Semaphore>>>,
}

impl Turns {
    pub fn new(at_once: usize) -> Turns {
        Turns { at_once: at_once.max(1), keys: Mutex::default() }
    }

    /// Waits for a turn at `key`; the turn ends when the permit is dropped. The semaphores are
    /// never closed, so there is always a permit; were one closed, the task would go unlimited.
    pub async fn enter(&self, key: &str) -> Option<OwnedSemaphorePermit> {
        self.semaphore(key).acquire_owned().await.ok()
    }

    fn semaphore(&self, key: &str) -> Arc<Semaphore> {
        let mut keys = self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(live) = keys.get(key).and_then(Weak::upgrade) {
            return live;
        }
        if keys.len() >= REMEMBERED {
            keys.retain(|_, s| s.strong_count() > 0);
        }
        let fresh = Arc::new(Semaphore::new(self.at_once));
        keys.insert(key.to_owned(), Arc::downgrade(&fresh));
        fresh
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_key_admits_a_few_at_once_and_other_keys_are_not_held_up() {
        let turns = Turns::new(4);
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(turns.enter("gb_a").await);
        }
        let waiting = tokio::time::timeout(Duration::from_millis(50), turns.enter("gb_a")).await;
        assert!(waiting.is_err(), "a fifth task at the key got in");
        let other = tokio::time::timeout(Duration::from_millis(50), turns.enter("gb_b")).await;
        assert!(other.is_ok(), "another key waited on this one");
        held.pop();
        let next = tokio::time::timeout(Duration::from_millis(50), turns.enter("gb_a")).await;
        assert!(next.is_ok(), "a freed turn was not handed on");
    }

    #[tokio::test]
    async fn keys_nobody_holds_are_forgotten() {
        let turns = Turns::new(1);
        for i in 0..REMEMBERED + 10 {
            drop(turns.enter(&format!("gb_{i}")).await);
        }
        let remembered = turns.keys.lock().map(|k| k.len()).unwrap_or(usize::MAX);
        assert!(remembered <= REMEMBERED, "{remembered} keys remembered");
    }
}
