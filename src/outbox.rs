//! The outbox: a request's transaction records each side effect (index this product, send this
//! mail) as a row; the worker performs it later, retrying, so a crash never loses one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::outbox;
use crate::error::AppResult;
use crate::ids::new_id;

/// Reindex (or remove from the index) the product named in the payload.
pub const SEARCH_PRODUCT: &str = "search.product";

pub fn enqueue(conn: &mut DbConn, topic: &str, payload: &serde_json::Value, now: NaiveDateTime) -> AppResult<()> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(new_id("obx")),
            outbox::topic.eq(topic),
            outbox::payload.eq(payload.to_string()),
            outbox::created_at.eq(now),
            outbox::available_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Pending rows of a topic, oldest first: (id, payload).
pub fn pending(conn: &mut DbConn, topic: &str) -> AppResult<Vec<(String, String)>> {
    Ok(outbox::table
        .filter(outbox::topic.eq(topic))
        .filter(outbox::done_at.is_null())
        .order(outbox::id.asc())
        .select((outbox::id, outbox::payload))
        .load(conn)?)
}

/// The rows' effects happened: they are done.
pub fn mark_done(conn: &mut DbConn, ids: &[String], now: NaiveDateTime) -> AppResult<()> {
    diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
        .set((
            outbox::done_at.eq(now),
            outbox::locked_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Puts failed rows back with exponential backoff (1 s, 2 s, 4 s … capped at 5 minutes).
pub fn mark_failed(conn: &mut DbConn, ids: &[String], error: &str, now: NaiveDateTime) -> AppResult<()> {
    for id in ids {
        let attempts: i32 = outbox::table.find(id).select(outbox::attempts).first(conn)?;
        let delay = 1i64 << attempts.clamp(0, 9);
        diesel::update(outbox::table.find(id))
            .set((
                outbox::available_at.eq(now + chrono::Duration::seconds(delay.min(300))),
                outbox::locked_until.eq(None::<NaiveDateTime>),
                outbox::last_error.eq(Some(error.chars().take(1000).collect::<String>())),
            ))
            .execute(conn)?;
    }
    Ok(())
}
