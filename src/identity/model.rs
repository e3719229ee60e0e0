use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::types::OrgKind;
use crate::db::DbConn;
use crate::db::schema::{login_failures, organizations, regions, sessions, users};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub region_code: String,
    pub parent_id: Option<String>,
    pub path: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
}

/// A user without the password hash: what views are built from.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRecord {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub created_at: NaiveDateTime,
}

pub fn find_org(conn: &mut DbConn, id: &str) -> AppResult<Option<(OrgRow, String)>> {
    Ok(organizations::table
        .inner_join(regions::table)
        .filter(organizations::id.eq(id))
        .select((OrgRow::as_select(), regions::path))
        .first(conn)
        .optional()?)
}

/// Names of organisations by id, for views that show who is who.
pub fn org_names(conn: &mut DbConn, ids: &[String]) -> AppResult<std::collections::HashMap<String, String>> {
    Ok(organizations::table
        .filter(organizations::id.eq_any(ids))
        .select((organizations::id, organizations::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

pub fn find_orgs(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<OrgRow>> {
    Ok(organizations::table.filter(organizations::id.eq_any(ids)).select(OrgRow::as_select()).load(conn)?)
}

/// Names of users by id.
pub fn user_names(conn: &mut DbConn, ids: &[String]) -> AppResult<std::collections::HashMap<String, String>> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

pub fn insert_org(conn: &mut DbConn, row: &OrgRow) -> AppResult<()> {
    diesel::insert_into(organizations::table).values(row).execute(conn)?;
    Ok(())
}

/// The path of the region with `code` (`520000/522300/`), if there is one: where an
/// organisation sits decides who may administer it and what it sees.
pub fn region_path(conn: &mut DbConn, code: &str) -> AppResult<Option<String>> {
    Ok(regions::table.find(code).select(regions::path).first(conn).optional()?)
}

pub fn find_user_by_email(conn: &mut DbConn, email: &str) -> AppResult<Option<UserRow>> {
    Ok(users::table.filter(users::email.eq(email)).select(UserRow::as_select()).first(conn).optional()?)
}

pub fn email_exists(conn: &mut DbConn, email: &str) -> AppResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(users::table.filter(users::email.eq(email)))).get_result(conn)?)
}

pub fn insert_user(conn: &mut DbConn, row: &UserRow) -> AppResult<()> {
    diesel::insert_into(users::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_user_record(conn: &mut DbConn, id: &str) -> AppResult<Option<UserRecord>> {
    Ok(users::table.find(id).select(UserRecord::as_select()).first(conn).optional()?)
}

pub fn users_of_org(conn: &mut DbConn, org_id: &str, after: Option<&str>, limit: i64) -> AppResult<Vec<UserRecord>> {
    let mut query = users::table
        .filter(users::org_id.eq(org_id))
        .select(UserRecord::as_select())
        .order(users::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}

pub fn insert_session(
    conn: &mut DbConn,
    token_hash: &str,
    user_id: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> AppResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(token_hash),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn delete_session(conn: &mut DbConn, token_hash: &str) -> AppResult<usize> {
    Ok(diesel::delete(sessions::table.find(token_hash)).execute(conn)?)
}

/// Drops sessions that expired before `now`; returns how many.
pub fn delete_expired_sessions(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<usize> {
    Ok(diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?)
}

pub fn count_recent_failures(conn: &mut DbConn, email: &str, since: NaiveDateTime) -> AppResult<i64> {
    Ok(login_failures::table
        .filter(login_failures::email.eq(email))
        .filter(login_failures::failed_at.gt(since))
        .count()
        .get_result(conn)?)
}

pub fn oldest_recent_failure(conn: &mut DbConn, email: &str, since: NaiveDateTime) -> AppResult<Option<NaiveDateTime>> {
    Ok(login_failures::table
        .filter(login_failures::email.eq(email))
        .filter(login_failures::failed_at.gt(since))
        .select(login_failures::failed_at)
        .order(login_failures::failed_at.asc())
        .first(conn)
        .optional()?)
}

/// Records a failed login and forgets this email's failures older than the window.
pub fn record_failure(
    conn: &mut DbConn,
    id: &str,
    email: &str,
    now: NaiveDateTime,
    window_start: NaiveDateTime,
) -> AppResult<()> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::email.eq(email))
            .filter(login_failures::failed_at.le(window_start)),
    )
    .execute(conn)?;
    diesel::insert_into(login_failures::table)
        .values((login_failures::id.eq(id), login_failures::email.eq(email), login_failures::failed_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn any_non_platform_org(conn: &mut DbConn) -> AppResult<bool> {
    Ok(organizations::table
        .filter(organizations::kind.ne(OrgKind::Platform.as_str()))
        .select(organizations::id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}
