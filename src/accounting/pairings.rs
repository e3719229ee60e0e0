//! Pairings (结对): a donor — a region, or one organisation — assigned to a recipient region for a
//! span of days. Pairings are never deleted: ending one sets `valid_to`, so history stays (the
//! 2021 handover of 黔西南州 from 宁波 to 惠州). An order counts to the pairing in force when it
//! was counted, fixed on its ledger entry.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit;
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::schema::pairings as p;
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult, Violations};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::Who;
use crate::identity::model::find_org;
use crate::ids::new_id;
use crate::regions;
use crate::validate::optional_text;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = p)]
pub struct PairingRow {
    pub id: String,
    pub donor_region_code: Option<String>,
    pub donor_org_id: Option<String>,
    pub donor_path: String,
    pub recipient_region_code: String,
    pub recipient_path: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub note: Option<String>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl PairingRow {
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.valid_from <= day && self.valid_to.is_none_or(|to| day <= to)
    }
    fn overlaps(&self, from: NaiveDate, to: Option<NaiveDate>) -> bool {
        let ends_after_start = self.valid_to.is_none_or(|mine| mine >= from);
        let starts_before_end = to.is_none_or(|theirs| self.valid_from <= theirs);
        ends_after_start && starts_before_end
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PairingView {
    pub id: String,
    pub donor_region_code: Option<String>,
    pub donor_org_id: Option<String>,
    /// The donor's name (region or organisation).
    pub donor_name: String,
    pub recipient_region_code: String,
    pub recipient_name: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn view(conn: &mut DbConn, row: PairingRow) -> AppResult<PairingView> {
    let donor_name = match (&row.donor_region_code, &row.donor_org_id) {
        (Some(code), _) => regions::service::get(conn, code)?.full_name,
        (_, Some(org)) => find_org(conn, org)?.map(|(o, _)| o.name).unwrap_or_default(),
        _ => String::new(),
    };
    Ok(PairingView {
        recipient_name: regions::service::get(conn, &row.recipient_region_code)?.full_name,
        donor_name,
        id: row.id,
        donor_region_code: row.donor_region_code,
        donor_org_id: row.donor_org_id,
        recipient_region_code: row.recipient_region_code,
        valid_from: row.valid_from,
        valid_to: row.valid_to,
        note: row.note,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPairingBody {
    /// The donor region (a city, a district …); or give `donor_org_id`.
    #[schema(pattern = r"^[0-9]{6}$")]
    pub donor_region_code: Option<String>,
    /// One donor organisation (a firm, a bureau) instead of a region.
    pub donor_org_id: Option<String>,
    /// An assisted region: a county, a prefecture, or a unit below a county.
    #[schema(pattern = r"^[0-9]{6}$")]
    pub recipient_region_code: String,
    pub valid_from: NaiveDate,
    /// The last day in force; open-ended when absent.
    pub valid_to: Option<NaiveDate>,
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchPairingBody {
    /// End (or extend) the pairing; `null` makes it open-ended.
    #[serde(default, deserialize_with = "crate::validate::double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub valid_to: Option<Option<NaiveDate>>,
    pub note: Option<String>,
}

fn pairing_overlap(other: &PairingRow) -> AppError {
    AppError::conflict(
        "pairing_overlap",
        format!(
            "this donor and recipient are already paired from {} to {} ({})",
            other.valid_from,
            other.valid_to.map(|d| d.to_string()).unwrap_or_else(|| "open end".into()),
            other.id
        ),
    )
    .with("pairing_id", other.id.clone())
}

/// Pairings of the same donor and recipient: the ones a new span must not overlap.
fn same_pair(conn: &mut DbConn, row: &PairingRow) -> AppResult<Vec<PairingRow>> {
    let mut query = p::table
        .filter(p::recipient_region_code.eq(row.recipient_region_code.clone()))
        .filter(p::id.ne(row.id.clone()))
        .select(PairingRow::as_select())
        .into_boxed();
    query = match (&row.donor_region_code, &row.donor_org_id) {
        (Some(code), _) => query.filter(p::donor_region_code.eq(code.clone())),
        (_, Some(org)) => query.filter(p::donor_org_id.eq(org.clone())),
        _ => query,
    };
    Ok(query.load(conn)?)
}

fn check_overlap(conn: &mut DbConn, row: &PairingRow) -> AppResult<()> {
    // One recipient's pairings change one at a time (two racing requests could each see no overlap).
    db::xact_lock(conn, &format!("pairing:{}", row.recipient_region_code), false)?;
    match same_pair(conn, row)?.into_iter().find(|o| o.overlaps(row.valid_from, row.valid_to)) {
        Some(other) => Err(pairing_overlap(&other)),
        None => Ok(()),
    }
}

/// Platform admins anywhere; coordinator admins when either side lies in their region.
fn require_pairing_admin(actor: &Actor, donor_region_path: &str, recipient_path: &str) -> AppResult<()> {
    if actor.is_platform_admin()
        || (actor.is_coordinator_admin()
            && (actor.region_contains(donor_region_path) || actor.region_contains(recipient_path)))
    {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only the platform admin, or a coordinator admin on either side of the pairing, manages it",
        ))
    }
}

pub fn create(conn: &mut DbConn, actor: &Actor, body: NewPairingBody, ctx: &Ctx) -> AppResult<PairingView> {
    let mut v = Violations::new();
    if body.donor_region_code.is_some() == body.donor_org_id.is_some() {
        v.add("donor_region_code", "give exactly one of donor_region_code and donor_org_id");
    }
    if let Some(to) = body.valid_to {
        v.check(to >= body.valid_from, "valid_to", "must not be before valid_from");
    }
    let note = optional_text(&mut v, "note", body.note, 500);
    v.finish("validation_failed")?;
    let recipient = regions::service::get(conn, &body.recipient_region_code)
        .map_err(|_| AppError::invalid_field("unknown_region", "recipient_region_code", "no such region"))?;
    if !recipient.assisted {
        return Err(AppError::invalid_field(
            "validation_failed",
            "recipient_region_code",
            format!("{} is not an assisted region", recipient.full_name),
        ));
    }
    let recipient_path = regions::path_of(conn, &recipient.code)?.unwrap_or_default();
    let (donor_path, donor_region_path) = match (&body.donor_region_code, &body.donor_org_id) {
        (Some(code), _) => {
            let path = regions::path_of(conn, code)?
                .ok_or_else(|| AppError::invalid_field("unknown_region", "donor_region_code", "no such region"))?;
            (path.clone(), path)
        }
        (_, Some(org)) => {
            let (org, region_path) = find_org(conn, org)?
                .ok_or_else(|| AppError::invalid_field("validation_failed", "donor_org_id", "no such organisation"))?;
            (org.path, region_path)
        }
        _ => return Err(AppError::unprocessable("validation_failed", "no donor")),
    };
    if donor_region_path.starts_with(&recipient_path) || recipient_path.starts_with(&donor_region_path) {
        return Err(AppError::invalid_field(
            "validation_failed",
            "recipient_region_code",
            "the donor and the recipient must be different places, neither inside the other",
        ));
    }
    require_pairing_admin(actor, &donor_region_path, &recipient_path)?;
    let row = PairingRow {
        id: new_id("pai"),
        donor_region_code: body.donor_region_code,
        donor_org_id: body.donor_org_id,
        donor_path,
        recipient_region_code: recipient.code,
        recipient_path,
        valid_from: body.valid_from,
        valid_to: body.valid_to,
        note,
        created_by: Some(actor.user_id.clone()),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    check_overlap(conn, &row)?;
    diesel::insert_into(p::table).values(&row).execute(conn)?;
    let details = json!({"donor_region_code": row.donor_region_code, "donor_org_id": row.donor_org_id,
        "recipient_region_code": row.recipient_region_code, "valid_from": row.valid_from, "valid_to": row.valid_to});
    audit::record(conn, "pairing", &row.id, "created", &Who::of(actor), details, ctx.now)?;
    view(conn, row)
}

pub fn find(conn: &mut DbConn, id: &str) -> AppResult<PairingRow> {
    p::table
        .find(id)
        .select(PairingRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("pairing"))
}

/// The donor side's region path (the organisation's region for an organisation donor).
pub fn donor_region_path(conn: &mut DbConn, row: &PairingRow) -> AppResult<String> {
    match (&row.donor_region_code, &row.donor_org_id) {
        (Some(_), _) => Ok(row.donor_path.clone()),
        (_, Some(org)) => Ok(find_org(conn, org)?.map(|(_, path)| path).unwrap_or_default()),
        _ => Ok(String::new()),
    }
}

pub fn update(conn: &mut DbConn, actor: &Actor, id: &str, body: PatchPairingBody, ctx: &Ctx) -> AppResult<PairingView> {
    let mut row = find(conn, id)?;
    let donor_region = donor_region_path(conn, &row)?;
    require_pairing_admin(actor, &donor_region, &row.recipient_path)?;
    let mut v = Violations::new();
    let note = optional_text(&mut v, "note", body.note, 500);
    if let Some(Some(to)) = body.valid_to {
        v.check(to >= row.valid_from, "valid_to", "must not be before valid_from");
    }
    v.finish("validation_failed")?;
    let before = json!({"valid_to": row.valid_to, "note": row.note});
    if let Some(to) = body.valid_to {
        row.valid_to = to;
    }
    if note.is_some() {
        row.note = note;
    }
    row.updated_at = ctx.now;
    check_overlap(conn, &row)?;
    diesel::update(p::table.find(&row.id))
        .set((p::valid_to.eq(row.valid_to), p::note.eq(&row.note), p::updated_at.eq(ctx.now)))
        .execute(conn)?;
    let details = json!({"before": before, "after": {"valid_to": row.valid_to, "note": row.note}});
    audit::record(conn, "pairing", &row.id, "changed", &Who::of(actor), details, ctx.now)?;
    view(conn, row)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PairingQuery {
    /// A region code: pairings whose recipient lies in it or contains it.
    pub recipient: Option<String>,
    /// A region code (pairings whose donor region lies in it or contains it) or an organisation id.
    pub donor: Option<String>,
    /// Only pairings in force on this day.
    pub on: Option<NaiveDate>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(PairingQuery);

/// Pairings are public facts (announced by the governments that make them): every signed-in user may list them.
pub fn list(conn: &mut DbConn, q: PairingQuery, page: &PageRequest) -> AppResult<Page<PairingView>> {
    let mut query = p::table.select(PairingRow::as_select()).order(p::id.asc()).limit(page.limit + 1).into_boxed();
    if let Some(code) = &q.recipient {
        let path = regions::path_of(conn, code)?
            .ok_or_else(|| AppError::invalid_field("unknown_region", "recipient", "no such region"))?;
        query = query.filter(
            p::recipient_region_code
                .eq_any(chain(&path))
                .or(p::recipient_path.like(db::prefix_pattern(&path)).escape('\\')),
        );
    }
    if let Some(donor) = &q.donor {
        match regions::path_of(conn, donor)? {
            Some(path) => {
                query = query.filter(p::donor_region_code.eq_any(chain(&path)).or(
                    p::donor_region_code.is_not_null().and(p::donor_path.like(db::prefix_pattern(&path)).escape('\\')),
                ))
            }
            None => query = query.filter(p::donor_org_id.eq(donor.clone())),
        }
    }
    if let Some(day) = q.on {
        query = query.filter(p::valid_from.le(day)).filter(p::valid_to.is_null().or(p::valid_to.ge(day)));
    }
    if let Some(after) = &page.after {
        query = query.filter(p::id.gt(after.clone()));
    }
    let rows: Vec<PairingRow> = query.load(conn)?;
    let page = Page::from_rows(rows, page, |r| r.id.clone(), |r| r);
    Ok(Page {
        items: page.items.into_iter().map(|r| view(conn, r)).collect::<AppResult<_>>()?,
        next_cursor: page.next_cursor,
    })
}

pub fn get(conn: &mut DbConn, id: &str) -> AppResult<PairingView> {
    let row = find(conn, id)?;
    view(conn, row)
}

/// Of the pairings in force for a sale (see `ledger::count_sub_order`, which finds them beside the
/// order's lines), the one it counts to: the most specific match — an organisation pairing before
/// a region pairing, a smaller donor before a larger, then a smaller recipient, then the latest.
pub fn most_specific(candidates: impl IntoIterator<Item = Candidate>) -> Option<String> {
    candidates
        .into_iter()
        .max_by_key(|(_, donor_org_id, donor_path, recipient_path, valid_from)| {
            (donor_org_id.is_some(), donor_path.len(), recipient_path.len(), *valid_from)
        })
        .map(|c| c.0)
}

/// What `most_specific` weighs of a pairing: id, donor organisation, donor path, recipient path,
/// first day.
pub type Candidate = (String, Option<String>, String, String, NaiveDate);

/// The codes of a `/`-joined path, root first: a region or an organisation and its ancestors.
pub fn chain(path: &str) -> Vec<String> {
    path.split('/').filter(|c| !c.is_empty()).map(str::to_owned).collect()
}
