//! Settlement benchmark on PostgreSQL: `cargo bench --bench settlement -- [--payables N] [--producers P]`.
//!
//! In a fresh schema of `DONGXI_BENCH_PG_URL`: P producers of 普安县 (default 10,000), one buyer
//! of 惠州, N completed orders (default 100,000) of one accepted sub-order each, spread evenly
//! over the producers, each owing its producer one payable (written straight, as acceptance
//! writes them: gross = net, fee basis one line at 0 bp), due two days ago. Then, through the
//! real code, one settlement run queued and performed by one worker (a transaction per
//! producer under its lock), while a second connection keeps updating random orders and their
//! sub-orders as buyers and producers do (their latency before the run and during it, measured
//! in the same process) and a third samples `pg_locks` for any lock of the run's connection on
//! orders or sub-orders: the run holds nothing of theirs. Then `settlement verify` over
//! the whole lot must find no drift.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use dongxi::config::SettleOn;
use dongxi::db::DbConn;
use dongxi::settlement::{runs, verify};

// Only its user is needed here; the tea is for the other benches.
#[allow(dead_code)]
mod common;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
}

fn stamp(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The producers, the buyer, the orders, sub-orders and payables, in a few set-based statements.
fn world(conn: &mut DbConn, payables: usize, producers: usize, now: chrono::NaiveDateTime) {
    let buyer = dongxi::identity::service::create_org_unchecked(
        conn,
        "惠州市机关事务管理局",
        dongxi::identity::types::OrgKind::Agency,
        "441302",
        None,
        now,
    )
    .expect("buyer");
    let user = common::user(conn, &buyer.id, now);
    let (paid, accepted, due) = (
        stamp(now - chrono::Duration::days(9)),
        stamp(now - chrono::Duration::days(3)),
        stamp(now - chrono::Duration::days(2)),
    );
    let created = stamp(now);
    let (buyer_id, buyer_path) = (&buyer.id, &buyer.path);
    conn.batch_execute(&format!(
        "INSERT INTO organizations (id, name, kind, region_code, parent_id, path, created_at)
           SELECT 'org_b' || lpad(i::text, 6, '0'), '普安县第' || i || '茶叶专业合作社', 'producer', '522323', NULL,
                  'org_b' || lpad(i::text, 6, '0') || '/', '{created}'
           FROM generate_series(1, {producers}) AS i;
         INSERT INTO orders (id, buyer_org_id, buyer_org_path, buyer_region_code, buyer_user_id, status, total_fen,
                             paid_fen, refunded_fen, delivery_address, delivery_contact, delivery_phone, created_at,
                             updated_at, paid_at, closed_at)
           SELECT 'ord_b' || lpad(i::text, 7, '0'), '{buyer_id}', '{buyer_path}', '441302', '{user}', 'completed',
                  16800 + i % 97 * 100, 16800 + i % 97 * 100, 0, '广东省惠州市惠城区 机关食堂', '陈主任',
                  '0752-2801234', '{paid}', '{accepted}', '{paid}', '{accepted}'
           FROM generate_series(1, {payables}) AS i;
         INSERT INTO sub_orders (id, order_id, producer_id, producer_path, status, total_fen, refunded_fen,
                                 shipped_at, accepted_at, created_at, updated_at)
           SELECT 'sub_b' || lpad(i::text, 7, '0'), 'ord_b' || lpad(i::text, 7, '0'),
                  'org_b' || lpad((i % {producers} + 1)::text, 6, '0'), 'org_b' || lpad((i % {producers} + 1)::text, 6, '0') || '/',
                  'accepted', 16800 + i % 97 * 100, 0, '{paid}', '{accepted}', '{paid}', '{accepted}'
           FROM generate_series(1, {payables}) AS i;
         INSERT INTO payables (id, cause, kind, producer_id, order_id, sub_order_id, refund_id, gross_fen, fee_fen,
                               net_fen, fee_basis, due_at, created_at, settlement_id)
           SELECT 'pay_b' || lpad(i::text, 7, '0'), 'sale:sub_b' || lpad(i::text, 7, '0'), 'sale',
                  'org_b' || lpad((i % {producers} + 1)::text, 6, '0'), 'ord_b' || lpad(i::text, 7, '0'),
                  'sub_b' || lpad(i::text, 7, '0'), NULL, 16800 + i % 97 * 100, 0, 16800 + i % 97 * 100,
                  '[{{\"weight\":' || (16800 + i % 97 * 100) || ',\"rate_bp\":0}}]', '{due}', '{accepted}', NULL
           FROM generate_series(1, {payables}) AS i;
         ANALYZE organizations; ANALYZE orders; ANALYZE sub_orders; ANALYZE payables;"
    ))
    .expect("world");
}

/// Buyers and producers at work on random orders until told to stop: each time, one transaction
/// updating an order and its sub-order. Returns the latencies in milliseconds.
fn order_writer(url: String, orders: usize, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<f64>> {
    std::thread::spawn(move || {
        let mut conn = dongxi::db::establish(&url).expect("writer connection");
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut timings = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            // xorshift: the same orders every run.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = state as usize % orders + 1;
            let t = Instant::now();
            conn.batch_execute(&format!(
                "BEGIN;
                 UPDATE orders SET updated_at = updated_at WHERE id = 'ord_b{i:07}';
                 UPDATE sub_orders SET updated_at = updated_at WHERE order_id = 'ord_b{i:07}';
                 COMMIT;"
            ))
            .expect("order update");
            timings.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        timings.sort_by(f64::total_cmp);
        timings
    })
}

/// Samples, every few milliseconds until told to stop, the locks the run's connection (`pid`)
/// holds on orders and sub-orders (any lock on the tables, so any row it read, wrote or locked).
/// Returns (samples, samples that found one).
fn lock_sampler(url: String, pid: i32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, usize)> {
    std::thread::spawn(move || {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Held {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = dongxi::db::establish(&url).expect("sampler connection");
        let (mut samples, mut found) = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            let held: Held = diesel::sql_query(
                "SELECT COUNT(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                 WHERE l.pid = $1 AND c.relname IN ('orders', 'sub_orders')",
            )
            .bind::<diesel::sql_types::Integer, _>(pid)
            .get_result(&mut conn)
            .expect("pg_locks");
            samples += 1;
            found += usize::from(held.n > 0);
            std::thread::sleep(Duration::from_millis(5));
        }
        (samples, found)
    })
}

fn latency(label: &str, t: &[f64]) {
    println!(
        "| {label} | {} | {:.2} | {:.2} | {:.2} |",
        t.len(),
        percentile(t, 0.5),
        percentile(t, 0.99),
        t.last().copied().unwrap_or(0.0)
    );
}

fn backend_pid(conn: &mut DbConn) -> i32 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result::<Pid>(conn).expect("pid").pid
}

fn main() {
    let n = arg("--payables", 100_000);
    let producers = arg("--producers", 10_000).clamp(1, n.max(1));
    let Ok(pg) = std::env::var("DONGXI_BENCH_PG_URL") else {
        println!("settlement bench: DONGXI_BENCH_PG_URL is not set; it runs on PostgreSQL only");
        return;
    };
    let schema = format!("bench_stl_{}", dongxi::ids::new_id("x").to_lowercase().replace('_', ""));
    let mut admin = dongxi::db::establish(&pg).expect("DONGXI_BENCH_PG_URL");
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("schema");
    let sep = if pg.contains('?') { '&' } else { '?' };
    let url = format!("{pg}{sep}options=-csearch_path%3D{schema}");
    let mut conn = dongxi::db::establish(&url).expect("connection");
    let clock = dongxi::clock::Clock::system();
    dongxi::server::migrate(&mut conn, &clock).expect("migrate");
    let now = chrono::Utc::now().naive_utc();

    let t = Instant::now();
    world(&mut conn, n, producers, now);
    println!(
        "{n} payables of {producers} producers ({} per producer), loaded in {:.1} s",
        n / producers,
        t.elapsed().as_secs_f64()
    );
    println!();

    // The order writer alone first, then beside the run: the same process, the same orders.
    let stop = Arc::new(AtomicBool::new(false));
    let before = order_writer(url.clone(), n, stop.clone());
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let before = before.join().expect("writer");

    let pid = backend_pid(&mut conn);
    let stop = Arc::new(AtomicBool::new(false));
    let during = order_writer(url.clone(), n, stop.clone());
    let sampler = lock_sampler(url.clone(), pid, stop.clone());
    let run = runs::queue(&mut conn, "manual", now - chrono::Duration::days(1), None, now).expect("queue");
    let t = Instant::now();
    let done = runs::perform(&mut conn, &run.id, false, now).expect("perform");
    let run_s = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let during = during.join().expect("writer");
    let (samples, holding) = sampler.join().expect("sampler");
    assert_eq!(holding, 0, "the run took a lock on orders or sub-orders");
    assert_eq!(done.payables, n, "every payable settled");
    assert_eq!(done.settlements, producers, "one settlement per producer");
    let again = runs::perform(&mut conn, &run.id, false, now).expect("perform again");
    assert_eq!(again, runs::Performed::default(), "a finished run does nothing again");

    let t = Instant::now();
    let check = verify::verify(&mut conn, SettleOn::Accepted).expect("verify");
    let verify_s = t.elapsed().as_secs_f64();
    assert!(check.drift.is_empty(), "settlement verify found drift: {:?}", &check.drift[..check.drift.len().min(5)]);
    assert_eq!((check.payables, check.settlements), (n, producers));

    println!("| run | payables | settlements | run s | µs per payable | ms per producer | settlements/s | verify s |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| one worker | {} | {} | {run_s:.1} | {:.0} | {:.2} | {:.0} | {verify_s:.1} |",
        done.payables,
        done.settlements,
        run_s * 1e6 / n as f64,
        run_s * 1e3 / producers as f64,
        producers as f64 / run_s,
    );
    println!();
    println!("Orders and sub-orders updated meanwhile (one transaction each, random orders of the run):");
    println!();
    println!("| when | updates | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    latency("before the run (3 s)", &before);
    latency("during the run", &during);
    println!();
    println!(
        "locks of the run's connection on orders or sub_orders: found in {holding} of {samples} samples of pg_locks"
    );
    println!("ratio of p99 during / before: {:.2}", percentile(&during, 0.99) / percentile(&before, 0.99).max(1e-9));

    drop(conn);
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).expect("drop schema");
}
