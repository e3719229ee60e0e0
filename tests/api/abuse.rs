//! Abuse limits: sign-in and webhook throttling per client address, body and list caps, a
//! deadline on every outbound call, security headers on pages, and no secret in the logs.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use serde_json::json;
use tower::ServiceExt;

use crate::helpers::{JsonBody, PASSWORD, TestApp};
use crate::orders::{order_body, world};
use crate::scale_out::{Process, free_port};

/// A request as it arrives from `peer` (the server records the peer as `ConnectInfo`).
async fn from(
    app: &TestApp,
    peer: &str,
    path: &str,
    content_type: &str,
    body: String,
    forwarded: Option<&str>,
) -> (u16, Option<String>, String) {
    let mut request = Request::post(path).header("content-type", content_type);
    if let Some(f) = forwarded {
        request = request.header("x-forwarded-for", f);
    }
    let mut request = request.body(Body::from(body)).unwrap();
    request.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    (status, retry, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn sign_in_is_throttled_per_client_address_across_emails() {
    let app = TestApp::sqlite_with(&[("DONGXI_LOGIN_RATE_PER_MINUTE", "5")]).await;
    let attempt = |email: String| json!({"email": email, "password": "wrong-password-1"}).to_string();
    // A spray: one wrong password for each of many emails, which no per-email lockout sees.
    for i in 0..5 {
        let (status, _, body) = from(
            &app,
            "203.0.113.7:40000",
            "/api/v1/auth/login",
            "application/json",
            attempt(format!("u{i}@x.cn")),
            None,
        )
        .await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, retry, body) =
        from(&app, "203.0.113.7:40001", "/api/v1/auth/login", "application/json", attempt("u9@x.cn".into()), None)
            .await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("\"rate_limited\""), "{body}");
    assert!(retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s))), "Retry-After");
    // The sign-in form shares the bucket; another address has its own.
    let (status, _, _) = from(
        &app,
        "203.0.113.7:40002",
        "/login",
        "application/x-www-form-urlencoded",
        "email=a%40x.cn&password=x".into(),
        None,
    )
    .await;
    assert_eq!(status, 429);
    let (status, _, _) =
        from(&app, "198.51.100.2:40000", "/api/v1/auth/login", "application/json", attempt("u0@x.cn".into()), None)
            .await;
    assert_eq!(status, 401);
    // Behind the proxy (a private peer) the forwarded address is the client; a public peer cannot claim one.
    for _ in 0..5 {
        let (status, _, _) = from(
            &app,
            "10.0.0.5:5000",
            "/api/v1/auth/login",
            "application/json",
            attempt("p@x.cn".into()),
            Some("192.0.2.44"),
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, _, _) = from(
        &app,
        "10.0.0.5:5000",
        "/api/v1/auth/login",
        "application/json",
        attempt("p@x.cn".into()),
        Some("192.0.2.44"),
    )
    .await;
    assert_eq!(status, 429);
    let (status, _, _) = from(
        &app,
        "10.0.0.5:5000",
        "/api/v1/auth/login",
        "application/json",
        attempt("p@x.cn".into()),
        Some("192.0.2.45"),
    )
    .await;
    assert_eq!(status, 401, "another client behind the same proxy");
    let (status, _, _) = from(
        &app,
        "198.51.100.9:1",
        "/api/v1/auth/login",
        "application/json",
        attempt("p@x.cn".into()),
        Some("192.0.2.46"),
    )
    .await;
    assert_eq!(status, 401);
    // Nothing else is throttled: the limit is on the doors, not the house.
    for _ in 0..10 {
        app.get("/api/v1/categories").send().await.assert_status(200);
    }
}

#[tokio::test]
async fn webhook_deliveries_are_throttled_per_address() {
    let app = TestApp::sqlite_with(&[
        ("DONGXI_WEBHOOK_RATE_PER_MINUTE", "3"),
        ("STRIPE_SECRET_KEY", "sk_test_throttle"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_throttle"),
    ])
    .await;
    let event = json!({"id": "evt_flood", "type": "payment_intent.succeeded"}).to_string();
    for _ in 0..3 {
        let (status, _, body) =
            from(&app, "203.0.113.8:1", "/api/v1/webhooks/stripe", "application/json", event.clone(), None).await;
        assert_eq!(status, 400, "unsigned: {body}");
        assert!(body.contains("bad_signature"));
    }
    let (status, retry, _) =
        from(&app, "203.0.113.8:1", "/api/v1/webhooks/stripe", "application/json", event.clone(), None).await;
    assert_eq!(status, 429);
    assert!(retry.is_some());
    assert_eq!(crate::helpers::count_rows(&app, "stripe_events").await, 0, "nothing recorded");
}

#[tokio::test]
async fn bodies_and_lists_have_caps() {
    let app = TestApp::sqlite().await;
    let w = world(&app).await;
    let huge = vec![b'x'; dongxi::app::MAX_BODY_BYTES + 1];
    app.post("/api/v1/orders")
        .token(&w.school)
        .raw("application/json", huge)
        .send()
        .await
        .assert_problem(413, "payload_too_large");
    for limit in ["0", "201", "-1", "many"] {
        let r = app.get(&format!("/api/v1/orders?limit={limit}")).token(&w.school).send().await;
        assert!(r.status == 422 || r.status == 400, "limit={limit}: {}", r.text());
    }
    app.get("/api/v1/orders?limit=200").token(&w.school).send().await.assert_status(200);
    let lines: Vec<_> = (0..201).map(|_| json!({"product_id": w.tea, "quantity": 1})).collect();
    let many = json!({"lines": lines, "delivery": crate::orders::delivery()});
    let r = app.post("/api/v1/orders").token(&w.school).json(many).send().await;
    assert_eq!(r.status, 422, "an order of 201 lines: {}", r.text());
    let r = app.get("/api/v1/search/products?q=茶&limit=1000").send().await;
    assert_eq!(r.status, 422, "{}", r.text());
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = TestApp::sqlite().await;
    for path in ["/login", "/api/docs", "/api/openapi.json", "/api/v1/categories", "/healthz"] {
        let r = app.get(path).send().await;
        assert_eq!(r.status, 200, "{path}");
        let h = |name: &str| r.headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        assert!(!h("referrer-policy").is_empty(), "{path}");
        if path == "/login" || path == "/api/docs" {
            let csp = h("content-security-policy");
            assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src"), "{path}: {csp}");
        }
    }
    let form = app.get("/login").send().await;
    let cookie = form.headers.get("set-cookie").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
}

/// A server that accepts connections and never answers.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (address, task)
}

/// Outbound calls to a peer that accepts connections and never answers give up at
/// `DONGXI_OUTBOUND_TIMEOUT_SECS` (Meilisearch searches at their own 0.9 s): a card payment answers
/// 503 and records nothing, mail stays queued with the error for a later try, search answers 503.
/// Each step runs under a limit well above its deadline, so a deadline that never fires fails
/// the test instead of hanging it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_calls_to_a_silent_peer_give_up_at_their_deadline() {
    let (hole, _task) = black_hole().await;
    let (stripe, smtp, meili) = (format!("http://{hole}"), format!("smtp://{hole}"), format!("http://{hole}"));
    let engine = dongxi::search::meili::MeiliEngine::new(&meili, None, "products").unwrap();
    let app = TestApp::sqlite_with(&[
        ("STRIPE_SECRET_KEY", "sk_test_silent_peer"),
        ("STRIPE_API_BASE", stripe.as_str()),
        ("SMTP_URL", smtp.as_str()),
        ("DONGXI_OUTBOUND_TIMEOUT_SECS", "2"),
    ])
    .await
    .with_search(std::sync::Arc::new(engine));
    let w = world(&app).await;
    let order = crate::orders::place(&app, &w.school, &[(&w.tea, 1)]).await;
    let limit = Duration::from_secs(15);

    let pay = app.post(&format!("/api/v1/orders/{}/payments/stripe", order["id"].as_str().unwrap())).token(&w.school);
    let paid = tokio::time::timeout(limit, pay.send()).await.expect("the card payment answers within its deadline");
    paid.assert_problem(503, "payment_provider_unavailable");
    assert_eq!(crate::helpers::count_rows(&app, "payments").await, 0, "nothing recorded");

    let sent =
        tokio::time::timeout(limit, crate::helpers::run_mail_jobs(&app.state)).await.expect("mail gives up in time");
    assert!(sent > 0, "the order's mails were tried");
    let waiting = app.db(|c| dongxi::outbox::list(c, Some(crate::helpers::MAIL_SEND), true, 1000).unwrap()).await;
    assert!(
        !waiting.is_empty() && waiting.iter().all(|r| r.last_error.is_some() && r.dead_at.is_none()),
        "each mail waits for another try: {waiting:?}"
    );

    let search = tokio::time::timeout(limit, app.get("/api/v1/search/products?q=普安红茶").send())
        .await
        .expect("search answers within its deadline");
    search.assert_problem(503, "search_unavailable");
}

/// A whole run of a server process with every secret configured and logs at `debug`: sign-ins,
/// orders, a payment, failed sign-ins and a forged webhook. No token, password or key appears in
/// what it logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let app = TestApp::sqlite().await;
    app.clock.set(chrono::Utc::now());
    let w = world(&app).await;
    let url = app.state.config.database_url.clone();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let (hole, _task) = black_hole().await;
    let secrets = [
        ("STRIPE_SECRET_KEY", "sk_test_never_logged_51Hx"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_never_logged_7Qz"),
        ("DONGXI_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap-never-logged-9"),
    ];
    let smtp = format!("smtp://mailer:smtp-never-logged-5v@{hole}");
    let stripe_base = format!("http://{hole}");
    let mut env: Vec<(&str, &str)> = secrets.to_vec();
    env.extend([
        ("RUST_LOG", "debug"),
        ("DONGXI_BOOTSTRAP_ADMIN_EMAIL", "root@test.dongxi.cn"),
        ("SMTP_URL", smtp.as_str()),
        ("STRIPE_API_BASE", stripe_base.as_str()),
        ("DONGXI_LOG_FORMAT", "json"),
    ]);
    let server = Process::start_with("secrets", &["serve"], &url, data.path(), &format!("127.0.0.1:{port}"), &env);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    crate::scale_out::ready(&http, &base, &[&server]).await;

    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json_body(&json!({"email": "school@test.dongxi.cn", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let fresh_token = crate::helpers::json_of(login).await["token"].as_str().unwrap().to_owned();
    let wrong = http
        .post(format!("{base}/api/v1/auth/login"))
        .json_body(&json!({"email": "school@test.dongxi.cn", "password": "wrong-horse-never-logged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let order = http
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&fresh_token)
        .header("idempotency-key", "idem-never-logged-1")
        .json_body(&order_body(&[(&w.tea, 1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), 201);
    let order = crate::helpers::json_of(order).await;
    let paid = http
        .post(format!("{base}/api/v1/orders/{}/payments/offline", order["id"].as_str().unwrap()))
        .bearer_auth(&w.admin)
        .json_body(&json!({"amount_fen": order["total_fen"], "reference": "ICBC-LOG-1", "paid_at": chrono::Utc::now().to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 201);
    let forged = http
        .post(format!("{base}/api/v1/webhooks/stripe"))
        .header("stripe-signature", "t=1,v1=deadbeef")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    let me = http
        .get(format!("{base}/api/v1/me"))
        .header("authorization", format!("Bearer {fresh_token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let page = http
        .get(format!("{base}/dashboard"))
        .header("cookie", format!("dongxi_session={}", w.qxn))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let out = http.post(format!("{base}/api/v1/auth/logout")).bearer_auth(&fresh_token).send().await.unwrap();
    assert_eq!(out.status(), 204);
    // Give the worker time to try the mail (and fail against the black hole).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.lines().count() > 20 && log.contains("handled"), "a full log to search:\n{log}");
    let mut never: Vec<&str> = secrets.iter().map(|(_, v)| *v).collect();
    never.extend([
        "smtp-never-logged-5v",
        "wrong-horse-never-logged",
        PASSWORD,
        &fresh_token,
        &w.admin,
        &w.qxn,
        &w.school,
    ]);
    for secret in never {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
}

/// Text that would be markup, SQL or a spreadsheet formula if it were not escaped.
const HOSTILE: &str = "=HYPERLINK(\"http://evil.example\")<script>alert('东西')</script>'; DROP TABLE products;--";

/// Hostile text in a product's name and an order's note and address is stored as written (the
/// SQL is only text), shown escaped on every page that names it, and written to the order-sheet
/// template as text: a CSV cell with a leading apostrophe, an XLSX cell that reads back as the
/// text (a formula cell would read back as its empty cached value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_stored_as_written_and_shown_escaped() {
    let app = TestApp::sqlite().await;
    let w = world(&app).await;
    let products_before = crate::helpers::count_rows(&app, "products").await;
    for product in [&w.tea, &w.fungi] {
        let producer = if *product == w.tea { &w.tea_producer } else { &w.fungi_producer };
        app.patch(&format!("/api/v1/products/{product}"))
            .token(producer)
            .json(json!({"name": HOSTILE}))
            .send()
            .await
            .assert_status(200);
        let stored = app.get(&format!("/api/v1/products/{product}")).token(producer).send().await.json();
        assert_eq!(stored["name"], HOSTILE, "stored as written");
    }
    assert_eq!(crate::helpers::count_rows(&app, "products").await, products_before, "the SQL was only text");
    app.index_now().await;

    let mut body = order_body(&[(&w.tea, 2)]);
    body["note"] = json!(HOSTILE);
    body["delivery"]["address"] = json!(HOSTILE);
    let order = app.post("/api/v1/orders").token(&w.school).json(body).send().await;
    order.assert_status(201);
    let order = order.json();
    assert_eq!(order["note"], HOSTILE);
    let sub = order["sub_orders"][0]["id"].as_str().unwrap().to_owned();

    let mut school = crate::workplace::browser(&app, &w.school);
    let mut tea = crate::workplace::browser(&app, &w.tea_producer);
    let pages = [
        school.get("/agency/goods?q=").await,
        school.get(&format!("/agency/orders/{}", order["id"].as_str().unwrap())).await,
        tea.get(&format!("/producer/orders/{sub}")).await,
        tea.get("/producer/products").await,
    ];
    for page in &pages {
        page.assert_status(200);
        let html = page.text();
        assert!(html.contains("&lt;script&gt;alert("), "the name is shown, escaped: {html}");
        assert!(!html.contains("<script>alert("), "never as markup");
    }

    let csv = school.get("/agency/sheet-template?format=csv").await;
    csv.assert_status(200);
    let table = dongxi::catalog::import::read_table_bytes("csv", csv.body.clone()).unwrap();
    let cells: Vec<&String> = table.rows.iter().flatten().collect();
    assert!(cells.iter().any(|c| **c == format!("'{HOSTILE}")), "the CSV cell is guarded: {cells:?}");
    assert!(!cells.iter().any(|c| c.starts_with('=')), "no CSV cell starts a formula: {cells:?}");
    let xlsx = school.get("/agency/sheet-template?format=xlsx").await;
    xlsx.assert_status(200);
    let table = dongxi::catalog::import::read_table_bytes("xlsx", xlsx.body.clone()).unwrap();
    assert!(table.rows.iter().flatten().any(|c| c == HOSTILE), "the XLSX cell is the text: {:?}", table.rows);
}

/// A real server with a 2 s header deadline, for the connection-level abuses.
async fn server_for_abuse(name: &'static str) -> (Process, u16, tempfile::TempDir) {
    let app = TestApp::sqlite().await;
    let url = app.state.config.database_url.clone();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Process::start_with(
        name,
        &["serve"],
        &url,
        data.path(),
        &format!("127.0.0.1:{port}"),
        &[("DONGXI_HEADER_TIMEOUT_SECS", "2")],
    );
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    crate::scale_out::ready(&http, &format!("http://127.0.0.1:{port}"), &[&server]).await;
    (server, port, data)
}

/// A client that trickles its headers one line a half second (slow-loris) is cut off at the
/// header deadline instead of holding its connection for as long as it keeps trickling.
#[tokio::test]
async fn a_connection_that_trickles_its_headers_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_server, port, _data) = server_for_abuse("slowloris").await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let started = std::time::Instant::now();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: dongxi\r\n").await.unwrap();
    let mut closed_after = None;
    for i in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut buf = [0u8; 512];
        // A closed connection reads as end (or an error) at once; an open one times out.
        let closed = match tokio::time::timeout(Duration::from_millis(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => true, // an answer (408) before the close
            Err(_) => stream.write_all(format!("X-Trickle-{i}: x\r\n").as_bytes()).await.is_err(),
        };
        if closed {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the connection was still open after 20 s of trickled headers");
    assert!(closed_after < Duration::from_secs(6), "closed after {closed_after:?}, not near the 2 s deadline");
}

/// A body declared larger than the limit is refused with 413 before it is sent: the client
/// sends the headers and a few bytes of a 50 MB body, and has its answer at once.
#[tokio::test]
async fn a_body_declared_too_large_is_refused_before_it_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_server, port, _data) = server_for_abuse("oversized").await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: dongxi\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{\"email\": \"";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("payload_too_large") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "no answer within 5 s: the server waited for the body ({answer})");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}
