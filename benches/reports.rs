//! Report benchmark on PostgreSQL: `cargo bench --bench reports -- [--entries N] [--runs R] [--plain-runs P] [--reuse]
//! [--write-only] [--as-of-only] [--all-weeks] [--chunk C]` (`--write-only`: load, then measure only what the ledger adds to a
//! payment; `--as-of-only`: only the reports `as_of` an instant; `--plain-runs 0`: no baselines;
//! `--all-weeks`: the week-end snapshots of the whole year, not only of August and September;
//! `--chunk`: entries per transaction of the load, 1,000,000 by default). A load that
//! stopped part-way (killed, out of disk) resumes after its last whole chunk when run again with
//! the same `--entries` and `--chunk`.
//!
//! Loads N ledger entries (default 10,000,000) into a fresh schema of `DONGXI_BENCH_PG_URL`,
//! shaped like the national platform: ~30,000 producers in the 992 counties of the western
//! provinces (黔 weighted three times), 100,000 buying organisations in the 575 counties of the
//! eastern ones, each recipient prefecture paired with one donor prefecture; four fifths of the
//! purchases come from the paired prefecture, a December rush, 3% refunds, a fifth of the
//! entries over two lines. The loader writes what the real write path writes — entries, their
//! lines with every attribute fixed, the rollups summed from the lines — with the foreign keys
//! to orders switched off (`session_replication_role = replica`: no orders are made for them).
//!
//! Then, through the real report code: p50/p99 of progress and of each breakdown, with and
//! without `as_of` (a month's end, which a snapshot holds, and the middle of a month), for a county, a prefecture and a province on each side, against the plain
//! GROUP BY over the ledger lines (path prefix, no rollups) in the same run; and what writing the
//! ledger adds to a payment (the same payments counted on payment and on acceptance).

use dongxi::accounting::breakdown;
use dongxi::accounting::progress;
use dongxi::accounting::span::Span;
use std::time::Instant;

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use dongxi::accounting::breakdown::By;
use dongxi::accounting::scope::{self, ScopeKind};
use dongxi::accounting::snapshots::Kind;
use dongxi::config::{CountOn, SettleOn};
use dongxi::ctx::Ctx;
use dongxi::db::{Db, DbConn};

const YEAR: i32 = 2025;

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

/// (p50, p99, mean) in milliseconds of `runs` timings of `f` (after one warm-up run); no runs, no
/// warm-up either (`--plain-runs 0`: no baselines).
fn time<F: FnMut()>(runs: usize, mut f: F) -> (f64, f64, f64) {
    if runs == 0 {
        return (0.0, 0.0, 0.0);
    }
    f();
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.99), ms.iter().sum::<f64>() / ms.len() as f64)
}

/// Loads `entries` entries in chunks of `chunk`, each chunk one transaction drawn from a seed of
/// its own, so that a load stopped part-way resumes after its last whole chunk (`already`
/// entries) and draws the same data as one that was never stopped.
fn load(conn: &mut DbConn, entries: u64, chunk: u64, already: u64) {
    let started = Instant::now();
    let step = |what: &str| eprintln!("  {what} ({:.0} s)", started.elapsed().as_secs_f64());
    // The migrations' indexes on the lines (a later definition replacing an earlier one of the
    // same name), re-created after the load (much faster than during it).
    let migrations = [
        include_str!("../migrations/postgres/2026-11-25-000004_accounting/up.sql"),
        include_str!("../migrations/postgres/2026-12-08-000016_buyer_rollups_by_part/up.sql"),
    ];
    let mut line_indexes: Vec<&str> = Vec::new();
    for statement in migrations.iter().flat_map(|m| m.lines()).filter(|l| l.starts_with("CREATE INDEX ledger_lines_")) {
        let name = |s: &str| s.split_whitespace().nth(2).unwrap_or_default().to_owned();
        line_indexes.retain(|earlier| name(earlier) != name(statement));
        line_indexes.push(statement);
    }
    let mut sql = String::from(
        "SET client_min_messages = warning; SET maintenance_work_mem = '1GB'; SET session_replication_role = replica;
         SELECT setseed(0.2021);
         UPDATE regions SET assisted_mark = true WHERE level = 'province' AND substr(code, 1, 2) IN ('45','50','51','52','53','54','61','62','63','64','65');
         CREATE TEMP TABLE bench_rc AS SELECT code, path, split_part(path, '/', 1) AS province, split_part(path, '/', 2) AS prefecture
           FROM regions WHERE level = 'county' AND substr(code, 1, 2) IN ('45','50','51','52','53','54','61','62','63','64','65');
         CREATE TEMP TABLE bench_dc AS SELECT code, path, split_part(path, '/', 1) AS province, split_part(path, '/', 2) AS prefecture
           FROM regions WHERE level = 'county' AND substr(code, 1, 2) IN ('11','12','31','32','33','35','37','44');
         CREATE TEMP TABLE bench_producers AS
           SELECT row_number() OVER (ORDER BY rc.code, g) AS n, 'org_BP' || rc.code || '_' || g AS id, rc.*
           FROM bench_rc rc, generate_series(1, CASE WHEN rc.province = '520000' THEN 75 ELSE 25 END) g;
         CREATE TEMP TABLE bench_buyers AS
           SELECT row_number() OVER (ORDER BY dc.code, g) AS n, 'org_BB' || dc.code || '_' || g AS id, dc.*
           FROM bench_dc dc, generate_series(1, 174) g;
         INSERT INTO organizations (id, name, kind, region_code, parent_id, path, created_at)
           SELECT id, '合作社' || n, 'producer', code, NULL, id || '/', now() FROM bench_producers
           UNION ALL SELECT id, '采购单位' || n, 'agency', code, NULL, id || '/', now() FROM bench_buyers
           ON CONFLICT DO NOTHING;
         CREATE TEMP TABLE bench_pairs AS
           WITH r AS (SELECT prefecture, row_number() OVER (ORDER BY prefecture) - 1 AS i FROM (SELECT DISTINCT prefecture FROM bench_rc) x),
                d AS (SELECT prefecture, row_number() OVER (ORDER BY prefecture) - 1 AS j FROM (SELECT DISTINCT prefecture FROM bench_dc) y)
           SELECT 'pai_B' || r.i AS id, r.prefecture AS recipient, d.prefecture AS donor
           FROM r JOIN d ON d.j = r.i % (SELECT count(*) FROM d);
         INSERT INTO pairings (id, donor_region_code, donor_org_id, donor_path, recipient_region_code, recipient_path, valid_from, created_at, updated_at)
           SELECT p.id, p.donor, NULL, dr.path, p.recipient, rr.path, DATE '2021-01-01', now(), now()
           FROM bench_pairs p JOIN regions dr ON dr.code = p.donor JOIN regions rr ON rr.code = p.recipient
           ON CONFLICT DO NOTHING;
         CREATE TEMP TABLE bench_pref_buyers AS SELECT prefecture, array_agg(n ORDER BY n) AS ns FROM bench_buyers GROUP BY prefecture;
         CREATE INDEX ON bench_producers (n); CREATE INDEX ON bench_buyers (n);
         ALTER TABLE ledger_lines DROP CONSTRAINT IF EXISTS ledger_lines_pkey;",
    );
    for idx in &line_indexes {
        let name = idx.split_whitespace().nth(2).unwrap_or_default();
        sql.push_str(&format!("DROP INDEX IF EXISTS {name};"));
    }
    conn.batch_execute(&sql).expect("bench set-up");
    step("organisations, pairings");
    let (np, nb): (i64, i64) = {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            p: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            b: i64,
        }
        let DbConn::Postgres(c) = conn else { unreachable!() };
        let n: N = diesel::sql_query(
            "SELECT (SELECT count(*) FROM bench_producers) AS p, (SELECT count(*) FROM bench_buyers) AS b",
        )
        .get_result(c)
        .expect("counts");
        (n.p, n.b)
    };
    eprintln!("  {np} producers, {nb} buyers");
    // Entries in chunks, each a random draw joined to its producer, buyer and pairing.
    let mut from = already + 1;
    if already > 0 {
        eprintln!("  resuming after entry {already}");
    }
    while from <= entries {
        let to = (from + chunk - 1).min(entries);
        // A seed per chunk in (-1, 1), from the chunk's first entry.
        let seed = ((from / chunk) % 19_997) as f64 / 20_000.0;
        // One multi-statement string: one transaction, so a chunk is loaded whole or not at all.
        conn.batch_execute(&format!(
            "SET session_replication_role = replica;
             SELECT setseed({seed});
             CREATE TEMP TABLE bench_draw AS
               SELECT i, 1 + floor(random() * {np})::bigint AS pn, random() AS paired, random() AS pick,
                      1 + floor(random() * {nb})::bigint AS anyone,
                      CASE WHEN random() < 0.4 THEN {prev} ELSE {YEAR} END AS year,
                      CASE WHEN random() < 0.15 THEN 12 ELSE 1 + floor(random() * 12)::int END AS month,
                      1 + floor(random() * 28)::int AS day, floor(random() * 86400)::int AS second,
                      floor(random() * 10)::int AS cat, floor(random() * 10)::int AS cat2,
                      (500 + floor(random() * 499500))::bigint AS amount, random() < 0.03 AS reverse, random() < 0.2 AS split
               FROM generate_series({from}, {to}) i;
             CREATE TEMP TABLE bench_rows AS
               SELECT d.*, p.id AS producer_id, p.code AS origin_code, p.path AS origin_path, p.province AS origin_province,
                      p.prefecture AS origin_prefecture, p.code AS origin_county,
                      b.id AS buyer_id, b.code AS buyer_code, b.path AS buyer_region_path, b.province AS buyer_province,
                      b.prefecture AS buyer_prefecture, b.code AS buyer_county,
                      CASE WHEN b.prefecture = pr.donor THEN pr.id ELSE '' END AS pairing_key,
                      make_timestamp(d.year, d.month, d.day, 0, 0, 0) + d.second * interval '1 second' - interval '8 hours' AS counted_at,
                      (ARRAY['tea','edible_fungi','grain_oil','meat_eggs','vegetables','fruit','herbs','specialty_food','handicraft','other'])[d.cat + 1] AS category,
                      (ARRAY['tea','edible_fungi','grain_oil','meat_eggs','vegetables','fruit','herbs','specialty_food','handicraft','other'])[d.cat2 + 1] AS category2,
                      CASE WHEN d.reverse THEN -(d.amount / 4) ELSE d.amount END AS signed
               FROM bench_draw d
               JOIN bench_producers p ON p.n = d.pn
               JOIN bench_pairs pr ON pr.recipient = p.prefecture
               JOIN bench_pref_buyers pb ON pb.prefecture = pr.donor
               JOIN bench_buyers b ON b.n = CASE WHEN d.paired < 0.8 THEN pb.ns[1 + floor(d.pick * cardinality(pb.ns))::int] ELSE d.anyone END;
             INSERT INTO ledger_entries (id, cause, kind, order_id, sub_order_id, refund_id, reverses_id, amount_fen, counted_at, recorded_at,
                 year, month, adjusts_year, buyer_org_id, buyer_region_code, producer_id, origin_region_code, pairing_id, certificate_no)
               SELECT 'led_B' || lpad(i::text, 9, '0'), CASE WHEN reverse THEN 'refund:rfd_B' ELSE 'count:sub_B' END || i,
                 CASE WHEN reverse THEN 'reverse' ELSE 'count' END, 'ord_B' || i, 'sub_B' || i, NULL, NULL, signed,
                 counted_at, counted_at + interval '1 minute', year, month, NULL, buyer_id, buyer_code, producer_id, origin_code,
                 NULLIF(pairing_key, ''), 'DX-' || origin_code || '-' || pn
               FROM bench_rows;
             INSERT INTO ledger_lines (entry_id, position, kind, amount_fen, year, month, recorded_at, product_id, category, certificate_no,
                 origin_code, origin_path, origin_province, origin_prefecture, origin_county, buyer_org_id, buyer_org_path, buyer_region_path,
                 buyer_province, buyer_prefecture, buyer_county, producer_id, producer_path, pairing_key)
               SELECT 'led_B' || lpad(i::text, 9, '0'), x.position, CASE WHEN reverse THEN 'reverse' ELSE 'count' END,
                 CASE WHEN NOT split THEN signed WHEN x.position = 0 THEN signed - signed * 3 / 10 ELSE signed * 3 / 10 END,
                 year, month, counted_at + interval '1 minute', 'prd_B' || pn || '_' || x.position,
                 CASE WHEN x.position = 0 THEN category ELSE category2 END, 'DX-' || origin_code || '-' || pn,
                 origin_code, origin_path, origin_province, origin_prefecture, origin_county, buyer_id, buyer_id || '/', buyer_region_path,
                 buyer_province, buyer_prefecture, buyer_county, producer_id, producer_id || '/', pairing_key
               FROM bench_rows CROSS JOIN LATERAL (SELECT 0 AS position UNION ALL SELECT 1 WHERE split) x;
             DROP TABLE bench_draw; DROP TABLE bench_rows;",
            prev = YEAR - 1,
        ))
        .expect("entries");
        step(&format!("entries {from}–{to}"));
        from = to + 1;
    }
    let mut finish = String::from(
        "SET maintenance_work_mem = '1GB'; ALTER TABLE ledger_lines ADD PRIMARY KEY (entry_id, position);",
    );
    for idx in &line_indexes {
        finish.push_str(idx);
    }
    // The rollups, summed from the lines: what the write path adds up entry by entry.
    for r in &dongxi::accounting::rollups::ROLLUPS {
        let key = r.key.join(", ");
        let rest: String = r.rest.iter().map(|c| format!("min({c}), ")).collect();
        finish.push_str(&format!(
            "INSERT INTO {} SELECT {key}, {rest}sum(amount_fen) FROM {} GROUP BY {key};",
            r.table,
            r.source()
        ));
    }
    conn.batch_execute(&finish).expect("indexes and rollups");
    // VACUUM runs outside a transaction: one statement at a time.
    let tables = ["ledger_entries", "ledger_lines", "organizations"]
        .into_iter()
        .chain(dongxi::accounting::rollups::ROLLUPS.iter().map(|r| r.table));
    for table in tables {
        conn.batch_execute(&format!("VACUUM ANALYZE {table}")).expect("vacuum");
    }
    step("indexes, rollups, analyze");
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut DbConn, sql: &str) -> i64 {
    let DbConn::Postgres(c) = conn else { unreachable!() };
    diesel::sql_query(sql).get_result::<Count>(c).map(|r| r.n).unwrap_or(0)
}

/// The plain way: group the lines under a region path, with no rollup and no level columns.
fn plain(conn: &mut DbConn, side: &str, path: &str, group: &str, as_of: Option<NaiveDateTime>) {
    let column = if side == "origin" { "origin_path" } else { "buyer_region_path" };
    let cutoff = as_of.map(|t| format!(" AND recorded_at <= '{t}'")).unwrap_or_default();
    let sql = format!(
        "SELECT {group}, sum(amount_fen) FROM ledger_lines WHERE year = {YEAR} AND {column} LIKE '{path}%'{cutoff} GROUP BY {group}"
    );
    conn.batch_execute(&sql).expect("plain group by");
}

/// What writing the ledger adds to a payment: the same kind of order paid with counting on payment
/// (the entry is written) and on acceptance (it is not), on the loaded database.
fn write_cost(conn: &mut DbConn, runs: usize) -> (f64, f64) {
    use dongxi::identity::actor::actor_for_user;
    use dongxi::identity::service::{NewUser, create_org_unchecked, create_user_unchecked};
    use dongxi::identity::types::{Email, OrgKind, Password, Role};
    use dongxi::orders::types::{Delivery, LineBody, NewOrder};
    let now = Utc::now().naive_utc();
    let org = |conn: &mut DbConn, name: &str, kind, region: &str| {
        create_org_unchecked(conn, name, kind, region, None, now).unwrap()
    };
    let agency = org(conn, "写入测试单位", OrgKind::Agency, "441302");
    let producer = org(conn, "写入测试合作社", OrgKind::Producer, "522323");
    let platform = org(conn, "写入测试平台", OrgKind::Platform, "110000");
    let actor = |conn: &mut DbConn, o: &dongxi::identity::model::OrgRow, email: &str| {
        let user = NewUser {
            email: Email::parse(email).unwrap(),
            name: email.into(),
            password: Password::parse("bench-password-1").unwrap(),
            role: Role::Admin,
        };
        let id = create_user_unchecked(conn, &o.id, &user, now).unwrap().id;
        actor_for_user(conn, &id).unwrap().unwrap()
    };
    let run = dongxi::ids::new_id("r").to_lowercase();
    let buyer = actor(conn, &agency, &format!("buyer-{run}@bench.cn"));
    let admin = actor(conn, &platform, &format!("admin-{run}@bench.cn"));
    let mut fields = dongxi::catalog::types::ProductFields {
        name: "普安红茶".into(),
        category: "tea".into(),
        description: String::new(),
        origin_region_code: "522323".into(),
        unit: "罐".into(),
        spec: "250g".into(),
        net_weight_g: Some(250),
        price_fen: 16800,
        tiers: vec![],
        min_order_qty: 1,
        stock: 1_000_000_000,
        storage: dongxi::catalog::types::Storage::Ambient,
        shelf_life_days: None,
        images: vec![],
    };
    let path = dongxi::catalog::service::validate_fields(conn, &mut fields).unwrap();
    let mut row = dongxi::catalog::service::new_row(&producer.id, fields, path, now);
    row.status = "listed".into();
    row.cert_status = "certified".into();
    row.certificate_no = Some(format!("DX-BENCH-{run}"));
    row.cert_valid_until = chrono::NaiveDate::from_ymd_opt(2099, 1, 1);
    dongxi::catalog::model::insert(conn, &row).unwrap();
    let mut ms = |count_on: CountOn| -> f64 {
        let ctx = Ctx::new(Utc::now().naive_utc(), chrono_tz::Asia::Shanghai, count_on, SettleOn::Accepted);
        let mut took: Vec<f64> = Vec::new();
        for _ in 0..runs {
            let order = NewOrder {
                lines: vec![LineBody { product_id: row.id.clone(), quantity: 3 }],
                delivery: Delivery {
                    address: "惠州".into(), contact_name: "王".into(), phone: "0752-2222222".into()
                },
                note: None,
                live_session_id: None,
            };
            let placed =
                dongxi::db::write_tx(conn, |c| dongxi::orders::placing::place(c, &buyer, order, &ctx)).unwrap();
            let body = dongxi::payments::service::OfflinePaymentBody {
                amount_fen: placed.total_fen,
                reference: "B".into(),
                paid_at: Utc::now(),
            };
            let t = Instant::now();
            dongxi::db::write_tx(conn, |c| {
                dongxi::payments::service::record_offline(c, &admin, &placed.id, body, &ctx)
            })
            .unwrap();
            took.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        took.sort_by(f64::total_cmp);
        percentile(&took, 0.5)
    };
    let without = ms(CountOn::Accepted);
    let with = ms(CountOn::Paid);
    (with, without)
}

fn main() {
    let Ok(base) = std::env::var("DONGXI_BENCH_PG_URL") else {
        eprintln!("set DONGXI_BENCH_PG_URL to an existing PostgreSQL database");
        std::process::exit(2);
    };
    let entries: u64 = arg("--entries").and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let runs: usize = arg("--runs").and_then(|v| v.parse().ok()).unwrap_or(30);
    // The plain GROUP BY takes a second or more a query: fewer runs of it keep a rerun short.
    let plain_runs: usize = arg("--plain-runs").and_then(|v| v.parse().ok()).unwrap_or(runs.min(10));
    let chunk: u64 = arg("--chunk").and_then(|v| v.parse().ok()).filter(|c| *c > 0).unwrap_or(1_000_000);
    let schema = format!("bench_reports_{entries}");
    let mut admin = dongxi::db::establish(&base).expect("DONGXI_BENCH_PG_URL");
    let has = |admin: &mut DbConn, table: &str| {
        count(
            admin,
            &format!(
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = '{schema}' AND table_name = '{table}'"
            ),
        ) == 1
    };
    // A load in progress leaves `bench_load` (what it was asked for) until it has finished: the
    // same load asked again resumes it.
    let unfinished = has(&mut admin, "bench_load");
    let resume = unfinished
        && count(&mut admin, &format!("SELECT entries AS n FROM {schema}.bench_load")) as u64 == entries
        && count(&mut admin, &format!("SELECT chunk AS n FROM {schema}.bench_load")) as u64 == chunk;
    let loaded = !unfinished
        && flag("--reuse")
        && has(&mut admin, "ledger_sums_month")
        && count(&mut admin, &format!("SELECT count(*) AS n FROM {schema}.ledger_entries")) as u64 >= entries;
    if !loaded && !resume {
        admin
            .batch_execute(&format!(
                "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .expect("schema");
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let db = Db::connect(&url, 2).expect("pool");
    let mut conn = db.get().expect("connection");
    let clock = dongxi::clock::Clock::system();
    dongxi::server::migrate(&mut conn, &clock).expect("migrate");
    if loaded {
        eprintln!("reusing {schema}");
    } else {
        // A load stopped from outside may still be finishing its chunk in the server: wait for
        // its session (which holds this lock until it ends) before counting what it loaded.
        conn.batch_execute(&format!("SELECT pg_advisory_lock(hashtext('{schema}'))")).expect("load lock");
        let already = if resume {
            count(&mut conn, "SELECT count(*) AS n FROM ledger_entries") as u64
        } else {
            conn.batch_execute(&format!(
                "CREATE TABLE bench_load (entries BIGINT NOT NULL, chunk BIGINT NOT NULL); INSERT INTO bench_load VALUES ({entries}, {chunk})"
            ))
            .expect("load marker");
            0
        };
        eprintln!("loading {entries} ledger entries into {schema} in chunks of {chunk} …");
        let started = Instant::now();
        load(&mut conn, entries, chunk, already);
        conn.batch_execute("DROP TABLE bench_load").expect("load marker");
        let rate = (entries - already) as f64 / started.elapsed().as_secs_f64();
        eprintln!("loaded in {:.0} s ({rate:.0} entries/s)", started.elapsed().as_secs_f64());
    }
    // Month-end snapshots, as the worker takes (and then vacuums) them once each month has ended.
    if count(&mut conn, "SELECT count(*) AS n FROM ledger_snapshots") == 0 {
        let started = Instant::now();
        let zone = chrono_tz::Asia::Shanghai;
        for month in 1..=12u32 {
            let (y, m) = if month == 12 { (YEAR + 1, 1) } else { (YEAR, month + 1) };
            let local = chrono::NaiveDate::from_ymd_opt(y, m, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
            let at = zone.from_local_datetime(&local).unwrap().naive_utc();
            dongxi::accounting::snapshots::take(&mut conn, at, Kind::Month, zone, at).expect("snapshot");
        }
        dongxi::accounting::snapshots::tidy(&mut conn).expect("vacuum");
        eprintln!("12 month-end snapshots taken in {:.0} s", started.elapsed().as_secs_f64());
    }
    // Week-end snapshots (Monday 00:00) of the weekly tables, each Monday that closes a week and
    // is not a month's first (that one is the month-end snapshot), as the worker takes them: those
    // of August and September, around the instants measured (the nearest snapshot is the same as
    // with the whole year's), or with `--all-weeks` the year's (each takes tens of seconds at 10M).
    let weeks = "SELECT count(*) AS n FROM ledger_snapshots WHERE kind = 'week'";
    if count(&mut conn, weeks) == 0 {
        let started = Instant::now();
        let zone = chrono_tz::Asia::Shanghai;
        let (from, to) = if flag("--all-weeks") { (1, 12) } else { (8, 9) };
        let mut monday = chrono::NaiveDate::from_ymd_opt(YEAR, from, 2).unwrap();
        while monday.weekday() != chrono::Weekday::Mon {
            monday = monday.succ_opt().unwrap();
        }
        let mut taken = 0;
        while monday.year() == YEAR && monday.month() <= to {
            let at = zone.from_local_datetime(&monday.and_hms_opt(0, 0, 0).unwrap()).unwrap().naive_utc();
            taken +=
                usize::from(dongxi::accounting::snapshots::take(&mut conn, at, Kind::Week, zone, at).expect("week"));
            monday += chrono::Duration::days(7);
        }
        dongxi::accounting::snapshots::tidy(&mut conn).expect("vacuum");
        let took = started.elapsed().as_secs_f64();
        eprintln!("{taken} week-end snapshots taken in {took:.0} s ({:.1} s each)", took / taken.max(1) as f64);
    }
    let n_weeks = count(&mut conn, weeks);
    let n_entries = count(&mut conn, "SELECT count(*) AS n FROM ledger_entries");
    let n_lines = count(&mut conn, "SELECT count(*) AS n FROM ledger_lines");
    let rollups: Vec<String> = dongxi::accounting::rollups::ROLLUPS
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.table.trim_start_matches("ledger_sums_"),
                count(&mut conn, &format!("SELECT count(*) AS n FROM {}", r.table))
            )
        })
        .collect();
    let snapshot_rows: Vec<String> = dongxi::accounting::snapshots::SNAPSHOTS
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s.table.trim_start_matches("ledger_snap_"),
                count(&mut conn, &format!("SELECT count(*) AS n FROM {}", s.table))
            )
        })
        .collect();
    let size = |conn: &mut DbConn, like: &str| {
        count(
            conn,
            &format!(
                "SELECT CAST(COALESCE(SUM(pg_total_relation_size(c.oid)), 0) / 1048576 AS BIGINT) AS n FROM pg_class c \
                 JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = '{schema}' AND c.relkind = 'r' AND c.relname LIKE '{like}'"
            ),
        )
    };
    println!(
        "ledger: {n_entries} entries, {n_lines} lines; rollup rows: {}; snapshot rows (12 month ends, {n_weeks} week ends): {}; year {YEAR}; {runs} runs each",
        rollups.join(", "),
        snapshot_rows.join(", ")
    );
    println!(
        "\nsize with indexes: entries and lines {} MB, rollups {} MB, snapshots {} MB\n",
        size(&mut conn, "ledger_entries") + size(&mut conn, "ledger_lines"),
        size(&mut conn, "ledger\\_sums\\_%"),
        size(&mut conn, "ledger\\_snap\\_%")
    );
    // `--write-only`: only what recording a payment costs, on the ledger as loaded.
    if flag("--write-only") {
        print_write_cost(&mut conn, runs);
        return;
    }
    let now = Utc.with_ymd_and_hms(YEAR + 1, 3, 1, 0, 0, 0).single().unwrap();
    let ctx = Ctx::new(now.naive_utc(), chrono_tz::Asia::Shanghai, CountOn::Paid, SettleOn::Accepted);
    let as_of: DateTime<Utc> = Utc.with_ymd_and_hms(YEAR, 9, 30, 16, 0, 0).single().unwrap();
    let mid_month: DateTime<Utc> = Utc.with_ymd_and_hms(YEAR, 8, 15, 4, 0, 0).single().unwrap();
    // `--as-of-only`: progress and the buyers as of the two instants, nothing else.
    let as_of_only = flag("--as-of-only");
    let (every, every_plain) = if as_of_only { (0, 0) } else { (runs, plain_runs) };
    println!("| scope | query | ours p50 / p99 (ms) | plain GROUP BY p50 / p99 (ms) | plain ÷ ours (means) |");
    println!("|---|---|---|---|---|");
    for (kind, code, label) in [
        ("recipient", "522323", "county 普安县"),
        ("recipient", "522300", "prefecture 黔西南州"),
        ("recipient", "520000", "province 贵州省"),
        ("donor", "441302", "county 惠城区"),
        ("donor", "441300", "prefecture 惠州市"),
        ("donor", "440000", "province 广东省"),
    ] {
        let s = scope::resolve(&mut conn, ScopeKind::parse(kind).unwrap(), code).unwrap();
        let side = if kind == "recipient" { "origin" } else { "buyer" };
        let path = match &s {
            scope::Scope::Recipient(p) | scope::Scope::Donor(p) => p.path.clone(),
            _ => unreachable!(),
        };
        let row = |query: &str, ours: (f64, f64, f64), plain: (f64, f64, f64)| {
            println!(
                "| {kind} {label} | {query} | {:.1} / {:.1} | {:.1} / {:.1} | {:.0}× |",
                ours.0,
                ours.1,
                plain.0,
                plain.1,
                plain.2 / ours.2.max(1e-6)
            );
        };
        let ours = time(every, || drop(progress::progress(&mut conn, &s, &Span::year(YEAR), None, &ctx).unwrap()));
        let base = time(every_plain, || plain(&mut conn, side, &path, "month", None));
        row("progress", ours, base);
        for by in By::ALL.into_iter().filter(|_| !as_of_only) {
            let b = By::parse(by).unwrap();
            let ours = time(runs, || {
                drop(
                    breakdown::breakdown(
                        &mut conn,
                        &s,
                        &Span::year(YEAR),
                        b,
                        None,
                        Some(breakdown::DEFAULT_ROWS),
                        &ctx,
                    )
                    .unwrap(),
                )
            });
            let group = match by {
                "recipient_county" => "origin_county",
                "recipient_prefecture" => "origin_prefecture",
                "donor_region" => {
                    if kind == "donor" {
                        "buyer_county"
                    } else {
                        "buyer_prefecture"
                    }
                }
                "buyer_org" => "buyer_org_id",
                "producer" => "producer_id",
                "category" => "category",
                _ => "month",
            };
            let base = time(plain_runs, || plain(&mut conn, side, &path, group, None));
            row(&format!("breakdown by {by}"), ours, base);
        }
        // A month's end (a snapshot holds it) and the middle of a month (half a month of lines
        // from the nearest snapshot: what the lines between cost).
        for (at, label) in [(as_of, "30 Sep"), (mid_month, "15 Aug 12:00")] {
            let ours = time(runs.min(20), || {
                drop(progress::progress(&mut conn, &s, &Span::year(YEAR), Some(at), &ctx).unwrap())
            });
            let base = time(plain_runs, || plain(&mut conn, side, &path, "month", Some(at.naive_utc())));
            row(&format!("progress as_of {label}"), ours, base);
            let ours = time(runs.min(20), || {
                drop(
                    breakdown::breakdown(
                        &mut conn,
                        &s,
                        &Span::year(YEAR),
                        By::BuyerOrg,
                        Some(at),
                        Some(breakdown::DEFAULT_ROWS),
                        &ctx,
                    )
                    .unwrap(),
                )
            });
            let base = time(plain_runs, || plain(&mut conn, side, &path, "buyer_org_id", Some(at.naive_utc())));
            row(&format!("breakdown by buyer_org as_of {label}"), ours, base);
        }
        if as_of_only {
            continue;
        }
        // A half-year reads the month rollups where they answer, the lines elsewhere.
        let h1 = Span::parse(YEAR, Some("H1")).unwrap();
        let ours = time(runs, || drop(progress::progress(&mut conn, &s, &h1, None, &ctx).unwrap()));
        let base = time(plain_runs, || plain(&mut conn, side, &path, "month", None));
        row("progress period=H1 (baseline: the whole year from the lines)", ours, base);
        let ours = time(runs, || {
            drop(
                breakdown::breakdown(&mut conn, &s, &h1, By::BuyerOrg, None, Some(breakdown::DEFAULT_ROWS), &ctx)
                    .unwrap(),
            )
        });
        let base = time(plain_runs, || plain(&mut conn, side, &path, "buyer_org_id", None));
        row("breakdown by buyer_org period=H1 (baseline: the whole year from the lines)", ours, base);
    }
    if !as_of_only {
        print_write_cost(&mut conn, runs);
    }
}

fn print_write_cost(conn: &mut DbConn, runs: usize) {
    let payments = runs.max(50);
    let (with, without) = write_cost(conn, payments);
    println!(
        "\nrecording a payment (1 sub-order), p50 of {payments}: {with:.2} ms counting on payment (the ledger entry is written), {without:.2} ms counting on acceptance: the entry adds {:.2} ms",
        with - without
    );
}
