//! Where a region sits in the tree: its province, prefecture and county, which reports roll
//! up to. A region's path and level never change once it exists, so they are cached per process.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::regions;
use crate::error::{AppError, AppResult};

/// A region placed in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub code: String,
    pub path: String,
    pub level: String,
    pub province: String,
    /// The prefecture-level ancestor, or the province where there is none.
    pub prefecture: String,
    /// The county-level ancestor; for a unit right below a prefecture (a corps regiment) the unit
    /// itself; else the prefecture.
    pub county: String,
}

fn cache() -> &'static RwLock<HashMap<String, (String, String)>> {
    static CACHE: OnceLock<RwLock<HashMap<String, (String, String)>>> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(HashMap::new()))
}

/// (path, level) of each code, from the cache or the database.
fn facts(conn: &mut DbConn, codes: &[&str]) -> AppResult<HashMap<String, (String, String)>> {
    let mut found = HashMap::new();
    let mut missing: Vec<String> = Vec::new();
    {
        let cached = cache().read().unwrap_or_else(|p| p.into_inner());
        for code in codes {
            match cached.get(*code) {
                Some(f) => {
                    found.insert((*code).to_owned(), f.clone());
                }
                None => missing.push((*code).to_owned()),
            }
        }
    }
    if !missing.is_empty() {
        let rows: Vec<(String, String, String)> = regions::table
            .filter(regions::code.eq_any(&missing))
            .select((regions::code, regions::path, regions::level))
            .load(conn)?;
        let mut cached = cache().write().unwrap_or_else(|p| p.into_inner());
        for (code, path, level) in rows {
            cached.insert(code.clone(), (path.clone(), level.clone()));
            found.insert(code, (path, level));
        }
    }
    Ok(found)
}

fn ancestors(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

/// Places regions in the tree (each and its ancestors looked up once).
pub fn place(conn: &mut DbConn, codes: &[&str]) -> AppResult<HashMap<String, Placed>> {
    let own = facts(conn, codes)?;
    let mut chain: Vec<&str> = own.values().flat_map(|(path, _)| ancestors(path)).collect();
    chain.sort_unstable();
    chain.dedup();
    let all = facts(conn, &chain)?;
    let mut out = HashMap::new();
    for code in codes {
        let (path, level) = own.get(*code).ok_or_else(|| AppError::not_found("region"))?;
        let chain = ancestors(path);
        let level_of = |c: &str| all.get(c).map(|(_, l)| l.as_str()).unwrap_or("");
        let province = chain.first().copied().unwrap_or(code).to_owned();
        let prefecture = chain.iter().find(|c| level_of(c) == "prefecture").map(|c| (*c).to_owned());
        let county = match chain.iter().position(|c| level_of(c) == "county") {
            Some(i) => chain[i].to_owned(),
            None => match chain.iter().position(|c| level_of(c) == "prefecture") {
                Some(i) => chain.get(i + 1).copied().unwrap_or(chain[i]).to_owned(),
                None => chain.last().copied().unwrap_or(code).to_owned(),
            },
        };
        out.insert(
            (*code).to_owned(),
            Placed {
                code: (*code).to_owned(),
                path: path.clone(),
                level: level.clone(),
                prefecture: prefecture.unwrap_or_else(|| province.clone()),
                province,
                county,
            },
        );
    }
    Ok(out)
}

pub fn place_one(conn: &mut DbConn, code: &str) -> AppResult<Placed> {
    place(conn, &[code])?.remove(code).ok_or_else(|| AppError::not_found("region"))
}
