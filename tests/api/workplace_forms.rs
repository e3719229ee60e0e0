//! The workplaces' remaining forms: the producer's products (new and edited, every error beside
//! its field and nothing saved), certification requests, batches with the public trace page they
//! link to; and the agency's group purchases (the rounds, the tier reached and the next, pledging
//! once under a double click, changing and withdrawing the pledge).

use chrono::Duration;
use serde_json::Value;

use crate::backend_tests;
use crate::dashboard::{Visitor, attr, location};
use crate::helpers::{TestApp, TestResponse};
use crate::orders::{World, world};

fn browser<'a>(app: &'a TestApp, token: &str) -> Visitor<'a> {
    let mut v = Visitor::new(app);
    v.extra.push(("cookie".into(), format!("{}={token}", dongxi::dashboard::SESSION_COOKIE)));
    v
}

fn html(r: &TestResponse, status: u16) -> String {
    r.assert_status(status);
    let text = r.text();
    assert!(text.starts_with("<!DOCTYPE html>"), "a page: {text}");
    text
}

fn token_of(page: &str) -> String {
    attr(page, "logout-token", "value")
}

/// The product form's fields, with `changes` over a good 黄金芽 white tea.
fn product_form<'a>(csrf: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf", csrf),
        ("name", "普安白茶 黄金芽"),
        ("category", "tea"),
        ("origin_region_code", "522323"),
        ("spec", "100g/罐"),
        ("unit", "罐"),
        ("net_weight_g", "100"),
        ("price", "128.50"),
        ("tier_qty", "10"),
        ("tier_price", "120"),
        ("tier_qty", "50"),
        ("tier_price", "110"),
        ("tier_qty", ""),
        ("tier_price", ""),
        ("min_order_qty", "2"),
        ("stock", "300"),
        ("storage", "ambient"),
        ("shelf_life_days", "720"),
        ("images", "https://img.puan.example.cn/baicha.jpg\n"),
        ("description", "海拔 1400 米茶园，明前采摘"),
    ];
    for (k, v) in changes {
        if let Some(slot) = form.iter_mut().find(|(key, _)| key == k) {
            slot.1 = v;
        }
    }
    form
}

/// The pledge form as the round's page posts it.
fn pledge_form(csrf: &str, key: &str, quantity: &str, phone: &str) -> Vec<(String, String)> {
    [
        ("csrf", csrf),
        ("key", key),
        ("quantity", quantity),
        ("address", "广东省惠州市惠城区麦地路 1 号 食堂"),
        ("contact_name", "王老师"),
        ("phone", phone),
        ("note", ""),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn products_of(app: &TestApp, token: &str, producer: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/products?producer_id={producer}")).token(token).send().await;
    r.json()["items"].as_array().unwrap().clone()
}

backend_tests! {
    async fn a_producer_lists_certifies_and_traces_a_product_from_its_workplace(app: TestApp) {
        let w: World = world(&app).await;
        let mut tea = browser(&app, &w.tea_producer);
        let list = html(&tea.get("/producer/products").await, 200);
        assert!(list.contains("href=\"/producer/products/new\""), "{list}");
        let page = html(&tea.get("/producer/products/new").await, 200);
        let csrf = token_of(&page);
        assert_eq!(attr(&page, "product-form", "action"), "/producer/products/new");
        let before = products_of(&app, &w.tea_producer, &w.tea_org).await.len();

        // Every bad field is shown beside it, with what was typed, and nothing is saved.
        let bad = product_form(&csrf, &[("price", "12.345"), ("stock", "many"), ("images", "javascript:alert(1)")]);
        let refused = html(&tea.post("/producer/products/new", &bad).await, 422);
        for field in ["price", "stock"] {
            assert!(refused.contains(&format!("id=\"error-{field}\"")), "{field}: {refused}");
        }
        assert!(refused.contains("value=\"12.345\"") && refused.contains("value=\"many\""), "typed values kept");
        let bad = product_form(&csrf, &[("tier_price", "130")]);
        let refused = html(&tea.post("/producer/products/new", &bad).await, 422);
        assert!(refused.contains("id=\"error-tiers\"") && refused.contains("第 1 行"), "{refused}");
        let bad = product_form(&csrf, &[("images", "javascript:alert(1)")]);
        let refused = html(&tea.post("/producer/products/new", &bad).await, 422);
        assert!(refused.contains("id=\"error-images\""), "{refused}");
        let half_tier = product_form(&csrf, &[("tier_qty", "10"), ("tier_price", "")]);
        html(&tea.post("/producer/products/new", &half_tier).await, 422);
        let not_assisted = product_form(&csrf, &[("origin_region_code", "441302")]);
        let refused = html(&tea.post("/producer/products/new", &not_assisted).await, 422);
        assert!(refused.contains("id=\"error-origin_region_code\""), "{refused}");
        let forged = product_form("forged", &[]);
        assert!(html(&tea.post("/producer/products/new", &forged).await, 403).contains("csrf_failed"));
        assert_eq!(products_of(&app, &w.tea_producer, &w.tea_org).await.len(), before, "nothing saved");

        // A good form makes a draft with the typed tiers, prices in fen.
        let made = tea.post("/producer/products/new", &product_form(&csrf, &[])).await;
        made.assert_status(303);
        let id = location(&made).trim_start_matches("/producer/products/").to_owned();
        let api = app.get(&format!("/api/v1/products/{id}")).token(&w.tea_producer).send().await.json();
        assert_eq!(api["status"], "draft");
        assert_eq!(api["price_fen"], 12850);
        assert_eq!(api["tiers"], serde_json::json!([{"min_qty": 10, "price_fen": 12000}, {"min_qty": 50, "price_fen": 11000}]));
        assert_eq!(api["images"], serde_json::json!(["https://img.puan.example.cn/baicha.jpg"]));
        assert_eq!((api["min_order_qty"].as_i64(), api["stock"].as_i64()), (Some(2), Some(300)));

        // Editing: a bad stock changes nothing; a good edit saves.
        let path = format!("/producer/products/{id}");
        let page = html(&tea.get(&path).await, 200);
        assert_eq!(attr(&page, "product-form", "action"), path);
        assert!(page.contains("value=\"128.50\""), "the form is filled from the product");
        let refused = html(&tea.post(&path, &product_form(&csrf, &[("stock", "-1")])).await, 422);
        assert!(refused.contains("id=\"error-stock\""), "{refused}");
        let api = app.get(&format!("/api/v1/products/{id}")).token(&w.tea_producer).send().await.json();
        assert_eq!(api["stock"], 300, "nothing changed");
        let saved = tea.post(&path, &product_form(&csrf, &[("stock", "900"), ("tier_qty", "20")])).await;
        assert_eq!((saved.status.as_u16(), location(&saved)), (303, format!("{path}?saved=1")));
        assert!(html(&tea.get(&format!("{path}?saved=1")).await, 200).contains("id=\"saved\""));
        let api = app.get(&format!("/api/v1/products/{id}")).token(&w.tea_producer).send().await.json();
        assert_eq!((api["stock"].as_i64(), api["tiers"][0]["min_qty"].as_i64()), (Some(900), Some(20)));

        // Certification: a missing mechanism is shown beside it; a good request is pending.
        let cert = format!("{path}/certification");
        let refused = tea.post(&cert, &[("csrf", &csrf), ("benefit_mechanism", " "), ("doc_kind", ""), ("doc_name", ""), ("doc_url", "")]).await;
        assert!(html(&refused, 422).contains("id=\"error-benefit_mechanism\""));
        let bad_doc = [("csrf", csrf.as_str()), ("benefit_mechanism", "带动 32 户脱贫户采茶务工"), ("doc_kind", "检测报告"), ("doc_name", "2021 年检测"), ("doc_url", "ftp://x")];
        assert!(html(&tea.post(&cert, &bad_doc).await, 422).contains("id=\"error-documents\""));
        let good = [("csrf", csrf.as_str()), ("benefit_mechanism", "带动 32 户脱贫户采茶务工"), ("doc_kind", "检测报告"), ("doc_name", "2021 年检测"), ("doc_url", "https://docs.puan.example.cn/report.pdf"), ("doc_kind", ""), ("doc_name", ""), ("doc_url", "")];
        tea.post(&cert, &good).await.assert_status(303);
        let page = html(&tea.get(&path).await, 200);
        assert_eq!(attr(&page, "certification-state", "data-certification"), "pending");
        assert!(page.contains("id=\"request-pending\"") && page.contains("report.pdf"), "{page}");
        let pending = app.get(&format!("/api/v1/certification-requests?product_id={id}")).token(&w.qxn).send().await.json();
        let request = pending["items"][0]["id"].as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/certification-requests/{request}/approve"))
            .token(&w.qxn)
            .json(serde_json::json!({"valid_until": "2027-06-30"}))
            .send()
            .await
            .assert_status(200);
        let page = html(&tea.get(&path).await, 200);
        assert_eq!(attr(&page, "certification-state", "data-certification"), "certified");
        assert!(page.contains("申请续期"), "a certified product may ask for renewal");

        // Batches: a date in the future is refused beside it; a batch gets a trace code linked
        // to the public page; its number again is refused beside the number.
        let batches = format!("{path}/batches");
        let future = (app.clock.now() + Duration::days(3)).format("%Y-%m-%d").to_string();
        let refused = tea.post(&batches, &[("csrf", &csrf), ("batch_no", "BC-2026-01"), ("produced_on", &future), ("quantity", "200")]).await;
        assert!(html(&refused, 422).contains("id=\"error-produced_on\""));
        let bad_date = tea.post(&batches, &[("csrf", &csrf), ("batch_no", "BC-2026-01"), ("produced_on", "12/01/2026"), ("quantity", "200")]).await;
        assert!(html(&bad_date, 422).contains("id=\"error-produced_on\""));
        let today = app.clock.now().format("%Y-%m-%d").to_string();
        let batch = [("csrf", csrf.as_str()), ("batch_no", "BC-2026-01"), ("produced_on", today.as_str()), ("quantity", "200"), ("inspection_report_url", "")];
        tea.post(&batches, &batch).await.assert_status(303);
        let again = html(&tea.post(&batches, &batch).await, 422);
        assert!(again.contains("id=\"error-batch_no\""), "{again}");
        let page = html(&tea.get(&path).await, 200);
        let list = app.get(&format!("/api/v1/products/{id}/batches")).token(&w.tea_producer).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "one batch");
        let code = list["items"][0]["trace_code"].as_str().unwrap().to_owned();
        assert!(page.contains(&format!("href=\"/trace/{code}\"")), "{page}");

        // The trace page is public: no sign-in, the product, producer, origin and certificate.
        let public = html(&app.get(&format!("/trace/{code}")).send().await, 200);
        assert!(public.contains("普安白茶 黄金芽") && public.contains("普安县茶源茶叶专业合作社"), "{public}");
        assert!(public.contains("黔西南布依族苗族自治州") && public.contains("BC-2026-01"), "{public}");
        assert_eq!(attr(&public, "certificate", "data-status"), "certified");
        assert!(html(&app.get("/trace/NOSUCHCODE99").header("accept", "text/html").send().await, 404).contains("not found"));

        // Another producer may not open or change it (a draft is not found, as in the API; a
        // listed product is forbidden); an agency has no producer pages.
        let mut fungi = browser(&app, &w.fungi_producer);
        html(&fungi.get(&path).await, 404);
        let fungi_csrf = token_of(&html(&fungi.get("/producer/products").await, 200));
        html(&fungi.post(&path, &product_form(&fungi_csrf, &[("stock", "1")])).await, 404);
        html(&fungi.post(&batches, &[("csrf", &fungi_csrf), ("batch_no", "X"), ("produced_on", &today), ("quantity", "1")]).await, 404);
        html(&fungi.get(&format!("/producer/products/{}", w.tea)).await, 403);
        html(&fungi.post(&format!("/producer/products/{}", w.tea), &product_form(&fungi_csrf, &[("stock", "1")])).await, 403);
        let api = app.get(&format!("/api/v1/products/{id}")).token(&w.tea_producer).send().await.json();
        assert_eq!(api["stock"], 900, "nothing changed");
        let mut school = browser(&app, &w.school);
        html(&school.get("/producer/products/new").await, 403);
    }

    async fn an_agency_pledges_into_a_round_changes_and_withdraws_it(app: TestApp) {
        let w: World = world(&app).await;
        let c = crate::group_buys::campaign(&app, &w, Duration::zero(), Duration::days(3)).await;
        let id = c["id"].as_str().unwrap().to_owned();
        let stock_before = app.get(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).send().await.json()["stock"].as_i64().unwrap();
        let mut school = browser(&app, &w.school);
        let list = html(&school.get("/agency/group-buys").await, 200);
        assert!(list.contains(&format!("href=\"/agency/group-buys/{id}\"")), "{list}");
        assert!(list.contains("160.00"), "the price reached so far: {list}");
        assert!(html(&school.get("/agency/group-buys?status=succeeded").await, 200).contains("id=\"none\""));
        html(&school.get("/agency/group-buys?status=bogus").await, 422);

        let path = format!("/agency/group-buys/{id}");
        let page = html(&school.get(&path).await, 200);
        assert!(page.contains("id=\"no-pledge\""));
        let csrf = token_of(&page);
        assert_eq!(attr(&page, "pledge-form", "action"), format!("{path}/pledge"));
        let key = page.split("name=\"key\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        // Bad values are shown beside their fields and pledge nothing.
        let bad = pledge_form(&csrf, &key, "many", "12");
        let refused = html(&school.post(&format!("{path}/pledge"), &pairs(&bad)).await, 422);
        assert!(refused.contains("id=\"error-quantity\"") && refused.contains("id=\"error-phone\""), "{refused}");
        let full = pledge_form(&csrf, &key, "400", "0752-2222222");
        let refused = html(&school.post(&format!("{path}/pledge"), &pairs(&full)).await, 409);
        assert!(refused.contains("data-code=\"campaign_full\"") && refused.contains("id=\"error-quantity\""), "{refused}");
        let api = app.get(&format!("/api/v1/group-buys/{id}")).token(&w.school).send().await.json();
        assert_eq!(api["total_qty"], 0, "nothing pledged");

        // A good pledge, posted twice (a double click), pledges once.
        let good = pledge_form(&csrf, &key, "120", "0752-2222222");
        for _ in 0..2 {
            let r = school.post(&format!("{path}/pledge"), &pairs(&good)).await;
            assert_eq!((r.status.as_u16(), location(&r)), (303, path.clone()));
        }
        let api = app.get(&format!("/api/v1/group-buys/{id}")).token(&w.school).send().await.json();
        assert_eq!((api["total_qty"].as_i64(), api["pledge_count"].as_i64()), (Some(120), Some(1)));
        let pledges = app.get(&format!("/api/v1/group-buys/{id}/pledges")).token(&w.coordinator).send().await.json();
        assert_eq!(pledges["items"].as_array().unwrap().len(), 1, "one pledge, not a replaced one");
        let page = html(&school.get(&path).await, 200);
        assert_eq!(attr(&page, "mine", "data-quantity"), "120");
        assert!(page.contains("150.00"), "the second tier is reached: {page}");

        // Pledging again with a new form changes the quantity.
        let new_key = page.split("name=\"key\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        assert_ne!(new_key, key, "each page gives a new key");
        let change = pledge_form(&csrf, &new_key, "60", "0752-2222222");
        school.post(&format!("{path}/pledge"), &pairs(&change)).await.assert_status(303);
        let page = html(&school.get(&path).await, 200);
        assert_eq!(attr(&page, "mine", "data-quantity"), "60");
        let stock = app.get(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).send().await.json()["stock"].as_i64().unwrap();
        assert_eq!(stock, stock_before - 60, "the pledge holds its quantity of stock");

        // Another agency cannot withdraw it; the school can, and the stock comes back.
        assert_eq!(attr(&page, "withdraw-form", "action"), format!("{path}/withdraw"));
        let mine = app.get(&format!("/api/v1/group-buys/{id}")).token(&w.school).send().await.json()["my_pledge"]["id"].as_str().unwrap().to_owned();
        let mut stranger = browser(&app, &w.stranger);
        let stranger_csrf = token_of(&html(&stranger.get("/agency/group-buys").await, 200));
        html(&stranger.post(&format!("{path}/withdraw"), &[("csrf", &stranger_csrf), ("pledge_id", &mine)]).await, 404);
        let r = school.post(&format!("{path}/withdraw"), &[("csrf", &csrf), ("pledge_id", &mine)]).await;
        assert_eq!((r.status.as_u16(), location(&r)), (303, path.clone()));
        let api = app.get(&format!("/api/v1/group-buys/{id}")).token(&w.school).send().await.json();
        assert_eq!(api["total_qty"], 0);
        let stock = app.get(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).send().await.json()["stock"].as_i64().unwrap();
        assert_eq!(stock, stock_before);

        // A unit outside the round's region is told so beside the form; a producer has no agency pages.
        let theirs = pledge_form(&stranger_csrf, &key, "120", "0752-2222222");
        let outside = html(&stranger.post(&format!("{path}/pledge"), &pairs(&theirs)).await, 403);
        assert!(outside.contains("data-code=\"not_eligible\""), "{outside}");
        let mut tea = browser(&app, &w.tea_producer);
        html(&tea.get(&path).await, 403);
    }
}

fn key_of(page: &str, form_id: &str) -> String {
    let at = page.find(&format!("id=\"{form_id}\"")).unwrap_or_else(|| panic!("no #{form_id}"));
    page[at..].split("name=\"key\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

async fn requests_of(app: &TestApp, token: &str, sub: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/refund-requests?sub_order_id={sub}")).token(token).send().await;
    r.assert_status(200);
    r.json()["items"].as_array().unwrap().clone()
}

backend_tests! {
    async fn a_unit_asks_for_a_refund_and_the_producer_grants_or_declines_it(app: TestApp) {
        let w: World = world(&app).await;
        let order = crate::workplace::paid_order(&app, &w).await;
        let order_id = order["id"].as_str().unwrap().to_owned();
        let tea_sub = crate::workplace::sub_of(&order, &w.tea_org);
        let fungi_sub = crate::workplace::sub_of(&order, &w.fungi_org);
        let mut school = browser(&app, &w.school);
        let page = html(&school.get(&format!("/agency/orders/{order_id}")).await, 200);
        let csrf = token_of(&page);
        let key = key_of(&page, &format!("refund-{tea_sub}"));
        let ask = format!("/agency/sub-orders/{tea_sub}/refund-request");

        // Bad amounts and a missing reason are shown beside their fields; nothing is asked.
        for (amount, reason, field) in [("abc", "破损", "amount_fen"), ("99999", "破损", "amount_fen"), ("168", " ", "reason")] {
            let r = school.post(&ask, &[("csrf", &csrf), ("key", &key), ("amount", amount), ("reason", reason)]).await;
            let refused = html(&r, 422);
            assert!(refused.contains(&format!("id=\"error-{field}\"")), "{amount} {reason}: {refused}");
            assert!(refused.contains(&format!("value=\"{amount}\"")), "what was typed is kept");
        }
        assert!(requests_of(&app, &w.school, &tea_sub).await.is_empty(), "nothing asked");

        // Asked once, though posted twice.
        for _ in 0..2 {
            let r = school.post(&ask, &[("csrf", &csrf), ("key", &key), ("amount", "168"), ("reason", "到货一罐破损")]).await;
            assert_eq!((r.status.as_u16(), location(&r)), (303, format!("/agency/orders/{order_id}")));
        }
        let asked = requests_of(&app, &w.school, &tea_sub).await;
        assert_eq!(asked.len(), 1);
        assert_eq!((asked[0]["amount_fen"].as_i64(), asked[0]["status"].as_str()), (Some(16800), Some("requested")));
        let request = asked[0]["id"].as_str().unwrap().to_owned();
        let page = html(&school.get(&format!("/agency/orders/{order_id}")).await, 200);
        assert!(page.contains(&format!("data-request=\"{request}\" data-status=\"requested\"")), "{page}");
        assert!(!page.contains(&format!("id=\"refund-{tea_sub}\"")), "one open request at a time");
        let again = app
            .post(&format!("/api/v1/sub-orders/{tea_sub}/refund-requests"))
            .token(&w.school)
            .json(serde_json::json!({"amount_fen": 100, "reason": "再退一点"}))
            .send()
            .await;
        again.assert_status(409);
        assert_eq!(again.json()["code"], "already_requested");

        // The producer sees it waiting; a decline without a reason is refused beside the field.
        let mut tea = browser(&app, &w.tea_producer);
        let home = html(&tea.get("/producer").await, 200);
        assert!(home.contains(&format!("data-request=\"{request}\"")), "{home}");
        let sub_page = html(&tea.get(&format!("/producer/orders/{tea_sub}")).await, 200);
        let tea_csrf = token_of(&sub_page);
        assert!(sub_page.contains(&format!("id=\"grant-{request}\"")), "{sub_page}");
        let refused = tea.post(&format!("/producer/refund-requests/{request}/decline"), &[("csrf", &tea_csrf), ("reason", "")]).await;
        assert!(html(&refused, 422).contains("id=\"error-reason\""));
        assert_eq!(requests_of(&app, &w.school, &tea_sub).await[0]["status"], "requested", "nothing changed");

        // Another producer cannot answer it; the tea producer grants it and the refund is made.
        let other = app.post(&format!("/api/v1/refund-requests/{request}/grant")).token(&w.fungi_producer).send().await;
        other.assert_status(404);
        let granted = tea.post(&format!("/producer/refund-requests/{request}/grant"), &[("csrf", &tea_csrf)]).await;
        assert_eq!((granted.status.as_u16(), location(&granted)), (303, format!("/producer/orders/{tea_sub}")));
        let done = &requests_of(&app, &w.school, &tea_sub).await[0];
        assert_eq!(done["status"], "granted");
        let refunds = app.get(&format!("/api/v1/sub-orders/{tea_sub}/refunds")).token(&w.school).send().await.json();
        assert_eq!(refunds["items"].as_array().unwrap().len(), 1);
        assert_eq!((refunds["items"][0]["id"].clone(), refunds["items"][0]["amount_fen"].as_i64()), (done["refund_id"].clone(), Some(16800)));
        let sub = app.get(&format!("/api/v1/sub-orders/{tea_sub}")).token(&w.school).send().await.json();
        assert_eq!(sub["refunded_fen"], 16800);
        let twice = app.post(&format!("/api/v1/refund-requests/{request}/grant")).token(&w.tea_producer).send().await;
        twice.assert_status(409);
        assert_eq!(app.get(&format!("/api/v1/sub-orders/{tea_sub}/refunds")).token(&w.school).send().await.json()["items"].as_array().unwrap().len(), 1, "granted once");

        // The mushrooms: asked through the API, declined with a reason the unit reads.
        let asked = app
            .post(&format!("/api/v1/sub-orders/{fungi_sub}/refund-requests"))
            .token(&w.school_member)
            .json(serde_json::json!({"amount_fen": 6800, "reason": "一袋受潮"}))
            .send()
            .await;
        asked.assert_status(201);
        let fungi_request = asked.json()["id"].as_str().unwrap().to_owned();
        let mut fungi = browser(&app, &w.fungi_producer);
        let fungi_csrf = token_of(&html(&fungi.get(&format!("/producer/orders/{fungi_sub}")).await, 200));
        let declined = fungi.post(&format!("/producer/refund-requests/{fungi_request}/decline"), &[("csrf", &fungi_csrf), ("reason", "签收时未提出，照片显示完好")]).await;
        declined.assert_status(303);
        let page = html(&school.get(&format!("/agency/orders/{order_id}")).await, 200);
        assert!(page.contains("签收时未提出，照片显示完好") && page.contains(&format!("data-request=\"{fungi_request}\" data-status=\"declined\"")), "{page}");
        let sub = app.get(&format!("/api/v1/sub-orders/{fungi_sub}")).token(&w.school).send().await.json();
        assert_eq!(sub["refunded_fen"], 0, "a decline refunds nothing");

        // Who may ask and list: not the producer, not the supervising bureau; coordinators list nothing.
        let by_producer = app
            .post(&format!("/api/v1/sub-orders/{fungi_sub}/refund-requests"))
            .token(&w.fungi_producer)
            .json(serde_json::json!({"amount_fen": 100, "reason": "x"}))
            .send()
            .await;
        by_producer.assert_status(403);
        app.get("/api/v1/refund-requests").token(&w.coordinator).send().await.assert_status(403);
        let bad_status = app.get("/api/v1/refund-requests?status=maybe").token(&w.school).send().await;
        assert_eq!(bad_status.status.as_u16(), 422);
        assert!(requests_of(&app, &w.stranger, &tea_sub).await.is_empty(), "a stranger sees none");
    }
}
