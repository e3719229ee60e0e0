//! The searchable form of a product (`engine::SearchDoc`), built from the database.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::analysis::Analyzer;
use super::engine::SearchDoc;
use crate::catalog::categories;
use crate::catalog::model::ProductRow;
use crate::catalog::view::is_on_sale;
use crate::db::DbConn;
use crate::db::schema::{organizations, product_labels, products, regions};
use crate::error::AppResult;

/// Region names, producer names and the labels valid today, loaded once per batch.
struct Lookups {
    regions: HashMap<String, (String, String)>,
    producers: HashMap<String, String>,
    labels: HashMap<String, Vec<String>>,
}

fn lookups(conn: &mut DbConn, rows: &[ProductRow], today: NaiveDate) -> AppResult<Lookups> {
    let mut codes: Vec<String> =
        rows.iter().flat_map(|r| r.origin_path.split('/').filter(|c| !c.is_empty()).map(str::to_owned)).collect();
    codes.sort_unstable();
    codes.dedup();
    let mut region_map = HashMap::new();
    for chunk in codes.chunks(500) {
        let found: Vec<(String, String, String)> = regions::table
            .filter(regions::code.eq_any(chunk))
            .select((regions::code, regions::name, regions::level))
            .load(conn)?;
        for (code, name, level) in found {
            region_map.insert(code, (name, level));
        }
    }
    let mut ids: Vec<String> = rows.iter().map(|r| r.producer_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut producers = HashMap::new();
    for chunk in ids.chunks(500) {
        let found: Vec<(String, String)> = organizations::table
            .filter(organizations::id.eq_any(chunk))
            .select((organizations::id, organizations::name))
            .load(conn)?;
        producers.extend(found);
    }
    let mut labels: HashMap<String, Vec<String>> = HashMap::new();
    let product_ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    for chunk in product_ids.chunks(500) {
        let found: Vec<(String, String)> = product_labels::table
            .filter(product_labels::product_id.eq_any(chunk))
            .filter(product_labels::removed_at.is_null())
            .filter(product_labels::valid_from.le(today))
            .filter(product_labels::valid_until.ge(today))
            .select((product_labels::product_id, product_labels::kind))
            .load(conn)?;
        for (product, kind) in found {
            labels.entry(product).or_default().push(kind);
        }
    }
    labels.values_mut().for_each(|kinds| {
        kinds.sort_unstable();
        kinds.dedup();
    });
    Ok(Lookups { regions: region_map, producers, labels })
}

fn build(row: ProductRow, look: &Lookups, analyzer: &Analyzer) -> SearchDoc {
    let chain: Vec<(&str, &str, &str)> = row
        .origin_path
        .split('/')
        .filter(|c| !c.is_empty())
        .filter_map(|c| look.regions.get(c).map(|(n, l)| (c, n.as_str(), l.as_str())))
        .collect();
    let origin_prefecture =
        chain.iter().find(|(_, _, l)| *l == "prefecture").map(|(c, _, _)| c.to_string()).unwrap_or_default();
    let mut names = Vec::new();
    for (_, name, _) in &chain {
        names.push(name.to_string());
        let short = super::analysis::short_place_name(name);
        if short != *name {
            names.push(short.to_owned());
        }
    }
    let (name_pinyin, name_initials) = analyzer.pinyin_fields(&row.name);
    let rating_avg = row.rating_avg();
    SearchDoc {
        name_pinyin,
        name_initials,
        category_name: categories::find(&row.category).map(|c| c.name.to_owned()).unwrap_or_default(),
        origin_codes: chain.iter().map(|(c, _, _)| c.to_string()).collect(),
        origin_name: chain.iter().rev().map(|(_, n, _)| n.to_string()).next().unwrap_or_default(),
        origin_names: names.join(" "),
        origin_prefecture,
        producer_name: look.producers.get(&row.producer_id).cloned().unwrap_or_default(),
        in_stock: row.stock > 0,
        rating_avg,
        created_at: row.created_at.and_utc().timestamp(),
        labels: look.labels.get(&row.id).cloned().unwrap_or_default(),
        id: row.id,
        name: row.name,
        category: row.category,
        description: row.description,
        spec: row.spec,
        unit: row.unit,
        origin_region_code: row.origin_region_code,
        producer_id: row.producer_id,
        price_fen: row.price_fen,
        stock: row.stock,
        storage: row.storage,
    }
}

/// For changed products: documents for those on sale, ids to remove for the rest (or gone).
pub fn load_changes(
    conn: &mut DbConn,
    ids: &[String],
    today: NaiveDate,
    analyzer: &Analyzer,
) -> AppResult<(Vec<SearchDoc>, Vec<String>)> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(500) {
        let found: Vec<ProductRow> =
            products::table.filter(products::id.eq_any(chunk)).select(ProductRow::as_select()).load(conn)?;
        rows.extend(found);
    }
    let (on_sale, off_sale): (Vec<ProductRow>, Vec<ProductRow>) = rows.into_iter().partition(|r| is_on_sale(r, today));
    let mut deletes: Vec<String> = off_sale.into_iter().map(|r| r.id).collect();
    let present: std::collections::HashSet<&str> =
        on_sale.iter().map(|r| r.id.as_str()).chain(deletes.iter().map(String::as_str)).collect();
    let gone: Vec<String> = ids.iter().filter(|id| !present.contains(id.as_str())).cloned().collect();
    deletes.extend(gone);
    let look = lookups(conn, &on_sale, today)?;
    Ok((on_sale.into_iter().map(|r| build(r, &look, analyzer)).collect(), deletes))
}

/// One page of every product on sale, in id order after `after`, for a rebuild.
pub fn load_on_sale_page(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
    today: NaiveDate,
    analyzer: &Analyzer,
) -> AppResult<Vec<SearchDoc>> {
    let mut query = products::table
        .filter(crate::catalog::model::on_sale(today))
        .select(ProductRow::as_select())
        .order(products::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(products::id.gt(after.to_owned()));
    }
    let rows: Vec<ProductRow> = query.load(conn)?;
    let look = lookups(conn, &rows, today)?;
    Ok(rows.into_iter().map(|r| build(r, &look, analyzer)).collect())
}
