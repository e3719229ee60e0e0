//! Keeps the search index in step with the database: applies changed products (the worker's
//! `search.product` job), replays after an index swap, queues products whose certificate expired
//! or whose stock moved, rebuilds.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::analysis::Analyzer;
use super::document::{load_changes, load_on_sale_page};
use super::engine::{SearchEngine, SearchError};
use crate::db::schema::{app_meta, outbox, product_labels, products};
use crate::db::{self, Db, DbConn};
use crate::error::{AppError, AppResult};
use crate::worker::job::{Topic, enqueue};
use crate::worker::payloads::ProductChanged;

const EXPIRY_META_KEY: &str = "search_expiry_swept_through";
const STOCK_META_KEY: &str = "search_stock_swept_until";
/// Orders change stock without queueing the product; this often, changed products are queued once.
pub const STOCK_SWEEP_SECS: u64 = 30;
/// Each sweep looks this far behind the last one, for transactions that committed late.
const STOCK_SWEEP_OVERLAP_SECS: i64 = 30;

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

/// Re-applies every product changed since `since_ms` (with a margin for clock skew between processes).
pub async fn replay_since(db: &Db, engine: &dyn SearchEngine, since_ms: i64, today: NaiveDate) -> AppResult<usize> {
    let since = chrono::DateTime::from_timestamp_millis(since_ms - 5_000).map(|t| t.naive_utc()).unwrap_or_default();
    let payloads: Vec<String> = db
        .run(move |c| {
            Ok(outbox::table
                .filter(outbox::topic.eq(ProductChanged::TOPIC))
                .filter(outbox::created_at.ge(since))
                .select(outbox::payload)
                .load(c)?)
        })
        .await?;
    // A row this version cannot read is the runner's to set aside; the replay skips it.
    let mut ids: Vec<String> =
        payloads.iter().filter_map(|p| serde_json::from_str::<ProductChanged>(p).ok()).map(|p| p.product_id).collect();
    ids.sort_unstable();
    ids.dedup();
    apply_products(db, engine, ids, today).await
}

/// Once a day (in the deployment's zone): queue the products whose certificate lapsed, so the
/// index drops them, and those whose label lapsed or began, so their label facet follows.
/// Exactly one worker wins each day (a conditional update).
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
            let change = ProductChanged { product_id: id.clone(), reason: Some("certificate_expired".into()) };
            enqueue(conn, &change, now)?;
        }
        // A label that lapsed or began since the last sweep changes the product's label facet.
        let mut relabelled: Vec<String> = product_labels::table
            .filter(product_labels::removed_at.is_null())
            .filter(
                product_labels::valid_until
                    .lt(today)
                    .and(product_labels::valid_until.ge(from))
                    .or(product_labels::valid_from.le(today).and(product_labels::valid_from.ge(from))),
            )
            .select(product_labels::product_id)
            .load(conn)?;
        relabelled.sort_unstable();
        relabelled.dedup();
        relabelled.retain(|id| !lapsed.contains(id));
        for id in &relabelled {
            let change = ProductChanged { product_id: id.clone(), reason: Some("label_dates".into()) };
            enqueue(conn, &change, now)?;
        }
        Ok(lapsed.len() + relabelled.len())
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
            enqueue(conn, &ProductChanged { product_id: id.clone(), reason: Some("stock".into()) }, now)?;
        }
        Ok(changed.len())
    })
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
        let result = tokio::task::block_in_place(|| -> Result<Vec<super::engine::SearchDoc>, SearchError> {
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
