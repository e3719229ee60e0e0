//! The page of matches in the order of a numeric fast field (price, creation time, rating).
//! A block of matches is read from the column at once and compared as plain integers with the
//! worst of the best so far; a browse of everything sorted by newest, where nearly every match
//! beats the page so far (documents are added oldest first), stays cheap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::index::SegmentId;
use tantivy::{DocAddress, DocId, Order, Score, Searcher, SegmentReader};

/// Candidates gathered before the worst are dropped: fewer, larger prunings when nearly every
/// match enters (a browse by newest).
const PRUNE_AT: usize = 512;

/// A fast field's value as a key that sorts as the value does.
pub(super) trait SortValue: Copy + PartialOrd + std::fmt::Debug + Send + Sync + 'static {
    fn column(reader: &SegmentReader, field: &str) -> tantivy::Result<Column<Self>>;
    fn key(self) -> u64;
}

impl SortValue for i64 {
    fn column(reader: &SegmentReader, field: &str) -> tantivy::Result<Column<i64>> {
        reader.fast_fields().i64(field)
    }
    fn key(self) -> u64 {
        (self as u64) ^ (1 << 63)
    }
}

impl SortValue for f64 {
    fn column(reader: &SegmentReader, field: &str) -> tantivy::Result<Column<f64>> {
        reader.fast_fields().f64(field)
    }
    fn key(self) -> u64 {
        let bits = self.to_bits();
        if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
    }
}

/// The matches from `offset`, at most `limit`, best first; ties in document order, a document
/// without the value last.
pub(super) struct TopByField<T> {
    field: &'static str,
    descending: bool,
    limit: usize,
    offset: usize,
    _value: std::marker::PhantomData<fn() -> T>,
}

impl<T: SortValue> TopByField<T> {
    pub(super) fn new(field: &'static str, order: Order, limit: usize, offset: usize) -> Self {
        TopByField { field, descending: order == Order::Desc, limit, offset, _value: std::marker::PhantomData }
    }
}

pub(super) struct SegmentTop<T: SortValue> {
    column: Column<T>,
    descending: bool,
    keep: usize,
    segment: u32,
    values: Vec<Option<T>>,
    /// (key, document), smaller keys better; pruned back to `keep` when it doubles.
    best: Vec<(u64, DocId)>,
    /// The worst key kept at the last pruning: a later document (so a larger id) with this key or
    /// a worse one cannot enter the page.
    worst: u64,
}

/// A document's place in the order: smaller first, a document without the value last.
fn sort_key<T: SortValue>(value: Option<T>, descending: bool) -> u64 {
    match value {
        Some(v) if descending => !v.key(),
        Some(v) => v.key(),
        None => u64::MAX,
    }
}

impl<T: SortValue> SegmentTop<T> {
    fn key(&self, value: Option<T>) -> u64 {
        sort_key(value, self.descending)
    }

    fn prune(&mut self) {
        if self.best.len() > self.keep {
            self.best.select_nth_unstable(self.keep - 1);
            self.best.truncate(self.keep);
            self.worst = self.best.iter().map(|(k, _)| *k).max().unwrap_or(u64::MAX);
        }
    }

    fn offer(&mut self, doc: DocId, key: u64) {
        // `u64::MAX` (no value) still enters while the page is not full.
        if key < self.worst || self.best.len() < self.keep {
            self.best.push((key, doc));
            if self.best.len() >= self.keep.max(PRUNE_AT) * 2 {
                self.prune();
            }
        }
    }
}

impl<T: SortValue> Collector for TopByField<T> {
    type Fruit = Vec<DocAddress>;
    type Child = SegmentTop<T>;

    fn for_segment(&self, segment: u32, reader: &SegmentReader) -> tantivy::Result<SegmentTop<T>> {
        Ok(SegmentTop {
            column: T::column(reader, self.field)?,
            descending: self.descending,
            keep: (self.offset + self.limit).max(1),
            segment,
            values: Vec::new(),
            best: Vec::new(),
            worst: u64::MAX,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(u64, DocAddress)>>) -> tantivy::Result<Vec<DocAddress>> {
        let mut all: Vec<(u64, DocAddress)> = fruits.into_iter().flatten().collect();
        all.sort_unstable_by_key(|(key, at)| (*key, at.segment_ord, at.doc_id));
        Ok(all.into_iter().skip(self.offset).take(self.limit).map(|(_, at)| at).collect())
    }
}

impl<T: SortValue> SegmentCollector for SegmentTop<T> {
    type Fruit = Vec<(u64, DocAddress)>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let key = self.key(self.column.first(doc));
        self.offer(doc, key);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        let mut values = std::mem::take(&mut self.values);
        values.clear();
        values.resize(docs.len(), None);
        self.column.first_vals(docs, &mut values);
        for (doc, value) in docs.iter().zip(&values) {
            let key = self.key(*value);
            self.offer(*doc, key);
        }
        self.values = values;
    }

    fn harvest(mut self) -> Vec<(u64, DocAddress)> {
        self.prune();
        let segment = self.segment;
        self.best.into_iter().map(|(key, doc)| (key, DocAddress::new(segment, doc))).collect()
    }
}

/// A segment, a field and whether descending.
type OrderKey = (SegmentId, &'static str, bool);

/// Each segment's documents, deleted ones too, in the order of a field (ties in document order),
/// sorted once and kept while the segment lives, as a segment never changes. The page of a browse
/// of everything (no words, no filters) is then the first live documents of each segment's order,
/// where the collector would read and compare every one of a million matches.
#[derive(Default)]
pub(super) struct OrderCache {
    orders: Mutex<HashMap<OrderKey, Arc<Vec<DocId>>>>,
}

impl OrderCache {
    fn get<T: SortValue>(
        &self,
        reader: &SegmentReader,
        field: &'static str,
        descending: bool,
    ) -> tantivy::Result<Arc<Vec<DocId>>> {
        let id = (reader.segment_id(), field, descending);
        if let Some(found) = self.orders.lock().ok().and_then(|o| o.get(&id).cloned()) {
            return Ok(found);
        }
        // Sorted outside the lock, like the facet values: two racing searches both sort once.
        let column = T::column(reader, field)?;
        let docs: Vec<DocId> = (0..reader.max_doc()).collect();
        let mut keyed: Vec<(u64, DocId)> = Vec::with_capacity(docs.len());
        let mut values = [None; 1024];
        for chunk in docs.chunks(1024) {
            let out = &mut values[..chunk.len()];
            out.iter_mut().for_each(|v| *v = None);
            column.first_vals(chunk, out);
            keyed.extend(chunk.iter().zip(out.iter()).map(|(doc, v)| (sort_key(*v, descending), *doc)));
        }
        keyed.sort_unstable();
        let order = Arc::new(keyed.into_iter().map(|(_, doc)| doc).collect::<Vec<DocId>>());
        if let Ok(mut orders) = self.orders.lock() {
            orders.insert(id, order.clone());
        }
        Ok(order)
    }

    /// Forgets segments the searcher no longer has (merged away): called where the reader reloads.
    pub(super) fn keep_only(&self, searcher: &Searcher) {
        let Ok(mut orders) = self.orders.lock() else { return };
        let live: Vec<SegmentId> = searcher.segment_readers().iter().map(|r| r.segment_id()).collect();
        orders.retain(|(id, _, _), _| live.contains(id));
    }
}

impl<T: SortValue> TopByField<T> {
    /// The page of every live document, as `searcher.search(&AllQuery, self)` gives it, from
    /// each segment's kept order.
    pub(super) fn of_everything(&self, searcher: &Searcher, cache: &OrderCache) -> tantivy::Result<Vec<DocAddress>> {
        let mut fruits = Vec::with_capacity(searcher.segment_readers().len());
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            fruits.push(self.segment_page_in_order(ord as u32, reader, cache)?);
        }
        self.merge_fruits(fruits)
    }

    /// One segment's part of the page of everything, as the collector harvests it: its first
    /// `offset + limit` live documents in the kept order.
    fn segment_page_in_order(
        &self,
        ord: u32,
        reader: &SegmentReader,
        cache: &OrderCache,
    ) -> tantivy::Result<Vec<(u64, DocAddress)>> {
        let keep = (self.offset + self.limit).max(1);
        let order = cache.get::<T>(reader, self.field, self.descending)?;
        let column = T::column(reader, self.field)?;
        Ok(order
            .iter()
            .filter(|doc| !reader.is_deleted(**doc))
            .take(keep)
            .map(|doc| (sort_key(column.first(*doc), self.descending), DocAddress::new(ord, *doc)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::SortValue;

    #[test]
    fn keys_sort_as_the_values_do() {
        let ints = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        assert!(ints.windows(2).all(|w| w[0].key() < w[1].key()));
        let floats = [f64::MIN, -2.5, -1.0, -0.0, 0.5, 4.9, 5.0, f64::MAX];
        assert!(floats.windows(2).all(|w| w[0].key() <= w[1].key()));
        assert!((-1.0f64).key() < 0.5f64.key());
    }
}

#[cfg(test)]
mod collector_tests {
    use tantivy::collector::Collector as _;
    use tantivy::query::{AllQuery, TermQuery};
    use tantivy::schema::{FAST, IndexRecordOption, STRING, Schema};
    use tantivy::{DocAddress, Index, Order, TantivyDocument, Term};

    use super::{OrderCache, SortValue, TopByField};

    /// Three segments of values with many ties, some documents deleted (so matches are offered
    /// one at a time as well as in blocks), checked against sorting every live match.
    #[test]
    fn pages_are_those_of_sorting_every_match() {
        let mut schema = Schema::builder();
        let n = schema.add_i64_field("n", FAST);
        let r = schema.add_f64_field("r", FAST);
        let tag = schema.add_text_field("tag", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed >> 33
        };
        for segment in 0..3 {
            for i in 0..1500 {
                let mut doc = TantivyDocument::default();
                doc.add_i64(n, (next() % 50) as i64 - 25);
                doc.add_f64(r, (next() % 40) as f64 / 8.0 - 1.0);
                doc.add_text(tag, if i % 3 == 0 { "a" } else { "b" });
                doc.add_text(tag, format!("id{segment}-{i}"));
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
        }
        for i in (0..1500).step_by(7) {
            writer.delete_term(Term::from_field_text(tag, &format!("id1-{i}")));
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), 3);
        let a = TermQuery::new(Term::from_field_text(tag, "a"), IndexRecordOption::Basic);
        let queries: [&dyn tantivy::query::Query; 2] = [&AllQuery, &a];
        for query in queries {
            for order in [Order::Asc, Order::Desc] {
                for (limit, offset) in [(20, 0), (20, 40), (1, 0), (200, 1000), (20, 4490)] {
                    check::<i64>(&searcher, query, "n", order, limit, offset);
                    check::<f64>(&searcher, query, "r", order, limit, offset);
                }
            }
        }
    }

    fn check<T: SortValue>(
        searcher: &tantivy::Searcher,
        query: &dyn tantivy::query::Query,
        field: &'static str,
        order: Order,
        limit: usize,
        offset: usize,
    ) {
        let top = TopByField::<T>::new(field, order, limit, offset);
        let got = searcher.search(query, &top).unwrap();
        let mut all: Vec<(u64, DocAddress)> = Vec::new();
        let everything = searcher.search(query, &tantivy::collector::DocSetCollector).unwrap();
        for at in everything {
            let column = T::column(searcher.segment_reader(at.segment_ord), field).unwrap();
            let key = column.first(at.doc_id).unwrap().key();
            all.push((if order == Order::Desc { !key } else { key }, at));
        }
        all.sort_by_key(|(key, at)| (*key, at.segment_ord, at.doc_id));
        let want: Vec<DocAddress> = all.into_iter().skip(offset).take(limit).map(|(_, at)| at).collect();
        assert_eq!(got, want, "{field} {order:?} limit {limit} offset {offset}");
        if query.is::<AllQuery>() {
            // Twice: sorting each segment, then from the cache.
            let cache = OrderCache::default();
            for _ in 0..2 {
                let kept = top.of_everything(searcher, &cache).unwrap();
                assert_eq!(kept, want, "kept order: {field} {order:?} limit {limit} offset {offset}");
            }
        }
        assert!(!TopByField::<T>::new(field, order, limit, offset).requires_scoring());
    }
}
