//! What a target or a report is about — a scope — and who may see or manage it.
//!
//! `recipient` (a region code: sales of goods from inside it), `donor` (a region code: purchases
//! by organisations located inside it), `org` (an organisation id: its purchases and those of
//! organisations under it), `pairing` (a pairing id), `producer` (an organisation id: its sales).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::pairings::{self, PairingRow};
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::identity::Actor;
use crate::identity::model::{OrgRow, find_org};
use crate::identity::types::OrgKind;
use crate::identity::visibility::{OrgFilter, visible_orgs};
use crate::regions::levels::{Placed, place_one};
use crate::validate::not_one_of;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    Recipient,
    Donor,
    Org,
    Pairing,
    Producer,
}

impl ScopeKind {
    pub const ALL: [&'static str; 5] = ["recipient", "donor", "org", "pairing", "producer"];

    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Recipient => "recipient",
            ScopeKind::Donor => "donor",
            ScopeKind::Org => "org",
            ScopeKind::Pairing => "pairing",
            ScopeKind::Producer => "producer",
        }
    }
    pub fn parse(s: &str) -> Option<ScopeKind> {
        Some(match s {
            "recipient" => ScopeKind::Recipient,
            "donor" => ScopeKind::Donor,
            "org" => ScopeKind::Org,
            "pairing" => ScopeKind::Pairing,
            "producer" => ScopeKind::Producer,
            _ => return None,
        })
    }
    /// How a report names the scope's kind, in Chinese.
    pub fn label(self) -> &'static str {
        match self {
            ScopeKind::Recipient => "受援地区",
            ScopeKind::Donor => "帮扶地区",
            ScopeKind::Org => "采购单位",
            ScopeKind::Pairing => "结对关系",
            ScopeKind::Producer => "供应商",
        }
    }
}

/// A scope that exists, with what its rules need.
#[derive(Debug, Clone)]
pub enum Scope {
    Recipient(Placed),
    Donor(Placed),
    Org { org: OrgRow, region_path: String },
    Pairing { row: PairingRow, donor_region_path: String },
    Producer { org: OrgRow, region_path: String },
}

impl Scope {
    pub fn kind(&self) -> ScopeKind {
        match self {
            Scope::Recipient(_) => ScopeKind::Recipient,
            Scope::Donor(_) => ScopeKind::Donor,
            Scope::Org { .. } => ScopeKind::Org,
            Scope::Pairing { .. } => ScopeKind::Pairing,
            Scope::Producer { .. } => ScopeKind::Producer,
        }
    }
    pub fn id(&self) -> &str {
        match self {
            Scope::Recipient(p) | Scope::Donor(p) => &p.code,
            Scope::Org { org, .. } | Scope::Producer { org, .. } => &org.id,
            Scope::Pairing { row, .. } => &row.id,
        }
    }
}

/// The scope `kind`/`id`; 404 when there is no such region, organisation or pairing.
pub fn resolve(conn: &mut DbConn, kind: ScopeKind, id: &str) -> AppResult<Scope> {
    Ok(match kind {
        ScopeKind::Recipient => Scope::Recipient(place_one(conn, id).map_err(|_| AppError::not_found("region"))?),
        ScopeKind::Donor => Scope::Donor(place_one(conn, id).map_err(|_| AppError::not_found("region"))?),
        ScopeKind::Org => {
            let (org, region_path) = find_org(conn, id)?.ok_or_else(|| AppError::not_found("organization"))?;
            Scope::Org { org, region_path }
        }
        ScopeKind::Producer => {
            let (org, region_path) = find_org(conn, id)?
                .filter(|(o, _)| o.kind == OrgKind::Producer.as_str())
                .ok_or_else(|| AppError::not_found("producer"))?;
            Scope::Producer { org, region_path }
        }
        ScopeKind::Pairing => {
            let row = pairings::find(conn, id)?;
            let donor_region_path = pairings::donor_region_path(conn, &row)?;
            Scope::Pairing { row, donor_region_path }
        }
    })
}

/// Coordinators see scopes inside their region (either side of a pairing), and organisations
/// under them; agency admins their own organisation and those under it; producers their own
/// sales; the platform everything.
pub fn may_see(actor: &Actor, scope: &Scope) -> bool {
    match actor.org_kind {
        OrgKind::Platform => true,
        OrgKind::Coordinator => match scope {
            Scope::Recipient(p) | Scope::Donor(p) => actor.region_contains(&p.path),
            Scope::Org { org, region_path } => {
                actor.region_contains(region_path) || org.path.starts_with(&actor.org.path)
            }
            Scope::Producer { region_path, .. } => actor.region_contains(region_path),
            Scope::Pairing { row, donor_region_path } => {
                actor.region_contains(&row.recipient_path) || actor.region_contains(donor_region_path)
            }
        },
        OrgKind::Agency => {
            actor.is_admin() && matches!(scope, Scope::Org { org, .. } if org.path.starts_with(&actor.org.path))
        }
        OrgKind::Producer => matches!(scope, Scope::Producer { org, .. } if org.path.starts_with(&actor.org.path)),
    }
}

/// Who sets targets: the platform admin; coordinator admins for scopes they see; the admin of
/// a supervising organisation for the organisations under it (not its own).
pub fn may_manage(actor: &Actor, scope: &Scope) -> bool {
    if actor.is_platform_admin() {
        return true;
    }
    if !actor.is_admin() {
        return false;
    }
    match actor.org_kind {
        OrgKind::Coordinator => may_see(actor, scope),
        OrgKind::Agency => {
            matches!(scope, Scope::Org { org, .. } if org.path.starts_with(&actor.org.path) && org.id != actor.org.id)
        }
        _ => false,
    }
}

/// 404 for an organisation the caller may not even know of; 403 for a scope it sees but may not read.
pub fn authorize(conn: &mut DbConn, actor: &Actor, scope: &Scope) -> AppResult<()> {
    if let Scope::Org { org, .. } | Scope::Producer { org, .. } = scope {
        let filter = OrgFilter { id: Some(org.id.clone()), ..Default::default() };
        if visible_orgs(conn, actor, filter, 1)?.is_empty() {
            return Err(AppError::not_found("organization"));
        }
    }
    if may_see(actor, scope) {
        Ok(())
    } else {
        Err(AppError::forbidden(format!("the figures of this {} scope are not yours to see", scope.kind().as_str())))
    }
}

/// A calendar year the API accepts.
pub fn check_year(year: i32, field: &str) -> AppResult<i32> {
    if (2000..=2100).contains(&year) {
        Ok(year)
    } else {
        Err(AppError::invalid_field("validation_failed", field, "must be a year from 2000 to 2100"))
    }
}

/// Parses `scope_kind`, 422 otherwise.
pub fn parse_kind(raw: &str, field: &str) -> AppResult<ScopeKind> {
    ScopeKind::parse(raw).ok_or_else(|| not_one_of(field, &ScopeKind::ALL))
}
