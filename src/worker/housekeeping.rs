//! Forgetting what is no longer needed: idempotency keys past their retention, expired sessions,
//! outbox rows handled long ago.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::outbox;
use crate::error::AppResult;

/// Handled outbox rows are kept a week, for looking into what happened.
const OUTBOX_RETENTION_DAYS: i64 = 7;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub idempotency_keys: usize,
    pub sessions: usize,
    pub outbox_rows: usize,
}

impl Swept {
    pub fn any(&self) -> bool {
        self != &Swept::default()
    }
}

pub fn sweep(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Swept> {
    let cutoff = now - chrono::Duration::days(OUTBOX_RETENTION_DAYS);
    Ok(Swept {
        idempotency_keys: crate::idempotency::sweep(conn, now)?,
        sessions: crate::identity::model::delete_expired_sessions(conn, now)?,
        outbox_rows: diesel::delete(outbox::table.filter(outbox::done_at.lt(cutoff))).execute(conn)?,
    })
}
