//! Scale-out: reports read from a replica (`DATABASE_READ_URL`) while writes stay on the
//! primary; several `serve` processes and a `worker` on one PostgreSQL never do work twice.

use crate::accounting::{order_at, pay_at, report};
use crate::backend_tests;
use crate::dashboard::{Visitor, attr, scene};
use crate::helpers::PASSWORD;

backend_tests! {
    async fn reports_read_from_the_replica_and_writes_go_to_the_primary(app: TestApp) {
        let (w, _) = scene(&app).await;
        let progress = "year=2021&scope_kind=donor&scope_id=441300";
        let before = report(&app, &w.coordinator, "progress", progress).await["counted_fen"].as_i64().unwrap();
        let replica_url = app.snapshot().await;
        // A third order is paid after the copy: the replica trails the primary by it.
        let third = order_at(&app, &w.school, &[(&w.tea, 10)], "2021-07-20T02:00:00Z").await;
        pay_at(&app, &w.admin, &third, "2021-07-21T02:00:00Z").await;
        app.clock.set(crate::accounting::t("2021-08-02T02:00:00Z"));
        let now = report(&app, &w.coordinator, "progress", progress).await["counted_fen"].as_i64().unwrap();
        assert_eq!(now, before + third["total_fen"].as_i64().unwrap());

        let served = app.with_replica(&replica_url);
        assert!(served.state.db.has_replica());
        // Every report, the ledger and the dashboard answer from the replica …
        assert_eq!(report(&served, &w.coordinator, "progress", progress).await["counted_fen"], before, "progress from the replica");
        let breakdown = report(&served, &w.coordinator, "breakdown", &format!("{progress}&by=category")).await;
        assert_eq!(breakdown["total_fen"], before);
        let ledger = served.get(&format!("/api/v1/ledger?{progress}")).token(&w.coordinator).send().await.json();
        assert_eq!(ledger["items"].as_array().unwrap().len(), 3, "the entries of the first two orders only");
        let mut browser = Visitor::new(&served);
        browser.log_in(crate::dashboard::COORDINATOR, PASSWORD).await.assert_status(303);
        let page = browser.get("/dashboard?year=2021&scope=donor:441300").await.text();
        assert_eq!(attr(&page, "counted", "data-fen"), before.to_string(), "the dashboard from the replica");
        // … while writes (and what must see them at once: sign-ins, orders) use the primary.
        let order = served.post("/api/v1/orders").token(&w.school).json(crate::orders::order_body(&[(&w.tea, 1)])).send().await;
        order.assert_status(201);
        let id = order.json()["id"].as_str().unwrap().to_owned();
        served.get(&format!("/api/v1/orders/{id}")).token(&w.school).send().await.assert_status(200);
        let on_primary = served.db(move |c| dongxi::orders::model::find(c, &id).unwrap().is_some()).await;
        assert!(on_primary, "the order is on the primary");
        // The replica's connections refuse writes outright.
        let refused = served.state.db.read(|c| {
            use diesel::RunQueryDsl;
            let q = diesel::sql_query("DELETE FROM targets");
            Ok(match c { dongxi::db::DbConn::Sqlite(c) => q.execute(c), dongxi::db::DbConn::Postgres(c) => q.execute(c) })
        }).await.unwrap();
        assert!(refused.is_err(), "a write on the replica");
        assert_eq!(report(&served, &w.admin, "progress", "year=2021&scope_kind=recipient&scope_id=522300").await["target_fen"], 50_000_000, "nothing was deleted");
    }
}
