//! Exact facet counts (category, origin prefecture, storage) of everything a query matches,
//! counted a segment block at a time from fast fields.

use std::collections::BTreeMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocId, Score, SegmentReader};

/// Counts documents per value of string fast fields, over every match (not just the page).
pub(super) struct FacetCounter {
    pub(super) fields: Vec<&'static str>,
}

pub(super) struct SegmentFacetCounter {
    columns: Vec<Option<(tantivy::columnar::StrColumn, Vec<u64>)>>,
    buffer: Vec<Option<u64>>,
}

impl Collector for FacetCounter {
    type Fruit = Vec<BTreeMap<String, u64>>;
    type Child = SegmentFacetCounter;

    fn for_segment(&self, _segment: u32, reader: &SegmentReader) -> tantivy::Result<SegmentFacetCounter> {
        let mut columns = Vec::new();
        for name in &self.fields {
            let column = reader.fast_fields().str(name)?;
            columns.push(column.map(|c| {
                let n = c.dictionary().num_terms();
                (c, vec![0u64; n])
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
        // Each facet field holds one value per product.
        for (column, counts) in self.columns.iter_mut().flatten() {
            if let Some(c) = column.ords().first(doc).and_then(|ord| counts.get_mut(ord as usize)) {
                *c += 1;
            }
        }
    }

    /// Whole blocks of matches at once: the columns decode a run of values faster than one by one.
    fn collect_block(&mut self, docs: &[DocId]) {
        self.buffer.clear();
        self.buffer.resize(docs.len(), None);
        for (column, counts) in self.columns.iter_mut().flatten() {
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
                if let Some((column, counts)) = column {
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
