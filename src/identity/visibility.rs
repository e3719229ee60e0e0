//! The organisations an actor may see, as one SQL condition applied in every query that lists or
//! finds organisations: objects outside it are simply not found.

use diesel::dsl::InnerJoinQuerySource;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::actor::Actor;
use super::model::OrgRow;
use super::types::OrgKind;
use crate::db::schema::{organizations, regions};
use crate::db::{DbConn, MultiBackend, prefix_pattern};
use crate::error::AppResult;

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
