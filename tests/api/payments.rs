//! Card payments through a real Stripe-compatible server (localstripe, at
//! `DONGXI_TEST_STRIPE_URL`): intents, signed webhooks delivered to a real listening server and
//! handled once, declines, refunds both ways, reconciliation. One webhook endpoint per test
//! process is registered through localstripe's `/_config/webhooks/` and fans events out to the
//! tests' apps.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use dongxi::db::schema::{ledger_entries, orders, payments, refunds, stripe_events};
use dongxi::payments::signature;
use serde_json::{Value, json};

use crate::helpers::{TestApp, service_env};
use crate::orders::{World, place, world};

const KEY: &str = "sk_test_dongxi";

/// The Stripe-compatible server, spoken to directly (as a card holder's browser, or Stripe's
/// dashboard, would).
pub struct Stripe {
    pub base: String,
    http: reqwest::Client,
}

impl Stripe {
    pub async fn call(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}/v1{path}", self.base))
            .basic_auth(KEY, None::<&str>)
            .form(form)
            .send()
            .await
            .expect("localstripe answers");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let (status, body) = self.call(reqwest::Method::POST, path, form).await;
        assert!(status < 300, "POST {path}: {status} {body}");
        body
    }
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, &[]).await;
        assert!(status < 300, "GET {path}: {status} {body}");
        body
    }

    pub async fn refunds_of(&self, intent: &str) -> Vec<Value> {
        self.get(&format!("/refunds?payment_intent={intent}")).await["data"].as_array().cloned().unwrap_or_default()
    }

    /// Confirms a PaymentIntent with a test card, as Stripe.js would; returns the HTTP status.
    pub async fn pay_with_card(&self, intent: &str, card: &str) -> u16 {
        let pm = self
            .post(
                "/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", card),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2030"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        self.post(&format!("/payment_intents/{intent}"), &[("payment_method", pm["id"].as_str().unwrap())]).await;
        self.call(reqwest::Method::POST, &format!("/payment_intents/{intent}/confirm"), &[]).await.0
    }
}

/// Every test app that takes card payments; the hub hands each webhook delivery to all of them
/// (an app ignores events for intents it does not know).
type Apps = std::sync::Mutex<Vec<(u64, axum::Router)>>;

static HUB: std::sync::OnceLock<(String, &'static Apps)> = std::sync::OnceLock::new();
const HUB_SECRET: &str = "whsec_dongxi_test_hub";

/// One webhook endpoint for the whole test process, registered once with the Stripe-compatible
/// server: localstripe posts each event to every registered endpoint in turn and loses events
/// when endpoints are registered meanwhile, so tests must not each register their own. The hub
/// runs on its own thread and runtime, outliving each test's runtime.
fn hub(base: &str) -> &'static (String, &'static Apps) {
    HUB.get_or_init(|| {
        let apps: &'static Apps = Box::leak(Box::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let base = base.to_owned();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("hub runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the hub");
                let addr = listener.local_addr().expect("hub address");
                let register = reqwest::Client::new()
                    .post(format!("{base}/_config/webhooks/dongxi-tests"))
                    .form(&[("url", format!("http://{addr}/")), ("secret", HUB_SECRET.to_owned())])
                    .send()
                    .await
                    .map(|r| r.status().is_success());
                tx.send((addr, register)).expect("hub address sent");
                let fan_out = axum::Router::new().fallback(move |request: axum::extract::Request| async move {
                    use tower::ServiceExt;
                    let (parts, body) = request.into_parts();
                    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                    let routers: Vec<axum::Router> = apps.lock().unwrap().iter().map(|(_, r)| r.clone()).collect();
                    for router in routers {
                        let mut forwarded =
                            axum::http::Request::builder().method("POST").uri("/api/v1/webhooks/stripe");
                        for (name, value) in parts.headers.iter() {
                            forwarded = forwarded.header(name, value);
                        }
                        let _ = router.oneshot(forwarded.body(axum::body::Body::from(body.clone())).unwrap()).await;
                    }
                    axum::http::StatusCode::OK
                });
                axum::serve(listener, fan_out).await.expect("hub serves");
            });
        });
        let (addr, registered) = rx.recv().expect("hub started");
        assert!(matches!(registered, Ok(true)), "webhook registration at the Stripe-compatible server: {registered:?}");
        (format!("http://{addr}/"), apps)
    })
}

/// Removes its app from the hub when the test ends.
pub struct Subscribed(u64);

impl Drop for Subscribed {
    fn drop(&mut self) {
        if let Some((_, apps)) = HUB.get() {
            apps.lock().unwrap_or_else(|p| p.into_inner()).retain(|(id, _)| *id != self.0);
        }
    }
}

pub struct Card {
    pub app: TestApp,
    pub stripe: Stripe,
    secret: String,
    pub w: World,
    subscribed: Option<Subscribed>,
}

/// A test app configured for Stripe at the local server and subscribed to its webhooks, with
/// the clock at the real time (signatures are checked against it).
pub async fn card_app(postgres: bool) -> Option<Card> {
    let base = service_env("DONGXI_TEST_STRIPE_URL", "the Stripe payment tests")?.trim_end_matches('/').to_owned();
    let extra = [("STRIPE_SECRET_KEY", KEY), ("STRIPE_WEBHOOK_SECRET", HUB_SECRET), ("STRIPE_API_BASE", base.as_str())];
    let app = if postgres {
        let url = service_env("DONGXI_TEST_DATABASE_URL", "the PostgreSQL half of the Stripe tests")?;
        TestApp::postgres_at(&url, &extra).await
    } else {
        TestApp::sqlite_with(&extra).await
    };
    app.clock.set(Utc::now());
    let (_, apps) = hub(&base);
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    apps.lock().unwrap().push((id, app.router.clone()));
    let w = world(&app).await;
    let stripe = Stripe { base, http: reqwest::Client::new() };
    Some(Card { app, stripe, secret: HUB_SECRET.to_owned(), w, subscribed: Some(Subscribed(id)) })
}

impl Card {
    /// Stops the Stripe-compatible server's own deliveries to this app: the test becomes the
    /// only one delivering events, in the order it chooses.
    fn unsubscribe(&mut self) {
        self.subscribed = None;
    }

    async fn start_payment(&self, order: &str, key: &str) -> Value {
        let r = self
            .app
            .post(&format!("/api/v1/orders/{order}/payments/stripe"))
            .token(&self.w.school)
            .header("idempotency-key", key)
            .send()
            .await;
        r.assert_status(201);
        r.json()
    }

    pub async fn order(&self, id: &str) -> Value {
        self.app.get(&format!("/api/v1/orders/{id}")).token(&self.w.school).send().await.json()
    }

    /// Waits (up to 15 s) until `check` holds of the order.
    pub async fn order_until(&self, id: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..150 {
            let order = self.order(id).await;
            if check(&order) {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("order {id} never got there: {}", self.order(id).await);
    }

    async fn payment_status(&self, intent: &str) -> String {
        let intent = intent.to_owned();
        self.app
            .db(move |c| {
                payments::table.filter(payments::external_id.eq(intent)).select(payments::status).first(c).unwrap()
            })
            .await
    }

    /// Signs `event` as Stripe would, at `at` (unix seconds), with `secret`.
    async fn deliver(&self, event: &Value, secret: &str, at: i64) -> crate::helpers::TestResponse {
        let body = serde_json::to_vec(event).unwrap();
        let header = signature::sign(&body, secret, at);
        self.app
            .post("/api/v1/webhooks/stripe")
            .header("stripe-signature", &header)
            .raw("application/json", body)
            .send()
            .await
    }

    /// Delivers `event` signed now with the webhook secret, as Stripe would.
    pub async fn deliver_signed(&self, event: &Value) -> crate::helpers::TestResponse {
        self.deliver(event, &self.secret, Utc::now().timestamp()).await
    }

    pub async fn ledger_net(&self, order: &str) -> (i64, i64) {
        let order = order.to_owned();
        self.app
            .db(move |c| {
                let amounts: Vec<i64> = ledger_entries::table
                    .filter(ledger_entries::order_id.eq(order))
                    .select(ledger_entries::amount_fen)
                    .load(c)
                    .unwrap();
                (amounts.len() as i64, amounts.iter().sum())
            })
            .await
    }

    /// `ledger verify` finds the ledger and its rollups exactly what orders, payments and refunds say.
    async fn assert_no_drift(&self) {
        let verify = self
            .app
            .db(move |c| {
                dongxi::accounting::verify::verify(c, dongxi::config::CountOn::Paid, chrono_tz::Asia::Shanghai).unwrap()
            })
            .await;
        assert!(verify.drift.is_empty(), "{:?}", verify.drift);
    }

    /// An order of tea and mushrooms paid by card through the API and the webhook.
    async fn paid_by_card(&self) -> (Value, String) {
        let order = place(&self.app, &self.w.school, &[(&self.w.tea, 12), (&self.w.fungi, 20)]).await;
        let id = order["id"].as_str().unwrap().to_owned();
        let intent = self.start_payment(&id, &format!("pay-{id}")).await;
        let pi = intent["payment_intent_id"].as_str().unwrap().to_owned();
        assert_eq!(self.stripe.pay_with_card(&pi, "4242424242424242").await, 200);
        let paid = self.order_until(&id, |o| o["status"] == "paid").await;
        (paid, pi)
    }
}

async fn a_card_payment_counts_once(postgres: bool) {
    let Some(t) = card_app(postgres).await else { return };
    let order = place(&t.app, &t.w.school, &[(&t.w.tea, 12), (&t.w.fungi, 20)]).await;
    let id = order["id"].as_str().unwrap();
    let total = order["total_fen"].as_i64().unwrap();

    let intent = t.start_payment(id, "canteen-card-1").await;
    assert_eq!(intent["amount_fen"], total);
    assert_eq!(intent["currency"], "cny");
    assert_eq!(intent["status"], "requires_payment_method");
    let pi = intent["payment_intent_id"].as_str().unwrap().to_owned();
    assert!(intent["client_secret"].as_str().unwrap().starts_with(&pi));
    let at_stripe = t.stripe.get(&format!("/payment_intents/{pi}")).await;
    assert_eq!((at_stripe["amount"].as_i64(), at_stripe["currency"].as_str()), (Some(total), Some("cny")));
    assert_eq!(at_stripe["metadata"]["dongxi_order_id"], id);

    // Replays give the same intent, from our record; a second attempt reuses the open intent.
    let replay = t
        .app
        .post(&format!("/api/v1/orders/{id}/payments/stripe"))
        .token(&t.w.school)
        .header("idempotency-key", "canteen-card-1")
        .send()
        .await;
    replay.assert_status(201);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.json(), intent);
    assert_eq!(t.start_payment(id, "canteen-card-2").await["payment_intent_id"], pi.as_str());
    assert_eq!(crate::helpers::count_rows(&t.app, "payments").await, 1);

    // Only the buying organisation pays; others see nothing.
    t.app
        .post(&format!("/api/v1/orders/{id}/payments/stripe"))
        .token(&t.w.bureau)
        .send()
        .await
        .assert_problem(403, "forbidden");
    t.app
        .post(&format!("/api/v1/orders/{id}/payments/stripe"))
        .token(&t.w.stranger)
        .send()
        .await
        .assert_problem(404, "not_found");

    assert_eq!(t.stripe.pay_with_card(&pi, "4242424242424242").await, 200);
    let paid = t.order_until(id, |o| o["status"] == "paid").await;
    assert_eq!(paid["paid_fen"], total);
    assert!(paid["sub_orders"].as_array().unwrap().iter().all(|s| s["status"] == "awaiting_shipment"), "{paid}");
    assert_eq!(t.ledger_net(id).await, (2, total), "one entry per sub-order, counting the whole amount");
    let (event_id, outcome): (String, String) = {
        let pi = pi.clone();
        t.app
            .db(move |c| {
                stripe_events::table
                    .filter(stripe_events::object_id.eq(pi))
                    .filter(stripe_events::event_type.eq("payment_intent.succeeded"))
                    .select((stripe_events::id, stripe_events::outcome))
                    .first(c)
                    .unwrap()
            })
            .await
    };
    assert_eq!(outcome, "paid");

    // The same event again, even signed anew, changes nothing; so does a new event for the same intent.
    let intent_now = t.stripe.get(&format!("/payment_intents/{pi}")).await;
    let event = json!({"id": event_id, "object": "event", "type": "payment_intent.succeeded",
        "created": Utc::now().timestamp(), "data": {"object": intent_now}});
    let again = t.deliver(&event, &t.secret, Utc::now().timestamp()).await;
    again.assert_status(200);
    assert_eq!(again.json()["outcome"], "duplicate");
    let mut fresh = event.clone();
    fresh["id"] = json!(format!("evt_again_{}", dongxi::ids::new_id("x")));
    assert_eq!(t.deliver(&fresh, &t.secret, Utc::now().timestamp()).await.json()["outcome"], "already_paid");
    assert_eq!(t.ledger_net(id).await, (2, total));
    assert_eq!(crate::helpers::count_rows(&t.app, "payments").await, 1);

    // Bad, missing and stale signatures are refused and leave no trace.
    let events_before = crate::helpers::count_rows(&t.app, "stripe_events").await;
    let mut forged = event.clone();
    forged["id"] = json!("evt_forged_1");
    t.deliver(&forged, "whsec_wrong", Utc::now().timestamp()).await.assert_problem(400, "bad_signature");
    // The server's clock is the test's (fixed at the start); tolerance is measured from it.
    let server_now = t.app.clock.now().timestamp();
    t.deliver(&forged, &t.secret, server_now - 301).await.assert_problem(400, "bad_signature");
    t.deliver(&forged, &t.secret, server_now + 301).await.assert_problem(400, "bad_signature");
    let body = serde_json::to_vec(&forged).unwrap();
    t.app
        .post("/api/v1/webhooks/stripe")
        .raw("application/json", body.clone())
        .send()
        .await
        .assert_problem(400, "bad_signature");
    let tampered = signature::sign(b"{}", &t.secret, Utc::now().timestamp());
    t.app
        .post("/api/v1/webhooks/stripe")
        .header("stripe-signature", &tampered)
        .raw("application/json", body)
        .send()
        .await
        .assert_problem(400, "bad_signature");
    assert_eq!(crate::helpers::count_rows(&t.app, "stripe_events").await, events_before);

    // A paid order takes no further intent; other event types are acknowledged and ignored.
    t.app
        .post(&format!("/api/v1/orders/{id}/payments/stripe"))
        .token(&t.w.school)
        .send()
        .await
        .assert_problem(409, "invalid_state");
    let other = json!({"id": "evt_other_1", "type": "customer.created", "created": Utc::now().timestamp(), "data": {"object": {"id": "cus_1"}}});
    assert_eq!(t.deliver(&other, &t.secret, Utc::now().timestamp()).await.json()["outcome"], "ignored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_payment_counts_once_sqlite() {
    a_card_payment_counts_once(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_payment_counts_once_postgres() {
    a_card_payment_counts_once(true).await
}

async fn a_declined_card_leaves_the_order_awaiting_payment(postgres: bool) {
    let Some(t) = card_app(postgres).await else { return };
    let order = place(&t.app, &t.w.school, &[(&t.w.tea, 3)]).await;
    let id = order["id"].as_str().unwrap();
    let first = t.start_payment(id, "declined-1").await["payment_intent_id"].as_str().unwrap().to_owned();
    assert_eq!(t.stripe.pay_with_card(&first, "4000000000000341").await, 402, "localstripe declines this card");
    for _ in 0..150 {
        if t.payment_status(&first).await == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(t.payment_status(&first).await, "failed");
    assert_eq!(t.order(id).await["status"], "pending_payment");
    assert_eq!(t.ledger_net(id).await, (0, 0));
    let events = t.app.get(&format!("/api/v1/orders/{id}/events")).token(&t.w.school).send().await.json();
    assert!(events["items"].as_array().unwrap().iter().any(|e| e["action"] == "payment_failed"), "{events}");

    // The buyer tries again: a new intent, this time paid.
    let second = t.start_payment(id, "declined-2").await["payment_intent_id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(t.stripe.pay_with_card(&second, "4242424242424242").await, 200);
    let paid = t.order_until(id, |o| o["status"] == "paid").await;
    assert_eq!(paid["paid_fen"], order["total_fen"]);
    assert_eq!(t.ledger_net(id).await, (1, order["total_fen"].as_i64().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_leaves_the_order_awaiting_payment_sqlite() {
    a_declined_card_leaves_the_order_awaiting_payment(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_leaves_the_order_awaiting_payment_postgres() {
    a_declined_card_leaves_the_order_awaiting_payment(true).await
}

async fn refunds_reach_stripe_and_the_ledger(postgres: bool) {
    let Some(t) = card_app(postgres).await else { return };
    let (order, pi) = t.paid_by_card().await;
    let id = order["id"].as_str().unwrap().to_owned();
    let total = order["total_fen"].as_i64().unwrap();
    let tea_sub = order["sub_orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["producer_id"] == t.w.tea_org.as_str())
        .unwrap()
        .clone();
    let tea_sub_id = tea_sub["id"].as_str().unwrap().to_owned();
    let gateway = t.app.state.stripe.clone().expect("Stripe configured");

    // A partial refund through the API: recorded (and uncounted) at once, made at Stripe by the worker.
    let r = t
        .app
        .post(&format!("/api/v1/sub-orders/{tea_sub_id}/refunds"))
        .token(&t.w.tea_producer)
        .header("idempotency-key", "broken-tin")
        .json(json!({"amount_fen": 15800, "reason": "一罐破损"}))
        .send()
        .await;
    r.assert_status(201);
    let refund = r.json()["refund"].clone();
    assert_eq!((refund["status"].as_str(), refund["method"].as_str()), (Some("pending"), Some("stripe")));
    assert_eq!(t.ledger_net(&id).await, (3, total - 15800));
    assert!(t.stripe.refunds_of(&pi).await.is_empty(), "not at Stripe before the worker runs");
    assert!(crate::helpers::run_stripe_jobs(&t.app.state).await >= 1);
    let at_stripe = t.stripe.refunds_of(&pi).await;
    assert_eq!(at_stripe.len(), 1, "{at_stripe:?}");
    assert_eq!(at_stripe[0]["amount"], 15800);
    assert_eq!(at_stripe[0]["metadata"]["dongxi_refund_id"], refund["id"]);
    let ours =
        t.app.get(&format!("/api/v1/sub-orders/{tea_sub_id}/refunds")).token(&t.w.tea_producer).send().await.json();
    assert_eq!(ours["items"][0]["status"], "succeeded");
    // Pushing again (another worker, a retry) makes no second refund.
    let refund_id = refund["id"].as_str().unwrap().to_owned();
    assert!(!dongxi::payments::stripe::push_refund(&t.app.state, &gateway, refund_id).await.unwrap());
    assert_eq!(t.stripe.refunds_of(&pi).await.len(), 1);

    // A refund made in Stripe's dashboard reaches us through charge.refunded: recorded once, uncounted.
    let made = t.stripe.post("/refunds", &[("payment_intent", pi.as_str()), ("amount", "6200")]).await;
    let intent = t.stripe.get(&format!("/payment_intents/{pi}")).await;
    let charge_id = intent["latest_charge"]["id"].as_str().or(intent["latest_charge"].as_str()).unwrap().to_owned();
    let charge = t.stripe.get(&format!("/charges/{charge_id}")).await;
    let event = json!({"id": format!("evt_refund_{}", dongxi::ids::new_id("x")), "type": "charge.refunded",
        "created": Utc::now().timestamp(), "data": {"object": charge}});
    let answer = t.deliver(&event, &t.secret, Utc::now().timestamp()).await;
    answer.assert_status(200);
    assert_eq!(answer.json()["outcome"], "refund_recorded");
    assert_eq!(t.deliver(&event, &t.secret, Utc::now().timestamp()).await.json()["outcome"], "duplicate");
    assert_eq!(t.ledger_net(&id).await.1, total - 15800 - 6200);
    let external = made["id"].as_str().unwrap().to_owned();
    let recorded: i64 = t
        .app
        .db(move |c| refunds::table.filter(refunds::external_id.eq(external)).count().get_result(c).unwrap())
        .await;
    assert_eq!(recorded, 1);
    let paid_back: i64 = {
        let id = id.clone();
        t.app.db(move |c| orders::table.find(id).select(orders::refunded_fen).first(c).unwrap()).await
    };
    assert_eq!(paid_back, 15800 + 6200);

    // One made at Stripe that no webhook reported: reconcile lists it, --fix records it, then all agree.
    t.stripe.post("/refunds", &[("payment_intent", pi.as_str()), ("amount", "1000")]).await;
    let since = (Utc::now() - chrono::Duration::hours(1)).naive_utc();
    let mine = |found: &[dongxi::payments::reconcile::Mismatch]| -> Vec<&'static str> {
        found.iter().filter(|m| m.order_id.as_deref() == Some(id.as_str())).map(|m| m.kind).collect()
    };
    let found = dongxi::payments::reconcile::run(&t.app.state, &gateway, since, false).await.unwrap();
    assert_eq!(mine(&found), vec!["refund_missing_here"]);
    assert_eq!(t.ledger_net(&id).await.1, total - 15800 - 6200, "listing changes nothing");
    let fixed = dongxi::payments::reconcile::run(&t.app.state, &gateway, since, true).await.unwrap();
    assert!(fixed.iter().filter(|m| m.order_id.as_deref() == Some(id.as_str())).all(|m| m.fixed), "{fixed:?}");
    assert_eq!(t.ledger_net(&id).await.1, total - 15800 - 6200 - 1000);
    let after = dongxi::payments::reconcile::run(&t.app.state, &gateway, since, false).await.unwrap();
    assert!(mine(&after).is_empty(), "{after:?}");
    t.assert_no_drift().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_reach_stripe_and_the_ledger_sqlite() {
    refunds_reach_stripe_and_the_ledger(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_reach_stripe_and_the_ledger_postgres() {
    refunds_reach_stripe_and_the_ledger(true).await
}

async fn reconcile_applies_a_missed_confirmation(postgres: bool) {
    let Some(t) = card_app(postgres).await else { return };
    let gateway = t.app.state.stripe.clone().expect("Stripe configured");
    // Paid at Stripe through an intent we never recorded (our answer was lost, say): the webhook
    // finds no payment of ours and changes nothing; reconcile finds it and --fix pays the order.
    let order = place(&t.app, &t.w.school, &[(&t.w.fungi, 4)]).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let total = order["total_fen"].as_i64().unwrap().to_string();
    let intent = t
        .stripe
        .post(
            "/payment_intents",
            &[("amount", total.as_str()), ("currency", "cny"), ("metadata[dongxi_order_id]", id.as_str())],
        )
        .await;
    let pi = intent["id"].as_str().unwrap().to_owned();
    assert_eq!(t.stripe.pay_with_card(&pi, "4242424242424242").await, 200);
    for _ in 0..100 {
        let seen: i64 = {
            let pi = pi.clone();
            t.app
                .db(move |c| {
                    stripe_events::table.filter(stripe_events::object_id.eq(pi)).count().get_result(c).unwrap()
                })
                .await
        };
        if seen > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(t.order(&id).await["status"], "pending_payment");
    let since = (Utc::now() - chrono::Duration::hours(1)).naive_utc();
    let found = dongxi::payments::reconcile::run(&t.app.state, &gateway, since, false).await.unwrap();
    let mine: Vec<_> = found.iter().filter(|m| m.order_id.as_deref() == Some(id.as_str())).collect();
    assert_eq!(mine.iter().map(|m| m.kind).collect::<Vec<_>>(), vec!["succeeded_unpaid"], "{found:?}");
    assert_eq!(t.order(&id).await["status"], "pending_payment", "listing changes nothing");
    let fixed = dongxi::payments::reconcile::run(&t.app.state, &gateway, since, true).await.unwrap();
    assert!(fixed.iter().filter(|m| m.order_id.as_deref() == Some(id.as_str())).all(|m| m.fixed), "{fixed:?}");
    let paid = t.order(&id).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(t.ledger_net(&id).await, (1, order["total_fen"].as_i64().unwrap()));
    // Fixing twice pays nothing twice.
    dongxi::payments::reconcile::run(&t.app.state, &gateway, since, true).await.unwrap();
    assert_eq!(t.ledger_net(&id).await, (1, order["total_fen"].as_i64().unwrap()));

    // A card payment arriving after the buyer cancelled goes back in full, by itself.
    let late = place(&t.app, &t.w.school, &[(&t.w.tea, 1)]).await;
    let late_id = late["id"].as_str().unwrap().to_owned();
    let late_pi = t.start_payment(&late_id, "late").await["payment_intent_id"].as_str().unwrap().to_owned();
    t.app.post(&format!("/api/v1/orders/{late_id}/cancel")).token(&t.w.school).send().await.assert_status(200);
    assert_eq!(t.stripe.pay_with_card(&late_pi, "4242424242424242").await, 200);
    for _ in 0..150 {
        if t.payment_status(&late_pi).await == "canceled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(t.payment_status(&late_pi).await, "canceled");
    crate::helpers::run_stripe_jobs(&t.app.state).await;
    let back = t.stripe.get(&format!("/refunds?payment_intent={late_pi}")).await;
    assert_eq!(back["data"][0]["amount"], late["total_fen"], "{back}");
    assert_eq!(t.ledger_net(&late_id).await, (0, 0), "never counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_applies_a_missed_confirmation_sqlite() {
    reconcile_applies_a_missed_confirmation(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_applies_a_missed_confirmation_postgres() {
    reconcile_applies_a_missed_confirmation(true).await
}

/// An event as Stripe would send it, about `object`.
fn event(id: &str, kind: &str, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": Utc::now().timestamp(), "data": {"object": object}})
}

/// Delivers `event` as Stripe does: signed anew each time and sent again, after a pause, until
/// it is acknowledged (a delivery racing its own duplicate may be answered 409). Returns the
/// acknowledged outcome and how many deliveries were refused first.
async fn deliver_until_acknowledged(router: axum::Router, event: Value) -> (String, usize) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let body = serde_json::to_vec(&event).unwrap();
    for refused in 0..50 {
        let request = axum::http::Request::post("/api/v1/webhooks/stripe")
            .header("content-type", "application/json")
            .header("stripe-signature", signature::sign(&body, HUB_SECRET, Utc::now().timestamp()))
            .body(axum::body::Body::from(body.clone()))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let answer: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap_or(Value::Null);
        match status {
            200 => return (answer["outcome"].as_str().unwrap_or_default().to_owned(), refused),
            409 | 503 => tokio::time::sleep(Duration::from_millis(20 * (refused as u64 + 1))).await,
            _ => panic!("event {} answered {status}: {answer}", event["id"]),
        }
    }
    panic!("event {} never acknowledged", event["id"]);
}

/// Stripe's worst day: six orders paid by card; every event delivered three times, the
/// deliveries racing each other in a shuffled order; two distinct events for the same success;
/// a decline's failure arriving after the success; and refunds made in Stripe's dashboard whose
/// `charge.refunded` overtakes the payment's own success. Every event takes effect once: each
/// order paid once for its total, each refund recorded once, the ledger nets exactly that, one
/// stored row per event and `ledger verify` finds no drift.
async fn a_storm_of_duplicate_and_out_of_order_webhooks_counts_each_once(postgres: bool) {
    use rand::seq::SliceRandom;
    let Some(mut t) = card_app(postgres).await else { return };
    t.unsubscribe();
    let run = dongxi::ids::new_id("storm");
    let mut overtaking = Vec::new();
    let mut storm = Vec::new();
    let mut expected = Vec::new();
    for i in 0..6usize {
        let order = place(&t.app, &t.w.school, &[(&t.w.tea, 2 + i as i64), (&t.w.fungi, 20)]).await;
        let id = order["id"].as_str().unwrap().to_owned();
        let total = order["total_fen"].as_i64().unwrap();
        let pi = t.start_payment(&id, &format!("{run}-{i}")).await["payment_intent_id"].as_str().unwrap().to_owned();
        assert_eq!(t.stripe.pay_with_card(&pi, "4242424242424242").await, 200);
        let intent = t.stripe.get(&format!("/payment_intents/{pi}")).await;
        let succeeded = event(&format!("evt_{run}_s{i}"), "payment_intent.succeeded", intent.clone());
        storm.extend([succeeded.clone(), succeeded.clone(), succeeded]);
        storm.push(event(&format!("evt_{run}_t{i}"), "payment_intent.succeeded", intent.clone()));
        if i % 3 == 0 {
            let mut declined = intent.clone();
            declined["status"] = json!("requires_payment_method");
            declined["amount_received"] = json!(0);
            declined["last_payment_error"] = json!({"message": "Your card was declined."});
            let failed = event(&format!("evt_{run}_f{i}"), "payment_intent.payment_failed", declined);
            storm.extend([failed.clone(), failed]);
        }
        let mut refunded = 0;
        if i % 2 == 0 {
            refunded = 1000 + 100 * i as i64;
            t.stripe.post("/refunds", &[("payment_intent", pi.as_str()), ("amount", &refunded.to_string())]).await;
            let charge_id = intent["latest_charge"]["id"].as_str().or(intent["latest_charge"].as_str()).unwrap();
            let charge = t.stripe.get(&format!("/charges/{charge_id}")).await;
            let refund = event(&format!("evt_{run}_r{i}"), "charge.refunded", charge);
            overtaking.push(refund.clone());
            storm.extend([refund.clone(), refund]);
        }
        assert_eq!(t.order(&id).await["status"], "pending_payment", "no event has arrived yet");
        expected.push((id, total, refunded));
    }
    let distinct: std::collections::HashSet<String> =
        storm.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();

    // The dashboard refunds' events first, all at once: their payments are not yet recorded.
    let mut first = tokio::task::JoinSet::new();
    for e in overtaking {
        first.spawn(deliver_until_acknowledged(t.app.router.clone(), e));
    }
    while let Some(done) = first.join_next().await {
        assert_eq!(done.unwrap().0, "refund_recorded", "a refund that overtook its payment is recorded");
    }
    // Then everything again and the rest, shuffled, eight at a time.
    storm.shuffle(&mut rand::thread_rng());
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let mut racing = tokio::task::JoinSet::new();
    for e in storm.clone() {
        let (router, gate) = (t.app.router.clone(), gate.clone());
        racing.spawn(async move {
            let _turn = gate.acquire_owned().await.unwrap();
            deliver_until_acknowledged(router, e).await
        });
    }
    let mut outcomes: std::collections::HashMap<String, usize> = Default::default();
    let mut refused = 0;
    while let Some(done) = racing.join_next().await {
        let (outcome, again) = done.unwrap();
        *outcomes.entry(outcome).or_default() += 1;
        refused += again;
    }
    println!(
        "webhook storm ({}): {} deliveries of {} events, {refused} refused first and sent again: {outcomes:?}",
        t.app.backend,
        storm.len(),
        distinct.len()
    );
    assert_eq!(
        outcomes.get("paid").copied().unwrap_or(0),
        3,
        "the three orders without a refund are paid by their success: {outcomes:?}"
    );

    for (id, total, refunded) in &expected {
        let order = t.order(id).await;
        assert_eq!(order["status"], "paid", "{order}");
        assert_eq!(
            (order["paid_fen"].as_i64(), order["refunded_fen"].as_i64()),
            (Some(*total), Some(*refunded)),
            "{order}"
        );
        let entries = if *refunded > 0 { 3 } else { 2 };
        assert_eq!(t.ledger_net(id).await, (entries, total - refunded), "order {id}");
        let (succeeded, refunds): (i64, i64) = {
            let id = id.clone();
            t.app
                .db(move |c| {
                    let s = payments::table
                        .filter(payments::order_id.eq(&id))
                        .filter(payments::status.eq("succeeded"))
                        .count()
                        .get_result(c)
                        .unwrap();
                    let r = refunds::table.filter(refunds::order_id.eq(&id)).count().get_result(c).unwrap();
                    (s, r)
                })
                .await
        };
        assert_eq!((succeeded, refunds), (1, i64::from(*refunded > 0)), "order {id}");
    }
    let stored: Vec<(String, String)> = {
        let prefix = format!("evt_{run}_%");
        t.app
            .db(move |c| {
                stripe_events::table
                    .filter(stripe_events::id.like(prefix))
                    .select((stripe_events::id, stripe_events::outcome))
                    .load(c)
                    .unwrap()
            })
            .await
    };
    assert_eq!(stored.len(), distinct.len(), "one row per event: {stored:?}");
    assert!(stored.iter().all(|(_, outcome)| outcome != "processing" && outcome != "unknown_intent"), "{stored:?}");
    t.assert_no_drift().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_duplicate_and_out_of_order_webhooks_counts_each_once_sqlite() {
    a_storm_of_duplicate_and_out_of_order_webhooks_counts_each_once(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_duplicate_and_out_of_order_webhooks_counts_each_once_postgres() {
    a_storm_of_duplicate_and_out_of_order_webhooks_counts_each_once(true).await
}

/// Without Stripe configured, card payments and webhooks say so (no service needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_stripe_card_payments_are_unavailable() {
    let app = TestApp::sqlite().await;
    let w = world(&app).await;
    let order = place(&app, &w.school, &[(&w.tea, 1)]).await;
    app.post(&format!("/api/v1/orders/{}/payments/stripe", order["id"].as_str().unwrap()))
        .token(&w.school)
        .send()
        .await
        .assert_problem(503, "stripe_not_configured");
    app.post("/api/v1/webhooks/stripe")
        .raw("application/json", b"{}".to_vec())
        .send()
        .await
        .assert_problem(503, "stripe_not_configured");
}
