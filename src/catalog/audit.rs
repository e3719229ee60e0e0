//! The certification record of a product: its requests as stored, and the audit trail of every
//! step (requested, approved, rejected, revoked, withdrawn, reset), with who took it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{EventRow, RequestRow};
use crate::db::DbConn;
use crate::db::schema::{certification_events, certification_requests};
use crate::error::AppResult;
use crate::identity::Actor;
use crate::ids::new_id;

#[allow(clippy::too_many_arguments)]
pub(super) fn record(
    conn: &mut DbConn,
    product_id: &str,
    request_id: Option<&str>,
    action: &str,
    actor: Option<&Actor>,
    reason: Option<&str>,
    details: serde_json::Value,
    at: NaiveDateTime,
) -> AppResult<()> {
    let row = EventRow {
        id: new_id("cev"),
        product_id: product_id.to_owned(),
        request_id: request_id.map(str::to_owned),
        action: action.to_owned(),
        actor_user_id: actor.map(|a| a.user_id.clone()),
        actor_org_id: actor.map(|a| a.org.id.clone()),
        reason: reason.map(str::to_owned),
        details: details.to_string(),
        at,
    };
    diesel::insert_into(certification_events::table).values(&row).execute(conn)?;
    Ok(())
}

pub(super) fn pending_of(conn: &mut DbConn, product_id: &str) -> AppResult<Option<RequestRow>> {
    Ok(certification_requests::table
        .filter(certification_requests::product_id.eq(product_id))
        .filter(certification_requests::status.eq("pending"))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?)
}

pub(super) fn save_request(conn: &mut DbConn, req: &RequestRow) -> AppResult<()> {
    diesel::update(certification_requests::table.find(&req.id))
        .set((
            certification_requests::status.eq(&req.status),
            certification_requests::decided_by.eq(&req.decided_by),
            certification_requests::decided_at.eq(req.decided_at),
            certification_requests::decision_reason.eq(&req.decision_reason),
            certification_requests::certificate_no.eq(&req.certificate_no),
            certification_requests::valid_until.eq(req.valid_until),
        ))
        .execute(conn)?;
    Ok(())
}
