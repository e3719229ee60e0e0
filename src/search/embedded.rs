//! The embedded engine: a tantivy index under `$DONGXI_DATA_DIR/search`. Each rebuild writes a
//! new generation directory and then atomically replaces the `CURRENT` pointer; a server notices
//! within half a second and switches, so searches never stop.

use std::collections::HashSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tantivy::collector::TopDocs;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{IndexRecordOption, TantivyDocument, Value};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Term};

use super::analysis::Analyzer;
use super::browse::by_field;
use super::engine::{BoxFuture, Facets, SearchDoc, SearchEngine, SearchError, SearchQuery, SearchResults, SortOrder};
use super::facets::{FacetCache, FacetCounter};
use super::filters::{FilterCache, KeptFilters};
use super::tantivy_index::{Fields, WRITER_HEAP, failed, fields, open_index, to_document, unavailable};
use super::top::{OrderCache, TopByField};

struct Live {
    generation: String,
    index: Index,
    reader: IndexReader,
    writer: Option<Mutex<IndexWriter>>,
    fields: Fields,
    facet_cache: FacetCache,
    orders: OrderCache,
    filters: Arc<FilterCache>,
}

impl Live {
    /// Picks up commits (this process's or another's) and forgets what it kept of merged segments.
    fn reload(&self) -> tantivy::Result<()> {
        self.reader.reload()?;
        let searcher = self.reader.searcher();
        self.facet_cache.keep_only(&searcher);
        self.orders.keep_only(&searcher);
        self.filters.keep_only(&searcher);
        Ok(())
    }
}

pub struct EmbeddedEngine {
    root: PathBuf,
    analyzer: Arc<Analyzer>,
    live: RwLock<Option<Live>>,
    last_check_ms: AtomicI64,
    /// Set when the server switched to a generation built elsewhere: changes since then are replayed.
    replay_since: Mutex<Option<i64>>,
    /// The live index lacks a field of this version's schema (see `needs_rebuild`).
    outdated: AtomicBool,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl EmbeddedEngine {
    /// Opens (or creates, empty) the index under `data_dir/search`.
    pub fn open(data_dir: &Path) -> Result<EmbeddedEngine, SearchError> {
        let engine = EmbeddedEngine {
            root: data_dir.join("search"),
            analyzer: Analyzer::shared(),
            live: RwLock::new(None),
            last_check_ms: AtomicI64::new(0),
            replay_since: Mutex::new(None),
            outdated: AtomicBool::new(false),
        };
        if engine.current_generation().is_none() {
            let generation = format!("g-{}", now_ms());
            open_index(&engine.root.join(&generation), &engine.analyzer, true)?;
            engine.point_to(&generation, now_ms())?;
        }
        engine.refresh(true)?;
        let outdated = engine.live.read().map_err(failed)?.as_ref().is_some_and(|l| l.fields.labels.is_none());
        engine.outdated.store(outdated, Ordering::Relaxed);
        Ok(engine)
    }

    fn current_generation(&self) -> Option<String> {
        std::fs::read_to_string(self.root.join("CURRENT")).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
    }

    /// Atomically makes `generation` the live one (write, then rename over `CURRENT`).
    fn point_to(&self, generation: &str, started_at_ms: i64) -> Result<(), SearchError> {
        std::fs::write(self.root.join(generation).join("STARTED_AT"), started_at_ms.to_string())
            .map_err(unavailable)?;
        let tmp = self.root.join(format!("CURRENT.{}", std::process::id()));
        std::fs::write(&tmp, generation).map_err(unavailable)?;
        std::fs::rename(&tmp, self.root.join("CURRENT")).map_err(unavailable)
    }

    /// Switches to the generation `CURRENT` names if it changed, or reloads the current one
    /// (checked at most every 500 ms).
    fn refresh(&self, force: bool) -> Result<(), SearchError> {
        let now = now_ms();
        if !force && now - self.last_check_ms.load(Ordering::Relaxed) < 500 {
            return Ok(());
        }
        self.last_check_ms.store(now, Ordering::Relaxed);
        let Some(generation) = self.current_generation() else {
            return Err(SearchError::Unavailable("the search index is missing: run `dongxi reindex`".into()));
        };
        if let Some(live) = self.live.read().map_err(failed)?.as_ref()
            && live.generation == generation
        {
            // Same generation: still pick up commits another process made to it.
            live.reload().map_err(unavailable)?;
            return Ok(());
        }
        let dir = self.root.join(&generation);
        let index = open_index(&dir, &self.analyzer, false)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(unavailable)?;
        let fields = fields(&index.schema())?;
        let had_previous = self.live.read().map_err(failed)?.is_some();
        let mut live = self.live.write().map_err(failed)?;
        // Release the old generation's writer before the new one is taken.
        *live = None;
        let facet_cache = FacetCache::new(fields.labels.is_some());
        let orders = OrderCache::default();
        let filters = Arc::new(FilterCache::new());
        *live = Some(Live { generation, index, reader, writer: None, fields, facet_cache, orders, filters });
        if had_previous {
            let started =
                std::fs::read_to_string(dir.join("STARTED_AT")).ok().and_then(|s| s.trim().parse::<i64>().ok());
            *self.replay_since.lock().map_err(failed)? = Some(started.unwrap_or(0));
        }
        Ok(())
    }

    /// After switching to a generation another process built: replay changes since its build began.
    pub fn take_replay_since(&self) -> Option<i64> {
        self.replay_since.lock().ok().and_then(|mut g| g.take())
    }

    fn search_blocking(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let started = Instant::now();
        self.refresh(false)?;
        let guard = self.live.read().map_err(failed)?;
        let live = guard.as_ref().ok_or_else(|| unavailable("no index open"))?;
        let searcher = live.reader.searcher();
        let query = self.build_query(&live.fields, &live.filters, q);
        let limit = q.limit.max(1);
        let (cache, orders) = (&live.facet_cache, &live.orders);
        let by = |field, order| TopByField::<i64>::new(field, order, limit, q.offset);
        let (addresses, counts): (Vec<DocAddress>, _) = match q.sort {
            // Without words there is nothing to score: newest first.
            SortOrder::Relevance if !q.q.trim().is_empty() => {
                let window = TopDocs::with_limit(limit).and_offset(q.offset);
                let facets = FacetCounter { cache };
                let (docs, counts) = searcher.search(&query, &(window.order_by_score(), facets)).map_err(failed)?;
                (docs.into_iter().map(|(_, a)| a).collect(), counts)
            }
            SortOrder::Relevance | SortOrder::Newest => {
                by_field(&searcher, query.as_ref(), by("created_at", Order::Desc), cache, orders).map_err(failed)?
            }
            SortOrder::PriceAsc => {
                by_field(&searcher, query.as_ref(), by("price_fen", Order::Asc), cache, orders).map_err(failed)?
            }
            SortOrder::PriceDesc => {
                by_field(&searcher, query.as_ref(), by("price_fen", Order::Desc), cache, orders).map_err(failed)?
            }
            SortOrder::Rating => {
                let top = TopByField::<f64>::new("rating", Order::Desc, limit, q.offset);
                by_field(&searcher, query.as_ref(), top, cache, orders).map_err(failed)?
            }
        };
        let mut hits = Vec::with_capacity(addresses.len());
        for address in addresses {
            let doc: TantivyDocument = searcher.doc(address).map_err(failed)?;
            let json = doc
                .get_first(live.fields.doc)
                .and_then(|v| v.as_str())
                .ok_or_else(|| failed("document without body"))?;
            hits.push(serde_json::from_str(json).map_err(failed)?);
        }
        let mut counts = counts.into_iter();
        let mut next = || counts.next().unwrap_or_default();
        let facets = Facets { category: next(), origin_prefecture: next(), storage: next(), labels: next() };
        // Every product has exactly one category, so the category counts add up to the total.
        let total: u64 = facets.category.values().sum();
        Ok(SearchResults { hits, total, facets, engine: "embedded", took_ms: started.elapsed().as_secs_f64() * 1000.0 })
    }

    fn build_query(&self, f: &Fields, filters: &Arc<FilterCache>, q: &SearchQuery) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in self.analyzer.query_terms(&q.q) {
            let mut options: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (i, variant) in term.variants.iter().enumerate() {
                // The word typed counts more than its synonyms.
                let emphasis = if i == 0 { 1.0 } else { 0.8 };
                for (field, weight) in &f.text {
                    let parts: Vec<(Occur, Box<dyn Query>)> = variant
                        .iter()
                        .map(|t| {
                            (
                                Occur::Must,
                                Box::new(TermQuery::new(Term::from_field_text(*field, t), IndexRecordOption::WithFreqs))
                                    as Box<dyn Query>,
                            )
                        })
                        .collect();
                    options.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(BooleanQuery::new(parts)), *weight * emphasis)),
                    ));
                }
            }
            if term.ascii {
                let word = &term.variants[0][0];
                for (field, weight) in [(f.name_pinyin, 2.5f32), (f.name_initials, 1.5f32)] {
                    options.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(
                            Box::new(TermQuery::new(Term::from_field_text(field, word), IndexRecordOption::WithFreqs)),
                            weight,
                        )),
                    ));
                    // A prefix as a range of terms: cheaper than building a regex automaton per query.
                    if word.len() >= 2 && word.chars().all(|c| c.is_ascii_alphanumeric()) {
                        let mut upper = word.clone().into_bytes();
                        if let Some(last) = upper.last_mut() {
                            *last += 1;
                        }
                        let upper = String::from_utf8(upper).unwrap_or_default();
                        let range = RangeQuery::new(
                            Bound::Included(Term::from_field_text(field, word)),
                            Bound::Excluded(Term::from_field_text(field, &upper)),
                        );
                        options.push((Occur::Should, Box::new(BoostQuery::new(Box::new(range), weight * 0.8))));
                    }
                }
            }
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(options))));
        }
        let filter = |query: Box<dyn Query>| -> (Occur, Box<dyn Query>) {
            (Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0)))
        };
        let mut kept: Vec<Term> = Vec::new();
        if let Some(c) = &q.category {
            kept.push(Term::from_field_text(f.category, c));
        }
        if let Some(o) = &q.origin {
            kept.push(Term::from_field_text(f.origin_codes, o));
        }
        if let Some(s) = &q.storage {
            kept.push(Term::from_field_text(f.storage, s));
        }
        if let Some(label) = &q.label {
            match f.labels {
                Some(field) => kept.push(Term::from_field_text(field, label)),
                // An index built before labels has none: nothing carries the label there.
                None => clauses.push(filter(Box::new(EmptyQuery))),
            }
        }
        if let Some(stock) = q.in_stock {
            kept.push(Term::from_field_bool(f.in_stock, stock));
        }
        if !kept.is_empty() {
            clauses.push(filter(Box::new(KeptFilters::new(kept, filters.clone()))));
        }
        if q.price_min_fen.is_some() || q.price_max_fen.is_some() {
            let lower = q
                .price_min_fen
                .map(|v| Bound::Included(Term::from_field_i64(f.price_fen, v)))
                .unwrap_or(Bound::Unbounded);
            let upper = q
                .price_max_fen
                .map(|v| Bound::Included(Term::from_field_i64(f.price_fen, v)))
                .unwrap_or(Bound::Unbounded);
            clauses.push(filter(Box::new(RangeQuery::new(lower, upper))));
        }
        if clauses.is_empty() {
            return Box::new(AllQuery);
        }
        Box::new(BooleanQuery::new(clauses))
    }

    fn apply_blocking(&self, upserts: Vec<SearchDoc>, deletes: Vec<String>) -> Result<(), SearchError> {
        self.refresh(true)?;
        let guard = self.live.read().map_err(failed)?;
        let live = guard.as_ref().ok_or_else(|| unavailable("no index open"))?;
        if live.writer.is_none() {
            drop(guard);
            let mut w = self.live.write().map_err(failed)?;
            if let Some(live) = w.as_mut()
                && live.writer.is_none()
            {
                let writer = live.index.writer(WRITER_HEAP).map_err(unavailable)?;
                live.writer = Some(Mutex::new(writer));
            }
            drop(w);
            return self.apply_blocking(upserts, deletes);
        }
        let schema = live.index.schema();
        let mut writer = live.writer.as_ref().ok_or_else(|| failed("no writer"))?.lock().map_err(failed)?;
        for id in upserts.iter().map(|d| &d.id).chain(deletes.iter()) {
            writer.delete_term(Term::from_field_text(live.fields.id, id));
        }
        for doc in &upserts {
            writer.add_document(to_document(&live.fields, &schema, doc)?).map_err(failed)?;
        }
        writer.commit().map_err(failed)?;
        live.reload().map_err(failed)?;
        Ok(())
    }

    fn rebuild_blocking(
        &self,
        docs: Box<dyn Iterator<Item = Result<Vec<SearchDoc>, SearchError>> + Send + '_>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, SearchError> {
        let started = now_ms();
        let generation = format!("g-{started}");
        let dir = self.root.join(&generation);
        let index = open_index(&dir, &self.analyzer, true)?;
        let schema = index.schema();
        let f = fields(&schema)?;
        let mut writer: IndexWriter = index.writer(WRITER_HEAP).map_err(unavailable)?;
        let mut count = 0u64;
        for batch in docs {
            let batch = batch?;
            for d in &batch {
                writer.add_document(to_document(&f, &schema, d)?).map_err(failed)?;
            }
            count += batch.len() as u64;
            progress(batch.len() as u64);
        }
        writer.commit().map_err(failed)?;
        writer.wait_merging_threads().map_err(failed)?;
        let previous = self.current_generation();
        self.point_to(&generation, started)?;
        // The old generation stays until the next rebuild, for servers still switching over.
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            let keep: HashSet<String> = [Some(generation.clone()), previous].into_iter().flatten().collect();
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("g-") && !keep.contains(&name) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        self.refresh(true)?;
        self.outdated.store(false, Ordering::Relaxed);
        Ok(count)
    }
}

impl SearchEngine for EmbeddedEngine {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn search<'a>(&'a self, query: &'a SearchQuery) -> BoxFuture<'a, Result<SearchResults, SearchError>> {
        Box::pin(async move { tokio::task::block_in_place(|| self.search_blocking(query)) })
    }

    fn apply<'a>(&'a self, upserts: Vec<SearchDoc>, deletes: Vec<String>) -> BoxFuture<'a, Result<(), SearchError>> {
        Box::pin(async move { tokio::task::block_in_place(|| self.apply_blocking(upserts, deletes)) })
    }

    fn rebuild<'a>(
        &'a self,
        docs: Box<dyn Iterator<Item = Result<Vec<SearchDoc>, SearchError>> + Send + 'a>,
        progress: &'a (dyn Fn(u64) + Send + Sync),
    ) -> BoxFuture<'a, Result<u64, SearchError>> {
        Box::pin(async move { tokio::task::block_in_place(|| self.rebuild_blocking(docs, progress)) })
    }

    fn take_replay_since(&self) -> Option<i64> {
        EmbeddedEngine::take_replay_since(self)
    }

    fn needs_rebuild(&self) -> bool {
        self.outdated.load(Ordering::Relaxed)
    }
}
