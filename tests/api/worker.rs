//! The job runner: rows nobody can perform are set aside with the reason, never dropped or
//! retried for ever; a failing job's rows back off and keep their error.

use diesel::prelude::*;
use dongxi::db::schema::outbox;
use dongxi::outbox::RowSummary;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{NOTIFY, TestApp};

async fn row(app: &TestApp, id: String) -> RowSummary {
    app.db(move |c| dongxi::outbox::list(c, None, true, 1000).unwrap().into_iter().find(|r| r.id == id).expect("row"))
        .await
}

async fn enqueue(app: &TestApp, topic: &'static str, payload: serde_json::Value) -> String {
    let now = app.clock.now_naive();
    app.db(move |c| {
        dongxi::outbox::enqueue(c, topic, &payload, now).unwrap();
        outbox::table.filter(outbox::topic.eq(topic)).order(outbox::id.desc()).select(outbox::id).first(c).unwrap()
    })
    .await
}

backend_tests! {
    async fn a_row_of_an_unknown_topic_becomes_a_dead_letter_naming_it(app: TestApp) {
        let id = enqueue(&app, "no.such.topic", json!({"anything": 1})).await;
        assert_eq!(dongxi::worker::run_due(&app.state, |_| true).await, 1, "the row is handled: set aside");
        let r = row(&app, id.clone()).await;
        assert!(r.dead_at.is_some(), "a dead letter: {r:?}");
        let error = r.last_error.unwrap_or_default();
        assert!(error.contains("unknown outbox topic \"no.such.topic\"") && error.contains("no job is registered"), "{error}");
        assert!(error.contains("mail.send") && error.contains("search.product"), "the error lists what is known: {error}");
        // Set aside once: later passes leave it as it is (an operator retries it or not).
        assert_eq!(dongxi::worker::run_due(&app.state, |_| true).await, 0);
        let done: Option<chrono::NaiveDateTime> =
            app.db(move |c| outbox::table.find(&id).select(outbox::done_at).first(c).unwrap()).await;
        assert_eq!(done, None, "not marked done: nothing was performed");
    }

    async fn a_payload_no_job_can_read_is_set_aside_at_once(app: TestApp) {
        let id = enqueue(&app, NOTIFY, json!({"event": "nobody_knows", "order_id": "ord_x"})).await;
        let ran = dongxi::worker::run_due(&app.state, |topic| topic == NOTIFY).await;
        assert_eq!(ran, 1);
        let r = row(&app, id).await;
        assert!(r.dead_at.is_some(), "not retried twenty times: {r:?}");
        assert!(r.last_error.as_deref().unwrap_or_default().contains("cannot read"), "{r:?}");
    }
}

/// The registry pairs every payload with a job; a row written by a typed enqueue is performed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_typed_row_is_performed() {
    let app = TestApp::sqlite().await;
    let now = app.clock.now_naive();
    app.db(move |c| {
        let change = dongxi::worker::payloads::ProductChanged { product_id: "prd_none".into(), reason: None };
        dongxi::worker::enqueue(c, &change, now).unwrap();
    })
    .await;
    assert_eq!(dongxi::worker::run_due(&app.state, |_| true).await, 1);
    let left = app.db(|c| dongxi::outbox::list(c, None, false, 1000).unwrap()).await;
    assert!(left.is_empty(), "{left:?}");
}
