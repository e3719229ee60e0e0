//! The embedded engine's index: its schema, the Chinese tokenizer (words from the analysis,
//! which already holds jieba segments and pinyin), opening or creating it on disk, a product as a
//! tantivy document.

use std::path::Path;
use std::sync::Arc;

use tantivy::Index;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use super::analysis::Analyzer;
use super::engine::{SearchDoc, SearchError};

const TOKENIZER: &str = "dongxi_cjk";

pub(super) const WRITER_HEAP: usize = 64 * 1024 * 1024;

/// Words are matched in `all` (name, category, origin chain, producer, specification and
/// description together) and again in `name`, which weighs most. Two fields instead of six keep
/// a synonym-expanded query to a few term lookups per word.
const TEXT_FIELDS: [(&str, f32); 2] = [("name", 3.0), ("all", 1.0)];

#[derive(Clone)]
struct CjkTokenizer(Arc<Analyzer>);

struct VecTokenStream {
    tokens: Vec<Token>,
    index: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.index += 1;
        self.index <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.index - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index - 1]
    }
}

impl Tokenizer for CjkTokenizer {
    type TokenStream<'a> = VecTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let tokens = self
            .0
            .index_tokens(text)
            .into_iter()
            .enumerate()
            .map(|(position, text)| Token { offset_from: 0, offset_to: 0, position, text, position_length: 1 })
            .collect();
        VecTokenStream { tokens, index: 0 }
    }
}

pub(super) struct Fields {
    pub(super) id: Field,
    pub(super) doc: Field,
    pub(super) text: Vec<(Field, f32)>,
    pub(super) name_pinyin: Field,
    pub(super) name_initials: Field,
    pub(super) category: Field,
    pub(super) origin_codes: Field,
    pub(super) storage: Field,
    pub(super) price_fen: Field,
    pub(super) in_stock: Field,
    /// Absent from an index an older version built (before quality labels): such an index still
    /// answers, matching no label filter, until the worker has rebuilt it.
    pub(super) labels: Option<Field>,
}

fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_text_field("id", STRING | STORED);
    b.add_text_field("doc", STORED);
    let cjk = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(TOKENIZER).set_index_option(IndexRecordOption::WithFreqs),
    );
    for (name, _) in TEXT_FIELDS {
        b.add_text_field(name, cjk.clone());
    }
    let latin = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer("default").set_index_option(IndexRecordOption::WithFreqs),
    );
    b.add_text_field("name_pinyin", latin.clone());
    b.add_text_field("name_initials", latin);
    b.add_text_field("category", STRING | FAST);
    b.add_text_field("origin_prefecture", STRING | FAST);
    b.add_text_field("storage", STRING | FAST);
    b.add_text_field("origin_codes", STRING);
    b.add_text_field("labels", STRING | FAST);
    b.add_i64_field("price_fen", INDEXED | FAST);
    b.add_i64_field("created_at", FAST);
    b.add_f64_field("rating", FAST);
    b.add_bool_field("in_stock", INDEXED);
    b.build()
}

fn field(schema: &Schema, name: &str) -> Result<Field, SearchError> {
    schema.get_field(name).map_err(|e| SearchError::Failed(format!("index schema: {e}")))
}

pub(super) fn fields(schema: &Schema) -> Result<Fields, SearchError> {
    Ok(Fields {
        id: field(schema, "id")?,
        doc: field(schema, "doc")?,
        text: TEXT_FIELDS.iter().map(|(n, w)| Ok((field(schema, n)?, *w))).collect::<Result<_, SearchError>>()?,
        name_pinyin: field(schema, "name_pinyin")?,
        name_initials: field(schema, "name_initials")?,
        category: field(schema, "category")?,
        origin_codes: field(schema, "origin_codes")?,
        storage: field(schema, "storage")?,
        price_fen: field(schema, "price_fen")?,
        in_stock: field(schema, "in_stock")?,
        labels: schema.get_field("labels").ok(),
    })
}

pub(super) fn failed(e: impl std::fmt::Display) -> SearchError {
    SearchError::Failed(e.to_string())
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> SearchError {
    SearchError::Unavailable(e.to_string())
}

pub(super) fn open_index(dir: &Path, analyzer: &Arc<Analyzer>, create: bool) -> Result<Index, SearchError> {
    let mut index = if create {
        std::fs::create_dir_all(dir).map_err(unavailable)?;
        // The doc store holds only the small hit of each product, uncompressed: reading twenty
        // hits then costs no decompression (it was the largest part of a search).
        let settings = tantivy::IndexSettings {
            docstore_compression: tantivy::store::Compressor::None,
            docstore_blocksize: 4096,
            ..Default::default()
        };
        Index::builder().schema(schema()).settings(settings).create_in_dir(dir).map_err(unavailable)?
    } else {
        Index::open_in_dir(dir).map_err(unavailable)?
    };
    index.tokenizers().register(TOKENIZER, CjkTokenizer(analyzer.clone()));
    // Large result sets (a whole prefecture, a filter-only browse) are counted per segment on
    // two threads, which halves their latency on a two-core machine.
    index.set_multithread_executor(2).map_err(unavailable)?;
    Ok(index)
}

pub(super) fn to_document(f: &Fields, schema: &Schema, d: &SearchDoc) -> Result<TantivyDocument, SearchError> {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.id, &d.id);
    doc.add_text(f.doc, serde_json::to_string(&d.hit()).map_err(failed)?);
    doc.add_text(field(schema, "name")?, &d.name);
    let all = [d.name.as_str(), &d.category_name, &d.origin_names, &d.producer_name, &d.spec, &d.description].join(" ");
    doc.add_text(field(schema, "all")?, all);
    doc.add_text(f.name_pinyin, &d.name_pinyin);
    doc.add_text(f.name_initials, &d.name_initials);
    doc.add_text(f.category, &d.category);
    doc.add_text(field(schema, "origin_prefecture")?, &d.origin_prefecture);
    doc.add_text(f.storage, &d.storage);
    for code in &d.origin_codes {
        doc.add_text(f.origin_codes, code);
    }
    doc.add_i64(f.price_fen, d.price_fen);
    doc.add_i64(field(schema, "created_at")?, d.created_at);
    doc.add_f64(field(schema, "rating")?, d.rating_avg.unwrap_or(-1.0));
    doc.add_bool(f.in_stock, d.in_stock);
    if let Some(labels) = f.labels {
        for label in &d.labels {
            doc.add_text(labels, label);
        }
    }
    Ok(doc)
}
