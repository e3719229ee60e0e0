//! Product search: one `SearchEngine` trait, an embedded tantivy engine (default) and a
//! Meilisearch engine, fed from the outbox. Index settings, synonyms and stop words are data
//! in `search/` at the repository root, shared by both engines.
//!
//! Imports: the core, catalog (what a product is, whether it is on sale) and regions.
//! Imported by: the state (the `engine` seam), the worker (indexing), the server (choosing the engine).

pub mod analysis;
mod browse;
pub mod document;
pub mod embedded;
pub mod engine;
pub mod facets;
mod filters;
pub mod indexer;
pub mod meili;
pub mod routes;
pub mod tantivy_index;
mod top;

pub use engine::{SearchEngine, SearchError, SearchQuery, SearchResults, SortOrder};
