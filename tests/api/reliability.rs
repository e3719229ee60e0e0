//! Crashes and faults, on real processes of this build: a server killed with SIGKILL in the middle
//! of a storm of idempotent requests, PostgreSQL restarted under load, a worker killed mid-batch,
//! the search index lost; and the logs of all of it never hold a token or a password.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{JsonBody, PASSWORD, TestApp, scalar, service_env};
use crate::orders::{World, delivery, order_body, world};
use crate::scale_out::{Process, eventually, free_port, ready};

/// Tea sold or held: order lines of orders not cancelled, and active pledges.
async fn tea_taken(app: &TestApp, tea: &str) -> i64 {
    scalar(
        app,
        format!(
            "SELECT CAST((SELECT COALESCE(SUM(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id \
               WHERE l.product_id = '{tea}' AND o.status <> 'cancelled') \
             + (SELECT COALESCE(SUM(p.quantity), 0) FROM group_buy_pledges p JOIN group_buys g ON g.id = p.group_buy_id \
               WHERE g.product_id = '{tea}' AND p.status = 'active') AS BIGINT) AS n"
        ),
    )
    .await
}

async fn stock(app: &TestApp, tea: &str) -> i64 {
    scalar(app, format!("SELECT CAST(stock AS BIGINT) AS n FROM products WHERE id = '{tea}'")).await
}

#[derive(Clone)]
struct Call {
    key: String,
    path: String,
    token: String,
    body: Value,
}

async fn send(http: &reqwest::Client, base: &str, call: &Call) -> Option<(u16, Value)> {
    let response = http
        .post(format!("{base}{}", call.path))
        .bearer_auth(&call.token)
        .header("idempotency-key", &call.key)
        .json_body(&call.body)
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let body = response.bytes().await.ok()?;
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

fn assert_no_secrets(logs: &[&Process], secrets: &[&str]) {
    for process in logs {
        let log = std::fs::read_to_string(&process.log).unwrap_or_default();
        assert!(log.contains("handled"), "the log has request lines to search:\n{log}");
        for secret in secrets {
            assert!(!log.contains(secret), "a secret ({}…) is in the log:\n{}", &secret[..6], process.log());
        }
    }
}

fn campaign_body(w: &World, now: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "title": "惠州市总工会 普安红茶 团购", "product_id": w.tea,
        "tiers": [{"min_qty": 1, "unit_price_fen": 16000}, {"min_qty": 100, "unit_price_fen": 15000}],
        "min_total_qty": 20, "max_total_qty": 300,
        "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "closes_at": (now + chrono::Duration::days(3)).to_rfc3339(),
        "eligible_region_code": "441300"
    })
}

/// SIGKILL mid-storm: orders, offline payments and pledges, each with its Idempotency-Key, sent
/// six at a time; the server dies after twenty answers; a new one starts on the same database and
/// data directory and every request is sent again with its key. Every answered request answers
/// the same again, every unanswered one takes effect once, nothing is doubled, the stock adds up
/// and `dongxi ledger verify` finds no drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_storm_loses_and_doubles_nothing() {
    let Some(admin_url) = service_env("DONGXI_TEST_DATABASE_URL", "the crash test (PostgreSQL)") else { return };
    let app = TestApp::postgres_at(&admin_url, &[]).await;
    app.clock.set(chrono::Utc::now());
    let w = world(&app).await;
    let initial = stock(&app, &w.tea).await;
    let campaign =
        app.post("/api/v1/group-buys").token(&w.coordinator).json(campaign_body(&w, app.clock.now())).send().await;
    campaign.assert_status(201);
    let campaign = campaign.json()["id"].as_str().unwrap().to_owned();
    let mut pledgers = Vec::new();
    for i in 0..6 {
        let (_, token) = app
            .signed_in(
                &format!("惠州市第{}中学", i + 2),
                dongxi::identity::types::OrgKind::Agency,
                "441302",
                dongxi::identity::types::Role::Admin,
            )
            .await;
        pledgers.push(token);
    }
    let mut unpaid = Vec::new();
    for _ in 0..20 {
        unpaid.push(crate::orders::place(&app, &w.school, &[(&w.tea, 2)]).await);
    }

    let mut calls = Vec::new();
    for i in 0..40 {
        calls.push(Call {
            key: format!("storm-order-{i}"),
            path: "/api/v1/orders".into(),
            token: w.school.clone(),
            body: order_body(&[(&w.tea, 2)]),
        });
        if let Some(order) = unpaid.get(i / 2).filter(|_| i % 2 == 0) {
            calls.push(Call {
                key: format!("storm-pay-{i}"),
                path: format!("/api/v1/orders/{}/payments/offline", order["id"].as_str().unwrap()),
                token: w.admin.clone(),
                body: json!({"amount_fen": order["total_fen"], "reference": format!("ICBC-STORM-{i}"), "paid_at": chrono::Utc::now().to_rfc3339()}),
            });
        }
        if let Some(token) = pledgers.get(i / 6).filter(|_| i % 6 == 0) {
            calls.push(Call {
                key: format!("storm-pledge-{i}"),
                path: format!("/api/v1/group-buys/{campaign}/pledges"),
                token: token.clone(),
                body: json!({"quantity": 3, "delivery": delivery()}),
            });
        }
    }

    let url = app.state.config.database_url.clone();
    let data = tempfile::tempdir().unwrap();
    let logged = [("RUST_LOG", "info")];
    let first_port = free_port();
    let first =
        Process::start_with("crash-first", &["serve"], &url, data.path(), &format!("127.0.0.1:{first_port}"), &logged);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let first_base = format!("http://127.0.0.1:{first_port}");
    ready(&http, &first_base, &[&first]).await;

    let answered = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(6));
    let storm: Vec<_> = calls
        .iter()
        .cloned()
        .map(|call| {
            let (http, base, answered, gate) = (http.clone(), first_base.clone(), answered.clone(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                let outcome = send(&http, &base, &call).await;
                if outcome.is_some() {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                outcome
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let killed = std::process::Command::new("kill").args(["-9", &first.child.id().to_string()]).status().unwrap();
    assert!(killed.success(), "SIGKILL sent");
    let mut first_answers = Vec::new();
    for task in storm {
        first_answers.push(task.await.unwrap());
    }
    let acknowledged = first_answers.iter().filter(|a| a.is_some()).count();
    assert!(acknowledged >= 20, "{acknowledged} answered before the kill");
    assert!(acknowledged < calls.len(), "the kill came mid-storm: all {acknowledged} were answered");

    let second_port = free_port();
    let second = Process::start_with(
        "crash-second",
        &["serve"],
        &url,
        data.path(),
        &format!("127.0.0.1:{second_port}"),
        &logged,
    );
    let second_base = format!("http://127.0.0.1:{second_port}");
    ready(&http, &second_base, &[&first, &second]).await;
    let mut order_ids = std::collections::BTreeSet::new();
    for (call, first_answer) in calls.iter().zip(&first_answers) {
        let again = send(&http, &second_base, call)
            .await
            .unwrap_or_else(|| panic!("{} unanswered after the restart", call.key));
        assert_eq!(again.0, 201, "{}: {}\n{}", call.key, again.1, second.log());
        if let Some((status, body)) = first_answer.as_ref().filter(|(s, _)| (200..300).contains(s)) {
            assert_eq!((*status, body), (again.0, &again.1), "{}: an acknowledged answer changed", call.key);
        }
        if call.key.starts_with("storm-order") {
            order_ids.insert(again.1["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(order_ids.len(), 40, "one order per key");
    let school = w.school_id.clone();
    assert_eq!(
        scalar(&app, format!("SELECT COUNT(*) AS n FROM orders WHERE buyer_org_id = '{school}'")).await,
        60,
        "20 before and 40 in the storm"
    );
    assert_eq!(scalar(&app, "SELECT COUNT(*) AS n FROM payments".into()).await, 20, "one payment per paid order");
    assert_eq!(
        scalar(&app, format!("SELECT COUNT(*) AS n FROM orders WHERE buyer_org_id = '{school}' AND status = 'paid'"))
            .await,
        20
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM group_buy_pledges WHERE status = 'active'".into()).await,
        6,
        "one pledge per key"
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM ledger_entries".into()).await,
        20,
        "one entry per paid sub-order"
    );
    assert_eq!(stock(&app, &w.tea).await + tea_taken(&app, &w.tea).await, initial, "stock + sold = initial");

    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_dongxi"))
        .args(["ledger", "verify"])
        .env("DATABASE_URL", &url)
        .env("DONGXI_DATA_DIR", data.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && said.contains("no drift") && said.contains("checked 20 ledger entries"),
        "{said}{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    let mut secrets: Vec<&str> = vec![PASSWORD, &w.school, &w.admin, &w.coordinator];
    secrets.extend(pledgers.iter().map(String::as_str));
    assert_no_secrets(&[&first, &second], &secrets);
    eprintln!(
        "SIGKILL mid-storm: {} requests, {acknowledged} answered before the kill, all {} replayed by key; \
         40 orders, 20 payments, 6 pledges, 20 ledger entries, no drift",
        calls.len(),
        calls.len()
    );
}

/// What one request of the load got: its key, and its status (0: no answer at all).
struct Outcome {
    at: Instant,
    key: Option<String>,
    status: u16,
    body: Value,
}

async fn run_ctl(ctl: &str, action: &str) {
    let command = format!("{ctl} {action}");
    let run = command.clone();
    let done =
        tokio::task::spawn_blocking(move || std::process::Command::new("sh").args(["-c", &run]).status().unwrap())
            .await
            .unwrap();
    assert!(done.success(), "`{command}` failed");
}

/// PostgreSQL stopped under load and started again: while it is down every request is a prompt
/// 503 (`database_unavailable`, never a 500), `/readyz` says 503; once it is back the same
/// process serves again, no acknowledged order is lost, and the refused ones, sent again with
/// their keys, take effect once. Needs a cluster the test may restart (CI makes one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_load_answers_503_then_recovers() {
    let what = "the PostgreSQL restart test (a cluster it may stop and start)";
    let Some(admin_url) = service_env("DONGXI_TEST_FAULT_PG_URL", what) else { return };
    let Some(ctl) = service_env("DONGXI_TEST_FAULT_PG_CTL", what) else { return };
    let app = TestApp::postgres_at(&admin_url, &[]).await;
    app.clock.set(chrono::Utc::now());
    let w = world(&app).await;
    let initial = stock(&app, &w.tea).await;
    let url = app.state.config.database_url.clone();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Process::start("restart", &["serve"], &url, data.path(), &format!("127.0.0.1:{port}"));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    ready(&http, &base, &[&server]).await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..3)
        .map(|lane| {
            let (http, base, stop, school, tea) =
                (http.clone(), base.clone(), stop.clone(), w.school.clone(), w.tea.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let (key, request) = if lane == 0 {
                        (None, http.get(format!("{base}/api/v1/orders?limit=5")).bearer_auth(&school))
                    } else {
                        let key = format!("restart-{lane}-{n}");
                        let request = http
                            .post(format!("{base}/api/v1/orders"))
                            .bearer_auth(&school)
                            .header("idempotency-key", &key)
                            .json_body(&order_body(&[(&tea, 1)]));
                        (Some(key), request)
                    };
                    let (status, body) = match request.send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            (
                                status,
                                serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or(Value::Null),
                            )
                        }
                        Err(_) => (0, Value::Null),
                    };
                    seen.push(Outcome { at: Instant::now(), key, status, body });
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                seen
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let down = Instant::now();
    run_ctl(&ctl, "stop -m fast").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let readiness = http.get(format!("{base}/readyz")).send().await.unwrap().status().as_u16();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    run_ctl(&ctl, "start").await;
    let up = Instant::now();
    // Back: the same process serves orders again.
    let recovered = {
        let (http, base, school) = (http.clone(), base.clone(), w.school.clone());
        eventually("recovery after the restart", &[&server], move || {
            let (http, base, school) = (http.clone(), base.clone(), school.clone());
            async move {
                http.get(format!("{base}/api/v1/orders?limit=1"))
                    .bearer_auth(&school)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        })
        .await;
        up.elapsed()
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for lane in load {
        outcomes.extend(lane.await.unwrap());
    }

    assert_eq!(readiness, 503, "readyz while the database is down");
    let during: Vec<&Outcome> = outcomes.iter().filter(|o| o.at > down && o.at < up).collect();
    let refused = during.iter().filter(|o| o.status == 503).count();
    assert!(refused > 0, "503s while the database was down: {:?}", during.iter().map(|o| o.status).collect::<Vec<_>>());
    for o in &outcomes {
        assert!(o.status == 0 || o.status < 500 || o.status == 503, "{}: {}\n{}", o.status, o.body, server.log());
        if o.status == 503 {
            assert!(o.body["code"] == "database_unavailable" || o.body["code"] == "timeout", "{}", o.body);
        }
    }
    assert!(
        outcomes.iter().filter(|o| o.at > up).any(|o| o.status == 200 || o.status == 201),
        "served after the restart"
    );

    // Nothing acknowledged is lost; what was refused, sent again with its key, lands once.
    let keys: Vec<&Outcome> = outcomes.iter().filter(|o| o.key.is_some()).collect();
    for o in &keys {
        let key = o.key.as_deref().unwrap();
        let again = http
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&w.school)
            .header("idempotency-key", key)
            .json_body(&order_body(&[(&w.tea, 1)]))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 201, "{key}");
        let body = crate::helpers::json_of(again).await;
        if o.status == 201 {
            assert_eq!(body, o.body, "{key}: the acknowledged order answers the same");
        }
    }
    let school = w.school_id.clone();
    assert_eq!(
        scalar(&app, format!("SELECT COUNT(*) AS n FROM orders WHERE buyer_org_id = '{school}'")).await,
        keys.len() as i64,
        "one order per key"
    );
    assert_eq!(stock(&app, &w.tea).await + tea_taken(&app, &w.tea).await, initial, "stock + sold = initial");
    eprintln!(
        "PostgreSQL down {:.1} s: {} requests, {refused} answered 503, back {:.1} s after its start; {} orders",
        (up - down).as_secs_f64(),
        during.len(),
        recovered.as_secs_f64(),
        keys.len()
    );
}

/// A worker killed (SIGKILL) in the middle of sending a batch of mail: another worker takes the
/// rows over once their lease runs out, and every mail exists once (`<outbox id>.eml`, written
/// whole or not at all), none lost and none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_loses_and_doubles_no_mail() {
    let Some(admin_url) = service_env("DONGXI_TEST_DATABASE_URL", "the worker crash test (PostgreSQL)") else { return };
    let app = TestApp::postgres_at(&admin_url, &[]).await;
    app.clock.set(chrono::Utc::now());
    let w = world(&app).await;
    for _ in 0..60 {
        crate::orders::place(&app, &w.school, &[(&w.tea, 1)]).await;
    }
    let url = app.state.config.database_url.clone();
    let data = tempfile::tempdir().unwrap();
    let lease = [("DONGXI_OUTBOX_LEASE_SECS", "3"), ("RUST_LOG", "info")];
    let first = Process::start_with("worker-first", &["worker"], &url, data.path(), "127.0.0.1:0", &lease);
    let mails = || {
        std::fs::read_dir(data.path().join("mail"))
            .map(|d| d.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "eml")).count())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while mails() < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let sent_before = mails();
    std::process::Command::new("kill").args(["-9", &first.child.id().to_string()]).status().unwrap();
    let pending = || {
        let app = &app;
        async move {
            scalar(
                app,
                "SELECT COUNT(*) AS n FROM outbox WHERE topic IN ('notify', 'mail.send') AND done_at IS NULL".into(),
            )
            .await
        }
    };
    assert!(pending().await > 0, "the kill came mid-batch ({sent_before} mails written before it)");

    let second = Process::start_with("worker-second", &["worker"], &url, data.path(), "127.0.0.1:0", &lease);
    eventually("the second worker finishing the mail", &[&first, &second], || async { pending().await == 0 }).await;
    let rows = scalar(&app, "SELECT COUNT(*) AS n FROM outbox WHERE topic = 'mail.send'".into()).await;
    assert!(rows >= 120, "a mail to the buyer and one to the producer per order: {rows}");
    assert_eq!(mails() as i64, rows, "one file per mail row, none twice:\n{}", second.log());
    let ids: std::collections::BTreeSet<String> = std::fs::read_dir(data.path().join("mail"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap();
            text.lines().find(|l| l.to_ascii_lowercase().starts_with("message-id:")).unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(ids.len() as i64, rows, "distinct Message-IDs");
}

/// The embedded index deleted under a running server: search answers 503 `search_unavailable`
/// (ordering goes on), `dongxi reindex` rebuilds it from the database, and the server finds
/// products again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_index_is_a_503_until_dongxi_reindex() {
    let app = TestApp::sqlite().await;
    app.clock.set(chrono::Utc::now());
    let w = world(&app).await;
    let url = app.state.config.database_url.clone();
    let data = app.data_dir.clone();
    let port = free_port();
    let server = Process::start("lost-index", &["serve"], &url, &data, &format!("127.0.0.1:{port}"));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    ready(&http, &base, &[&server]).await;
    let search = |http: reqwest::Client, base: String| async move {
        let r = http.get(format!("{base}/api/v1/search/products?q=香菇")).send().await.unwrap();
        {
            let status = r.status().as_u16();
            (status, crate::helpers::json_of(r).await)
        }
    };
    eventually("the worker indexing the products", &[&server], || {
        let (http, base) = (http.clone(), base.clone());
        async move { search(http, base).await.1["total"] == 1 }
    })
    .await;

    std::fs::remove_dir_all(data.join("search")).unwrap();
    eventually("search noticing the lost index", &[&server], || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let (status, body) = search(http, base).await;
            status == 503 && body["code"] == "search_unavailable"
        }
    })
    .await;
    let order = http
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&w.school)
        .json_body(&order_body(&[(&w.fungi, 2)]))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status().as_u16(), 201, "ordering does not need the index");

    let reindex = std::process::Command::new(env!("CARGO_BIN_EXE_dongxi"))
        .arg("reindex")
        .env("DATABASE_URL", &url)
        .env("DONGXI_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        reindex.status.success(),
        "{}{}",
        String::from_utf8_lossy(&reindex.stdout),
        String::from_utf8_lossy(&reindex.stderr)
    );
    eventually("search answering from the rebuilt index", &[&server], || {
        let (http, base) = (http.clone(), base.clone());
        async move { search(http, base).await.1["total"] == 1 }
    })
    .await;
}
