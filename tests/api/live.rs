//! Live-stream sales: a session's window, its prices (never above the catalogue's tier price),
//! its caps, the worker's start and end (once each), the live view, the channel in orders and
//! the ledger, and the race at the end second.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{TestApp, count_rows, send_owned};
use crate::orders::{order_body, stock, world};

fn at(app: &TestApp, offset: Duration) -> String {
    (app.clock.now() + offset).to_rfc3339()
}

fn session_body(title: &str, starts: &str, ends: &str, items: Value) -> Value {
    json!({"title": title, "host": "册亨县副县长 王强", "starts_at": starts, "ends_at": ends, "items": items})
}

async fn live_order(app: &TestApp, token: &str, session: &str, lines: &[(&str, i64)]) -> crate::helpers::TestResponse {
    let mut body = order_body(lines);
    body["live_session_id"] = json!(session);
    app.post("/api/v1/orders").token(token).json(body).send().await
}

async fn advance(app: &TestApp, now: DateTime<Utc>) -> (usize, usize) {
    app.db(move |c| dongxi::live::sessions::advance(c, now.naive_utc()).unwrap()).await
}

backend_tests! {
    async fn a_live_session_sells_at_its_price_inside_its_window_only(app: TestApp) {
        let w = world(&app).await;
        let (start, end) = (app.clock.now() + Duration::hours(1), app.clock.now() + Duration::hours(3));
        let (s, e) = (start.to_rfc3339(), end.to_rfc3339());
        let items = json!([
            {"product_id": w.fungi, "live_price_fen": 5500, "stock_cap": 100},
            {"product_id": w.tea, "live_price_fen": 15000},
        ]);
        let create = |token: &str, body: Value| app.post("/api/v1/live-sessions").token(token).json(body).send();

        // Bad input changes nothing.
        let sessions_before = count_rows(&app, "live_sessions").await;
        let above = create(&w.qxn, session_body("直播", &s, &e, json!([{"product_id": w.fungi, "live_price_fen": 6900}]))).await;
        let p = above.assert_problem(422, "live_price_above_catalogue");
        assert_eq!((p["catalogue_price_fen"].as_i64(), p["errors"][0]["field"].as_str()), (Some(6800), Some("items[0].live_price_fen")));
        let backwards = create(&w.qxn, session_body("直播", &e, &s, items.clone())).await.assert_problem(422, "validation_failed");
        assert_eq!(backwards["errors"][0]["field"], "ends_at");
        create(&w.qxn, session_body("直播", &s, &e, json!([{"product_id": w.tea, "live_price_fen": 15000}, {"product_id": w.tea, "live_price_fen": 14000}]))).await.assert_problem(422, "validation_failed");
        create(&w.qxn, session_body("直播", &s, &e, json!([]))).await.assert_problem(422, "validation_failed");
        create(&w.qxn, session_body("直播", &s, &e, json!([{"product_id": w.tea, "live_price_fen": 0}]))).await.assert_problem(422, "validation_failed");
        create(&w.qxn, session_body("直播", &s, &at(&app, Duration::hours(20)), items.clone())).await.assert_problem(422, "validation_failed");
        create(&w.qxn, session_body("直播", &s, &e, json!([{"product_id": "prd_nosuch", "live_price_fen": 100}]))).await.assert_problem(409, "not_orderable");
        create(&w.school, session_body("直播", &s, &e, items.clone())).await.assert_problem(403, "forbidden");
        create(&w.tea_producer, session_body("直播", &s, &e, items.clone())).await.assert_problem(403, "forbidden");
        assert_eq!(count_rows(&app, "live_sessions").await, sessions_before);

        let made = create(&w.qxn, session_body("册亨香菇 普安红茶 助农直播", &s, &e, items.clone())).await;
        made.assert_status(201);
        let session = made.json();
        let id = session["id"].as_str().unwrap().to_owned();
        assert_eq!((session["status"].as_str(), session["poll_after_seconds"].as_u64()), (Some("scheduled"), Some(5)));
        // One organiser, one product, overlapping windows: refused; another organiser or another time is fine.
        let later = create(&w.qxn, session_body("重播", &at(&app, Duration::hours(2)), &at(&app, Duration::hours(4)), json!([{"product_id": w.tea, "live_price_fen": 15500}]))).await;
        assert_eq!(later.assert_problem(409, "live_session_overlap")["session_id"], id);
        let own = create(&w.tea_producer, session_body("普安红茶 产地直播", &s, &e, json!([{"product_id": w.tea, "live_price_fen": 15800}]))).await;
        own.assert_status(201);
        let tomorrow = create(&w.qxn, session_body("次日专场", &at(&app, Duration::hours(25)), &at(&app, Duration::hours(26)), json!([{"product_id": w.tea, "live_price_fen": 15500}]))).await;
        tomorrow.assert_status(201);

        // Before it starts, the live price is refused.
        let early = live_order(&app, &w.school, &id, &[(&w.fungi, 30)]).await;
        let p = early.assert_problem(409, "live_session_not_live");
        assert_eq!(p["live_session_id"], id);

        let due = |at: DateTime<Utc>| app.db(move |c| dongxi::live::sessions::any_due(c, at.naive_utc()).unwrap());
        assert!(!due(app.clock.now()).await, "nothing to start or end yet");
        app.clock.set(start + Duration::minutes(1));
        assert!(due(app.clock.now()).await);
        assert_eq!(advance(&app, app.clock.now()).await, (2, 0), "both sessions starting now go live");
        assert!(!due(app.clock.now()).await, "the worker's next pass has nothing to write");
        let ordered = live_order(&app, &w.school, &id, &[(&w.fungi, 30), (&w.tea, 60)]).await;
        ordered.assert_status(201);
        let order = ordered.json();
        assert_eq!((order["channel"].as_str(), order["live_session_id"].as_str()), (Some("live"), Some(id.as_str())));
        let price = |product: &str| order["lines"].as_array().unwrap().iter().find(|l| l["product_id"] == product).unwrap()["unit_price_fen"].as_i64().unwrap();
        assert_eq!(price(&w.fungi), 5500, "the live price, below the tier price for 30 (¥62)");
        assert_eq!(price(&w.tea), 14800, "never above the tier price: 60 tins cost ¥148 each, below the live ¥150");
        // A product the session does not pin, and the cap.
        let other = own.json()["id"].as_str().unwrap().to_owned();
        live_order(&app, &w.school, &other, &[(&w.fungi, 2)]).await.assert_problem(422, "not_in_live_session");
        let fungi_stock = stock(&app, &w.fungi).await;
        let over = live_order(&app, &w.stranger, &id, &[(&w.fungi, 80)]).await;
        assert_eq!(over.assert_problem(409, "live_cap_reached")["remaining"], 70);
        assert_eq!(stock(&app, &w.fungi).await, fungi_stock, "a refused order takes no stock");
        live_order(&app, &w.stranger, &id, &[(&w.fungi, 70)]).await.assert_status(201);
        live_order(&app, &w.stranger, &id, &[(&w.fungi, 2)]).await.assert_problem(409, "live_cap_reached");
        // The catalogue price stays open to everyone meanwhile.
        app.post("/api/v1/orders").token(&w.stranger).json(order_body(&[(&w.fungi, 2)])).send().await.assert_status(201);

        // The live view.
        let view = app.get(&format!("/api/v1/live-sessions/{id}")).token(&w.school).send().await.json();
        assert_eq!(view["status"], "live");
        let fungi = view["items"].as_array().unwrap().iter().find(|i| i["product_id"] == w.fungi).unwrap().clone();
        assert_eq!((fungi["units"].as_i64(), fungi["amount_fen"].as_i64(), fungi["remaining"].as_i64()), (Some(100), Some(100 * 5500), Some(0)));
        assert_eq!((view["orders"].as_i64(), view["buyers"].as_i64()), (Some(2), Some(2)));
        assert_eq!(view["amount_fen"], 100 * 5500 + 60 * 14800);

        // The live page reloads itself while the session is on.
        let mut browser = crate::workplace::browser(&app, &w.school);
        let page = browser.get(&format!("/live/{id}")).await;
        page.assert_status(200);
        let page = page.text();
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">") && page.contains("data-status=\"live\""), "{page}");
        assert!(page.contains(&format!("data-product=\"{}\" data-units=\"100\"", w.fungi)), "{page}");
        assert!(browser.get("/live").await.text().contains(&format!("href=\"/live/{id}\"")));

        // Paid, it counts in the ledger under the channel `live`.
        crate::accounting::pay_at(&app, &w.admin, &order, &app.clock.now().to_rfc3339()).await;
        let year = chrono::Datelike::year(&(app.clock.now() + Duration::hours(8)));
        let by_channel = app.get(&format!("/api/v1/reports/breakdown?year={year}&scope_kind=donor&scope_id=441300&by=channel")).token(&w.coordinator).send().await.json();
        let live_row = by_channel["rows"].as_array().unwrap().iter().find(|r| r["key"] == "live").unwrap_or_else(|| panic!("{by_channel}")).clone();
        assert_eq!((live_row["name"].as_str(), live_row["counted_fen"].as_i64()), (Some("直播带货"), order["total_fen"].as_i64()));
        let ledger = app.get(&format!("/api/v1/ledger?year={year}&scope_kind=donor&scope_id=441300&by=channel&key=live")).token(&w.coordinator).send().await.json();
        assert_eq!(ledger["items"].as_array().unwrap().len(), order["sub_orders"].as_array().unwrap().len());

        // At its end the price is gone, and the worker ends it once.
        app.clock.set(end);
        live_order(&app, &w.school, &id, &[(&w.tea, 1)]).await.assert_problem(409, "live_session_not_live");
        assert_eq!(advance(&app, end).await, (0, 2));
        assert_eq!(advance(&app, end + Duration::seconds(1)).await, (0, 0), "exactly once");
        let summary = app.get(&format!("/api/v1/live-sessions/{id}")).token(&w.qxn).send().await.json();
        assert_eq!(summary["status"], "ended");
        assert!(summary["ended_at"].is_string(), "{summary}");
        assert!(summary["poll_after_seconds"].is_null());
        let page = browser.get(&format!("/live/{id}")).await.text();
        assert!(!page.contains("http-equiv=\"refresh\"") && page.contains("id=\"live-summary\"") && page.contains("共 2 单、160 件"), "{page}");
        assert_eq!(summary["amount_fen"], view["amount_fen"]);
        assert_eq!(summary["summary"], json!({"units": 160, "amount_fen": view["amount_fen"], "orders": 2}));

        // Cancelling: the organiser, before the start only.
        let next = tomorrow.json()["id"].as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/live-sessions/{next}/cancel")).token(&w.school).send().await.assert_problem(403, "forbidden");
        assert_eq!(app.post(&format!("/api/v1/live-sessions/{next}/cancel")).token(&w.qxn).send().await.json()["status"], "cancelled");
        app.post(&format!("/api/v1/live-sessions/{next}/cancel")).token(&w.qxn).send().await.assert_problem(409, "invalid_state");
        app.post(&format!("/api/v1/live-sessions/{id}/cancel")).token(&w.qxn).send().await.assert_problem(409, "invalid_state");
        let listed = app.get("/api/v1/live-sessions?status=ended").token(&w.school).send().await.json();
        assert_eq!(listed["items"].as_array().unwrap().len(), 2);
        app.get("/api/v1/live-sessions?status=over").token(&w.school).send().await.assert_problem(422, "validation_failed");
        app.get("/api/v1/live-sessions/live_nosuch").token(&w.school).send().await.assert_problem(404, "not_found");

        let zone = app.state.config.timezone;
        let verified = app.db(move |c| dongxi::accounting::verify::verify(c, dongxi::config::CountOn::Paid, zone).unwrap()).await;
        assert!(verified.drift.is_empty(), "{:?}", verified.drift);
    }

    async fn many_buyers_at_the_end_second_never_pass_the_cap_or_the_end(app: TestApp) {
        let w = world(&app).await;
        let end = app.clock.now() + Duration::hours(1);
        let made = app.post("/api/v1/live-sessions").token(&w.qxn)
            .json(session_body("收官秒杀", &at(&app, Duration::minutes(-1)), &end.to_rfc3339(), json!([{"product_id": w.fungi, "live_price_fen": 5000, "stock_cap": 50}])))
            .send().await;
        made.assert_status(201);
        let id = made.json()["id"].as_str().unwrap().to_owned();
        let mut buyers = Vec::new();
        for i in 0..16 {
            let (_, token) = app.signed_in(&format!("惠州市第{i}机关食堂"), dongxi::identity::types::OrgKind::Agency, "441302", dongxi::identity::types::Role::Admin).await;
            buyers.push(token);
        }
        // The last second: every buyer orders 5 (80 wanted, 50 offered) while the worker ends it.
        app.clock.set(end - Duration::milliseconds(400));
        let mut tasks = Vec::new();
        for token in &buyers {
            let (router, token) = (app.router.clone(), token.clone());
            let mut body = order_body(&[(&w.fungi, 5)]);
            body["live_session_id"] = json!(id);
            tasks.push(tokio::spawn(async move {
                send_owned(router, axum::http::Method::POST, "/api/v1/orders".into(), token, None, body).await
            }));
        }
        let db = app.state.db.clone();
        let ender = tokio::spawn(async move {
            db.write(move |c| dongxi::live::sessions::advance(c, end.naive_utc())).await.unwrap().1
        });
        let mut sold = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status.as_u16() {
                201 => sold += 5,
                409 => assert!(body["code"] == "live_cap_reached" || body["code"] == "live_session_not_live", "{body}"),
                other => panic!("{other}: {body}"),
            }
        }
        let mut ended = ender.await.unwrap();
        ended += advance(&app, end).await.1;
        assert_eq!(ended, 1, "ended exactly once");
        assert!(sold <= 50, "{sold} units sold at the live price, over the cap of 50");
        // After the end no order gets the live price, even from a clock a little behind.
        live_order(&app, &buyers[0], &id, &[(&w.fungi, 5)]).await.assert_problem(409, "live_session_not_live");
        let view = app.get(&format!("/api/v1/live-sessions/{id}")).token(&w.qxn).send().await.json();
        assert_eq!(view["status"], "ended");
        assert_eq!(view["units"], sold);
        assert_eq!(view["summary"]["units"], sold, "the summary frozen at the end holds every live order, and only those");
        assert_eq!(view["items"][0]["remaining"], 50 - sold);
        let live_orders = app.db({
            let id = id.clone();
            move |c| {
                use diesel::prelude::*;
                use dongxi::db::schema::orders;
                orders::table.filter(orders::live_session_id.eq(&id)).count().get_result::<i64>(c).unwrap()
            }
        }).await;
        assert_eq!(live_orders * 5, sold);
    }
}
