use dongxi::identity::types::{OrgKind, Role};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{TestApp, count_rows, send_owned};

/// A canteen in 惠州 (under the city's education bureau) buys from two cooperatives in 黔西南州.
pub struct World {
    pub admin: String,
    pub platform_member: String,
    pub bureau: String,
    pub school: String,
    pub school_member: String,
    pub school_id: String,
    pub stranger: String,
    pub coordinator: String,
    pub qxn: String,
    pub tea_producer: String,
    pub tea_org: String,
    pub fungi_producer: String,
    pub fungi_org: String,
    /// 普安红茶: ¥168, 10+ ¥158, 50+ ¥148; stock 800.
    pub tea: String,
    /// 册亨干香菇: ¥68, 20+ ¥62, 100+ ¥58; stock 1200; at least 2 a time.
    pub fungi: String,
}

async fn product(app: &TestApp, producer: &str, qxn: &str, body: Value) -> String {
    let r = app.post("/api/v1/products").token(producer).json(body).send().await;
    r.assert_status(201);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let req = app
        .post(&format!("/api/v1/products/{id}/certification-requests"))
        .token(producer)
        .json(json!({"benefit_mechanism": "吸纳脱贫户务工，保底收购"}))
        .send()
        .await
        .json();
    app.post(&format!("/api/v1/certification-requests/{}/approve", req["id"].as_str().unwrap()))
        .token(qxn)
        .json(json!({"valid_until": "2027-12-31"}))
        .send()
        .await
        .assert_status(200);
    app.post(&format!("/api/v1/products/{id}/publish")).token(producer).send().await.assert_status(200);
    id
}

pub async fn world(app: &TestApp) -> World {
    app.db(|c| dongxi::regions::model::set_assisted_mark(c, "522300", true).unwrap()).await;
    let admin = app.platform_admin().await;
    let platform_org = app.org("东西平台 客服", OrgKind::Platform, "110000", None).await;
    let platform_member = {
        let email = app.user(&platform_org, "support@test.dongxi.cn", Role::Member).await;
        app.login(&email).await
    };
    let bureau_org = app.org("惠州市教育局", OrgKind::Agency, "441300", None).await;
    let bureau = {
        let email = app.user(&bureau_org, "bureau@test.dongxi.cn", Role::Admin).await;
        app.login(&email).await
    };
    let school_org = app.org("惠州市第一中学", OrgKind::Agency, "441302", Some(&bureau_org)).await;
    let school = app.login(&app.user(&school_org, "school@test.dongxi.cn", Role::Admin).await).await;
    let school_member = app.login(&app.user(&school_org, "canteen@test.dongxi.cn", Role::Member).await).await;
    let (_, stranger) = app.signed_in("宁波市机关事务管理局", OrgKind::Agency, "330200", Role::Admin).await;
    let (_, coordinator) = app.signed_in("惠州市协作办", OrgKind::Coordinator, "441300", Role::Admin).await;
    let (_, qxn) = app.signed_in("黔西南州乡村振兴局", OrgKind::Coordinator, "522300", Role::Admin).await;
    let (tea_org, tea_producer) =
        app.signed_in("普安县茶源茶叶专业合作社", OrgKind::Producer, "522323", Role::Admin).await;
    let (fungi_org, fungi_producer) =
        app.signed_in("册亨县食用菌合作社", OrgKind::Producer, "522327", Role::Admin).await;
    let tea = product(app, &tea_producer, &qxn, json!({
        "name": "普安红茶 明前特级", "category": "tea", "origin_region_code": "522323", "unit": "罐", "spec": "250g/罐",
        "net_weight_g": 250, "price_fen": 16800, "tiers": [{"min_qty": 10, "price_fen": 15800}, {"min_qty": 50, "price_fen": 14800}],
        "stock": 800
    }))
    .await;
    let fungi = product(app, &fungi_producer, &qxn, json!({
        "name": "册亨干香菇", "category": "edible_fungi", "origin_region_code": "522327", "unit": "袋", "spec": "500g/袋",
        "net_weight_g": 500, "price_fen": 6800, "tiers": [{"min_qty": 20, "price_fen": 6200}, {"min_qty": 100, "price_fen": 5800}],
        "stock": 1200, "min_order_qty": 2
    }))
    .await;
    World {
        admin,
        platform_member,
        bureau,
        school,
        school_member,
        school_id: school_org.id,
        stranger,
        coordinator,
        qxn,
        tea_producer,
        tea_org: tea_org.id,
        fungi_producer,
        fungi_org: fungi_org.id,
        tea,
        fungi,
    }
}

pub fn delivery() -> Value {
    json!({"address": "广东省惠州市惠城区麦地路 1 号 食堂", "contact_name": "王老师", "phone": "0752-2222222"})
}

pub fn order_body(lines: &[(&str, i64)]) -> Value {
    json!({
        "lines": lines.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect::<Vec<_>>(),
        "delivery": delivery(),
        "note": "请工作日送货"
    })
}

pub async fn place(app: &TestApp, token: &str, lines: &[(&str, i64)]) -> Value {
    let r = app.post("/api/v1/orders").token(token).json(order_body(lines)).send().await;
    r.assert_status(201);
    r.json()
}

pub async fn stock(app: &TestApp, id: &str) -> i64 {
    app.get(&format!("/api/v1/products/{id}")).send().await.json()["stock"].as_i64().unwrap()
}

pub async fn pay(app: &TestApp, admin: &str, order: &Value) -> Value {
    let r = app
        .post(&format!("/api/v1/orders/{}/payments/offline", order["id"].as_str().unwrap()))
        .token(admin)
        .json(json!({"amount_fen": order["total_fen"], "reference": "ICBC-20261123-0001", "paid_at": "2026-11-23T08:00:00Z"}))
        .send()
        .await;
    r.assert_status(201);
    r.json()
}

fn sub_of<'a>(order: &'a Value, producer: &str) -> &'a Value {
    order["sub_orders"].as_array().unwrap().iter().find(|s| s["producer_id"] == producer).unwrap()
}

async fn ship(app: &TestApp, token: &str, sub_id: &str) -> Value {
    let r = app
        .post(&format!("/api/v1/sub-orders/{sub_id}/ship"))
        .token(token)
        .json(json!({"carrier": "顺丰速运", "tracking_no": "SF1234567890", "invoice_no": "44031234"}))
        .send()
        .await;
    r.assert_status(200);
    r.json()
}

backend_tests! {
    async fn a_bulk_order_is_split_per_producer_and_priced_by_tiers(app: TestApp) {
        let w = world(&app).await;
        let order = place(&app, &w.school_member, &[(&w.tea, 120), (&w.fungi, 10)]).await;
        assert_eq!(order["status"], "pending_payment");
        assert_eq!(order["buyer_org_id"], w.school_id);
        assert!(order["group_buy_id"].is_null());
        let lines = order["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["product_name"], "普安红茶 明前特级");
        assert_eq!(lines[0]["spec"], "250g/罐");
        assert_eq!(lines[0]["unit_price_fen"], 14800, "120 tins reach the 50+ tier");
        assert_eq!(lines[0]["subtotal_fen"], 1_776_000);
        assert!(lines[0]["certificate_no"].as_str().unwrap().starts_with("DX-522323-"));
        assert_eq!(lines[1]["unit_price_fen"], 6800, "10 bags reach no tier");
        assert_eq!(lines[1]["subtotal_fen"], 68_000);
        assert_eq!(order["total_fen"], 1_844_000);
        assert_eq!(order["paid_fen"], 0);
        let subs = order["sub_orders"].as_array().unwrap();
        assert_eq!(subs.len(), 2);
        let tea_sub = sub_of(&order, &w.tea_org);
        assert_eq!(tea_sub["total_fen"], 1_776_000);
        assert_eq!(tea_sub["status"], "pending_payment");
        assert_eq!(tea_sub["line_ids"], json!([lines[0]["id"]]));
        assert_eq!(sub_of(&order, &w.fungi_org)["total_fen"], 68_000);
        assert_eq!(order["delivery"], delivery());
        assert_eq!(stock(&app, &w.tea).await, 680);
        assert_eq!(stock(&app, &w.fungi).await, 1190);

        // Who sees it: the buyer, its supervising bureau, the platform; each producer its own part.
        let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
        for token in [&w.school, &w.school_member, &w.bureau, &w.admin, &w.platform_member] {
            let seen = app.get(&path).token(token).send().await;
            seen.assert_status(200);
            assert_eq!(seen.json()["total_fen"], 1_844_000);
            assert_eq!(seen.json()["lines"].as_array().unwrap().len(), 2);
        }
        let tea_view = app.get(&path).token(&w.tea_producer).send().await.json();
        assert_eq!(tea_view["lines"].as_array().unwrap().len(), 1);
        assert_eq!(tea_view["sub_orders"].as_array().unwrap().len(), 1);
        assert_eq!(tea_view["total_fen"], 1_776_000, "a producer's totals cover its own part only");
        for token in [&w.stranger, &w.coordinator, &w.qxn] {
            app.get(&path).token(token).send().await.assert_problem(404, "not_found");
        }
        app.get(&path).send().await.assert_problem(401, "unauthenticated");
        assert_eq!(app.get("/api/v1/orders").token(&w.stranger).send().await.json()["items"], json!([]));
        assert_eq!(app.get("/api/v1/orders").token(&w.bureau).send().await.json()["items"][0]["id"], order["id"]);

        let events = app.get(&format!("{path}/events")).token(&w.school).send().await.json();
        assert_eq!(events["items"][0]["action"], "placed");
        assert_eq!(events["items"][0]["actor_name"], "测试用户");
        assert_eq!(events["items"][0]["to_status"], "pending_payment");
    }

    async fn several_lines_of_one_product_are_priced_together(app: TestApp) {
        let w = world(&app).await;
        let order = place(&app, &w.school, &[(&w.tea, 6), (&w.tea, 6)]).await;
        assert_eq!(order["lines"][0]["unit_price_fen"], 15800, "6 + 6 = 12 reaches the 10+ tier");
        assert_eq!(order["lines"][1]["unit_price_fen"], 15800);
        assert_eq!(order["total_fen"], 12 * 15800);
        assert_eq!(order["sub_orders"].as_array().unwrap().len(), 1);
        assert_eq!(stock(&app, &w.tea).await, 788);
    }

    async fn bad_orders_are_refused_and_change_nothing(app: TestApp) {
        let w = world(&app).await;
        let post = |token: &str, body: Value| app.post("/api/v1/orders").token(token).json(body).send();
        post(&w.tea_producer, order_body(&[(&w.tea, 1)])).await.assert_problem(403, "forbidden");
        post(&w.coordinator, order_body(&[(&w.tea, 1)])).await.assert_problem(403, "forbidden");
        post(&w.admin, order_body(&[(&w.tea, 1)])).await.assert_problem(403, "forbidden");
        app.post("/api/v1/orders").json(order_body(&[(&w.tea, 1)])).send().await.assert_problem(401, "unauthenticated");

        let p = post(&w.school, order_body(&[(&w.tea, 1), (&w.fungi, 0)])).await.assert_problem(422, "invalid_quantity");
        assert_eq!(p["errors"][0]["field"], "lines[1].quantity");
        post(&w.school, order_body(&[(&w.tea, -5)])).await.assert_problem(422, "invalid_quantity");
        let p = post(&w.school, order_body(&[(&w.fungi, 1)])).await.assert_problem(422, "invalid_quantity");
        assert_eq!(p["min_order_qty"], 2);
        assert_eq!(p["product_id"], w.fungi);
        post(&w.school, order_body(&[(&w.tea, 1)])).await.assert_status(201);
        post(&w.school, json!({"lines": [], "delivery": delivery()})).await.assert_problem(422, "validation_failed");
        let mut bad_phone = order_body(&[(&w.tea, 1)]);
        bad_phone["delivery"]["phone"] = json!("call the canteen");
        let p = post(&w.school, bad_phone).await.assert_problem(422, "validation_failed");
        assert_eq!(p["errors"][0]["field"], "delivery.phone");
        post(&w.school, json!({"lines": [{"product_id": w.tea, "quantity": 1}]})).await.assert_problem(422, "validation_failed");
        post(&w.school, json!({"lines": [{"product_id": w.tea, "quantity": "many"}], "delivery": delivery()})).await.assert_problem(422, "validation_failed");

        let p = post(&w.school, order_body(&[(&w.tea, 1), ("prd_nosuchproduct", 1)])).await.assert_problem(409, "not_orderable");
        assert_eq!(p["product_id"], "prd_nosuchproduct");
        // Off sale: unlisted by its producer.
        app.post(&format!("/api/v1/products/{}/unpublish", w.fungi)).token(&w.fungi_producer).send().await.assert_status(200);
        post(&w.school, order_body(&[(&w.fungi, 2)])).await.assert_problem(409, "not_orderable");
        app.post(&format!("/api/v1/products/{}/publish", w.fungi)).token(&w.fungi_producer).send().await.assert_status(200);
        // Revoked certificate.
        app.post(&format!("/api/v1/products/{}/revoke-certification", w.fungi)).token(&w.qxn).json(json!({"reason": "抽检不合格"})).send().await.assert_status(200);
        post(&w.school, order_body(&[(&w.tea, 2), (&w.fungi, 2)])).await.assert_problem(409, "not_orderable");

        let p = post(&w.school, order_body(&[(&w.tea, 700), (&w.tea, 100)])).await.assert_problem(409, "insufficient_stock");
        assert_eq!(p["product_id"], w.tea);
        assert_eq!(p["available"], 799);
        assert_eq!(stock(&app, &w.tea).await, 799, "only the one good order took stock");
        assert_eq!(count_rows(&app, "orders").await, 1);
        assert_eq!(count_rows(&app, "order_lines").await, 1);
        post(&w.school, order_body(&[(&w.tea, 799)])).await.assert_status(201);
        assert_eq!(stock(&app, &w.tea).await, 0);
    }

    async fn idempotency_keys_replay_and_refuse_reuse(app: TestApp) {
        let w = world(&app).await;
        let body = order_body(&[(&w.tea, 12)]);
        let send = |token: &str, key: &str, body: Value| app.post("/api/v1/orders").token(token).header("idempotency-key", key).json(body).send();
        let first = send(&w.school, "canteen-2026-11-23-a", body.clone()).await;
        first.assert_status(201);
        let again = send(&w.school_member, "canteen-2026-11-23-a", body.clone()).await;
        again.assert_status(201);
        assert_eq!(again.json(), first.json(), "the same key and body replay the first response");
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert!(first.headers.get("idempotent-replayed").is_none());
        assert_eq!(stock(&app, &w.tea).await, 788, "no second effect");
        send(&w.school, "canteen-2026-11-23-a", order_body(&[(&w.tea, 13)])).await.assert_problem(422, "idempotency_key_reused");
        // Keys belong to an organisation: another organisation's identical key is its own.
        let other = send(&w.stranger, "canteen-2026-11-23-a", body.clone()).await;
        other.assert_status(201);
        assert_ne!(other.json()["id"], first.json()["id"]);
        // A failed request stores nothing: after the stock is there, the same key succeeds.
        let big = order_body(&[(&w.tea, 1000)]);
        send(&w.school, "big-one", big.clone()).await.assert_problem(409, "insufficient_stock");
        app.patch(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).json(json!({"stock": 2000})).send().await.assert_status(200);
        send(&w.school, "big-one", big).await.assert_status(201);
        app.post("/api/v1/orders").token(&w.school).header("idempotency-key", "").json(body.clone()).send().await.assert_problem(422, "validation_failed");
        // Without a key every request is new.
        place(&app, &w.school, &[(&w.tea, 12)]).await;
        place(&app, &w.school, &[(&w.tea, 12)]).await;
        assert_eq!(count_rows(&app, "orders").await, 5);
    }

    async fn the_full_lifecycle_pays_ships_accepts_rates_and_completes(app: TestApp) {
        let w = world(&app).await;
        let order = place(&app, &w.school, &[(&w.tea, 120), (&w.fungi, 10)]).await;
        let id = order["id"].as_str().unwrap();
        let pay_path = format!("/api/v1/orders/{id}/payments/offline");
        let payment = |amount: i64, paid_at: &str| json!({"amount_fen": amount, "reference": "ICBC-0001", "paid_at": paid_at});
        app.post(&pay_path).token(&w.school).json(payment(1_844_000, "2026-11-23T08:00:00Z")).send().await.assert_problem(403, "forbidden");
        app.post(&pay_path).token(&w.platform_member).json(payment(1_844_000, "2026-11-23T08:00:00Z")).send().await.assert_problem(403, "forbidden");
        let p = app.post(&pay_path).token(&w.admin).json(payment(1_800_000, "2026-11-23T08:00:00Z")).send().await.assert_problem(422, "amount_mismatch");
        assert_eq!(p["amount_due_fen"], 1_844_000);
        app.post(&pay_path).token(&w.admin).json(payment(1_844_000, "2026-11-24T08:00:00Z")).send().await.assert_problem(422, "validation_failed");
        app.post(&pay_path).token(&w.admin).json(payment(1_844_000, "2026-11-22T08:00:00Z")).send().await.assert_problem(422, "validation_failed");
        app.post("/api/v1/orders/ord_nosuch/payments/offline").token(&w.admin).json(payment(1, "2026-11-23T08:00:00Z")).send().await.assert_problem(404, "not_found");
        // A producer cannot ship before payment.
        let tea_sub = sub_of(&order, &w.tea_org)["id"].as_str().unwrap().to_owned();
        let fungi_sub = sub_of(&order, &w.fungi_org)["id"].as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/sub-orders/{tea_sub}/ship")).token(&w.tea_producer).json(json!({"carrier": "顺丰", "tracking_no": "SF1"})).send().await.assert_problem(409, "invalid_state");

        app.clock.advance(chrono::Duration::hours(1));
        let paid = app.post(&pay_path).token(&w.admin).json(payment(1_844_000, "2026-11-23T08:30:00Z")).send().await;
        paid.assert_status(201);
        let paid = paid.json();
        assert_eq!(paid["payment"]["method"], "offline");
        assert_eq!(paid["payment"]["status"], "succeeded");
        assert_eq!(paid["payment"]["paid_at"], "2026-11-23T08:30:00Z");
        assert_eq!(paid["order"]["status"], "paid");
        assert_eq!(paid["order"]["paid_fen"], 1_844_000);
        assert!(paid["order"]["sub_orders"].as_array().unwrap().iter().all(|s| s["status"] == "awaiting_shipment"));
        app.post(&pay_path).token(&w.admin).json(payment(1_844_000, "2026-11-23T08:30:00Z")).send().await.assert_problem(409, "invalid_state");
        assert_eq!(app.get(&format!("/api/v1/orders/{id}/payments")).token(&w.school).send().await.json()["items"].as_array().unwrap().len(), 1);

        // Shipping: the producer of that sub-order only.
        app.post(&format!("/api/v1/sub-orders/{tea_sub}/ship")).token(&w.fungi_producer).json(json!({"carrier": "顺丰", "tracking_no": "SF1"})).send().await.assert_problem(404, "not_found");
        app.post(&format!("/api/v1/sub-orders/{tea_sub}/ship")).token(&w.school).json(json!({"carrier": "顺丰", "tracking_no": "SF1"})).send().await.assert_problem(403, "forbidden");
        app.post(&format!("/api/v1/sub-orders/{tea_sub}/ship")).token(&w.tea_producer).json(json!({"carrier": "", "tracking_no": "SF 1"})).send().await.assert_problem(422, "validation_failed");
        let shipped = ship(&app, &w.tea_producer, &tea_sub).await;
        assert_eq!(shipped["status"], "shipped");
        assert_eq!(shipped["carrier"], "顺丰速运");
        assert_eq!(shipped["tracking_no"], "SF1234567890");
        assert_eq!(shipped["invoice_no"], "44031234");
        assert_eq!(shipped["delivery"]["contact_name"], "王老师");
        app.post(&format!("/api/v1/sub-orders/{tea_sub}/ship")).token(&w.tea_producer).json(json!({"carrier": "顺丰", "tracking_no": "SF2"})).send().await.assert_problem(409, "invalid_state");
        // Once something shipped, the order cannot be cancelled.
        app.post(&format!("/api/v1/orders/{id}/cancel")).token(&w.school).send().await.assert_problem(409, "invalid_state");

        // Acceptance and rating: the buyer only, in that order, once.
        let rate = |sub: &str, token: &str, stars: i64| app.post(&format!("/api/v1/sub-orders/{sub}/rating")).token(token).json(json!({"stars": stars, "comment": "汤色红亮"})).send();
        rate(&tea_sub, &w.school, 5).await.assert_problem(409, "invalid_state");
        app.post(&format!("/api/v1/sub-orders/{tea_sub}/accept")).token(&w.tea_producer).json(json!({})).send().await.assert_problem(403, "forbidden");
        app.post(&format!("/api/v1/sub-orders/{tea_sub}/accept")).token(&w.bureau).json(json!({})).send().await.assert_problem(403, "forbidden");
        let accepted = app.post(&format!("/api/v1/sub-orders/{tea_sub}/accept")).token(&w.school_member).json(json!({"note": "数量无误"})).send().await;
        accepted.assert_status(200);
        assert_eq!(accepted.json()["status"], "accepted");
        assert_eq!(accepted.json()["acceptance_note"], "数量无误");
        app.post(&format!("/api/v1/sub-orders/{tea_sub}/accept")).token(&w.school).json(json!({})).send().await.assert_problem(409, "invalid_state");
        rate(&tea_sub, &w.school, 6).await.assert_problem(422, "validation_failed");
        rate(&tea_sub, &w.tea_producer, 5).await.assert_problem(403, "forbidden");
        let rating = rate(&tea_sub, &w.school, 4).await;
        rating.assert_status(201);
        assert_eq!(rating.json()["stars"], 4);
        rate(&tea_sub, &w.school, 5).await.assert_problem(409, "already_rated");
        let tea = app.get(&format!("/api/v1/products/{}", w.tea)).send().await.json();
        assert_eq!(tea["rating"], json!({"avg": 4.0, "count": 1}));
        assert_eq!(app.get(&format!("/api/v1/orders/{id}")).token(&w.school).send().await.json()["status"], "paid");

        ship(&app, &w.fungi_producer, &fungi_sub).await;
        app.post(&format!("/api/v1/sub-orders/{fungi_sub}/accept")).token(&w.school).json(json!({})).send().await.assert_status(200);
        let done = app.get(&format!("/api/v1/orders/{id}")).token(&w.school).send().await.json();
        assert_eq!(done["status"], "completed", "every sub-order accepted");
        assert_eq!(done["sub_orders"][0]["rating"]["stars"], 4);

        let events = app.get(&format!("/api/v1/orders/{id}/events")).token(&w.bureau).send().await.json();
        let actions: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["placed", "paid", "paid", "paid", "shipped", "accepted", "rated", "shipped", "accepted", "completed"]);
        let producer_events = app.get(&format!("/api/v1/orders/{id}/events")).token(&w.tea_producer).send().await.json();
        assert!(producer_events["items"].as_array().unwrap().iter().all(|e| e["sub_order_id"].is_null() || e["sub_order_id"] == tea_sub.as_str()));
        let paged = app.get(&format!("/api/v1/orders/{id}/events?limit=4")).token(&w.school).send().await.json();
        assert_eq!(paged["items"].as_array().unwrap().len(), 4);
        let rest = app.get(&format!("/api/v1/orders/{id}/events?cursor={}", paged["next_cursor"].as_str().unwrap())).token(&w.school).send().await.json();
        assert_eq!(rest["items"].as_array().unwrap().len(), 6);
    }

    async fn cancelling_returns_stock_and_refunds_what_was_paid(app: TestApp) {
        let w = world(&app).await;
        // Unpaid: stock back, nothing to refund.
        let unpaid = place(&app, &w.school, &[(&w.tea, 100), (&w.fungi, 10)]).await;
        let path = format!("/api/v1/orders/{}/cancel", unpaid["id"].as_str().unwrap());
        app.post(&path).token(&w.stranger).send().await.assert_problem(404, "not_found");
        app.post(&path).token(&w.tea_producer).send().await.assert_problem(403, "forbidden");
        app.post(&path).token(&w.bureau).send().await.assert_problem(403, "forbidden");
        let cancelled = app.post(&path).token(&w.school_member).send().await;
        cancelled.assert_status(200);
        assert_eq!(cancelled.json()["status"], "cancelled");
        assert!(cancelled.json()["sub_orders"].as_array().unwrap().iter().all(|s| s["status"] == "cancelled"));
        assert_eq!((stock(&app, &w.tea).await, stock(&app, &w.fungi).await), (800, 1200));
        app.post(&path).token(&w.school).send().await.assert_problem(409, "invalid_state");
        let p = pay_problem(&app, &w.admin, &unpaid).await;
        assert_eq!(p["code"], "invalid_state");

        // Paid: every unshipped sub-order is refunded in full.
        let paid = place(&app, &w.school, &[(&w.tea, 10), (&w.fungi, 20)]).await;
        pay(&app, &w.admin, &paid).await;
        let cancelled = app.post(&format!("/api/v1/orders/{}/cancel", paid["id"].as_str().unwrap())).token(&w.school).send().await.json();
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["paid_fen"], 10 * 15800 + 20 * 6200);
        assert_eq!(cancelled["refunded_fen"], cancelled["paid_fen"]);
        for s in cancelled["sub_orders"].as_array().unwrap() {
            assert_eq!(s["status"], "cancelled");
            assert_eq!(s["refunded_fen"], s["total_fen"]);
            let refunds = app.get(&format!("/api/v1/sub-orders/{}/refunds", s["id"].as_str().unwrap())).token(&w.school).send().await.json();
            assert_eq!(refunds["items"][0]["amount_fen"], s["total_fen"]);
            assert_eq!(refunds["items"][0]["reason"], "订单取消");
        }
        assert_eq!((stock(&app, &w.tea).await, stock(&app, &w.fungi).await), (800, 1200));
    }

    async fn refunds_are_partial_or_whole_never_more_than_paid(app: TestApp) {
        let w = world(&app).await;
        let order = place(&app, &w.school, &[(&w.tea, 10), (&w.fungi, 20)]).await;
        let tea_sub = sub_of(&order, &w.tea_org)["id"].as_str().unwrap().to_owned();
        let fungi_sub = sub_of(&order, &w.fungi_org)["id"].as_str().unwrap().to_owned();
        let refund = |sub: &str, token: &str, amount: i64, key: Option<&str>| {
            let mut r = app.post(&format!("/api/v1/sub-orders/{sub}/refunds")).token(token).json(json!({"amount_fen": amount, "reason": "包装破损"}));
            if let Some(k) = key { r = r.header("idempotency-key", k); }
            r.send()
        };
        refund(&tea_sub, &w.tea_producer, 100, None).await.assert_problem(409, "invalid_state");
        pay(&app, &w.admin, &order).await;
        ship(&app, &w.tea_producer, &tea_sub).await;
        refund(&tea_sub, &w.school, 100, None).await.assert_problem(403, "forbidden");
        refund(&tea_sub, &w.fungi_producer, 100, None).await.assert_problem(404, "not_found");
        refund(&tea_sub, &w.tea_producer, 0, None).await.assert_problem(422, "validation_failed");
        let p = refund(&tea_sub, &w.tea_producer, 158_001, None).await.assert_problem(422, "refund_exceeds_paid");
        assert_eq!(p["refundable_fen"], 158_000);

        let first = refund(&tea_sub, &w.tea_producer, 15_800, Some("broken-tin-1")).await;
        first.assert_status(201);
        assert_eq!(first.json()["refund"]["amount_fen"], 15_800);
        assert_eq!(first.json()["sub_order"]["status"], "shipped", "a partial refund keeps the status");
        assert_eq!(first.json()["sub_order"]["refunded_fen"], 15_800);
        let replay = refund(&tea_sub, &w.tea_producer, 15_800, Some("broken-tin-1")).await;
        assert_eq!(replay.json(), first.json());
        refund(&tea_sub, &w.tea_producer, 100, Some("broken-tin-1")).await.assert_problem(422, "idempotency_key_reused");
        let p = refund(&tea_sub, &w.admin, 142_201, None).await.assert_problem(422, "refund_exceeds_paid");
        assert_eq!(p["refundable_fen"], 142_200);
        let whole = refund(&tea_sub, &w.admin, 142_200, None).await;
        whole.assert_status(201);
        assert_eq!(whole.json()["sub_order"]["status"], "refunded");
        refund(&tea_sub, &w.tea_producer, 1, None).await.assert_problem(422, "refund_exceeds_paid");
        assert_eq!(stock(&app, &w.tea).await, 790, "shipped goods do not return to stock");

        // An unshipped sub-order refunded in full ends, and its goods go back on sale; the order completes.
        refund(&fungi_sub, &w.fungi_producer, 124_000, None).await.assert_status(201);
        assert_eq!(stock(&app, &w.fungi).await, 1200);
        let done = app.get(&format!("/api/v1/orders/{}", order["id"].as_str().unwrap())).token(&w.school).send().await.json();
        assert_eq!(done["status"], "completed");
        assert_eq!(done["refunded_fen"], done["paid_fen"]);
        assert_eq!(count_rows(&app, "refunds").await, 3);
    }

    async fn lists_filter_by_status_and_date_and_page(app: TestApp) {
        let w = world(&app).await;
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(place(&app, &w.school, &[(&w.tea, 1)]).await["id"].as_str().unwrap().to_owned());
        }
        let paid = place(&app, &w.school, &[(&w.fungi, 2)]).await;
        pay(&app, &w.admin, &paid).await;
        let all = app.get("/api/v1/orders?limit=4").token(&w.school).send().await.json();
        assert_eq!(all["items"][0]["id"], paid["id"], "newest first");
        assert_eq!(all["items"].as_array().unwrap().len(), 4);
        let rest = app.get(&format!("/api/v1/orders?limit=4&cursor={}", all["next_cursor"].as_str().unwrap())).token(&w.school).send().await.json();
        assert_eq!(rest["items"].as_array().unwrap().len(), 2);
        assert!(rest["next_cursor"].is_null());
        assert_eq!(rest["items"][1]["id"], ids[0]);
        let only_paid = app.get("/api/v1/orders?status=paid").token(&w.bureau).send().await.json();
        assert_eq!(only_paid["items"].as_array().unwrap().len(), 1);
        app.get("/api/v1/orders?status=shipped").token(&w.school).send().await.assert_problem(422, "validation_failed");
        // 2026-11-23 08:00Z is 16:00 that day in Shanghai.
        assert_eq!(app.get("/api/v1/orders?created_from=2026-11-23&created_to=2026-11-23").token(&w.school).send().await.json()["items"].as_array().unwrap().len(), 6);
        assert_eq!(app.get("/api/v1/orders?created_from=2026-11-24").token(&w.school).send().await.json()["items"].as_array().unwrap().len(), 0);
        app.get("/api/v1/orders?created_from=2026-11-24&created_to=2026-11-23").token(&w.school).send().await.assert_problem(422, "validation_failed");

        let work = app.get("/api/v1/sub-orders?status=awaiting_shipment").token(&w.fungi_producer).send().await.json();
        assert_eq!(work["items"].as_array().unwrap().len(), 1);
        assert_eq!(work["items"][0]["order_id"], paid["id"]);
        assert_eq!(work["items"][0]["lines"][0]["product_id"], w.fungi);
        assert_eq!(work["items"][0]["delivery"]["phone"], "0752-2222222");
        assert_eq!(app.get("/api/v1/sub-orders").token(&w.tea_producer).send().await.json()["items"].as_array().unwrap().len(), 5);
        assert_eq!(app.get("/api/v1/sub-orders").token(&w.stranger).send().await.json()["items"], json!([]));
        let sub_id = work["items"][0]["id"].as_str().unwrap();
        app.get(&format!("/api/v1/sub-orders/{sub_id}")).token(&w.fungi_producer).send().await.assert_status(200);
        app.get(&format!("/api/v1/sub-orders/{sub_id}")).token(&w.tea_producer).send().await.assert_problem(404, "not_found");
    }
}

async fn pay_problem(app: &TestApp, admin: &str, order: &Value) -> Value {
    let r = app
        .post(&format!("/api/v1/orders/{}/payments/offline", order["id"].as_str().unwrap()))
        .token(admin)
        .json(json!({"amount_fen": order["total_fen"], "reference": "ICBC-1", "paid_at": "2026-11-23T08:00:00Z"}))
        .send()
        .await;
    assert!(r.status.is_client_error(), "{}", r.text());
    r.json()
}

/// `n` orders of `lines` fired at once from their own tasks; returns the statuses and problem codes.
async fn race(app: &TestApp, token: &str, lines: Vec<(String, i64)>, n: usize) -> Vec<(u16, String)> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let body = order_body(&lines.iter().map(|(p, q)| (p.as_str(), *q)).collect::<Vec<_>>());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (router, token, body, barrier) = (app.router.clone(), token.to_owned(), body.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let (status, body) =
                send_owned(router, axum::http::Method::POST, "/api/v1/orders".into(), token, None, body).await;
            (status.as_u16(), body["code"].as_str().unwrap_or("").to_owned())
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.expect("task"));
    }
    out
}

/// 50 buyers race for 20 tins, then for 20 tins two lines at a time: exactly what is there is
/// sold, stock ends at 0 and never goes below.
async fn stock_never_oversells(app: TestApp) {
    let w = world(&app).await;
    let set_stock = |n: i64| {
        app.patch(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).json(json!({"stock": n})).send()
    };
    set_stock(20).await.assert_status(200);
    let results = race(&app, &w.school, vec![(w.tea.clone(), 1)], 50).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let refused = results.iter().filter(|(s, c)| *s == 409 && c == "insufficient_stock").count();
    assert_eq!((created, refused), (20, 30), "{results:?}");
    assert_eq!(stock(&app, &w.tea).await, 0);
    assert_eq!(count_rows(&app, "orders").await, 20);

    set_stock(20).await.assert_status(200);
    let results = race(&app, &w.school, vec![(w.tea.clone(), 1), (w.tea.clone(), 1)], 50).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 10, "{results:?}");
    assert!(results.iter().all(|(s, c)| *s == 201 || (*s == 409 && c == "insufficient_stock")), "{results:?}");
    assert_eq!(stock(&app, &w.tea).await, 0);
    assert_eq!(count_rows(&app, "order_lines").await, 20 + 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_never_oversell_on_postgres() {
    let Some(url) = crate::helpers::service_env("DONGXI_TEST_DATABASE_URL", "the PostgreSQL stock race") else {
        return;
    };
    stock_never_oversells(TestApp::postgres_at(&url, &[("DONGXI_DB_POOL_SIZE", "24")]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_never_oversell_on_sqlite() {
    stock_never_oversells(TestApp::sqlite().await).await;
}

/// The server commits the order, then the response is lost (the connection drops, the process
/// dies before answering). The client sends the same request with the same key again and gets
/// the order that was made, not a second one.
async fn a_lost_response_is_replayed_not_repeated(app: TestApp) {
    use axum::response::IntoResponse;
    let w = world(&app).await;
    let lossy = tower::ServiceBuilder::new()
        .map_response(|_committed: axum::response::Response| axum::http::StatusCode::BAD_GATEWAY.into_response())
        .service(app.router.clone());
    let body = order_body(&[(&w.tea, 12), (&w.fungi, 20)]);
    let (status, _) =
        send_owned_service(lossy, "/api/v1/orders", &w.school, "canteen-lost-response", body.clone()).await;
    assert_eq!(status, 502, "the client never saw the first answer");
    assert_eq!(count_rows(&app, "orders").await, 1, "but the order was committed");

    let replay = app
        .post("/api/v1/orders")
        .token(&w.school)
        .header("idempotency-key", "canteen-lost-response")
        .json(body)
        .send()
        .await;
    replay.assert_status(201);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    let stored: String = app
        .db(|c| {
            use diesel::prelude::*;
            dongxi::db::schema::orders::table.select(dongxi::db::schema::orders::id).first(c).unwrap()
        })
        .await;
    assert_eq!(replay.json()["id"], stored.as_str());
    assert_eq!(replay.json()["total_fen"], 12 * 15800 + 20 * 6200);
    assert_eq!(count_rows(&app, "orders").await, 1);
    assert_eq!(stock(&app, &w.tea).await, 788, "stock was taken once");

    // Two copies racing with one key: one order, both answered with it.
    let body = order_body(&[(&w.tea, 3)]);
    let twins = (0..2).map(|_| {
        send_owned(
            app.router.clone(),
            axum::http::Method::POST,
            "/api/v1/orders".into(),
            w.school.clone(),
            Some("twin".into()),
            body.clone(),
        )
    });
    let answers: Vec<(axum::http::StatusCode, Value)> = futures_join(twins).await;
    assert!(answers.iter().all(|(s, _)| s.as_u16() == 201), "{answers:?}");
    assert_eq!(answers[0].1["id"], answers[1].1["id"]);
    assert_eq!(count_rows(&app, "orders").await, 2);
    assert_eq!(stock(&app, &w.tea).await, 785);
}

async fn futures_join<F: std::future::Future + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

async fn send_owned_service<S>(
    service: S,
    path: &str,
    token: &str,
    key: &str,
    body: Value,
) -> (axum::http::StatusCode, Value)
where
    S: tower::Service<
            axum::http::Request<axum::body::Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        >,
{
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(axum::body::Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

backend_tests! {
    async fn lost_responses_are_replayed(app: TestApp) {
        a_lost_response_is_replayed_not_repeated(app).await
    }
}

backend_tests! {
    async fn idempotency_keys_are_kept_three_days_then_swept(app: TestApp) {
        let w = world(&app).await;
        let buyer_org = app.org("惠州市第八中学", OrgKind::Agency, "441302", None).await;
        let email = app.user(&buyer_org, "school8@test.dongxi.cn", Role::Member).await;
        let app = &app;
        let send = |token: String| {
            let body = order_body(&[(&w.tea, 1)]);
            async move { app.post("/api/v1/orders").token(&token).header("idempotency-key", "weekly-tea").json(body).send().await }
        };
        let first = send(app.login(&email).await).await.json();
        app.clock.advance(chrono::Duration::hours(71));
        let now = app.clock.now_naive();
        let swept = app.db(move |c| dongxi::worker::housekeeping::sweep(c, now).unwrap()).await;
        assert_eq!(swept.idempotency_keys, 0);
        let replay = send(app.login(&email).await).await;
        assert_eq!(replay.json()["id"], first["id"], "still replayed after 71 h");
        app.clock.advance(chrono::Duration::hours(2));
        let now = app.clock.now_naive();
        let swept = app.db(move |c| dongxi::worker::housekeeping::sweep(c, now).unwrap()).await;
        assert_eq!(swept.idempotency_keys, 1);
        let fresh = send(app.login(&email).await).await;
        fresh.assert_status(201);
        assert_ne!(fresh.json()["id"], first["id"], "after 73 h the key is new again");
    }
}

async fn search_stock(app: &TestApp, product: &str, in_stock: bool) -> Option<i64> {
    let q = if in_stock { "&in_stock=true" } else { "" };
    let r = app.get(&format!("/api/v1/search/products?q=普安红茶{q}")).send().await.json();
    r["hits"].as_array().unwrap().iter().find(|h| h["id"] == product).map(|h| h["stock"].as_i64().unwrap())
}

backend_tests! {
    async fn search_follows_stock_sold_out_at_once_counts_in_batches(app: TestApp) {
        let w = world(&app).await;
        app.patch(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).json(json!({"stock": 30})).send().await.assert_status(200);
        app.index_now().await;
        assert_eq!(search_stock(&app, &w.tea, true).await, Some(30));
        let now = app.clock.now_naive();
        app.db(move |c| dongxi::search::indexer::sweep_stock_changes(c, now).unwrap()).await;

        // An ordinary order does not touch the index; the next stock sweep brings the new count.
        let order = place(&app, &w.school, &[(&w.tea, 10)]).await;
        app.index_now().await;
        assert_eq!(search_stock(&app, &w.tea, true).await, Some(30), "not re-indexed per order");
        app.clock.advance(chrono::Duration::seconds(31));
        let now = app.clock.now_naive();
        let queued = app.db(move |c| dongxi::search::indexer::sweep_stock_changes(c, now).unwrap()).await;
        assert_eq!(queued, 1);
        app.index_now().await;
        assert_eq!(search_stock(&app, &w.tea, true).await, Some(20));

        // Selling out leaves in-stock searches at once; a cancellation brings it back at once.
        let rest = place(&app, &w.school, &[(&w.tea, 20)]).await;
        app.index_now().await;
        assert_eq!(search_stock(&app, &w.tea, true).await, None);
        assert_eq!(search_stock(&app, &w.tea, false).await, Some(0));
        app.post(&format!("/api/v1/orders/{}/cancel", rest["id"].as_str().unwrap())).token(&w.school).send().await.assert_status(200);
        app.index_now().await;
        assert_eq!(search_stock(&app, &w.tea, true).await, Some(20));
        let _ = order;
    }

    async fn product_edits_never_undo_stock_taken_meanwhile(app: TestApp) {
        let w = world(&app).await;
        let tea = w.tea.clone();
        let now = app.clock.now_naive();
        // A reviewer's or producer's edit read the product, an order took stock, then the edit was saved.
        let stock = app.db(move |c| {
            let mut stale = dongxi::catalog::model::find(c, &tea).unwrap().unwrap();
            assert_eq!(dongxi::catalog::model::take_stock(c, &tea, 5, now).unwrap(), Some(795));
            stale.price_fen = 16900;
            dongxi::catalog::model::save(c, &stale).unwrap();
            dongxi::catalog::model::find(c, &tea).unwrap().unwrap()
        }).await;
        assert_eq!((stock.stock, stock.price_fen), (795, 16900));
        // A producer who states the stock sets it.
        let r = app.patch(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).json(json!({"stock": 1000, "price_fen": 17000})).send().await;
        assert_eq!((r.json()["stock"].as_i64(), r.json()["price_fen"].as_i64()), (Some(1000), Some(17000)));
        assert_eq!(stock_after_rating(&app, &w).await, 1000 - 10);
    }
}

/// Ratings update the product's rating counters without touching its stock (and vice versa).
async fn stock_after_rating(app: &TestApp, w: &World) -> i64 {
    let order = place(app, &w.school, &[(&w.tea, 10)]).await;
    pay(app, &w.admin, &order).await;
    let sub = order["sub_orders"][0]["id"].as_str().unwrap().to_owned();
    ship(app, &w.tea_producer, &sub).await;
    app.post(&format!("/api/v1/sub-orders/{sub}/accept"))
        .token(&w.school)
        .json(json!({}))
        .send()
        .await
        .assert_status(200);
    app.post(&format!("/api/v1/sub-orders/{sub}/rating"))
        .token(&w.school)
        .json(json!({"stars": 5}))
        .send()
        .await
        .assert_status(201);
    let p = app.get(&format!("/api/v1/products/{}", w.tea)).send().await.json();
    assert_eq!(p["rating"]["count"], 1);
    p["stock"].as_i64().unwrap()
}
