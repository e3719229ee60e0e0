//! Who acts: the signed-in user with their organisation (`Actor`), and who caused a recorded
//! change (`Who`: a user, or the system). Every domain takes these; they import only
//! identity's rows and types.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{OrgRow, UserRecord};
use super::types::{OrgKind, Role};
use crate::db::DbConn;
use crate::db::schema::{organizations, regions, sessions, users};
use crate::error::AppResult;

/// The signed-in user, their organisation and its place in the region tree.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub org: OrgRow,
    pub org_kind: OrgKind,
    /// Path of the organisation's region (`520000/522300/`), for containment by prefix.
    pub region_path: String,
    pub token_hash: String,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
    pub fn is_platform_admin(&self) -> bool {
        self.org_kind == OrgKind::Platform && self.is_admin()
    }
    pub fn is_coordinator_admin(&self) -> bool {
        self.org_kind == OrgKind::Coordinator && self.is_admin()
    }
    /// True when the region with `path` lies inside (or is) this actor's organisation's region.
    pub fn region_contains(&self, path: &str) -> bool {
        path.starts_with(&self.region_path)
    }
    /// True when `org` is this actor's organisation or one under it.
    pub fn org_contains(&self, org: &OrgRow) -> bool {
        org.path.starts_with(&self.org.path)
    }
}

/// Who caused an event: a signed-in user, or the system (a webhook, the worker).
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub user_id: Option<String>,
    pub org_id: Option<String>,
}

impl Who {
    pub fn of(actor: &Actor) -> Who {
        Who { user_id: Some(actor.user_id.clone()), org_id: Some(actor.org.id.clone()) }
    }
    pub fn system() -> Who {
        Who::default()
    }
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
