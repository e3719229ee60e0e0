//! Keeps the search index in step with the database: consumes `search.product` outbox rows in
//! batches, replays after an index swap, removes products whose certificate expired, rebuilds.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::analysis::Analyzer;
use super::document::{load_changes, load_on_sale_page};
use super::engine::{SearchEngine, SearchError};
use crate::db::schema::{app_meta, outbox, products};
use crate::db::{self, Db, DbConn};
use crate::error::{AppError, AppResult};
use crate::outbox::SEARCH_PRODUCT;

const BATCH: i64 = 500;
const LEASE_SECS: i64 = 60;
const EXPIRY_META_KEY: &str = "search_expiry_swept_through";
const STOCK_META_KEY: &str = "search_stock_swept_until";
/// Orders change stock without queueing the product; this often, changed products are queued once.
pub const STOCK_SWEEP_SECS: u64 = 30;
/// Each sweep looks this far behind the last one, for transactions that committed late.
const STOCK_SWEEP_OVERLAP_SECS: i64 = 30;

fn product_ids(payloads: &[(String, String)]) -> Vec<String> {
    let mut ids: Vec<String> = payloads
        .iter()
        .filter_map(|(_, p)| serde_json::from_str::<serde_json::Value>(p).ok())
        .filter_map(|v| v.get("product_id").and_then(|x| x.as_str()).map(str::to_owned))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Applies the changes to some products to the index.
pub async fn apply_products(
    db: &Db,
    engine: &dyn SearchEngine,
    ids: Vec<String>,
    today: NaiveDate,
) -> Result<usize, AppError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let analyzer = Analyzer::shared();
    let (upserts, deletes) = db.run(move |c| load_changes(c, &ids, today, &analyzer)).await?;
    let n = upserts.len() + deletes.len();
    engine.apply(upserts, deletes).await.map_err(search_error)?;
    Ok(n)
}

pub fn search_error(e: SearchError) -> AppError {
    match e {
        SearchError::Unavailable(m) => {
            AppError::problem(axum::http::StatusCode::SERVICE_UNAVAILABLE, "search_unavailable", m)
        }
        SearchError::Failed(m) => AppError::Unexpected(anyhow::anyhow!(m)),
    }
}

/// One round: claim due rows, index them, mark them. Returns how many rows were handled.
pub async fn index_once(db: &Db, engine: &dyn SearchEngine, now: NaiveDateTime, today: NaiveDate) -> AppResult<usize> {
    if let Some(since) = engine.take_replay_since() {
        replay_since(db, engine, since, today).await?;
    }
    let rows =
        db.run(move |c| db::claim_outbox(c, SEARCH_PRODUCT, now, chrono::Duration::seconds(LEASE_SECS), BATCH)).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let row_ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    match apply_products(db, engine, product_ids(&rows), today).await {
        Ok(_) => {
            db.write(move |c| crate::outbox::mark_done(c, &row_ids, now)).await?;
            Ok(rows.len())
        }
        Err(e) => {
            let message = e.to_string();
            tracing::warn!(error = %message, rows = rows.len(), "search indexing failed; will retry");
            db.write(move |c| crate::outbox::mark_failed(c, &row_ids, &message, now)).await?;
            Err(e)
        }
    }
}

/// Re-applies every product changed since `since_ms` (with a margin for clock skew between processes).
pub async fn replay_since(db: &Db, engine: &dyn SearchEngine, since_ms: i64, today: NaiveDate) -> AppResult<usize> {
    let since = chrono::DateTime::from_timestamp_millis(since_ms - 5_000).map(|t| t.naive_utc()).unwrap_or_default();
    let payloads: Vec<(String, String)> = db
        .run(move |c| {
            Ok(outbox::table
                .filter(outbox::topic.eq(SEARCH_PRODUCT))
                .filter(outbox::created_at.ge(since))
                .select((outbox::id, outbox::payload))
                .load(c)?)
        })
        .await?;
    apply_products(db, engine, product_ids(&payloads), today).await
}

/// Once a day (in the deployment's zone): queue the products whose certificate lapsed, so the
/// index drops them. Exactly one worker wins each day (a conditional update).
pub fn sweep_expired(conn: &mut DbConn, today: NaiveDate, now: NaiveDateTime) -> AppResult<usize> {
    db::write_tx(conn, |conn| {
        let previous = db::meta_get(conn, EXPIRY_META_KEY)?;
        let today_s = today.to_string();
        if previous.as_deref() >= Some(today_s.as_str()) {
            return Ok(0);
        }
        let claimed = match &previous {
            None => {
                db::meta_set(conn, EXPIRY_META_KEY, &today_s)?;
                1
            }
            Some(p) => {
                diesel::update(app_meta::table.filter(app_meta::key.eq(EXPIRY_META_KEY)).filter(app_meta::value.eq(p)))
                    .set(app_meta::value.eq(&today_s))
                    .execute(conn)?
            }
        };
        if claimed == 0 {
            return Ok(0);
        }
        // The first sweep looks back to the start of the century; later ones from the previous sweep's day.
        let floor = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(today);
        let from = previous.and_then(|p| p.parse::<NaiveDate>().ok()).and_then(|d| d.pred_opt()).unwrap_or(floor);
        let lapsed: Vec<String> = products::table
            .filter(products::cert_status.eq("certified"))
            .filter(products::status.eq("listed"))
            .filter(products::cert_valid_until.lt(today))
            .filter(products::cert_valid_until.ge(from))
            .select(products::id)
            .load(conn)?;
        for id in &lapsed {
            crate::outbox::enqueue(
                conn,
                SEARCH_PRODUCT,
                &serde_json::json!({"product_id": id, "reason": "certificate_expired"}),
                now,
            )?;
        }
        Ok(lapsed.len())
    })
}

/// Queues the products whose stock orders changed since the last sweep (with an overlap for
/// late commits). One worker wins each window (a conditional update); returns how many.
pub fn sweep_stock_changes(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<usize> {
    // ISO 8601, which `NaiveDateTime` parses back (its `Display` puts a space before the time).
    let stamp = now.format("%Y-%m-%dT%H:%M:%S%.f").to_string();
    db::write_tx(conn, |conn| {
        let Some(previous) = db::meta_get(conn, STOCK_META_KEY)? else {
            db::meta_set(conn, STOCK_META_KEY, &stamp)?;
            return Ok(0);
        };
        let claimed = diesel::update(
            app_meta::table.filter(app_meta::key.eq(STOCK_META_KEY)).filter(app_meta::value.eq(&previous)),
        )
        .set(app_meta::value.eq(&stamp))
        .execute(conn)?;
        if claimed == 0 {
            return Ok(0);
        }
        // An unreadable mark (written by hand, say) costs one window, not every later one.
        let since = previous.parse::<NaiveDateTime>().unwrap_or(now);
        let from = since - chrono::Duration::seconds(STOCK_SWEEP_OVERLAP_SECS);
        let changed = crate::catalog::model::stock_changed_between(conn, from, now)?;
        for id in &changed {
            crate::outbox::enqueue(
                conn,
                SEARCH_PRODUCT,
                &serde_json::json!({"product_id": id, "reason": "stock"}),
                now,
            )?;
        }
        Ok(changed.len())
    })
}

/// Runs until `shutdown` resolves: index due rows every 200 ms, queue stock changes every 30 s,
/// sweep expiries every minute.
pub async fn run(
    db: Db,
    engine: Arc<dyn SearchEngine>,
    clock: crate::clock::Clock,
    zone: chrono_tz::Tz,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut last_sweep = std::time::Instant::now() - Duration::from_secs(3600);
    let mut last_stock_sweep = std::time::Instant::now() - Duration::from_secs(3600);
    loop {
        let now = clock.now_naive();
        let today = clock.today(zone);
        if last_stock_sweep.elapsed() >= Duration::from_secs(STOCK_SWEEP_SECS) {
            last_stock_sweep = std::time::Instant::now();
            if let Err(e) = db.run(move |c| sweep_stock_changes(c, now)).await {
                tracing::warn!(error = %e, "stock sweep failed");
            }
        }
        if last_sweep.elapsed() >= Duration::from_secs(60) {
            last_sweep = std::time::Instant::now();
            let result = db.run(move |c| sweep_expired(c, today, now)).await;
            match result {
                Ok(n) if n > 0 => tracing::info!(products = n, "certificates lapsed; removing from search"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            }
        }
        // A failed round was logged and its rows rescheduled; the loop simply waits and goes on.
        let handled: usize = index_once(&db, engine.as_ref(), now, today).await.unwrap_or_default();
        if handled == 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.changed() => return,
            }
        } else if *shutdown.borrow() {
            return;
        }
    }
}

/// Rebuilds the index from every product on sale, swapping it in at the end, then replays what
/// changed meanwhile. `progress` receives (done, total).
pub async fn rebuild(
    db: &Db,
    engine: &dyn SearchEngine,
    today: NaiveDate,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> AppResult<u64> {
    let started_ms = chrono::Utc::now().timestamp_millis();
    // Reading every product is the replica's work when there is one; the replay below reads the
    // primary's outbox, so what changed meanwhile is not missed through replication lag.
    let total: i64 = db
        .read(move |c| Ok(products::table.filter(crate::catalog::model::on_sale(today)).count().get_result(c)?))
        .await?;
    let total = total as u64;
    let analyzer = Analyzer::shared();
    let pages_db = db.clone();
    let mut after: Option<String> = None;
    let mut finished = false;
    let pages = std::iter::from_fn(move || {
        if finished {
            return None;
        }
        let result = tokio::task::block_in_place(|| -> Result<Vec<super::document::SearchDoc>, SearchError> {
            let mut conn = pages_db.get_read().map_err(|e| SearchError::Unavailable(e.to_string()))?;
            load_on_sale_page(&mut conn, after.as_deref(), 1000, today, &analyzer)
                .map_err(|e| SearchError::Failed(e.to_string()))
        });
        match result {
            Ok(page) if page.is_empty() => None,
            Ok(page) => {
                after = page.last().map(|d| d.id.clone());
                Some(Ok(page))
            }
            Err(e) => {
                finished = true;
                Some(Err(e))
            }
        }
    });
    let done = std::sync::atomic::AtomicU64::new(0);
    let report = |n: u64| {
        let so_far = done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        progress(so_far, total);
    };
    let count = engine.rebuild(Box::new(pages), &report).await.map_err(search_error)?;
    replay_since(db, engine, started_ms, today).await?;
    Ok(count)
}
