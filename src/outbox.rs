//! The outbox: a request's transaction records each side effect (index this product, send this
//! mail) as a row; the worker performs it later, retrying, so a crash never loses one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::outbox;
use crate::error::AppResult;
use crate::ids::new_id;

/// Writes a row of `topic`. Services queue typed payloads through `worker::enqueue`, which only
/// takes payloads that have a job; this untyped door is for the worker itself and for tests.
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

/// The rows' effects happened: they are done (rows already done keep their time).
pub fn mark_done(conn: &mut DbConn, ids: &[String], now: NaiveDateTime) -> AppResult<()> {
    diesel::update(outbox::table.filter(outbox::id.eq_any(ids)).filter(outbox::done_at.is_null()))
        .set((
            outbox::done_at.eq(now),
            outbox::locked_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Puts failed rows back with exponential backoff (1 s, 2 s, 4 s … capped at 5 minutes), or
/// sets them aside as dead letters once `max_attempts` (the job's) are spent.
pub fn mark_failed(
    conn: &mut DbConn,
    ids: &[String],
    error: &str,
    max_attempts: Option<i32>,
    now: NaiveDateTime,
) -> AppResult<()> {
    for id in ids {
        let (topic, attempts): (String, i32) =
            outbox::table.find(id).select((outbox::topic, outbox::attempts)).first(conn)?;
        let delay = 1i64 << attempts.clamp(0, 9);
        let dead = max_attempts.is_some_and(|max| attempts >= max).then_some(now);
        if dead.is_some() {
            tracing::error!(outbox_id = %id, %topic, attempts, error, "outbox row failed for the last time: dead letter");
        }
        diesel::update(outbox::table.find(id))
            .set((
                outbox::available_at.eq(now + chrono::Duration::seconds(delay.min(300))),
                outbox::locked_until.eq(None::<NaiveDateTime>),
                outbox::last_error.eq(Some(clip(error))),
                outbox::dead_at.eq(dead),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Sets rows aside at once, with the reason: retrying cannot help them (a payload no job can
/// read, a topic no job performs). `dongxi outbox list --failed` shows them.
pub fn dead_letter(conn: &mut DbConn, ids: &[String], error: &str, now: NaiveDateTime) -> AppResult<usize> {
    for id in ids {
        tracing::error!(outbox_id = %id, error, "outbox row set aside: dead letter");
    }
    Ok(diesel::update(outbox::table.filter(outbox::id.eq_any(ids)).filter(outbox::done_at.is_null()))
        .set((
            outbox::dead_at.eq(now),
            outbox::locked_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(clip(error)),
        ))
        .execute(conn)?)
}

/// Pending rows whose topic is none of `known`, oldest first: (id, topic).
pub fn unknown_topics(conn: &mut DbConn, known: &[&str], limit: i64) -> AppResult<Vec<(String, String)>> {
    Ok(outbox::table
        .filter(outbox::done_at.is_null())
        .filter(outbox::dead_at.is_null())
        .filter(outbox::topic.ne_all(known))
        .order(outbox::id.asc())
        .limit(limit)
        .select((outbox::id, outbox::topic))
        .load(conn)?)
}

fn clip(error: &str) -> String {
    error.chars().take(1000).collect()
}

/// An outbox row as an operator sees it.
#[derive(Debug, Clone, Queryable)]
pub struct RowSummary {
    pub id: String,
    pub topic: String,
    pub payload: String,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub available_at: NaiveDateTime,
    pub dead_at: Option<NaiveDateTime>,
}

/// Rows not yet handled (of `topic`, if given), oldest first; with `failed`, only those that have
/// failed at least once (retrying, or dead letters).
pub fn list(conn: &mut DbConn, topic: Option<&str>, failed: bool, limit: i64) -> AppResult<Vec<RowSummary>> {
    let mut query = outbox::table
        .filter(outbox::done_at.is_null())
        .order(outbox::id.asc())
        .limit(limit)
        .select((
            outbox::id,
            outbox::topic,
            outbox::payload,
            outbox::created_at,
            outbox::attempts,
            outbox::last_error,
            outbox::available_at,
            outbox::dead_at,
        ))
        .into_boxed();
    if let Some(t) = topic {
        query = query.filter(outbox::topic.eq(t.to_owned()));
    }
    if failed {
        query = query.filter(outbox::last_error.is_not_null());
    }
    Ok(query.load(conn)?)
}

/// Gives dead letters (these ids, or all of them) a fresh set of attempts, due now; returns how many.
pub fn retry(conn: &mut DbConn, ids: Option<&[String]>, now: NaiveDateTime) -> AppResult<usize> {
    let changes = (
        outbox::dead_at.eq(None::<NaiveDateTime>),
        outbox::attempts.eq(0),
        outbox::available_at.eq(now),
        outbox::locked_until.eq(None::<NaiveDateTime>),
    );
    let dead = outbox::table.filter(outbox::done_at.is_null()).filter(outbox::dead_at.is_not_null());
    Ok(match ids {
        Some(ids) => diesel::update(dead.filter(outbox::id.eq_any(ids))).set(changes).execute(conn)?,
        None => diesel::update(dead).set(changes).execute(conn)?,
    })
}
