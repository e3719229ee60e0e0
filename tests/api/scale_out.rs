//! Scale-out: reports read from a replica (`DATABASE_READ_URL`) while writes stay on the
//! primary; several `serve` processes and a `worker` on one PostgreSQL never do work twice.

use crate::accounting::{order_at, pay_at, report};
use crate::backend_tests;
use crate::dashboard::{Visitor, attr, scene};
use crate::helpers::{PASSWORD, TestApp};

backend_tests! {
    async fn reports_read_from_the_replica_and_writes_go_to_the_primary(app: TestApp) {
        let (w, _) = scene(&app).await;
        let progress = "year=2021&scope_kind=donor&scope_id=441300";
        let before = report(&app, &w.coordinator, "progress", progress).await["counted_fen"].as_i64().unwrap();
        let replica_url = app.snapshot().await;
        // A third order is paid after the copy: the replica trails the primary by it.
        let third = order_at(&app, &w.school, &[(&w.tea, 10)], "2021-07-20T02:00:00Z").await;
        pay_at(&app, &w.admin, &third, "2021-07-21T02:00:00Z").await;
        app.clock.set(crate::accounting::t("2021-08-02T02:00:00Z"));
        let now = report(&app, &w.coordinator, "progress", progress).await["counted_fen"].as_i64().unwrap();
        assert_eq!(now, before + third["total_fen"].as_i64().unwrap());

        let served = app.with_replica(&replica_url);
        assert!(served.state.db.has_replica());
        // Every report, the ledger and the dashboard answer from the replica …
        assert_eq!(report(&served, &w.coordinator, "progress", progress).await["counted_fen"], before, "progress from the replica");
        let breakdown = report(&served, &w.coordinator, "breakdown", &format!("{progress}&by=category")).await;
        assert_eq!(breakdown["total_fen"], before);
        let ledger = served.get(&format!("/api/v1/ledger?{progress}")).token(&w.coordinator).send().await.json();
        assert_eq!(ledger["items"].as_array().unwrap().len(), 3, "the entries of the first two orders only");
        let mut browser = Visitor::new(&served);
        browser.log_in(crate::dashboard::COORDINATOR, PASSWORD).await.assert_status(303);
        let page = browser.get("/dashboard?year=2021&scope=donor:441300").await.text();
        assert_eq!(attr(&page, "counted", "data-fen"), before.to_string(), "the dashboard from the replica");
        // … while writes (and what must see them at once: sign-ins, orders) use the primary.
        let order = served.post("/api/v1/orders").token(&w.school).json(crate::orders::order_body(&[(&w.tea, 1)])).send().await;
        order.assert_status(201);
        let id = order.json()["id"].as_str().unwrap().to_owned();
        served.get(&format!("/api/v1/orders/{id}")).token(&w.school).send().await.assert_status(200);
        let on_primary = served.db(move |c| dongxi::orders::model::find(c, &id).unwrap().is_some()).await;
        assert!(on_primary, "the order is on the primary");
        // The replica's connections refuse writes outright.
        let refused = served.state.db.read(|c| {
            use diesel::RunQueryDsl;
            let q = diesel::sql_query("DELETE FROM targets");
            Ok(match c { dongxi::db::DbConn::Sqlite(c) => q.execute(c), dongxi::db::DbConn::Postgres(c) => q.execute(c) })
        }).await.unwrap();
        assert!(refused.is_err(), "a write on the replica");
        assert_eq!(report(&served, &w.admin, "progress", "year=2021&scope_kind=recipient&scope_id=522300").await["target_fen"], 50_000_000, "nothing was deleted");
    }
}

/// A `dongxi` process of this build, killed when dropped.
pub struct Process {
    pub child: std::process::Child,
    name: &'static str,
    pub log: std::path::PathBuf,
}

impl Process {
    pub fn start(
        name: &'static str,
        args: &[&str],
        database_url: &str,
        data_dir: &std::path::Path,
        bind: &str,
    ) -> Process {
        Self::start_with(name, args, database_url, data_dir, bind, &[])
    }

    /// With more environment (`RUST_LOG=info` to read every request's log line …).
    pub fn start_with(
        name: &'static str,
        args: &[&str],
        database_url: &str,
        data_dir: &std::path::Path,
        bind: &str,
        env: &[(&str, &str)],
    ) -> Process {
        let log = data_dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_dongxi"))
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("DONGXI_DATA_DIR", data_dir)
            .env("DONGXI_BIND", bind)
            .env("DONGXI_DB_POOL_SIZE", "4")
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_READ_URL")
            .env_remove("SMTP_URL")
            .env_remove("STRIPE_SECRET_KEY")
            .env_remove("MEILI_URL")
            .envs(env.iter().copied())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Process { child, name, log }
    }
    pub fn log(&self) -> String {
        format!("--- {} ---\n{}", self.name, std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the server at `base` answers `/readyz` with 200.
pub async fn ready(http: &reqwest::Client, base: &str, procs: &[&Process]) {
    let url = format!("{base}/readyz");
    eventually("readiness", procs, || {
        let (http, url) = (http.clone(), url.clone());
        async move { http.get(&url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    procs: &[&Process],
    mut check: impl FnMut() -> F,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !check().await {
        if std::time::Instant::now() > deadline {
            panic!("{what} did not happen:\n{}", procs.iter().map(|p| p.log()).collect::<Vec<_>>().join("\n"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

fn mails_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("mail"))
        .map(|d| d.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "eml")).count())
        .unwrap_or(0)
}

/// Two `serve` processes (one with its own worker, one `--no-worker`) and one `worker` on one
/// PostgreSQL: orders through both servers, a campaign closed once, every outbox row handled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_and_a_worker_on_one_postgresql_do_everything_once() {
    use serde_json::{Value, json};

    let Some(admin_url) = crate::helpers::service_env("DONGXI_TEST_DATABASE_URL", "the scale-out test (PostgreSQL)")
    else {
        return;
    };
    let app = TestApp::postgres_at(&admin_url, &[]).await;
    // The processes run on the real clock, so the world is made on it too.
    app.clock.set(chrono::Utc::now());
    let w = crate::orders::world(&app).await;
    let url = app.state.config.database_url.clone();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports = [free_port(), free_port()];
    let a = Process::start("serve-a", &["serve"], &url, dirs[0].path(), &format!("127.0.0.1:{}", ports[0]));
    let b =
        Process::start("serve-b", &["serve", "--no-worker"], &url, dirs[1].path(), &format!("127.0.0.1:{}", ports[1]));
    let worker = Process::start("worker", &["worker"], &url, dirs[2].path(), "127.0.0.1:0");
    let procs = [&a, &b, &worker];
    let http = reqwest::Client::new();
    let servers: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    for base in &servers {
        ready(&http, base, &procs).await;
    }
    // The image's health check: `dongxi healthcheck` asks /healthz on DONGXI_BIND's port.
    let healthcheck = |bind: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dongxi"))
            .arg("healthcheck")
            .env("DONGXI_BIND", bind)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    assert!(healthcheck(format!("0.0.0.0:{}", ports[0])).status.success());
    assert!(!healthcheck(format!("127.0.0.1:{}", free_port())).status.success(), "nothing listens there");
    let call = |i: usize, method: reqwest::Method, path: String, token: String, body: Option<Value>| {
        let request = http.request(method, format!("{}{path}", servers[i % 2])).bearer_auth(token);
        let request = match body {
            Some(b) => request.header("content-type", "application/json").body(serde_json::to_vec(&b).unwrap()),
            None => request,
        };
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            (status, serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap_or(Value::Null))
        }
    };

    // Twenty orders at once, half through each server; each paid through the other one.
    let orders = futures_join_all((0..20).map(|i| {
        call(
            i,
            reqwest::Method::POST,
            "/api/v1/orders".into(),
            w.school.clone(),
            Some(crate::orders::order_body(&[(&w.tea, 2)])),
        )
    }))
    .await;
    assert!(orders.iter().all(|(s, _)| *s == 201), "{orders:?}");
    let paid = futures_join_all(orders.iter().enumerate().map(|(i, (_, o))| call(i + 1, reqwest::Method::POST, format!("/api/v1/orders/{}/payments/offline", o["id"].as_str().unwrap()), w.admin.clone(),
        Some(json!({"amount_fen": o["total_fen"], "reference": format!("ICBC-{i}"), "paid_at": chrono::Utc::now().to_rfc3339()}))))).await;
    assert!(paid.iter().all(|(s, _)| *s == 201), "{paid:?}");
    let (_, product) =
        call(0, reqwest::Method::GET, format!("/api/v1/products/{}", w.tea), w.school.clone(), None).await;
    assert_eq!(product["stock"], 800 - 40, "every order took its stock once");
    let total: i64 = orders.iter().map(|(_, o)| o["total_fen"].as_i64().unwrap()).sum();
    let year = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y").to_string();
    let (_, progress) = call(
        1,
        reqwest::Method::GET,
        format!("/api/v1/reports/progress?year={year}&scope_kind=donor&scope_id=441300"),
        w.coordinator.clone(),
        None,
    )
    .await;
    assert_eq!(progress["counted_fen"], total, "each order counted once");

    // A group purchase closing in a few seconds, pledged through both servers; the workers race to close it.
    let now = chrono::Utc::now();
    let campaign = json!({
        "title": "惠州市消费帮扶集中采购 普安红茶（多实例）", "description": "两台服务、三个后台任务同时运行",
        "product_id": w.tea, "tiers": [{"min_qty": 1, "unit_price_fen": 16000}, {"min_qty": 100, "unit_price_fen": 15000}],
        "min_total_qty": 100, "max_total_qty": 300, "opens_at": now.to_rfc3339(),
        "closes_at": (now + chrono::Duration::seconds(6)).to_rfc3339(), "eligible_region_code": "441300"
    });
    let (status, campaign) =
        call(0, reqwest::Method::POST, "/api/v1/group-buys".into(), w.coordinator.clone(), Some(campaign)).await;
    assert_eq!(status, 201, "{campaign}");
    let id = campaign["id"].as_str().unwrap().to_owned();
    let pledge = |q: i64| Some(json!({"quantity": q, "delivery": crate::orders::delivery()}));
    let pledges = [
        call(0, reqwest::Method::POST, format!("/api/v1/group-buys/{id}/pledges"), w.school.clone(), pledge(60)).await,
        call(1, reqwest::Method::POST, format!("/api/v1/group-buys/{id}/pledges"), w.bureau.clone(), pledge(50)).await,
    ];
    assert!(pledges.iter().all(|(s, _)| *s == 201), "{pledges:?}");
    eventually("the campaign's close", &procs, || {
        let c = call(1, reqwest::Method::GET, format!("/api/v1/group-buys/{id}"), w.coordinator.clone(), None);
        async move { c.await.1["status"] == "succeeded" }
    })
    .await;

    // Everything the outbox held is handled, each row once; each mail written once.
    let app = &app;
    eventually("an empty outbox", &procs, || async move {
        app.db(|c| {
            use diesel::prelude::*;
            use dongxi::db::schema::outbox::dsl as o;
            o::outbox.filter(o::done_at.is_null()).count().get_result::<i64>(c).unwrap() == 0
        })
        .await
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (rows, twice, mail_rows, group_orders, results) = app
        .db({
            let id = id.clone();
            move |c| {
                use diesel::prelude::*;
                use dongxi::db::schema::outbox::dsl as o;
                let rows: i64 = o::outbox.count().get_result(c).unwrap();
                let twice: i64 = o::outbox.filter(o::attempts.ne(1)).count().get_result(c).unwrap();
                let mail_rows: i64 =
                    o::outbox.filter(o::topic.eq(crate::helpers::MAIL_SEND)).count().get_result(c).unwrap();
                let group_orders: i64 = dongxi::db::schema::orders::table
                    .filter(dongxi::db::schema::orders::group_buy_id.eq(&id))
                    .count()
                    .get_result(c)
                    .unwrap();
                let results: i64 = o::outbox
                    .filter(o::topic.eq(crate::helpers::NOTIFY))
                    .filter(o::payload.like(format!("%{id}%")))
                    .filter(o::payload.like("%group_buy.succeeded%"))
                    .count()
                    .get_result(c)
                    .unwrap();
                (rows, twice, mail_rows, group_orders, results)
            }
        })
        .await;
    assert!(rows > 40 && mail_rows > 0, "the run made work: {rows} rows, {mail_rows} mails");
    assert_eq!(twice, 0, "a row was claimed more than once");
    assert_eq!(group_orders, 2, "one order per pledge: the campaign closed once");
    assert_eq!(results, 1, "one result notice");
    let written: usize = dirs.iter().map(|d| mails_in(d.path())).sum();
    assert_eq!(written as i64, mail_rows, "each mail row written once across the three processes");
    let per_process: Vec<usize> = dirs.iter().map(|d| mails_in(d.path())).collect();
    eprintln!("outbox rows {rows}, mail rows {mail_rows}, mails written per process {per_process:?}");
    assert_eq!(per_process[1], 0, "`serve --no-worker` does no background work");
    drop((a, b, worker));
}

/// `join_all` without a futures dependency: the requests run side by side on the runtime.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
