use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{TestApp, fresh_pg_schema, service_env};

backend_tests! {
    async fn health_readiness_and_metrics(app: TestApp) {
        app.get("/healthz").send().await.assert_status(200);
        let ready = app.get("/readyz").send().await;
        ready.assert_status(200);
        assert_eq!(ready.json()["database"], app.backend);

        app.get("/api/v1/regions/522323").send().await.assert_status(200);
        app.get("/api/v1/regions/000000").send().await.assert_status(404);
        let metrics = app.get("/metrics").send().await.text();
        assert!(metrics.contains(r#"dongxi_http_requests_total{method="GET",route="/api/v1/regions/{code}",status="200"} 1"#), "{metrics}");
        assert!(metrics.contains(r#"dongxi_http_requests_total{method="GET",route="/api/v1/regions/{code}",status="404"} 1"#));
        assert!(metrics.contains("dongxi_http_request_duration_seconds_bucket"));
        assert!(metrics.contains(&format!("dongxi_db_pool_connections{{backend=\"{}\",state=\"max\"}} 4", app.backend)));
        // SQLite's allocations are the process's: the SQLite test databases hold some (their page
        // caches), whichever backend this run is.
        let sqlite: i64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("dongxi_sqlite_memory_bytes "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no dongxi_sqlite_memory_bytes in {metrics}"));
        if app.backend == "sqlite" {
            assert!(sqlite > 0, "an open SQLite database holds memory");
        }
    }

    async fn unknown_routes_and_methods_are_problems(app: TestApp) {
        app.get("/api/v1/nothing-here").send().await.assert_problem(404, "not_found");
        app.request(axum::http::Method::DELETE, "/api/v1/regions/522323").send().await.assert_problem(405, "method_not_allowed");
        let r = app.get("/healthz").header("x-request-id", "trace-abc.123").send().await;
        assert_eq!(r.headers["x-request-id"], "trace-abc.123");
        let r = app.get("/healthz").header("x-request-id", "bad id with spaces").send().await;
        assert!(r.headers["x-request-id"].to_str().unwrap().starts_with("req_"));
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
    }
}

/// Every error an operation lists is documented as `application/problem+json` with the Problem
/// schema, and a `default` response covers the statuses it does not list (413, 429, 503 …), so
/// a schema checker holds every answer to a documented shape.
#[tokio::test]
async fn openapi_documents_every_error_as_a_problem() {
    let app = TestApp::sqlite().await;
    let doc = app.get("/api/openapi.json").send().await.json();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.contains_key("default"), "{method} {path} has no default response");
            for (status, response) in
                responses.iter().filter(|(s, _)| s.starts_with('4') || s.starts_with('5') || *s == "default")
            {
                let content = response["content"].as_object().unwrap();
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{method} {path} {status}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
    }
    assert!(operations > 70, "{operations} operations");
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let app = TestApp::sqlite().await;
    let doc = app.get("/api/openapi.json").send().await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/me"),
        ("post", "/api/v1/organizations"),
        ("get", "/api/v1/organizations"),
        ("get", "/api/v1/organizations/{id}"),
        ("post", "/api/v1/organizations/{id}/users"),
        ("get", "/api/v1/organizations/{id}/users"),
        ("get", "/api/v1/regions"),
        ("post", "/api/v1/regions"),
        ("get", "/api/v1/regions/{code}"),
        ("patch", "/api/v1/regions/{code}"),
        ("get", "/api/v1/categories"),
        ("post", "/api/v1/products"),
        ("get", "/api/v1/products"),
        ("get", "/api/v1/products/{id}"),
        ("patch", "/api/v1/products/{id}"),
        ("post", "/api/v1/products/{id}/publish"),
        ("post", "/api/v1/products/{id}/unpublish"),
        ("post", "/api/v1/products/{id}/certification-requests"),
        ("get", "/api/v1/products/{id}/certification-events"),
        ("get", "/api/v1/certification-requests"),
        ("get", "/api/v1/certification-requests/{id}"),
        ("post", "/api/v1/certification-requests/{id}/approve"),
        ("post", "/api/v1/certification-requests/{id}/reject"),
        ("post", "/api/v1/products/{id}/revoke-certification"),
        ("post", "/api/v1/products/{id}/batches"),
        ("get", "/api/v1/products/{id}/batches"),
        ("get", "/api/v1/trace/{code}"),
        ("get", "/api/v1/products/{id}/price-check"),
        ("get", "/api/v1/search/products"),
        ("post", "/api/v1/orders"),
        ("get", "/api/v1/orders"),
        ("get", "/api/v1/orders/{id}"),
        ("get", "/api/v1/orders/{id}/events"),
        ("post", "/api/v1/orders/{id}/cancel"),
        ("get", "/api/v1/sub-orders"),
        ("get", "/api/v1/sub-orders/{id}"),
        ("post", "/api/v1/sub-orders/{id}/ship"),
        ("post", "/api/v1/sub-orders/{id}/accept"),
        ("post", "/api/v1/sub-orders/{id}/rating"),
        ("post", "/api/v1/orders/{id}/payments/offline"),
        ("get", "/api/v1/orders/{id}/payments"),
        ("post", "/api/v1/sub-orders/{id}/refunds"),
        ("get", "/api/v1/sub-orders/{id}/refunds"),
        ("post", "/api/v1/pairings"),
        ("get", "/api/v1/pairings"),
        ("get", "/api/v1/pairings/{id}"),
        ("patch", "/api/v1/pairings/{id}"),
        ("post", "/api/v1/targets"),
        ("get", "/api/v1/targets"),
        ("patch", "/api/v1/targets/{id}"),
        ("put", "/api/v1/organizations/{id}/filings/{year}"),
        ("get", "/api/v1/organizations/{id}/filings/{year}"),
        ("post", "/api/v1/organizations/{id}/filings/{year}/approve"),
        ("post", "/api/v1/organizations/{id}/filings/{year}/return"),
        ("get", "/api/v1/filings"),
        ("post", "/api/v1/periods/{year}/close"),
        ("get", "/api/v1/periods"),
        ("get", "/api/v1/ledger"),
        ("get", "/api/v1/reports/progress"),
        ("get", "/api/v1/reports/breakdown"),
        ("get", "/api/v1/reports/laggards"),
        ("get", "/api/v1/accounting-events"),
        ("post", "/api/v1/orders/{id}/payments/stripe"),
        ("post", "/api/v1/webhooks/stripe"),
        ("post", "/api/v1/group-buys"),
        ("get", "/api/v1/group-buys"),
        ("get", "/api/v1/group-buys/{id}"),
        ("post", "/api/v1/group-buys/{id}/pledges"),
        ("get", "/api/v1/group-buys/{id}/pledges"),
        ("delete", "/api/v1/group-buys/{id}/pledges/{pledge_id}"),
        ("post", "/api/v1/group-buys/{id}/pledges/{pledge_id}/authorization"),
        ("post", "/api/v1/group-buys/{id}/close"),
        ("post", "/api/v1/group-buys/{id}/cancel"),
        ("get", "/api/v1/me/mail-preferences"),
        ("put", "/api/v1/me/mail-preferences"),
    ];
    for (method, path) in expected {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing from OpenAPI");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path} has no responses"));
            let documented_body = responses
                .iter()
                .any(|(status, r)| status.starts_with('2') && (status == "204" || r.get("content").is_some()));
            assert!(documented_body, "{method} {path}: no success response schema");
            if method == "post" || method == "patch" || method == "put" {
                let has_body = op.pointer("/requestBody/content/application~1json/schema").is_some();
                let bodiless = [
                    "/logout",
                    "/publish",
                    "/unpublish",
                    "/cancel",
                    "/approve",
                    "/grant",
                    "/close",
                    "/payments/stripe",
                    "/authorization",
                ]
                .iter()
                .any(|end| path.ends_with(end));
                assert!(has_body || bodiless, "{method} {path}: no request schema");
            }
        }
    }
    for name in ["Problem", "RegionView", "OrgView", "UserView", "MeView", "LoginResponse", "NewOrgBody", "NewUserBody"]
    {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    let docs = app.get("/api/docs").send().await.text();
    assert!(docs.contains("/api/v1/organizations/{id}/users") && docs.contains("schema-Problem"));
    assert!(!docs.contains("<script src") && !docs.contains("https://cdn"), "docs load nothing from the internet");
}

/// A minimal HTTP/1.1 client for talking to a real server process.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

struct Server {
    child: Child,
    addr: String,
    stdout: String,
    /// Everything the server logged; read as it comes, so a full pipe never blocks the server.
    logs: std::thread::JoinHandle<String>,
}

/// The `dongxi` binary with a clean environment pointing at one database.
fn dongxi(database_url: &str, data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dongxi"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("DONGXI_DATA_DIR", data_dir);
    cmd
}

/// Starts the real `dongxi serve --demo` binary and waits until it is ready.
fn start_server(database_url: &str, data_dir: &std::path::Path) -> (Server, Duration) {
    let started = Instant::now();
    let mut child = dongxi(database_url, data_dir)
        .args(["serve", "--demo"])
        .env("DONGXI_BIND", "127.0.0.1:0")
        .env("DONGXI_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .env("DONGXI_BOOTSTRAP_ADMIN_EMAIL", "root@province.gov.cn")
        .env("DONGXI_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap-secret-Zq9")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dongxi");
    let mut stderr = child.stderr.take().expect("stderr");
    let logs = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stdout = String::new();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.expect("stdout line");
        stdout.push_str(&line);
        stdout.push('\n');
        if let Some(rest) = line.split("serving on http://").nth(1) {
            addr = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.starts_with("Try: curl") {
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no address printed: {stdout}"));
    loop {
        if let Ok((200, _)) = http(&addr, "GET", "/readyz", None, None) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not ready within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Server { child, addr, stdout, logs }, started.elapsed())
}

/// The quick start, for real: the binary migrates, seeds the demo, prints working logins,
/// logs in JSON without secrets, and stops cleanly on SIGTERM.
fn quick_start_run(backend: &str, database_url: &str, data_dir: &std::path::Path) {
    let (mut server, ready_after) = start_server(database_url, data_dir);
    eprintln!("{backend}: cold start to ready in {} ms", ready_after.as_millis());
    assert!(
        server.stdout.contains("qxn@demo.dongxi.cn") && server.stdout.contains("dongxi-demo-2021"),
        "{}",
        server.stdout
    );

    let login = r#"{"email":"qxn@demo.dongxi.cn","password":"dongxi-demo-2021"}"#;
    let (status, body) = http(&server.addr, "POST", "/api/v1/auth/login", Some(login), None).unwrap();
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"].as_str().unwrap().to_owned();
    let (status, me) = http(&server.addr, "GET", "/api/v1/me", None, Some(&token)).unwrap();
    assert_eq!(status, 200);
    assert!(me.contains("黔西南州乡村振兴局"), "{me}");
    let (status, _) = http(&server.addr, "GET", "/api/v1/regions/522323", None, None).unwrap();
    assert_eq!(status, 200);
    let bad = r#"{"email":"qxn@demo.dongxi.cn","password":"wrong-secret-Xy7"}"#;
    assert_eq!(http(&server.addr, "POST", "/api/v1/auth/login", Some(bad), None).unwrap().0, 401);
    let boot = r#"{"email":"root@province.gov.cn","password":"bootstrap-secret-Zq9"}"#;
    assert_eq!(http(&server.addr, "POST", "/api/v1/auth/login", Some(boot), None).unwrap().0, 200);

    // `dongxi user create` beside the running server; the new user signs in over HTTP.
    let org_id = serde_json::from_str::<Value>(&me).unwrap()["organization"]["id"].as_str().unwrap().to_owned();
    let out = dongxi(database_url, data_dir)
        .args(["user", "create", "--email", "Analyst@QXN.gov.cn", "--org", &org_id, "--role", "member"])
        .env("DONGXI_USER_PASSWORD", "cli-made-password-8")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli_login = r#"{"email":"analyst@qxn.gov.cn","password":"cli-made-password-8"}"#;
    assert_eq!(http(&server.addr, "POST", "/api/v1/auth/login", Some(cli_login), None).unwrap().0, 200);
    let out = dongxi(database_url, data_dir)
        .args(["user", "create", "--email", "weak@qxn.gov.cn", "--org", &org_id, "--password", "short"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password must have at least 10 characters"));
    let out = dongxi(database_url, data_dir)
        .args(["user", "create", "--email", "x@qxn.gov.cn", "--org", "org_missing", "--password", "long-enough-pw"])
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no organisation"));

    let rss_kb = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .unwrap_or_default();
    eprintln!("{backend}: RSS after start and a few requests: {rss_kb} kB");

    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    let logs = server.logs.join().expect("log reader");
    assert!(logs.contains("\"message\":\"handled\""), "JSON access logs expected: {logs}");
    assert!(logs.contains("\"id\":\"req_"), "request ids in logs");
    for secret in ["dongxi-demo-2021", "wrong-secret-Xy7", "bootstrap-secret-Zq9", "$argon2", token.as_str()] {
        assert!(!logs.contains(secret), "the logs contain a secret ({secret})");
    }
}

#[test]
fn quick_start_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dongxi.db").display());
    quick_start_run("sqlite", &url, dir.path());
}

/// With `--no-migrate` on an empty database the server answers but is not ready, until
/// `dongxi migrate` runs beside it; no restart needed.
#[test]
fn serve_without_migrations_is_not_ready_until_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dongxi.db").display());
    let mut child = dongxi(&url, dir.path())
        .args(["serve", "--no-migrate"])
        .env("DONGXI_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap()).lines().next().unwrap().unwrap();
    let addr = first.split("serving on http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_owned();
    let (status, body) = http(&addr, "GET", "/readyz", None, None).unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not_ready"));
    assert_eq!(http(&addr, "GET", "/healthz", None, None).unwrap().0, 200);
    let out = dongxi(&url, dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("regions added: 3224"));
    assert_eq!(http(&addr, "GET", "/readyz", None, None).unwrap().0, 200);
    let again = dongxi(&url, dir.path()).arg("migrate").output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("migrations applied: 0; regions added: 0"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn quick_start_on_postgres() {
    let Some(admin_url) = service_env("DONGXI_TEST_DATABASE_URL", "the PostgreSQL quick start") else { return };
    let (url, schema) = fresh_pg_schema(&admin_url);
    let dir = tempfile::tempdir().unwrap();
    quick_start_run("postgres", &url, dir.path());
    if let Ok(mut conn) = dongxi::db::establish(&admin_url) {
        use diesel::connection::SimpleConnection;
        let _ = conn.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
    }
}

/// A private PostgreSQL cluster the test may stop and start without disturbing other tests.
struct PrivatePostgres {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres_user: bool,
}

impl PrivatePostgres {
    fn bindir() -> Option<std::path::PathBuf> {
        let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .collect();
        dirs.sort();
        dirs.into_iter().rev().find(|d| d.join("pg_ctl").exists())
    }

    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        cmd.args(args).output().expect("run PostgreSQL tool")
    }

    fn create() -> PrivatePostgres {
        let bin = Self::bindir().expect("PostgreSQL server binaries under /usr/lib/postgresql");
        let dir = tempfile::tempdir().unwrap();
        let uid = Command::new("id").arg("-u").output().unwrap();
        let as_postgres_user = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        if as_postgres_user {
            assert!(
                Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap().success()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = PrivatePostgres { bin, dir, port, as_postgres_user };
        let data = pg.data();
        let out = pg.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn start(&self) {
        let opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        let out = self.run("pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"]);
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn stop(&self) {
        let out = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_without_a_restart() {
    if service_env("DONGXI_TEST_DATABASE_URL", "the PostgreSQL readiness test").is_none() {
        return;
    }
    let pg = tokio::task::spawn_blocking(|| {
        let pg = PrivatePostgres::create();
        pg.start();
        pg
    })
    .await
    .unwrap();
    let app = TestApp::postgres_at(&pg.url(), &[]).await;
    app.get("/readyz").send().await.assert_status(200);
    app.get("/api/v1/regions/522323").send().await.assert_status(200);

    let pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();
    let started = Instant::now();
    let r = app.get("/readyz").send().await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(5), "readiness answers promptly when the database is down");
    app.get("/api/v1/regions/522323").send().await.assert_problem(503, "database_unavailable");

    let pg = tokio::task::spawn_blocking(move || {
        pg.start();
        pg
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = app.get("/readyz").send().await.status;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not ready again within 20 s of the database coming back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.get("/api/v1/regions/522323").send().await.assert_status(200);
    drop(app);
    drop(pg);
}

/// Processes started together after an upgrade (two servers and a worker) migrate one fresh
/// PostgreSQL schema at once: each waits for the migration lock, one applies every migration,
/// the others find nothing pending; none fails on a table another made.
#[test]
fn processes_started_together_migrate_once() {
    let Some(admin_url) =
        crate::helpers::service_env("DONGXI_TEST_DATABASE_URL", "the concurrent migration test (PostgreSQL)")
    else {
        return;
    };
    let (url, _) = crate::helpers::fresh_pg_schema(&admin_url);
    let start = std::sync::Arc::new(std::sync::Barrier::new(3));
    let racers: Vec<_> = (0..3)
        .map(|_| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                let mut conn = dongxi::db::establish(&url).expect("connect");
                start.wait();
                dongxi::db::run_migrations(&mut conn).map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut applied: Vec<usize> =
        racers.into_iter().map(|r| r.join().unwrap().expect("each process migrates without failing")).collect();
    applied.sort_unstable();
    assert_eq!(applied[..2], [0, 0], "the others found nothing pending: {applied:?}");
    assert!(applied[2] > 10, "one applied every migration: {applied:?}");
}

/// Resolves `$ref` and `allOf` until the schema at `pointer` (`/order/sub_orders/0/id`) is found.
fn schema_at<'a>(doc: &'a Value, schema: &'a Value, pointer: &[&str]) -> Option<&'a Value> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return schema_at(doc, &doc["components"]["schemas"][name], pointer);
    }
    let Some((first, rest)) = pointer.split_first() else { return Some(schema) };
    if let Some(parts) = schema["allOf"].as_array() {
        return parts.iter().find_map(|part| schema_at(doc, part, pointer));
    }
    if first.parse::<usize>().is_ok() && schema["items"].is_object() {
        return schema_at(doc, &schema["items"], rest);
    }
    schema["properties"].get(*first).and_then(|field| schema_at(doc, field, rest))
}

#[tokio::test]
async fn openapi_links_lead_to_real_operations_with_real_fields() {
    let app = TestApp::sqlite().await;
    let doc = app.get("/api/openapi.json").send().await.json();
    let mut operations = std::collections::BTreeMap::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(operations.insert(id.to_owned(), operation.clone()).is_none(), "operationId {id} is used twice");
        }
    }
    let mut links = 0;
    for (from, operation) in &operations {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let Some(response_links) = response["links"].as_object() else { continue };
            let body = &response["content"]["application/json"]["schema"];
            for (name, link) in response_links {
                links += 1;
                let to = link["operationId"].as_str().unwrap();
                let target = operations
                    .get(to)
                    .unwrap_or_else(|| panic!("{from} {status} links to {to}, which is not an operation"));
                for (parameter, expression) in link["parameters"].as_object().unwrap() {
                    let (place, param) = parameter.split_once('.').unwrap();
                    assert!(
                        target["parameters"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|p| p["in"] == place && p["name"] == param),
                        "{from} {status} → {name}: {to} has no {place} parameter {param}"
                    );
                    let pointer = expression.as_str().unwrap().strip_prefix("$response.body#/").unwrap();
                    let parts: Vec<&str> = pointer.split('/').collect();
                    assert!(
                        schema_at(&doc, body, &parts).is_some(),
                        "{from} {status} → {name}: the answer has no /{pointer}"
                    );
                }
            }
        }
    }
    assert_eq!(links, dongxi::http::links::LINKS.len(), "every link of the table is in the document");
}

/// The category values the document states for a new product are written out in a pattern; they
/// must be exactly the categories the server knows, or the fuzzer and clients are told wrong.
#[tokio::test]
async fn the_documented_categories_are_the_known_ones() {
    let app = TestApp::sqlite().await;
    let doc = app.get("/api/openapi.json").send().await.json();
    let pattern = doc["components"]["schemas"]["NewProductBody"]["properties"]["category"]["pattern"].as_str().unwrap();
    let documented: Vec<&str> = pattern.trim_start_matches("^(").trim_end_matches(")$").split('|').collect();
    let known = app.get("/api/v1/categories").send().await.json();
    let known: Vec<&str> = known["items"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(documented, known);
}
