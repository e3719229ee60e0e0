//! The accounting audit trail: every change to a pairing, target, filing or period, with who
//! made it and when (`GET /accounting-events`).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::utc;
use crate::db::DbConn;
use crate::db::schema::accounting_events as ev;
use crate::error::AppResult;
use crate::identity::Who;
use crate::ids::new_id;

#[allow(clippy::too_many_arguments)]
pub fn record(
    conn: &mut DbConn,
    subject_kind: &str,
    subject_id: &str,
    action: &str,
    who: &Who,
    details: serde_json::Value,
    at: NaiveDateTime,
) -> AppResult<()> {
    diesel::insert_into(ev::table)
        .values((
            ev::id.eq(new_id("aev")),
            ev::subject_kind.eq(subject_kind),
            ev::subject_id.eq(subject_id),
            ev::action.eq(action),
            ev::actor_user_id.eq(&who.user_id),
            ev::actor_org_id.eq(&who.org_id),
            ev::details.eq(details.to_string()),
            ev::at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    /// `pairing`, `target`, `filing` or `period`.
    pub subject_kind: String,
    pub subject_id: String,
    pub action: String,
    pub actor_user_id: Option<String>,
    pub actor_org_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

pub fn history(conn: &mut DbConn, subject_kind: &str, subject_id: &str) -> AppResult<Vec<AuditView>> {
    type Row = (String, String, String, String, Option<String>, Option<String>, String, NaiveDateTime);
    let rows: Vec<Row> = ev::table
        .filter(ev::subject_kind.eq(subject_kind))
        .filter(ev::subject_id.eq(subject_id))
        .order(ev::id.asc())
        .select((
            ev::id,
            ev::subject_kind,
            ev::subject_id,
            ev::action,
            ev::actor_user_id,
            ev::actor_org_id,
            ev::details,
            ev::at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, subject_kind, subject_id, action, actor_user_id, actor_org_id, details, at)| AuditView {
            id,
            subject_kind,
            subject_id,
            action,
            actor_user_id,
            actor_org_id,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
            at: utc(at),
        })
        .collect())
}
