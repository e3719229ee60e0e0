use chrono::NaiveDateTime;
use diesel::dsl::InnerJoinQuerySource;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::policy::Actor;
use super::types::{OrgKind, Role};
use crate::db::schema::{login_failures, organizations, regions, sessions, users};
use crate::db::{DbConn, MultiBackend, prefix_pattern};
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

type OrgSource = InnerJoinQuerySource<organizations::table, regions::table>;
type Condition = Box<dyn BoxableExpression<OrgSource, MultiBackend, SqlType = Bool>>;

/// The organisations `actor` may see, as one SQL condition: its own subtree and the chain
/// above it, every producer (sellers are public), and for coordinators everything in their region.
fn visible_condition(actor: &Actor) -> Option<Condition> {
    if actor.org_kind == OrgKind::Platform {
        return None;
    }
    let ancestors: Vec<String> = actor.org.path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let mut cond: Condition = Box::new(
        organizations::path
            .like(prefix_pattern(&actor.org.path))
            .escape('\\')
            .or(organizations::id.eq_any(ancestors))
            .or(organizations::kind.eq(OrgKind::Producer.as_str())),
    );
    if actor.org_kind == OrgKind::Coordinator {
        cond = Box::new(cond.or(regions::path.like(prefix_pattern(&actor.region_path)).escape('\\')));
    }
    Some(cond)
}

#[derive(Debug, Default)]
pub struct OrgFilter {
    pub id: Option<String>,
    pub kind: Option<OrgKind>,
    /// Only organisations whose region lies inside this region path.
    pub region_path: Option<String>,
    pub parent_id: Option<String>,
    pub after_id: Option<String>,
}

/// Organisations visible to `actor` that match `filter`, in id (creation) order, with their region paths.
pub fn visible_orgs(
    conn: &mut DbConn,
    actor: &Actor,
    filter: OrgFilter,
    limit: i64,
) -> AppResult<Vec<(OrgRow, String)>> {
    let mut query = organizations::table
        .inner_join(regions::table)
        .select((OrgRow::as_select(), regions::path))
        .order(organizations::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(cond) = visible_condition(actor) {
        query = query.filter(cond);
    }
    if let Some(id) = filter.id {
        query = query.filter(organizations::id.eq(id));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(organizations::kind.eq(kind.as_str()));
    }
    if let Some(path) = filter.region_path {
        query = query.filter(regions::path.like(prefix_pattern(&path)).escape('\\'));
    }
    if let Some(parent) = filter.parent_id {
        query = query.filter(organizations::parent_id.eq(parent));
    }
    if let Some(after) = filter.after_id {
        query = query.filter(organizations::id.gt(after));
    }
    Ok(query.load(conn)?)
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

/// The actor behind a live session token.
pub fn actor_for_token(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> AppResult<Option<Actor>> {
    let found = sessions::table
        .inner_join(users::table.inner_join(organizations::table.inner_join(regions::table)))
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::expires_at.gt(now))
        .select((UserRecord::as_select(), OrgRow::as_select(), regions::path))
        .first::<(UserRecord, OrgRow, String)>(conn)
        .optional()?;
    found.map(|(user, org, region_path)| actor(user, org, region_path, token_hash)).transpose()
}

/// A user as an actor without a session: for work done on a user's behalf (demo data, the CLI).
pub fn actor_for_user(conn: &mut DbConn, user_id: &str) -> AppResult<Option<Actor>> {
    let found = users::table
        .inner_join(organizations::table.inner_join(regions::table))
        .filter(users::id.eq(user_id))
        .select((UserRecord::as_select(), OrgRow::as_select(), regions::path))
        .first::<(UserRecord, OrgRow, String)>(conn)
        .optional()?;
    found.map(|(user, org, region_path)| actor(user, org, region_path, "")).transpose()
}

fn actor(user: UserRecord, org: OrgRow, region_path: String, token_hash: &str) -> AppResult<Actor> {
    Ok(Actor {
        user_id: user.id,
        email: user.email,
        name: user.name,
        role: Role::parse(&user.role)?,
        org_kind: OrgKind::parse(&org.kind)?,
        org,
        region_path,
        token_hash: token_hash.to_owned(),
    })
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
