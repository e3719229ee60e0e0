//! Who may do what. Every handler names its requirement through one of these functions;
//! object visibility is applied in queries (see `visibility::visible_orgs`).

use super::actor::Actor;
use super::model::OrgRow;
use super::types::OrgKind;
use crate::error::{AppError, AppResult};

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
