//! Group-purchase benchmark: `cargo bench --bench group_buys -- [--pledgers N] [--clients C]`.
//!
//! On SQLite (a temp file) and, with `DONGXI_BENCH_PG_URL`, on PostgreSQL (a fresh schema): N
//! agencies of 惠州 pledge into one round of 普安红茶 from C concurrent clients through the real
//! pledge path (queued per round and written in batches, each pledge with an `Idempotency-Key`,
//! as the route does), then the round closes into N orders, a chunk per transaction. Prints pledges/s, pledge
//! p50/p99, the close time and the longest transaction of the close (how long it held the
//! campaign's row); the last pledges meet a full campaign (`campaign_full`), as a December rush does.

use dongxi::groupbuy::campaigns;
use dongxi::groupbuy::close;
use dongxi::groupbuy::rush;
use dongxi::idempotency;
use std::sync::Arc;
use std::time::Instant;

mod common;
use common::{certified_tea, user};

use chrono::Duration;
use diesel::connection::SimpleConnection;
use dongxi::ctx::Ctx;
use dongxi::db::{Db, DbConn};
use dongxi::groupbuy::close::Closer;
use dongxi::groupbuy::types::{CampaignTier, NewCampaign, NewPledge};
use dongxi::identity::actor::actor_for_user;
use dongxi::identity::service::create_org_unchecked;
use dongxi::identity::types::OrgKind;
use dongxi::orders::types::Delivery;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
}

fn ctx() -> Ctx {
    let now = chrono::Utc::now().naive_utc();
    let zone = chrono_tz::Asia::Shanghai;
    Ctx::new(now, zone, dongxi::config::CountOn::Paid, dongxi::config::SettleOn::Accepted)
}

/// The organiser, the producer with a certified, listed product, and N agencies: (organiser user, product, agency users).
fn world(conn: &mut DbConn, n: usize) -> (String, String, Vec<String>) {
    let now = ctx().now;
    let office = create_org_unchecked(conn, "惠州市协作办", OrgKind::Coordinator, "441300", None, now).expect("org");
    let organiser = user(conn, &office.id, now);
    let producer =
        create_org_unchecked(conn, "普安县茶源茶叶专业合作社", OrgKind::Producer, "522323", None, now).expect("org");
    let product = certified_tea(conn, &producer.id, now);
    let agencies = (0..n)
        .map(|i| {
            let org = create_org_unchecked(conn, &format!("惠州市第{i}中学"), OrgKind::Agency, "441302", None, now)
                .expect("org");
            user(conn, &org.id, now)
        })
        .collect();
    (organiser, product, agencies)
}

async fn run(label: &str, db: Db, n: usize, clients: usize) {
    let (organiser, product, agencies) = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || world(&mut db.get().expect("conn"), n)).await.expect("world")
    };
    let office = { db.run(move |c| actor_for_user(c, &organiser)).await.expect("actor").expect("organiser") };
    let now = ctx().now;
    // Room for nine in ten: the last pledges find the round full.
    let cap = (n as i64 * 9 / 10).max(1) * 10;
    let new = NewCampaign {
        title: "惠州市冬季集中采购 普安红茶".into(),
        description: String::new(),
        product_id: product,
        tiers: vec![
            CampaignTier { min_qty: 1, unit_price_fen: 16000 },
            CampaignTier { min_qty: 1000, unit_price_fen: 15000 },
            CampaignTier { min_qty: 5000, unit_price_fen: 14000 },
        ],
        min_total_qty: 10,
        max_total_qty: cap,
        min_pledge_qty: 1,
        opens_at: now - Duration::minutes(1),
        closes_at: now + Duration::days(3),
        eligible_region_code: "441300".into(),
    };
    let campaign = {
        let c = ctx();
        db.write(move |conn| campaigns::create(conn, &office, new, &c)).await.expect("campaign").id
    };
    let queue = Arc::new(std::sync::Mutex::new(agencies));
    let batches = Arc::new(dongxi::batches::Batches::default());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (db, queue, campaign, batches) = (db.clone(), queue.clone(), campaign.clone(), batches.clone());
        tasks.spawn(async move {
            let mut timings = Vec::new();
            let mut full = 0;
            loop {
                let Some(user) = queue.lock().expect("queue").pop() else { break };
                let t = Instant::now();
                // As the route does: the caller from its session, then the pledge with a key,
                // queued behind the round's batch being written.
                let actor = db.run(move |c| actor_for_user(c, &user)).await.expect("actor").expect("user");
                let new = NewPledge {
                    quantity: 10,
                    delivery: Delivery {
                        address: "广东省惠州市惠城区 食堂".into(),
                        contact_name: "陈主任".into(),
                        phone: "0752-2801234".into(),
                    },
                    note: None,
                };
                let key = format!("pledge-{}", actor.org.id);
                let body = serde_json::json!({"quantity": 10});
                let fingerprint = idempotency::fingerprint("POST", &format!("/group-buys/{campaign}/pledges"), &body);
                let asked = rush::Asked { actor, new, key: Some(key), fingerprint, ctx: ctx() };
                match rush::pledge(&db, &batches, &campaign, asked).await {
                    Ok(_) => timings.push(t.elapsed().as_secs_f64() * 1000.0),
                    Err(e) if e.code() == Some("campaign_full") => full += 1,
                    Err(e) => panic!("pledge failed: {e}"),
                }
            }
            (timings, full)
        });
    }
    let (mut timings, mut full) = (Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        let (t, f) = r.expect("client");
        timings.extend(t);
        full += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    timings.sort_by(f64::total_cmp);
    // The close: the outcome and the first chunk in one transaction, then the rest a chunk per
    // transaction as the worker settles them. Each transaction holds the campaign's row, so the
    // longest of them is the longest the row is held.
    let later = ctx().now + Duration::days(4);
    let close_started = Instant::now();
    let closed = {
        let campaign = campaign.clone();
        db.write(move |conn| close::close(conn, &campaign, Closer::Worker, &Ctx { now: later, ..ctx() }))
            .await
            .expect("close")
    };
    let mut longest = close_started.elapsed().as_secs_f64() * 1000.0;
    let mut chunks = 1;
    loop {
        let t = Instant::now();
        let campaign = campaign.clone();
        let settled = db
            .write(move |conn| {
                close::settle_chunk(conn, &campaign, &dongxi::identity::Who::system(), &Ctx { now: later, ..ctx() })
            })
            .await
            .expect("settle");
        if settled == 0 {
            break;
        }
        longest = longest.max(t.elapsed().as_secs_f64() * 1000.0);
        chunks += 1;
        if (settled as i64) < close::SETTLE_CHUNK {
            break;
        }
    }
    let close_ms = close_started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(closed.status, "succeeded");
    assert_eq!(closed.total_qty, cap, "the cap is met exactly");
    println!(
        "| {label} | {n} | {clients} | {} | {full} | {:.0} | {:.1} | {:.1} | {:.0} ({} orders, {chunks} transactions) | {:.0} |",
        timings.len(),
        timings.len() as f64 / elapsed,
        percentile(&timings, 0.5),
        percentile(&timings, 0.99),
        close_ms,
        closed.pledge_count,
        longest,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = arg("--pledgers", 10_000);
    let clients = arg("--clients", 16);
    println!(
        "| backend | agencies | clients | pledged | refused full | pledges/s | p50 ms | p99 ms | close ms | longest hold of the row, ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&url, clients as u32 + 2).expect("pool");
    {
        let mut conn = db.get().expect("conn");
        dongxi::server::migrate(&mut conn, &dongxi::clock::Clock::system()).expect("migrate");
    }
    run("SQLite", db, n, clients).await;
    if let Ok(pg) = std::env::var("DONGXI_BENCH_PG_URL") {
        let schema = format!("bench_gb_{}", dongxi::ids::new_id("x").to_lowercase().replace('_', ""));
        let mut admin = dongxi::db::establish(&pg).expect("DONGXI_BENCH_PG_URL");
        admin.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("schema");
        let sep = if pg.contains('?') { '&' } else { '?' };
        let url = format!("{pg}{sep}options=-csearch_path%3D{schema}");
        let db = Db::connect(&url, clients as u32 + 2).expect("pool");
        {
            let mut conn = db.get().expect("conn");
            dongxi::server::migrate(&mut conn, &dongxi::clock::Clock::system()).expect("migrate");
        }
        run("PostgreSQL", db, n, clients).await;
        admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).expect("drop schema");
    }
}
