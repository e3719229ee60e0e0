//! Order-sheet preview: `cargo bench --bench sheet -- [--lines N] [--runs R]`.
//!
//! The demo data on SQLite in a temporary directory; the demo school's administrator signs in
//! and uploads a sheet of N lines (default 2,000) over the demo's goods on sale, spread over 20
//! delivery addresses, as CSV and as XLSX, R times each (default 10), through the whole router:
//! the multipart upload read and kept (`POST /agency/sheets`) and its preview checked line by
//! line and rendered (`GET /agency/sheets/{id}`). Reports p50 and max of the two together per
//! format; the goal is under 2 s at 2,000 lines.

use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use diesel::prelude::*;
use dongxi::clock::Clock;
use dongxi::state::AppState;
use http_body_util::BodyExt;
use tower::ServiceExt;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn multipart(csrf: &str, name: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----dongxi-bench-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"contact\"\r\n\r\n王老师\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n0752-2280001\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
    )
    .into_bytes();
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn rows(products: &[(String, String)], lines: usize) -> Vec<[String; 5]> {
    (0..lines)
        .map(|i| {
            let (id, name) = &products[i % products.len()];
            let product = if i % 2 == 0 { id.clone() } else { name.clone() };
            let address = format!("广东省惠州市惠城区 第{}中学食堂", i % 20 + 1);
            [product, "2".into(), address, String::new(), String::new()]
        })
        .collect()
}

fn csv_of(rows: &[[String; 5]]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["商品编码或名称", "数量", "收货地址", "收货人", "联系电话"]).expect("csv");
    for r in rows {
        w.write_record(r).expect("csv");
    }
    w.into_inner().expect("csv")
}

fn xlsx_of(rows: &[[String; 5]]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (i, h) in ["商品编码或名称", "数量", "收货地址", "收货人", "联系电话"].iter().enumerate() {
        sheet.write_string(0, i as u16, *h).expect("xlsx");
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if c == 1 {
                sheet.write_number(r as u32 + 1, c as u16, v.parse::<f64>().unwrap_or(0.0)).expect("xlsx");
            } else {
                sheet.write_string(r as u32 + 1, c as u16, v).expect("xlsx");
            }
        }
    }
    book.save_to_buffer().expect("xlsx")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (lines, runs) = (arg("--lines", 2000), arg("--runs", 10));
    let dir = tempfile::tempdir().expect("temp dir");
    let vars: std::collections::HashMap<String, String> = [
        ("DATABASE_URL".to_owned(), format!("sqlite://{}", dir.path().join("bench.db").display())),
        ("DONGXI_DATA_DIR".to_owned(), dir.path().display().to_string()),
    ]
    .into();
    let config = dongxi::config::Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
    let clock = Clock::system();
    let db = dongxi::db::Db::connect(&config.database_url, 4).expect("pool");
    db.run(|conn| dongxi::server::migrate(conn, &Clock::system())).await.expect("migrate");
    let (seed_clock, seed_config) = (clock.clone(), config.clone());
    db.run(move |conn| dongxi::demo::seed(conn, &seed_clock, &seed_config).map(|_| ())).await.expect("demo");
    let search = dongxi::server::search_engine(&config).expect("search");
    let state = AppState::new(config, db.clone(), clock, search).expect("state");
    let today = state.now().1;
    let products: Vec<(String, String)> = db
        .run(move |c| {
            use dongxi::db::schema::products as p;
            Ok(p::table
                .filter(p::status.eq("listed"))
                .filter(p::cert_status.eq("certified"))
                .filter(p::cert_valid_until.ge(today))
                .order(p::id)
                .select((p::id, p::name))
                .load(c)?)
        })
        .await
        .expect("products");
    assert!(!products.is_empty(), "the demo has goods on sale");
    let router = dongxi::app::router(state);
    let login = serde_json::json!({"email": "school.hz@demo.dongxi.cn", "password": dongxi::demo::DEMO_PASSWORD});
    let response = router
        .clone()
        .oneshot(
            Request::post("/api/v1/auth/login")
                .header("content-type", "application/json")
                .body(Body::from(login.to_string()))
                .expect("request"),
        )
        .await
        .expect("login");
    let body = response.into_body().collect().await.expect("body").to_bytes();
    let token =
        serde_json::from_slice::<serde_json::Value>(&body).expect("json")["token"].as_str().expect("token").to_owned();
    let csrf = dongxi::dashboard::session::form_token(&token);
    let cookie = format!("{}={token}", dongxi::dashboard::SESSION_COOKIE);
    let sheet = rows(&products, lines);
    println!(
        "order-sheet preview: {lines} lines over {} products on sale, 20 deliveries, {runs} runs each",
        products.len()
    );
    for (format, file) in [("csv", csv_of(&sheet)), ("xlsx", xlsx_of(&sheet))] {
        let mut took = Vec::new();
        let mut bad = String::new();
        for _ in 0..runs {
            let (kind, body) = multipart(&csrf, &format!("bench.{format}"), &file);
            let started = Instant::now();
            let stored = router
                .clone()
                .oneshot(
                    Request::post("/agency/sheets")
                        .header("content-type", kind)
                        .header("cookie", &cookie)
                        .header("accept", "text/html")
                        .body(Body::from(body))
                        .expect("request"),
                )
                .await
                .expect("upload");
            assert_eq!(stored.status().as_u16(), 303, "the upload is kept");
            let to = stored.headers()["location"].to_str().expect("location").to_owned();
            let preview = router
                .clone()
                .oneshot(
                    Request::get(&to)
                        .header("cookie", &cookie)
                        .header("accept", "text/html")
                        .body(Body::empty())
                        .expect("request"),
                )
                .await
                .expect("preview");
            assert_eq!(preview.status().as_u16(), 200);
            let page = preview.into_body().collect().await.expect("page").to_bytes();
            took.push(started.elapsed().as_secs_f64() * 1000.0);
            let page = String::from_utf8_lossy(&page);
            bad = page.split("data-bad=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("?").to_owned();
        }
        took.sort_by(f64::total_cmp);
        println!(
            "{format:>4}: {} bytes, upload + preview p50 {:.0} ms, max {:.0} ms ({} bad lines marked); goal < 2000 ms",
            file.len(),
            took[took.len() / 2],
            took[took.len() - 1],
            bad
        );
    }
}
