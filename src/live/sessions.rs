//! Scheduling a live session (who may, what it may pin, no overlap of one organiser's sessions
//! selling one product), cancelling it before it starts, and the worker's start and end.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{ItemRow, SessionRow};
use super::view::status_at;
use crate::catalog::model as products;
use crate::catalog::view::{is_on_sale, not_orderable};
use crate::ctx::Ctx;
use crate::db::schema::{live_items as li, live_sessions as ls};
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult, Violations};
use crate::identity::Actor;
use crate::identity::types::OrgKind;
use crate::ids::new_id;
use crate::validate::required_text;

/// The longest a session may run.
pub const MAX_HOURS: i64 = 12;
/// The most products one session pins.
pub const MAX_ITEMS: usize = 20;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveItemBody {
    pub product_id: String,
    /// The live price, in fen: not above the product's catalogue price (the price of one unit).
    /// An order pays the lower of it and the catalogue tier price for its quantity.
    #[schema(minimum = 1, maximum = 10000000000.0)]
    pub live_price_fen: i64,
    /// The most units sold at the live price in this session; none: the product's stock.
    #[schema(minimum = 1, maximum = 10000000)]
    pub stock_cap: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSessionBody {
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    /// Who presents it (主播), e.g. 册亨县副县长.
    #[schema(min_length = 1, max_length = 50)]
    pub host: String,
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`, at most 12 hours on, and in the future.
    pub ends_at: DateTime<Utc>,
    /// 1 to 20 products, each once.
    #[schema(min_items = 1, max_items = 20)]
    pub items: Vec<LiveItemBody>,
}

fn overlap(other: &str) -> AppError {
    AppError::conflict(
        "live_session_overlap",
        "the organiser already has a session selling one of these products at an overlapping time",
    )
    .with("session_id", other)
}

/// Coordinators' and producers' administrators organise sessions; platform administrators too.
fn require_organiser(actor: &Actor) -> AppResult<()> {
    if actor.is_platform_admin()
        || (actor.is_admin() && matches!(actor.org_kind, OrgKind::Coordinator | OrgKind::Producer))
    {
        Ok(())
    } else {
        Err(AppError::forbidden("only coordinator or producer administrators organise live sessions"))
    }
}

pub fn create(conn: &mut DbConn, actor: &Actor, body: NewSessionBody, ctx: &Ctx) -> AppResult<SessionRow> {
    require_organiser(actor)?;
    let mut v = Violations::new();
    let title = required_text(&mut v, "title", &body.title, 100);
    let host = required_text(&mut v, "host", &body.host, 50);
    let (starts_at, ends_at) = (body.starts_at.naive_utc(), body.ends_at.naive_utc());
    v.check(ends_at > starts_at, "ends_at", "must be after starts_at");
    v.check(ends_at - starts_at <= Duration::hours(MAX_HOURS), "ends_at", "a session runs at most 12 hours");
    v.check(ends_at > ctx.now, "ends_at", "must be in the future");
    v.check((1..=MAX_ITEMS).contains(&body.items.len()), "items", "must pin 1 to 20 products");
    let mut seen = HashSet::new();
    for (i, item) in body.items.iter().enumerate() {
        v.check(seen.insert(item.product_id.trim()), &format!("items[{i}].product_id"), "appears twice");
        v.check(item.live_price_fen > 0, &format!("items[{i}].live_price_fen"), "must be a positive amount of fen");
        v.check(
            item.stock_cap.is_none_or(|c| (1..=10_000_000).contains(&c)),
            &format!("items[{i}].stock_cap"),
            "must be from 1 to 10000000",
        );
    }
    v.finish("validation_failed")?;
    let mut rows = Vec::with_capacity(body.items.len());
    for (i, item) in body.items.iter().enumerate() {
        let id = item.product_id.trim();
        let product =
            products::find(conn, id)?.filter(|p| is_on_sale(p, ctx.today)).ok_or_else(|| not_orderable(id))?;
        if actor.org_kind == OrgKind::Producer && product.producer_id != actor.org.id {
            return Err(AppError::forbidden("a producer pins only its own products").with("product_id", id));
        }
        if item.live_price_fen > product.price_fen {
            return Err(AppError::invalid_field(
                "live_price_above_catalogue",
                &format!("items[{i}].live_price_fen"),
                format!("must not be above the catalogue price of {} ({} fen)", product.name, product.price_fen),
            )
            .with("catalogue_price_fen", product.price_fen));
        }
        rows.push(ItemRow {
            session_id: String::new(),
            product_id: product.id,
            position: i as i32,
            live_price_fen: item.live_price_fen,
            stock_cap: item.stock_cap,
            sold_qty: 0,
        });
    }
    // One organiser's sessions are scheduled one at a time, so two overlapping ones cannot both pass.
    db::xact_lock(conn, &format!("live:{}", actor.org.id), false)?;
    let pinned: Vec<&str> = rows.iter().map(|r| r.product_id.as_str()).collect();
    let clash: Option<String> = ls::table
        .inner_join(li::table)
        .filter(ls::organizer_org_id.eq(&actor.org.id))
        .filter(ls::status.eq_any(["scheduled", "live"]))
        .filter(ls::starts_at.lt(ends_at))
        .filter(ls::ends_at.gt(starts_at))
        .filter(li::product_id.eq_any(&pinned))
        .select(ls::id)
        .first(conn)
        .optional()?;
    if let Some(other) = clash {
        return Err(overlap(&other));
    }
    let session = SessionRow {
        id: new_id("live"),
        organizer_org_id: actor.org.id.clone(),
        created_by: actor.user_id.clone(),
        title,
        host,
        starts_at,
        ends_at,
        status: if starts_at <= ctx.now { "live" } else { "scheduled" }.to_owned(),
        ended_at: None,
        final_units: None,
        final_amount_fen: None,
        final_orders: None,
        created_at: ctx.now,
    };
    diesel::insert_into(ls::table).values(&session).execute(conn)?;
    for mut row in rows {
        row.session_id = session.id.clone();
        diesel::insert_into(li::table).values(&row).execute(conn)?;
    }
    Ok(session)
}

pub fn find(conn: &mut DbConn, id: &str) -> AppResult<SessionRow> {
    ls::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("live session"))
}

/// The organiser (its administrators) or a platform administrator cancels a session that has
/// not started.
pub fn cancel(conn: &mut DbConn, actor: &Actor, id: &str, ctx: &Ctx) -> AppResult<SessionRow> {
    let session = find(conn, id)?;
    if !(actor.is_platform_admin() || (actor.is_admin() && actor.org.id == session.organizer_org_id)) {
        return Err(AppError::forbidden("only the session's organiser may cancel it"));
    }
    let cancelled = diesel::update(
        ls::table.filter(ls::id.eq(id)).filter(ls::status.eq("scheduled")).filter(ls::starts_at.gt(ctx.now)),
    )
    .set(ls::status.eq("cancelled"))
    .execute(conn)?;
    if cancelled == 0 {
        return Err(AppError::conflict("invalid_state", "only a session that has not started can be cancelled")
            .with("session_status", status_at(&session, ctx.now)));
    }
    find(conn, id)
}

/// Whether a session is due to go live or to end at `now`: a read, so the worker's pass writes
/// only when there is something to change.
pub fn any_due(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<bool> {
    let due: Option<String> = ls::table
        .filter(
            ls::status
                .eq("scheduled")
                .and(ls::starts_at.le(now))
                .or(ls::status.eq_any(["scheduled", "live"]).and(ls::ends_at.le(now))),
        )
        .select(ls::id)
        .first(conn)
        .optional()?;
    Ok(due.is_some())
}

/// The worker's pass: sessions whose start has come go live, those whose end has come end —
/// each exactly once (a conditional update), however many workers run. Returns (started, ended).
pub fn advance(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<(usize, usize)> {
    let started = diesel::update(
        ls::table.filter(ls::status.eq("scheduled")).filter(ls::starts_at.le(now)).filter(ls::ends_at.gt(now)),
    )
    .set(ls::status.eq("live"))
    .execute(conn)?;
    let due: Vec<String> = ls::table
        .filter(ls::status.eq_any(["scheduled", "live"]))
        .filter(ls::ends_at.le(now))
        .select(ls::id)
        .load(conn)?;
    let mut ended = 0;
    for id in due {
        // Waits for orders holding the session row; later ones find it ended.
        let n = diesel::update(ls::table.filter(ls::id.eq(&id)).filter(ls::status.eq_any(["scheduled", "live"])))
            .set((ls::status.eq("ended"), ls::ended_at.eq(now)))
            .execute(conn)?;
        if n == 1 {
            // Orders that held the session committed before this; later ones find it ended.
            let sold = super::view::sold(conn, &id)?;
            let (units, amount) = sold.values().fold((0, 0), |(u, a), s| (u + s.0, a + s.1));
            let orders = super::view::order_count(conn, &id)?.0;
            diesel::update(ls::table.filter(ls::id.eq(&id)))
                .set((ls::final_units.eq(units), ls::final_amount_fen.eq(amount), ls::final_orders.eq(orders)))
                .execute(conn)?;
            tracing::info!(session = %id, units, amount_fen = amount, orders, "live session ended");
            ended += 1;
        }
    }
    Ok((started, ended))
}
