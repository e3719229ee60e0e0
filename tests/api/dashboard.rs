//! The coordinator dashboard: sign-in by form and cookie, the figures equal to the report API,
//! charts, downloads, drill-down, refusals; and a real Chromium signing in and reading it.

use dongxi::identity::types::{OrgKind, Role};
use serde_json::{Value, json};

use crate::accounting::{order_at, pay_at, report};
use crate::backend_tests;
use crate::helpers::{PASSWORD, TestApp, TestResponse, count_rows, service_env};
use crate::orders::{World, world};

pub const COORDINATOR: &str = "hz.board@test.dongxi.cn";
const SCHOOL_ADMIN: &str = "school.board@test.dongxi.cn";
const SCHOOL_MEMBER: &str = "canteen.board@test.dongxi.cn";

/// A browser: keeps cookies, asks for HTML, follows nothing by itself.
pub struct Visitor<'a> {
    app: &'a TestApp,
    cookies: Vec<(String, String)>,
    pub extra: Vec<(String, String)>,
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Visitor { app, cookies: Vec::new(), extra: Vec::new() }
    }
    fn keep(&mut self, r: &TestResponse) {
        for v in r.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
    fn with_headers<'b>(&self, mut b: crate::helpers::RequestBuilder<'b>) -> crate::helpers::RequestBuilder<'b> {
        b = b.header("accept", "text/html,application/xhtml+xml");
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
            b = b.header("cookie", &jar.join("; "));
        }
        for (k, v) in &self.extra {
            b = b.header(k, v);
        }
        b
    }
    pub async fn get(&mut self, path: &str) -> TestResponse {
        let r = self.with_headers(self.app.get(path)).send().await;
        self.keep(&r);
        r
    }
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> TestResponse {
        let body = serde_urlencoded::to_string(form).unwrap().into_bytes();
        let r = self.with_headers(self.app.post(path)).raw("application/x-www-form-urlencoded", body).send().await;
        self.keep(&r);
        r
    }
    /// Posts a multipart form as a browser's file upload does: `fields`, then the file.
    pub async fn upload(&mut self, path: &str, fields: &[(&str, &str)], file_name: &str, file: &[u8]) -> TestResponse {
        let boundary = "----dongxi-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend(file);
        body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        let kind = format!("multipart/form-data; boundary={boundary}");
        let r = self.with_headers(self.app.post(path)).raw(&kind, body).send().await;
        self.keep(&r);
        r
    }
    /// Loads the login form and posts it.
    pub async fn log_in(&mut self, email: &str, password: &str) -> TestResponse {
        let form = self.get("/login").await;
        form.assert_status(200);
        let csrf = self.cookie("dongxi_csrf").expect("the login form sets its token cookie");
        assert!(form.text().contains(&format!("value=\"{csrf}\"")), "the form echoes its token");
        self.post(
            "/login",
            &[("email", email), ("password", password), ("csrf", &csrf), ("next", "/dashboard?year=2021")],
        )
        .await
    }
}

pub fn location(r: &TestResponse) -> String {
    r.headers.get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The value of attribute `attr` on the element with `id`.
pub fn attr(html: &str, id: &str, attr: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}"));
    let rest = &html[at..];
    let start = rest.find(&format!("{attr}=\"")).unwrap_or_else(|| panic!("#{id} has no {attr}")) + attr.len() + 2;
    rest[start..start + rest[start..].find('"').unwrap()].to_owned()
}

fn hrefs(html: &str) -> Vec<String> {
    html.match_indices("href=\"")
        .map(|(i, _)| {
            html[i + 6..i + 6 + html[i + 6..].find('"').unwrap()].replace("&#x2f;", "/").replace("&amp;", "&")
        })
        .collect()
}

/// The order a page links to from its latest-entries table.
fn order_links(html: &str) -> Vec<String> {
    hrefs(html).into_iter().filter(|h| h.starts_with("/dashboard/orders/")).collect()
}

/// 2021 in 惠州 and 黔西南: targets, two paid orders from the school, the clock in August.
pub async fn scene(app: &TestApp) -> (World, Vec<Value>) {
    let w = world(app).await;
    app.clock.set(crate::accounting::t("2021-01-05T02:00:00Z"));
    for (kind, id, fen) in
        [("donor", "441300", 20_000_000), ("recipient", "522300", 50_000_000), ("recipient", "522323", 8_000_000)]
    {
        app.post("/api/v1/targets")
            .token(&w.admin)
            .json(json!({"year": 2021, "scope_kind": kind, "scope_id": id, "amount_fen": fen}))
            .send()
            .await
            .assert_status(201);
    }
    let school_id = w.school_id.clone();
    let (school, _) = app.db(move |c| dongxi::identity::model::find_org(c, &school_id).unwrap().unwrap()).await;
    app.post("/api/v1/targets")
        .token(&w.bureau)
        .json(json!({"year": 2021, "scope_kind": "org", "scope_id": w.school_id, "amount_fen": 30_000_000}))
        .send()
        .await
        .assert_status(201);
    let coordination = app.org("惠州市东西部协作工作领导小组办公室", OrgKind::Coordinator, "441300", None).await;
    app.user(&coordination, COORDINATOR, Role::Admin).await;
    app.user(&school, SCHOOL_ADMIN, Role::Admin).await;
    app.user(&school, SCHOOL_MEMBER, Role::Member).await;
    let first = order_at(app, &w.school, &[(&w.tea, 20), (&w.fungi, 30)], "2021-03-01T02:00:00Z").await;
    pay_at(app, &w.admin, &first, "2021-03-02T02:00:00Z").await;
    let second = order_at(app, &w.school, &[(&w.tea, 50)], "2021-05-10T02:00:00Z").await;
    pay_at(app, &w.admin, &second, "2021-05-11T02:00:00Z").await;
    app.clock.set(crate::accounting::t("2021-08-01T02:00:00Z"));
    (w, vec![first, second])
}

/// The page's big figures next to `GET /reports/progress` for the same scope and moment.
fn assert_figures_match(html: &str, api: &Value) {
    assert_eq!(attr(html, "counted", "data-fen"), api["counted_fen"].to_string(), "counted");
    let target = api["target_fen"].as_i64().map(|t| t.to_string()).unwrap_or_default();
    assert_eq!(attr(html, "target", "data-fen"), target, "target");
    let ratio = api["ratio"].as_f64().map(|r| r.to_string()).unwrap_or_default();
    assert_eq!(attr(html, "ratio", "data-ratio"), ratio, "ratio");
    assert_eq!(attr(html, "figures", "data-status"), api["status"].as_str().unwrap(), "status");
}

backend_tests! {
    async fn anonymous_pages_send_you_to_login_and_the_coordinator_sees_the_api_figures(app: TestApp) {
        let (w, orders) = scene(&app).await;
        let mut anonymous = Visitor::new(&app);
        for path in ["/dashboard", "/dashboard?year=2021", "/dashboard/download?report=progress&format=csv&year=2021&scope=donor:441300", "/dashboard/orders/x?year=2021&scope=donor:441300"] {
            let r = anonymous.get(path).await;
            assert_eq!(r.status.as_u16(), 303, "{path}");
            assert!(location(&r).starts_with("/login?next=%2Fdashboard"), "{path} → {}", location(&r));
        }
        let mut browser = Visitor::new(&app);
        let signed = browser.log_in(COORDINATOR, PASSWORD).await;
        assert_eq!((signed.status.as_u16(), location(&signed).as_str()), (303, "/dashboard?year=2021"));
        let page = browser.get("/dashboard?year=2021").await;
        page.assert_status(200);
        let html = page.text();
        // 惠州's own region as recipient has nothing and no target, so the page opens on it as donor.
        let api = report(&app, &w.coordinator, "progress", "year=2021&scope_kind=donor&scope_id=441300").await;
        assert!(api["counted_fen"].as_i64().unwrap() > 0);
        assert_figures_match(&html, &api);
        assert!(html.contains("广东省 惠州市") && html.contains("2021年"), "the scope and year are named");

        // A half-year: the same figures as the API's period=H1, its files carry the period too.
        let half = browser.get("/dashboard?year=2021&period=H1&scope=donor:441300").await;
        half.assert_status(200);
        let half = half.text();
        let api_h1 = report(&app, &w.coordinator, "progress", "year=2021&period=H1&scope_kind=donor&scope_id=441300").await;
        assert_figures_match(&half, &api_h1);
        assert!(half.contains("<span id=\"period\">2021年上半年</span>") && half.contains("本期目标"), "{half}");
        assert!(half.contains("<option value=\"H1\" selected>上半年</option>") && half.contains("期初"), "{half}");
        let csv_link = hrefs(&half).into_iter().find(|h| h.contains("report=progress") && h.contains("format=csv")).unwrap();
        assert!(csv_link.contains("period=H1"), "{csv_link}");
        let api_csv = app.get("/api/v1/reports/progress?year=2021&period=H1&scope_kind=donor&scope_id=441300&format=csv").token(&w.coordinator).send().await;
        assert_eq!(browser.get(&csv_link).await.text(), api_csv.text());
        browser.get("/dashboard?year=2021&period=Q9").await.assert_status(422);

        // The breakdown tables add up to the figure, as the API's do.
        let by_place = report(&app, &w.coordinator, "breakdown", "year=2021&scope_kind=donor&scope_id=441300&by=donor_region").await;
        let by_category = report(&app, &w.coordinator, "breakdown", "year=2021&scope_kind=donor&scope_id=441300&by=category").await;
        let total = |section: &str| { let at = html.find(&format!("id=\"by-{section}\"")).unwrap(); let tail = &html[at..]; let t = tail.find("<tfoot>").unwrap(); let s = tail[t..].find("data-fen=\"").unwrap() + t + 10; tail[s..s + tail[s..].find('"').unwrap()].parse::<i64>().unwrap() };
        assert_eq!(total("donor_region"), by_place["total_fen"].as_i64().unwrap());
        assert_eq!(total("category"), by_category["total_fen"].as_i64().unwrap());
        assert!(html.contains("茶叶") || html.contains("茶"), "categories are named in Chinese");

        // Charts are inline SVG with Chinese axis labels; nothing is loaded from anywhere else.
        assert!(html.matches("<svg").count() >= 3, "a cumulative chart and two breakdown charts");
        assert!(html.contains("金额（万元）") && html.contains("均衡进度") && html.contains("年度目标"));
        assert!(!html.contains("<script"), "no script");
        for h in hrefs(&html) {
            assert!(h.starts_with('/'), "a link or style off the site: {h}");
        }
        for needle in ["src=\"http", "src=\"//", "url(", "@import"] {
            assert!(!html.contains(needle), "{needle} in the page");
        }
        let csp = page.headers.get("content-security-policy").unwrap().to_str().unwrap().to_owned();
        assert!(csp.contains("default-src 'none'") && csp.contains("style-src 'self'"), "{csp}");
        let css = browser.get("/dashboard/static/dashboard.css").await;
        css.assert_status(200);
        assert!(css.text().contains("@media print") && !css.text().contains("url(") && !css.text().contains("@import"));

        // Downloads: each report as Excel and CSV; the CSV is byte for byte the API's.
        let links: Vec<String> = hrefs(&html).into_iter().filter(|h| h.starts_with("/dashboard/download")).collect();
        assert_eq!(links.iter().filter(|h| h.contains("format=xlsx")).count(), 8, "{links:?}");
        assert_eq!(links.iter().filter(|h| h.contains("format=csv")).count(), 8);
        for link in &links {
            let file = browser.get(link).await;
            file.assert_status(200);
            let kind = file.headers.get("content-type").unwrap().to_str().unwrap().to_owned();
            if link.contains("format=xlsx") {
                assert!(kind.contains("spreadsheetml") && file.body.starts_with(b"PK"), "{link}: {kind}");
            } else {
                assert!(kind.starts_with("text/csv"), "{link}: {kind}");
            }
        }
        let page_csv = browser.get(links.iter().find(|h| h.contains("report=progress") && h.contains("format=csv")).unwrap()).await;
        let api_csv = app.get("/api/v1/reports/progress?year=2021&scope_kind=donor&scope_id=441300&format=csv").token(&w.coordinator).send().await;
        assert_eq!(page_csv.body, api_csv.body);
        let ledger_csv = browser.get(links.iter().find(|h| h.contains("report=ledger") && h.contains("format=csv")).unwrap()).await;
        let api_ledger = app.get("/api/v1/ledger?year=2021&scope_kind=donor&scope_id=441300&format=csv").token(&w.coordinator).send().await;
        assert_eq!(ledger_csv.body, api_ledger.body);

        // As of a moment: the figures stood then as the API says they did.
        let then = browser.get("/dashboard?year=2021&scope=donor:441300&as_of=2021-04-01T08:00").await;
        then.assert_status(200);
        let api_then = report(&app, &w.coordinator, "progress", "year=2021&scope_kind=donor&scope_id=441300&as_of=2021-04-01T00:00:00Z").await;
        assert_figures_match(&then.text(), &api_then);
        assert!(api_then["counted_fen"].as_i64().unwrap() < api["counted_fen"].as_i64().unwrap(), "the May order came later");
        assert!(then.text().contains("value=\"2021-04-01T08:00\""), "the picker shows the moment");

        // The latest entries link to their orders; the order page shows what the ledger holds.
        let mut links = order_links(&html);
        assert_eq!(links.len(), 3, "one entry per sub-order (the first order has two producers): {links:?}");
        assert!(links[0].contains(orders[1]["id"].as_str().unwrap()), "newest first: {links:?}");
        links.dedup();
        assert_eq!(links.len(), 2);
        let order_page = browser.get(&links[1]).await;
        order_page.assert_status(200);
        let order_html = order_page.text();
        assert!(order_html.contains(orders[0]["id"].as_str().unwrap()) && order_html.contains("普安红茶") && order_html.contains("册亨干香菇"));
        assert_eq!(attr(&order_html, "order-net", "data-fen"), orders[0]["total_fen"].to_string());
        assert!(!order_html.contains("麦地路"), "no delivery address on a coordinator's page");
        browser.get("/dashboard/orders/ord_nothing?year=2021&scope=donor:441300").await.assert_status(404);

        // Drill-down: a county row of a recipient scope opens that county's page.
        let mut qxn = Visitor::new(&app);
        let qxn_org = app.org("黔西南州乡村振兴局（看板）", OrgKind::Coordinator, "522300", None).await;
        app.user(&qxn_org, "qxn.board@test.dongxi.cn", Role::Admin).await;
        qxn.log_in("qxn.board@test.dongxi.cn", PASSWORD).await.assert_status(303);
        let recipient = qxn.get("/dashboard?year=2021").await.text();
        assert_figures_match(&recipient, &report(&app, &w.qxn, "progress", "year=2021&scope_kind=recipient&scope_id=522300").await);
        let county = hrefs(&recipient).into_iter().find(|h| h.contains("scope=recipient%3A522323")).expect("a link to 普安县");
        let county_page = qxn.get(&county).await.text();
        assert_figures_match(&county_page, &report(&app, &w.qxn, "progress", "year=2021&scope_kind=recipient&scope_id=522323").await);
    }

    async fn sign_in_is_guarded_throttled_and_ends_at_logout(app: TestApp) {
        let (_w, _) = scene(&app).await;
        let sessions = count_rows(&app, "sessions").await;
        // No token, a wrong token, another site's form: refused before the password is looked at.
        let mut v = Visitor::new(&app);
        v.post("/login", &[("email", COORDINATOR), ("password", PASSWORD), ("csrf", "x")]).await.assert_status(403);
        v.get("/login").await.assert_status(200);
        v.post("/login", &[("email", COORDINATOR), ("password", PASSWORD), ("csrf", "wrong")]).await.assert_status(403);
        let csrf = v.cookie("dongxi_csrf").unwrap();
        v.extra.push(("origin".into(), "http://evil.example".into()));
        v.post("/login", &[("email", COORDINATOR), ("password", PASSWORD), ("csrf", &csrf)]).await.assert_status(403);
        v.extra.clear();
        assert_eq!(count_rows(&app, "sessions").await, sessions, "no session from a refused form");
        // Without a browser's Accept, the refusal is problem+json like the API's.
        app.post("/login").raw("application/x-www-form-urlencoded", b"email=a%40b.cn&password=x&csrf=y".to_vec()).send().await.assert_problem(403, "csrf_failed");

        // Wrong passwords: the form again with a message, then the API's throttle.
        for _ in 0..10 {
            let r = v.log_in(COORDINATOR, "wrong-password-1").await;
            r.assert_status(401);
            assert!(r.text().contains("邮箱或密码不正确") && r.text().contains(COORDINATOR), "the form keeps the email");
        }
        let throttled = v.log_in(COORDINATOR, PASSWORD).await;
        throttled.assert_status(429);
        assert!(throttled.headers.get("retry-after").is_some());
        app.post("/api/v1/auth/login").json(json!({"email": COORDINATOR, "password": PASSWORD})).send().await.assert_problem(429, "too_many_attempts");
        assert_eq!(count_rows(&app, "sessions").await, sessions);

        // A good sign-in: an HttpOnly, SameSite=Lax cookie; Secure behind TLS; only local redirects.
        let mut school = Visitor::new(&app);
        school.get("/login").await;
        let csrf = school.cookie("dongxi_csrf").unwrap();
        let ok = school.post("/login", &[("email", SCHOOL_ADMIN), ("password", PASSWORD), ("csrf", &csrf), ("next", "//evil.example/")]).await;
        assert_eq!((ok.status.as_u16(), location(&ok).as_str()), (303, "/dashboard"));
        let cookie = ok.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).find(|c| c.starts_with("dongxi_session=")).unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/") && !cookie.contains("Secure"), "{cookie}");
        let mut tls = Visitor::new(&app);
        tls.extra.push(("x-forwarded-proto".into(), "https".into()));
        tls.get("/login").await;
        let csrf = tls.cookie("dongxi_csrf").unwrap();
        let secure = tls.post("/login", &[("email", SCHOOL_ADMIN), ("password", PASSWORD), ("csrf", &csrf)]).await;
        assert!(secure.headers.get_all("set-cookie").iter().all(|c| c.to_str().unwrap().contains("; Secure")));
        let again = school.get("/login").await;
        assert_eq!((again.status.as_u16(), location(&again).as_str()), (303, "/dashboard"), "signed in already");

        // The session is a real one: the same token works as a bearer token, and logout kills both.
        let token = school.cookie("dongxi_session").unwrap();
        app.get("/api/v1/me").token(&token).send().await.assert_status(200);
        let page = school.get("/dashboard?year=2021").await.text();
        let form_token = attr(&page, "logout", "value");
        school.post("/logout", &[("csrf", "forged")]).await.assert_status(403);
        school.get("/dashboard?year=2021").await.assert_status(200);
        let out = school.post("/logout", &[("csrf", &form_token)]).await;
        assert_eq!((out.status.as_u16(), location(&out).as_str()), (303, "/login"));
        assert_eq!(school.cookie("dongxi_session"), None, "the cookie is cleared");
        app.get("/api/v1/me").token(&token).send().await.assert_problem(401, "unauthenticated");
        let mut stale = Visitor::new(&app);
        stale.cookies.push(("dongxi_session".into(), token));
        let r = stale.get("/dashboard").await;
        assert_eq!(r.status.as_u16(), 303);
        assert_eq!(stale.cookie("dongxi_session"), None, "a dead cookie is dropped");
    }

    async fn the_dashboard_shows_each_user_their_own_and_refuses_the_rest(app: TestApp) {
        let (w, _) = scene(&app).await;
        // An agency admin sees their organisation, equal to the API.
        let mut school = Visitor::new(&app);
        school.log_in(SCHOOL_ADMIN, PASSWORD).await.assert_status(303);
        let html = school.get("/dashboard?year=2021").await.text();
        assert_figures_match(&html, &report(&app, &w.school, "progress", &format!("year=2021&scope_kind=org&scope_id={}", w.school_id)).await);
        assert!(html.contains("惠州市第一中学"));
        // Someone else's scope: 403 for a region it may not read, 404 for an organisation it may not know.
        let r = school.get("/dashboard?year=2021&scope=donor:441300").await;
        r.assert_status(403);
        assert!(r.headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/html"), "a page for a browser");
        assert!(r.text().contains("无权查看"));
        let stranger = app.org("宁波市某局", OrgKind::Agency, "330200", None).await;
        school.get(&format!("/dashboard?year=2021&scope=org:{}", stranger.id)).await.assert_status(404);
        // Bad input: 422 naming the field, as a page or as problem+json; nothing else happens.
        let bad = school.get("/dashboard?year=abc").await;
        bad.assert_status(422);
        assert!(bad.text().contains("year"));
        let token = app.login(SCHOOL_ADMIN).await;
        let mut plain = app.get("/dashboard?year=2021&scope=moon:1");
        plain = plain.header("cookie", &format!("dongxi_session={token}"));
        plain.send().await.assert_problem(422, "validation_failed");
        for (q, field) in [("year=2021&as_of=2999-01-01T00:00", "as_of"), ("year=2021&as_of=soon", "as_of"), ("year=1800", "year")] {
            let r = school.get(&format!("/dashboard?{q}")).await;
            r.assert_status(422);
            assert!(r.text().contains(field), "{q}");
        }
        let scope = format!("org:{}", w.school_id);
        for (q, status) in [("report=progress&format=json", 422), ("report=bogus&format=csv", 422), ("report=breakdown&format=csv", 422), ("report=breakdown&by=galaxy&format=csv", 422), ("report=progress&format=pdf", 422)] {
            school.get(&format!("/dashboard/download?{q}&year=2021&scope={scope}")).await.assert_status(status);
        }
        // A member without a report scope of their own is told so.
        let mut member = Visitor::new(&app);
        member.log_in(SCHOOL_MEMBER, PASSWORD).await.assert_status(303);
        let r = member.get("/dashboard?year=2021").await;
        r.assert_status(403);
    }
}

/// Chromium signs in through the form, opens the dashboard, reads the figures (equal to the
/// API's) and keeps a screenshot; every request the page makes goes to this server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_and_reads_the_dashboard() {
    let Some(binary) = service_env("DONGXI_TEST_CHROMIUM", "the browser test (Debian's chromium)") else { return };
    let app = TestApp::sqlite().await;
    let (w, _) = scene(&app).await;
    let api = report(&app, &w.coordinator, "progress", "year=2021&scope_kind=donor&scope_id=441300").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let script_base = base.clone();
    let (figures, shot, requests) = tokio::task::spawn_blocking(move || {
        let base = script_base;
        let mut chrome = crate::browser::Chromium::launch(&binary);
        chrome.open_page();
        chrome.navigate(&format!("{base}/dashboard?year=2021"));
        assert_eq!(chrome.eval("location.pathname"), json!("/login"), "an anonymous visit lands on the login form");
        chrome.eval("document.querySelector('#email').focus()");
        chrome.call("Input.insertText", json!({"text": COORDINATOR}));
        chrome.eval("document.querySelector('#password').focus()");
        chrome.call("Input.insertText", json!({"text": PASSWORD}));
        chrome.forget("Page.loadEventFired");
        chrome.eval("document.querySelector('button[type=submit]').click()");
        chrome.wait_for("Page.loadEventFired");
        let landed = chrome.eval("location.pathname + ' ' + document.title + ' ' + document.body.innerText.slice(0, 300)");
        assert!(landed.as_str().unwrap_or("").starts_with("/dashboard "), "after signing in: {landed}");
        let figures = chrome.eval(
            "JSON.stringify({path: location.pathname + location.search, counted: document.querySelector('#counted').dataset.fen, \
             target: document.querySelector('#target').dataset.fen, ratio: document.querySelector('#ratio').dataset.ratio, \
             status: document.querySelector('#figures').dataset.status, svgs: document.querySelectorAll('svg').length, \
             excel: document.querySelectorAll('a[href*=\"format=xlsx\"]').length, title: document.title, \
             styled: getComputedStyle(document.querySelector('.figure .big')).fontSize, \
             bar: document.querySelector('#ratio-bar').value})",
        );
        let shot = chrome.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
        // Printed: the controls go, the figures and charts stay.
        chrome.call("Emulation.setEmulatedMedia", json!({"media": "print"}));
        let printed = chrome.eval(
            "[getComputedStyle(document.querySelector('.filters')).display, getComputedStyle(document.querySelector('#downloads')).display, \
             getComputedStyle(document.querySelector('#figures')).display].join(' ')",
        );
        assert_eq!(printed, json!("none none grid"), "the print stylesheet");
        chrome.call("Emulation.setEmulatedMedia", json!({"media": ""}));
        // On a phone: nothing wider than the screen (wide tables scroll inside their box).
        chrome.call("Emulation.setDeviceMetricsOverride", json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}));
        chrome.navigate(&format!("{base}/dashboard?year=2021"));
        let widths = chrome.eval("[document.documentElement.scrollWidth, window.innerWidth].join(' ')");
        let widths: Vec<i64> = widths.as_str().unwrap().split(' ').map(|w| w.parse().unwrap()).collect();
        assert!(widths[0] <= widths[1], "the page is wider than a phone: {widths:?}");
        let phone = chrome.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
        let requests: Vec<String> =
            chrome.seen("Network.requestWillBeSent").iter().map(|e| e["request"]["url"].as_str().unwrap_or("").to_owned()).collect();
        (figures, [shot, phone], requests)
    })
    .await
    .unwrap();

    let figures: Value = serde_json::from_str(figures.as_str().unwrap()).unwrap();
    assert_eq!(figures["path"], "/dashboard?year=2021", "{figures}");
    assert_eq!(figures["counted"], api["counted_fen"].to_string());
    assert_eq!(figures["target"], api["target_fen"].to_string());
    assert_eq!(figures["ratio"], api["ratio"].to_string());
    // The ratio's bar is as long as the ratio (a native bar: the CSP allows no inline width).
    let percent = (api["ratio"].as_f64().unwrap() * 100.0).clamp(0.0, 100.0).round();
    assert_eq!(figures["bar"].as_f64(), Some(percent), "{figures}");
    assert_eq!(figures["status"], api["status"]);
    assert!(figures["svgs"].as_u64().unwrap() >= 3 && figures["excel"] == 8, "{figures}");
    assert_eq!(figures["styled"], "40px", "the stylesheet applied: {figures}");
    assert!(requests.iter().any(|u| u.ends_with("/dashboard/static/dashboard.css")), "{requests:?}");
    for url in &requests {
        assert!(
            url.starts_with(&base) || url.starts_with("data:") || url == "about:blank",
            "a request off the site: {url}"
        );
    }
    use base64::Engine;
    let dir = std::env::var("DONGXI_ARTIFACT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&dir).unwrap();
    for (shot, name) in shot.iter().zip(["dashboard.png", "dashboard-phone.png"]) {
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a screenshot of a real page ({} bytes)", png.len());
        let path = dir.join(name);
        std::fs::write(&path, &png).unwrap();
        eprintln!("dashboard screenshot: {}", path.display());
    }
}
