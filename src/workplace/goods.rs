//! `GET /agency/goods`: finding goods for the agency, through the same search as
//! `/api/v1/search/products` (the embedded index or Meilisearch: words, pinyin, synonyms), with
//! its facets, each hit's certificate and its validity, tiers, and the price against the
//! category's median per 500 g.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::forms::{base, fen_of, html, read_query, require_kind};
use crate::catalog::view::{KINDS, kind_name};
use crate::catalog::{categories, service as catalog};
use crate::dashboard::session::WebActor;
use crate::dashboard::web;
use crate::error::{AppResult, Violations};
use crate::identity::Actor;
use crate::identity::types::OrgKind;
use crate::notify::yuan;
use crate::search::engine::SearchResults;
use crate::search::routes::{SearchParams, parse_search};
use crate::state::AppState;

const PER_PAGE: i64 = 20;

/// The search form as a browser sends it: prices in yuan, a checkbox, empty fields for "any".
#[derive(Debug, Default, Deserialize)]
struct GoodsForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    origin: String,
    #[serde(default)]
    price_min: String,
    #[serde(default)]
    price_max: String,
    in_stock: Option<String>,
    #[serde(default)]
    label: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    offset: String,
}

fn params(form: &GoodsForm) -> AppResult<SearchParams> {
    let mut v = Violations::new();
    let price_min_fen = fen_of(&mut v, "price_min", &form.price_min);
    let price_max_fen = fen_of(&mut v, "price_max", &form.price_max);
    let offset = match form.offset.trim() {
        "" => 0,
        o => o.parse::<i64>().unwrap_or(-1),
    };
    v.finish("validation_failed")?;
    let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    Ok(SearchParams {
        q: some(&form.q),
        category: some(&form.category),
        origin: some(&form.origin),
        storage: None,
        price_min_fen,
        price_max_fen,
        in_stock: form.in_stock.as_ref().map(|_| true),
        label: some(&form.label),
        sort: some(&form.sort),
        limit: Some(PER_PAGE),
        offset: Some(offset),
    })
}

/// Each hit with what the search index does not hold: certificate, tiers, minimum, price check.
fn hits(
    conn: &mut crate::db::DbConn,
    actor: &Actor,
    results: &SearchResults,
    today: chrono::NaiveDate,
) -> AppResult<Vec<Value>> {
    let mut out = Vec::with_capacity(results.hits.len());
    for hit in &results.hits {
        let product = catalog::get(conn, Some(actor), &hit.id, today)?;
        let check = catalog::price_check(conn, Some(actor), &hit.id, today)?;
        out.push(json!({
            "id": hit.id, "name": hit.name, "spec": hit.spec, "unit": hit.unit,
            "category": categories::find(&hit.category).map(|c| c.name).unwrap_or(hit.category.as_str()),
            "origin": hit.origin_name, "producer": hit.producer_name,
            "price": yuan(hit.price_fen), "stock": hit.stock, "min_order_qty": product.min_order_qty,
            "tiers": product.tiers.iter().map(|t| format!("{}{}起 ¥{}", t.min_qty, hit.unit, yuan(t.price_fen))).collect::<Vec<_>>(),
            "rating": hit.rating_avg.map(|r| format!("{r:.1}")),
            "certificate_no": product.certification.certificate_no,
            "valid_until": product.certification.valid_until.map(|d| d.to_string()),
            "price_ratio": check.ratio.map(|r| format!("{:.0}%", r * 100.0)),
            "median_per_500g": check.category_median_per_500g_fen.map(yuan),
            "flagged": check.flagged,
            "labels": hit.labels.iter().map(|k| kind_name(k)).collect::<Vec<_>>(),
        }));
    }
    Ok(out)
}

pub async fn goods(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: WebActor,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        require_kind(&who, OrgKind::Agency, "the agency workplace")?;
        let form: GoodsForm = read_query(raw.as_deref())?;
        let mut context = base(&who);
        context["form"] = json!({
            "q": form.q, "category": form.category, "origin": form.origin, "price_min": form.price_min,
            "price_max": form.price_max, "in_stock": form.in_stock.is_some(), "sort": form.sort,
            "label": form.label,
        });
        context["label_kinds"] = KINDS.iter().map(|(code, name)| json!({"code": code, "name": name})).collect();
        context["categories"] =
            categories::CATEGORIES.iter().map(|c| json!({"code": c.code, "name": c.name})).collect::<Vec<_>>().into();
        let query = match params(&form).and_then(parse_search) {
            Ok(q) => q,
            Err(e) => {
                let problem = e.to_problem();
                if problem.status != 422 {
                    return Err(e);
                }
                let fields: serde_json::Map<String, Value> =
                    problem.errors.iter().map(|f| (f.field.clone(), Value::from(f.message.clone()))).collect();
                context["errors"] = fields.into();
                return html("agency_goods.html", StatusCode::UNPROCESSABLE_ENTITY, &context);
            }
        };
        let results = state.search.search(&query).await.map_err(crate::search::indexer::search_error)?;
        let (_, today) = state.now();
        let offset = query.offset as i64;
        let (actor, results_ref) = (who.actor.clone(), results.clone());
        let (shown, origins) = state
            .db
            .read(move |c| {
                let shown = hits(c, &actor, &results_ref, today)?;
                let mut origins = Vec::new();
                for (code, n) in &results_ref.facets.origin_prefecture {
                    let name = crate::regions::service::get(c, code).map(|r| r.name).unwrap_or_else(|_| code.clone());
                    origins.push(json!({"code": code, "name": name, "count": n}));
                }
                Ok((shown, origins))
            })
            .await?;
        context["hits"] = shown.into();
        context["total"] = results.total.into();
        context["origins"] = origins.into();
        context["category_counts"] = json!(results.facets.category);
        context["label_counts"] = json!(results.facets.labels);
        context["engine"] = results.engine.into();
        let link = |to: i64| {
            let mut pairs: Vec<(&str, String)> = vec![
                ("q", form.q.clone()),
                ("category", form.category.clone()),
                ("origin", form.origin.clone()),
                ("price_min", form.price_min.clone()),
                ("price_max", form.price_max.clone()),
                ("label", form.label.clone()),
                ("sort", form.sort.clone()),
                ("offset", to.to_string()),
            ];
            if form.in_stock.is_some() {
                pairs.push(("in_stock", "1".into()));
            }
            format!("/agency/goods?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
        };
        context["prev"] = (offset > 0).then(|| link((offset - PER_PAGE).max(0))).into();
        context["next"] = ((offset + PER_PAGE) < results.total as i64).then(|| link(offset + PER_PAGE)).into();
        html("agency_goods.html", StatusCode::OK, &context)
    }
    .await;
    web::respond(&headers, result)
}
