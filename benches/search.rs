//! Search benchmark: `cargo bench --bench search -- [--products N] [--http] [--slowest N]`.
//! Generates N realistic products from the seed regions' vocabulary (deterministic), builds the
//! embedded index, runs every query of `search/bench-queries.txt` in-process (p50/p99), and, when
//! `DONGXI_BENCH_PG_URL` names a database, the same queries as PostgreSQL ILIKE and pg_trgm in the
//! same run. With `--http`, serves the index and measures requests/s with wrk (32 connections).
//! With `--meili URL` (a Meilisearch server, e.g. one built locally outside the project), the
//! same products go into it through Dongxi's own Meilisearch engine and settings, and the same
//! queries run against both engines in the same run: one at a time (p50/p99), from 32 clients at
//! once (throughput), and, with `--http`, over HTTP with wrk (Dongxi's server against
//! Meilisearch's own search route, given the very request bodies Dongxi sends it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection;
use dongxi::catalog::model::{ProductRow, insert_many};
use dongxi::catalog::service::new_row;
use dongxi::catalog::types::{ProductFields, Storage, Tier};
use dongxi::clock::Clock;
use dongxi::db::Db;
use dongxi::identity::service::create_org_unchecked;
use dongxi::identity::types::OrgKind;
use dongxi::search::SearchEngine;
use dongxi::search::embedded::EmbeddedEngine;
use dongxi::search::engine::{SearchQuery, SortOrder};
use dongxi::search::meili::MeiliEngine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// (word, category, base price per unit in fen, storage)
const GOODS: &[(&str, &str, i64, Storage)] = &[
    ("红茶", "tea", 9800, Storage::Ambient),
    ("绿茶", "tea", 8800, Storage::Ambient),
    ("白茶", "tea", 12800, Storage::Ambient),
    ("毛峰", "tea", 11800, Storage::Ambient),
    ("翠芽", "tea", 6800, Storage::Ambient),
    ("干香菇", "edible_fungi", 6800, Storage::Ambient),
    ("花菇", "edible_fungi", 5800, Storage::Ambient),
    ("黑木耳", "edible_fungi", 3900, Storage::Ambient),
    ("茶树菇", "edible_fungi", 3500, Storage::Ambient),
    ("鲜香菇", "edible_fungi", 12000, Storage::Chilled),
    ("金耳", "edible_fungi", 4800, Storage::Ambient),
    ("薏仁米", "grain_oil", 5800, Storage::Ambient),
    ("大米", "grain_oil", 6800, Storage::Ambient),
    ("糯米", "grain_oil", 6500, Storage::Ambient),
    ("菜籽油", "grain_oil", 8800, Storage::Ambient),
    ("土鸡", "meat_eggs", 12800, Storage::Frozen),
    ("土鸡蛋", "meat_eggs", 5400, Storage::Chilled),
    ("牦牛肉干", "meat_eggs", 8800, Storage::Ambient),
    ("腊肉", "meat_eggs", 9800, Storage::Ambient),
    ("土豆", "vegetables", 2800, Storage::Ambient),
    ("干辣椒", "vegetables", 3200, Storage::Ambient),
    ("魔芋", "vegetables", 2600, Storage::Chilled),
    ("核桃", "fruit", 3800, Storage::Ambient),
    ("红枣", "fruit", 3600, Storage::Ambient),
    ("板栗", "fruit", 4800, Storage::Ambient),
    ("芒果", "fruit", 8800, Storage::Chilled),
    ("空心李", "fruit", 6800, Storage::Chilled),
    ("猕猴桃", "fruit", 7800, Storage::Chilled),
    ("天麻", "herbs", 8800, Storage::Ambient),
    ("黄芪", "herbs", 5800, Storage::Ambient),
    ("白芨", "herbs", 16800, Storage::Ambient),
    ("花椒", "specialty_food", 6800, Storage::Ambient),
    ("刺梨原汁", "specialty_food", 9600, Storage::Ambient),
    ("刺梨干", "specialty_food", 3200, Storage::Ambient),
    ("蜂蜜", "specialty_food", 9800, Storage::Ambient),
    ("粽子", "specialty_food", 6800, Storage::Frozen),
    ("苗绣香包", "handicraft", 6800, Storage::Ambient),
    ("蜡染围巾", "handicraft", 12800, Storage::Ambient),
];
const COUNTIES: &[(&str, &str)] = &[
    ("522301", "兴义"),
    ("522302", "兴仁"),
    ("522323", "普安"),
    ("522324", "晴隆"),
    ("522325", "贞丰"),
    ("522326", "望谟"),
    ("522327", "册亨"),
    ("522328", "安龙"),
    ("652927", "乌什"),
    ("510727", "平武"),
    ("513324", "九龙"),
    ("520627", "沿河"),
];
const ADJECTIVES: &[&str] =
    &["特级", "明前", "高山", "有机", "礼盒", "精选", "散装", "食堂装", "家庭装", "一级", "农家", "古法"];
const SPECS: &[(&str, i64)] =
    &[("250g/袋", 250), ("500g/袋", 500), ("1kg/袋", 1000), ("2.5kg/箱", 2500), ("5kg/箱", 5000), ("100g/罐", 100)];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Parses one line of bench-queries.txt (a readable query string) into a search.
fn parse_query(line: &str) -> (SearchQuery, HashMap<String, String>) {
    let mut map = HashMap::new();
    for pair in line.split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            map.insert(k.to_owned(), v.replace('+', " "));
        }
    }
    let q = SearchQuery {
        q: map.get("q").cloned().unwrap_or_default(),
        category: map.get("category").cloned(),
        origin: map.get("origin").cloned(),
        storage: map.get("storage").cloned(),
        price_min_fen: map.get("price_min_fen").and_then(|v| v.parse().ok()),
        price_max_fen: map.get("price_max_fen").and_then(|v| v.parse().ok()),
        in_stock: map.get("in_stock").map(|v| v == "true"),
        label: map.get("label").cloned(),
        sort: map.get("sort").and_then(|s| SortOrder::parse(s)).unwrap_or_default(),
        limit: map.get("limit").and_then(|v| v.parse().ok()).unwrap_or(20),
        offset: map.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0),
    };
    (q, map)
}

fn generate(n: usize, producers: &[(String, String, String)], now: NaiveDateTime, valid: NaiveDate) -> Vec<ProductRow> {
    let mut rng = StdRng::seed_from_u64(2021);
    (0..n)
        .map(|i| {
            let (word, category, base, storage) = GOODS[rng.gen_range(0..GOODS.len())];
            let (producer_id, place, path) = &producers[rng.gen_range(0..producers.len())];
            let (spec, grams) = SPECS[rng.gen_range(0..SPECS.len())];
            let adjective = ADJECTIVES[rng.gen_range(0..ADJECTIVES.len())];
            let price = (base * grams / 500).max(500) * rng.gen_range(80..130) / 100;
            let fields = ProductFields {
                name: format!("{place}{word} {adjective}"),
                category: category.into(),
                description: format!("{place}特产{word}，{adjective}，产地直供，带贫益农。"),
                origin_region_code: path.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned(),
                unit: "袋".into(),
                spec: spec.into(),
                net_weight_g: Some(grams),
                price_fen: price,
                tiers: vec![Tier { min_qty: 20, price_fen: price * 95 / 100 }],
                min_order_qty: 1,
                stock: if rng.gen_bool(0.1) { 0 } else { rng.gen_range(1..5000) },
                storage,
                shelf_life_days: Some(365),
                images: vec![],
            };
            let mut row = new_row(producer_id, fields, path.clone(), now - chrono::Duration::seconds((n - i) as i64));
            row.status = "listed".into();
            row.cert_status = "certified".into();
            row.certificate_no = Some(format!("B-{i}"));
            row.cert_valid_until = Some(valid);
            row.rating_count = rng.gen_range(0..20);
            row.rating_sum = row.rating_count * rng.gen_range(3..6);
            row
        })
        .collect()
}

fn pg_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The same search as plain SQL over a copy of the products: words as ILIKE, filters, order, page, count.
fn pg_sql(q: &SearchQuery) -> (String, String) {
    let mut conds = vec!["TRUE".to_owned()];
    for word in q.q.split_whitespace() {
        let like = pg_literal(&format!("%{word}%"));
        conds.push(format!("(name ILIKE {like} OR description ILIKE {like} OR origin_names ILIKE {like})"));
    }
    if let Some(c) = &q.category {
        conds.push(format!("category = {}", pg_literal(c)));
    }
    if let Some(o) = &q.origin {
        conds.push(format!("origin_path LIKE {}", pg_literal(&format!("%{o}/%"))));
    }
    if let Some(s) = &q.storage {
        conds.push(format!("storage = {}", pg_literal(s)));
    }
    if let Some(v) = q.price_min_fen {
        conds.push(format!("price_fen >= {v}"));
    }
    if let Some(v) = q.price_max_fen {
        conds.push(format!("price_fen <= {v}"));
    }
    if q.in_stock == Some(true) {
        conds.push("stock > 0".into());
    }
    let order = match q.sort {
        SortOrder::PriceAsc => "price_fen ASC",
        SortOrder::PriceDesc => "price_fen DESC",
        SortOrder::Rating => "rating DESC",
        _ => "created_at DESC",
    };
    let filter = conds.join(" AND ");
    (
        format!(
            "SELECT id, name, price_fen FROM bench_products WHERE {filter} ORDER BY {order} LIMIT {} OFFSET {}",
            q.limit, q.offset
        ),
        format!("SELECT count(*) FROM bench_products WHERE {filter}"),
    )
}

fn time_pg(conn: &mut dongxi::db::DbConn, queries: &[SearchQuery]) -> Vec<f64> {
    let mut ms = Vec::new();
    for q in queries {
        let (page, count) = pg_sql(q);
        let started = Instant::now();
        conn.batch_execute(&page).expect("pg page");
        conn.batch_execute(&count).expect("pg count");
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    ms
}

/// Searches per second and their p50/p99 with `clients` searching at once for `secs` seconds,
/// each cycling through the queries from its own starting point.
async fn throughput(
    engine: Arc<dyn SearchEngine>,
    queries: Arc<Vec<SearchQuery>>,
    clients: usize,
    secs: u64,
) -> String {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (engine, queries) = (engine.clone(), queries.clone());
        tasks.spawn(async move {
            let (mut ms, mut failed) = (Vec::new(), 0u64);
            let mut i = client * queries.len() / clients.max(1);
            while Instant::now() < until {
                let t = Instant::now();
                match engine.search(&queries[i % queries.len()]).await {
                    Ok(_) => ms.push(t.elapsed().as_secs_f64() * 1000.0),
                    Err(_) => failed += 1,
                }
                i += 1;
            }
            (ms, failed)
        });
    }
    let (mut ms, mut failed) = (Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        let (m, f) = r.expect("client");
        ms.extend(m);
        failed += f;
    }
    ms.sort_by(f64::total_cmp);
    format!(
        "{:.0} searches/s, p50 {:.2} ms, p99 {:.2} ms, {failed} failed",
        ms.len() as f64 / secs as f64,
        percentile(&ms, 0.5),
        percentile(&ms, 0.99)
    )
}

/// wrk's throughput and latency lines for one script against one server.
async fn wrk(script: std::path::PathBuf, target: String) -> Vec<String> {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("wrk")
            .args(["-t2", "-c32", "-d15s", "--latency", "-s"])
            .arg(&script)
            .arg(target)
            .output()
    })
    .await
    .expect("wrk task");
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains("Requests/sec") || l.contains("99%") || l.contains("50%") || l.contains("Non-2xx"))
            .map(|l| l.trim().to_owned())
            .collect(),
        Err(e) => vec![format!("wrk not available ({e}); install Debian's wrk for the HTTP figure")],
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = arg("--products").and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let queries_path = arg("--queries").unwrap_or_else(|| "search/bench-queries.txt".into());
    let lines: Vec<String> = std::fs::read_to_string(&queries_path)
        .expect("bench queries")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let queries: Vec<SearchQuery> = lines.iter().map(|l| parse_query(l).0).collect();
    println!("search benchmark: {n} products, {} queries ({queries_path})", queries.len());

    // `--keep DIR` leaves the database and index there, to measure a real `dongxi serve` on them.
    let temp = tempfile::tempdir().expect("temp dir");
    let kept = arg("--keep").map(std::path::PathBuf::from);
    if let Some(k) = &kept {
        let _ = std::fs::remove_dir_all(k);
        std::fs::create_dir_all(k).expect("--keep dir");
    }
    let dir_path = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let url = format!("sqlite://{}", dir_path.join("bench.db").display());
    let db = Db::connect(&url, 4).expect("db");
    let clock = Clock::system();
    let now = clock.now_naive();
    let today = clock.today(chrono_tz::Asia::Shanghai);
    let valid = today + chrono::Duration::days(365);
    let producers = {
        let clock = clock.clone();
        db.run(move |c| {
            dongxi::server::migrate(c, &clock)?;
            let mut producers = Vec::new();
            for (code, place) in COUNTIES {
                dongxi::regions::model::set_assisted_mark(c, code, true)?;
                let org =
                    create_org_unchecked(c, &format!("{place}农产品专业合作社"), OrgKind::Producer, code, None, now)?;
                let path = dongxi::regions::path_of(c, code)?.unwrap_or_default();
                producers.push((org.id, place.to_string(), path));
            }
            Ok(producers)
        })
        .await
        .expect("setup")
    };
    let started = Instant::now();
    let rows = generate(n, &producers, now, valid);
    let pg_rows = rows.clone();
    db.write(move |c| insert_many(c, &rows)).await.expect("insert");
    println!("generated and stored {n} products in {:.1} s", started.elapsed().as_secs_f64());

    let engine = Arc::new(EmbeddedEngine::open(dir_path.as_path()).expect("index"));
    let rss_before = rss_mb();
    let started = Instant::now();
    let indexed = dongxi::search::indexer::rebuild(&db, engine.as_ref(), today, &|_, _| {}).await.expect("rebuild");
    let build_secs = started.elapsed().as_secs_f64();
    println!("index build: {indexed} products in {build_secs:.1} s");

    // Warm up once, then three timed passes over every query.
    for q in &queries {
        engine.search(q).await.expect("search");
    }
    let mut ms = Vec::new();
    let mut total_hits = 0u64;
    // Each query's slowest pass and its number of matches, for `--slowest N`.
    let mut worst: Vec<(f64, u64, usize)> = vec![(0.0, 0, 0); queries.len()];
    for _ in 0..3 {
        for (i, q) in queries.iter().enumerate() {
            let t = Instant::now();
            let r = engine.search(q).await.expect("search");
            let took = t.elapsed().as_secs_f64() * 1000.0;
            ms.push(took);
            total_hits += r.total;
            worst[i] = (worst[i].0.max(took), r.total, i);
        }
    }
    ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&ms, 0.50), percentile(&ms, 0.99));
    println!(
        "embedded in-process: p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms over {} searches (mean total {:.0} hits); RSS {:.0} MB (before index {:.0} MB)",
        ms.last().copied().unwrap_or(0.0),
        ms.len(),
        total_hits as f64 / ms.len() as f64,
        rss_mb(),
        rss_before
    );
    if let Some(slowest) = arg("--slowest").and_then(|v| v.parse::<usize>().ok()) {
        worst.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (took, hits, i) in worst.iter().take(slowest) {
            println!("  slowest: {took:.2} ms, {hits} matches: {}", lines[*i]);
        }
    }

    if let Ok(pg_url) = std::env::var("DONGXI_BENCH_PG_URL") {
        let mut conn = dongxi::db::establish(&pg_url).expect("DONGXI_BENCH_PG_URL");
        conn.batch_execute("SET client_min_messages = warning; DROP TABLE IF EXISTS bench_products; CREATE TABLE bench_products (id text primary key, name text, description text, origin_names text, category text, origin_path text, storage text, price_fen bigint, stock bigint, rating double precision, created_at timestamp)").expect("pg table");
        for chunk in pg_rows.chunks(2000) {
            let values: Vec<String> = chunk
                .iter()
                .map(|r| {
                    format!(
                        "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                        pg_literal(&r.id),
                        pg_literal(&r.name),
                        pg_literal(&r.description),
                        pg_literal(&r.name),
                        pg_literal(&r.category),
                        pg_literal(&r.origin_path),
                        pg_literal(&r.storage),
                        r.price_fen,
                        r.stock,
                        if r.rating_count > 0 { r.rating_sum as f64 / r.rating_count as f64 } else { -1.0 },
                        pg_literal(&r.created_at.to_string())
                    )
                })
                .collect();
            conn.batch_execute(&format!("INSERT INTO bench_products VALUES {}", values.join(","))).expect("pg insert");
        }
        conn.batch_execute("CREATE INDEX ON bench_products (category); CREATE INDEX ON bench_products (price_fen); CREATE INDEX ON bench_products (created_at); ANALYZE bench_products").expect("pg indexes");
        let sample_size: usize = arg("--pg-sample").and_then(|v| v.parse().ok()).unwrap_or(300);
        let sample: Vec<SearchQuery> = queries.iter().take(sample_size).cloned().collect();
        let ilike = time_pg(&mut conn, &sample);
        println!(
            "postgres ILIKE ({sample_size} queries): p50 {:.2} ms, p99 {:.2} ms",
            percentile(&ilike, 0.5),
            percentile(&ilike, 0.99)
        );
        let trgm = match conn.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX bench_trgm ON bench_products USING gin (name gin_trgm_ops, description gin_trgm_ops, origin_names gin_trgm_ops); ANALYZE bench_products") {
            Ok(()) => Some(time_pg(&mut conn, &sample)),
            Err(e) => {
                println!("pg_trgm unavailable: {e}");
                None
            }
        };
        if let Some(trgm) = &trgm {
            println!(
                "postgres pg_trgm ({sample_size} queries): p50 {:.2} ms, p99 {:.2} ms",
                percentile(trgm, 0.5),
                percentile(trgm, 0.99)
            );
        }
        let mut ours = Vec::new();
        for q in &sample {
            let t = Instant::now();
            engine.search(q).await.expect("search");
            ours.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ours.sort_by(f64::total_cmp);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        println!(
            "same {sample_size} queries, same run: embedded mean {:.3} ms vs ILIKE mean {:.3} ms → {:.1}× faster{}",
            mean(&ours),
            mean(&ilike),
            mean(&ilike) / mean(&ours).max(1e-9),
            trgm.as_ref()
                .map(|t| format!("; vs pg_trgm mean {:.3} ms → {:.1}×", mean(t), mean(t) / mean(&ours).max(1e-9)))
                .unwrap_or_default()
        );
        let _ = conn.batch_execute("DROP TABLE bench_products");
    }

    // Meilisearch beside the embedded engine: the same products through Dongxi's own
    // Meilisearch engine (its settings and documents), the same queries, the same run.
    let meili = match arg("--meili") {
        Some(meili_url) => {
            let key = std::env::var("DONGXI_BENCH_MEILI_KEY").ok();
            let meili = Arc::new(MeiliEngine::new(&meili_url, key.as_deref(), "dongxi_bench_products").expect("meili"));
            let started = Instant::now();
            let indexed =
                dongxi::search::indexer::rebuild(&db, meili.as_ref(), today, &|_, _| {}).await.expect("meili rebuild");
            println!(
                "meilisearch index build (Dongxi's rebuild: batches of 1,000, up to 16 queued): {indexed} products in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            for q in &queries {
                meili.search(q).await.expect("meili search");
            }
            let (mut theirs, mut same_total) = (Vec::new(), 0);
            for q in &queries {
                let t = Instant::now();
                let r = meili.search(q).await.expect("meili search");
                theirs.push(t.elapsed().as_secs_f64() * 1000.0);
                same_total += usize::from(engine.search(q).await.expect("search").total == r.total);
            }
            theirs.sort_by(f64::total_cmp);
            println!(
                "meilisearch through Dongxi's client (HTTP on loopback), one at a time: p50 {:.2} ms, p99 {:.2} ms over {} searches; the same total as the embedded engine in {same_total} of {}",
                percentile(&theirs, 0.5),
                percentile(&theirs, 0.99),
                theirs.len(),
                queries.len()
            );
            let shared = Arc::new(queries.clone());
            println!(
                "embedded in-process, 32 clients, 15 s: {}",
                throughput(engine.clone(), shared.clone(), 32, 15).await
            );
            println!(
                "meilisearch through Dongxi's client, 32 clients, 15 s: {}",
                throughput(meili.clone(), shared, 32, 15).await
            );
            Some(meili)
        }
        None => None,
    };

    if flag("--http") {
        let config = dongxi::config::Config::from_lookup(|k| match k {
            "DATABASE_URL" => Some(url.clone()),
            "DONGXI_DATA_DIR" => Some(dir_path.as_path().display().to_string()),
            _ => None,
        })
        .expect("config");
        let state = dongxi::state::AppState::new(config, db.clone(), clock.clone(), engine.clone()).expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, dongxi::app::router(state)).await });
        let script = dir_path.as_path().join("queries.lua");
        let paths: Vec<String> = lines
            .iter()
            .map(|l| {
                format!(
                    "\"/api/v1/search/products?{}\"",
                    l.split('&')
                        .map(|p| match p.split_once('=') {
                            Some((k, v)) => format!(
                                "{k}={}",
                                v.bytes()
                                    .map(|b| if b.is_ascii_alphanumeric() || b == b'+' || b == b'_' {
                                        (b as char).to_string()
                                    } else {
                                        format!("%{b:02X}")
                                    })
                                    .collect::<String>()
                            ),
                            None => p.to_owned(),
                        })
                        .collect::<Vec<_>>()
                        .join("&")
                )
            })
            .collect();
        std::fs::write(&script, format!("local paths = {{{}}}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n", paths.join(","))).expect("lua");
        tokio::time::sleep(Duration::from_millis(300)).await;
        for line in wrk(script, format!("http://{addr}")).await {
            println!("http (wrk, 32 connections, 15 s): {line}");
        }
        println!("RSS under load: {:.0} MB", rss_mb());
        if let (Some(meili), Some(meili_url)) = (&meili, arg("--meili")) {
            // Long brackets keep the JSON bodies as they are; `]==]` never occurs in them.
            let bodies: Vec<String> =
                queries.iter().map(|q| format!("[==[{}]==]", meili.request_body(q).expect("request body"))).collect();
            let script = dir_path.as_path().join("meili-queries.lua");
            std::fs::write(
                &script,
                format!(
                    "local bodies = {{{}}}\nlocal i = 0\nrequest = function()\n  i = i % #bodies + 1\n  return wrk.format(\"POST\", \"/indexes/dongxi_bench_products/search\", {{[\"Content-Type\"] = \"application/json\"}}, bodies[i])\nend\n",
                    bodies.join(",")
                ),
            )
            .expect("lua");
            for line in wrk(script, meili_url.trim_end_matches('/').to_owned()).await {
                println!("meilisearch http, its own search route (wrk, 32 connections, 15 s): {line}");
            }
        }
    }
}
