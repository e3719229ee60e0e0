use chrono::{Duration, TimeZone, Utc};
use dongxi::identity::types::{OrgKind, Role};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::TestApp;

/// Who is who in these tests: 黔西南州 (assisted) with its coordinator and a tea cooperative in 普安县,
/// and outsiders from 惠州.
struct World {
    admin: String,
    qxn: String,
    qxn_member: String,
    huizhou: String,
    producer: String,
    producer_id: String,
    other_producer: String,
    agency: String,
}

async fn world(app: &TestApp) -> World {
    app.db(|c| dongxi::regions::model::set_assisted_mark(c, "522300", true).unwrap()).await;
    let admin = app.platform_admin().await;
    let (_, qxn) = app.signed_in("黔西南州乡村振兴局", OrgKind::Coordinator, "522300", Role::Admin).await;
    let (_, qxn_member) = app.signed_in("黔西南州协作科", OrgKind::Coordinator, "522300", Role::Member).await;
    let (_, huizhou) = app.signed_in("惠州市协作办", OrgKind::Coordinator, "441300", Role::Admin).await;
    let (producer_org, producer) =
        app.signed_in("普安县茶源茶叶专业合作社", OrgKind::Producer, "522323", Role::Member).await;
    let (_, other_producer) = app.signed_in("册亨县食用菌合作社", OrgKind::Producer, "522327", Role::Admin).await;
    let (_, agency) = app.signed_in("惠州市第一中学", OrgKind::Agency, "441302", Role::Admin).await;
    World { admin, qxn, qxn_member, huizhou, producer, producer_id: producer_org.id, other_producer, agency }
}

fn tea() -> Value {
    json!({
        "name": "普安红茶 明前特级", "category": "tea", "description": "明前采摘", "origin_region_code": "522323",
        "unit": "罐", "spec": "250g/罐", "net_weight_g": 250, "price_fen": 16800,
        "tiers": [{"min_qty": 10, "price_fen": 15800}, {"min_qty": 50, "price_fen": 14800}],
        "stock": 800, "storage": "ambient", "shelf_life_days": 540, "images": ["https://img.example.cn/puan.jpg"]
    })
}

async fn create(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("/api/v1/products").token(token).json(body).send().await;
    r.assert_status(201);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Creates, certifies (valid until `until`) and lists a product; returns its id.
async fn on_sale(app: &TestApp, w: &World, body: Value, until: &str) -> String {
    let id = create(app, &w.producer, body).await;
    let req = app
        .post(&format!("/api/v1/products/{id}/certification-requests"))
        .token(&w.producer)
        .json(json!({"benefit_mechanism": "按保底价收购脱贫户鲜叶"}))
        .send()
        .await
        .json();
    app.post(&format!("/api/v1/certification-requests/{}/approve", req["id"].as_str().unwrap()))
        .token(&w.qxn)
        .json(json!({"valid_until": until}))
        .send()
        .await
        .assert_status(200);
    app.post(&format!("/api/v1/products/{id}/publish")).token(&w.producer).send().await.assert_status(200);
    id
}

async fn count(app: &TestApp, table: &'static str) -> i64 {
    crate::helpers::count_rows(app, table).await
}

backend_tests! {
    async fn categories_are_listed(app: TestApp) {
        let body = app.get("/api/v1/categories").send().await.json();
        let items = body["items"].as_array().unwrap();
        assert!(items.len() >= 10);
        assert!(items.iter().any(|c| c["code"] == "tea" && c["name"] == "茶叶"));
        assert!(items.iter().any(|c| c["code"] == "edible_fungi" && c["name"] == "食用菌"));
    }

    async fn producers_create_drafts_and_bad_input_writes_nothing(app: TestApp) {
        let w = world(&app).await;
        let r = app.post("/api/v1/products").token(&w.producer).json(tea()).send().await;
        r.assert_status(201);
        let p = r.json();
        assert_eq!(p["status"], "draft");
        assert_eq!(p["certification"], json!({"status": "none", "certificate_no": null, "valid_until": null}));
        assert_eq!(p["producer_id"], w.producer_id);
        assert_eq!(p["tiers"][1], json!({"min_qty": 50, "price_fen": 14800}));
        assert_eq!(p["rating"], json!({"avg": null, "count": 0}));
        assert_eq!(p["min_order_qty"], 1);

        app.post("/api/v1/products").json(tea()).send().await.assert_problem(401, "unauthenticated");
        app.post("/api/v1/products").token(&w.agency).json(tea()).send().await.assert_problem(403, "forbidden");
        app.post("/api/v1/products").token(&w.qxn).json(tea()).send().await.assert_problem(403, "forbidden");
        let bad = |patch: Value| { let mut b = tea(); for (k, v) in patch.as_object().unwrap() { b[k] = v.clone(); } b };
        for (body, code, field) in [
            (bad(json!({"price_fen": 0})), "validation_failed", "price_fen"),
            (bad(json!({"stock": -1})), "validation_failed", "stock"),
            (bad(json!({"category": "tobacco"})), "validation_failed", "category"),
            (bad(json!({"tiers": [{"min_qty": 10, "price_fen": 15800}, {"min_qty": 50, "price_fen": 15900}]})), "validation_failed", "tiers[1].price_fen"),
            (bad(json!({"tiers": [{"min_qty": 10, "price_fen": 17000}]})), "validation_failed", "tiers[0].price_fen"),
            (bad(json!({"name": "x".repeat(101)})), "validation_failed", "name"),
            (bad(json!({"origin_region_code": "441302"})), "origin_not_assisted", "origin_region_code"),
            (bad(json!({"origin_region_code": "000001"})), "unknown_region", "origin_region_code"),
        ] {
            let problem = app.post("/api/v1/products").token(&w.producer).json(body).send().await.assert_problem(422, code);
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
        app.post("/api/v1/products").token(&w.producer).json(bad(json!({"price_fen": "cheap"}))).send().await.assert_problem(422, "validation_failed");
        app.post("/api/v1/products").token(&w.producer).json(bad(json!({"colour": "red"}))).send().await.assert_problem(422, "validation_failed");
        assert_eq!(count(&app, "products").await, 1);
    }

    async fn drafts_are_seen_only_by_the_owner_and_reviewers(app: TestApp) {
        let w = world(&app).await;
        let id = create(&app, &w.producer, tea()).await;
        let path = format!("/api/v1/products/{id}");
        app.get(&path).send().await.assert_problem(404, "not_found");
        app.get(&path).token(&w.agency).send().await.assert_problem(404, "not_found");
        app.get(&path).token(&w.other_producer).send().await.assert_problem(404, "not_found");
        app.get(&path).token(&w.huizhou).send().await.assert_problem(404, "not_found");
        app.get(&path).token(&w.producer).send().await.assert_status(200);
        app.get(&path).token(&w.qxn_member).send().await.assert_status(200);
        app.get(&path).token(&w.admin).send().await.assert_status(200);
        let mine = app.get("/api/v1/products").token(&w.producer).send().await.json();
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);
        let public = app.get("/api/v1/products").send().await.json();
        assert_eq!(public["items"].as_array().unwrap().len(), 0);
        app.patch(&path).token(&w.other_producer).json(json!({"price_fen": 1})).send().await.assert_problem(404, "not_found");
    }

    async fn owners_edit_and_null_clears(app: TestApp) {
        let w = world(&app).await;
        let id = create(&app, &w.producer, tea()).await;
        let path = format!("/api/v1/products/{id}");
        let r = app.patch(&path).token(&w.producer).json(json!({"price_fen": 17800, "net_weight_g": null, "stock": 0})).send().await;
        r.assert_status(200);
        assert_eq!(r.json()["price_fen"], 17800);
        assert!(r.json()["net_weight_g"].is_null());
        assert_eq!(r.json()["shelf_life_days"], 540, "absent fields stay");
        // The merged product must still be valid: tiers must stay cheaper than the price.
        app.patch(&path).token(&w.producer).json(json!({"price_fen": 15000})).send().await.assert_problem(422, "validation_failed");
        app.patch(&path).token(&w.producer).json(json!({"origin_region_code": "441302"})).send().await.assert_problem(422, "origin_not_assisted");
        assert_eq!(app.get(&path).token(&w.producer).send().await.json()["price_fen"], 17800, "nothing half-written");
    }

    async fn certification_publish_and_review_rights(app: TestApp) {
        let w = world(&app).await;
        let id = create(&app, &w.producer, tea()).await;
        app.post(&format!("/api/v1/products/{id}/publish")).token(&w.producer).send().await.assert_problem(409, "not_certified");

        let req_path = format!("/api/v1/products/{id}/certification-requests");
        let body = json!({"benefit_mechanism": "吸纳脱贫户务工并保底收购", "documents": [{"kind": "检测报告", "name": "2021年检测报告", "url": "https://files.example.cn/r.pdf"}]});
        app.post(&req_path).token(&w.other_producer).json(body.clone()).send().await.assert_problem(404, "not_found");
        app.post(&req_path).token(&w.producer).json(json!({"benefit_mechanism": " "})).send().await.assert_problem(422, "validation_failed");
        let r = app.post(&req_path).token(&w.producer).json(body.clone()).send().await;
        r.assert_status(201);
        let req = r.json();
        assert_eq!(req["status"], "pending");
        assert_eq!(req["product_id"], id);
        let req_id = req["id"].as_str().unwrap().to_owned();
        app.post(&req_path).token(&w.producer).json(body).send().await.assert_problem(409, "already_pending");
        assert_eq!(app.get(&format!("/api/v1/products/{id}")).token(&w.producer).send().await.json()["certification"]["status"], "pending");

        // Reviewers: the coordinator over the origin sees it with a price check; an outsider neither sees nor decides.
        let pending = app.get("/api/v1/certification-requests?status=pending").token(&w.qxn).send().await.json();
        assert_eq!(pending["items"].as_array().unwrap().len(), 1);
        assert!(pending["items"][0]["price_check"].is_object());
        assert_eq!(app.get("/api/v1/certification-requests?status=pending").token(&w.huizhou).send().await.json()["items"].as_array().unwrap().len(), 0);
        app.get(&format!("/api/v1/certification-requests/{req_id}")).token(&w.huizhou).send().await.assert_problem(404, "not_found");
        let approve = format!("/api/v1/certification-requests/{req_id}/approve");
        app.post(&approve).token(&w.huizhou).json(json!({"valid_until": "2027-12-31"})).send().await.assert_problem(404, "not_found");
        app.post(&approve).token(&w.qxn_member).json(json!({"valid_until": "2027-12-31"})).send().await.assert_problem(403, "forbidden");
        app.post(&approve).token(&w.producer).json(json!({"valid_until": "2027-12-31"})).send().await.assert_problem(403, "forbidden");
        app.get("/api/v1/certification-requests").token(&w.agency).send().await.assert_problem(403, "forbidden");
        app.post(&approve).token(&w.qxn).json(json!({"valid_until": "2026-11-23"})).send().await.assert_problem(422, "validation_failed");
        app.post(&approve).token(&w.qxn).json(json!({"valid_until": "someday"})).send().await.assert_problem(422, "validation_failed");

        let outbox_before = count(&app, "outbox").await;
        let approved = app.post(&approve).token(&w.qxn).json(json!({"valid_until": "2027-12-31"})).send().await;
        approved.assert_status(200);
        let certificate_no = approved.json()["certificate_no"].as_str().unwrap().to_owned();
        assert!(certificate_no.starts_with("DX-522323-2026-"), "{certificate_no}");
        app.post(&approve).token(&w.qxn).json(json!({"valid_until": "2027-12-31"})).send().await.assert_problem(409, "invalid_state");
        let listed = app.post(&format!("/api/v1/products/{id}/publish")).token(&w.producer).send().await;
        assert_eq!(listed.json()["status"], "listed");
        assert_eq!(listed.json()["certification"], json!({"status": "certified", "certificate_no": certificate_no, "valid_until": "2027-12-31"}));
        assert!(count(&app, "outbox").await >= outbox_before + 2, "approval and listing queue the product for search");

        // Now public, and other producers see it but may not change it.
        app.get(&format!("/api/v1/products/{id}")).send().await.assert_status(200);
        app.patch(&format!("/api/v1/products/{id}")).token(&w.other_producer).json(json!({"stock": 1})).send().await.assert_problem(403, "forbidden");
        assert_eq!(app.get("/api/v1/products").send().await.json()["items"].as_array().unwrap().len(), 1);

        let unlisted = app.post(&format!("/api/v1/products/{id}/unpublish")).token(&w.producer).send().await;
        assert_eq!(unlisted.json()["status"], "unlisted");
        app.get(&format!("/api/v1/products/{id}")).send().await.assert_problem(404, "not_found");

        // The platform admin reviews anywhere; a taken certificate number is refused.
        let second = create(&app, &w.producer, json!({"name": "普安绿茶", "category": "tea", "origin_region_code": "522323", "unit": "袋", "spec": "500g/袋", "price_fen": 7800, "stock": 10})).await;
        let req2 = app.post(&format!("/api/v1/products/{second}/certification-requests")).token(&w.producer).json(json!({"benefit_mechanism": "保底收购"})).send().await.json();
        let approve2 = format!("/api/v1/certification-requests/{}/approve", req2["id"].as_str().unwrap());
        app.post(&approve2).token(&w.admin).json(json!({"valid_until": "2027-06-30", "certificate_no": certificate_no})).send().await.assert_problem(409, "certificate_no_taken");
        let r = app.post(&approve2).token(&w.admin).json(json!({"valid_until": "2027-06-30", "certificate_no": "QXN-2026-0042"})).send().await;
        assert_eq!(r.json()["certificate_no"], "QXN-2026-0042");
    }

    async fn rejection_revocation_and_material_changes_are_audited(app: TestApp) {
        let w = world(&app).await;
        let rejected = create(&app, &w.producer, tea()).await;
        let req = app.post(&format!("/api/v1/products/{rejected}/certification-requests")).token(&w.producer).json(json!({"benefit_mechanism": "无"})).send().await.json();
        let reject = format!("/api/v1/certification-requests/{}/reject", req["id"].as_str().unwrap());
        app.post(&reject).token(&w.qxn).json(json!({"reason": ""})).send().await.assert_problem(422, "validation_failed");
        let r = app.post(&reject).token(&w.qxn).json(json!({"reason": "带贫机制不明确"})).send().await;
        assert_eq!(r.json()["status"], "rejected");
        assert_eq!(r.json()["decision_reason"], "带贫机制不明确");
        assert_eq!(app.get(&format!("/api/v1/products/{rejected}")).token(&w.producer).send().await.json()["certification"]["status"], "rejected");
        let events = app.get(&format!("/api/v1/products/{rejected}/certification-events")).token(&w.producer).send().await.json()["items"].clone();
        let actions: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["requested", "rejected"]);
        assert_eq!(events[1]["reason"], "带贫机制不明确");
        assert!(events[1]["actor_user_id"].as_str().unwrap().starts_with("usr_"));
        let first = app.get(&format!("/api/v1/products/{rejected}/certification-events?limit=1")).token(&w.producer).send().await.json();
        assert_eq!(first["items"][0]["action"], "requested");
        let rest = app.get(&format!("/api/v1/products/{rejected}/certification-events?limit=1&cursor={}", first["next_cursor"].as_str().unwrap())).token(&w.producer).send().await.json();
        assert_eq!(rest["items"][0]["action"], "rejected");
        app.get(&format!("/api/v1/products/{rejected}/certification-events")).token(&w.huizhou).send().await.assert_problem(404, "not_found");

        // Revocation: off sale at once, and never twice.
        let id = on_sale(&app, &w, tea(), "2027-12-31").await;
        let revoke = format!("/api/v1/products/{id}/revoke-certification");
        // Once on sale the product is public: an outside coordinator sees it but may not revoke.
        app.post(&revoke).token(&w.huizhou).json(json!({"reason": "抽检不合格"})).send().await.assert_problem(403, "forbidden");
        app.post(&revoke).token(&w.agency).json(json!({"reason": "抽检不合格"})).send().await.assert_problem(403, "forbidden");
        let r = app.post(&revoke).token(&w.qxn).json(json!({"reason": "抽检农残超标"})).send().await;
        assert_eq!(r.json()["certification"]["status"], "revoked");
        assert_eq!(r.json()["status"], "unlisted");
        app.get(&format!("/api/v1/products/{id}")).send().await.assert_problem(404, "not_found");
        app.post(&format!("/api/v1/products/{id}/publish")).token(&w.producer).send().await.assert_problem(409, "not_certified");
        app.post(&revoke).token(&w.qxn).json(json!({"reason": "again"})).send().await.assert_problem(409, "not_certified");

        // A new specification voids the certificate and takes the product off sale.
        let id = on_sale(&app, &w, tea(), "2027-12-31").await;
        let r = app.patch(&format!("/api/v1/products/{id}")).token(&w.producer).json(json!({"price_fen": 16900})).send().await;
        assert_eq!(r.json()["certification"]["status"], "certified", "a price change keeps the certificate");
        let r = app.patch(&format!("/api/v1/products/{id}")).token(&w.producer).json(json!({"spec": "500g/罐", "net_weight_g": 500})).send().await;
        assert_eq!(r.json()["certification"]["status"], "none");
        assert_eq!(r.json()["status"], "unlisted");
        let actions: Vec<String> = app.get(&format!("/api/v1/products/{id}/certification-events")).token(&w.qxn).send().await.json()["items"]
            .as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect();
        assert_eq!(actions, ["requested", "approved", "reset"]);
    }

    async fn certificates_expire_at_midnight_in_shanghai(app: TestApp) {
        let w = world(&app).await;
        let id = on_sale(&app, &w, tea(), "2026-11-24").await;
        let path = format!("/api/v1/products/{id}");
        // 2026-11-24 23:59:59 in Shanghai is 15:59:59 UTC: still valid.
        let last_second = Utc.with_ymd_and_hms(2026, 11, 24, 15, 59, 59).single().unwrap();
        app.clock.advance(last_second - app.clock.now());
        app.get(&path).send().await.assert_status(200);
        app.clock.advance(Duration::seconds(1));
        app.get(&path).send().await.assert_problem(404, "not_found");
        // A day and a half later the morning's sessions have expired: sign in again.
        let producer_org = app.db({ let id = w.producer_id.clone(); move |c| dongxi::identity::model::find_org(c, &id).unwrap().unwrap().0 }).await;
        let email = app.user(&producer_org, "late-shift@puan.cn", Role::Member).await;
        let producer = app.login(&email).await;
        let (_, qxn) = app.signed_in("黔西南州乡村振兴局 夜班", OrgKind::Coordinator, "522300", Role::Admin).await;
        let own = app.get(&path).token(&producer).send().await.json();
        assert_eq!(own["certification"]["status"], "expired");
        assert_eq!(own["status"], "listed");
        app.post(&format!("{path}/publish")).token(&producer).send().await.assert_problem(409, "not_certified");
        app.post(&format!("{path}/revoke-certification")).token(&qxn).json(json!({"reason": "过期后抽检"})).send().await.assert_status(200);
    }

    async fn batches_and_public_trace(app: TestApp) {
        let w = world(&app).await;
        let id = on_sale(&app, &w, tea(), "2027-12-31").await;
        let path = format!("/api/v1/products/{id}/batches");
        let body = json!({"batch_no": "PA-2026-11-01", "produced_on": "2026-11-01", "quantity": 500, "inspection_report_url": "https://files.example.cn/pa.pdf"});
        app.post(&path).token(&w.other_producer).json(body.clone()).send().await.assert_problem(403, "forbidden");
        let r = app.post(&path).token(&w.producer).json(body.clone()).send().await;
        r.assert_status(201);
        let code = r.json()["trace_code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 12);
        app.post(&path).token(&w.producer).json(body).send().await.assert_problem(409, "batch_exists");
        app.post(&path).token(&w.producer).json(json!({"batch_no": "X", "produced_on": "2026-12-01", "quantity": 1})).send().await.assert_problem(422, "validation_failed");
        app.post(&path).token(&w.producer).json(json!({"batch_no": "X", "produced_on": "2026-11-01", "quantity": 0})).send().await.assert_problem(422, "validation_failed");
        let listed = app.get(&path).token(&w.producer).send().await.json();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert!(listed["next_cursor"].is_null());

        let trace = app.get(&format!("/api/v1/trace/{}", code.to_lowercase())).send().await;
        trace.assert_status(200);
        let t = trace.json();
        assert_eq!(t["origin"]["display"], "贵州省 › 黔西南布依族苗族自治州 › 普安县");
        assert_eq!(t["origin"]["chain"].as_array().unwrap().len(), 3);
        assert_eq!(t["producer"]["name"], "普安县茶源茶叶专业合作社");
        assert_eq!(t["batch"]["batch_no"], "PA-2026-11-01");
        assert_eq!(t["certificate"]["status"], "certified");
        assert_eq!(t["product"]["name"], "普安红茶 明前特级");
        app.get("/api/v1/trace/NOSUCHCODE00").send().await.assert_problem(404, "not_found");
    }

    async fn price_check_compares_with_the_category_median(app: TestApp) {
        let w = world(&app).await;
        let with = |name: &str, price: i64, grams: i64| json!({"name": name, "category": "tea", "origin_region_code": "522323", "unit": "罐", "spec": format!("{grams}g/罐"), "net_weight_g": grams, "price_fen": price, "stock": 10});
        on_sale(&app, &w, with("甲", 5000, 250), "2027-12-31").await; // 10000 per 500 g
        on_sale(&app, &w, with("乙", 6000, 500), "2027-12-31").await; // 6000
        on_sale(&app, &w, with("丙", 4000, 250), "2027-12-31").await; // 8000
        let dear = create(&app, &w.producer, with("丁", 5000, 250)).await; // 10000: 1.25 × 8000
        let check = app.get(&format!("/api/v1/products/{dear}/price-check")).token(&w.qxn).send().await.json();
        assert_eq!(check["price_per_500g_fen"], 10000);
        assert_eq!(check["category_median_per_500g_fen"], 8000);
        assert_eq!(check["ratio"], 1.25);
        assert_eq!(check["flagged"], true);
        assert_eq!(check["comparables"], 3);
        let fair = create(&app, &w.producer, with("戊", 4400, 250)).await; // 8800: 1.1
        assert_eq!(app.get(&format!("/api/v1/products/{fair}/price-check")).token(&w.producer).send().await.json()["flagged"], false);
        let weightless = create(&app, &w.producer, json!({"name": "散茶", "category": "tea", "origin_region_code": "522323", "unit": "份", "spec": "一份", "price_fen": 100, "stock": 1})).await;
        let check = app.get(&format!("/api/v1/products/{weightless}/price-check")).token(&w.producer).send().await.json();
        assert!(check["price_per_500g_fen"].is_null() && check["ratio"].is_null());
        assert_eq!(check["flagged"], false);
        app.get(&format!("/api/v1/products/{dear}/price-check")).send().await.assert_problem(404, "not_found");
        // The producer and the reviewer see the same check on the product itself; the public does not.
        assert_eq!(app.get(&format!("/api/v1/products/{dear}")).token(&w.producer).send().await.json()["price_check"]["flagged"], true);
        assert_eq!(app.get(&format!("/api/v1/products/{dear}")).token(&w.qxn).send().await.json()["price_check"]["ratio"], 1.25);
        let public = app.get("/api/v1/products?category=tea").send().await.json();
        assert!(public["items"][0].get("price_check").is_none());
    }

    async fn import_is_all_or_nothing(app: TestApp) {
        let w = world(&app).await;
        let _ = &w;
        let producer_id = w.producer_id.clone();
        let dir = tempfile::tempdir().unwrap();
        let write_csv = |bad_row: Option<usize>| {
            let mut csv = String::from("name,category,origin_region_code,unit,spec,net_weight_g,price_fen,tiers,stock,storage,images\n");
            for i in 0..10_000 {
                let category = if Some(i) == bad_row { "烟草" } else { "茶叶" };
                csv.push_str(&format!("普安红茶 {i},{category},522323,罐,250g/罐,250,{},10:4900;50:4800,{i},常温,https://img.example.cn/{i}.jpg\n", 5000 + i % 300));
            }
            let path = dir.path().join(format!("products-{}.csv", bad_row.is_some()));
            std::fs::write(&path, csv).unwrap();
            path
        };
        let bad = write_csv(Some(7_321));
        let good = write_csv(None);
        let run = |path: std::path::PathBuf| {
            let producer_id = producer_id.clone();
            let now = app.clock.now_naive();
            app.db(move |c| {
                let table = dongxi::catalog::import::read_table(&path).unwrap();
                dongxi::catalog::import::import(c, &producer_id, &table, now, || {}, |_| {}).unwrap()
            })
        };
        match run(bad).await {
            dongxi::catalog::import::ImportOutcome::Rejected(problems) => {
                assert_eq!(problems.len(), 1, "{problems:?}");
                // Data row 7321 (0-based) is spreadsheet row 7323: the heading is row 1.
                assert_eq!(problems[0].row, 7_323);
                assert_eq!(problems[0].column, "category");
            }
            _ => panic!("a bad row must reject the whole file"),
        }
        assert_eq!(count(&app, "products").await, 0, "nothing imported");
        match run(good).await {
            dongxi::catalog::import::ImportOutcome::Imported(n) => assert_eq!(n, 10_000),
            _ => panic!("a clean file imports"),
        }
        assert_eq!(count(&app, "products").await, 10_000);
        let page = app.get("/api/v1/products?limit=200&status=draft").token(&w.producer).send().await.json();
        assert_eq!(page["items"][0]["tiers"], json!([{"min_qty": 10, "price_fen": 4900}, {"min_qty": 50, "price_fen": 4800}]));
        assert!(page["next_cursor"].is_string());
    }
}

#[tokio::test]
async fn xlsx_with_chinese_headings_imports() {
    let app = TestApp::sqlite().await;
    let w = world(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("products.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let rows: [[&str; 8]; 3] = [
        ["名称", "品类", "产地代码", "单位", "规格", "价格分", "库存", "储存"],
        ["册亨干香菇", "食用菌", "522327", "袋", "500g/袋", "6800", "100", "常温"],
        ["晴隆绿茶", "tea", "522324", "罐", "250g/罐", "12800", "50", "ambient"],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            if r > 0 && (c == 5 || c == 6) {
                sheet.write_number(r as u32, c as u16, value.parse::<f64>().unwrap()).unwrap();
            } else {
                sheet.write_string(r as u32, c as u16, *value).unwrap();
            }
        }
    }
    book.save(&path).unwrap();
    let producer_id = w.producer_id.clone();
    let now = app.clock.now_naive();
    let outcome = app
        .db(move |c| {
            let table = dongxi::catalog::import::read_table(&path).unwrap();
            dongxi::catalog::import::import(c, &producer_id, &table, now, || {}, |_| {}).unwrap()
        })
        .await;
    assert!(matches!(outcome, dongxi::catalog::import::ImportOutcome::Imported(2)));
    let items = app.get("/api/v1/products").token(&w.producer).send().await.json()["items"].clone();
    assert_eq!(items[0]["category"], "edible_fungi");
    assert_eq!(items[0]["price_fen"], 6800);
    assert_eq!(items[1]["name"], "晴隆绿茶");
}
