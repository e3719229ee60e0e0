use dongxi::demo::{DEMO_PASSWORD, DemoSeed};
use serde_json::json;

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{TestApp, count_rows};

async fn seed(app: &TestApp) -> DemoSeed {
    let (clock, config) = (app.clock.clone(), app.state.config.clone());
    app.db(move |c| dongxi::demo::seed(c, &clock, &config).expect("demo seed")).await
}

async fn login(app: &TestApp, email: &str) -> String {
    let r = app.post("/api/v1/auth/login").json(json!({"email": email, "password": DEMO_PASSWORD})).send().await;
    r.assert_status(200);
    r.json()["token"].as_str().unwrap().to_owned()
}

backend_tests! {
    async fn the_demo_holds_a_year_of_orders(app: TestApp) {
        assert_eq!(seed(&app).await, DemoSeed::Seeded);
        assert_eq!(seed(&app).await, DemoSeed::AlreadyThere);
        let orders = count_rows(&app, "orders").await;
        assert!(orders > 150, "{orders} orders");
        assert!(count_rows(&app, "refunds").await > 5);
        assert!(count_rows(&app, "ratings").await > 50);
        let zone = app.state.config.timezone;
        let verified = app.db(move |c| dongxi::accounting::verify::verify(c, dongxi::config::CountOn::Paid, zone).unwrap()).await;
        assert!(verified.drift.is_empty(), "{:?}", verified.drift);
        assert!(verified.entries > 250);
        let qxn = login(&app, "qxn@demo.dongxi.cn").await;
        let progress = app.get("/api/v1/reports/progress?year=2021&scope_kind=recipient&scope_id=522300").token(&qxn).send().await.json();
        assert_eq!(progress["target_fen"], 37_000_000_000i64);
        assert_eq!(progress["status"], "behind");
        assert!(progress["counted_fen"].as_i64().unwrap() > 100_000_000);
        assert_eq!(app.get("/api/v1/periods").token(&qxn).send().await.json()["items"][0]["year"], 2021);

        let canteen = login(&app, "canteen.hz@demo.dongxi.cn").await;
        let mine = app.get("/api/v1/orders?limit=200").token(&canteen).send().await.json();
        let items = mine["items"].as_array().unwrap();
        assert!(items.len() > 30);
        for status in ["pending_payment", "paid", "completed", "cancelled"] {
            assert!(items.iter().any(|o| o["status"] == status), "the canteen has a {status} order");
        }
        for o in items {
            let lines: i64 = o["lines"].as_array().unwrap().iter().map(|l| l["subtotal_fen"].as_i64().unwrap()).sum();
            assert_eq!(o["total_fen"].as_i64().unwrap(), lines, "{}", o["id"]);
        }
        let in_2021 = app.get("/api/v1/orders?created_from=2021-01-01&created_to=2021-12-31&status=completed&limit=200").token(&canteen).send().await.json();
        assert!(in_2021["items"].as_array().unwrap().len() > 20);
        // The bureau above the school sees the school's orders; the producers have work waiting.
        let bureau = login(&app, "edu.hz@demo.dongxi.cn").await;
        assert!(app.get("/api/v1/orders?limit=200").token(&bureau).send().await.json()["items"].as_array().unwrap().len() > items.len());
        // The bureau's 2021 H1 bulletin ranks its three schools; 惠阳's buys fall far short.
        let bureau_id = app.get("/api/v1/me").token(&bureau).send().await.json()["organization"]["id"].as_str().unwrap().to_owned();
        let huizhou = login(&app, "huizhou@demo.dongxi.cn").await;
        let bulletin = app.get(&format!("/api/v1/reports/bulletin?year=2021&period=H1&org_id={bureau_id}")).token(&huizhou).send().await.json();
        assert_eq!(bulletin["units"], 3, "{bulletin}");
        let rows = bulletin["rows"].as_array().unwrap();
        assert!(rows.iter().all(|r| r["target_fen"].as_i64().unwrap() > 0 && r["counted_fen"].as_i64().unwrap() > 0), "{bulletin}");
        let last = rows.last().unwrap();
        assert_eq!((last["name"].as_str(), last["status"].as_str(), last["rank"].as_u64()), (Some("惠州市惠阳高级中学"), Some("behind"), Some(3)), "{bulletin}");
        // The 2021 harvest-festival live session: ended by the worker's step, its summary frozen,
        // its orders counted under the channel `live`.
        let sessions = app.get("/api/v1/live-sessions?status=ended").token(&qxn).send().await.json();
        let show = sessions["items"].as_array().unwrap().iter().find(|s| s["title"].as_str().unwrap().contains("丰收节")).unwrap_or_else(|| panic!("{sessions}")).clone();
        assert_eq!(show["summary"]["orders"], 4, "{show}");
        assert_eq!(show["summary"]["units"], 350);
        let names: Vec<&str> = show["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["册亨干香菇", "普安红茶 明前特级"]);
        let by_channel = app.get("/api/v1/reports/breakdown?year=2021&scope_kind=recipient&scope_id=522300&by=channel").token(&qxn).send().await.json();
        let live = by_channel["rows"].as_array().unwrap().iter().find(|r| r["key"] == "live").unwrap_or_else(|| panic!("{by_channel}")).clone();
        assert_eq!(live["counted_fen"], show["summary"]["amount_fen"], "paid in full, none refunded");
        assert!(by_channel["rows"].as_array().unwrap().iter().any(|r| r["key"] == "group_buy"), "{by_channel}");
        let finance = login(&app, "finance@demo.dongxi.cn").await;
        let waiting = app.get("/api/v1/orders?status=pending_payment").token(&finance).send().await.json();
        assert!(!waiting["items"].as_array().unwrap().is_empty());
        let shipping = app.get("/api/v1/sub-orders?status=awaiting_shipment").token(&finance).send().await.json();
        assert!(!shipping["items"].as_array().unwrap().is_empty());
        let events = app.get(&format!("/api/v1/orders/{}/events", in_2021["items"][0]["id"].as_str().unwrap())).token(&canteen).send().await.json();
        assert!(events["items"][0]["at"].as_str().unwrap().starts_with("2021-"));

        // The union's Mid-Autumn round of 2021 closed into paid and accepted orders; the winter round is open.
        let union = login(&app, "union.hz@demo.dongxi.cn").await;
        let done = app.get("/api/v1/group-buys?status=succeeded").token(&union).send().await.json();
        let round = &done["items"][0];
        assert_eq!((round["total_qty"].as_i64(), round["pledge_count"].as_i64()), (Some(260), Some(4)));
        assert_eq!(round["final_unit_price_fen"], 23800);
        assert!(round["closes_at"].as_str().unwrap().starts_with("2021-09-06"));
        let placed = app.get(&format!("/api/v1/orders?group_buy_id={}", round["id"].as_str().unwrap())).token(&finance).send().await.json();
        let placed = placed["items"].as_array().unwrap();
        assert_eq!(placed.len(), 4);
        assert!(placed.iter().all(|o| o["status"] == "completed" && o["lines"][0]["unit_price_fen"] == 23800), "{placed:?}");
        let open = app.get("/api/v1/group-buys?status=open").token(&canteen).send().await.json();
        let winter = &open["items"][0];
        assert_eq!((winter["total_qty"].as_i64(), winter["qty_to_succeed"].as_i64()), (Some(180), Some(20)));
        assert_eq!(winter["headline"], "还差 20 袋成团，当前 65 元/袋");
        assert_eq!(winter["my_pledge"]["quantity"], 120, "the canteen's school has pledged");

        // 2021 is settled and paid, and settlement verify finds nothing; 普安茶源's July refund of a
        // June sub-order came after that sub-order was settled, so a later statement deducts it.
        let on = app.state.config.settle.on;
        let settled = app.db(move |c| dongxi::settlement::verify::verify(c, on).unwrap()).await;
        assert!(settled.drift.is_empty(), "{:?}", settled.drift);
        assert!(settled.settlements > 100, "{settled:?}");
        let tea = login(&app, "tea.puan@demo.dongxi.cn").await;
        let statements = app.get("/api/v1/settlements?status=paid&limit=200").token(&tea).send().await.json();
        let statements = statements["items"].as_array().unwrap();
        assert!(statements.len() > 10, "{}", statements.len());
        let deducting: Vec<&Value> = statements.iter().filter(|s| s["deducted_fen"].as_i64().unwrap() > 0).collect();
        assert!(!deducting.is_empty(), "a statement with a deduction");
        let detail = app.get(&format!("/api/v1/settlements/{}", deducting[0]["id"].as_str().unwrap())).token(&tea).send().await.json();
        assert!(detail["lines"].as_array().unwrap().iter().any(|l| l["kind"] == "refund"), "{detail}");
        let csv = app.get(&format!("/api/v1/settlements/{}/statement.csv", deducting[0]["id"].as_str().unwrap())).token(&tea).send().await.text();
        assert!(csv.contains("退款扣减"), "{csv}");
        let me = app.get("/api/v1/me").token(&tea).send().await.json();
        let balance = app.get(&format!("/api/v1/organizations/{}/balance", me["organization"]["id"].as_str().unwrap())).token(&tea).send().await.json();
        assert!(balance["paid_fen"].as_i64().unwrap() > 0, "{balance}");
        let mut workplace = crate::dashboard::Visitor::new(&app);
        workplace.log_in("tea.puan@demo.dongxi.cn", DEMO_PASSWORD).await.assert_status(303);
        let home = workplace.get("/producer").await;
        home.assert_status(200);
        assert_eq!(crate::dashboard::attr(&home.text(), "balance", "data-paid-fen"), balance["paid_fen"].to_string(), "the workplace's money is the API's");
        // The spring harvest's batches: each on its product's page, its trace page public.
        let products = app.get(&format!("/api/v1/products?producer_id={}", me["organization"]["id"].as_str().unwrap())).token(&tea).send().await.json();
        let black = products["items"].as_array().unwrap().iter().find(|p| p["name"] == "普安红茶 明前特级").unwrap()["id"].as_str().unwrap().to_owned();
        let batches = app.get(&format!("/api/v1/products/{black}/batches")).token(&tea).send().await.json();
        let batches = batches["items"].as_array().unwrap();
        assert_eq!(batches.len(), 2, "{batches:?}");
        let code = batches[0]["trace_code"].as_str().unwrap();
        let product_page = workplace.get(&format!("/producer/products/{black}")).await.text();
        assert!(product_page.contains(&format!("href=\"/trace/{code}\"")), "{product_page}");
        let labels = app.get(&format!("/api/v1/products/{black}/labels")).send().await.json();
        let states: Vec<(&str, &str)> = labels["items"].as_array().unwrap().iter().map(|l| (l["kind"].as_str().unwrap(), l["status"].as_str().unwrap())).collect();
        assert_eq!(states, [("geo_indication", "valid"), ("green_food", "expired")], "普安红's labels, one lapsed");
        let trace = app.get(&format!("/trace/{code}")).send().await;
        trace.assert_status(200);
        assert!(trace.text().contains("PA-HC-20210328") && trace.text().contains("普安县") && trace.text().contains("农产品地理标志"), "{}", trace.text());
        let mut school = crate::dashboard::Visitor::new(&app);
        school.log_in("school.hz@demo.dongxi.cn", DEMO_PASSWORD).await.assert_status(303);
        let agency_home = school.get("/agency").await;
        agency_home.assert_status(200);
        assert!(agency_home.text().contains("id=\"progress\""), "the school's administrator sees its progress");
        let orders = school.get("/agency/orders?status=completed").await;
        orders.assert_status(200);
        assert!(orders.text().contains("data-status=\"completed\""), "the school's 2021 orders are listed");
        let timing = app.get("/api/v1/reports/time-to-money?year=2021&by=county").token(&qxn).send().await.json();
        assert!(timing["overall"]["paid"].as_u64().unwrap() > 100 && timing["overall"]["median_days"].as_f64().unwrap() < 9.0, "{timing}");

        // The dashboard shows the same time to money beside progress, with a row per county.
        let mut board = crate::dashboard::Visitor::new(&app);
        board.log_in("qxn@demo.dongxi.cn", DEMO_PASSWORD).await.assert_status(303);
        let page = board.get("/dashboard?year=2021&scope=recipient%3A522300").await;
        page.assert_status(200);
        let html = page.text();
        let prefecture = app.get("/api/v1/reports/time-to-money?year=2021&by=county&region=522300").token(&qxn).send().await.json();
        let median = prefecture["overall"]["median_days"].as_f64().unwrap();
        assert_eq!(crate::dashboard::attr(&html, "ttm-median", "data-days").parse::<f64>().unwrap(), median);
        assert!(html.contains("id=\"time-to-money\""), "the table by county");
        for row in prefecture["rows"].as_array().unwrap().iter().take(15) {
            assert!(html.contains(&format!("<td>{}</td>", row["name"].as_str().unwrap())), "{row}");
        }
        let mut canteen_board = crate::dashboard::Visitor::new(&app);
        canteen_board.log_in("canteen.hz@demo.dongxi.cn", DEMO_PASSWORD).await.assert_status(303);
        let agency_page = canteen_board.get("/dashboard?year=2021").await.text();
        assert!(!agency_page.contains("ttm-median"), "a buyer's scope has no producers waiting");
    }
}
