//! The workplaces: the producer's (`/producer`: what waits to be shipped, shipping by form with
//! every error beside its field, the packing list, the money) and the agency's (`/agency`:
//! paying, accepting and rating, its own progress), and who may open them.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::dashboard::{Visitor, attr, location};
use crate::helpers::{TestApp, TestResponse};
use crate::orders::{World, place, world};

pub fn sub_of(order: &Value, producer: &str) -> String {
    let subs = order["sub_orders"].as_array().unwrap();
    subs.iter().find(|s| s["producer_id"] == producer).unwrap()["id"].as_str().unwrap().to_owned()
}

/// A browser signed in with `token` as its session (the cookie the login form would set).
pub fn browser<'a>(app: &'a TestApp, token: &str) -> Visitor<'a> {
    let mut v = Visitor::new(app);
    v.extra.push(("cookie".into(), format!("{}={token}", dongxi::dashboard::SESSION_COOKIE)));
    v
}

/// A paid order of 12 tins of tea and 4 bags of mushrooms from the school; returns it.
pub async fn paid_order(app: &TestApp, w: &World) -> Value {
    let order = place(app, &w.school, &[(&w.tea, 12), (&w.fungi, 4)]).await;
    app.post(&format!("/api/v1/orders/{}/payments/offline", order["id"].as_str().unwrap()))
        .token(&w.admin)
        .json(json!({"amount_fen": order["total_fen"], "reference": "ICBC-1", "paid_at": app.clock.now().to_rfc3339()}))
        .send()
        .await
        .assert_status(201);
    order
}

fn html(r: &TestResponse, status: u16) -> String {
    r.assert_status(status);
    let text = r.text();
    assert!(text.starts_with("<!DOCTYPE html>"), "a page: {text}");
    text
}

backend_tests! {
    async fn a_producer_ships_from_its_workplace(app: TestApp) {
        let w = world(&app).await;
        let order = paid_order(&app, &w).await;
        let sub = sub_of(&order, &w.tea_org);
        let mut tea = browser(&app, &w.tea_producer);

        // The home page lists it as waiting, with the money so far (nothing paid yet).
        let home = html(&tea.get("/producer").await, 200);
        assert!(home.contains(&format!("/producer/orders/{sub}")), "{home}");
        assert_eq!(attr(&home, "balance", "data-paid-fen"), "0");
        let fungi_sub = sub_of(&order, &w.fungi_org);
        assert!(!home.contains(&fungi_sub), "another producer's sub-order is not listed");
        let waiting = html(&tea.get("/producer/orders?status=awaiting_shipment").await, 200);
        assert!(waiting.contains(&sub) && waiting.contains("惠州市第一中学"), "{waiting}");
        let shipped_tab = html(&tea.get("/producer/orders?status=shipped").await, 200);
        assert!(!shipped_tab.contains(&sub), "not shipped yet");

        // The sub-order's page and its packing list: lines, address, certificate.
        let page = html(&tea.get(&format!("/producer/orders/{sub}")).await, 200);
        assert!(page.contains("普安红茶 明前特级") && page.contains("广东省惠州市惠城区麦地路 1 号 食堂"), "{page}");
        let packing = html(&tea.get(&format!("/producer/orders/{sub}/packing")).await, 200);
        assert!(packing.contains("装箱单") && packing.contains("12 罐"), "{packing}");
        let token = attr(&page, "ship-csrf", "value");

        // A bad tracking number: shown beside its field, with what was typed, and nothing shipped.
        let ship = format!("/producer/orders/{sub}/ship");
        let refused = tea.post(&ship, &[("csrf", &token), ("carrier", "顺丰速运"), ("tracking_no", "SF 12#"), ("invoice_no", "")]).await;
        let refused = html(&refused, 422);
        assert!(refused.contains("id=\"error-tracking_no\""), "{refused}");
        assert!(!refused.contains("id=\"error-carrier\""), "the carrier was fine");
        assert!(refused.contains("value=\"顺丰速运\""), "the form keeps what was typed");
        let api = app.get(&format!("/api/v1/sub-orders/{sub}")).token(&w.tea_producer).send().await.json();
        assert_eq!(api["status"], "awaiting_shipment", "nothing changed");

        // A forged token is refused before anything is read.
        let forged = tea.post(&ship, &[("csrf", "forged"), ("carrier", "顺丰速运"), ("tracking_no", "SF1")]).await;
        assert!(html(&forged, 403).contains("csrf_failed"));

        // Shipping: the same as the API's (status, numbers, the buyer told), then back to the page.
        let done = tea.post(&ship, &[("csrf", &token), ("carrier", "顺丰速运"), ("tracking_no", "SF1234567890"), ("invoice_no", "44031234")]).await;
        done.assert_status(303);
        assert_eq!(location(&done), format!("/producer/orders/{sub}"));
        let api = app.get(&format!("/api/v1/sub-orders/{sub}")).token(&w.school).send().await.json();
        assert_eq!((api["status"].as_str(), api["tracking_no"].as_str(), api["invoice_no"].as_str()), (Some("shipped"), Some("SF1234567890"), Some("44031234")));
        let page = html(&tea.get(&format!("/producer/orders/{sub}")).await, 200);
        assert_eq!(attr(&page, "status", "data-status"), "shipped");
        assert!(!page.contains("ship-csrf"), "no ship form once shipped");
        let again = tea.post(&ship, &[("csrf", &token), ("carrier", "顺丰速运"), ("tracking_no", "SF1")]).await;
        assert!(html(&again, 409).contains("invalid_state"), "shipped once");

        // Accepted by the school and settled: the home page shows the money and the statement.
        app.post(&format!("/api/v1/sub-orders/{sub}/accept")).token(&w.school).json(json!({"note": "验收合格"})).send().await.assert_status(200);
        let page = html(&tea.get(&format!("/producer/orders/{sub}")).await, 200);
        assert!(page.contains("验收合格"), "{page}");
        let run = app.post("/api/v1/settlements/runs").token(&w.admin).json(json!({"cutoff": app.clock.now().to_rfc3339()})).send().await;
        run.assert_status(202);
        dongxi::worker::run_due(&app.state, |t| t == "settlement.run").await;
        let settlements = app.get("/api/v1/settlements").token(&w.tea_producer).send().await.json();
        let settlement = settlements["items"][0].clone();
        let home = html(&tea.get("/producer").await, 200);
        let id = settlement["id"].as_str().unwrap();
        assert!(home.contains(&format!("/producer/settlements/{id}/statement?format=xlsx")), "{home}");
        let balance = app.get(&format!("/api/v1/organizations/{}/balance", w.tea_org)).token(&w.tea_producer).send().await.json();
        assert!(home.contains(&format!("¥{}", dongxi::notify::yuan(balance["scheduled_fen"].as_i64().unwrap()))), "{home}");
        let csv = tea.get(&format!("/producer/settlements/{id}/statement?format=csv")).await;
        csv.assert_status(200);
        let api_csv = app.get(&format!("/api/v1/settlements/{id}/statement.csv")).token(&w.tea_producer).send().await;
        assert_eq!(csv.text(), api_csv.text(), "the same statement as the API's");
        tea.get(&format!("/producer/settlements/{id}/statement?format=pdf")).await.assert_status(422);
    }

    async fn an_agency_finds_goods_as_the_api_does(app: TestApp) {
        let w = world(&app).await;
        app.index_now().await;
        let mut school = browser(&app, &w.school);
        // Pinyin finds the mushrooms, with the API's hits, the certificate and the tiers.
        let page = html(&school.get("/agency/goods?q=xianggu").await, 200);
        let api = app.get("/api/v1/search/products?q=xianggu&limit=20").send().await.json();
        assert_eq!(attr(&page, "total", "data-total"), api["total"].to_string());
        assert!(api["total"].as_u64().unwrap() >= 1, "{api}");
        for hit in api["hits"].as_array().unwrap() {
            assert!(page.contains(&format!("data-product=\"{}\"", hit["id"].as_str().unwrap())), "{hit}");
        }
        assert!(page.contains(&format!("data-product=\"{}\"", w.fungi)) && page.contains("20袋起 ¥62.00"), "{page}");
        assert!(page.contains("已认证") && page.contains("有效至 2027-12-31"), "{page}");
        // Filters: the price in yuan, a category, in stock; tea is not a mushroom.
        let tea = html(&school.get("/agency/goods?q=&category=tea&price_min=100&price_max=200&in_stock=1").await, 200);
        assert!(tea.contains(&format!("data-product=\"{}\"", w.tea)) && !tea.contains(&format!("data-product=\"{}\"", w.fungi)), "{tea}");
        let cheap = html(&school.get("/agency/goods?category=tea&price_max=100").await, 200);
        assert_eq!(attr(&cheap, "total", "data-total"), "0", "¥168 is over ¥100");
        // A bad price is shown beside its field, with what was typed.
        let bad = html(&school.get("/agency/goods?q=茶&price_min=十元&price_max=5").await, 422);
        assert!(bad.contains("id=\"error-price_min\"") && bad.contains("value=\"十元\""), "{bad}");
        let inverted = html(&school.get("/agency/goods?price_min=50&price_max=5").await, 422);
        assert!(inverted.contains("id=\"error-price_max\""), "{inverted}");
        html(&browser(&app, &w.tea_producer).get("/agency/goods").await, 403);
        // Quality labels: a filter with counts, and a badge on the hit.
        app.post(&format!("/api/v1/products/{}/labels", w.tea)).token(&w.tea_producer)
            .json(serde_json::json!({"kind": "green_food", "issuer": "中国绿色食品发展中心", "certificate_no": "LB-45-2101",
                                     "valid_from": "2021-01-01", "valid_until": "2030-12-31"}))
            .send().await.assert_status(201);
        app.index_now().await;
        let green = html(&school.get("/agency/goods?label=green_food").await, 200);
        assert_eq!(attr(&green, "total", "data-total"), "1");
        assert!(green.contains(&format!("data-product=\"{}\"", w.tea)) && green.contains("<span class=\"badge label\">绿色食品</span>"), "{green}");
        assert!(green.contains("<option value=\"green_food\" selected>绿色食品（1）</option>"), "{green}");
        assert_eq!(attr(&html(&school.get("/agency/goods?label=organic").await, 200), "total", "data-total"), "0");
        let unknown = html(&school.get("/agency/goods?label=halal").await, 422);
        assert!(unknown.contains("id=\"error-label\""), "{unknown}");
    }

    async fn a_producer_puts_its_products_on_sale_and_off(app: TestApp) {
        let w = world(&app).await;
        let mut tea = browser(&app, &w.tea_producer);
        let page = html(&tea.get("/producer/products").await, 200);
        assert!(page.contains(&format!("data-product=\"{}\"", w.tea)), "{page}");
        assert!(!page.contains(&format!("data-product=\"{}\"", w.fungi)), "another producer's product");
        assert!(page.contains("已认证") && page.contains("10罐起 ¥158.00"), "{page}");
        assert!(page.contains(&format!("id=\"unpublish-{}\"", w.tea)), "a listed product can be taken off sale");
        let csrf = crate::dashboard::attr(&page, "logout-token", "value");
        // Off sale: the API's unpublish, then the search no longer finds it.
        let off = tea.post(&format!("/producer/products/{}/unpublish", w.tea), &[("csrf", &csrf)]).await;
        off.assert_status(303);
        let api = app.get(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).send().await.json();
        assert_eq!(api["status"], "unlisted");
        let unlisted = html(&tea.get("/producer/products?status=unlisted").await, 200);
        assert!(unlisted.contains(&format!("id=\"publish-{}\"", w.tea)), "{unlisted}");
        // Twice: as in the API, it stays off sale; a forged token is refused first.
        tea.post(&format!("/producer/products/{}/unpublish", w.tea), &[("csrf", &csrf)]).await.assert_status(303);
        let api = app.get(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).send().await.json();
        assert_eq!(api["status"], "unlisted");
        let forged = tea.post(&format!("/producer/products/{}/publish", w.tea), &[("csrf", "forged")]).await;
        html(&forged, 403);
        let on = tea.post(&format!("/producer/products/{}/publish", w.tea), &[("csrf", &csrf)]).await;
        on.assert_status(303);
        let api = app.get(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).send().await.json();
        assert_eq!(api["status"], "listed");
        // Another producer may not take it off sale (it is on sale for all to see: 403, as in the API).
        let mut fungi = browser(&app, &w.fungi_producer);
        let fungi_page = html(&fungi.get("/producer/products").await, 200);
        let fungi_csrf = crate::dashboard::attr(&fungi_page, "logout-token", "value");
        html(&fungi.post(&format!("/producer/products/{}/unpublish", w.tea), &[("csrf", &fungi_csrf)]).await, 403);
        let api = app.get(&format!("/api/v1/products/{}", w.tea)).token(&w.tea_producer).send().await.json();
        assert_eq!(api["status"], "listed", "nothing changed");
    }

    async fn only_producers_open_the_producer_workplace(app: TestApp) {
        let w = world(&app).await;
        let order = paid_order(&app, &w).await;
        let sub = sub_of(&order, &w.tea_org);
        // An agency, a coordinator and finance get a readable refusal; another producer does not
        // learn the sub-order exists.
        for token in [&w.school, &w.qxn, &w.admin] {
            let page = html(&browser(&app, token).get("/producer").await, 403);
            assert!(page.contains("无权查看"), "{page}");
        }
        let mut fungi = browser(&app, &w.fungi_producer);
        html(&fungi.get(&format!("/producer/orders/{sub}")).await, 404);
        html(&fungi.get(&format!("/producer/orders/{sub}/packing")).await, 404);
        // Signed out: to the login form, coming back here afterwards.
        let anonymous = Visitor::new(&app).get("/producer/orders").await;
        anonymous.assert_status(303);
        assert!(location(&anonymous).starts_with("/login?next=%2Fproducer%2Forders"), "{}", location(&anonymous));
        // A bad status filter is a readable error, not an empty list.
        let bad = html(&browser(&app, &w.tea_producer).get("/producer/orders?status=lost").await, 422);
        assert!(bad.contains("status"), "{bad}");
    }

    async fn an_agency_accepts_and_rates_from_its_workplace(app: TestApp) {
        let w = world(&app).await;
        let order = place(&app, &w.school, &[(&w.tea, 12), (&w.fungi, 4)]).await;
        let order_id = order["id"].as_str().unwrap().to_owned();
        let sub = sub_of(&order, &w.tea_org);
        let mut school = browser(&app, &w.school);

        // Unpaid: the home page lists it, and the order says how to pay offline.
        let home = html(&school.get("/agency").await, 200);
        assert!(home.contains(&format!("/agency/orders/{order_id}")), "{home}");
        assert!(home.contains("id=\"progress\""), "an administrator sees the unit's progress");
        let page = html(&school.get(&format!("/agency/orders/{order_id}")).await, 200);
        assert!(page.contains("id=\"pay-offline\"") && page.contains(&order_id), "{page}");

        // Paid and shipped by the producer: an accept form for that parcel only.
        app.post(&format!("/api/v1/orders/{order_id}/payments/offline"))
            .token(&w.admin)
            .json(json!({"amount_fen": order["total_fen"], "reference": "ICBC-1", "paid_at": app.clock.now().to_rfc3339()}))
            .send()
            .await
            .assert_status(201);
        app.post(&format!("/api/v1/sub-orders/{sub}/ship"))
            .token(&w.tea_producer)
            .json(json!({"carrier": "顺丰速运", "tracking_no": "SF1", "invoice_no": "44031234"}))
            .send()
            .await
            .assert_status(200);
        let page = html(&school.get(&format!("/agency/orders/{order_id}")).await, 200);
        assert!(page.contains(&format!("id=\"accept-{sub}\"")), "{page}");
        let fungi_sub = sub_of(&order, &w.fungi_org);
        assert!(!page.contains(&format!("id=\"accept-{fungi_sub}\"")), "not shipped yet");
        let token = crate::dashboard::attr(&page, "logout-token", "value");

        // A note too long: beside its field, with what was typed; nothing accepted.
        let long = "验".repeat(501);
        let refused = school.post(&format!("/agency/sub-orders/{sub}/accept"), &[("csrf", &token), ("note", &long)]).await;
        let refused = html(&refused, 422);
        assert!(refused.contains("id=\"error-note\""), "{refused}");
        let api = app.get(&format!("/api/v1/sub-orders/{sub}")).token(&w.school).send().await.json();
        assert_eq!(api["status"], "shipped", "nothing changed");

        // Accepting and rating: the API's own, then back to the order.
        let done = school.post(&format!("/agency/sub-orders/{sub}/accept"), &[("csrf", &token), ("note", "数量质量无误")]).await;
        done.assert_status(303);
        assert_eq!(location(&done), format!("/agency/orders/{order_id}"));
        let api = app.get(&format!("/api/v1/sub-orders/{sub}")).token(&w.school).send().await.json();
        assert_eq!((api["status"].as_str(), api["acceptance_note"].as_str()), (Some("accepted"), Some("数量质量无误")));
        let unrated = school.post(&format!("/agency/sub-orders/{sub}/rating"), &[("csrf", &token), ("stars", ""), ("comment", "好茶")]).await;
        let unrated = html(&unrated, 422);
        assert!(unrated.contains("id=\"error-stars\"") && unrated.contains("value=\"好茶\""), "{unrated}");
        let rated = school.post(&format!("/agency/sub-orders/{sub}/rating"), &[("csrf", &token), ("stars", "5"), ("comment", "好茶")]).await;
        rated.assert_status(303);
        let page = html(&school.get(&format!("/agency/orders/{order_id}")).await, 200);
        assert!(page.contains("★★★★★") && !page.contains(&format!("id=\"rate-{sub}\"")), "{page}");
        let twice = school.post(&format!("/agency/sub-orders/{sub}/rating"), &[("csrf", &token), ("stars", "4")]).await;
        twice.assert_status(409);

        // Another unit's orders are not found; a producer is refused the agency pages.
        html(&browser(&app, &w.stranger).get(&format!("/agency/orders/{order_id}")).await, 404);
        html(&browser(&app, &w.tea_producer).get("/agency").await, 403);
        let forged = school.post(&format!("/agency/sub-orders/{fungi_sub}/accept"), &[("csrf", "forged")]).await;
        assert!(html(&forged, 403).contains("csrf_failed"));
    }
}

/// The main path in a real Chromium: the school's administrator signs in through the form, finds
/// the tea, uploads an order sheet with one bad line, sees it marked, uploads the fixed sheet and
/// places it; once it is paid the producer ships from its workplace (a bad tracking
/// number first, shown beside its field, then the right one), after listing a new product by
/// form (a bad price first), registering its batch and opening the public trace page on a phone;
/// the school's administrator signs in again, accepts the parcel with a note, rates it, and
/// pledges into the city's open group purchase. Screenshots of each
/// workplace on a desktop and a phone are kept as artifacts; nothing is wider than a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_ships_accepts_and_rates() {
    let Some(binary) =
        crate::helpers::service_env("DONGXI_TEST_CHROMIUM", "the workplace browser test (Debian's chromium)")
    else {
        return;
    };
    let app = TestApp::sqlite().await;
    let w = world(&app).await;
    app.index_now().await;
    let round = crate::group_buys::campaign(&app, &w, chrono::Duration::zero(), chrono::Duration::days(3)).await;
    let round = round["id"].as_str().unwrap().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let sheets = tempfile::tempdir().unwrap();
    let (bad, good) = (sheets.path().join("订货单.csv"), sheets.path().join("订货单-改.csv"));
    let line = format!("{},12,广东省惠州市惠城区 惠州市第一中学食堂,王老师,0752-2280001", w.tea);
    let heading = "商品编码或名称,数量,收货地址,收货人,联系电话";
    std::fs::write(&bad, format!("{heading}\n{line}\nprd_nosuchthing,3,广东省惠州市惠城区 惠州市第一中学食堂,,\n"))
        .unwrap();
    std::fs::write(&good, format!("{heading}\n{line}\n")).unwrap();

    let (producer_token, script_base, admin, school, tea, round) =
        (w.tea_producer.clone(), base.clone(), w.admin.clone(), w.school.clone(), w.tea.clone(), round);
    let (bad, good) = (bad.display().to_string(), good.display().to_string());
    let runtime = tokio::runtime::Handle::current();
    let paid_at = app.clock.now().to_rfc3339();
    let (order_id, shots) = tokio::task::spawn_blocking(move || {
        let base = script_base;
        let mut chrome = crate::browser::Chromium::launch(&binary);
        chrome.open_page();
        let submit = |chrome: &mut crate::browser::Chromium, form: &str| {
            chrome.forget("Page.loadEventFired");
            chrome.eval(&format!("document.querySelector('{form} button[type=submit]').click()"));
            chrome.wait_for("Page.loadEventFired");
        };
        let phone_shot = |chrome: &mut crate::browser::Chromium, url: &str| {
            chrome.call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
            );
            chrome.navigate(url);
            let widths = chrome.eval("[document.documentElement.scrollWidth, window.innerWidth].join(' ')");
            let widths: Vec<i64> = widths.as_str().unwrap().split(' ').map(|w| w.parse().unwrap()).collect();
            assert!(widths[0] <= widths[1], "{url} is wider than a phone: {widths:?}");
            let shot = chrome.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
            chrome.call("Emulation.clearDeviceMetricsOverride", json!({}));
            shot
        };
        let log_in = |chrome: &mut crate::browser::Chromium| {
            chrome.call("Network.clearBrowserCookies", json!({}));
            chrome.navigate(&format!("{base}/agency"));
            assert_eq!(chrome.eval("location.pathname"), json!("/login"));
            chrome.eval("document.querySelector('#email').value = 'school@test.dongxi.cn'");
            chrome.eval(&format!("document.querySelector('#password').value = '{}'", crate::helpers::PASSWORD));
            submit(chrome, "form");
            assert_eq!(chrome.eval("location.pathname"), json!("/agency"), "back where the visit began");
        };

        // The school's administrator signs in through the form, finds the tea, and orders it by
        // a sheet with one bad line: the preview marks it, the fixed sheet is placed.
        log_in(&mut chrome);
        chrome.navigate(&format!("{base}/agency/goods?q=%E7%BA%A2%E8%8C%B6"));
        assert_eq!(
            chrome.eval(&format!("!!document.querySelector('[data-product=\"{tea}\"]')")),
            json!(true),
            "the search finds the tea"
        );
        chrome.navigate(&format!("{base}/agency/sheets"));
        chrome.set_file("#upload input[type=file]", &bad);
        submit(&mut chrome, "#upload");
        assert_eq!(chrome.eval("document.querySelector('#summary').dataset.bad"), json!("1"));
        let marked = chrome.eval("document.querySelector('#line-3 .field-error').innerText");
        assert!(marked.as_str().unwrap().contains("prd_nosuchthing"), "the bad line says why: {marked}");
        assert_eq!(chrome.eval("!!document.querySelector('#place')"), json!(false), "nothing to place yet");
        let sheet = chrome.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
        chrome.set_file("#upload input[type=file]", &good);
        submit(&mut chrome, "#upload");
        assert_eq!(chrome.eval("document.querySelector('#summary').dataset.bad"), json!("0"));
        submit(&mut chrome, "#place");
        let href = chrome.eval("document.querySelector('#placed a[href^=\"/agency/orders/\"]').getAttribute('href')");
        let order_id = href.as_str().unwrap().rsplit('/').next().unwrap().to_owned();

        // The platform's finance records the transfer; the order's tea sub-order is the producer's.
        let client = reqwest::Client::new();
        let sub = runtime.block_on(async {
            let order =
                client.get(format!("{base}/api/v1/orders/{order_id}")).bearer_auth(&school).send().await.unwrap();
            let order: Value = serde_json::from_str(&order.text().await.unwrap()).unwrap();
            let payment = json!({"amount_fen": order["total_fen"], "reference": "ICBC-1", "paid_at": paid_at});
            let paid = client
                .post(format!("{base}/api/v1/orders/{order_id}/payments/offline"))
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .body(payment.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(paid.status().as_u16(), 201);
            order["sub_orders"][0]["id"].as_str().unwrap().to_owned()
        });

        // The producer (its session as the login form leaves it).
        chrome.call(
            "Network.setCookie",
            json!({"name": dongxi::dashboard::SESSION_COOKIE, "value": producer_token, "url": base}),
        );
        chrome.navigate(&format!("{base}/producer"));
        assert_eq!(chrome.eval("location.pathname"), json!("/producer"));

        // It lists a new product by form (a price that is not in yuan first, shown beside its
        // field with the rest kept as typed), registers a batch, and opens its trace page.
        chrome.navigate(&format!("{base}/producer/products/new"));
        let fill = |chrome: &mut crate::browser::Chromium, field: &str, value: &str| {
            chrome.eval(&format!("document.querySelector('#product-form [name={field}]').value = '{value}'"));
        };
        for (field, value) in
            [("name", "普安白茶 黄金芽"), ("spec", "100g/罐"), ("unit", "罐"), ("price", "12.345"), ("stock", "300")]
        {
            fill(&mut chrome, field, value);
        }
        submit(&mut chrome, "#product-form");
        assert_eq!(chrome.eval("!!document.querySelector('#error-price')"), json!(true), "the price's error beside it");
        assert_eq!(chrome.eval("document.querySelector('#product-form [name=name]').value"), json!("普安白茶 黄金芽"));
        fill(&mut chrome, "price", "128.50");
        submit(&mut chrome, "#product-form");
        let product_path = chrome.eval("location.pathname").as_str().unwrap().to_owned();
        assert!(product_path.starts_with("/producer/products/prd"), "the new product's page: {product_path}");
        chrome.eval("document.querySelector('#batch-form [name=batch_no]').value = 'BC-2026-01'");
        chrome.eval("document.querySelector('#batch-form [name=quantity]').value = '200'");
        submit(&mut chrome, "#batch-form");
        let trace = chrome.eval("document.querySelector('#batch-list a[href^=\"/trace/\"]').getAttribute('href')");
        let trace = trace.as_str().unwrap().to_owned();
        let product_shot =
            chrome.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
        let trace_phone = phone_shot(&mut chrome, &format!("{base}{trace}"));
        assert_eq!(
            chrome.eval("document.querySelector('#product').innerText.includes('普安白茶 黄金芽')"),
            json!(true)
        );
        chrome.navigate(&format!("{base}/producer/orders/{sub}"));
        chrome.eval("document.querySelector('input[name=carrier]').value = '顺丰速运'");
        chrome.eval("document.querySelector('input[name=tracking_no]').value = 'SF 12#'");
        submit(&mut chrome, "#ship");
        let error = chrome.eval("(document.querySelector('#error-tracking_no') || {}).innerText || ''");
        assert!(!error.as_str().unwrap().is_empty(), "the error beside the tracking number");
        assert_eq!(
            chrome.eval("document.querySelector('input[name=carrier]').value"),
            json!("顺丰速运"),
            "kept as typed"
        );
        chrome.eval("document.querySelector('input[name=tracking_no]').value = 'SF1234567890'");
        chrome.eval("document.querySelector('input[name=invoice_no]').value = '44031234'");
        submit(&mut chrome, "#ship");
        assert_eq!(chrome.eval("document.querySelector('#status').dataset.status"), json!("shipped"));
        let producer = chrome.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
        let producer_phone = phone_shot(&mut chrome, &format!("{base}/producer"));

        // The school's administrator again, through the login form.
        log_in(&mut chrome);
        chrome.navigate(&format!("{base}/agency/orders/{order_id}"));
        chrome.eval(&format!("document.querySelector('#accept-{sub} input[name=note]').value = '数量质量无误'"));
        submit(&mut chrome, &format!("#accept-{sub}"));
        assert_eq!(chrome.eval(&format!("document.querySelector('#sub-{sub}').dataset.status")), json!("accepted"));
        chrome.eval(&format!("document.querySelector('#rate-{sub} select[name=stars]').value = '5'"));
        submit(&mut chrome, &format!("#rate-{sub}"));
        let rated = chrome.eval(&format!("document.querySelector('#sub-{sub}').innerText"));
        assert!(rated.as_str().unwrap().contains("★★★★★"), "{rated}");
        let agency = chrome.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
        let agency_phone = phone_shot(&mut chrome, &format!("{base}/agency/orders/{order_id}"));

        // It pledges into the city's open round of the tea; its pledge is shown with the price reached.
        chrome.navigate(&format!("{base}/agency/group-buys"));
        chrome.navigate(&format!("{base}/agency/group-buys/{round}"));
        for (field, value) in [
            ("quantity", "120"),
            ("address", "广东省惠州市惠城区 惠州市第一中学工会"),
            ("contact_name", "陈主任"),
            ("phone", "0752-2801234"),
        ] {
            chrome.eval(&format!("document.querySelector('#pledge-form [name={field}]').value = '{value}'"));
        }
        submit(&mut chrome, "#pledge-form");
        assert_eq!(chrome.eval("document.querySelector('#mine').dataset.quantity"), json!("120"));
        let round_shot = chrome.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
        let requests: Vec<String> = chrome
            .seen("Network.requestWillBeSent")
            .iter()
            .map(|e| e["request"]["url"].as_str().unwrap_or("").to_owned())
            .collect();
        for url in &requests {
            assert!(
                url.starts_with(&base) || url.starts_with("data:") || url == "about:blank",
                "a request off the site: {url}"
            );
        }
        (order_id, [producer, producer_phone, agency, agency_phone, sheet, product_shot, trace_phone, round_shot])
    })
    .await
    .unwrap();
    let sub = sub_of(&app.get(&format!("/api/v1/orders/{order_id}")).token(&w.school).send().await.json(), &w.tea_org);

    let api = app.get(&format!("/api/v1/sub-orders/{sub}")).token(&w.school).send().await.json();
    assert_eq!((api["status"].as_str(), api["tracking_no"].as_str()), (Some("accepted"), Some("SF1234567890")));
    assert_eq!((api["acceptance_note"].as_str(), api["rating"]["stars"].as_i64()), (Some("数量质量无误"), Some(5)));
    use base64::Engine;
    let dir = std::env::var("DONGXI_ARTIFACT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&dir).unwrap();
    for (shot, name) in shots.iter().zip([
        "producer.png",
        "producer-phone.png",
        "agency.png",
        "agency-phone.png",
        "agency-sheet.png",
        "producer-product.png",
        "trace-phone.png",
        "agency-group-buy.png",
    ]) {
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a screenshot of a real page ({} bytes)", png.len());
        std::fs::write(dir.join(name), &png).unwrap();
        eprintln!("workplace screenshot: {}", dir.join(name).display());
    }
}
