use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::regions;
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = regions)]
pub struct RegionRow {
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent_code: Option<String>,
    pub path: String,
    pub assisted_mark: bool,
    pub national: bool,
    pub created_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConn, code: &str) -> AppResult<Option<RegionRow>> {
    Ok(regions::table.find(code).select(RegionRow::as_select()).first(conn).optional()?)
}

pub fn find_many(conn: &mut DbConn, codes: &[&str]) -> AppResult<Vec<RegionRow>> {
    Ok(regions::table.filter(regions::code.eq_any(codes)).select(RegionRow::as_select()).load(conn)?)
}

/// Children of `parent` (provinces when `None`), in code order, after the cursor.
pub fn children(conn: &mut DbConn, parent: Option<&str>, after: Option<&str>, limit: i64) -> AppResult<Vec<RegionRow>> {
    let mut query = regions::table.select(RegionRow::as_select()).order(regions::code.asc()).limit(limit).into_boxed();
    query = match parent {
        Some(p) => query.filter(regions::parent_code.eq(p.to_owned())),
        None => query.filter(regions::parent_code.is_null()),
    };
    if let Some(after) = after {
        query = query.filter(regions::code.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}

pub fn all_codes(conn: &mut DbConn) -> AppResult<Vec<(String, String)>> {
    Ok(regions::table.select((regions::code, regions::name)).load(conn)?)
}

pub fn insert_many(conn: &mut DbConn, rows: &[RegionRow]) -> AppResult<usize> {
    let mut inserted = 0;
    for chunk in rows.chunks(500) {
        inserted += crate::insert_batch!(conn, regions::table, chunk)?;
    }
    Ok(inserted)
}

pub fn rename(conn: &mut DbConn, code: &str, name: &str) -> AppResult<()> {
    diesel::update(regions::table.find(code)).set(regions::name.eq(name)).execute(conn)?;
    Ok(())
}

pub fn set_assisted_mark(conn: &mut DbConn, code: &str, mark: bool) -> AppResult<usize> {
    Ok(diesel::update(regions::table.find(code)).set(regions::assisted_mark.eq(mark)).execute(conn)?)
}
