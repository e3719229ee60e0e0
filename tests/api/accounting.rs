use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use dongxi::accounting::snapshots::{self, Kind};

use crate::backend_tests;
use crate::helpers::{TestApp, count_rows, scalar};
use crate::orders::{World, order_body, world};

pub fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Places an order at `when` (the clock is set there).
pub async fn order_at(app: &TestApp, token: &str, lines: &[(&str, i64)], when: &str) -> Value {
    app.clock.set(t(when));
    let r = app.post("/api/v1/orders").token(token).json(order_body(lines)).send().await;
    r.assert_status(201);
    r.json()
}

/// Records the payment of `order` as made at `paid_at`, recorded an hour later (or now, if later).
pub async fn pay_at(app: &TestApp, admin: &str, order: &Value, paid_at: &str) -> Value {
    app.clock.set((t(paid_at) + chrono::Duration::hours(1)).max(app.clock.now()));
    let r = app
        .post(&format!("/api/v1/orders/{}/payments/offline", order["id"].as_str().unwrap()))
        .token(admin)
        .json(json!({"amount_fen": order["total_fen"], "reference": "ICBC-2021", "paid_at": paid_at}))
        .send()
        .await;
    r.assert_status(201);
    r.json()["order"].clone()
}

pub async fn refund_at(app: &TestApp, token: &str, sub: &str, amount: i64, when: &str) -> Value {
    app.clock.set(t(when));
    let r = app
        .post(&format!("/api/v1/sub-orders/{sub}/refunds"))
        .token(token)
        .json(json!({"amount_fen": amount, "reason": "部分破损"}))
        .send()
        .await;
    r.assert_status(201);
    r.json()
}

pub async fn report(app: &TestApp, token: &str, path: &str, query: &str) -> Value {
    let r = app.get(&format!("/api/v1/reports/{path}?{query}")).token(token).send().await;
    r.assert_status(200);
    r.json()
}

pub async fn counted(app: &TestApp, token: &str, year: i32, kind: &str, id: &str, as_of: Option<&str>) -> i64 {
    let mut q = format!("year={year}&scope_kind={kind}&scope_id={id}");
    if let Some(a) = as_of {
        q.push_str(&format!("&as_of={a}"));
    }
    report(app, token, "progress", &q).await["counted_fen"].as_i64().unwrap()
}

async fn pairing(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("/api/v1/pairings").token(token).json(body).send().await;
    r.assert_status(201);
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn ledger(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/ledger?{query}")).token(token).send().await;
    r.assert_status(200);
    r.json()["items"].as_array().unwrap().clone()
}

/// The test world's pairings: 宁波 with 黔西南州 until the handover, 惠州 from July 2021.
async fn handover(app: &TestApp, w: &World) -> (String, String) {
    let ningbo = pairing(
        app,
        &w.qxn,
        json!({"donor_region_code": "330200", "recipient_region_code": "522300", "valid_from": "2016-01-01"}),
    )
    .await;
    let huizhou = pairing(
        app,
        &w.coordinator,
        json!({"donor_region_code": "441300", "recipient_region_code": "522300", "valid_from": "2021-07-01"}),
    )
    .await;
    (ningbo, huizhou)
}

backend_tests! {
    async fn pairings_refuse_overlaps_and_keep_history(app: TestApp) {
        let w = world(&app).await;
        let ningbo = pairing(&app, &w.qxn, json!({"donor_region_code": "330200", "recipient_region_code": "522300", "valid_from": "2016-01-01"})).await;
        let p = app.post("/api/v1/pairings").token(&w.admin).json(json!({"donor_region_code": "330200", "recipient_region_code": "522300", "valid_from": "2021-07-01"})).send().await.assert_problem(409, "pairing_overlap");
        assert_eq!(p["pairing_id"], ningbo);
        // The handover: 宁波's pairing ends, 惠州's begins; both stay on record.
        app.patch(&format!("/api/v1/pairings/{ningbo}")).token(&w.coordinator).json(json!({"valid_to": "2021-06-30"})).send().await.assert_problem(403, "forbidden");
        let ended = app.patch(&format!("/api/v1/pairings/{ningbo}")).token(&w.qxn).json(json!({"valid_to": "2021-06-30"})).send().await;
        assert_eq!(ended.json()["valid_to"], "2021-06-30");
        let huizhou = pairing(&app, &w.coordinator, json!({"donor_region_code": "441300", "recipient_region_code": "522300", "valid_from": "2021-07-01"})).await;
        pairing(&app, &w.admin, json!({"donor_region_code": "330200", "recipient_region_code": "522300", "valid_from": "2022-01-01", "valid_to": "2022-12-31"})).await;
        app.patch(&format!("/api/v1/pairings/{ningbo}")).token(&w.qxn).json(json!({"valid_to": null})).send().await.assert_problem(409, "pairing_overlap");
        app.patch(&format!("/api/v1/pairings/{ningbo}")).token(&w.qxn).json(json!({"valid_to": "2015-01-01"})).send().await.assert_problem(422, "validation_failed");

        let on = |day: &'static str| { let app = &app; let token = w.school.clone(); async move {
            app.get(&format!("/api/v1/pairings?recipient=522323&on={day}")).token(&token).send().await.json()["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }};
        assert_eq!(on("2021-05-01").await, std::slice::from_ref(&ningbo));
        assert_eq!(on("2021-08-01").await, std::slice::from_ref(&huizhou));
        let from_ningbo = app.get("/api/v1/pairings?donor=330212").token(&w.school).send().await.json();
        assert_eq!(from_ningbo["items"].as_array().unwrap().len(), 2, "a Ningbo district sees its city's pairings");
        assert_eq!(app.get(&format!("/api/v1/pairings/{huizhou}")).token(&w.tea_producer).send().await.json()["donor_name"], "广东省 惠州市");
        let history = app.get(&format!("/api/v1/accounting-events?subject_kind=pairing&subject_id={ningbo}")).token(&w.school).send().await.json();
        let actions: Vec<&str> = history["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["created", "changed"], "the refused changes left nothing");

        // Bad pairings change nothing.
        for (body, status, code) in [
            (json!({"donor_region_code": "330200", "donor_org_id": w.school_id, "recipient_region_code": "522300", "valid_from": "2021-01-01"}), 422, "validation_failed"),
            (json!({"recipient_region_code": "522300", "valid_from": "2021-01-01"}), 422, "validation_failed"),
            (json!({"donor_region_code": "000000", "recipient_region_code": "522300", "valid_from": "2021-01-01"}), 422, "unknown_region"),
            (json!({"donor_region_code": "522323", "recipient_region_code": "522300", "valid_from": "2021-01-01"}), 422, "validation_failed"),
            (json!({"donor_region_code": "330200", "recipient_region_code": "441300", "valid_from": "2021-01-01"}), 422, "validation_failed"),
            (json!({"donor_region_code": "330200", "recipient_region_code": "522300", "valid_from": "2021-01-01", "valid_to": "2020-01-01"}), 422, "validation_failed"),
        ] {
            app.post("/api/v1/pairings").token(&w.admin).json(body).send().await.assert_problem(status, code);
        }
        let body = json!({"donor_region_code": "310000", "recipient_region_code": "522300", "valid_from": "2021-01-01"});
        app.post("/api/v1/pairings").token(&w.school).json(body.clone()).send().await.assert_problem(403, "forbidden");
        app.post("/api/v1/pairings").token(&w.coordinator).json(body).send().await.assert_problem(403, "forbidden");
        assert_eq!(crate::helpers::count_rows(&app, "pairings").await, 3);
    }

    async fn orders_count_to_the_pairing_in_force_then(app: TestApp) {
        let w = world(&app).await;
        let ningbo = pairing(&app, &w.qxn, json!({"donor_region_code": "330200", "recipient_region_code": "522300", "valid_from": "2016-01-01"})).await;
        // May 2021: a Ningbo agency buys tea from 普安; it counts to the Ningbo pairing.
        let may = order_at(&app, &w.stranger, &[(&w.tea, 10)], "2021-05-10T02:00:00Z").await;
        pay_at(&app, &w.admin, &may, "2021-05-11T02:00:00Z").await;
        // July: the handover.
        app.clock.set(t("2021-07-01T01:00:00Z"));
        app.patch(&format!("/api/v1/pairings/{ningbo}")).token(&w.qxn).json(json!({"valid_to": "2021-06-30"})).send().await.assert_status(200);
        let huizhou = pairing(&app, &w.coordinator, json!({"donor_region_code": "441300", "recipient_region_code": "522300", "valid_from": "2021-07-01"})).await;
        let aug_hz = order_at(&app, &w.school, &[(&w.tea, 20)], "2021-08-10T02:00:00Z").await;
        pay_at(&app, &w.admin, &aug_hz, "2021-08-11T02:00:00Z").await;
        let aug_nb = order_at(&app, &w.stranger, &[(&w.fungi, 20)], "2021-08-12T02:00:00Z").await;
        pay_at(&app, &w.admin, &aug_nb, "2021-08-13T02:00:00Z").await;

        let entries = ledger(&app, &w.admin, "year=2021").await;
        let pairing_of = |order: &Value| entries.iter().find(|e| e["order_id"] == order["id"]).unwrap()["pairing_id"].clone();
        assert_eq!(pairing_of(&may), ningbo.as_str(), "still the Ningbo pairing after the handover");
        assert_eq!(pairing_of(&aug_hz), huizhou.as_str());
        assert!(pairing_of(&aug_nb).is_null(), "Ningbo buyers after the handover count to no pairing");
        assert_eq!(counted(&app, &w.qxn, 2021, "pairing", &ningbo, None).await, 10 * 15800);
        assert_eq!(counted(&app, &w.qxn, 2021, "pairing", &huizhou, None).await, 20 * 15800);
        assert_eq!(counted(&app, &w.qxn, 2021, "recipient", "522300", None).await, 10 * 15800 + 20 * 15800 + 20 * 6200);

        // An organisation's own pairing is more specific than its region's.
        let school_pairing = pairing(&app, &w.admin, json!({"donor_org_id": w.school_id, "recipient_region_code": "522323", "valid_from": "2021-09-01"})).await;
        let sep = order_at(&app, &w.school, &[(&w.tea, 10)], "2021-09-10T02:00:00Z").await;
        pay_at(&app, &w.admin, &sep, "2021-09-11T02:00:00Z").await;
        let entries = ledger(&app, &w.admin, &format!("year=2021&scope_kind=pairing&scope_id={school_pairing}")).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["order_id"], sep["id"]);
        assert_eq!(entries[0]["buyer_region_code"], "441302");
        assert_eq!(entries[0]["origin_region_code"], "522323");
        assert_eq!(entries[0]["categories"], json!([{"category": "tea", "amount_fen": 158000}]));
    }

    async fn the_year_is_the_year_in_beijing(app: TestApp) {
        let w = world(&app).await;
        let late = order_at(&app, &w.school, &[(&w.tea, 10)], "2021-12-31T10:00:00Z").await;
        let later = order_at(&app, &w.school, &[(&w.fungi, 20)], "2021-12-31T10:05:00Z").await;
        pay_at(&app, &w.admin, &late, "2021-12-31T15:59:59Z").await;
        pay_at(&app, &w.admin, &later, "2021-12-31T16:30:00Z").await;
        let in_2021 = counted(&app, &w.coordinator, 2021, "donor", "441300", None).await;
        let in_2022 = counted(&app, &w.coordinator, 2022, "donor", "441300", None).await;
        assert_eq!((in_2021, in_2022), (158_000, 124_000), "00:30 on 1 January in Beijing is 2022");
        let jan = report(&app, &w.coordinator, "progress", "year=2022&scope_kind=donor&scope_id=441300").await;
        assert_eq!(jan["by_month"][0], json!({"month": "2022-01", "counted_fen": 124_000}));
        let dec = report(&app, &w.coordinator, "progress", "year=2021&scope_kind=donor&scope_id=441300").await;
        assert_eq!(dec["by_month"][11]["counted_fen"], 158_000);
        let entry = &ledger(&app, &w.coordinator, "year=2022&scope_kind=donor&scope_id=441300").await[0];
        assert_eq!((entry["year"].as_i64(), entry["month"].as_i64()), (Some(2022), Some(1)));
        assert_eq!(entry["counted_at"], "2021-12-31T16:30:00Z");
    }

    async fn a_refund_lowers_the_figure_and_as_of_keeps_the_old_one(app: TestApp) {
        let w = world(&app).await;
        let order = order_at(&app, &w.school, &[(&w.tea, 20), (&w.fungi, 30)], "2021-03-01T02:00:00Z").await;
        let paid = pay_at(&app, &w.admin, &order, "2021-03-02T02:00:00Z").await;
        let total = 20 * 15800 + 30 * 6200;
        assert_eq!(counted(&app, &w.coordinator, 2021, "donor", "441300", None).await, total);
        let tea_sub = paid["sub_orders"].as_array().unwrap().iter().find(|s| s["producer_id"] == w.tea_org).unwrap()["id"].as_str().unwrap().to_owned();
        refund_at(&app, &w.tea_producer, &tea_sub, 31_600, "2021-04-15T02:00:00Z").await;
        assert_eq!(counted(&app, &w.coordinator, 2021, "donor", "441300", None).await, total - 31_600);
        let before = counted(&app, &w.coordinator, 2021, "donor", "441300", Some("2021-04-10T00:00:00Z")).await;
        assert_eq!(before, total, "as_of before the refund gives the old figure");
        assert_eq!(counted(&app, &w.coordinator, 2021, "donor", "441300", Some("2021-04-10T00:00:00Z")).await, before, "and always the same");
        assert_eq!(counted(&app, &w.coordinator, 2021, "donor", "441300", Some("2021-03-01T00:00:00Z")).await, 0);
        // The reversal belongs to the count's month; the ledger shows both, with the refund's time.
        let march = report(&app, &w.coordinator, "progress", "year=2021&scope_kind=donor&scope_id=441300").await;
        assert_eq!(march["by_month"][2]["counted_fen"], total - 31_600);
        let entries = ledger(&app, &w.coordinator, "year=2021&scope_kind=donor&scope_id=441300").await;
        let reverse = entries.iter().find(|e| e["kind"] == "reverse").unwrap();
        assert_eq!(reverse["amount_fen"], -31_600);
        assert_eq!(reverse["counted_at"], "2021-04-15T02:00:00Z");
        assert_eq!(reverse["month"], 3);
        assert!(reverse["reverses_id"].is_string() && reverse["refund_id"].is_string());
        let at_refund = ledger(&app, &w.coordinator, "year=2021&scope_kind=donor&scope_id=441300&as_of=2021-04-10T00:00:00Z").await;
        assert_eq!(at_refund.len(), 2, "the two counts only");
        app.get("/api/v1/reports/progress?year=2021&scope_kind=donor&scope_id=441300&as_of=2030-01-01T00:00:00Z").token(&w.coordinator).send().await.assert_problem(422, "validation_failed");
        // Cancelling a paid order takes back all of it.
        let other = order_at(&app, &w.school, &[(&w.tea, 10)], "2021-05-01T02:00:00Z").await;
        pay_at(&app, &w.admin, &other, "2021-05-01T03:00:00Z").await;
        app.post(&format!("/api/v1/orders/{}/cancel", other["id"].as_str().unwrap())).token(&w.school).send().await.assert_status(200);
        assert_eq!(counted(&app, &w.coordinator, 2021, "donor", "441300", None).await, total - 31_600);
    }

    // As of an instant after a month-end snapshot, the largest buyers of the base may have been
    // refunded below a buyer the lines since never touch: the head of the snapshot is read
    // deep enough to find that buyer.
    async fn the_largest_buyer_as_of_an_instant_looks_past_refunded_ones(app: TestApp) {
        let w = world(&app).await;
        let mut subs = Vec::new();
        for (token, quantity) in [(&w.school, 300), (&w.bureau, 250), (&w.stranger, 150)] {
            let order = order_at(&app, token, &[(&w.tea, quantity)], "2021-01-10T02:00:00Z").await;
            let paid = pay_at(&app, &w.admin, &order, "2021-01-10T03:00:00Z").await;
            subs.push(paid["sub_orders"][0]["id"].as_str().unwrap().to_owned());
        }
        let zone = chrono_tz::Asia::Shanghai;
        let february = t("2021-01-31T16:00:00Z").naive_utc();
        let now = t("2021-02-01T00:30:00Z").naive_utc();
        assert!(app.db(move |c| snapshots::take(c, february, Kind::Month, zone, now).unwrap()).await);
        refund_at(&app, &w.tea_producer, &subs[0], 4_000_000, "2021-02-10T02:00:00Z").await;
        refund_at(&app, &w.tea_producer, &subs[1], 3_500_000, "2021-02-10T03:00:00Z").await;
        app.clock.set(t("2021-12-01T00:00:00Z"));
        let q = "year=2021&scope_kind=recipient&scope_id=522300&by=buyer_org&limit=1";
        let then = report(&app, &w.qxn, "breakdown", &format!("{q}&as_of=2021-02-12T00:00:00Z")).await;
        let rows: Vec<(i64, String)> = then["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["counted_fen"].as_i64().unwrap(), r["name"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(rows, [(150 * 14_800, "宁波市机关事务管理局".to_owned()), (640_000, "其他（2个）".to_owned())]);
        assert_eq!(then["total_fen"], 700 * 14_800 - 7_500_000);
        // Before the refunds the head of the snapshot answers alone.
        let before = report(&app, &w.qxn, "breakdown", &format!("{q}&as_of=2021-02-05T00:00:00Z")).await;
        assert_eq!(before["rows"][0]["counted_fen"], 300 * 14_800);
    }

    // The worker takes a month's snapshot once the month and the grace are over, once, and on
    // PostgreSQL leaves its tables vacuumed and analysed: autovacuum would wait for months.
    async fn the_worker_takes_a_month_end_snapshot_once_and_tidies_its_tables(app: TestApp) {
        use dongxi::worker::job::Periodic;
        use dongxi::worker::jobs::timetables::LedgerSnapshots;
        let w = world(&app).await;
        let order = order_at(&app, &w.school, &[(&w.tea, 30)], "2021-01-10T02:00:00Z").await;
        pay_at(&app, &w.admin, &order, "2021-01-10T03:00:00Z").await;
        // January ends at 16:00 UTC on the 31st (midnight in Beijing); within the ten minutes'
        // grace the latest month end due is still December's.
        // It is also a week's end (Monday 1 February): the week before's is due meanwhile.
        app.clock.set(t("2021-01-31T16:05:00Z"));
        assert!(LedgerSnapshots::tick(&app.state).await.unwrap(), "December's and 25 January's, due since then");
        assert!(!LedgerSnapshots::tick(&app.state).await.unwrap(), "taken once");
        app.clock.set(t("2021-01-31T16:11:00Z"));
        assert!(LedgerSnapshots::tick(&app.state).await.unwrap(), "January's, once the grace is over");
        assert!(!LedgerSnapshots::tick(&app.state).await.unwrap(), "taken once");
        let kinds = "SELECT COUNT(*) AS n FROM ledger_snapshots WHERE kind = 'week' AND taken_at = '2021-01-24 16:00:00'";
        assert_eq!(scalar(&app, kinds.to_owned()).await, 1, "25 January's week");
        assert_eq!(count_rows(&app, "ledger_snapshots").await, 3, "1 February is a month end, taken once as such");
        let january = "SELECT COUNT(*) AS n FROM ledger_snap_buyer_origin_province WHERE taken_at = '2021-01-31 16:00:00'";
        assert_eq!(scalar(&app, january.to_owned()).await, 1, "the one buyer of January");
        let week = "SELECT COUNT(*) AS n FROM ledger_snap_buyer_origin_province WHERE taken_at = '2021-01-24 16:00:00'";
        assert_eq!(scalar(&app, week.to_owned()).await, 1, "the buyer of 10 January, in the week's snapshot");
        let month_only = "SELECT COUNT(*) AS n FROM ledger_snap_month WHERE taken_at = '2021-01-24 16:00:00'";
        assert_eq!(scalar(&app, month_only.to_owned()).await, 0, "a week's snapshot fills the weekly tables only");
        // A week later, the next week's; two years on, 2021's weeks are dropped, its months kept.
        app.clock.set(t("2021-02-07T16:11:00Z"));
        assert!(LedgerSnapshots::tick(&app.state).await.unwrap(), "8 February's week");
        app.clock.set(t("2023-01-01T16:11:00Z"));
        assert!(LedgerSnapshots::tick(&app.state).await.unwrap(), "December 2022's month and 2 January 2023's week");
        let weeks_2021 = "SELECT COUNT(*) AS n FROM ledger_snapshots WHERE kind = 'week' AND first_year = 2021";
        assert_eq!(scalar(&app, weeks_2021.to_owned()).await, 0, "weeks of the year before last dropped");
        let rows = "SELECT COUNT(*) AS n FROM ledger_snap_buyer_origin_province WHERE taken_at = '2021-01-24 16:00:00'";
        assert_eq!(scalar(&app, rows.to_owned()).await, 0, "with their rows");
        assert_eq!(count_rows(&app, "ledger_snapshots").await, 4, "three month ends and 2 January 2023's week");
        if app.db(|c| matches!(c, dongxi::db::DbConn::Postgres(_))).await {
            for table in dongxi::accounting::snapshots::SNAPSHOTS.iter().map(|s| s.table) {
                // Whether its pages then count as all-visible depends on what else is running
                // (an older transaction holds them back), so what is checked is that it ran.
                let vacuumed = scalar(&app, format!("SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relid = '{table}'::regclass")).await;
                assert!(vacuumed > 0, "{table}: vacuumed");
                let analysed = scalar(&app, format!("SELECT COUNT(*) AS n FROM pg_stats WHERE schemaname = current_schema() AND tablename = '{table}'")).await;
                assert!(analysed > 0, "{table}: analysed, so the planner has its statistics");
            }
        }
    }

    async fn breakdown_rows_add_up_to_progress_for_every_scope(app: TestApp) {
        let w = world(&app).await;
        let (ningbo, huizhou) = handover(&app, &w).await;
        let mut n = 0;
        for (token, lines, when) in [
            (&w.school, vec![(&w.tea, 20), (&w.fungi, 30)], "2021-02-01T02:00:00Z"),
            (&w.stranger, vec![(&w.tea, 5)], "2021-03-01T02:00:00Z"),
            (&w.school_member, vec![(&w.fungi, 100)], "2021-07-05T02:00:00Z"),
            (&w.bureau, vec![(&w.tea, 60)], "2021-09-05T02:00:00Z"),
            (&w.stranger, vec![(&w.fungi, 2), (&w.tea, 1)], "2021-11-05T02:00:00Z"),
        ] {
            let lines: Vec<(&str, i64)> = lines.iter().map(|(p, q)| (p.as_str(), *q)).collect();
            let order = order_at(&app, token, &lines, when).await;
            let paid = pay_at(&app, &w.admin, &order, &(t(when) + chrono::Duration::hours(3)).to_rfc3339()).await;
            n += 1;
            if n == 3 {
                let sub = paid["sub_orders"][0]["id"].as_str().unwrap().to_owned();
                refund_at(&app, &w.fungi_producer, &sub, 12_345, "2021-07-20T02:00:00Z").await;
            }
        }
        app.clock.set(t("2021-12-01T00:00:00Z"));
        let mid = "2021-08-01T00:00:00Z";
        for (token, kind, id) in [
            (&w.qxn, "recipient", "522300"),
            (&w.qxn, "recipient", "522323"),
            (&w.admin, "recipient", "520000"),
            (&w.coordinator, "donor", "441300"),
            (&w.admin, "donor", "440000"),
            (&w.admin, "donor", "330200"),
            (&w.bureau, "org", w_bureau_id(&app).await.as_str()),
            (&w.tea_producer, "producer", w.tea_org.as_str()),
            (&w.qxn, "pairing", ningbo.as_str()),
            (&w.coordinator, "pairing", huizhou.as_str()),
        ] {
            for as_of in [None, Some(mid)] {
                let total = counted(&app, token, 2021, kind, id, as_of).await;
                assert!(total > 0 || kind == "pairing", "{kind} {id} counted nothing");
                for by in ["recipient_county", "recipient_prefecture", "donor_region", "buyer_org", "producer", "category", "month"] {
                    let mut q = format!("year=2021&scope_kind={kind}&scope_id={id}&by={by}");
                    if let Some(a) = as_of { q.push_str(&format!("&as_of={a}")); }
                    let b = report(&app, token, "breakdown", &q).await;
                    let rows: i64 = b["rows"].as_array().unwrap().iter().map(|r| r["counted_fen"].as_i64().unwrap()).sum();
                    assert_eq!(rows, b["total_fen"].as_i64().unwrap(), "{kind} {id} by {by} as of {as_of:?}");
                    assert_eq!(rows, total, "{kind} {id} by {by} as of {as_of:?}: rows against progress");
                    // Each row's drill-down lists the entries behind it.
                    if as_of.is_none() && by != "month" {
                        for row in b["rows"].as_array().unwrap() {
                            let entries = ledger(&app, token, &format!("year=2021&scope_kind={kind}&scope_id={id}&by={by}&key={}&limit=200", row["key"].as_str().unwrap())).await;
                            assert!(!entries.is_empty(), "{kind} {id} by {by} {row}: no entries behind the row");
                        }
                    }
                }
            }
        }
        let by_county = report(&app, &w.qxn, "breakdown", "year=2021&scope_kind=recipient&scope_id=522300&by=recipient_county").await;
        let names: Vec<&str> = by_county["rows"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"普安县") && names.contains(&"册亨县"), "{names:?}");
        let by_category = report(&app, &w.qxn, "breakdown", "year=2021&scope_kind=recipient&scope_id=522300&by=category").await;
        assert!(by_category["rows"].as_array().unwrap().iter().any(|r| r["name"] == "茶叶"));
        let by_donor = report(&app, &w.qxn, "breakdown", "year=2021&scope_kind=recipient&scope_id=522300&by=donor_region").await;
        let donors: Vec<&str> = by_donor["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
        assert!(donors.contains(&"441300") && donors.contains(&"330200"), "donor cities: {donors:?}");
        let by_district = report(&app, &w.coordinator, "breakdown", "year=2021&scope_kind=donor&scope_id=441300&by=donor_region").await;
        let districts: Vec<&str> = by_district["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
        assert!(districts.contains(&"441302"), "a city's donors by district: {districts:?}");
        app.get("/api/v1/reports/breakdown?year=2021&scope_kind=recipient&scope_id=522300&by=weather").token(&w.qxn).send().await.assert_problem(422, "validation_failed");
        // A limit keeps the largest rows and sums the rest into one, so the rows still add up.
        let all = report(&app, &w.qxn, "breakdown", "year=2021&scope_kind=recipient&scope_id=522300&by=buyer_org").await;
        let top = report(&app, &w.qxn, "breakdown", "year=2021&scope_kind=recipient&scope_id=522300&by=buyer_org&limit=1").await;
        let rows = top["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], all["rows"][0]);
        assert_eq!(rows[1]["key"], "_other");
        assert_eq!(rows[1]["name"], format!("其他（{}个）", all["rows"].as_array().unwrap().len() - 1));
        assert_eq!(top["total_fen"], all["total_fen"]);
        assert_eq!(rows[0]["counted_fen"].as_i64().unwrap() + rows[1]["counted_fen"].as_i64().unwrap(), all["total_fen"].as_i64().unwrap());
        app.get("/api/v1/reports/breakdown?year=2021&scope_kind=recipient&scope_id=522300&by=buyer_org&limit=0").token(&w.qxn).send().await.assert_problem(422, "validation_failed");

        // Halves, quarters and months: the parts add up to the year, for every scope and report.
        for (token, kind, id) in [
            (&w.qxn, "recipient", "522300"),
            (&w.qxn, "recipient", "522323"),
            (&w.admin, "donor", "440000"),
            (&w.coordinator, "donor", "441300"),
            (&w.tea_producer, "producer", w.tea_org.as_str()),
            (&w.coordinator, "pairing", huizhou.as_str()),
        ] {
            let year = counted(&app, token, 2021, kind, id, None).await;
            let months: Vec<String> = (1..=12).map(|m| format!("M{m:02}")).collect();
            let quarters = ["Q1", "Q2", "Q3", "Q4"].map(String::from).to_vec();
            for parts in [vec!["H1".to_string(), "H2".to_string()], quarters, months] {
                let mut sum = 0;
                for part in &parts {
                    let q = format!("year=2021&period={part}&scope_kind={kind}&scope_id={id}");
                    let p = report(&app, token, "progress", &q).await;
                    assert_eq!(p["period"], part.as_str());
                    let in_part = p["counted_fen"].as_i64().unwrap();
                    let months: i64 = p["by_month"].as_array().unwrap().iter().map(|m| m["counted_fen"].as_i64().unwrap()).sum();
                    assert_eq!(months, in_part, "{kind} {id} {part}: the period's months");
                    for by in ["recipient_county", "buyer_org", "producer", "month"] {
                        let b = report(&app, token, "breakdown", &format!("{q}&by={by}")).await;
                        assert_eq!(b["total_fen"].as_i64().unwrap(), in_part, "{kind} {id} {part} by {by}");
                    }
                    sum += in_part;
                }
                assert_eq!(sum, year, "{kind} {id}: {parts:?} against the year");
            }
        }
        let h2 = report(&app, &w.qxn, "progress", "year=2021&period=H2&scope_kind=recipient&scope_id=522300").await;
        assert_eq!((h2["starts_on"].as_str(), h2["ends_on"].as_str()), (Some("2021-07-01"), Some("2021-12-31")));
        let h2_entries = ledger(&app, &w.qxn, "year=2021&period=H2&scope_kind=recipient&scope_id=522300&limit=200").await;
        let h2_sum: i64 = h2_entries.iter().map(|e| e["amount_fen"].as_i64().unwrap()).sum();
        assert_eq!(h2_sum, h2["counted_fen"].as_i64().unwrap(), "the ledger's entries of the half add up to its figure");
        assert!(h2_entries.iter().all(|e| e["month"].as_i64().unwrap() >= 7), "{h2_entries:?}");
        app.get("/api/v1/ledger?year=2021&period=Q0&scope_kind=recipient&scope_id=522300").token(&w.qxn).send().await.assert_problem(422, "validation_failed");
        let months: Vec<&str> = h2["by_month"].as_array().unwrap().iter().map(|m| m["month"].as_str().unwrap()).collect();
        assert_eq!(months, ["2021-07", "2021-08", "2021-09", "2021-10", "2021-11", "2021-12"]);
        // July holds the third order (100 at the tier price) less its refund, which belongs to the count's month.
        let july = report(&app, &w.qxn, "progress", "year=2021&period=M07&scope_kind=recipient&scope_id=522300").await;
        assert_eq!(july["counted_fen"], 100 * 5800 - 12_345);
        let q3 = report(&app, &w.qxn, "breakdown", "year=2021&period=Q3&scope_kind=recipient&scope_id=522300&by=month").await;
        let keys: Vec<&str> = q3["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["2021-07", "2021-08", "2021-09"]);
        for bad in ["H3", "Q5", "M13", "half", "q1"] {
            for path in ["progress", "laggards"] {
                app.get(&format!("/api/v1/reports/{path}?year=2021&period={bad}&scope_kind=recipient&scope_id=522300")).token(&w.qxn).send().await.assert_problem(422, "validation_failed");
            }
            app.get(&format!("/api/v1/reports/breakdown?year=2021&period={bad}&scope_kind=recipient&scope_id=522300&by=month")).token(&w.qxn).send().await.assert_problem(422, "validation_failed");
        }
        // A half-year file says which half.
        let r = app.get("/api/v1/reports/progress?year=2021&period=H1&scope_kind=recipient&scope_id=522300&format=csv").token(&w.qxn).send().await;
        r.assert_status(200);
        assert!(r.text().contains("2021年上半年"), "{}", r.text());
        let disposition = r.headers.get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(disposition.contains("2021-H1"), "{disposition}");
    }
}

async fn w_bureau_id(app: &TestApp) -> String {
    app.db(|c| {
        use diesel::prelude::*;
        dongxi::db::schema::organizations::table
            .filter(dongxi::db::schema::organizations::name.eq("惠州市教育局"))
            .select(dongxi::db::schema::organizations::id)
            .first::<String>(c)
            .unwrap()
    })
    .await
}

backend_tests! {
    async fn a_closed_year_never_changes(app: TestApp) {
        let w = world(&app).await;
        let order = order_at(&app, &w.school, &[(&w.tea, 50)], "2021-11-01T02:00:00Z").await;
        let paid = pay_at(&app, &w.admin, &order, "2021-11-02T02:00:00Z").await;
        let late = order_at(&app, &w.school, &[(&w.fungi, 20)], "2021-12-30T02:00:00Z").await;
        app.clock.set(t("2022-01-20T02:00:00Z"));
        let target = app.post("/api/v1/targets").token(&w.coordinator).json(json!({"year": 2021, "scope_kind": "donor", "scope_id": "441300", "amount_fen": 1_000_000})).send().await;
        target.assert_status(201);
        let target_id = target.json()["id"].as_str().unwrap().to_owned();
        app.post("/api/v1/periods/2022/close").token(&w.admin).send().await.assert_problem(422, "validation_failed");
        app.post("/api/v1/periods/2021/close").token(&w.coordinator).send().await.assert_problem(403, "forbidden");
        let closed = app.post("/api/v1/periods/2021/close").token(&w.admin).send().await;
        closed.assert_status(200);
        assert_eq!(closed.json()["year"], 2021);
        app.post("/api/v1/periods/2021/close").token(&w.admin).send().await.assert_problem(409, "period_closed");
        let before = report(&app, &w.coordinator, "progress", "year=2021&scope_kind=donor&scope_id=441300").await;
        assert_eq!(before["counted_fen"], 50 * 14800);

        // A refund of a 2021 order and a late 2021 payment post into 2022, naming the year they adjust.
        let sub = paid["sub_orders"][0]["id"].as_str().unwrap().to_owned();
        refund_at(&app, &w.tea_producer, &sub, 14_800, "2022-02-01T02:00:00Z").await;
        pay_at(&app, &w.admin, &late, "2021-12-31T02:00:00Z").await;
        let after = report(&app, &w.coordinator, "progress", "year=2021&scope_kind=donor&scope_id=441300").await;
        assert_eq!(after["counted_fen"], before["counted_fen"]);
        assert_eq!(after["by_month"], before["by_month"]);
        let next = ledger(&app, &w.coordinator, "year=2022&scope_kind=donor&scope_id=441300").await;
        assert_eq!(next.len(), 2);
        assert!(next.iter().all(|e| e["adjusts_year"] == 2021), "{next:?}");
        assert_eq!(next.iter().map(|e| e["amount_fen"].as_i64().unwrap()).sum::<i64>(), -14_800 + 20 * 6200);
        assert_eq!(next.iter().find(|e| e["kind"] == "count").unwrap()["counted_at"], "2021-12-31T02:00:00Z");
        assert_eq!(counted(&app, &w.coordinator, 2022, "donor", "441300", None).await, -14_800 + 20 * 6200);
        // Its targets and filings are frozen too.
        app.patch(&format!("/api/v1/targets/{target_id}")).token(&w.coordinator).json(json!({"amount_fen": 2})).send().await.assert_problem(409, "period_closed");
        app.post("/api/v1/targets").token(&w.coordinator).json(json!({"year": 2021, "scope_kind": "donor", "scope_id": "441302", "amount_fen": 5})).send().await.assert_problem(409, "period_closed");
        app.request(axum::http::Method::PUT, &format!("/api/v1/organizations/{}/filings/2021", w.school_id)).token(&w.school).json(json!({"canteen_budget_fen": 100, "share_bp": 1000})).send().await.assert_problem(409, "period_closed");
        assert_eq!(app.get("/api/v1/periods").token(&w.school).send().await.json()["items"][0]["year"], 2021);
    }

    async fn targets_filings_and_laggards(app: TestApp) {
        let w = world(&app).await;
        app.clock.set(t("2021-01-10T02:00:00Z"));
        let bureau_id = w_bureau_id(&app).await;
        // Targets: who may set what.
        let target = |token: &str, body: Value| app.post("/api/v1/targets").token(token).json(body).send();
        target(&w.qxn, json!({"year": 2021, "scope_kind": "recipient", "scope_id": "522300", "amount_fen": 37_000_000_000i64})).await.assert_status(201);
        target(&w.qxn, json!({"year": 2021, "scope_kind": "recipient", "scope_id": "522300", "amount_fen": 1})).await.assert_problem(409, "target_exists");
        target(&w.qxn, json!({"year": 2021, "scope_kind": "donor", "scope_id": "441300", "amount_fen": 100})).await.assert_problem(403, "forbidden");
        target(&w.school, json!({"year": 2021, "scope_kind": "org", "scope_id": w.school_id, "amount_fen": 100})).await.assert_problem(403, "forbidden");
        target(&w.bureau, json!({"year": 2021, "scope_kind": "org", "scope_id": w.school_id, "amount_fen": 100})).await.assert_status(201);
        target(&w.admin, json!({"year": 2021, "scope_kind": "planet", "scope_id": "earth", "amount_fen": 100})).await.assert_problem(422, "validation_failed");
        target(&w.admin, json!({"year": 2021, "scope_kind": "org", "scope_id": "org_nosuch", "amount_fen": 100})).await.assert_problem(422, "validation_failed");
        target(&w.admin, json!({"year": 1999, "scope_kind": "recipient", "scope_id": "522300", "amount_fen": 100})).await.assert_problem(422, "validation_failed");
        target(&w.admin, json!({"year": 2021, "scope_kind": "recipient", "scope_id": "522323", "amount_fen": 0})).await.assert_problem(422, "validation_failed");

        // Filings: under 10% needs a reason; the bureau (parent) decides; approval sets the target.
        let file = |token: &str, body: Value| app.request(axum::http::Method::PUT, &format!("/api/v1/organizations/{}/filings/2021", w.school_id)).token(token).json(body).send();
        file(&w.school_member, json!({"canteen_budget_fen": 300_000_000, "share_bp": 1000})).await.assert_problem(403, "forbidden");
        file(&w.bureau, json!({"canteen_budget_fen": 300_000_000, "share_bp": 1000})).await.assert_problem(403, "forbidden");
        let p = file(&w.school, json!({"canteen_budget_fen": 300_000_000, "share_bp": 800})).await.assert_problem(422, "validation_failed");
        assert_eq!(p["errors"][0]["field"], "exemption_reason");
        file(&w.school, json!({"canteen_budget_fen": 300_000_000, "share_bp": 10_001})).await.assert_problem(422, "validation_failed");
        file(&w.school, json!({"canteen_budget_fen": 5, "share_bp": 0, "no_canteen": true})).await.assert_problem(422, "validation_failed");
        let first = file(&w.school, json!({"canteen_budget_fen": 300_000_000, "share_bp": 800, "exemption_reason": "食堂外包"})).await;
        first.assert_status(201);
        assert_eq!(first.json()["status"], "submitted");
        assert_eq!(first.json()["target_fen"], 24_000_000);
        let decide = |token: &str, action: &str, body: Value| app.post(&format!("/api/v1/organizations/{}/filings/2021/{action}", w.school_id)).token(token).json(body).send();
        decide(&w.school, "approve", json!({})).await.assert_problem(403, "forbidden");
        decide(&w.stranger, "approve", json!({})).await.assert_problem(404, "not_found");
        decide(&w.bureau, "return", json!({"reason": ""})).await.assert_problem(422, "validation_failed");
        let back = decide(&w.bureau, "return", json!({"reason": "外包食堂同样需按10%预留"})).await;
        assert_eq!(back.json()["status"], "returned");
        decide(&w.bureau, "approve", json!({})).await.assert_problem(409, "invalid_state");
        let again = file(&w.school, json!({"canteen_budget_fen": 300_000_000, "share_bp": 1000})).await;
        again.assert_status(200);
        let approved = decide(&w.coordinator, "approve", json!({})).await;
        assert_eq!(approved.json()["status"], "approved");
        let targets = app.get(&format!("/api/v1/targets?year=2021&scope_kind=org&scope_id={}", w.school_id)).token(&w.school).send().await.json();
        assert_eq!(targets["items"][0]["amount_fen"], 30_000_000, "the filing replaced the bureau's target");
        assert_eq!(targets["items"][0]["source"], "filing");
        let bureau_file = app.request(axum::http::Method::PUT, &format!("/api/v1/organizations/{bureau_id}/filings/2021")).token(&w.bureau).json(json!({"canteen_budget_fen": 0, "share_bp": 0, "no_canteen": true})).send().await;
        bureau_file.assert_status(201);
        assert!(bureau_file.json()["target_fen"].is_null());
        app.post(&format!("/api/v1/organizations/{bureau_id}/filings/2021/approve")).token(&w.coordinator).send().await.assert_status(200);
        assert_eq!(app.get("/api/v1/filings?year=2021&status=approved").token(&w.coordinator).send().await.json()["items"].as_array().unwrap().len(), 2);
        assert_eq!(app.get("/api/v1/filings").token(&w.stranger).send().await.json()["items"], json!([]));
        let history = app.get(&format!("/api/v1/accounting-events?subject_kind=filing&subject_id={}", approved.json()["id"].as_str().unwrap())).token(&w.school).send().await.json();
        let actions: Vec<&str> = history["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["submitted", "returned", "submitted", "approved"]);
        app.get(&format!("/api/v1/accounting-events?subject_kind=filing&subject_id={}", approved.json()["id"].as_str().unwrap())).token(&w.stranger).send().await.assert_problem(404, "not_found");

        // The school buys ¥126,800 by mid-year: 42% of its ¥300,000, over 80% of the even pace.
        let o = order_at(&app, &w.school, &[(&w.tea, 700), (&w.fungi, 400)], "2021-06-01T02:00:00Z").await;
        pay_at(&app, &w.admin, &o, "2021-06-02T02:00:00Z").await;
        app.clock.set(t("2021-07-02T16:00:00Z"));
        let mine = report(&app, &w.school, "progress", &format!("year=2021&scope_kind=org&scope_id={}", w.school_id)).await;
        assert_eq!(mine["target_fen"], 30_000_000);
        assert_eq!(mine["counted_fen"], 700 * 14800 + 400 * 5800);
        assert_eq!(mine["status"], "on_track", "42% of the year's target at half-time");
        let stranger_org = app.get("/api/v1/me").token(&w.stranger).send().await.json()["organization"]["id"].as_str().unwrap().to_owned();
        app.clock.set(t("2021-01-11T02:00:00Z"));
        app.request(axum::http::Method::PUT, &format!("/api/v1/organizations/{stranger_org}/filings/2021")).token(&w.stranger).json(json!({"canteen_budget_fen": 100_000_000, "share_bp": 1200})).send().await.assert_status(201);
        app.post(&format!("/api/v1/organizations/{stranger_org}/filings/2021/approve")).token(&w.admin).send().await.assert_status(200);
        let small = order_at(&app, &w.stranger, &[(&w.tea, 1)], "2021-02-01T02:00:00Z").await;
        pay_at(&app, &w.admin, &small, "2021-02-02T02:00:00Z").await;
        app.clock.set(t("2021-07-02T16:00:00Z"));
        let nb = report(&app, &w.admin, "progress", &format!("year=2021&scope_kind=org&scope_id={stranger_org}")).await;
        assert_eq!(nb["target_fen"], 12_000_000);
        assert_eq!(nb["status"], "behind");
        let expected = nb["expected_to_date_fen"].as_i64().unwrap();
        assert!((5_950_000..6_050_000).contains(&expected), "half of ¥120,000 by 3 July: {expected}");
        assert!(nb["projected_year_end_fen"].as_i64().unwrap() > nb["counted_fen"].as_i64().unwrap());
        let laggards = report(&app, &w.admin, "laggards", "year=2021&scope_kind=donor&scope_id=330000").await;
        assert_eq!(laggards["rows"].as_array().unwrap().len(), 1);
        assert_eq!(laggards["rows"][0]["org_id"], stranger_org);
        let hz = report(&app, &w.coordinator, "laggards", "year=2021&scope_kind=donor&scope_id=441300").await;
        let rows = hz["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "the bureau has no canteen, so no target: {rows:?}");
        assert_eq!(rows[0]["name"], "惠州市第一中学");
        assert_eq!(rows[0]["ratio"], 0.4227);
        assert_eq!(report(&app, &w.bureau, "laggards", &format!("year=2021&scope_kind=org&scope_id={bureau_id}")).await["rows"][0]["org_id"], w.school_id);

        // By half-year: each half's target is its share of the year's (181 and 184 of 365 days).
        let h1 = report(&app, &w.school, "progress", &format!("year=2021&period=H1&scope_kind=org&scope_id={}", w.school_id)).await;
        let h2 = report(&app, &w.school, "progress", &format!("year=2021&period=H2&scope_kind=org&scope_id={}", w.school_id)).await;
        assert_eq!(h1["year_target_fen"], 30_000_000);
        assert_eq!(h1["target_fen"], 30_000_000i64 * 181 / 365);
        assert_eq!(h1["target_fen"].as_i64().unwrap() + h2["target_fen"].as_i64().unwrap(), 30_000_000);
        assert_eq!(h1["counted_fen"], 700 * 14800 + 400 * 5800, "bought in June");
        assert_eq!(h2["counted_fen"], 0);
        assert_eq!(h1["ratio"], 0.8523, "¥126,800 of the half's ¥148,767.12");
        assert_eq!(h1["status"], "on_track");
        assert_eq!(h2["expected_to_date_fen"], 164_383, "3 July in Beijing: two days of the second half");
        let lag_h1 = report(&app, &w.coordinator, "laggards", "year=2021&period=H1&scope_kind=donor&scope_id=441300").await;
        assert_eq!(lag_h1["rows"][0]["target_fen"], h1["target_fen"]);
        assert_eq!(lag_h1["rows"][0]["ratio"], 0.8523);
        assert_eq!(lag_h1["period"], "H1");
    }

    async fn report_visibility_follows_the_scope(app: TestApp) {
        let w = world(&app).await;
        let bureau_id = w_bureau_id(&app).await;
        let (ningbo_pairing, _) = handover(&app, &w).await;
        let ok = |token: &str, q: String| { let app = &app; let token = token.to_owned(); async move {
            app.get(&format!("/api/v1/reports/progress?year=2021&{q}")).token(&token).send().await
        }};
        ok(&w.qxn, "scope_kind=recipient&scope_id=522300".into()).await.assert_status(200);
        ok(&w.qxn, "scope_kind=recipient&scope_id=522323".into()).await.assert_status(200);
        ok(&w.qxn, "scope_kind=donor&scope_id=441300".into()).await.assert_problem(403, "forbidden");
        ok(&w.qxn, format!("scope_kind=pairing&scope_id={ningbo_pairing}")).await.assert_status(200);
        ok(&w.qxn, format!("scope_kind=producer&scope_id={}", w.tea_org)).await.assert_status(200);
        ok(&w.coordinator, "scope_kind=donor&scope_id=441302".into()).await.assert_status(200);
        ok(&w.coordinator, format!("scope_kind=org&scope_id={}", w.school_id)).await.assert_status(200);
        ok(&w.coordinator, format!("scope_kind=pairing&scope_id={ningbo_pairing}")).await.assert_problem(403, "forbidden");
        ok(&w.coordinator, "scope_kind=recipient&scope_id=522300".into()).await.assert_problem(403, "forbidden");
        ok(&w.bureau, format!("scope_kind=org&scope_id={}", w.school_id)).await.assert_status(200);
        ok(&w.bureau, format!("scope_kind=org&scope_id={bureau_id}")).await.assert_status(200);
        ok(&w.school, format!("scope_kind=org&scope_id={bureau_id}")).await.assert_problem(403, "forbidden");
        ok(&w.school_member, format!("scope_kind=org&scope_id={}", w.school_id)).await.assert_problem(403, "forbidden");
        ok(&w.stranger, format!("scope_kind=org&scope_id={}", w.school_id)).await.assert_problem(404, "not_found");
        ok(&w.tea_producer, format!("scope_kind=producer&scope_id={}", w.tea_org)).await.assert_status(200);
        ok(&w.tea_producer, format!("scope_kind=producer&scope_id={}", w.fungi_org)).await.assert_problem(403, "forbidden");
        ok(&w.tea_producer, "scope_kind=recipient&scope_id=522323".into()).await.assert_problem(403, "forbidden");
        ok(&w.platform_member, "scope_kind=donor&scope_id=330000".into()).await.assert_status(200);
        ok(&w.admin, "scope_kind=recipient&scope_id=000000".into()).await.assert_problem(404, "not_found");
        ok(&w.admin, "scope_kind=country&scope_id=100000".into()).await.assert_problem(422, "validation_failed");
        app.get("/api/v1/reports/progress?year=2021&scope_kind=recipient&scope_id=522300").send().await.assert_problem(401, "unauthenticated");
        app.get("/api/v1/ledger?year=2021").token(&w.qxn).send().await.assert_problem(422, "validation_failed");
        app.get("/api/v1/ledger?year=2021&scope_kind=donor&scope_id=441300").token(&w.qxn).send().await.assert_problem(403, "forbidden");
        app.get("/api/v1/ledger?year=2021").token(&w.admin).send().await.assert_status(200);
    }

    async fn exports_have_chinese_headers_and_yuan(app: TestApp) {
        let w = world(&app).await;
        let order = order_at(&app, &w.school, &[(&w.tea, 20), (&w.fungi, 30)], "2021-03-01T02:00:00Z").await;
        pay_at(&app, &w.admin, &order, "2021-03-02T02:00:00Z").await;
        app.clock.set(t("2021-12-31T16:00:00Z"));
        let csv = app.get("/api/v1/reports/breakdown?year=2021&scope_kind=recipient&scope_id=522300&by=recipient_county&format=csv").token(&w.qxn).send().await;
        csv.assert_status(200);
        assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
        assert!(csv.headers["content-disposition"].to_str().unwrap().starts_with("attachment;"));
        let text = csv.text();
        assert!(text.starts_with('\u{FEFF}'), "a byte-order mark for Excel");
        let lines: Vec<&str> = text.trim_start_matches('\u{FEFF}').lines().collect();
        assert!(lines[0].contains("贵州省 黔西南布依族苗族自治州 2021年") && lines[0].contains("截至 2022年01月01日 00:00（北京时间）"), "{}", lines[0]);
        assert_eq!(lines[1], "受援县,代码,已计入（元）,目标（元）,完成率");
        assert!(lines.iter().any(|l| l.starts_with("普安县,522323,3160.00")), "{lines:?}");
        assert_eq!(*lines.last().unwrap(), "合计,,5020.00,,");

        let xlsx = app.get("/api/v1/reports/progress?year=2021&scope_kind=donor&scope_id=441300&format=xlsx").token(&w.coordinator).send().await;
        xlsx.assert_status(200);
        assert_eq!(xlsx.headers["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
        let rows = read_xlsx(xlsx.body.clone());
        assert!(rows[0][0].contains("惠州市 2021年 消费帮扶进度"), "{:?}", rows[0]);
        assert!(rows.iter().any(|r| r[0] == "已计入（元）" && r[1] == "5020"), "{rows:?}");
        let header = rows.iter().position(|r| r[0] == "月份").expect("a header row");
        assert_eq!(rows[header], ["月份", "当月计入（元）", "累计计入（元）"]);
        assert_eq!(rows[header + 3][0..2], ["2021-03".to_owned(), "5020".to_owned()]);
        let ledger = app.get("/api/v1/ledger?year=2021&scope_kind=donor&scope_id=441300&format=xlsx").token(&w.coordinator).send().await;
        let rows = read_xlsx(ledger.body.clone());
        assert_eq!(rows[1][0..5], ["记账编号", "类型", "订单号", "子订单号", "金额（元）"].map(String::from));
        assert_eq!(rows.len(), 4, "title, header, two entries");
        let laggards = app.get("/api/v1/reports/laggards?year=2021&scope_kind=donor&scope_id=441300&format=csv").token(&w.coordinator).send().await;
        assert!(laggards.text().contains("单位,类型,目标（元）,已计入（元）,完成率,序时进度（元）,状态"));
        app.get("/api/v1/reports/progress?year=2021&scope_kind=donor&scope_id=441300&format=pdf").token(&w.coordinator).send().await.assert_problem(422, "validation_failed");
    }
}

/// Every cell of the first sheet, as text (numbers without trailing zeros).
pub fn read_xlsx(bytes: Vec<u8>) -> Vec<Vec<String>> {
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).expect("an xlsx file");
    let name = book.sheet_names()[0].clone();
    assert_eq!(name, "报表");
    let range = book.worksheet_range(&name).expect("a sheet");
    range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
}

/// With `DONGXI_COUNT_ON=accepted` an order counts only when accepted, net of refunds made before.
async fn counting_on_acceptance(app: TestApp) {
    let w = world(&app).await;
    let order = order_at(&app, &w.school, &[(&w.tea, 20), (&w.fungi, 20)], "2021-03-01T02:00:00Z").await;
    let paid = pay_at(&app, &w.admin, &order, "2021-03-02T02:00:00Z").await;
    assert_eq!(counted(&app, &w.coordinator, 2021, "donor", "441300", None).await, 0, "paid is not yet counted");
    let subs = paid["sub_orders"].as_array().unwrap().clone();
    let tea_sub = subs.iter().find(|s| s["producer_id"] == w.tea_org).unwrap()["id"].as_str().unwrap().to_owned();
    let fungi_sub = subs.iter().find(|s| s["producer_id"] == w.fungi_org).unwrap()["id"].as_str().unwrap().to_owned();
    for (token, sub) in [(&w.tea_producer, &tea_sub), (&w.fungi_producer, &fungi_sub)] {
        app.clock.set(t("2021-03-05T02:00:00Z"));
        app.post(&format!("/api/v1/sub-orders/{sub}/ship"))
            .token(token)
            .json(json!({"carrier": "顺丰", "tracking_no": "SF1"}))
            .send()
            .await
            .assert_status(200);
    }
    refund_at(&app, &w.tea_producer, &tea_sub, 10_000, "2021-03-06T02:00:00Z").await;
    app.clock.set(t("2021-12-31T16:10:00Z"));
    app.post(&format!("/api/v1/sub-orders/{tea_sub}/accept"))
        .token(&w.school)
        .json(json!({}))
        .send()
        .await
        .assert_status(200);
    assert_eq!(
        counted(&app, &w.coordinator, 2022, "donor", "441300", None).await,
        20 * 15800 - 10_000,
        "accepted at 00:10 on 1 January 2022 in Beijing"
    );
    assert_eq!(counted(&app, &w.coordinator, 2021, "donor", "441300", None).await, 0);
    refund_at(&app, &w.tea_producer, &tea_sub, 5_000, "2022-01-05T02:00:00Z").await;
    assert_eq!(counted(&app, &w.coordinator, 2022, "donor", "441300", None).await, 20 * 15800 - 15_000);
    // Refunded in full before acceptance: never counts.
    refund_at(&app, &w.fungi_producer, &fungi_sub, 20 * 6200, "2022-01-06T02:00:00Z").await;
    let entries = ledger(&app, &w.admin, "year=2022").await;
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e["sub_order_id"] == tea_sub.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_on_acceptance_sqlite() {
    counting_on_acceptance(TestApp::sqlite_with(&[("DONGXI_COUNT_ON", "accepted")]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_on_acceptance_postgres() {
    if let Some(app) = TestApp::postgres_with(&[("DONGXI_COUNT_ON", "accepted")]).await {
        counting_on_acceptance(app).await;
    }
}
