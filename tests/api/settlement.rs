//! Settlement: producers owed their sub-orders (net of refunds and the service fee), settled by
//! runs, paid by bank or Stripe, with statements, balances and bank details; all of it proven by
//! `settlement verify`.

use chrono::Duration;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{MAIL_SEND, TestApp, count_rows};
use crate::orders::{World, place, world};

fn sub_of(order: &Value, producer: &str) -> String {
    let subs = order["sub_orders"].as_array().unwrap();
    subs.iter().find(|s| s["producer_id"] == producer).unwrap()["id"].as_str().unwrap().to_owned()
}

async fn ship(app: &TestApp, token: &str, sub: &str) {
    app.post(&format!("/api/v1/sub-orders/{sub}/ship"))
        .token(token)
        .json(json!({"carrier": "顺丰速运", "tracking_no": "SF1", "invoice_no": "44031234"}))
        .send()
        .await
        .assert_status(200);
}

async fn accept(app: &TestApp, token: &str, sub: &str) {
    app.post(&format!("/api/v1/sub-orders/{sub}/accept")).token(token).json(json!({})).send().await.assert_status(200);
}

async fn refund(app: &TestApp, token: &str, sub: &str, amount: i64) {
    let r = app
        .post(&format!("/api/v1/sub-orders/{sub}/refunds"))
        .token(token)
        .json(json!({"amount_fen": amount, "reason": "一罐破损"}))
        .send()
        .await;
    r.assert_status(201);
}

/// A paid, shipped order of `tea` tins (and optionally `fungi` bags); returns (order, tea sub, fungi sub).
async fn bought(app: &TestApp, w: &World, tea: i64, fungi: i64) -> (Value, String, Option<String>) {
    let mut lines = vec![(w.tea.as_str(), tea)];
    if fungi > 0 {
        lines.push((w.fungi.as_str(), fungi));
    }
    let order = place(app, &w.school, &lines).await;
    let r = app
        .post(&format!("/api/v1/orders/{}/payments/offline", order["id"].as_str().unwrap()))
        .token(&w.admin)
        .json(json!({"amount_fen": order["total_fen"], "reference": "ICBC-1", "paid_at": app.clock.now().to_rfc3339()}))
        .send()
        .await;
    r.assert_status(201);
    let tea_sub = sub_of(&order, &w.tea_org);
    ship(app, &w.tea_producer, &tea_sub).await;
    let fungi_sub = if fungi > 0 {
        let s = sub_of(&order, &w.fungi_org);
        ship(app, &w.fungi_producer, &s).await;
        Some(s)
    } else {
        None
    };
    (order, tea_sub, fungi_sub)
}

/// Starts a run as finance and has the worker perform it; returns the finished run.
async fn settle_run(app: &TestApp, w: &World) -> Value {
    let r = app.post("/api/v1/settlements/runs").token(&w.admin).json(json!({})).send().await;
    r.assert_status(202);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["status"], "queued");
    dongxi::worker::run_due(&app.state, |t| t == "settlement.run").await;
    let done = app.get(&format!("/api/v1/settlements/runs/{id}")).token(&w.admin).send().await;
    done.assert_status(200);
    assert_eq!(done.json()["status"], "finished", "{}", done.text());
    done.json()
}

async fn settlements(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/settlements?{query}")).token(token).send().await;
    r.assert_status(200);
    r.json()["items"].as_array().unwrap().clone()
}

async fn balance(app: &TestApp, token: &str, org: &str) -> Value {
    let r = app.get(&format!("/api/v1/organizations/{org}/balance")).token(token).send().await;
    r.assert_status(200);
    r.json()
}

async fn verify_clean(app: &TestApp) -> dongxi::settlement::verify::Verification {
    let on = app.state.config.settle.on;
    let v = app.db(move |c| dongxi::settlement::verify::verify(c, on).unwrap()).await;
    assert!(v.drift.is_empty(), "settlement drift: {:#?}", v.drift);
    v
}

async fn mails_with(app: &TestApp, template: &'static str) -> Vec<Value> {
    while crate::helpers::run_mail_jobs(&app.state).await > 0 {}
    app.db(move |c| {
        use diesel::prelude::*;
        use dongxi::db::schema::outbox;
        outbox::table
            .filter(outbox::topic.eq(MAIL_SEND))
            .order(outbox::id.asc())
            .select(outbox::payload)
            .load::<String>(c)
            .unwrap()
            .into_iter()
            .map(|p| serde_json::from_str::<Value>(&p).unwrap())
            .filter(|m| m["template"] == template)
            .collect()
    })
    .await
}

fn bank_body() -> Value {
    json!({"account_name": "普安县茶源茶叶专业合作社", "bank_name": "中国农业银行普安县支行", "account_no": "6228 4808 1234 5670 123"})
}

backend_tests! {
    async fn producers_are_owed_settled_and_paid_to_the_fen(app: TestApp) {
        // Days pass between the steps; the sign-ins outlast them.
        let app = app.with_config(|c| c.session_ttl = std::time::Duration::from_secs(30 * 24 * 3600));
        let w = world(&app).await;
        app.put_json("/api/v1/service-fees/tea", &w.admin, json!({"rate_bp": 300})).await.assert_status(200);

        // ¥1,580 of tea (10 tins at ¥158) and ¥1,240 of mushrooms; ¥158 of tea refunded before acceptance.
        let (first, tea1, fungi1) = bought(&app, &w, 10, 20).await;
        assert_eq!(first["total_fen"], 158_000 + 124_000);
        refund(&app, &w.tea_producer, &tea1, 15_800).await;
        accept(&app, &w.school, &tea1).await;
        let b = balance(&app, &w.tea_producer, &w.tea_org).await;
        // Owed 1,422.00 less 3% (42.66): 1,379.34, not yet a day old.
        assert_eq!((b["pending_fen"].as_i64(), b["due_fen"].as_i64()), (Some(137_934), Some(0)), "{b}");

        app.clock.advance(Duration::days(2));
        let r1 = settle_run(&app, &w).await;
        assert_eq!((r1["settlements"].as_i64(), r1["payables"].as_i64()), (Some(1), Some(1)), "{r1}");
        let tea_settlements = settlements(&app, &w.tea_producer, "").await;
        assert_eq!(tea_settlements.len(), 1);
        let s1 = tea_settlements[0].clone();
        assert_eq!((s1["status"].as_str(), s1["gross_fen"].as_i64(), s1["fee_fen"].as_i64(), s1["amount_fen"].as_i64()),
            (Some("scheduled"), Some(142_200), Some(4_266), Some(137_934)), "{s1}");
        assert!(settlements(&app, &w.fungi_producer, "").await.is_empty(), "the mushrooms are not accepted yet");
        let s1_id = s1["id"].as_str().unwrap().to_owned();
        for stranger in [&w.fungi_producer, &w.stranger, &w.school, &w.coordinator] {
            app.get(&format!("/api/v1/settlements/{s1_id}")).token(stranger).send().await.assert_problem(404, "not_found");
        }
        let detail = app.get(&format!("/api/v1/settlements/{s1_id}")).token(&w.qxn).send().await;
        detail.assert_status(200);
        assert_eq!(detail.json()["lines"][0]["sub_order_id"], tea1.as_str(), "the coordinator of the origin sees it");

        // A refund after the settlement: a deduction on the next statement, the fee's share given back.
        refund(&app, &w.tea_producer, &tea1, 15_800).await;
        accept(&app, &w.school, fungi1.as_deref().unwrap()).await;
        app.clock.advance(Duration::days(2));
        let r2 = settle_run(&app, &w).await;
        assert_eq!(r2["settlements"], 1, "the mushrooms; the tea's deduction alone waits: {r2}");
        let b = balance(&app, &w.tea_producer, &w.tea_org).await;
        assert_eq!(b["due_fen"], -(15_800 - 474), "¥158 less the ¥4.74 of fee it gives back: {b}");
        assert_eq!(app.get(&format!("/api/v1/settlements/{s1_id}")).token(&w.tea_producer).send().await.json()["amount_fen"], 137_934, "a settled statement is never edited");

        // More tea sold: the next statement carries the deduction.
        let (_, tea2, _) = bought(&app, &w, 10, 0).await;
        accept(&app, &w.school, &tea2).await;
        app.clock.advance(Duration::days(2));
        settle_run(&app, &w).await;
        let latest = settlements(&app, &w.tea_producer, "status=scheduled").await;
        let s3 = latest.iter().find(|s| s["id"] != s1_id.as_str()).unwrap().clone();
        assert_eq!((s3["gross_fen"].as_i64(), s3["deducted_fen"].as_i64(), s3["fee_fen"].as_i64(), s3["amount_fen"].as_i64(), s3["line_count"].as_i64()),
            (Some(158_000), Some(15_800), Some(4_740 - 474), Some(158_000 - 4_740 - 15_326), Some(2)), "{s3}");
        let s3_id = s3["id"].as_str().unwrap().to_owned();
        let csv = app.get(&format!("/api/v1/settlements/{s3_id}/statement.csv")).token(&w.tea_producer).send().await;
        csv.assert_status(200);
        let text = csv.text();
        assert!(text.contains("对账单") && text.contains("退款扣减") && text.contains("-158.00"), "{text}");
        assert!(text.contains("日期,类型,订单号,子订单号,退款单号,金额（元）,服务费（元）,应付（元）"), "{text}");
        let xlsx = app.get(&format!("/api/v1/settlements/{s3_id}/statement.xlsx")).token(&w.tea_producer).send().await;
        xlsx.assert_status(200);
        assert!(xlsx.body.starts_with(b"PK"), "an xlsx is a zip");

        // Paying by bank: no bank details yet, so a batch of everything has nothing to take,
        // says whose details are missing, and moves nothing.
        let empty = app.post("/api/v1/settlements/batches").token(&w.admin).json(json!({})).send().await;
        empty.assert_problem(409, "no_bank_details");
        assert_eq!(empty.json()["skipped_settlement_ids"].as_array().unwrap().len(), 3);
        assert_eq!(settlements(&app, &w.admin, "status=scheduled").await.len(), 3, "nothing moved");
        app.put_json(&format!("/api/v1/organizations/{}/bank-account", w.tea_org), &w.tea_producer, bank_body()).await.assert_status(200);
        let batch = app.post("/api/v1/settlements/batches").token(&w.admin).json(json!({"settlement_ids": [s1_id, s3_id]})).send().await;
        batch.assert_status(201);
        let batch = batch.json();
        assert_eq!(batch["total_fen"], 137_934 * 2);
        let file = app.get(&format!("/api/v1/settlements/batches/{}/file", batch["id"].as_str().unwrap())).token(&w.admin).send().await;
        file.assert_status(200);
        let file = file.text();
        assert!(file.contains("户名,开户行,账号,金额,摘要") && file.contains("6228480812345670123") && file.contains(",1379.34,"), "{file}");
        app.get(&format!("/api/v1/settlements/batches/{}/file", batch["id"].as_str().unwrap())).token(&w.tea_producer).send().await.assert_problem(403, "forbidden");

        let paid = |id: String| {
            let app = &app;
            let admin = w.admin.clone();
            async move {
                app.post(&format!("/api/v1/settlements/{id}/paid")).token(&admin)
                    .json(json!({"reference": "ABC-2026-1125-0001", "paid_at": "2026-11-29T02:00:00Z"})).send().await
            }
        };
        let done = paid(s1_id.clone()).await;
        done.assert_status(200);
        assert_eq!(done.json()["status"], "paid");
        assert_eq!(done.json()["payouts"][0]["reference"], "ABC-2026-1125-0001");
        paid(s1_id.clone()).await.assert_problem(409, "invalid_state");
        // The other transfer came back from the bank: the settlement is scheduled again, then paid.
        let failed = app.post(&format!("/api/v1/settlements/{s3_id}/failed")).token(&w.admin).json(json!({"reason": "户名不符"})).send().await;
        failed.assert_status(200);
        assert_eq!(failed.json()["status"], "scheduled");
        paid(s3_id.clone()).await.assert_status(200);

        // The mushrooms' settlement is cancelled: its payables go to the next run.
        let fungi_settlement = settlements(&app, &w.fungi_producer, "").await[0]["id"].as_str().unwrap().to_owned();
        let cancelled = app.post(&format!("/api/v1/settlements/{fungi_settlement}/cancel")).token(&w.admin).json(json!({"reason": "核对金额"})).send().await;
        cancelled.assert_status(200);
        assert_eq!(cancelled.json()["lines"], json!([]));
        paid(fungi_settlement.clone()).await.assert_problem(409, "invalid_state");
        settle_run(&app, &w).await;
        let again = settlements(&app, &w.fungi_producer, "status=scheduled").await;
        assert_eq!((again.len(), again[0]["amount_fen"].as_i64()), (1, Some(124_000)));

        let b = balance(&app, &w.tea_producer, &w.tea_org).await;
        assert_eq!((b["paid_fen"].as_i64(), b["due_fen"].as_i64(), b["scheduled_fen"].as_i64(), b["deducted_fen"].as_i64(), b["fees_fen"].as_i64()),
            (Some(137_934 * 2), Some(0), Some(0), Some(15_800), Some(4_266 * 2)), "{b}");
        let paid_mail = mails_with(&app, "settlement_paid").await;
        assert_eq!(paid_mail.len(), 2, "one per paid settlement to the tea producer's administrator");
        assert!(paid_mail.iter().all(|m| m["subject"].as_str().unwrap().contains("1,379.34")), "{paid_mail:?}");

        let t = app.get("/api/v1/reports/time-to-money?year=2026&by=producer").token(&w.qxn).send().await;
        t.assert_status(200);
        let rows = t.json()["rows"].as_array().unwrap().clone();
        let tea_row = rows.iter().find(|r| r["key"] == w.tea_org.as_str()).unwrap();
        assert_eq!((tea_row["payables"].as_i64(), tea_row["paid"].as_i64()), (Some(2), Some(2)), "{rows:?}");
        assert!(tea_row["median_days"].as_f64().unwrap() > 1.0, "{tea_row}");
        app.get("/api/v1/reports/time-to-money?year=2026").token(&w.school).send().await.assert_problem(403, "forbidden");

        let v = verify_clean(&app).await;
        assert_eq!((v.payables, v.producers), (4, 2), "{v:?}");
    }

    async fn bad_settlement_input_changes_nothing(app: TestApp) {
        let w = world(&app).await;
        for (body, field) in [(json!({"rate_bp": -1}), "rate_bp"), (json!({"rate_bp": 10_001}), "rate_bp")] {
            let p = app.put_json("/api/v1/service-fees/tea", &w.admin, body).await.assert_problem(422, "validation_failed");
            assert_eq!(p["errors"][0]["field"], field);
        }
        app.put_json("/api/v1/service-fees/nonsense", &w.admin, json!({"rate_bp": 100})).await.assert_problem(422, "validation_failed");
        app.put_json("/api/v1/service-fees/tea", &w.tea_producer, json!({"rate_bp": 0})).await.assert_problem(403, "forbidden");
        let fees = app.get("/api/v1/service-fees").token(&w.school).send().await.json();
        assert!(fees["items"].as_array().unwrap().iter().all(|f| f["rate_bp"] == 0), "{fees}");

        let future = (app.clock.now() + Duration::days(1)).to_rfc3339();
        app.post("/api/v1/settlements/runs").token(&w.admin).json(json!({"cutoff": future})).send().await.assert_problem(422, "validation_failed");
        app.post("/api/v1/settlements/runs").token(&w.tea_producer).json(json!({})).send().await.assert_problem(403, "forbidden");
        assert_eq!(count_rows(&app, "settlement_runs").await, 0);

        let org = format!("/api/v1/organizations/{}/bank-account", w.tea_org);
        let p = app.put_json(&org, &w.tea_producer, json!({"account_name": " ", "bank_name": "农行", "account_no": "62x8", "stripe_account_id": "cus_1"})).await.assert_problem(422, "validation_failed");
        let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["account_name", "account_no", "stripe_account_id"], "{p}");
        app.put_json(&org, &w.school, bank_body()).await.assert_problem(403, "forbidden");
        app.put_json(&format!("/api/v1/organizations/{}/bank-account", w.school_id), &w.admin, bank_body()).await.assert_problem(404, "not_found");
        app.get(&org).token(&w.tea_producer).send().await.assert_problem(404, "not_found");
        assert_eq!(count_rows(&app, "bank_accounts").await, 0);

        let unknown = "stl_00000000000000000000000000";
        app.post(&format!("/api/v1/settlements/{unknown}/paid")).token(&w.admin).json(json!({"reference": "X", "paid_at": "2026-11-23T00:00:00Z"})).send().await.assert_problem(404, "not_found");
        app.post("/api/v1/settlements/batches").token(&w.admin).json(json!({"settlement_ids": [unknown]})).send().await.assert_problem(404, "not_found");
        app.post("/api/v1/settlements/batches").token(&w.admin).json(json!({"settlement_ids": []})).send().await.assert_problem(422, "validation_failed");
        app.get(&format!("/api/v1/organizations/{}/balance", w.tea_org)).token(&w.school).send().await.assert_problem(404, "not_found");
        app.get("/api/v1/settlements?status=lost").token(&w.admin).send().await.assert_problem(422, "validation_failed");
        assert_eq!(count_rows(&app, "payouts").await, 0);
    }

    async fn bank_details_are_masked_audited_and_mailed(app: TestApp) {
        let w = world(&app).await;
        let url = format!("/api/v1/organizations/{}/bank-account", w.tea_org);
        let set = app.put_json(&url, &w.tea_producer, bank_body()).await;
        set.assert_status(200);
        assert_eq!((set.json()["account_no"].as_str(), set.json()["masked"].as_bool()), (Some("•••• 0123"), Some(true)));
        let full = app.get(&url).token(&w.admin).send().await.json();
        assert_eq!((full["account_no"].as_str(), full["masked"].as_bool()), (Some("6228480812345670123"), Some(false)));
        assert_eq!(app.get(&url).token(&w.qxn).send().await.json()["account_no"], "•••• 0123", "the origin's coordinator, masked");
        for outsider in [&w.coordinator, &w.school, &w.fungi_producer] {
            app.get(&url).token(outsider).send().await.assert_problem(404, "not_found");
        }
        let changed = app.put_json(&url, &w.admin, json!({"account_name": "普安县茶源茶叶专业合作社", "bank_name": "贵州普安农村商业银行", "account_no": "9876543210987"})).await;
        changed.assert_status(200);
        let events = app.get(&format!("{url}/events")).token(&w.tea_producer).send().await.json();
        let items = events["items"].as_array().unwrap();
        assert_eq!(items.iter().map(|e| e["action"].as_str().unwrap()).collect::<Vec<_>>(), ["set", "changed"]);
        assert_eq!(items[1]["details"]["before"]["account_no"], "•••• 0123");
        assert!(!events.to_string().contains("6228480812345670123"), "the history holds no whole number");
        let mails = mails_with(&app, "bank_account_changed").await;
        assert_eq!(mails.len(), 2, "each change to the producer's administrator");
        assert!(mails[1]["text"].as_str().unwrap().contains("•••• 0987") && !mails[1]["text"].as_str().unwrap().contains("9876543210987"), "{}", mails[1]["text"]);
    }
}

/// A producer with a Stripe connected account is paid by a transfer as soon as it is settled.
/// The Stripe-compatible server here has no transfers: the payout fails with that reason, the
/// settlement is scheduled again and the bank pays it. A transfer Stripe reverses (a signed
/// `transfer.reversed`) reopens a paid settlement.
async fn stripe_payouts(postgres: bool) {
    let Some(t) = crate::payments::card_app(postgres).await else { return };
    let (app, w) = (&t.app, &t.w);
    let mut bank = bank_body();
    bank["stripe_account_id"] = json!("acct_1PuAnTea");
    app.put_json(&format!("/api/v1/organizations/{}/bank-account", w.tea_org), &w.tea_producer, bank)
        .await
        .assert_status(200);
    let (_, tea, _) = bought(app, w, 10, 0).await;
    accept(app, &w.school, &tea).await;
    let cutoff = app.clock.now().to_rfc3339();
    app.post("/api/v1/settlements/runs")
        .token(&w.admin)
        .json(json!({"cutoff": cutoff}))
        .send()
        .await
        .assert_status(202);
    dongxi::worker::run_due(&app.state, |t| t == "settlement.run").await;
    let s = settlements(app, &w.tea_producer, "").await[0].clone();
    let id = s["id"].as_str().unwrap().to_owned();
    assert_eq!(s["status"], "paying", "the transfer is queued with the settlement: {s}");
    assert!(crate::helpers::run_stripe_jobs(&app.state).await >= 1);
    let detail = app.get(&format!("/api/v1/settlements/{id}")).token(&w.admin).send().await.json();
    assert_eq!(detail["status"], "scheduled", "{detail}");
    let payout = &detail["payouts"][0];
    assert_eq!((payout["method"].as_str(), payout["status"].as_str()), (Some("stripe"), Some("failed")));
    assert!(payout["failure_reason"].as_str().unwrap().contains("no transfers"), "{payout}");
    let paid = app
        .post(&format!("/api/v1/settlements/{id}/paid"))
        .token(&w.admin)
        .json(json!({"reference": "ABC-2", "paid_at": app.clock.now().to_rfc3339()}))
        .send()
        .await;
    paid.assert_status(200);
    assert_eq!(paid.json()["payouts"].as_array().unwrap().len(), 2, "the failed transfer and the bank's payout");

    // Had a transfer gone through and come back: the record of one (the local server cannot make
    // one), then Stripe's signed reversal of it.
    let (_, tea2, _) = bought(app, w, 10, 0).await;
    accept(app, &w.school, &tea2).await;
    let cutoff = app.clock.now().to_rfc3339();
    app.post("/api/v1/settlements/runs")
        .token(&w.admin)
        .json(json!({"cutoff": cutoff}))
        .send()
        .await
        .assert_status(202);
    dongxi::worker::run_due(&app.state, |t| t == "settlement.run").await;
    let second = settlements(app, &w.admin, "status=paying").await[0]["id"].as_str().unwrap().to_owned();
    let (s2, now) = (second.clone(), app.clock.now_naive());
    app.db(move |c| {
        use diesel::prelude::*;
        use dongxi::db::schema::{payouts, settlements};
        diesel::update(payouts::table.filter(payouts::settlement_id.eq(&s2)))
            .set((payouts::status.eq("paid"), payouts::external_id.eq("tr_1PuAnTea"), payouts::completed_at.eq(now)))
            .execute(c)
            .unwrap();
        diesel::update(settlements::table.find(&s2)).set(settlements::status.eq("paid")).execute(c).unwrap();
    })
    .await;
    let event = json!({"id": "evt_transfer_reversed_1", "type": "transfer.reversed", "created": chrono::Utc::now().timestamp(),
        "data": {"object": {"id": "tr_1PuAnTea", "object": "transfer", "amount": 153_260, "reversed": true}}});
    t.deliver_signed(&event).await.assert_status(200);
    let reopened = app.get(&format!("/api/v1/settlements/{second}")).token(&w.admin).send().await.json();
    assert_eq!(reopened["status"], "scheduled", "{reopened}");
    assert!(reopened["payouts"][0]["failure_reason"].as_str().unwrap().contains("reversed"));
    t.deliver_signed(&event).await.assert_status(200);
    verify_clean(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_payouts_sqlite() {
    stripe_payouts(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_payouts_postgres() {
    stripe_payouts(true).await;
}

/// `producers` producers, each owed `each` accepted sub-orders (written straight into the
/// tables, then owed through `settlement::payables::owe`, as an acceptance does).
async fn many_owed(app: &TestApp, producers: usize, each: usize) {
    let now = app.clock.now_naive();
    let at = now - Duration::days(3);
    app.db(move |c| {
        use diesel::prelude::*;
        use dongxi::db::schema::{orders, sub_orders};
        use dongxi::identity::service::{NewUser, create_org_unchecked, create_user_unchecked};
        use dongxi::identity::types::{Email, OrgKind, Password, Role};
        use dongxi::orders::model::{OrderRow, SubOrderRow};
        dongxi::regions::model::set_assisted_mark(c, "522300", true).unwrap();
        let buyer = create_org_unchecked(c, "惠州市第三中学", OrgKind::Agency, "441302", None, now).unwrap();
        let user = NewUser {
            email: Email::parse("third@test.dongxi.cn").unwrap(),
            name: "采购员".into(),
            password: Password::parse("correct-horse-battery").unwrap(),
            role: Role::Admin,
        };
        let user = create_user_unchecked(c, &buyer.id, &user, now).unwrap();
        let ctx = dongxi::ctx::Ctx::new(
            now,
            chrono_tz::Asia::Shanghai,
            dongxi::config::CountOn::Paid,
            dongxi::config::SettleOn::Accepted,
        );
        for p in 0..producers {
            let producer =
                create_org_unchecked(c, &format!("普安县第{p}合作社"), OrgKind::Producer, "522323", None, now).unwrap();
            for k in 0..each {
                let total = 10_000 + (p * 37 + k * 11) as i64;
                let order = OrderRow {
                    id: dongxi::ids::new_id("ord"),
                    buyer_org_id: buyer.id.clone(),
                    buyer_org_path: buyer.path.clone(),
                    buyer_region_code: "441302".into(),
                    buyer_user_id: user.id.clone(),
                    group_buy_id: None,
                    status: "completed".into(),
                    total_fen: total,
                    paid_fen: total,
                    refunded_fen: 0,
                    delivery_address: "惠州".into(),
                    delivery_contact: "王".into(),
                    delivery_phone: "0752".into(),
                    note: None,
                    created_at: at,
                    updated_at: at,
                    paid_at: Some(at),
                    closed_at: Some(at),
                    pledge_id: None,
                    channel: "catalogue".into(),
                    live_session_id: None,
                };
                let sub = SubOrderRow {
                    id: dongxi::ids::new_id("sub"),
                    order_id: order.id.clone(),
                    producer_id: producer.id.clone(),
                    producer_path: producer.path.clone(),
                    status: "accepted".into(),
                    total_fen: total,
                    refunded_fen: 0,
                    carrier: None,
                    tracking_no: None,
                    invoice_no: None,
                    acceptance_note: None,
                    shipped_at: Some(at),
                    accepted_at: Some(at),
                    created_at: at,
                    updated_at: at,
                };
                diesel::insert_into(orders::table).values(&order).execute(c).unwrap();
                diesel::insert_into(sub_orders::table).values(&sub).execute(c).unwrap();
                let owed = dongxi::settlement::payables::Owed {
                    order_id: &order.id,
                    sub_order_id: &sub.id,
                    producer_id: &producer.id,
                    amount: dongxi::money::Fen(total),
                    due_at: at,
                };
                dongxi::settlement::payables::owe(c, &owed, &ctx).unwrap();
            }
        }
    })
    .await;
}

async fn settled_once(app: &TestApp, producers: i64, payables: i64) {
    let n = |sql: &str| crate::helpers::scalar(app, sql.to_owned());
    assert_eq!(n("SELECT COUNT(*) AS n FROM payables WHERE settlement_id IS NULL").await, 0, "every payable settled");
    assert_eq!(n("SELECT COUNT(*) AS n FROM payables").await, payables);
    assert_eq!(n("SELECT COUNT(*) AS n FROM settlements").await, producers, "one settlement per producer");
    assert_eq!(
        n("SELECT CAST(SUM(line_count) AS BIGINT) AS n FROM settlements").await,
        payables,
        "each payable in one settlement's lines"
    );
    verify_clean(app).await;
}

/// Two workers perform the same run at once (PostgreSQL, two threads, two connections): each
/// payable joins exactly one settlement, and every producer has one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_settle_each_payable_once() {
    let Some(app) = TestApp::postgres().await else { return };
    many_owed(&app, 60, 5).await;
    let now = app.clock.now_naive();
    let run = app.db(move |c| dongxi::settlement::runs::queue(c, "manual", now, None, now).unwrap().id).await;
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let (db, run) = (app.state.db.clone(), run.clone());
            tokio::task::spawn_blocking(move || {
                let mut conn = db.get().unwrap();
                dongxi::settlement::runs::perform(&mut conn, &run, false, now).unwrap()
            })
        })
        .collect();
    let mut made = 0;
    for racer in racers {
        made += racer.await.unwrap().settlements;
    }
    assert_eq!(made, 60, "the two workers made 60 settlements between them, none twice");
    settled_once(&app, 60, 300).await;
}

/// A worker process killed (SIGKILL) in the middle of a run: the outbox row comes back to a
/// second worker once its lease runs out, which settles the rest; nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_loses_and_doubles_nothing() {
    use crate::scale_out::{Process, eventually};
    let Some(admin_url) =
        crate::helpers::service_env("DONGXI_TEST_DATABASE_URL", "the settlement crash test (PostgreSQL)")
    else {
        return;
    };
    let app = TestApp::postgres_at(&admin_url, &[]).await;
    app.clock.set(chrono::Utc::now());
    many_owed(&app, 400, 2).await;
    let now = app.clock.now_naive();
    app.db(move |c| dongxi::settlement::runs::queue(c, "manual", now, None, now).unwrap()).await;
    let url = app.state.config.database_url.clone();
    let data = tempfile::tempdir().unwrap();
    let lease = [("DONGXI_OUTBOX_LEASE_SECS", "2"), ("RUST_LOG", "info")];
    let first = Process::start_with("worker-first", &["worker"], &url, data.path(), "127.0.0.1:0", &lease);
    let settled = || crate::helpers::scalar(&app, "SELECT COUNT(*) AS n FROM settlements".to_owned());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while settled().await < 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    std::process::Command::new("kill").args(["-9", &first.child.id().to_string()]).status().unwrap();
    let before = settled().await;
    assert!((1..400).contains(&before), "the kill came mid-run ({before} of 400 settled)");
    let second = Process::start_with("worker-second", &["worker"], &url, data.path(), "127.0.0.1:0", &lease);
    // The manual run: past DONGXI_SETTLE_AT the workers' timetable queues the daily run beside it.
    eventually("the second worker finishing the run", &[&first, &second], || async {
        crate::helpers::scalar(
            &app,
            "SELECT COUNT(*) AS n FROM settlement_runs WHERE kind = 'manual' AND finished_at IS NOT NULL".to_owned(),
        )
        .await
            == 1
    })
    .await;
    eprintln!("settlement crash: killed after {before} of 400 settlements; the second worker made the rest");
    settled_once(&app, 400, 800).await;
}
