//! `search.product`: brings the search index up to date with changed products, a batch of 500 in
//! one index update. Index updates only ever catch up, so they are retried for ever.

use std::time::Duration;

use crate::error::AppResult;
use crate::search::indexer;
use crate::state::AppState;
use crate::worker::job::{Claimed, Job};
use crate::worker::payloads::ProductChanged;

pub struct IndexProducts;

impl Job for IndexProducts {
    type Payload = ProductChanged;
    const BATCH: i64 = 500;
    const MAX_ATTEMPTS: Option<i32> = None;
    const POLL: Duration = Duration::from_millis(200);

    /// An index an older version built is rebuilt first (its documents lack a field this version
    /// filters on); after this process switched to an index another built, what changed
    /// meanwhile goes in first.
    async fn prepare(state: &AppState) -> AppResult<()> {
        if state.search.needs_rebuild() {
            let count = indexer::rebuild(&state.db, state.search.as_ref(), state.ctx().today, &|_, _| {}).await?;
            tracing::info!(count, "rebuilt the search index an older version had built");
        }
        if let Some(since) = state.search.take_replay_since() {
            indexer::replay_since(&state.db, state.search.as_ref(), since, state.ctx().today).await?;
        }
        Ok(())
    }

    async fn run(state: &AppState, row: Claimed<ProductChanged>) -> AppResult<()> {
        Self::run_batch(state, vec![row]).await.pop().unwrap_or(Ok(()))
    }

    async fn run_batch(state: &AppState, rows: Vec<Claimed<ProductChanged>>) -> Vec<AppResult<()>> {
        let n = rows.len();
        let mut ids: Vec<String> = rows.into_iter().map(|r| r.payload.product_id).collect();
        ids.sort_unstable();
        ids.dedup();
        match indexer::apply_products(&state.db, state.search.as_ref(), ids, state.ctx().today).await {
            Ok(_) => (0..n).map(|_| Ok(())).collect(),
            Err(e) => {
                let message = e.to_string();
                (0..n).map(|_| Err(anyhow::anyhow!("{message}").into())).collect()
            }
        }
    }
}
