//! The search seam: the engine trait both engines implement, the document they index, the query
//! and results. A leaf: the state holds an engine, and this file imports nothing of the domains.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One product as both engines index it (Meilisearch receives exactly this JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchDoc {
    pub id: String,
    pub name: String,
    pub name_pinyin: String,
    pub name_initials: String,
    pub category: String,
    pub category_name: String,
    pub description: String,
    pub spec: String,
    pub unit: String,
    pub origin_region_code: String,
    pub origin_name: String,
    /// Every region the origin lies in, from the province down (filter at any level).
    pub origin_codes: Vec<String>,
    pub origin_prefecture: String,
    /// Names of the chain, full and short (黔西南布依族苗族自治州 and 黔西南).
    pub origin_names: String,
    pub producer_id: String,
    pub producer_name: String,
    pub price_fen: i64,
    pub stock: i64,
    pub in_stock: bool,
    pub storage: String,
    pub rating_avg: Option<f64>,
    /// Seconds since the epoch, for `newest`.
    pub created_at: i64,
    /// The quality labels valid on the day the document was built (`szpin`, `green_food`,
    /// `organic`, `geo_indication`); the daily sweep rebuilds it when one lapses or begins.
    #[serde(default)]
    pub labels: Vec<String>,
}

impl SearchDoc {
    pub fn hit(&self) -> SearchHit {
        SearchHit {
            id: self.id.clone(),
            name: self.name.clone(),
            category: self.category.clone(),
            origin_region_code: self.origin_region_code.clone(),
            origin_name: self.origin_name.clone(),
            producer_id: self.producer_id.clone(),
            producer_name: self.producer_name.clone(),
            price_fen: self.price_fen,
            unit: self.unit.clone(),
            spec: self.spec.clone(),
            stock: self.stock,
            rating_avg: self.rating_avg,
            labels: self.labels.clone(),
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The engine cannot be reached or its index cannot be read: 503 `search_unavailable`.
    #[error("search unavailable: {0}")]
    Unavailable(String),
    #[error("search failed: {0}")]
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
    Rating,
}

impl SortOrder {
    pub fn parse(s: &str) -> Option<SortOrder> {
        Some(match s {
            "relevance" => SortOrder::Relevance,
            "price_asc" => SortOrder::PriceAsc,
            "price_desc" => SortOrder::PriceDesc,
            "newest" => SortOrder::Newest,
            "rating" => SortOrder::Rating,
            _ => return None,
        })
    }
}

/// A validated search: every field already checked by the route.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub q: String,
    pub category: Option<String>,
    /// A region code at any level; matches products whose origin lies inside it.
    pub origin: Option<String>,
    pub storage: Option<String>,
    pub price_min_fen: Option<i64>,
    pub price_max_fen: Option<i64>,
    pub in_stock: Option<bool>,
    /// A quality label kind the product must carry, valid today.
    pub label: Option<String>,
    pub sort: SortOrder,
    pub limit: usize,
    pub offset: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SearchHit {
    pub id: String,
    pub name: String,
    pub category: String,
    pub origin_region_code: String,
    pub origin_name: String,
    pub producer_id: String,
    pub producer_name: String,
    pub price_fen: i64,
    pub unit: String,
    pub spec: String,
    pub stock: i64,
    pub rating_avg: Option<f64>,
    /// Quality labels valid today, by kind.
    #[serde(default)]
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema, PartialEq)]
pub struct Facets {
    pub category: BTreeMap<String, u64>,
    pub origin_prefecture: BTreeMap<String, u64>,
    pub storage: BTreeMap<String, u64>,
    /// Products per quality label kind valid today (a product may carry several, so these
    /// need not add up to the total).
    pub labels: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    pub total: u64,
    pub facets: Facets,
    /// `embedded` or `meilisearch`.
    pub engine: &'static str,
    pub took_ms: f64,
}

/// Where products are searched. Writes return once the change is visible to searches.
pub trait SearchEngine: Send + Sync {
    fn name(&self) -> &'static str;
    fn search<'a>(&'a self, query: &'a SearchQuery) -> BoxFuture<'a, Result<SearchResults, SearchError>>;
    fn apply<'a>(&'a self, upserts: Vec<SearchDoc>, deletes: Vec<String>) -> BoxFuture<'a, Result<(), SearchError>>;
    /// Builds a fresh index from `docs` beside the live one, then swaps it in atomically;
    /// searches keep answering from the old index meanwhile.
    fn rebuild<'a>(
        &'a self,
        docs: Box<dyn Iterator<Item = Result<Vec<SearchDoc>, SearchError>> + Send + 'a>,
        progress: &'a (dyn Fn(u64) + Send + Sync),
    ) -> BoxFuture<'a, Result<u64, SearchError>>;
    /// Set once after this process switched to an index another process built: the time (ms
    /// since the epoch) from which changes must be replayed into it.
    fn take_replay_since(&self) -> Option<i64> {
        None
    }
    /// True while the index is one an older version built, whose documents lack a field this
    /// one filters on: the worker then rebuilds it from the database (searches keep answering
    /// from the old index meanwhile); a finished rebuild clears it.
    fn needs_rebuild(&self) -> bool {
        false
    }
    /// Readies the engine when the worker starts (Meilisearch: applies the index settings).
    fn prepare(&self) -> BoxFuture<'_, Result<(), SearchError>> {
        Box::pin(async { Ok(()) })
    }
}
