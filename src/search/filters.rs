//! A search's filters on values (a category, a region, a storage, a label, in stock) as each
//! segment's matching documents, one bit per document, read from the postings once and kept while
//! the segment lives (a segment never changes; deletions are applied by the search). There are few
//! such values and the same ones come back in search after search, so a filtered search reads
//! bits instead of walking and leapfrogging posting lists of hundreds of thousands of documents;
//! several filters are one AND of their bits. Price ranges vary with every shopper and are not
//! kept: they stay range queries over the price column.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tantivy::index::SegmentId;
use tantivy::query::{ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED, Term};

/// Kept bits beyond this many bytes (about 500 filters at a million products) are forgotten, the
/// least recently used first.
const BUDGET_BYTES: usize = 64 * 1024 * 1024;

/// One segment's documents matching a filter (deleted ones too).
struct Bits {
    words: Vec<u64>,
    len: u32,
}

impl Bits {
    fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

/// A segment and a filter term.
type Key = (SegmentId, Term);

/// A segment's bits per filter term, each with when it was last used.
pub(super) struct FilterCache {
    kept: Mutex<HashMap<Key, (Arc<Bits>, u64)>>,
    clock: AtomicU64,
    budget_bytes: usize,
}

impl FilterCache {
    pub(super) fn new() -> FilterCache {
        FilterCache { kept: Mutex::default(), clock: AtomicU64::new(0), budget_bytes: BUDGET_BYTES }
    }

    fn bits(&self, reader: &SegmentReader, term: &Term) -> tantivy::Result<Arc<Bits>> {
        let key = (reader.segment_id(), term.clone());
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut kept) = self.kept.lock()
            && let Some((bits, used)) = kept.get_mut(&key)
        {
            *used = tick;
            return Ok(bits.clone());
        }
        // Read outside the lock: two searches racing on a new filter both read it once.
        let bits = Arc::new(read_bits(reader, term)?);
        if let Ok(mut kept) = self.kept.lock() {
            kept.insert(key, (bits.clone(), tick));
            let mut total: usize = kept.values().map(|(b, _)| b.bytes()).sum();
            while total > self.budget_bytes {
                let Some(oldest) = kept.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone()) else {
                    break;
                };
                if let Some((b, _)) = kept.remove(&oldest) {
                    total -= b.bytes();
                }
            }
        }
        Ok(bits)
    }

    /// Forgets segments the searcher no longer has (merged away): called where the reader reloads.
    pub(super) fn keep_only(&self, searcher: &Searcher) {
        let Ok(mut kept) = self.kept.lock() else { return };
        let live: Vec<SegmentId> = searcher.segment_readers().iter().map(|r| r.segment_id()).collect();
        kept.retain(|(id, _), _| live.contains(id));
    }
}

fn read_bits(reader: &SegmentReader, term: &Term) -> tantivy::Result<Bits> {
    let mut words = vec![0u64; (reader.max_doc() as usize).div_ceil(64)];
    let mut len = 0;
    if let Some(mut postings) = reader.inverted_index(term.field())?.read_postings(term, IndexRecordOption::Basic)? {
        let mut doc = postings.doc();
        while doc != TERMINATED {
            if let Some(word) = words.get_mut(doc as usize / 64) {
                *word |= 1 << (doc % 64);
                len += 1;
            }
            doc = postings.advance();
        }
    }
    Ok(Bits { words, len })
}

/// Matches the documents that carry every one of `terms` (each a value of a field indexed as
/// is), with a score of zero, from the kept bits.
#[derive(Clone)]
pub(super) struct KeptFilters {
    terms: Vec<Term>,
    cache: Arc<FilterCache>,
}

impl KeptFilters {
    pub(super) fn new(terms: Vec<Term>, cache: Arc<FilterCache>) -> KeptFilters {
        KeptFilters { terms, cache }
    }
}

impl std::fmt::Debug for KeptFilters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptFilters").field("terms", &self.terms).finish()
    }
}

impl Query for KeptFilters {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for KeptFilters {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut all = Vec::with_capacity(self.terms.len());
        for term in &self.terms {
            all.push(self.cache.bits(reader, term)?);
        }
        let bits = match all.as_slice() {
            [one] => one.clone(),
            _ => {
                let mut words = vec![u64::MAX; (reader.max_doc() as usize).div_ceil(64)];
                for bits in &all {
                    words.iter_mut().zip(&bits.words).for_each(|(w, b)| *w &= b);
                }
                let len = words.iter().map(|w| w.count_ones()).sum();
                Arc::new(Bits { words, len })
            }
        };
        Ok(Box::new(ConstScorer::new(BitsDocSet::new(bits), 0.0)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!("document {doc} does not match the filters")));
        }
        Ok(Explanation::new("KeptFilters", 0.0))
    }
}

/// The documents of kept bits, in order.
struct BitsDocSet {
    bits: Arc<Bits>,
    /// The word being read and its bits not yet returned.
    word: usize,
    rest: u64,
    doc: DocId,
}

impl BitsDocSet {
    fn new(bits: Arc<Bits>) -> BitsDocSet {
        let rest = bits.words.first().copied().unwrap_or(0);
        let mut docs = BitsDocSet { bits, word: 0, rest, doc: 0 };
        docs.advance();
        docs
    }
}

impl DocSet for BitsDocSet {
    fn advance(&mut self) -> DocId {
        while self.rest == 0 {
            self.word += 1;
            match self.bits.words.get(self.word) {
                Some(w) => self.rest = *w,
                None => {
                    self.doc = TERMINATED;
                    return TERMINATED;
                }
            }
        }
        self.doc = (self.word * 64) as DocId + self.rest.trailing_zeros();
        self.rest &= self.rest - 1;
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if target <= self.doc {
            return self.doc;
        }
        let word = target as usize / 64;
        let Some(w) = self.bits.words.get(word) else {
            self.word = self.bits.words.len();
            self.rest = 0;
            self.doc = TERMINATED;
            return TERMINATED;
        };
        if word > self.word {
            self.word = word;
            self.rest = *w;
        }
        self.rest &= u64::MAX << (target % 64);
        self.advance()
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.bits.len
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tantivy::collector::DocSetCollector;
    use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
    use tantivy::schema::{INDEXED, IndexRecordOption, STRING, Schema};
    use tantivy::{DocSet, Index, TERMINATED, TantivyDocument, Term};

    use super::{BitsDocSet, FilterCache, KeptFilters, read_bits};

    /// Three segments with deletions: one filter and several together match what the term queries
    /// match together, from fresh bits and from kept ones, and a small budget forgets the oldest.
    #[test]
    fn kept_filters_match_what_term_queries_match() {
        let mut schema = Schema::builder();
        let category = schema.add_text_field("category", STRING);
        let stock = schema.add_bool_field("in_stock", INDEXED);
        let id = schema.add_text_field("id", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for segment in 0..3 {
            for i in 0..700usize {
                let mut doc = TantivyDocument::default();
                doc.add_text(id, format!("p{segment}-{i}"));
                doc.add_text(category, ["tea", "rice", "fungi"][(i * 7 + segment) % 3]);
                doc.add_bool(stock, i % 5 != 0);
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
        }
        for i in (0..700).step_by(3) {
            writer.delete_term(Term::from_field_text(id, &format!("p1-{i}")));
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let terms = [
            vec![Term::from_field_text(category, "tea")],
            vec![Term::from_field_bool(stock, true)],
            vec![Term::from_field_text(category, "rice"), Term::from_field_bool(stock, false)],
            vec![Term::from_field_text(category, "none")],
            vec![Term::from_field_text(category, "tea"), Term::from_field_text(category, "rice")],
        ];
        let cache = Arc::new(FilterCache::new());
        for _ in 0..2 {
            for filter in &terms {
                let clauses: Vec<(Occur, Box<dyn Query>)> = filter
                    .iter()
                    .map(|t| {
                        (Occur::Must, Box::new(TermQuery::new(t.clone(), IndexRecordOption::Basic)) as Box<dyn Query>)
                    })
                    .collect();
                let want = searcher.search(&BooleanQuery::new(clauses), &DocSetCollector).unwrap();
                let got = searcher.search(&KeptFilters::new(filter.clone(), cache.clone()), &DocSetCollector).unwrap();
                assert_eq!(got, want, "{filter:?}");
            }
        }
        assert_eq!(cache.kept.lock().unwrap().len(), 3 * 5, "five terms in three segments");
        let one = read_bits(searcher.segment_reader(0), &terms[0][0]).unwrap().bytes();
        let small = Arc::new(FilterCache { budget_bytes: 2 * one, ..FilterCache::new() });
        for filter in &terms[..2] {
            searcher.search(&KeptFilters::new(filter.clone(), small.clone()), &DocSetCollector).unwrap();
        }
        assert_eq!(small.kept.lock().unwrap().len(), 2, "the budget holds two segments' bits");
    }

    /// Seeking lands on the first document at or after the target, across words and at the end.
    #[test]
    fn seeking_lands_on_the_next_document() {
        let docs = [0u32, 3, 63, 64, 130, 191, 192, 500];
        let mut words = vec![0u64; 8];
        for d in docs {
            words[d as usize / 64] |= 1 << (d % 64);
        }
        let bits = Arc::new(super::Bits { words, len: docs.len() as u32 });
        let mut all = BitsDocSet::new(bits.clone());
        let mut seen = vec![all.doc()];
        while all.advance() != TERMINATED {
            seen.push(all.doc());
        }
        assert_eq!(seen, docs);
        for target in 0..=512u32 {
            let mut set = BitsDocSet::new(bits.clone());
            let want = docs.iter().copied().find(|d| *d >= target).unwrap_or(TERMINATED);
            assert_eq!(set.seek(target), want, "seek {target}");
            assert_eq!(set.doc(), want);
        }
        let mut set = BitsDocSet::new(bits);
        assert_eq!(set.seek(130), 130);
        assert_eq!(set.seek(131), 191);
        assert_eq!(set.seek(191), 191);
        assert_eq!(set.seek(193), 500);
        assert_eq!(set.seek(501), TERMINATED);
    }
}
