use chrono::{DateTime, Duration, Utc};
use dongxi::identity::types::{OrgKind, Role};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{TestApp, count_rows, send_owned};
use crate::orders::{World, delivery, pay, stock, world};

/// 惠州's coordinator runs a round of 普安红茶 (¥168 a tin) for the city's agencies:
/// ¥160 from the first tin, ¥150 from 100, ¥140 from 200; it needs 100 and takes at most 300.
fn campaign_body(product: &str, opens: DateTime<Utc>, closes: DateTime<Utc>) -> Value {
    json!({
        "title": "惠州市2026年冬季消费帮扶集中采购 普安红茶",
        "description": "市直单位食堂、工会福利统一团购，按总量阶梯定价",
        "product_id": product,
        "tiers": [{"min_qty": 1, "unit_price_fen": 16000}, {"min_qty": 100, "unit_price_fen": 15000}, {"min_qty": 200, "unit_price_fen": 14000}],
        "min_total_qty": 100,
        "max_total_qty": 300,
        "opens_at": opens.to_rfc3339(),
        "closes_at": closes.to_rfc3339(),
        "eligible_region_code": "441300"
    })
}

pub async fn campaign(app: &TestApp, w: &World, opens_in: Duration, closes_in: Duration) -> Value {
    let now = app.clock.now();
    let r = app
        .post("/api/v1/group-buys")
        .token(&w.coordinator)
        .json(campaign_body(&w.tea, now + opens_in, now + closes_in))
        .send()
        .await;
    r.assert_status(201);
    r.json()
}

fn pledge_body(quantity: i64) -> Value {
    json!({"quantity": quantity, "delivery": delivery(), "note": "工会福利，请开增值税普通发票"})
}

async fn pledge(app: &TestApp, token: &str, campaign: &str, quantity: i64) -> Value {
    let r = app
        .post(&format!("/api/v1/group-buys/{campaign}/pledges"))
        .token(token)
        .json(pledge_body(quantity))
        .send()
        .await;
    r.assert_status(201);
    r.json()
}

async fn get(app: &TestApp, token: &str, campaign: &str) -> Value {
    let r = app.get(&format!("/api/v1/group-buys/{campaign}")).token(token).send().await;
    r.assert_status(200);
    r.json()
}

/// Another agency of 惠州 with a signed-in admin.
async fn agency(app: &TestApp, name: &str, region: &str) -> String {
    app.signed_in(name, OrgKind::Agency, region, Role::Admin).await.1
}

async fn orders_of(app: &TestApp, token: &str, campaign: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/orders?group_buy_id={campaign}")).token(token).send().await;
    r.assert_status(200);
    r.json()["items"].as_array().unwrap().clone()
}

async fn notices(app: &TestApp, campaign: &str) -> Vec<String> {
    let campaign = campaign.to_owned();
    app.db(move |c| {
        dongxi::outbox::pending(c, crate::helpers::NOTIFY)
            .unwrap()
            .into_iter()
            .map(|(_, payload)| serde_json::from_str::<Value>(&payload).unwrap())
            .filter(|p| p["group_buy_id"] == campaign.as_str())
            .map(|p| p["event"].as_str().unwrap().trim_start_matches("group_buy.").to_owned())
            .collect()
    })
    .await
}

async fn run_due(app: &TestApp) -> dongxi::groupbuy::jobs::Pass {
    dongxi::groupbuy::jobs::run_due(&app.state).await.expect("timetable")
}

backend_tests! {
    async fn pledges_pool_into_one_price_and_the_close_makes_one_order_each(app: TestApp) {
        let w = world(&app).await;
        let c = campaign(&app, &w, Duration::zero(), Duration::hours(10)).await;
        let id = c["id"].as_str().unwrap();
        assert_eq!(c["status"], "open");
        assert_eq!(c["accepting_pledges"], true);
        assert_eq!((c["total_qty"].as_i64(), c["pledge_count"].as_i64()), (Some(0), Some(0)));
        assert_eq!(c["current_unit_price_fen"], 16000);
        assert_eq!(c["next_tier"], json!({"min_qty": 100, "unit_price_fen": 15000, "qty_needed": 100}));
        assert_eq!(c["list_price_fen"], 16800);
        assert_eq!(c["headline"], "还差 100 罐成团，当前 160 元/罐");

        let first = pledge(&app, &w.school, id, 60).await;
        assert_eq!(first["status"], "active");
        assert_eq!(first["quantity"], 60);
        assert_eq!(first["group_buy"]["total_qty"], 60);
        assert_eq!(stock(&app, &w.tea).await, 740, "a pledge takes its stock at once");
        let second = pledge(&app, &w.bureau, id, 50).await;
        let live = &second["group_buy"];
        assert_eq!((live["total_qty"].as_i64(), live["pledge_count"].as_i64()), (Some(110), Some(2)));
        assert_eq!(live["current_unit_price_fen"], 15000);
        assert_eq!(live["next_tier"], json!({"min_qty": 200, "unit_price_fen": 14000, "qty_needed": 90}));
        assert_eq!(live["headline"], "再凑 90 罐享 140 元/罐");
        assert_eq!(live["available_qty"], 190);

        // Pledging again replaces the organisation's pledge: its quantity, not a second pledge.
        let replaced = pledge(&app, &w.school, id, 80).await;
        assert_eq!(replaced["replaces_pledge_id"], first["id"]);
        assert_eq!((replaced["group_buy"]["total_qty"].as_i64(), replaced["group_buy"]["pledge_count"].as_i64()), (Some(130), Some(2)));
        assert_eq!(stock(&app, &w.tea).await, 670);
        let mine = get(&app, &w.school_member, id).await;
        assert_eq!(mine["my_pledge"]["id"], replaced["id"], "a member sees the organisation's pledge");
        assert_eq!(mine["my_pledge"]["quantity"], 80);
        assert!(get(&app, &w.coordinator, id).await["my_pledge"].is_null());

        // Who may pledge, how much, and what is left.
        let path = format!("/api/v1/group-buys/{id}/pledges");
        let refused = app.post(&path).token(&w.stranger).json(pledge_body(10)).send().await.assert_problem(403, "not_eligible");
        assert_eq!(refused["eligible_region_code"], "441300");
        app.post(&path).token(&w.tea_producer).json(pledge_body(10)).send().await.assert_problem(403, "forbidden");
        app.post(&path).token(&w.coordinator).json(pledge_body(10)).send().await.assert_problem(403, "forbidden");
        app.post(&path).json(pledge_body(10)).send().await.assert_problem(401, "unauthenticated");
        app.post(&path).token(&w.school).json(pledge_body(0)).send().await.assert_problem(422, "invalid_quantity");
        app.post(&path).token(&w.school).json(json!({"quantity": 5, "delivery": {"address": "", "contact_name": "王", "phone": "x"}}))
            .send().await.assert_problem(422, "validation_failed");
        let hospital = agency(&app, "惠州市中心人民医院", "441302").await;
        let full = app.post(&path).token(&hospital).json(pledge_body(200)).send().await.assert_problem(409, "campaign_full");
        assert_eq!(full["available"], 170);
        let full = app.post(&path).token(&w.school).json(pledge_body(260)).send().await.assert_problem(409, "campaign_full");
        assert_eq!(full["available"], 250, "the school may hold what is left plus its own 80");
        app.post("/api/v1/group-buys/gb_missing/pledges").token(&hospital).json(pledge_body(1)).send().await.assert_problem(404, "not_found");
        assert_eq!(get(&app, &w.school, id).await["total_qty"], 130, "refusals changed nothing");
        assert_eq!(stock(&app, &w.tea).await, 670);

        // Idempotency-Key: a replay returns the first answer; another body with the key is refused.
        let keyed = || app.post(&path).token(&hospital).header("idempotency-key", "hospital-pledge-1");
        let made = keyed().json(pledge_body(70)).send().await;
        made.assert_status(201);
        let again = keyed().json(pledge_body(70)).send().await;
        again.assert_status(201);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(again.json()["id"], made.json()["id"]);
        keyed().json(pledge_body(71)).send().await.assert_problem(422, "idempotency_key_reused");
        assert_eq!(get(&app, &w.school, id).await["total_qty"], 200);
        assert_eq!(stock(&app, &w.tea).await, 600);

        // Only the organiser closes by hand.
        let close = format!("/api/v1/group-buys/{id}/close");
        app.post(&close).token(&w.school).send().await.assert_problem(403, "forbidden");
        let closed = app.post(&close).token(&w.coordinator).send().await;
        closed.assert_status(200);
        let closed = closed.json();
        assert_eq!(closed["status"], "succeeded");
        assert_eq!(closed["final_unit_price_fen"], 14000, "200 tins reach the 200+ tier");
        assert_eq!(closed["current_unit_price_fen"], 14000);
        assert!(closed["next_tier"].is_null());
        assert_eq!(closed["headline"], "已成团：共 200 罐，140 元/罐");
        assert_eq!(stock(&app, &w.tea).await, 600, "the pledges' stock became the orders' stock");

        let orders = orders_of(&app, &w.admin, id).await;
        assert_eq!(orders.len(), 3);
        let mut quantities: Vec<i64> = orders.iter().map(|o| o["lines"][0]["quantity"].as_i64().unwrap()).collect();
        quantities.sort_unstable();
        assert_eq!(quantities, [50, 70, 80]);
        for o in &orders {
            assert_eq!(o["status"], "pending_payment");
            assert_eq!(o["group_buy_id"], id);
            assert!(o["pledge_id"].as_str().unwrap().starts_with("plg_"));
            assert_eq!(o["lines"][0]["unit_price_fen"], 14000);
            assert_eq!(o["total_fen"], o["lines"][0]["quantity"].as_i64().unwrap() * 14000);
            assert_eq!(o["delivery"], delivery());
            assert!(o["note"].as_str().unwrap().starts_with("团购「惠州市2026年冬季"));
            assert!(o["lines"][0]["certificate_no"].as_str().unwrap().starts_with("DX-522323-"));
        }
        let school_orders = orders_of(&app, &w.school, id).await;
        assert_eq!(school_orders.len(), 1, "a buyer sees its own order");
        assert_eq!(school_orders[0]["pledge_id"], replaced["id"]);
        assert_eq!(orders_of(&app, &w.bureau, id).await.len(), 2, "the bureau sees its own and its school's");
        let pledges = app.get(&path).token(&w.coordinator).send().await.json();
        let statuses: Vec<&str> = pledges["items"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["ordered", "ordered", "ordered", "replaced"], "newest first");
        assert_eq!(app.get(&path).token(&hospital).send().await.json()["items"].as_array().unwrap().len(), 1);

        // Closing again, by hand or by the worker after closes_at, makes nothing twice.
        for _ in 0..3 {
            let again = app.post(&close).token(&w.coordinator).send().await;
            again.assert_status(200);
            assert_eq!(again.json()["status"], "succeeded");
        }
        app.clock.advance(Duration::hours(11));
        assert_eq!(run_due(&app).await.closed, 0);
        assert_eq!(count_rows(&app, "orders").await, 3);
        app.post(&path).token(&hospital).json(pledge_body(1)).send().await.assert_problem(409, "campaign_not_open");
        assert_eq!(notices(&app, id).await, ["opened", "succeeded"]);

        // A group-buy order is paid and counted like any other.
        let school_order = &school_orders[0];
        pay(&app, &w.admin, school_order).await;
        assert_eq!(count_rows(&app, "ledger_entries").await, 1);
    }

    async fn a_round_below_its_minimum_fails_at_closing_time_and_gives_the_stock_back(app: TestApp) {
        let w = world(&app).await;
        let c = campaign(&app, &w, Duration::zero(), Duration::hours(11)).await;
        let id = c["id"].as_str().unwrap();
        pledge(&app, &w.school, id, 30).await;
        pledge(&app, &w.bureau, id, 20).await;
        assert_eq!(stock(&app, &w.tea).await, 750);
        let pass = run_due(&app).await;
        assert_eq!((pass.reminded, pass.closed), (1, 0), "within a day of closing, the participants are reminded");
        assert_eq!(run_due(&app).await.reminded, 0, "once");

        app.clock.advance(Duration::hours(11));
        let open_late = get(&app, &w.school, id).await;
        assert_eq!(open_late["accepting_pledges"], false, "past closes_at no pledge is taken, even before the worker runs");
        let path = format!("/api/v1/group-buys/{id}/pledges");
        let late = app.post(&path).token(&w.school).json(pledge_body(5)).send().await.assert_problem(409, "campaign_not_open");
        assert_eq!(late["current_status"], "open");
        assert_eq!(run_due(&app).await.closed, 1);
        let failed = get(&app, &w.school, id).await;
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["outcome_reason"], "min_total_not_reached");
        assert_eq!(failed["headline"], "未成团：共 50 罐，未达 100 罐");
        assert_eq!(stock(&app, &w.tea).await, 800, "every pledge's stock is back");
        assert_eq!(count_rows(&app, "orders").await, 0);
        let pledges = app.get(&path).token(&w.coordinator).send().await.json();
        assert!(pledges["items"].as_array().unwrap().iter().all(|p| p["status"] == "released"), "{pledges}");
        app.post(&format!("/api/v1/group-buys/{id}/close")).token(&w.coordinator).send().await.assert_status(200);
        assert_eq!(get(&app, &w.school, id).await["status"], "failed");
        assert_eq!(notices(&app, id).await, ["opened", "closing_soon", "failed"]);
        let listed = app.get("/api/v1/group-buys?status=failed").token(&w.school).send().await.json();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert_eq!(app.get("/api/v1/group-buys?status=open").token(&w.school).send().await.json()["items"], json!([]));
    }

    async fn a_scheduled_round_opens_on_time_and_pledges_can_be_withdrawn(app: TestApp) {
        let w = world(&app).await;
        let c = campaign(&app, &w, Duration::hours(2), Duration::days(8)).await;
        let id = c["id"].as_str().unwrap();
        assert_eq!(c["status"], "scheduled");
        assert_eq!(c["headline"], "即将开团，起团价 160 元/罐");
        let path = format!("/api/v1/group-buys/{id}/pledges");
        let early = app.post(&path).token(&w.school).json(pledge_body(10)).send().await.assert_problem(409, "campaign_not_open");
        assert_eq!(early["current_status"], "scheduled");
        app.post(&format!("/api/v1/group-buys/{id}/close")).token(&w.coordinator).send().await.assert_problem(409, "campaign_not_open");
        assert_eq!(app.get("/api/v1/group-buys?status=scheduled").token(&w.school).send().await.json()["items"][0]["id"], id);
        assert_eq!(notices(&app, id).await, Vec::<String>::new());

        assert_eq!(run_due(&app).await, dongxi::groupbuy::jobs::Pass::default(), "nothing is due yet");
        app.clock.advance(Duration::hours(2));
        assert_eq!(get(&app, &w.school, id).await["status"], "open", "open at opens_at, before the worker notices");
        assert_eq!(run_due(&app).await.opened, 1);
        assert_eq!(run_due(&app).await.opened, 0);
        assert_eq!(notices(&app, id).await, ["opened"]);
        let p = pledge(&app, &w.school, id, 40).await;
        assert_eq!(stock(&app, &w.tea).await, 760);

        let withdraw = format!("{path}/{}", p["id"].as_str().unwrap());
        app.request(axum::http::Method::DELETE, &withdraw).token(&w.bureau).send().await.assert_problem(404, "not_found");
        app.request(axum::http::Method::DELETE, &withdraw).token(&w.school_member).send().await.assert_status(204);
        assert_eq!(stock(&app, &w.tea).await, 800);
        let after = get(&app, &w.school, id).await;
        assert_eq!((after["total_qty"].as_i64(), after["pledge_count"].as_i64()), (Some(0), Some(0)));
        assert!(after["my_pledge"].is_null());
        app.request(axum::http::Method::DELETE, &withdraw).token(&w.school).send().await.assert_status(204);
        assert_eq!(stock(&app, &w.tea).await, 800, "withdrawing twice gives back once");

        // A replaced pledge is no longer the one to withdraw.
        let a = pledge(&app, &w.school, id, 10).await;
        pledge(&app, &w.school, id, 12).await;
        let stale = app.request(axum::http::Method::DELETE, &format!("{path}/{}", a["id"].as_str().unwrap())).token(&w.school).send().await;
        assert_eq!(stale.assert_problem(409, "invalid_state")["current_status"], "replaced");
        assert_eq!(get(&app, &w.school, id).await["total_qty"], 12);
    }

    async fn campaigns_are_checked_before_anything_is_written(app: TestApp) {
        let w = world(&app).await;
        let now = app.clock.now();
        let post = |token: &str, body: Value| app.post("/api/v1/group-buys").token(token).json(body).send();
        let good = campaign_body(&w.tea, now, now + Duration::days(5));
        let with = |key: &str, value: Value| {
            let mut b = good.clone();
            b[key] = value;
            b
        };
        let flat = with("tiers", json!([{"min_qty": 1, "unit_price_fen": 16000}, {"min_qty": 50, "unit_price_fen": 16000}]));
        let p = post(&w.coordinator, flat).await.assert_problem(422, "validation_failed");
        assert_eq!(p["errors"][0]["field"], "tiers[1].unit_price_fen");
        let dear = with("tiers", json!([{"min_qty": 1, "unit_price_fen": 17000}]));
        assert_eq!(post(&w.coordinator, dear).await.assert_problem(422, "validation_failed")["errors"][0]["field"], "tiers[0].unit_price_fen");
        let rising = with("tiers", json!([{"min_qty": 50, "unit_price_fen": 16000}, {"min_qty": 10, "unit_price_fen": 15000}]));
        post(&w.coordinator, rising).await.assert_problem(422, "validation_failed");
        post(&w.coordinator, with("max_total_qty", json!(10))).await.assert_problem(422, "validation_failed");
        post(&w.coordinator, with("closes_at", json!((now - Duration::hours(1)).to_rfc3339()))).await.assert_problem(422, "validation_failed");
        post(&w.coordinator, with("eligible_region_code", json!("999999"))).await.assert_problem(422, "unknown_region");
        post(&w.coordinator, with("product_id", json!("prd_nothing"))).await.assert_problem(409, "not_orderable");
        post(&w.coordinator, with("eligible_region_code", json!("330200"))).await.assert_problem(403, "forbidden");
        post(&w.school_member, good.clone()).await.assert_problem(403, "forbidden");
        post(&w.tea_producer, good.clone()).await.assert_problem(403, "forbidden");
        app.post("/api/v1/group-buys").json(good.clone()).send().await.assert_problem(401, "unauthenticated");
        app.post("/api/v1/group-buys").token(&w.coordinator).raw("application/json", b"{".to_vec()).send().await.assert_problem(400, "malformed_json");
        assert_eq!(count_rows(&app, "group_buys").await, 0);

        // An agency admin organises for its own region (the union's festival packs).
        let r = post(&w.school, with("eligible_region_code", json!("441302"))).await;
        r.assert_status(201);
        assert_eq!(r.json()["organizer_org_id"], w.school_id);
        post(&w.school, good).await.assert_problem(403, "forbidden");
        app.get("/api/v1/group-buys/gb_nothing").token(&w.school).send().await.assert_problem(404, "not_found");
        app.get("/api/v1/group-buys?status=closed").token(&w.school).send().await.assert_problem(422, "validation_failed");
    }

    async fn the_organiser_may_call_a_round_off(app: TestApp) {
        let w = world(&app).await;
        let c = campaign(&app, &w, Duration::zero(), Duration::days(5)).await;
        let id = c["id"].as_str().unwrap();
        pledge(&app, &w.school, id, 120).await;
        let cancel = format!("/api/v1/group-buys/{id}/cancel");
        app.post(&cancel).token(&w.school).json(json!({"reason": "x"})).send().await.assert_problem(403, "forbidden");
        app.post(&cancel).token(&w.coordinator).json(json!({"reason": "  "})).send().await.assert_problem(422, "validation_failed");
        assert_eq!(stock(&app, &w.tea).await, 680);
        let r = app.post(&cancel).token(&w.coordinator).json(json!({"reason": "产品批次检测未通过，本轮取消"})).send().await;
        r.assert_status(200);
        assert_eq!(r.json()["status"], "cancelled");
        assert_eq!(r.json()["outcome_reason"], "产品批次检测未通过，本轮取消");
        assert_eq!(stock(&app, &w.tea).await, 800);
        app.post(&format!("/api/v1/group-buys/{id}/close")).token(&w.coordinator).send().await.assert_problem(409, "invalid_state");
        app.post(&cancel).token(&w.coordinator).json(json!({"reason": "再次取消"})).send().await.assert_problem(409, "invalid_state");
        app.clock.advance(Duration::days(6));
        assert_eq!(run_due(&app).await.closed, 0);
        assert_eq!(count_rows(&app, "orders").await, 0);
        assert_eq!(notices(&app, id).await, ["opened", "cancelled"]);
    }

    async fn a_round_whose_product_lost_its_certificate_fails(app: TestApp) {
        let w = world(&app).await;
        let c = campaign(&app, &w, Duration::zero(), Duration::days(5)).await;
        let id = c["id"].as_str().unwrap();
        pledge(&app, &w.school, id, 150).await;
        app.post(&format!("/api/v1/products/{}/revoke-certification", w.tea))
            .token(&w.qxn)
            .json(json!({"reason": "抽检不合格"}))
            .send()
            .await
            .assert_status(200);
        let r = app.post(&format!("/api/v1/group-buys/{id}/close")).token(&w.coordinator).send().await;
        r.assert_status(200);
        assert_eq!((r.json()["status"].as_str(), r.json()["outcome_reason"].as_str()), (Some("failed"), Some("product_not_orderable")));
        assert_eq!(count_rows(&app, "orders").await, 0);
    }
}

/// `n` agencies of 惠州 pledge `quantity` each at the same moment.
async fn pledge_race(app: &TestApp, campaign: &str, n: usize, quantity: i64) -> Vec<(u16, Value)> {
    let mut tokens = Vec::new();
    for i in 0..n {
        tokens.push(agency(app, &format!("惠州市惠城区第{i}小学"), "441302").await);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens {
        let (router, barrier, path) =
            (app.router.clone(), barrier.clone(), format!("/api/v1/group-buys/{campaign}/pledges"));
        tasks.spawn(async move {
            barrier.wait().await;
            let (status, body) =
                send_owned(router, axum::http::Method::POST, path, token, None, pledge_body(quantity)).await;
            (status.as_u16(), body)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.expect("task"));
    }
    out
}

/// 20 schools pledge 10 tins each against a cap of 100: exactly ten get in.
async fn concurrent_pledges_never_pass_the_cap(app: TestApp) {
    let w = world(&app).await;
    let now = app.clock.now();
    let mut body = campaign_body(&w.tea, now, now + Duration::days(2));
    body["max_total_qty"] = json!(100);
    let r = app.post("/api/v1/group-buys").token(&w.coordinator).json(body).send().await;
    r.assert_status(201);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let results = pledge_race(&app, &id, 20, 10).await;
    let made = results.iter().filter(|(s, _)| *s == 201).count();
    let full = results.iter().filter(|(s, b)| *s == 409 && b["code"] == "campaign_full").count();
    assert_eq!((made, full), (10, 10), "{results:?}");
    assert!(results.iter().filter(|(s, _)| *s == 409).all(|(_, b)| b["available"] == 0), "{results:?}");
    let c = get(&app, &w.coordinator, &id).await;
    assert_eq!((c["total_qty"].as_i64(), c["pledge_count"].as_i64()), (Some(100), Some(10)));
    assert_eq!(stock(&app, &w.tea).await, 700);
    assert_eq!(count_rows(&app, "group_buy_pledges").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pledges_never_pass_the_cap_on_postgres() {
    let Some(url) = crate::helpers::service_env("DONGXI_TEST_DATABASE_URL", "the PostgreSQL pledge race") else {
        return;
    };
    concurrent_pledges_never_pass_the_cap(TestApp::postgres_at(&url, &[("DONGXI_DB_POOL_SIZE", "24")]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pledges_never_pass_the_cap_on_sqlite() {
    concurrent_pledges_never_pass_the_cap(TestApp::sqlite().await).await;
}

/// 12 schools pledge 10 tins each at once into a round whose product has 50 in stock: five get
/// in, the rest are refused for the stock with what is left; the product is sold out, and a
/// search for what is in stock no longer finds it without waiting for the stock sweep.
async fn a_rush_sells_the_product_out(app: TestApp) {
    let w = world(&app).await;
    app.patch(&format!("/api/v1/products/{}", w.tea))
        .token(&w.tea_producer)
        .json(json!({"stock": 50}))
        .send()
        .await
        .assert_status(200);
    app.index_now().await;
    assert!(in_stock(&app, &w.tea).await, "the tea is on sale before the rush");
    let now = app.clock.now();
    let r = app
        .post("/api/v1/group-buys")
        .token(&w.coordinator)
        .json(campaign_body(&w.tea, now, now + Duration::days(2)))
        .send()
        .await;
    r.assert_status(201);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let results = pledge_race(&app, &id, 12, 10).await;
    let made = results.iter().filter(|(s, _)| *s == 201).count();
    let short: Vec<&Value> =
        results.iter().filter(|(s, b)| *s == 409 && b["code"] == "insufficient_stock").map(|(_, b)| b).collect();
    assert_eq!((made, short.len()), (5, 7), "{results:?}");
    assert!(short.iter().all(|b| b["available"] == 0), "{short:?}");
    let c = get(&app, &w.coordinator, &id).await;
    assert_eq!((c["total_qty"].as_i64(), c["pledge_count"].as_i64()), (Some(50), Some(5)));
    assert_eq!(stock(&app, &w.tea).await, 0);
    app.index_now().await;
    assert!(!in_stock(&app, &w.tea).await, "a sold-out product left in-stock search");
}

async fn in_stock(app: &TestApp, product: &str) -> bool {
    let r = app.get("/api/v1/search/products?q=普安红茶&in_stock=true").send().await.json();
    r["hits"].as_array().unwrap().iter().any(|h| h["id"] == product)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rush_sells_the_product_out_on_postgres() {
    let Some(url) = crate::helpers::service_env("DONGXI_TEST_DATABASE_URL", "the PostgreSQL sell-out rush") else {
        return;
    };
    a_rush_sells_the_product_out(TestApp::postgres_at(&url, &[("DONGXI_DB_POOL_SIZE", "24")]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rush_sells_the_product_out_on_sqlite() {
    a_rush_sells_the_product_out(TestApp::sqlite().await).await;
}

/// One burst into a round, mixing what a batch decides with what it leaves to the single path:
/// 25 first pledges, an organisation pledging twice at once, twin requests with one key, a
/// replacement of a pledge made before, one agency outside the region and one pledge below the
/// minimum. Whatever order they are taken in, the round's total is the sum of its active
/// pledges, within the cap, and the stock moved by exactly that.
async fn a_rush_mixes_first_pledges_replacements_and_replays(app: TestApp) {
    let w = world(&app).await;
    let now = app.clock.now();
    let mut body = campaign_body(&w.tea, now, now + Duration::days(2));
    body["min_pledge_qty"] = json!(5);
    let r = app.post("/api/v1/group-buys").token(&w.coordinator).json(body).send().await;
    r.assert_status(201);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let before = agency(&app, "惠州市中心医院", "441302").await;
    pledge(&app, &before, &id, 20).await;

    let (twice, twin, small) = (
        agency(&app, "惠州市总工会", "441302").await,
        agency(&app, "惠州学院", "441302").await,
        agency(&app, "惠州市图书馆", "441302").await,
    );
    // (token, key, quantity)
    let mut asks: Vec<(String, Option<String>, i64)> = Vec::new();
    for i in 0..25 {
        asks.push((agency(&app, &format!("惠州市惠阳区第{i}中学"), "441302").await, None, 10));
    }
    asks.push((twice.clone(), Some("twice-1".into()), 10));
    asks.push((twice.clone(), Some("twice-2".into()), 30));
    asks.push((twin.clone(), Some("twin".into()), 10));
    asks.push((twin.clone(), Some("twin".into()), 10));
    asks.push((before.clone(), None, 40));
    asks.push((w.stranger.clone(), None, 10));
    asks.push((small.clone(), None, 2));

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(asks.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, (token, key, quantity)) in asks.into_iter().enumerate() {
        let (router, barrier, path) = (app.router.clone(), barrier.clone(), format!("/api/v1/group-buys/{id}/pledges"));
        tasks.spawn(async move {
            barrier.wait().await;
            let (status, body) =
                send_owned(router, axum::http::Method::POST, path, token, key, pledge_body(quantity)).await;
            (n, status.as_u16(), body)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = tasks.join_next().await {
        results.push(r.expect("task"));
    }
    results.sort_by_key(|(n, _, _)| *n);
    let code = |n: usize| (results[n].1, results[n].2["code"].as_str().unwrap_or("").to_owned());
    assert!(results.iter().all(|(_, s, _)| [201, 403, 409, 422].contains(s)), "{results:?}");
    for (n, result) in results.iter().enumerate().take(25) {
        let (status, code) = code(n);
        assert!(status == 201 || (status, code.as_str()) == (409, "campaign_full"), "{result:?}");
    }
    assert_eq!(code(30), (403, "not_eligible".to_owned()));
    assert_eq!(code(31), (422, "invalid_quantity".to_owned()));
    // Twins with one key: one pledge, and both answers are its answer.
    assert_eq!((results[27].1, results[28].1), (201, 201), "{:?} {:?}", results[27], results[28]);
    assert_eq!(results[27].2, results[28].2, "the twin was not a replay");

    // The round as its pledges say it is.
    let active =
        app.get(&format!("/api/v1/group-buys/{id}/pledges?status=active&limit=200")).token(&w.coordinator).send().await;
    active.assert_status(200);
    let active = active.json()["items"].as_array().unwrap().clone();
    let sum: i64 = active.iter().map(|p| p["quantity"].as_i64().unwrap()).sum();
    let c = get(&app, &w.coordinator, &id).await;
    assert_eq!((c["total_qty"].as_i64(), c["pledge_count"].as_u64()), (Some(sum), Some(active.len() as u64)));
    assert!(sum <= 300, "{sum}");
    assert_eq!(stock(&app, &w.tea).await, 800 - sum);
    let mut orgs: Vec<&str> = active.iter().map(|p| p["org_id"].as_str().unwrap()).collect();
    orgs.sort_unstable();
    let pledgers = orgs.len();
    orgs.dedup();
    assert_eq!(orgs.len(), pledgers, "an organisation with two active pledges");
    let made = |n: usize| results[n].1 == 201;
    let firsts = (0..25).filter(|&n| made(n)).count();
    // Every first pledge that got in, the twins' one, the one made before, and one of `twice`'s
    // if either got in.
    assert_eq!(pledgers, firsts + 1 + 1 + usize::from(made(25) || made(26)), "{results:?}");
    let mine = |token: &str| {
        let (app, id) = (&app, &id);
        let token = token.to_owned();
        async move { get(app, &token, id).await["my_pledge"]["quantity"].as_i64() }
    };
    assert_eq!(mine(&before).await, Some(if made(29) { 40 } else { 20 }));
    let twice_now = mine(&twice).await;
    assert!(
        match (made(25), made(26)) {
            (true, true) => twice_now == Some(10) || twice_now == Some(30),
            (true, false) => twice_now == Some(10),
            (false, true) => twice_now == Some(30),
            (false, false) => twice_now.is_none(),
        },
        "{twice_now:?} {:?} {:?}",
        results[25],
        results[26]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rush_mixes_first_pledges_replacements_and_replays_on_postgres() {
    let Some(url) = crate::helpers::service_env("DONGXI_TEST_DATABASE_URL", "the PostgreSQL rush") else {
        return;
    };
    a_rush_mixes_first_pledges_replacements_and_replays(
        TestApp::postgres_at(&url, &[("DONGXI_DB_POOL_SIZE", "24")]).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rush_mixes_first_pledges_replacements_and_replays_on_sqlite() {
    a_rush_mixes_first_pledges_replacements_and_replays(TestApp::sqlite().await).await;
}

/// Two servers (each its own pool and router) and the workers of both close the same campaigns
/// at the same moment, again and again: every campaign closes once, every pledge is one order.
async fn two_servers_and_their_workers_close_a_round_once(app: TestApp) {
    let w = world(&app).await;
    let (twin_router, twin_state) = app.twin();
    let hospital = agency(&app, "惠州市中心人民医院", "441302").await;
    for round in 0..3 {
        let c = campaign(&app, &w, Duration::zero(), Duration::hours(2)).await;
        let id = c["id"].as_str().unwrap().to_owned();
        for (token, q) in [(&w.school, 40), (&w.bureau, 35), (&hospital, 45)] {
            pledge(&app, token, &id, q).await;
        }
        app.clock.advance(Duration::hours(3));
        let mut tasks = tokio::task::JoinSet::new();
        for router in [app.router.clone(), twin_router.clone(), app.router.clone(), twin_router.clone()] {
            let (token, path) = (w.coordinator.clone(), format!("/api/v1/group-buys/{id}/close"));
            tasks.spawn(async move {
                let (status, body) = send_owned(router, axum::http::Method::POST, path, token, None, json!({})).await;
                assert_eq!(status.as_u16(), 200, "{body}");
                assert_eq!(body["status"], "succeeded", "{body}");
            });
        }
        for state in [app.state.clone(), twin_state.clone(), app.state.clone()] {
            tasks.spawn(async move {
                dongxi::groupbuy::jobs::run_due(&state).await.expect("timetable");
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("closer");
        }
        let orders = orders_of(&app, &w.admin, &id).await;
        assert_eq!(orders.len(), 3, "round {round}: one order per pledge");
        let mut pledges: Vec<&str> = orders.iter().map(|o| o["pledge_id"].as_str().unwrap()).collect();
        pledges.sort_unstable();
        pledges.dedup();
        assert_eq!(pledges.len(), 3);
        assert!(orders.iter().all(|o| o["lines"][0]["unit_price_fen"] == 15000), "120 tins reach the 100+ tier");
        assert_eq!(notices(&app, &id).await, ["opened", "succeeded"], "round {round}: one result notice");
    }
    assert_eq!(count_rows(&app, "orders").await, 9);
    assert_eq!(stock(&app, &w.tea).await, 800 - 3 * 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_and_their_workers_close_a_round_once_on_postgres() {
    let Some(url) = crate::helpers::service_env("DONGXI_TEST_DATABASE_URL", "the PostgreSQL close race") else {
        return;
    };
    two_servers_and_their_workers_close_a_round_once(TestApp::postgres_at(&url, &[("DONGXI_DB_POOL_SIZE", "8")]).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_and_their_workers_close_a_round_once_on_sqlite() {
    two_servers_and_their_workers_close_a_round_once(TestApp::sqlite().await).await;
}

/// Card authorisations (localstripe at `DONGXI_TEST_STRIPE_URL`): a pledge of a campaign closing
/// within 6 days is authorised for its most (the first tier), the close captures what the order
/// finally costs and Stripe releases the rest; a withdrawn pledge's authorisation is voided; one
/// never completed by the card holder leaves the order to be paid after the close.
async fn a_card_authorised_pledge_is_captured_at_the_reached_price(postgres: bool) {
    let Some(t) = crate::payments::card_app(postgres).await else { return };
    let (app, w) = (&t.app, &t.w);
    assert!(app.state.stripe.is_some(), "Stripe configured");
    let c = campaign(app, w, Duration::zero(), Duration::days(3)).await;
    let id = c["id"].as_str().unwrap();
    let school = pledge(app, &w.school, id, 60).await;
    let authorize = |token: &str, pledge: &Value, key: &str| {
        app.post(&format!("/api/v1/group-buys/{id}/pledges/{}/authorization", pledge["id"].as_str().unwrap()))
            .token(token)
            .header("idempotency-key", key)
            .send()
    };
    let r = authorize(&w.school, &school, "school-card").await;
    r.assert_status(201);
    let auth = r.json();
    assert_eq!((auth["amount_fen"].as_i64(), auth["capture_method"].as_str()), (Some(60 * 16000), Some("manual")));
    let pi = auth["payment_intent_id"].as_str().unwrap().to_owned();
    let again = authorize(&w.school, &school, "school-card").await;
    assert_eq!((again.headers["idempotent-replayed"].to_str().unwrap(), again.json()), ("true", auth.clone()));
    assert_eq!(
        authorize(&w.school, &school, "school-card-2").await.json()["payment_intent_id"],
        pi.as_str(),
        "the open one again"
    );
    authorize(&w.bureau, &school, "not-theirs").await.assert_problem(404, "not_found");
    assert_eq!(t.stripe.pay_with_card(&pi, "4242424242424242").await, 200);
    assert_eq!(t.stripe.get(&format!("/payment_intents/{pi}")).await["status"], "requires_capture");

    // The bureau starts an authorisation but never completes it; the hospital authorises, then withdraws.
    let bureau = pledge(app, &w.bureau, id, 50).await;
    let bureau_pi =
        authorize(&w.bureau, &bureau, "bureau-card").await.json()["payment_intent_id"].as_str().unwrap().to_owned();
    let hospital_token = agency(app, "惠州市中心人民医院", "441302").await;
    let hospital = pledge(app, &hospital_token, id, 30).await;
    let hospital_pi = authorize(&hospital_token, &hospital, "hospital-card").await.json()["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(t.stripe.pay_with_card(&hospital_pi, "4242424242424242").await, 200);
    app.request(
        axum::http::Method::DELETE,
        &format!("/api/v1/group-buys/{id}/pledges/{}", hospital["id"].as_str().unwrap()),
    )
    .token(&hospital_token)
    .send()
    .await
    .assert_status(204);
    crate::helpers::run_stripe_jobs(&app.state).await;
    assert_eq!(
        t.stripe.get(&format!("/payment_intents/{hospital_pi}")).await["status"],
        "canceled",
        "released at once"
    );

    // A campaign closing later than an authorisation holds is paid after the close.
    let long = campaign(app, w, Duration::zero(), Duration::days(10)).await;
    let long_id = long["id"].as_str().unwrap();
    let p = pledge(app, &w.school, long_id, 10).await;
    let refused = app
        .post(&format!("/api/v1/group-buys/{long_id}/pledges/{}/authorization", p["id"].as_str().unwrap()))
        .token(&w.school)
        .send()
        .await;
    refused.assert_problem(409, "authorization_unavailable");

    // 110 tins reach ¥150: the school's card is charged 60 × ¥150 and the rest released.
    app.post(&format!("/api/v1/group-buys/{id}/close")).token(&w.coordinator).send().await.assert_status(200);
    let orders = orders_of(app, &w.admin, id).await;
    let order_of = |pledge: &Value| orders.iter().find(|o| o["pledge_id"] == pledge["id"]).cloned().unwrap();
    let school_order = order_of(&school);
    assert_eq!(school_order["total_fen"], 60 * 15000);
    while crate::helpers::run_stripe_jobs(&app.state).await > 0 {}
    let paid = t.order(school_order["id"].as_str().unwrap()).await;
    assert_eq!((paid["status"].as_str(), paid["paid_fen"].as_i64()), (Some("paid"), Some(60 * 15000)), "{paid}");
    assert_eq!(
        t.ledger_net(school_order["id"].as_str().unwrap()).await,
        (1, 60 * 15000),
        "counted once, at what was taken"
    );
    let at_stripe = t.stripe.get(&format!("/payment_intents/{pi}")).await;
    assert_eq!(at_stripe["status"], "succeeded");
    let charge = t
        .stripe
        .get(&format!(
            "/charges/{}",
            at_stripe["latest_charge"]["id"].as_str().or(at_stripe["latest_charge"].as_str()).unwrap()
        ))
        .await;
    assert_eq!(charge["captured"], true);
    assert_eq!(charge["amount"].as_i64().unwrap() - charge["amount_refunded"].as_i64().unwrap(), 60 * 15000);
    // Stripe's own word of the capture (the webhook) agrees with what the worker settled.
    let mut outcome = None;
    for _ in 0..100 {
        let pi = pi.clone();
        outcome = app
            .db(move |c| {
                use diesel::prelude::*;
                use dongxi::db::schema::stripe_events as e;
                e::table
                    .filter(e::object_id.eq(pi))
                    .filter(e::event_type.eq("payment_intent.succeeded"))
                    .select(e::outcome)
                    .first::<String>(c)
                    .optional()
                    .unwrap()
            })
            .await;
        if outcome.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(matches!(outcome.as_deref(), Some("already_paid" | "paid")), "{outcome:?}");

    // The bureau's authorisation was never completed: voided, its order waits for payment.
    assert_eq!(t.stripe.get(&format!("/payment_intents/{bureau_pi}")).await["status"], "canceled");
    let bureau_order = t
        .app
        .get(&format!("/api/v1/orders/{}", order_of(&bureau)["id"].as_str().unwrap()))
        .token(&w.bureau)
        .send()
        .await
        .json();
    assert_eq!(bureau_order["status"], "pending_payment");

    // What Stripe released is not a refund of ours, however often the refunds are compared.
    let listed = t.stripe.refunds_of(&pi).await;
    assert_eq!(listed.len(), 1, "the released part: {listed:?}");
    let refunds: Vec<dongxi::payments::gateway::StripeRefund> =
        listed.iter().map(|r| dongxi::payments::gateway::StripeRefund::from_json(r).unwrap()).collect();
    for _ in 0..2 {
        let (pi, refunds, ctx) = (pi.clone(), refunds.clone(), app.state.ctx());
        let outcome = app
            .state
            .db
            .write(move |c| dongxi::payments::webhook::absorb_refunds(c, &pi, &refunds, &ctx))
            .await
            .unwrap();
        assert_eq!(outcome.outcome, "refunds_in_step");
    }
    assert_eq!(count_rows(app, "refunds").await, 0);
    while crate::helpers::run_stripe_jobs(&app.state).await > 0 {}
    assert_eq!(t.ledger_net(school_order["id"].as_str().unwrap()).await, (1, 60 * 15000), "nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_authorised_pledge_is_captured_at_the_reached_price_sqlite() {
    a_card_authorised_pledge_is_captured_at_the_reached_price(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_authorised_pledge_is_captured_at_the_reached_price_postgres() {
    a_card_authorised_pledge_is_captured_at_the_reached_price(true).await;
}

// 450 agencies pledge a tin each; the close writes the outcome and settles the first chunk (200)
// in its transaction, and the worker settles the rest a chunk per transaction: every pledge one
// order, once, however often the worker passes.
backend_tests! {
    async fn a_round_larger_than_a_chunk_settles_a_chunk_per_transaction(app: TestApp) {
        use dongxi::groupbuy::{close, model, pledges, types::NewPledge};
        let w = world(&app).await;
        let now = app.clock.now();
        let mut body = campaign_body(&w.tea, now, now + Duration::hours(2));
        body["max_total_qty"] = json!(1000);
        body["min_pledge_qty"] = json!(1);
        let r = app.post("/api/v1/group-buys").token(&w.coordinator).json(body).send().await;
        r.assert_status(201);
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let chunk = close::SETTLE_CHUNK as usize;
        let n = 2 * chunk + 50;
        let ctx = app.state.ctx();
        let mut conn = app.state.db.get().unwrap();
        for i in 0..n {
            let org = dongxi::identity::service::create_org_unchecked(
                &mut conn,
                &format!("惠州市惠城区第{i}幼儿园"),
                OrgKind::Agency,
                "441302",
                None,
                ctx.now,
            )
            .unwrap();
            let user = dongxi::identity::model::UserRow {
                id: dongxi::ids::new_id("usr"),
                org_id: org.id.clone(),
                email: format!("kg{i}@huicheng.example.cn"),
                name: "园长".into(),
                role: "admin".into(),
                password_hash: "-".into(),
                created_at: ctx.now,
            };
            dongxi::identity::model::insert_user(&mut conn, &user).unwrap();
            let actor = dongxi::identity::actor::actor_for_user(&mut conn, &user.id).unwrap().unwrap();
            let new = NewPledge { quantity: 1, delivery: serde_json::from_value(delivery()).unwrap(), note: None };
            dongxi::db::write_tx(&mut conn, |c| pledges::pledge(c, &actor, &id, new, &ctx)).unwrap();
        }
        drop(conn);
        let r = app.post(&format!("/api/v1/group-buys/{id}/close")).token(&w.coordinator).json(json!({})).send().await;
        r.assert_status(200);
        assert_eq!((r.json()["status"].as_str(), r.json()["final_unit_price_fen"].as_i64()), (Some("succeeded"), Some(14000)));
        let row = |app: &TestApp| {
            let mut c = app.state.db.get().unwrap();
            model::find(&mut c, &id).unwrap().unwrap()
        };
        assert_eq!(count_rows(&app, "orders").await, chunk as i64, "the close settles one chunk");
        assert!(row(&app).pledges_settled_at.is_none());
        let pass = run_due(&app).await;
        assert_eq!((pass.settled, pass.failed), (n - chunk, 0), "{pass:?}");
        assert_eq!(count_rows(&app, "orders").await, n as i64);
        assert!(row(&app).pledges_settled_at.is_some());
        assert_eq!(run_due(&app).await.settled, 0, "nothing settles twice");
        let mut c = app.state.db.get().unwrap();
        assert!(model::active_pledges(&mut c, &id).unwrap().is_empty());
        assert_eq!(count_rows(&app, "orders").await, n as i64);
        assert_eq!(stock(&app, &w.tea).await, 800 - n as i64);
    }
}
