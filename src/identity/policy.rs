//! Who may do what. Every handler names its requirement through one of these functions;
//! object visibility is applied in queries (see `model::visible_orgs`).

use super::model::OrgRow;
use super::types::{OrgKind, Role};
use crate::error::{AppError, AppResult};

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

pub fn require_platform_admin(actor: &Actor) -> AppResult<()> {
    if actor.is_platform_admin() {
        Ok(())
    } else {
        Err(AppError::forbidden("only a platform administrator may do this"))
    }
}

/// Platform admins anywhere; coordinator admins inside their region.
pub fn require_region_admin(actor: &Actor, region_path: &str) -> AppResult<()> {
    if actor.is_platform_admin() || (actor.is_coordinator_admin() && actor.region_contains(region_path)) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only a platform administrator, or a coordinator administrator whose region contains it, may do this",
        ))
    }
}

/// Platform admins create any organisation; coordinator admins create agencies and producers inside their region.
pub fn require_org_creation(actor: &Actor, kind: OrgKind, region_path: &str) -> AppResult<()> {
    if actor.is_platform_admin() {
        return Ok(());
    }
    if actor.is_coordinator_admin() && matches!(kind, OrgKind::Agency | OrgKind::Producer) {
        if actor.region_contains(region_path) {
            return Ok(());
        }
        return Err(AppError::forbidden("the organisation's region lies outside your coordinator region"));
    }
    Err(AppError::forbidden(
        "only a platform administrator, or a coordinator administrator for agencies and producers in its region, may create organisations",
    ))
}

/// Platform admins; the organisation's own admins; and the coordinator admins who could have created it.
pub fn require_user_management(actor: &Actor, org: &OrgRow, org_kind: OrgKind, org_region_path: &str) -> AppResult<()> {
    let own_admin = actor.is_admin() && actor.org.id == org.id;
    let coordinator = actor.is_coordinator_admin()
        && matches!(org_kind, OrgKind::Agency | OrgKind::Producer)
        && actor.region_contains(org_region_path);
    if actor.is_platform_admin() || own_admin || coordinator {
        Ok(())
    } else {
        Err(AppError::forbidden("only the organisation's administrators may manage its users"))
    }
}
