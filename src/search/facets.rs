//! Exact facet counts (category, origin prefecture, storage, labels) of everything a query
//! matches. A segment's facet values are decoded once into plain arrays, one slot per document,
//! and kept while the segment lives: a segment never changes (a deleted document keeps its slot
//! and is skipped by the search), and counting a match is then one array read, which is what
//! makes counting a million matches cheap. Where a segment's documents share few combinations of
//! values (a category, a prefecture, a storage and a set of labels), each document is decoded to
//! its combination instead, and counting a match is one array read and one addition for all the
//! fields together; the combinations' counts are spread over the fields once, at the end.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::index::SegmentId;
use tantivy::{DocId, Score, Searcher, SegmentReader};

/// How many values a facet field holds per product.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Values {
    /// Exactly one (category, prefecture, storage).
    One,
    /// Any number (labels).
    Many,
}

/// Up to this many distinct values a field with many values per product is kept as one bit per
/// value; beyond it (never so far) its matches are counted from the column itself.
const MASK_BITS: usize = 64;

/// One facet field of one segment, decoded.
enum Decoded {
    /// Each document's value, as its index in `names` (`NONE` when it has none).
    One { ords: Vec<u16>, names: Vec<String> },
    /// Each document's values, as bits of indexes in `names`.
    Mask { masks: Vec<u64>, names: Vec<String> },
    /// Too many distinct values to decode: counted from the column at search time.
    Column(StrColumn),
}

const NONE: u16 = u16::MAX;

/// Up to this many distinct combinations of values a segment is counted by combination: their
/// counters (4 bytes each) stay in the processor's nearer caches.
const MAX_COMBOS: usize = 8192;

/// One segment's facet fields, decoded.
struct Segment {
    fields: Vec<Option<Decoded>>,
    combos: Option<Combos>,
}

/// Each document's combination of facet values, where a segment has at most `MAX_COMBOS`.
struct Combos {
    /// Each document's combination, as its index in `values`.
    ids: Vec<u16>,
    /// Per combination, per field: the value's index (a single value, `NONE` for none) or the
    /// values' bits (many), as `fields` decodes them.
    values: Vec<Vec<u64>>,
}

impl Combos {
    /// The combinations of a segment's decoded fields, unless one is not decoded to plain arrays
    /// or there are too many.
    fn of(fields: &[Option<Decoded>], max_doc: DocId, limit: usize) -> Option<Combos> {
        if fields.iter().any(|f| matches!(f, Some(Decoded::Column(_)))) {
            return None;
        }
        let mut ids = Vec::with_capacity(max_doc as usize);
        let mut known: HashMap<Vec<u64>, u16> = HashMap::new();
        let mut values = Vec::new();
        let mut key = vec![0u64; fields.len()];
        for doc in 0..max_doc as usize {
            for (slot, field) in key.iter_mut().zip(fields) {
                *slot = match field {
                    Some(Decoded::One { ords, .. }) => u64::from(ords.get(doc).copied().unwrap_or(NONE)),
                    Some(Decoded::Mask { masks, .. }) => masks.get(doc).copied().unwrap_or(0),
                    _ => 0,
                };
            }
            let id = match known.get(key.as_slice()) {
                Some(id) => *id,
                None if values.len() < limit => {
                    let id = values.len() as u16;
                    known.insert(key.clone(), id);
                    values.push(key.clone());
                    id
                }
                None => return None,
            };
            ids.push(id);
        }
        Some(Combos { ids, values })
    }
}

/// Counters per value of a single-valued field (see `SegmentFacetCounter::count`).
const LANES: usize = 4;

/// The facet fields of an index, and their decoded values in the segments being searched.
pub(super) struct FacetCache {
    fields: Vec<(&'static str, Values)>,
    segments: Mutex<HashMap<SegmentId, Arc<Segment>>>,
    /// Per segment, the counts of all its live documents and how many were deleted when they were
    /// counted: a segment only ever gains deletions, so the number tells whether they still hold.
    everything: Mutex<HashMap<SegmentId, (DocId, Arc<SegmentFruit>)>>,
    /// `MAX_COMBOS`, or fewer where a test counts field by field.
    max_combos: usize,
}

/// One segment's counts, a map per field.
type SegmentFruit = Vec<BTreeMap<String, u64>>;

impl FacetCache {
    /// `labels`: whether the index has them (one built before labels has not).
    pub(super) fn new(labels: bool) -> FacetCache {
        let mut fields = vec![("category", Values::One), ("origin_prefecture", Values::One), ("storage", Values::One)];
        if labels {
            fields.push(("labels", Values::Many));
        }
        let (segments, everything) = (Mutex::new(HashMap::new()), Mutex::new(HashMap::new()));
        FacetCache { fields, segments, everything, max_combos: MAX_COMBOS }
    }

    /// How many fields are counted (the fruit has one map per field, in this order).
    pub(super) fn len(&self) -> usize {
        self.fields.len()
    }

    fn get(&self, reader: &SegmentReader) -> tantivy::Result<Arc<Segment>> {
        let id = reader.segment_id();
        if let Some(found) = self.segments.lock().ok().and_then(|s| s.get(&id).cloned()) {
            return Ok(found);
        }
        // Decoded outside the lock: two searches racing on a new segment both decode it once.
        let mut columns = Vec::with_capacity(self.fields.len());
        for (name, values) in &self.fields {
            columns.push(reader.fast_fields().str(name)?.map(|c| decode(c, *values, reader.max_doc())).transpose()?);
        }
        let combos = Combos::of(&columns, reader.max_doc(), self.max_combos);
        let decoded = Arc::new(Segment { fields: columns, combos });
        if let Ok(mut segments) = self.segments.lock() {
            segments.insert(id, decoded.clone());
        }
        Ok(decoded)
    }

    /// The counts of every live document, as `searcher.search(&AllQuery, &FacetCounter { .. })`
    /// gives them: a browse of everything, counted once per segment (and again only when the
    /// segment has gained deletions since), instead of at every browse.
    pub(super) fn count_everything(&self, searcher: &Searcher) -> tantivy::Result<Vec<BTreeMap<String, u64>>> {
        let mut fruits = Vec::with_capacity(searcher.segment_readers().len());
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            fruits.push(self.everything_of(ord as u32, reader)?.as_ref().clone());
        }
        FacetCounter { cache: self }.merge_fruits(fruits)
    }

    fn everything_of(&self, ord: u32, reader: &SegmentReader) -> tantivy::Result<Arc<SegmentFruit>> {
        let (id, deleted) = (reader.segment_id(), reader.num_deleted_docs());
        if let Some((_, fruit)) =
            self.everything.lock().ok().and_then(|e| e.get(&id).filter(|(d, _)| *d == deleted).cloned())
        {
            return Ok(fruit);
        }
        let mut segment = FacetCounter { cache: self }.for_segment(ord, reader)?;
        let live: Vec<DocId> = reader.doc_ids_alive().collect();
        for block in live.chunks(1024) {
            segment.count(block);
        }
        let fruit = Arc::new(segment.harvest());
        if let Ok(mut everything) = self.everything.lock() {
            everything.insert(id, (deleted, fruit.clone()));
        }
        Ok(fruit)
    }

    /// Forgets segments the searcher no longer has (merged away): called where the reader reloads.
    pub(super) fn keep_only(&self, searcher: &Searcher) {
        let live: Vec<SegmentId> = searcher.segment_readers().iter().map(|r| r.segment_id()).collect();
        if let Ok(mut segments) = self.segments.lock()
            && segments.len() > live.len()
        {
            segments.retain(|id, _| live.contains(id));
        }
        if let Ok(mut everything) = self.everything.lock() {
            everything.retain(|id, _| live.contains(id));
        }
    }
}

fn names_of(column: &StrColumn) -> tantivy::Result<Vec<String>> {
    let mut names = Vec::with_capacity(column.num_terms());
    let mut text = String::new();
    for ord in 0..column.num_terms() as u64 {
        text.clear();
        column.ord_to_str(ord, &mut text)?;
        names.push(text.clone());
    }
    Ok(names)
}

fn decode(column: StrColumn, values: Values, max_doc: DocId) -> tantivy::Result<Decoded> {
    let terms = column.num_terms();
    match values {
        Values::One if terms < usize::from(NONE) => {
            let mut ords = Vec::with_capacity(max_doc as usize);
            let mut buffer = vec![None; 1024];
            let docs: Vec<DocId> = (0..max_doc).collect();
            for chunk in docs.chunks(1024) {
                let out = &mut buffer[..chunk.len()];
                out.iter_mut().for_each(|v| *v = None);
                column.ords().first_vals(chunk, out);
                ords.extend(out.iter().map(|o| o.map_or(NONE, |o| o as u16)));
            }
            Ok(Decoded::One { ords, names: names_of(&column)? })
        }
        Values::Many if terms <= MASK_BITS => {
            let masks = (0..max_doc)
                .map(|doc| column.ords().values_for_doc(doc).fold(0u64, |mask, ord| mask | (1u64 << ord)))
                .collect();
            Ok(Decoded::Mask { masks, names: names_of(&column)? })
        }
        _ => Ok(Decoded::Column(column)),
    }
}

/// Counts documents per value of string fast fields, over every match (not just the page).
pub(super) struct FacetCounter<'a> {
    pub(super) cache: &'a FacetCache,
}

pub(super) struct SegmentFacetCounter {
    decoded: Arc<Segment>,
    /// Per field, a count per value (and, for single values, one more slot for "none").
    counts: Vec<Vec<u64>>,
    /// A count per combination of values, when the segment is counted by combination.
    combos: Vec<u32>,
}

impl Collector for FacetCounter<'_> {
    type Fruit = Vec<BTreeMap<String, u64>>;
    type Child = SegmentFacetCounter;

    fn for_segment(&self, _segment: u32, reader: &SegmentReader) -> tantivy::Result<SegmentFacetCounter> {
        let decoded = self.cache.get(reader)?;
        let counts = decoded
            .fields
            .iter()
            .map(|d| match d {
                Some(Decoded::One { names, .. }) => vec![0; (names.len() + 1) * LANES],
                Some(Decoded::Mask { names, .. }) => vec![0; names.len()],
                Some(Decoded::Column(c)) => vec![0; c.num_terms()],
                None => Vec::new(),
            })
            .collect();
        let combos = decoded.combos.as_ref().map_or(Vec::new(), |c| vec![0; c.values.len()]);
        Ok(SegmentFacetCounter { decoded, counts, combos })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<BTreeMap<String, u64>>>) -> tantivy::Result<Self::Fruit> {
        let mut merged = vec![BTreeMap::new(); self.cache.len()];
        for fruit in fruits {
            for (i, counts) in fruit.into_iter().enumerate() {
                for (k, v) in counts {
                    *merged[i].entry(k).or_insert(0) += v;
                }
            }
        }
        Ok(merged)
    }
}

impl SegmentFacetCounter {
    fn count(&mut self, docs: &[DocId]) {
        if let Some(combos) = &self.decoded.combos {
            let counts: &mut [u32] = &mut self.combos;
            for doc in docs {
                if let Some(c) = combos.ids.get(*doc as usize).and_then(|id| counts.get_mut(usize::from(*id))) {
                    *c += 1;
                }
            }
            return;
        }
        for (decoded, counts) in self.decoded.fields.iter().zip(self.counts.iter_mut()) {
            match decoded {
                // `NONE` lands in the extra last slot, which is never reported. Neighbouring
                // matches count into different lanes: most share a value (nearly everything is
                // stored at room temperature), and adding to one counter again and again waits
                // for each addition to finish.
                Some(Decoded::One { ords, .. }) => {
                    let (ords, counts): (&[u16], &mut [u64]) = (ords, counts);
                    let last = counts.len() / LANES - 1;
                    for (i, doc) in docs.iter().enumerate() {
                        let ord = ords.get(*doc as usize).map_or(last, |o| usize::from(*o).min(last));
                        counts[ord * LANES + i % LANES] += 1;
                    }
                }
                Some(Decoded::Mask { masks, .. }) => {
                    let (masks, counts): (&[u64], &mut [u64]) = (masks, counts);
                    for doc in docs {
                        add_to_bits(counts, masks.get(*doc as usize).copied().unwrap_or(0), 1);
                    }
                }
                Some(Decoded::Column(column)) => {
                    for doc in docs {
                        for ord in column.ords().values_for_doc(*doc) {
                            if let Some(c) = counts.get_mut(ord as usize) {
                                *c += 1;
                            }
                        }
                    }
                }
                None => {}
            }
        }
    }

    /// Adds each combination's count to the counts of its values, field by field.
    fn spread_combos(&mut self) {
        let Some(combos) = &self.decoded.combos else { return };
        for (values, n) in combos.values.iter().zip(&self.combos).filter(|(_, n)| **n > 0) {
            let n = u64::from(*n);
            for ((decoded, counts), value) in self.decoded.fields.iter().zip(self.counts.iter_mut()).zip(values) {
                match decoded {
                    Some(Decoded::One { .. }) => {
                        let last = counts.len() / LANES - 1;
                        counts[(*value as usize).min(last) * LANES] += n;
                    }
                    Some(Decoded::Mask { .. }) => add_to_bits(counts, *value, n),
                    _ => {}
                }
            }
        }
    }
}

/// Adds `n` to the count of each value whose bit is set in `mask`.
fn add_to_bits(counts: &mut [u64], mut mask: u64, n: u64) {
    while mask != 0 {
        counts[mask.trailing_zeros() as usize] += n;
        mask &= mask - 1;
    }
}

impl SegmentCollector for SegmentFacetCounter {
    type Fruit = Vec<BTreeMap<String, u64>>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.count(&[doc]);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.count(docs);
    }

    fn harvest(mut self) -> Self::Fruit {
        self.spread_combos();
        self.decoded
            .fields
            .iter()
            .zip(self.counts)
            .map(|(decoded, counts)| {
                let counts = match decoded {
                    Some(Decoded::One { .. }) => counts.chunks(LANES).map(|lanes| lanes.iter().sum()).collect(),
                    _ => counts,
                };
                let mut out = BTreeMap::new();
                let mut text = String::new();
                for (ord, n) in counts.into_iter().enumerate().filter(|(_, n)| *n > 0) {
                    let name = match decoded {
                        Some(Decoded::One { names, .. } | Decoded::Mask { names, .. }) => names.get(ord).cloned(),
                        Some(Decoded::Column(c)) => {
                            text.clear();
                            c.ord_to_str(ord as u64, &mut text).unwrap_or(false).then(|| text.clone())
                        }
                        None => None,
                    };
                    if let Some(name) = name.filter(|n| !n.is_empty()) {
                        out.insert(name, n);
                    }
                }
                out
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tantivy::query::{AllQuery, Query, TermQuery};
    use tantivy::schema::{FAST, IndexRecordOption, STRING, Schema};
    use tantivy::{Index, TantivyDocument, Term};

    use super::{FacetCache, FacetCounter, MAX_COMBOS};

    /// Counted by combination of values, as the segments of this test have few.
    #[test]
    fn counts_are_those_of_every_live_match() {
        check_counts(MAX_COMBOS);
    }

    /// Counted field by field, as segments with too many combinations are.
    #[test]
    fn counts_field_by_field_are_those_of_every_live_match() {
        check_counts(0);
    }

    /// Three segments, some documents deleted (so matches come one at a time as well as in
    /// blocks), products without a prefecture or with several labels: the counts are those of
    /// looking at every live match.
    fn check_counts(max_combos: usize) {
        let mut schema = Schema::builder();
        let names = ["category", "origin_prefecture", "storage", "labels"];
        let fields: Vec<_> = names.iter().map(|n| schema.add_text_field(n, STRING | FAST)).collect();
        let id = schema.add_text_field("id", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let mut truth: Vec<(String, Vec<Vec<String>>)> = Vec::new();
        for segment in 0..3 {
            for i in 0..1000usize {
                let key = format!("p{segment}-{i}");
                let values = vec![
                    vec![["tea", "grain_oil", "edible_fungi"][i % 3].to_owned()],
                    if i % 11 == 0 { vec![] } else { vec![format!("52{:02}", i % 7)] },
                    vec![if i % 5 == 0 { "frozen" } else { "ambient" }.to_owned()],
                    ["organic", "geo_indication", "green"].iter().take(i % 4).map(|l| (*l).to_owned()).collect(),
                ];
                let mut doc = TantivyDocument::default();
                doc.add_text(id, &key);
                for (field, vs) in fields.iter().zip(&values) {
                    for v in vs {
                        doc.add_text(*field, v);
                    }
                }
                writer.add_document(doc).unwrap();
                truth.push((key, values));
            }
            writer.commit().unwrap();
        }
        let deleted = |key: &str| key.starts_with("p1-") && key[3..].parse::<usize>().unwrap() % 6 == 0;
        for (key, _) in truth.iter().filter(|(k, _)| deleted(k)) {
            writer.delete_term(Term::from_field_text(id, key));
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let cache = FacetCache { max_combos, ..FacetCache::new(true) };
        let tea = TermQuery::new(Term::from_field_text(fields[0], "tea"), IndexRecordOption::Basic);
        let queries: [(&dyn Query, Option<&str>); 2] = [(&AllQuery, None), (&tea, Some("tea"))];
        for (query, category) in queries {
            // Twice: decoding the segments, then from the cache.
            for _ in 0..2 {
                let got = searcher.search(query, &FacetCounter { cache: &cache }).unwrap();
                let mut want = vec![BTreeMap::<String, u64>::new(); names.len()];
                for (_, values) in truth.iter().filter(|(k, v)| !deleted(k) && category.is_none_or(|c| v[0][0] == c)) {
                    for (counts, vs) in want.iter_mut().zip(values) {
                        for v in vs {
                            *counts.entry(v.clone()).or_insert(0) += 1;
                        }
                    }
                }
                assert_eq!(got, want, "{category:?}");
                if category.is_none() {
                    assert_eq!(cache.count_everything(&searcher).unwrap(), want, "kept counts of everything");
                }
            }
        }
        cache.keep_only(&searcher);
        let segments = cache.segments.lock().unwrap();
        assert_eq!(segments.len(), 3);
        assert!(segments.values().all(|s| s.combos.is_some() == (max_combos > 0)), "counted by combination");
        drop(segments);
        // A segment counted whole gains deletions: its kept counts no longer stand.
        let before = cache.count_everything(&searcher).unwrap();
        for i in (0..1000).step_by(4) {
            writer.delete_term(Term::from_field_text(id, &format!("p2-{i}")));
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let walked = searcher.search(&AllQuery, &FacetCounter { cache: &cache }).unwrap();
        assert_ne!(walked, before);
        assert_eq!(cache.count_everything(&searcher).unwrap(), walked);
    }
}
