//! `TestApp`: the router on an empty database per test (a temp SQLite file, or a fresh
//! PostgreSQL schema when `DONGXI_TEST_DATABASE_URL` is set), with requests sent in-process.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use dongxi::app::router;
use dongxi::clock::Clock;
use dongxi::config::Config;
use dongxi::db::{Db, DbConn};
use dongxi::identity::model::OrgRow;
use dongxi::identity::service::{NewUser, create_org_unchecked, create_user_unchecked};
use dongxi::identity::types::{Email, OrgKind, Password, Role};
use dongxi::state::AppState;
use dongxi::worker::Topic;
use dongxi::worker::jobs::index_products::IndexProducts;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const PASSWORD: &str = "correct-horse-battery";

/// Runs each test body once per backend: `name::sqlite` always, `name::postgres` when configured.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($app: $crate::helpers::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::helpers::TestApp::sqlite().await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::TestApp::postgres().await {
                        run(app).await
                    }
                }
            }
        )*
    };
}

/// A service a test needs: its address from the environment, or a printed skip locally,
/// and a failure when `DONGXI_REQUIRE_SERVICES=1` (as in CI).
pub fn service_env(var: &str, what: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|v| !v.is_empty()) {
        Some(v) => Some(v),
        None => {
            if std::env::var("DONGXI_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{var} is not set but DONGXI_REQUIRE_SERVICES=1: {what} must run here");
            }
            eprintln!("skipped: {what} needs {var}");
            None
        }
    }
}

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).single().expect("valid time")
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        schema: String,
        #[allow(dead_code)]
        data_dir: tempfile::TempDir,
    },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, schema, .. } = self
            && let Ok(mut conn) = dongxi::db::establish(admin_url)
        {
            let _ = conn.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {schema}_replica CASCADE"
            ));
        }
    }
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub clock: Clock,
    pub backend: &'static str,
    pub data_dir: std::path::PathBuf,
    _cleanup: Cleanup,
}

pub fn test_config(database_url: &str, data_dir: &std::path::Path, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("DATABASE_URL".into(), database_url.into());
    vars.insert("DONGXI_DATA_DIR".into(), data_dir.display().to_string());
    vars.insert("DONGXI_DB_POOL_SIZE".into(), "4".into());
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test config")
}

/// A fresh, empty PostgreSQL schema and the URL whose connections use it.
pub fn fresh_pg_schema(admin_url: &str) -> (String, String) {
    let schema = format!("t_{}", dongxi::ids::new_id("x").to_lowercase().replace('_', ""));
    let mut conn = dongxi::db::establish(admin_url).expect("connect to DONGXI_TEST_DATABASE_URL");
    conn.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("create schema");
    let sep = if admin_url.contains('?') { '&' } else { '?' };
    (format!("{admin_url}{sep}options=-csearch_path%3D{schema}"), schema)
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        Self::sqlite_with(&[]).await
    }

    /// SQLite with extra configuration (`DONGXI_COUNT_ON=accepted` …).
    pub async fn sqlite_with(extra: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let data_dir = dir.path().to_path_buf();
        Self::build(url, data_dir, Cleanup::Sqlite(dir), "sqlite", extra).await
    }

    pub async fn postgres() -> Option<TestApp> {
        Self::postgres_with(&[]).await
    }

    pub async fn postgres_with(extra: &[(&str, &str)]) -> Option<TestApp> {
        let admin_url = service_env("DONGXI_TEST_DATABASE_URL", "the PostgreSQL half of the suite")?;
        Some(Self::postgres_at(&admin_url, extra).await)
    }

    pub async fn postgres_at(admin_url: &str, extra: &[(&str, &str)]) -> TestApp {
        let (url, schema) = fresh_pg_schema(admin_url);
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().to_path_buf();
        let cleanup = Cleanup::Postgres { admin_url: admin_url.to_owned(), schema, data_dir: dir };
        Self::build(url, data_dir, cleanup, "postgres", extra).await
    }

    async fn build(
        url: String,
        data_dir: std::path::PathBuf,
        cleanup: Cleanup,
        backend: &'static str,
        extra: &[(&str, &str)],
    ) -> TestApp {
        let config = test_config(&url, &data_dir, extra);
        let clock = Clock::fixed(start_time());
        let db = Db::connect(&config.database_url, config.db_pool_size).expect("pool");
        {
            let clock = clock.clone();
            db.run(move |conn| dongxi::server::migrate(conn, &clock).map(|_| ())).await.expect("migrate");
        }
        let search = dongxi::server::search_engine(&config).expect("search engine");
        let state = AppState::new(config, db, clock.clone(), search).expect("state");
        TestApp { router: router(state.clone()), state, clock, backend, data_dir, _cleanup: cleanup }
    }

    /// The same app with another search engine (the Meilisearch half of the conformance suite).
    pub fn with_search(mut self, engine: std::sync::Arc<dyn dongxi::search::SearchEngine>) -> TestApp {
        self.state.search = engine;
        self.router = router(self.state.clone());
        self
    }

    /// Another server on the same database: its own connection pool and router, the same clock
    /// and search engine (as several `serve` processes behind a load balancer).
    pub fn twin(&self) -> (Router, AppState) {
        let config = (*self.state.config).clone();
        let db = Db::connect(&config.database_url, config.db_pool_size).expect("pool");
        let state = AppState::new(config, db, self.clock.clone(), self.state.search.clone()).expect("state");
        (router(state.clone()), state)
    }

    /// A copy of the database as it stands now, as a replica that then stops following (SQLite:
    /// `VACUUM INTO` a file; PostgreSQL: every table copied into a new schema); its URL.
    pub async fn snapshot(&self) -> String {
        self.copy_database("replica").await
    }

    /// An independent app on a copy of this one's database (same clock time, its own data
    /// directory): a test can spend the copy's state without touching the original.
    pub async fn fork(&self) -> TestApp {
        let suffix = format!("f{}", dongxi::ids::new_id("x").to_lowercase().replace('_', ""));
        let url = self.copy_database(&suffix).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().to_path_buf();
        let cleanup = match &self._cleanup {
            Cleanup::Sqlite(_) => Cleanup::Sqlite(dir),
            Cleanup::Postgres { admin_url, schema, .. } => {
                Cleanup::Postgres { admin_url: admin_url.clone(), schema: format!("{schema}_{suffix}"), data_dir: dir }
            }
        };
        let app = Self::build(url, data_dir, cleanup, self.backend, &[]).await;
        app.clock.set(self.clock.now());
        app
    }

    async fn copy_database(&self, suffix: &str) -> String {
        let suffix = suffix.to_owned();
        let url = self.state.config.database_url.clone();
        let data_dir = self.data_dir.clone();
        self.db(move |c| match c {
            DbConn::Sqlite(conn) => {
                let path = data_dir.join(format!("{suffix}-{}.db", dongxi::ids::new_id("r")));
                conn.batch_execute(&format!("VACUUM INTO '{}'", path.display())).expect("vacuum into");
                format!("sqlite://{}", path.display())
            }
            DbConn::Postgres(conn) => {
                let schema = url.rsplit("search_path%3D").next().expect("a test schema").to_owned();
                let copy = format!("{schema}_{suffix}");
                conn.batch_execute(&format!(
                    "CREATE SCHEMA {copy}; DO $$ DECLARE t record; BEGIN \
                     FOR t IN SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}' AND table_type = 'BASE TABLE' LOOP \
                     EXECUTE format('CREATE TABLE {copy}.%I (LIKE {schema}.%I INCLUDING ALL)', t.table_name, t.table_name); \
                     EXECUTE format('INSERT INTO {copy}.%I SELECT * FROM {schema}.%I', t.table_name, t.table_name); \
                     END LOOP; END $$;"
                ))
                .expect("copy the schema");
                url.replace(&format!("search_path%3D{schema}"), &format!("search_path%3D{copy}"))
            }
        })
        .await
    }

    /// The app on the same primary, reading reports from `replica_url` (`DATABASE_READ_URL`).
    pub fn with_replica(mut self, replica_url: &str) -> TestApp {
        let mut config = (*self.state.config).clone();
        config.database_read_url = Some(replica_url.to_owned());
        let db = Db::connect(&config.database_url, config.db_pool_size)
            .and_then(|db| db.with_replica(Some(replica_url), 2))
            .expect("pools");
        self.state = AppState::new(config, db, self.clock.clone(), self.state.search.clone()).expect("state");
        self.router = router(self.state.clone());
        self
    }

    /// The same app and database with its configuration changed (another mail server …).
    pub fn with_config(mut self, change: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = (*self.state.config).clone();
        change(&mut config);
        self.state =
            AppState::new(config, self.state.db.clone(), self.clock.clone(), self.state.search.clone()).expect("state");
        self.router = router(self.state.clone());
        self
    }

    /// Runs the search indexer until the outbox holds nothing due.
    pub async fn index_now(&self) {
        loop {
            let ran = dongxi::worker::runner::run_batch::<IndexProducts>(&self.state).await.expect("indexing");
            assert_eq!(ran.failed, 0, "indexing failed");
            if ran.handled == 0 {
                break;
            }
        }
    }

    /// Runs blocking work on a pooled connection.
    pub async fn db<T: Send + 'static>(&self, f: impl FnOnce(&mut DbConn) -> T + Send + 'static) -> T {
        let db = self.state.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get().expect("connection");
            f(&mut conn)
        })
        .await
        .expect("db task")
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder { app: self, method, path: path.to_owned(), headers: Vec::new(), body: None }
    }
    pub fn get(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::POST, path)
    }
    /// A PUT of `body` as `token`, sent.
    pub async fn put_json(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(Method::PUT, path).token(token).json(body).send().await
    }
    pub fn patch(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::PATCH, path)
    }

    /// An organisation created directly (no HTTP), for arranging a test.
    pub async fn org(&self, name: &str, kind: OrgKind, region: &str, parent: Option<&OrgRow>) -> OrgRow {
        let (name, region, parent, now) = (name.to_owned(), region.to_owned(), parent.cloned(), self.clock.now_naive());
        self.db(move |c| create_org_unchecked(c, &name, kind, &region, parent.as_ref(), now).expect("org")).await
    }

    /// A user in `org` with the test password; returns its email.
    pub async fn user(&self, org: &OrgRow, email: &str, role: Role) -> String {
        let (org_id, email_s, now) = (org.id.clone(), email.to_owned(), self.clock.now_naive());
        self.db(move |c| {
            let user = NewUser {
                email: Email::parse(&email_s).expect("email"),
                name: "测试用户".into(),
                password: Password::parse(PASSWORD).expect("password"),
                role,
            };
            create_user_unchecked(c, &org_id, &user, now).expect("user")
        })
        .await;
        email.to_owned()
    }

    pub async fn login(&self, email: &str) -> String {
        let r = self
            .post("/api/v1/auth/login")
            .json(serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {email}: {}", r.text());
        r.json()["token"].as_str().expect("token").to_owned()
    }

    /// An organisation with one user of `role`, signed in: (org, token).
    pub async fn signed_in(&self, name: &str, kind: OrgKind, region: &str, role: Role) -> (OrgRow, String) {
        let org = self.org(name, kind, region, None).await;
        let email = format!("{}@test.dongxi.cn", dongxi::ids::new_id("u").to_lowercase());
        self.user(&org, &email, role).await;
        let token = self.login(&email).await;
        (org, token)
    }

    pub async fn platform_admin(&self) -> String {
        self.signed_in("平台", OrgKind::Platform, "110000", Role::Admin).await.1
    }
}

pub struct RequestBuilder<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl RequestBuilder<'_> {
    pub fn token(mut self, token: &str) -> Self {
        self.headers.push(("authorization".into(), format!("Bearer {token}")));
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn json(mut self, body: Value) -> Self {
        self.headers.push(("content-type".into(), "application/json".into()));
        self.body = Some(serde_json::to_vec(&body).expect("json"));
        self
    }
    pub fn raw(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.headers.push(("content-type".into(), content_type.into()));
        self.body = Some(body);
        self
    }
    pub async fn send(self) -> TestResponse {
        let mut builder = Request::builder().method(self.method.clone()).uri(&self.path);
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        let request = builder.body(self.body.map(Body::from).unwrap_or_else(Body::empty)).expect("request");
        let response = self.app.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
        let text = String::from_utf8_lossy(&body);
        // No response anywhere may carry a password hash.
        assert!(
            !text.contains("$argon2") && !text.contains("password_hash"),
            "{} {} leaked a hash: {text}",
            self.method,
            self.path
        );
        // Pages answer a browser (Accept: text/html) with an error page; everyone else gets problem+json.
        let asked_for_html =
            self.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("accept") && v.contains("text/html"));
        let is_html =
            headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
        if (status.is_client_error() || status.is_server_error()) && !(asked_for_html && is_html) {
            assert_eq!(
                headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some("application/problem+json"),
                "{} {} → {status} without problem+json: {text}",
                self.method,
                self.path
            );
        }
        TestResponse { status, headers, body }
    }
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Asserts a problem with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "want {status} {code}, got: {}", self.text());
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status, "{body}");
        assert!(body["title"].is_string() && body["type"].is_string() && body["detail"].is_string(), "{body}");
        body
    }
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        self
    }
}

/// How many rows a table holds.
pub async fn count_rows(app: &TestApp, table: &'static str) -> i64 {
    scalar(app, format!("SELECT COUNT(*) AS n FROM {table}")).await
}

/// One number from SQL (a BIGINT column named `n`).
pub async fn scalar(app: &TestApp, sql: String) -> i64 {
    app.db(move |c| {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let query = diesel::sql_query(sql);
        match c {
            DbConn::Sqlite(c) => query.get_result::<N>(c).expect("scalar").n,
            DbConn::Postgres(c) => query.get_result::<N>(c).expect("scalar").n,
        }
    })
    .await
}

/// One JSON request on a router, owning everything it needs (for tasks racing each other).
pub async fn send_owned(
    router: Router,
    method: Method,
    path: String,
    token: String,
    idempotency_key: Option<String>,
    body: Value,
) -> (StatusCode, Value) {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(key) = idempotency_key {
        builder = builder.header("idempotency-key", key);
    }
    let request = builder.body(Body::from(serde_json::to_vec(&body).expect("json"))).expect("request");
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// JSON bodies on reqwest (built without its `json` feature) for tests that talk to processes.
pub trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json").body(serde_json::to_vec(body).expect("json"))
    }
}

/// A response's body as JSON (`null` when it is not).
pub async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap_or_default()).unwrap_or(Value::Null)
}

/// The topics of the outbox rows tests look at.
pub const MAIL_SEND: &str = <dongxi::notify::Mail as Topic>::TOPIC;
pub const NOTIFY: &str = <dongxi::worker::payloads::Notice as Topic>::TOPIC;
pub const SEARCH_PRODUCT: &str = <dongxi::worker::payloads::ProductChanged as Topic>::TOPIC;

/// One batch of the worker's Stripe jobs (what the loops of `serve` do every second).
pub async fn run_stripe_jobs(state: &AppState) -> usize {
    dongxi::worker::run_due(state, |topic| topic.starts_with("stripe.")).await
}

/// One batch of the worker's mail jobs: notices become mails, due mails are sent.
pub async fn run_mail_jobs(state: &AppState) -> usize {
    dongxi::worker::run_due(state, |topic| topic == NOTIFY || topic == MAIL_SEND).await
}
