//! The Meilisearch engine: the same documents and settings (from `search/`), sent through
//! meilisearch-sdk. Every call has a deadline, so an unreachable server is a prompt 503.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use meilisearch_sdk::client::{Client, SwapIndexes};
use meilisearch_sdk::indexes::Index;
use meilisearch_sdk::search::Selectors;
use meilisearch_sdk::settings::{PaginationSetting, Settings, TypoToleranceSettings};
use meilisearch_sdk::task_info::TaskInfo;
use serde_json::Value;

use super::analysis::{Analyzer, SETTINGS};
use super::engine::SearchDoc;
use super::engine::{BoxFuture, Facets, SearchEngine, SearchError, SearchQuery, SearchResults, SortOrder};

const SEARCH_DEADLINE: Duration = Duration::from_millis(900);
const WRITE_DEADLINE: Duration = Duration::from_secs(30);
/// Batches of a rebuild sent ahead of the one being waited for.
const IN_FLIGHT: usize = 16;

pub struct MeiliEngine {
    client: Client,
    index: String,
    configured: AtomicBool,
    /// The index was configured by an older version (a filter this one needs was missing), so
    /// its documents lack that field until rebuilt.
    outdated: AtomicBool,
}

fn unavailable(e: impl std::fmt::Display) -> SearchError {
    SearchError::Unavailable(e.to_string())
}

async fn within<T, E: std::fmt::Display>(
    deadline: Duration,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, SearchError> {
    match tokio::time::timeout(deadline, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(unavailable(e)),
        Err(_) => {
            Err(SearchError::Unavailable(format!("Meilisearch did not answer within {} ms", deadline.as_millis())))
        }
    }
}

fn strings(settings: &Value, key: &str) -> Vec<String> {
    settings
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn settings_file() -> Result<Value, SearchError> {
    serde_json::from_str(SETTINGS).map_err(|e| SearchError::Failed(format!("search/settings.json: {e}")))
}

/// The index settings of `search/settings.json`, with the shared synonyms and stop words.
pub fn settings() -> Result<Settings, SearchError> {
    let file = settings_file()?;
    let analyzer = Analyzer::shared();
    let max_total = file.pointer("/pagination/maxTotalHits").and_then(Value::as_u64).unwrap_or(100_000) as usize;
    let settings = Settings::new()
        .with_searchable_attributes(strings(&file, "searchableAttributes"))
        .with_filterable_attributes(strings(&file, "filterableAttributes"))
        .with_sortable_attributes(strings(&file, "sortableAttributes"))
        .with_ranking_rules(strings(&file, "rankingRules"))
        .with_stop_words(analyzer.stop_words())
        .with_synonyms(analyzer.synonym_map())
        .with_pagination(PaginationSetting { max_total_hits: max_total })
        .with_typo_tolerance(TypoToleranceSettings { enabled: Some(true), ..Default::default() });
    Ok(settings)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The filter expression for a query's filters.
pub fn filter_expression(q: &SearchQuery) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &q.category {
        parts.push(format!("category = {}", quote(c)));
    }
    if let Some(o) = &q.origin {
        parts.push(format!("origin_codes = {}", quote(o)));
    }
    if let Some(s) = &q.storage {
        parts.push(format!("storage = {}", quote(s)));
    }
    if let Some(v) = q.price_min_fen {
        parts.push(format!("price_fen >= {v}"));
    }
    if let Some(v) = q.price_max_fen {
        parts.push(format!("price_fen <= {v}"));
    }
    if let Some(v) = q.in_stock {
        parts.push(format!("in_stock = {v}"));
    }
    if let Some(label) = &q.label {
        parts.push(format!("labels = {}", quote(label)));
    }
    parts.join(" AND ")
}

fn sort_of(q: &SearchQuery) -> Vec<&'static str> {
    match q.sort {
        SortOrder::Relevance if q.q.trim().is_empty() => vec!["created_at:desc"],
        SortOrder::Relevance => vec![],
        SortOrder::PriceAsc => vec!["price_fen:asc"],
        SortOrder::PriceDesc => vec!["price_fen:desc"],
        SortOrder::Newest => vec!["created_at:desc"],
        SortOrder::Rating => vec!["rating_avg:desc"],
    }
}

fn request<'a>(
    index: &'a Index,
    q: &'a SearchQuery,
    filter: &'a str,
    sort: &'a [&'a str],
) -> meilisearch_sdk::search::SearchQuery<'a, meilisearch_sdk::DefaultHttpClient> {
    let mut request = index.search();
    request.with_query(&q.q).with_facets(Selectors::Some(&["category", "origin_prefecture", "storage", "labels"]));
    // Page-based requests report an exact total; an offset that is not a whole number of pages cannot.
    let limit = q.limit.max(1);
    if q.offset.is_multiple_of(limit) {
        request.with_hits_per_page(limit).with_page(q.offset / limit + 1);
    } else {
        request.with_offset(q.offset).with_limit(limit);
    }
    if !filter.is_empty() {
        request.with_filter(filter);
    }
    if !sort.is_empty() {
        request.with_sort(sort);
    }
    request
}

impl MeiliEngine {
    /// A client for `url`; nothing is sent until the first use, so a server that is down does
    /// not stop Dongxi from starting. Settings are applied before the first write.
    pub fn new(url: &str, key: Option<&str>, index: &str) -> Result<MeiliEngine, SearchError> {
        let client = Client::new(url, key).map_err(unavailable)?;
        Ok(MeiliEngine {
            client,
            index: index.to_owned(),
            configured: AtomicBool::new(false),
            outdated: AtomicBool::new(false),
        })
    }

    async fn ensure_configured(&self) -> Result<(), SearchError> {
        if !self.configured.load(Ordering::Relaxed) {
            // An index that does not exist yet has nothing to rebuild.
            let index = self.client.index(&self.index);
            if let Ok(current) = within(SEARCH_DEADLINE, index.get_filterable_attributes()).await {
                let wanted = strings(&settings_file()?, "filterableAttributes");
                if !current.is_empty() && wanted.iter().any(|w| !current.contains(w)) {
                    self.outdated.store(true, Ordering::Relaxed);
                }
            }
            self.configure(&self.index).await?;
            self.configured.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn configure(&self, index: &str) -> Result<(), SearchError> {
        let task = within(WRITE_DEADLINE, self.client.index(index).set_settings(&settings()?)).await?;
        self.wait(task).await
    }

    async fn wait(&self, task: TaskInfo) -> Result<(), SearchError> {
        let done = within(
            WRITE_DEADLINE,
            task.wait_for_completion(&self.client, Some(Duration::from_millis(25)), Some(WRITE_DEADLINE)),
        )
        .await?;
        if done.is_failure() {
            return Err(SearchError::Failed(format!("Meilisearch task failed: {done:?}")));
        }
        Ok(())
    }

    /// The body of the search request sent for `q`, as JSON: what a benchmark replays against
    /// Meilisearch directly, so both engines answer the same searches.
    pub fn request_body(&self, q: &SearchQuery) -> Result<Value, SearchError> {
        let index = self.client.index(&self.index);
        let (filter, sort) = (filter_expression(q), sort_of(q));
        serde_json::to_value(request(&index, q, &filter, &sort)).map_err(|e| SearchError::Failed(e.to_string()))
    }

    async fn search_async(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let started = Instant::now();
        let index = self.client.index(&self.index);
        let (filter, sort) = (filter_expression(q), sort_of(q));
        let request = request(&index, q, &filter, &sort);
        let results = within(SEARCH_DEADLINE, request.execute::<SearchDoc>()).await?;
        let facet = |name: &str| -> BTreeMap<String, u64> {
            results
                .facet_distribution
                .as_ref()
                .and_then(|d| d.get(name))
                .map(|m| {
                    m.iter().filter(|(k, n)| **n > 0 && !k.is_empty()).map(|(k, n)| (k.clone(), *n as u64)).collect()
                })
                .unwrap_or_default()
        };
        Ok(SearchResults {
            hits: results.hits.iter().map(|h| h.result.hit()).collect(),
            total: results.total_hits.or(results.estimated_total_hits).unwrap_or(0) as u64,
            facets: Facets {
                category: facet("category"),
                origin_prefecture: facet("origin_prefecture"),
                storage: facet("storage"),
                labels: facet("labels"),
            },
            engine: "meilisearch",
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    async fn apply_async(&self, upserts: Vec<SearchDoc>, deletes: Vec<String>) -> Result<(), SearchError> {
        self.ensure_configured().await?;
        let index = self.client.index(&self.index);
        if !upserts.is_empty() {
            let task = within(WRITE_DEADLINE, index.add_or_replace(&upserts, Some("id"))).await?;
            self.wait(task).await?;
        }
        if !deletes.is_empty() {
            let task = within(WRITE_DEADLINE, index.delete_documents(&deletes)).await?;
            self.wait(task).await?;
        }
        Ok(())
    }

    /// Waits for the oldest queued batch; the number of documents it indexed.
    async fn settle(
        &self,
        queued: &mut VecDeque<(TaskInfo, u64)>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, SearchError> {
        let Some((task, n)) = queued.pop_front() else { return Ok(0) };
        self.wait(task).await?;
        progress(n);
        Ok(n)
    }

    async fn rebuild_async(
        &self,
        docs: Box<dyn Iterator<Item = Result<Vec<SearchDoc>, SearchError>> + Send + '_>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, SearchError> {
        self.ensure_configured().await?;
        let fresh = format!("{}_rebuild", self.index);
        if let Ok(task) = within(WRITE_DEADLINE, self.client.delete_index(&fresh)).await {
            let _ = self.wait(task).await;
        }
        self.configure(&fresh).await?;
        let target = self.client.index(&fresh);
        // Batches are sent without waiting for the one before, up to IN_FLIGHT queued, so
        // Meilisearch merges queued additions into one indexing batch; each is still awaited
        // (in order) before it counts, and a failed one fails the rebuild before the swap.
        let mut queued: VecDeque<(TaskInfo, u64)> = VecDeque::new();
        let mut count = 0u64;
        for batch in docs {
            let batch = batch?;
            if batch.is_empty() {
                continue;
            }
            let task = within(WRITE_DEADLINE, target.add_or_replace(&batch, Some("id"))).await?;
            queued.push_back((task, batch.len() as u64));
            if queued.len() >= IN_FLIGHT {
                count += self.settle(&mut queued, progress).await?;
            }
        }
        while !queued.is_empty() {
            count += self.settle(&mut queued, progress).await?;
        }
        let swap = SwapIndexes { indexes: (self.index.clone(), fresh.clone()), rename: None };
        let task = within(WRITE_DEADLINE, self.client.swap_indexes([&swap])).await?;
        self.wait(task).await?;
        if let Ok(task) = within(WRITE_DEADLINE, self.client.delete_index(&fresh)).await {
            let _ = self.wait(task).await;
        }
        self.outdated.store(false, Ordering::Relaxed);
        Ok(count)
    }
}

impl SearchEngine for MeiliEngine {
    fn name(&self) -> &'static str {
        "meilisearch"
    }
    fn search<'a>(&'a self, query: &'a SearchQuery) -> BoxFuture<'a, Result<SearchResults, SearchError>> {
        Box::pin(self.search_async(query))
    }
    fn prepare(&self) -> BoxFuture<'_, Result<(), SearchError>> {
        Box::pin(self.ensure_configured())
    }
    fn needs_rebuild(&self) -> bool {
        self.outdated.load(Ordering::Relaxed)
    }
    fn apply<'a>(&'a self, upserts: Vec<SearchDoc>, deletes: Vec<String>) -> BoxFuture<'a, Result<(), SearchError>> {
        Box::pin(self.apply_async(upserts, deletes))
    }
    fn rebuild<'a>(
        &'a self,
        docs: Box<dyn Iterator<Item = Result<Vec<SearchDoc>, SearchError>> + Send + 'a>,
        progress: &'a (dyn Fn(u64) + Send + Sync),
    ) -> BoxFuture<'a, Result<u64, SearchError>> {
        Box::pin(self.rebuild_async(docs, progress))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_values_and_join_with_and() {
        let q = SearchQuery {
            category: Some("tea".into()),
            origin: Some("522300".into()),
            price_min_fen: Some(1000),
            price_max_fen: Some(5000),
            in_stock: Some(true),
            label: Some("green_food".into()),
            ..Default::default()
        };
        assert_eq!(
            filter_expression(&q),
            r#"category = "tea" AND origin_codes = "522300" AND price_fen >= 1000 AND price_fen <= 5000 AND in_stock = true AND labels = "green_food""#
        );
        assert_eq!(
            filter_expression(&SearchQuery { storage: Some("a\"b".into()), ..Default::default() }),
            r#"storage = "a\"b""#
        );
    }

    #[test]
    fn settings_come_from_the_shared_files() {
        let s = serde_json::to_value(settings().unwrap()).unwrap();
        assert!(s["filterableAttributes"].as_array().unwrap().iter().any(|a| a == "origin_codes"), "{s}");
        assert!(s["synonyms"]["冬菇"].as_array().unwrap().iter().any(|t| t == "香菇"), "{s}");
        assert!(s["stopWords"].as_array().unwrap().iter().any(|t| t == "的"));
    }
}
