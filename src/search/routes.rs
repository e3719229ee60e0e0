use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::engine::{SearchQuery, SearchResults, SortOrder};
use super::indexer::search_error;
use crate::catalog::categories;
use crate::catalog::view::{LABEL_KINDS_TEXT, is_label_kind};
use crate::error::{AppError, AppResult, Problem, Violations};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_products))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words in Chinese, pinyin (`xianggu`) or initials (`xg`); synonyms count (冬菇 finds 香菇).
    pub q: Option<String>,
    pub category: Option<String>,
    /// A region code at any level (province, prefecture, county).
    pub origin: Option<String>,
    /// `ambient`, `chilled` or `frozen`.
    pub storage: Option<String>,
    pub price_min_fen: Option<i64>,
    pub price_max_fen: Option<i64>,
    pub in_stock: Option<bool>,
    /// A quality label valid today: `szpin` (圳品), `green_food` (绿色食品), `organic` (有机产品)
    /// or `geo_indication` (农产品地理标志).
    pub label: Option<String>,
    /// `relevance` (default), `price_asc`, `price_desc`, `newest`, `rating`.
    pub sort: Option<String>,
    /// 1 to 100; default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0 to 10000.
    pub offset: Option<i64>,
}

/// The search's parameters checked into a query (422 `validation_failed` naming each field).
pub fn parse_search(p: SearchParams) -> AppResult<SearchQuery> {
    let mut v = Violations::new();
    let q = p.q.unwrap_or_default();
    v.check(q.chars().count() <= 200, "q", "must have at most 200 characters");
    if let Some(c) = &p.category {
        v.check(categories::find(c).is_some(), "category", "is not a known category");
    }
    if let Some(s) = &p.storage {
        v.check(
            ["ambient", "chilled", "frozen"].contains(&s.as_str()),
            "storage",
            "must be ambient, chilled or frozen",
        );
    }
    if let Some(l) = &p.label {
        v.check(is_label_kind(l), "label", LABEL_KINDS_TEXT);
    }
    let sort = match p.sort.as_deref() {
        None => SortOrder::Relevance,
        Some(s) => SortOrder::parse(s).unwrap_or_else(|| {
            v.add("sort", "must be relevance, price_asc, price_desc, newest or rating");
            SortOrder::Relevance
        }),
    };
    let limit = p.limit.unwrap_or(20);
    v.check((1..=100).contains(&limit), "limit", "must be between 1 and 100");
    let offset = p.offset.unwrap_or(0);
    v.check((0..=10_000).contains(&offset), "offset", "must be between 0 and 10000");
    v.check(p.price_min_fen.is_none_or(|x| x >= 0), "price_min_fen", "must not be negative");
    v.check(p.price_max_fen.is_none_or(|x| x >= 0), "price_max_fen", "must not be negative");
    if let (Some(lo), Some(hi)) = (p.price_min_fen, p.price_max_fen) {
        v.check(lo <= hi, "price_max_fen", "must not be below price_min_fen");
    }
    v.finish("validation_failed")?;
    Ok(SearchQuery {
        q,
        category: p.category,
        origin: p.origin,
        storage: p.storage,
        price_min_fen: p.price_min_fen,
        price_max_fen: p.price_max_fen,
        in_stock: p.in_stock,
        label: p.label,
        sort,
        limit: limit as usize,
        offset: offset as usize,
    })
}

/// Region codes seen to exist. Regions are never deleted, so a code once found stays valid and
/// the hot search path skips the database for it.
static KNOWN_REGIONS: std::sync::LazyLock<std::sync::RwLock<std::collections::HashSet<String>>> =
    std::sync::LazyLock::new(Default::default);

async fn known_region(state: &AppState, code: String) -> AppResult<bool> {
    if KNOWN_REGIONS.read().map(|set| set.contains(&code)).unwrap_or(false) {
        return Ok(true);
    }
    let lookup = code.clone();
    let found = state.db.run(move |c| crate::regions::path_of(c, &lookup)).await?.is_some();
    if found && let Ok(mut set) = KNOWN_REGIONS.write() {
        set.insert(code);
    }
    Ok(found)
}

/// Searches the certified products on sale, with filters, facets and sorts. Public.
#[utoipa::path(get, path = "/search/products", tag = "search", params(SearchParams),
    responses(
        (status = 200, body = SearchResults),
        (status = 422, description = "validation_failed, unknown_region", body = Problem),
        (status = 503, description = "search_unavailable", body = Problem),
    ))]
async fn search_products(
    State(state): State<AppState>,
    crate::http::extract::ApiQuery(params): crate::http::extract::ApiQuery<SearchParams>,
) -> AppResult<Json<SearchResults>> {
    let query = parse_search(params)?;
    if let Some(origin) = query.origin.clone()
        && !known_region(&state, origin).await?
    {
        return Err(AppError::invalid_field("unknown_region", "origin", "no such region"));
    }
    let results = state.search.search(&query).await.map_err(search_error)?;
    Ok(Json(results))
}
