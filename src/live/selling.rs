//! Selling at a live price: inside the session's window (its row held until the order commits,
//! so the worker's end waits for it and every later order finds it ended), only the products it
//! pins, never more units at the live price than its cap.

use std::collections::HashMap;

use diesel::prelude::*;

use super::model::SessionRow;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{live_items as li, live_sessions as ls};
use crate::error::{AppError, AppResult};

/// One product of a live order: its id, the quantity ordered of it and the line it first appears on.
pub struct Wanted<'a> {
    pub product_id: &'a str,
    pub quantity: i64,
    pub line: usize,
}

/// Takes each product's quantity from the session's caps and returns its live price (fen).
/// 409 `live_session_not_live` outside the window, 422 `not_in_live_session` for a product the
/// session does not pin, 409 `live_cap_reached` when the cap has too few units left.
pub fn take(conn: &mut DbConn, session_id: &str, wanted: &[Wanted<'_>], ctx: &Ctx) -> AppResult<HashMap<String, i64>> {
    let session: SessionRow = ls::table
        .find(session_id)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::invalid_field("validation_failed", "live_session_id", "no such live session"))?;
    let held = diesel::update(
        ls::table
            .filter(ls::id.eq(session_id))
            .filter(ls::status.eq_any(["scheduled", "live"]))
            .filter(ls::starts_at.le(ctx.now))
            .filter(ls::ends_at.gt(ctx.now)),
    )
    .set(ls::status.eq(ls::status))
    .execute(conn)?;
    if held == 0 {
        return Err(AppError::conflict(
            "live_session_not_live",
            "the live price holds only while the session is live; order at the catalogue price instead",
        )
        .with("live_session_id", session_id)
        .with("starts_at", session.starts_at.and_utc().to_rfc3339())
        .with("ends_at", session.ends_at.and_utc().to_rfc3339()));
    }
    let items: HashMap<String, (i64, Option<i64>)> = li::table
        .filter(li::session_id.eq(session_id))
        .select((li::product_id, li::live_price_fen, li::stock_cap))
        .load::<(String, i64, Option<i64>)>(conn)?
        .into_iter()
        .map(|(p, price, cap)| (p, (price, cap)))
        .collect();
    let mut prices = HashMap::new();
    for w in wanted {
        let Some((price, cap)) = items.get(w.product_id) else {
            return Err(AppError::invalid_field(
                "not_in_live_session",
                &format!("lines[{}].product_id", w.line),
                "the live session does not sell this product",
            )
            .with("product_id", w.product_id));
        };
        let taken = diesel::update(
            li::table
                .filter(li::session_id.eq(session_id))
                .filter(li::product_id.eq(w.product_id))
                .filter(li::stock_cap.is_null().or((li::sold_qty + w.quantity).le(li::stock_cap.assume_not_null()))),
        )
        .set(li::sold_qty.eq(li::sold_qty + w.quantity))
        .execute(conn)?;
        if taken == 0 {
            let sold: i64 = li::table
                .filter(li::session_id.eq(session_id))
                .filter(li::product_id.eq(w.product_id))
                .select(li::sold_qty)
                .first(conn)?;
            let left = cap.map_or(0, |c| (c - sold).max(0));
            return Err(AppError::conflict(
                "live_cap_reached",
                format!("only {left} more units are offered at the live price in this session"),
            )
            .with("product_id", w.product_id)
            .with("remaining", left));
        }
        prices.insert(w.product_id.to_owned(), *price);
    }
    Ok(prices)
}
