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
