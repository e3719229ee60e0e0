//! Exact facet counts (category, origin prefecture, storage, labels) of everything a query
//! matches, counted a segment block at a time from fast fields.

use std::collections::BTreeMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocId, Score, SegmentReader};

/// How many values a facet field holds per product.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Values {
    /// Exactly one (category, prefecture, storage): read a block of matches at once.
    One,
    /// Any number (labels): each value of each match counts.
    Many,
}

/// Counts documents per value of string fast fields, over every match (not just the page).
pub(super) struct FacetCounter {
    pub(super) fields: Vec<(&'static str, Values)>,
}

type Counted = Option<(tantivy::columnar::StrColumn, Vec<u64>, Values)>;

pub(super) struct SegmentFacetCounter {
    columns: Vec<Counted>,
    buffer: Vec<Option<u64>>,
}

impl Collector for FacetCounter {
    type Fruit = Vec<BTreeMap<String, u64>>;
    type Child = SegmentFacetCounter;

    fn for_segment(&self, _segment: u32, reader: &SegmentReader) -> tantivy::Result<SegmentFacetCounter> {
        let mut columns = Vec::new();
        for (name, values) in &self.fields {
            let column = reader.fast_fields().str(name)?;
            columns.push(column.map(|c| {
                let n = c.dictionary().num_terms();
                (c, vec![0u64; n], *values)
            }));
        }
        Ok(SegmentFacetCounter { columns, buffer: Vec::new() })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<BTreeMap<String, u64>>>) -> tantivy::Result<Self::Fruit> {
        let mut merged = vec![BTreeMap::new(); self.fields.len()];
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

impl SegmentCollector for SegmentFacetCounter {
    type Fruit = Vec<BTreeMap<String, u64>>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        for (column, counts, values) in self.columns.iter_mut().flatten() {
            match values {
                Values::One => {
                    if let Some(c) = column.ords().first(doc).and_then(|ord| counts.get_mut(ord as usize)) {
                        *c += 1;
                    }
                }
                Values::Many => count_all(column, counts, doc),
            }
        }
    }

    /// Whole blocks of matches at once: the columns decode a run of values faster than one by one.
    fn collect_block(&mut self, docs: &[DocId]) {
        self.buffer.clear();
        self.buffer.resize(docs.len(), None);
        for (column, counts, values) in self.columns.iter_mut().flatten() {
            if *values == Values::Many {
                docs.iter().for_each(|doc| count_all(column, counts, *doc));
                continue;
            }
            column.ords().first_vals(docs, &mut self.buffer);
            for ord in self.buffer.iter().flatten() {
                if let Some(c) = counts.get_mut(*ord as usize) {
                    *c += 1;
                }
            }
            self.buffer.iter_mut().for_each(|v| *v = None);
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.columns
            .into_iter()
            .map(|column| {
                let mut out = BTreeMap::new();
                if let Some((column, counts, _)) = column {
                    let mut text = String::new();
                    for (ord, n) in counts.into_iter().enumerate() {
                        if n > 0 && column.ord_to_str(ord as u64, &mut text).unwrap_or(false) && !text.is_empty() {
                            out.insert(text.clone(), n);
                        }
                    }
                }
                out
            })
            .collect()
    }
}

fn count_all(column: &tantivy::columnar::StrColumn, counts: &mut [u64], doc: DocId) {
    for ord in column.ords().values_for_doc(doc) {
        if let Some(c) = counts.get_mut(ord as usize) {
            *c += 1;
        }
    }
}
