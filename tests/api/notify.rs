//! Mail: events become one mail per recipient, sent by the worker as `.eml` files or through a
//! real SMTP server (aiosmtpd at `DONGXI_TEST_SMTP_URL`, delivering into the maildir at
//! `DONGXI_TEST_MAILDIR`), waiting out outages, respecting opt-outs; the weekly digest.

use std::collections::HashSet;

use chrono::{Duration, TimeZone, Utc};
use diesel::prelude::*;
use dongxi::db::schema::outbox;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{TestApp, service_env};
use crate::orders::{World, pay, place, world};

/// A delivered message, as a mail client reads it.
#[derive(Debug, Clone)]
struct Delivered {
    to: String,
    subject: String,
    message_id: String,
    text: String,
    html: String,
    list_unsubscribe: Option<String>,
}

fn read(bytes: &[u8]) -> Delivered {
    let parsed = mailparse::parse_mail(bytes).expect("a MIME message");
    let header =
        |name: &str| parsed.headers.iter().find(|h| h.get_key().eq_ignore_ascii_case(name)).map(|h| h.get_value());
    let part = |mime: &str| {
        parsed
            .subparts
            .iter()
            .find(|p| p.ctype.mimetype == mime)
            .map(|p| p.get_body().expect("a readable part"))
            .unwrap_or_default()
    };
    Delivered {
        to: header("To").unwrap_or_default(),
        subject: header("Subject").unwrap_or_default(),
        message_id: header("Message-ID").unwrap_or_default(),
        text: part("text/plain"),
        html: part("text/html"),
        list_unsubscribe: header("List-Unsubscribe"),
    }
}

/// Turns events into mails and sends them until nothing is due.
async fn deliver(app: &TestApp) {
    for _ in 0..50 {
        if crate::helpers::run_mail_jobs(&app.state).await == 0 {
            return;
        }
    }
    panic!("the mail worker never ran dry");
}

/// The `.eml` files written under the data directory.
fn eml_files(app: &TestApp) -> Vec<Delivered> {
    let dir = app.data_dir.join("mail");
    let mut out: Vec<Delivered> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| read(&std::fs::read(e.path()).expect("read .eml")))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.to.cmp(&b.to));
    out
}

fn to_addresses(mails: &[Delivered]) -> HashSet<String> {
    mails.iter().map(|m| m.to.rsplit('<').next().unwrap_or_default().trim_end_matches('>').to_owned()).collect()
}

fn about_order<'a>(mails: &'a [Delivered], order: &Value) -> Vec<&'a Delivered> {
    let id = order["id"].as_str().unwrap();
    mails.iter().filter(|m| m.text.contains(id)).collect()
}

/// Mail rows still waiting (or failed), of `mail.send`.
async fn unsent(app: &TestApp) -> Vec<dongxi::outbox::RowSummary> {
    app.db(|c| dongxi::outbox::list(c, Some(crate::helpers::MAIL_SEND), false, 1000).unwrap()).await
}

backend_tests! {
    async fn an_order_mails_the_buyer_and_each_producer_as_eml_files(app: TestApp) {
        let w = world(&app).await;
        deliver(&app).await;
        let before = eml_files(&app).len();
        assert!(before > 0, "the accounts opened by the world were announced");
        let order = place(&app, &w.school_member, &[(&w.tea, 12), (&w.fungi, 20)]).await;
        assert!(eml_files(&app).len() == before, "nothing is sent inside the request");
        deliver(&app).await;
        let all = eml_files(&app);
        let mails = about_order(&all, &order);
        assert_eq!(
            to_addresses(&mails.iter().map(|m| (*m).clone()).collect::<Vec<_>>()),
            HashSet::from(["school@test.dongxi.cn".to_owned(), tea_admin(&app, &w).await, fungi_admin(&app, &w).await]),
            "the buyer's administrators and each producer's; not the ordering member, the bureau or anyone else"
        );
        let buyer = mails.iter().find(|m| m.to.contains("school@test.dongxi.cn")).unwrap();
        assert!(buyer.subject.starts_with("订单已提交："), "{}", buyer.subject);
        assert!(buyer.subject.contains(&dongxi::notify::yuan(order["total_fen"].as_i64().unwrap())), "{}", buyer.subject);
        assert!(buyer.text.contains("普安红茶 明前特级") && buyer.text.contains("册亨干香菇"), "{}", buyer.text);
        assert!(buyer.html.contains("<table") && buyer.html.contains("册亨干香菇"), "{}", buyer.html);
        let tea_to = tea_admin(&app, &w).await;
        let tea = mails.iter().find(|m| m.to.contains(&tea_to)).unwrap();
        assert!(tea.subject.starts_with("新订单："), "{}", tea.subject);
        assert!(!tea.text.contains("册亨干香菇"), "a producer hears of its own part only: {}", tea.text);

        // Shipping and a refund reach the buyer too.
        pay(&app, &w.admin, &order).await;
        let tea_sub = order["sub_orders"].as_array().unwrap().iter().find(|s| s["producer_id"] == w.tea_org.as_str()).unwrap();
        let sub_id = tea_sub["id"].as_str().unwrap();
        app.post(&format!("/api/v1/sub-orders/{sub_id}/ship")).token(&w.tea_producer)
            .json(json!({"carrier": "顺丰速运", "tracking_no": "SF1234567890"})).send().await.assert_status(200);
        app.post(&format!("/api/v1/sub-orders/{sub_id}/refunds")).token(&w.tea_producer)
            .json(json!({"amount_fen": 15800, "reason": "一罐破损"})).send().await.assert_status(201);
        deliver(&app).await;
        let all = eml_files(&app);
        let subjects: Vec<&str> = about_order(&all, &order).iter().filter(|m| m.to.contains("school@")).map(|m| m.subject.as_str()).collect();
        assert!(subjects.iter().any(|s| s.starts_with("已发货：") && s.contains("SF1234567890")), "{subjects:?}");
        assert!(subjects.iter().any(|s| *s == format!("退款 158.00 元：订单 {}", order["id"].as_str().unwrap())), "{subjects:?}");
        assert!(unsent(&app).await.is_empty());
    }

    async fn opt_outs_are_kept_except_for_security_mail(app: TestApp) {
        let w = world(&app).await;
        deliver(&app).await;
        let prefs = app.get("/api/v1/me/mail-preferences").token(&w.school).send().await.json();
        assert!(prefs["items"].as_array().unwrap().iter().all(|p| p["subscribed"] == true), "{prefs}");
        app.request(axum::http::Method::PUT, "/api/v1/me/mail-preferences").token(&w.school)
            .json(json!({"account": false})).send().await.assert_problem(422, "validation_failed");
        app.request(axum::http::Method::PUT, "/api/v1/me/mail-preferences").token(&w.school)
            .json(json!({"newsletter": false})).send().await.assert_problem(422, "validation_failed");
        let set = app.request(axum::http::Method::PUT, "/api/v1/me/mail-preferences").token(&w.school)
            .json(json!({"order": false})).send().await;
        set.assert_status(200);
        assert!(set.json()["items"].as_array().unwrap().iter().any(|p| p["kind"] == "order" && p["subscribed"] == false));
        let order = place(&app, &w.school_member, &[(&w.tea, 12)]).await;
        deliver(&app).await;
        let all = eml_files(&app);
        let to = to_addresses(&about_order(&all, &order).into_iter().cloned().collect::<Vec<_>>());
        assert!(!to.contains("school@test.dongxi.cn"), "{to:?}");
        assert!(to.contains(&tea_admin(&app, &w).await), "the producer still hears of it");
    }

    async fn the_weekly_digest_tells_each_coordinator_the_report_figures(app: TestApp) {
        // Monday 2026-11-30, 08:00 in Beijing.
        let monday = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).single().unwrap();
        app.clock.set(monday - Duration::days(6));
        let w = world(&app).await;
        let order = place(&app, &w.school, &[(&w.tea, 120)]).await;
        app.post(&format!("/api/v1/orders/{}/payments/offline", order["id"].as_str().unwrap()))
            .token(&w.admin)
            .json(json!({"amount_fen": order["total_fen"], "reference": "ICBC-1", "paid_at": app.clock.now().to_rfc3339()}))
            .send()
            .await
            .assert_status(201);
        app.post("/api/v1/targets").token(&w.admin)
            .json(json!({"year": 2026, "scope_kind": "donor", "scope_id": "441300", "amount_fen": 500_000_000})).send().await.assert_status(201);
        deliver(&app).await;
        let before: HashSet<String> = eml_files(&app).iter().map(|m| m.message_id.clone()).collect();

        app.clock.set(monday - Duration::minutes(1));
        assert_eq!(dongxi::notify::digest::run_due(&app.state).await.unwrap().digests, 0, "not before Monday 08:00");
        app.clock.set(monday + Duration::minutes(5));
        assert_eq!(dongxi::notify::digest::run_due(&app.state).await.unwrap().digests, 1);
        let (_, twin) = app.twin();
        assert_eq!(dongxi::notify::digest::run_due(&twin).await.unwrap().digests, 0, "once a week, whatever the number of workers");
        deliver(&app).await;
        let coordinator = login_again(&app).await;
        let progress = app.get("/api/v1/reports/progress?year=2026&scope_kind=donor&scope_id=441300").token(&coordinator).send().await.json();
        let digests: Vec<Delivered> = eml_files(&app).into_iter().filter(|m| !before.contains(&m.message_id) && m.subject.starts_with("消费帮扶周报")).collect();
        let mine = digests.iter().find(|m| m.text.contains("广东省 惠州市")).unwrap_or_else(|| panic!("{digests:#?}"));
        assert!(mine.subject.contains("2026年第49周"), "{}", mine.subject);
        let counted = dongxi::notify::yuan(progress["counted_fen"].as_i64().unwrap());
        let target = dongxi::notify::yuan(progress["target_fen"].as_i64().unwrap());
        let expected = dongxi::notify::yuan(progress["expected_to_date_fen"].as_i64().unwrap());
        assert!(progress["counted_fen"].as_i64().unwrap() > 0);
        assert!(mine.text.contains(&format!("目标 {target} 元，已计入 {counted} 元")), "{}\n{progress}", mine.text);
        assert!(mine.text.contains(&format!("应完成 {expected} 元")), "{}", mine.text);
        assert!(mine.html.contains(&counted));
        // The school has no target: no digest for it; the producers are not coordinators.
        assert!(!digests.iter().any(|m| m.to.contains("school@")), "{digests:#?}");

        // The digest's unsubscribe link works without signing in, and asks first.
        let link = mine.list_unsubscribe.clone().expect("List-Unsubscribe");
        let token = link.split("token=").nth(1).unwrap().trim_end_matches('>').to_owned();
        let page = app.get(&format!("/mail/unsubscribe?token={token}")).send().await;
        page.assert_status(200);
        assert!(page.text().contains("确认退订"));
        app.get("/mail/unsubscribe?token=forged.abc").send().await.assert_problem(404, "not_found");
        app.post("/mail/unsubscribe").raw("application/x-www-form-urlencoded", format!("token={token}").into_bytes()).send().await.assert_status(200);
        let prefs = app.get("/api/v1/me/mail-preferences").token(&coordinator).send().await.json();
        assert!(prefs["items"].as_array().unwrap().iter().any(|p| p["kind"] == "digest" && p["subscribed"] == false), "{prefs}");
        app.clock.set(monday + Duration::days(7) + Duration::minutes(1));
        assert_eq!(dongxi::notify::digest::run_due(&app.state).await.unwrap().digests, 1);
        let seen: HashSet<String> = eml_files(&app).iter().map(|m| m.message_id.clone()).collect();
        deliver(&app).await;
        let next: Vec<Delivered> = eml_files(&app).into_iter().filter(|m| !seen.contains(&m.message_id)).collect();
        assert!(!next.iter().any(|m| m.text.contains("广东省 惠州市")), "unsubscribed: {next:#?}");
    }

    async fn certificates_running_out_are_announced_once(app: TestApp) {
        let w = world(&app).await;
        deliver(&app).await;
        // The world's certificates run until 2027-12-31: 30 days before, and the day after.
        app.clock.set(Utc.with_ymd_and_hms(2027, 12, 1, 2, 0, 0).single().unwrap());
        let queued = dongxi::notify::digest::run_due(&app.state).await.unwrap();
        assert_eq!(queued.certificate_notices, 2, "both products");
        assert_eq!(dongxi::notify::digest::run_due(&app.state).await.unwrap().certificate_notices, 0);
        deliver(&app).await;
        let mails = eml_files(&app);
        let tea = tea_admin(&app, &w).await;
        assert!(mails.iter().any(|m| m.to.contains(&tea) && m.subject == "认定证书将于 2027年12月31日 到期：普安红茶 明前特级"), "{mails:#?}");
        app.clock.set(Utc.with_ymd_and_hms(2028, 1, 1, 2, 0, 0).single().unwrap());
        assert_eq!(dongxi::notify::digest::run_due(&app.state).await.unwrap().certificate_notices, 2, "expired");
    }

    async fn failing_mail_becomes_a_dead_letter_an_operator_can_retry(app: TestApp) {
        let closed = closed_port();
        let app = app.with_config(|c| c.smtp_url = Some(dongxi::config::Secret(format!("smtp://127.0.0.1:{closed}"))));
        let w = world(&app).await;
        place(&app, &w.school, &[(&w.tea, 12)]).await;
        for _ in 0..25 {
            crate::helpers::run_mail_jobs(&app.state).await;
            app.clock.advance(Duration::minutes(10));
        }
        let rows = app.db(|c| dongxi::outbox::list(c, Some(crate::helpers::MAIL_SEND), true, 1000).unwrap()).await;
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|r| r.dead_at.is_some() && r.attempts == 20 && r.last_error.as_deref().unwrap().contains("SMTP")), "{rows:?}");
        assert_eq!(crate::helpers::run_mail_jobs(&app.state).await, 0, "dead letters are not retried");
        let now = app.clock.now_naive();
        let n = app.db(move |c| dongxi::db::write_tx(c, |c| dongxi::outbox::retry(c, None, now)).unwrap()).await;
        assert_eq!(n, rows.len());
        let again = app.db(|c| dongxi::outbox::list(c, Some(crate::helpers::MAIL_SEND), true, 1000).unwrap()).await;
        assert!(again.iter().all(|r| r.dead_at.is_none() && r.attempts == 0), "{again:?}");
    }
}

async fn tea_admin(app: &TestApp, w: &World) -> String {
    admin_email(app, &w.tea_org).await
}

async fn fungi_admin(app: &TestApp, w: &World) -> String {
    admin_email(app, &w.fungi_org).await
}

async fn admin_email(app: &TestApp, org: &str) -> String {
    let org = org.to_owned();
    app.db(move |c| {
        use dongxi::db::schema::users;
        users::table
            .filter(users::org_id.eq(org))
            .filter(users::role.eq("admin"))
            .select(users::email)
            .first::<String>(c)
            .unwrap()
    })
    .await
}

/// The world's coordinator signs in again (the clock moved past its token's life).
async fn login_again(app: &TestApp) -> String {
    let email: String = app
        .db(|c| {
            use dongxi::db::schema::{organizations, users};
            users::table
                .inner_join(organizations::table)
                .filter(organizations::name.eq("惠州市协作办"))
                .select(users::email)
                .first(c)
                .unwrap()
        })
        .await;
    app.login(&email).await
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Forwards connections on `port` to the real SMTP server: the test brings "the mail server"
/// up and down by starting and stopping it.
async fn relay(port: u16, upstream: String) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("relay port");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

/// Messages in the maildir whose Message-ID is one of `ids`.
fn in_maildir(dir: &str, ids: &HashSet<String>) -> Vec<Delivered> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(std::path::Path::new(dir).join(sub)) else { continue };
        for e in entries.filter_map(|e| e.ok()) {
            let m = read(&std::fs::read(e.path()).expect("maildir message"));
            if ids.iter().any(|id| m.message_id.contains(id.as_str())) {
                out.push(m);
            }
        }
    }
    out
}

/// Through a real SMTP server: while it is down, mail waits (nothing is lost); when it is back,
/// every mail is delivered once, with a Chinese subject and text and HTML parts, to its recipients.
async fn smtp_delivery_waits_out_an_outage(postgres: bool) {
    let Some(smtp) = service_env("DONGXI_TEST_SMTP_URL", "the SMTP delivery test") else { return };
    let Some(maildir) = service_env("DONGXI_TEST_MAILDIR", "the SMTP delivery test") else { return };
    let upstream = smtp.trim_start_matches("smtp://").trim_end_matches('/').to_owned();
    let port = closed_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let extra = [("SMTP_URL", url.as_str())];
    let app = if postgres {
        let Some(db) = service_env("DONGXI_TEST_DATABASE_URL", "the PostgreSQL half of the SMTP test") else { return };
        TestApp::postgres_at(&db, &extra).await
    } else {
        TestApp::sqlite_with(&extra).await
    };
    let w = world(&app).await;
    let order = place(&app, &w.school_member, &[(&w.tea, 12), (&w.fungi, 20)]).await;
    // Every mail is tried and fails; the failed ones wait out their backoff (the clock stands still).
    while crate::helpers::run_mail_jobs(&app.state).await > 0 {}
    let waiting = unsent(&app).await;
    assert!(
        !waiting.is_empty() && waiting.iter().all(|r| r.last_error.is_some() && r.dead_at.is_none()),
        "{waiting:?}"
    );

    let relay = relay(port, upstream).await;
    app.clock.advance(Duration::minutes(10));
    deliver(&app).await;
    let left = unsent(&app).await;
    assert!(left.is_empty(), "everything went once the server was back: {left:?}");
    let ids: HashSet<String> = app
        .db(|c| {
            outbox::table
                .filter(outbox::topic.eq(crate::helpers::MAIL_SEND))
                .select(outbox::id)
                .load::<String>(c)
                .unwrap()
        })
        .await
        .into_iter()
        .collect();
    let mut delivered = Vec::new();
    for _ in 0..50 {
        delivered = in_maildir(&maildir, &ids);
        if delivered.len() >= ids.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    relay.abort();
    assert_eq!(delivered.len(), ids.len(), "each mail delivered exactly once");
    let about: Vec<Delivered> = about_order(&delivered, &order).into_iter().cloned().collect();
    assert_eq!(
        to_addresses(&about),
        HashSet::from(["school@test.dongxi.cn".to_owned(), tea_admin(&app, &w).await, fungi_admin(&app, &w).await])
    );
    let buyer = about.iter().find(|m| m.to.contains("school@")).unwrap();
    assert!(buyer.subject.starts_with("订单已提交："), "{}", buyer.subject);
    assert!(buyer.text.contains("普安红茶") && buyer.html.contains("<html lang=\"zh-CN\">"), "{buyer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_delivery_waits_out_an_outage_sqlite() {
    smtp_delivery_waits_out_an_outage(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_delivery_waits_out_an_outage_postgres() {
    smtp_delivery_waits_out_an_outage(true).await;
}

backend_tests! {
    async fn certification_filings_and_group_purchases_reach_their_people(app: TestApp) {
        let w = world(&app).await;
        // A filing sent back, and a round of the coordination office that succeeds.
        app.request(axum::http::Method::PUT, &format!("/api/v1/organizations/{}/filings/2026", w.school_id))
            .token(&w.school)
            .json(json!({"canteen_budget_fen": 300_000_000, "share_bp": 800, "no_canteen": false, "exemption_reason": "食堂承包经营"}))
            .send()
            .await
            .assert_status(201);
        app.post(&format!("/api/v1/organizations/{}/filings/2026/return", w.school_id))
            .token(&w.coordinator)
            .json(json!({"reason": "比例低于 10% 须附主管部门意见"}))
            .send()
            .await
            .assert_status(200);
        let now = app.clock.now();
        let body = json!({"title": "冬季集中采购 普安红茶", "product_id": w.tea, "tiers": [{"min_qty": 1, "unit_price_fen": 16000}],
            "min_total_qty": 10, "max_total_qty": 100, "opens_at": now.to_rfc3339(), "closes_at": (now + Duration::hours(5)).to_rfc3339(),
            "eligible_region_code": "441300"});
        let c = app.post("/api/v1/group-buys").token(&w.coordinator).json(body).send().await.json();
        let id = c["id"].as_str().unwrap();
        app.post(&format!("/api/v1/group-buys/{id}/pledges")).token(&w.school)
            .json(json!({"quantity": 20, "delivery": crate::orders::delivery()})).send().await.assert_status(201);
        dongxi::groupbuy::jobs::run_due(&app.state).await.unwrap();
        deliver(&app).await;
        app.post(&format!("/api/v1/group-buys/{id}/close")).token(&w.coordinator).send().await.assert_status(200);
        deliver(&app).await;
        let mails = eml_files(&app);
        let to = |who: &str, subject: &str| mails.iter().any(|m| m.to.contains(who) && m.subject.starts_with(subject));
        let tea = tea_admin(&app, &w).await;
        assert!(to(&tea, "认定通过：普安红茶 明前特级"), "{mails:#?}");
        assert!(to("school@", "2026 年预留份额填报被退回"), "{mails:#?}");
        assert!(to("school@", "团购开团：冬季集中采购") && to("bureau@", "团购开团："), "every agency of the region hears of it");
        assert!(to("school@", "团购即将截止"), "a pledger is reminded");
        assert!(!mails.iter().any(|m| m.to.contains("bureau@") && m.subject.starts_with("团购即将截止")), "only pledgers are reminded");
        let result = mails.iter().find(|m| m.to.contains("school@") && m.subject.starts_with("团购成团")).expect("the result");
        assert!(result.text.contains("已生成订单 ord_") && result.text.contains("3,200.00"), "{}", result.text);
        assert!(mails.iter().any(|m| m.subject.starts_with("团购成团") && !m.to.contains("school@")), "the organiser hears the result");
        let ningbo: String = app
            .db(|c| {
                use dongxi::db::schema::{organizations, users};
                users::table
                    .inner_join(organizations::table)
                    .filter(organizations::name.eq("宁波市机关事务管理局"))
                    .select(users::email)
                    .first(c)
                    .unwrap()
            })
            .await;
        assert!(!mails.iter().any(|m| m.to.contains(&ningbo) && m.subject.starts_with("团购")), "an agency outside the region hears nothing");
    }
}

backend_tests! {
    async fn the_half_year_bulletin_ranks_a_bureaus_units_as_api_page_file_and_mail(app: TestApp) {
        use crate::accounting::{order_at, pay_at, read_xlsx, report, t};
        let w = world(&app).await;
        app.clock.set(t("2021-01-10T02:00:00Z"));
        let bureau: dongxi::identity::model::OrgRow = app.db(|c| {
            use dongxi::db::schema::organizations;
            organizations::table.filter(organizations::name.eq("惠州市教育局")).select(dongxi::identity::model::OrgRow::as_select()).first(c).unwrap()
        }).await;
        let second = app.org("惠州市第二中学", dongxi::identity::types::OrgKind::Agency, "441302", Some(&bureau)).await;
        let third = app.org("惠州市第三中学", dongxi::identity::types::OrgKind::Agency, "441302", Some(&bureau)).await;
        for (org, amount) in [(&w.school_id, 36_500_000i64), (&second.id, 3_650_000)] {
            app.post("/api/v1/targets").token(&w.admin)
                .json(json!({"year": 2021, "scope_kind": "org", "scope_id": org, "amount_fen": amount})).send().await.assert_status(201);
        }
        // The school buys in March (the first half) and on 1 July at 08:10 in Beijing (the second).
        let march = order_at(&app, &w.school, &[(&w.tea, 700), (&w.fungi, 400)], "2021-03-01T02:00:00Z").await;
        pay_at(&app, &w.admin, &march, "2021-03-02T02:00:00Z").await;
        let july = order_at(&app, &w.school, &[(&w.tea, 10)], "2021-06-30T23:00:00Z").await;
        pay_at(&app, &w.admin, &july, "2021-07-01T00:10:00Z").await;
        deliver(&app).await;
        let before: HashSet<String> = eml_files(&app).iter().map(|m| m.message_id.clone()).collect();
        app.clock.set(t("2021-07-01T00:30:00Z"));
        let coordinator = login_again(&app).await;

        let query = format!("year=2021&period=H1&org_id={}", bureau.id);
        let b = report(&app, &coordinator, "bulletin", &query).await;
        let h1_counted = 700 * 14800 + 400 * 5800;
        assert_eq!((b["period"].as_str(), b["starts_on"].as_str(), b["ends_on"].as_str()), (Some("H1"), Some("2021-01-01"), Some("2021-06-30")));
        assert_eq!((b["units"].as_u64(), b["behind"].as_u64(), b["no_target"].as_u64()), (Some(3), Some(2), Some(1)));
        let rows = b["rows"].as_array().unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["惠州市第一中学", "惠州市第二中学", "惠州市第三中学"], "best ratio first, no target last");
        assert_eq!(rows[0]["rank"], 1);
        assert_eq!(rows[0]["target_fen"], 36_500_000i64 * 181 / 365);
        assert_eq!(rows[0]["counted_fen"], h1_counted, "the July order belongs to the second half");
        assert_eq!(rows[0]["ratio"], 0.7006);
        assert_eq!(rows[0]["status"], "behind");
        assert_eq!((rows[1]["rank"].as_u64(), rows[1]["counted_fen"].as_i64()), (Some(2), Some(0)));
        assert!(rows[2]["rank"].is_null() && rows[2]["target_fen"].is_null() && rows[2]["status"] == "no_target");
        assert_eq!(rows[2]["org_id"], third.id);
        assert_eq!(b["target_fen"], 18_100_000 + 1_810_000);
        assert_eq!(b["counted_fen"], h1_counted);
        // The same figure as the school's own half-year progress.
        let own = report(&app, &coordinator, "progress", &format!("year=2021&period=H1&scope_kind=org&scope_id={}", w.school_id)).await;
        assert_eq!(own["counted_fen"], rows[0]["counted_fen"]);
        assert_eq!(own["target_fen"], rows[0]["target_fen"]);
        // Who may read it, and bad input.
        report(&app, &w.bureau, "bulletin", &query).await;
        app.get(&format!("/api/v1/reports/bulletin?{query}")).token(&w.school).send().await.assert_problem(403, "forbidden");
        app.get(&format!("/api/v1/reports/bulletin?year=2021&period=H3&org_id={}", bureau.id)).token(&coordinator).send().await.assert_problem(422, "validation_failed");
        app.get("/api/v1/reports/bulletin?year=2021&period=H1&org_id=org_nosuch").token(&coordinator).send().await.assert_status(404);
        // As a file, with the half in its title.
        let file = app.get(&format!("/api/v1/reports/bulletin?{query}&format=xlsx")).token(&coordinator).send().await;
        file.assert_status(200);
        let sheet = read_xlsx(file.body.clone());
        assert!(sheet[0][0].contains("惠州市教育局 2021年上半年"), "{sheet:?}");
        assert!(sheet.iter().any(|r| r.first().map(String::as_str) == Some("1") && r.get(1).map(String::as_str) == Some("惠州市第一中学")), "{sheet:?}");
        // As a printable page, linked from the bureau's dashboard.
        let mut browser = crate::workplace::browser(&app, &coordinator);
        let dash = browser.get(&format!("/dashboard?year=2021&scope=org:{}", bureau.id)).await;
        dash.assert_status(200);
        assert!(dash.text().contains("id=\"bulletin-link\""), "{}", dash.text());
        let page = browser.get(&format!("/dashboard/bulletin?year=2021&period=H1&scope=org:{}", bureau.id)).await;
        page.assert_status(200);
        let page = page.text();
        assert!(page.contains("2021年上半年消费帮扶预留份额完成情况通报") && page.contains(&format!("data-org=\"{}\"", w.school_id)), "{page}");
        assert_eq!(crate::dashboard::attr(&page, "behind", "id"), "behind");
        browser.get(&format!("/dashboard/bulletin?year=2021&period=H1&scope=org:{}&format=xlsx", bureau.id)).await.assert_status(200);
        browser.get("/dashboard/bulletin?year=2021&period=H1&scope=recipient:522300").await.assert_status(422);

        // The mail: once, from 08:00 on 1 July, to the coordinators whose region holds the bureau.
        assert_eq!(dongxi::notify::digest::run_due(&app.state).await.unwrap().bulletins, 1);
        let (_, twin) = app.twin();
        assert_eq!(dongxi::notify::digest::run_due(&twin).await.unwrap().bulletins, 0, "once a half-year");
        deliver(&app).await;
        let mails: Vec<Delivered> = eml_files(&app).into_iter().filter(|m| !before.contains(&m.message_id) && m.subject.starts_with("消费帮扶2021年上半年完成情况通报")).collect();
        let mine = mails.iter().find(|m| m.text.contains("惠州市教育局")).unwrap_or_else(|| panic!("{mails:#?}"));
        assert!(mine.text.contains("所属单位 3 个：已完成 0，进度正常 0，进度滞后 2，未设目标 1"), "{}", mine.text);
        assert!(mine.text.contains(&format!("已计入 {} 元", dongxi::notify::yuan(h1_counted))), "{}", mine.text);
        assert!(mine.text.contains(&format!("/dashboard/bulletin?year=2021&period=H1&scope=org%3A{}", bureau.id)), "{}", mine.text);
        assert!(mine.list_unsubscribe.is_some());
        assert!(!mails.iter().any(|m| m.text.contains("惠州市教育局") && m.to.contains("qxn")), "黔西南's coordinators hear nothing of Huizhou's bureau");
    }
}
