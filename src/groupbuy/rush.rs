//! The rush: pledges into one round written in batches. A round's pledges all change its row, so
//! in the database they could only queue on it, each holding a connection and a backend. They
//! queue in the process instead ([`Batches`]): while a batch of the round is written, the pledges
//! that arrive wait, and the next transaction takes them all. It takes the round's row, decides
//! each pledge in memory in the order they came (the pledge's own checks, the cap, the stock),
//! and writes the admitted ones with one insert, then one statement that moves the total and the
//! stock and stores their idempotency records: seven round trips for the batch (begin, the row,
//! the keys stored, the product and its names, the insert, the rest, commit) instead of about
//! ten per pledge.
//!
//! What a batch does not decide alone it leaves to [`pledges::pledge`], run by itself after the
//! batch by the same drainer: an organisation's pledge replacing its active one, its second
//! pledge in one batch, a key already stored (a replay). So the pledges of a round never wait
//! on each other inside the database, and a batch that fails (a key another server stored
//! meanwhile, a round that closed) is made again pledge by pledge, each with its own answer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::oneshot;

use super::model::{self, CampaignRow, PledgeRow};
use super::pledges::{self, PledgeMade, admissible, campaign_full, new_row};
use super::types::NewPledge;
use super::view::{load_one, pledge_view};
use crate::batches::{Batches, Draining};
use crate::catalog::model::take_stock_statement;
use crate::catalog::service::{insufficient_stock, reindex};
use crate::ctx::Ctx;
use crate::db::sql;
use crate::db::{Db, DbConn, write_tx};
use crate::error::{AppError, AppResult};
use crate::idempotency::{self, Fresh, Stored};
use crate::identity::Actor;
use crate::orders::placing::require_agency;

/// The most pledges one transaction writes.
pub const BATCH_MOST: usize = 100;

/// A pledge as its route received it.
#[derive(Debug, Clone)]
pub struct Asked {
    pub actor: Actor,
    pub new: NewPledge,
    /// The `Idempotency-Key`, if sent, and what identifies the request (see [`idempotency`]).
    pub key: Option<String>,
    pub fingerprint: String,
    pub ctx: Ctx,
}

struct Job {
    asked: Asked,
    reply: oneshot::Sender<AppResult<Stored>>,
}

/// What the batch made of one pledge.
enum Decided {
    /// Made (and its response stored under its key), or refused; refusals change nothing.
    Done(AppResult<Stored>),
    /// To be made by itself after the batch.
    Alone,
}

/// Pledges into round `id`: waits behind the batch of the round being written, then is written
/// with the pledges that waited beside it. The answer is the one [`pledges::pledge`] would give.
pub async fn pledge(db: &Db, batches: &Arc<Batches>, id: &str, asked: Asked) -> AppResult<Stored> {
    let (reply, answer) = oneshot::channel();
    if batches.push(id, Job { asked, reply }) {
        let (db, batches, id) = (db.clone(), batches.clone(), id.to_owned());
        tokio::task::spawn_blocking(move || drain(&db, Draining::new(batches, id)));
    }
    answer.await.map_err(|_| AppError::Unavailable("the pledge was not made; try again".into()))?
}

/// Writes the round's batches until no pledge waits, on one thread and one connection kept for
/// the rush (taken again after a batch that failed, in case the connection is what failed). Its
/// own task, so a caller that goes away does not stop the pledges that wait behind it.
fn drain(db: &Db, mut draining: Draining<Job>) {
    let mut held = None;
    while let Some(jobs) = draining.next(BATCH_MOST) {
        let (asked, replies): (Vec<Asked>, Vec<_>) = jobs.into_iter().map(|j| (j.asked, j.reply)).unzip();
        let mut conn = match held.take().map_or_else(|| db.hold(), Ok) {
            Ok(conn) => conn,
            Err(e) => {
                for reply in replies {
                    drop(reply.send(Err(AppError::Unavailable(format!("no database connection: {e}")))));
                }
                continue;
            }
        };
        let id = draining.key();
        let written = write_tx(&mut conn, |c| write_batch(c, id, &asked));
        let mut keep = written.is_ok();
        let decided = written.unwrap_or_else(|e| {
            tracing::warn!(group_buy = %id, error = %e, "a batch of pledges failed; each is made by itself");
            asked.iter().map(|_| Decided::Alone).collect()
        });
        if !keep && let Ok(fresh) = db.hold() {
            // The connection may be what failed; the pledges made by themselves take a fresh one.
            conn = fresh;
            keep = true;
        }
        let mut alone = Vec::new();
        for ((a, reply), d) in asked.into_iter().zip(replies).zip(decided) {
            match d {
                // A caller that went away no longer wants the answer; the pledge stands.
                Decided::Done(outcome) => drop(reply.send(outcome)),
                Decided::Alone => alone.push((a, reply)),
            }
        }
        for (a, reply) in alone {
            drop(reply.send(by_itself(&mut conn, id, a)));
        }
        if keep {
            held = Some(conn);
        }
    }
}

/// One pledge through the single path, in its own transaction with its key.
fn by_itself(conn: &mut DbConn, id: &str, a: Asked) -> AppResult<Stored> {
    idempotency::run_in(conn, &a.actor.org.id, a.key.as_deref(), &a.fingerprint, a.ctx.now, |c| {
        idempotency::created(&pledges::pledge(c, &a.actor, id, a.new, &a.ctx)?)
    })
}

/// One transaction for the batch: the round's row taken first, each pledge decided under it in
/// order, then the admitted ones written together.
fn write_batch(conn: &mut DbConn, id: &str, asked: &[Asked]) -> AppResult<Vec<Decided>> {
    let Some(now) = asked.iter().map(|a| a.ctx.now).max() else { return Ok(Vec::new()) };
    let Some(c) = model::lock_and_read(conn, id)? else {
        let missing = |a: &Asked| require_agency(&a.actor).and_then(|()| Err(AppError::not_found("group purchase")));
        return Ok(asked.iter().map(|a| Decided::Done(missing(a))).collect());
    };
    let keyed: Vec<(&str, &str)> =
        asked.iter().filter_map(|a| Some((a.actor.org.id.as_str(), a.key.as_deref()?))).collect();
    let stored = idempotency::stored_among(conn, &keyed)?;
    let mut loaded = load_one(conn, &c)?;
    let stock = loaded.product(&c.product_id).map_or(0, |p| p.stock);
    let rows: Vec<PledgeRow> = asked.iter().map(|a| new_row(&a.actor, &c.id, a.new.clone(), None, a.ctx.now)).collect();

    // Every pledge is taken for its organisation's first until its insert meets an active one
    // (the partial unique index skips it); those go by themselves, and the rest is decided
    // again without them. Leaving pledges out only frees room, so whatever was admitted and
    // written stays admitted; nearly always the first pass is the only one.
    let mut pledged = HashSet::new();
    let mut looked_up = false;
    let mut written: HashSet<String> = HashSet::new();
    let (mut decided, admitted) = loop {
        let (decided, admitted, short) = decide(asked, &c, stock, &stored, &pledged);
        // A pledge refused for the cap or the stock may be a replacement, which needs less room:
        // the organisations of those (a rush's tail) are looked up once, before anything is
        // written, and theirs go by themselves.
        if !looked_up && !short.is_empty() {
            looked_up = true;
            let found = model::with_active_pledge(conn, &c.id, &short)?;
            if !found.is_empty() {
                pledged.extend(found);
                continue;
            }
        }
        let fresh: Vec<PledgeRow> =
            admitted.iter().map(|a| rows[a.at].clone()).filter(|r| !written.contains(&r.id)).collect();
        let inserted = model::insert_first_pledges(conn, &fresh)?;
        let skipped: Vec<&PledgeRow> = fresh.iter().filter(|r| !inserted.contains(&r.id)).collect();
        written.extend(inserted);
        if skipped.is_empty() {
            break (decided, admitted);
        }
        pledged.extend(skipped.iter().map(|r| r.org_id.clone()));
    };
    if admitted.iter().map(|a| &rows[a.at].id).collect::<HashSet<_>>() != written.iter().collect() {
        return Err(anyhow::anyhow!("round {}: a pledge written in a batch was no longer admitted", c.id).into());
    }
    let Some(last) = admitted.last() else { return Ok(decided) };
    let (total, count) = (last.total_qty, last.pledge_count);
    let added = total - c.total_qty;

    let mut fresh = Vec::new();
    for a in admitted {
        let (row, asker) = (rows[a.at].clone(), &asked[a.at]);
        loaded.set_mine(row.clone(), &asker.actor.org.name);
        let after = CampaignRow {
            total_qty: a.total_qty,
            pledge_count: a.pledge_count,
            updated_at: asker.ctx.now,
            ..c.clone()
        };
        let names = HashMap::from([(asker.actor.org.id.clone(), asker.actor.org.name.clone())]);
        let made = PledgeMade { group_buy: loaded.view(after, asker.ctx.now)?, pledge: pledge_view(row, &names) };
        let (status, body) = idempotency::created(&made)?;
        if let Some(key) = &asker.key {
            let (org_id, fingerprint) = (asker.actor.org.id.clone(), asker.fingerprint.clone());
            fresh.push(Fresh { org_id, key: key.clone(), fingerprint, status, body: body.clone() });
        }
        decided[a.at] = Decided::Done(Ok(Stored { status, body, replayed: false }));
    }

    // The total, the stock and the answers' keys in one round trip (the row is held meanwhile).
    let mut parts = vec![
        (model::add_to_total_statement(&c.id, added, count - c.pledge_count, now), "total_qty"),
        (take_stock_statement(&c.product_id, added, now), "stock"),
    ];
    if !fresh.is_empty() {
        parts.push((idempotency::store_many_statement(&fresh, now), "0"));
    }
    let returned = sql::returning_all(conn, &parts)?;
    if returned[0] != [total] {
        // Its window ended between the first pledge's moment and the last one's.
        return Err(anyhow::anyhow!("round {} moved under its own lock; its pledges are made one by one", c.id).into());
    }
    match returned[1].first() {
        None => return Err(insufficient_stock(&c.product_id, stock, added)),
        Some(0) => reindex(conn, &c.product_id, now)?,
        Some(_) => {}
    }
    Ok(decided)
}

/// A pledge the batch takes, and the round's total and count after it.
struct Admitted {
    at: usize,
    total_qty: i64,
    pledge_count: i32,
}

/// Each pledge in the order they came, against the round as the batch found it: by itself when
/// the batch cannot decide it (its organisation's second pledge here, one with an active pledge
/// in the round, a key already stored), refused as the single path would refuse it, or
/// admitted within the cap and the stock. Admitted ones are left `Alone` in the first list
/// until they are written. The third list: the organisations refused for the cap or the stock.
fn decide<'a>(
    asked: &'a [Asked],
    c: &CampaignRow,
    stock: i64,
    stored: &HashSet<(String, String)>,
    pledged: &HashSet<String>,
) -> (Vec<Decided>, Vec<Admitted>, Vec<&'a str>) {
    let (mut total, mut count, mut stock) = (c.total_qty, c.pledge_count, stock);
    let mut seen = HashSet::new();
    let mut decided = Vec::with_capacity(asked.len());
    let mut admitted = Vec::new();
    let mut short = Vec::new();
    for (at, a) in asked.iter().enumerate() {
        let org = a.actor.org.id.as_str();
        let replayed = a.key.as_deref().is_some_and(|k| stored.contains(&(org.to_owned(), k.to_owned())));
        if !seen.insert(org) || pledged.contains(org) || replayed {
            decided.push(Decided::Alone);
            continue;
        }
        let q = a.new.quantity;
        let verdict =
            require_agency(&a.actor).and_then(|()| admissible(&a.actor, c, &a.new, a.ctx.now)).and_then(|()| {
                if total + q > c.max_total_qty {
                    short.push(org);
                    Err(campaign_full(c.max_total_qty - total, q))
                } else if q > stock {
                    short.push(org);
                    Err(insufficient_stock(&c.product_id, stock, q))
                } else {
                    Ok(())
                }
            });
        match verdict {
            Err(refused) => decided.push(Decided::Done(Err(refused))),
            Ok(()) => {
                (total, count, stock) = (total + q, count + 1, stock - q);
                admitted.push(Admitted { at, total_qty: total, pledge_count: count });
                decided.push(Decided::Alone);
            }
        }
    }
    (decided, admitted, short)
}
