use chrono::Duration;
use dongxi::identity::types::{OrgKind, Role};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{PASSWORD, start_time};

backend_tests! {
    async fn login_me_logout(app: TestApp) {
        let org = app.org("惠州市第一中学", OrgKind::Agency, "441302", None).await;
        app.user(&org, "Canteen@HZ1Z.edu.cn", Role::Member).await;

        let r = app.post("/api/v1/auth/login").json(json!({"email": "canteen@hz1z.edu.cn ", "password": PASSWORD})).send().await;
        r.assert_status(200);
        let body = r.json();
        let token = body["token"].as_str().unwrap().to_owned();
        assert!(token.len() >= 40);
        assert_eq!(body["expires_at"], (start_time() + Duration::hours(12)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        assert_eq!(body["user"]["email"], "canteen@hz1z.edu.cn");
        assert_eq!(body["user"]["role"], "member");
        assert!(body["user"].get("password").is_none() && body["user"].get("password_hash").is_none());

        let me = app.get("/api/v1/me").token(&token).send().await.json();
        assert_eq!(me["user"]["email"], "canteen@hz1z.edu.cn");
        assert_eq!(me["organization"], json!({"id": org.id, "name": "惠州市第一中学", "kind": "agency", "region_code": "441302", "parent_id": null}));

        // The token is stored only as a hash.
        let stored: Vec<String> = app.db(|c| {
            use diesel::prelude::*;
            dongxi::db::schema::sessions::table.select(dongxi::db::schema::sessions::token_hash).load(c).unwrap()
        }).await;
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0], token);

        app.post("/api/v1/auth/logout").token(&token).send().await.assert_status(204);
        app.get("/api/v1/me").token(&token).send().await.assert_problem(401, "unauthenticated");
        app.post("/api/v1/auth/logout").token(&token).send().await.assert_problem(401, "unauthenticated");
    }

    async fn bad_credentials_and_tokens(app: TestApp) {
        let org = app.org("普安县茶源茶叶专业合作社", OrgKind::Producer, "522323", None).await;
        app.user(&org, "tea@puan.cn", Role::Admin).await;

        let wrong = app.post("/api/v1/auth/login").json(json!({"email": "tea@puan.cn", "password": "wrong-password-1"})).send().await;
        let wrong_body = wrong.assert_problem(401, "invalid_credentials");
        let unknown = app.post("/api/v1/auth/login").json(json!({"email": "nobody@puan.cn", "password": PASSWORD})).send().await;
        let unknown_body = unknown.assert_problem(401, "invalid_credentials");
        assert_eq!(wrong_body["detail"], unknown_body["detail"], "no hint which emails exist");
        app.post("/api/v1/auth/login").json(json!({"email": "not-an-email", "password": PASSWORD})).send().await.assert_problem(401, "invalid_credentials");
        app.post("/api/v1/auth/login").json(json!({"email": "tea@puan.cn"})).send().await.assert_problem(422, "validation_failed");
        app.post("/api/v1/auth/login").raw("application/json", b"{\"email\":".to_vec()).send().await.assert_problem(400, "malformed_json");
        app.post("/api/v1/auth/login").raw("text/plain", b"{}".to_vec()).send().await.assert_problem(415, "unsupported_media_type");

        app.get("/api/v1/me").send().await.assert_problem(401, "unauthenticated");
        app.get("/api/v1/me").token("dxt_forged").send().await.assert_problem(401, "unauthenticated");
        app.get("/api/v1/me").header("authorization", "Basic dGVhOnB3").send().await.assert_problem(401, "unauthenticated");

        let token = app.login("tea@puan.cn").await;
        app.clock.advance(Duration::hours(11) + Duration::minutes(59));
        app.get("/api/v1/me").token(&token).send().await.assert_status(200);
        app.clock.advance(Duration::minutes(2));
        app.get("/api/v1/me").token(&token).send().await.assert_problem(401, "unauthenticated");
    }

    async fn login_is_throttled_per_email(app: TestApp) {
        let org = app.org("兴仁市薏仁米产业发展有限公司", OrgKind::Producer, "522302", None).await;
        app.user(&org, "yiren@xingren.cn", Role::Admin).await;
        app.user(&org, "sales@xingren.cn", Role::Member).await;

        for _ in 0..10 {
            app.post("/api/v1/auth/login").json(json!({"email": "yiren@xingren.cn", "password": "guess-guess-guess"})).send().await.assert_problem(401, "invalid_credentials");
            app.clock.advance(Duration::seconds(30));
        }
        // Even the right password is refused now, and another email is unaffected.
        let r = app.post("/api/v1/auth/login").json(json!({"email": "YIREN@xingren.cn", "password": PASSWORD})).send().await;
        r.assert_problem(429, "too_many_attempts");
        let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=15 * 60).contains(&retry), "{retry}");
        app.login("sales@xingren.cn").await;

        // Fifteen minutes after the first failure, one slot frees up.
        app.clock.advance(Duration::minutes(15) - Duration::seconds(300));
        app.login("yiren@xingren.cn").await;
    }

    async fn organisations_are_created_by_the_right_admins(app: TestApp) {
        let admin = app.platform_admin().await;
        let (qxn_org, qxn) = app.signed_in("黔西南州乡村振兴局", OrgKind::Coordinator, "522300", Role::Admin).await;
        let (_, qxn_member) = app.signed_in("黔西南州协作科", OrgKind::Coordinator, "522300", Role::Member).await;
        let (_, agency_admin) = app.signed_in("惠州市教育局", OrgKind::Agency, "441300", Role::Admin).await;

        let producer = json!({"name": "普安县茶源茶叶专业合作社", "kind": "producer", "region_code": "522323"});
        app.post("/api/v1/organizations").json(producer.clone()).send().await.assert_problem(401, "unauthenticated");
        let r = app.post("/api/v1/organizations").token(&qxn).json(producer.clone()).send().await;
        r.assert_status(201);
        let created = r.json();
        assert_eq!(created["kind"], "producer");
        assert_eq!(created["region_code"], "522323");
        assert!(created["id"].as_str().unwrap().starts_with("org_"));
        assert_eq!(created["created_at"], "2026-11-23T08:00:00Z");
        let got = app.get(&format!("/api/v1/organizations/{}", created["id"].as_str().unwrap())).token(&qxn).send().await;
        assert_eq!(got.json(), created);

        // Outside the coordinator's region, other kinds, non-admins, agencies: all refused.
        app.post("/api/v1/organizations").token(&qxn).json(json!({"name": "惠州x", "kind": "agency", "region_code": "441300"})).send().await.assert_problem(403, "forbidden");
        app.post("/api/v1/organizations").token(&qxn).json(json!({"name": "x", "kind": "coordinator", "region_code": "522323"})).send().await.assert_problem(403, "forbidden");
        app.post("/api/v1/organizations").token(&qxn_member).json(producer.clone()).send().await.assert_problem(403, "forbidden");
        app.post("/api/v1/organizations").token(&agency_admin).json(producer.clone()).send().await.assert_problem(403, "forbidden");

        // The platform admin creates any kind anywhere.
        let r = app.post("/api/v1/organizations").token(&admin).json(json!({"name": "惠州市东西部协作办", "kind": "coordinator", "region_code": "441300"})).send().await;
        r.assert_status(201);

        // Validation and unknown regions.
        app.post("/api/v1/organizations").token(&qxn).json(json!({"name": "x", "kind": "producer", "region_code": "999999"})).send().await.assert_problem(422, "unknown_region");
        app.post("/api/v1/organizations").token(&qxn).json(json!({"name": "x", "kind": "farm", "region_code": "522323"})).send().await.assert_problem(422, "validation_failed");
        app.post("/api/v1/organizations").token(&qxn).json(json!({"name": "", "kind": "producer", "region_code": "522323"})).send().await.assert_problem(422, "validation_failed");
        app.post("/api/v1/organizations").token(&qxn).json(json!({"name": "x", "kind": "producer", "region_code": "522323", "colour": "red"})).send().await.assert_problem(422, "validation_failed");
        let huge = json!({"name": "x".repeat(1_100_000), "kind": "producer", "region_code": "522323"});
        app.post("/api/v1/organizations").token(&qxn).json(huge).send().await.assert_problem(413, "payload_too_large");

        // Parents: an agency under a visible supervising agency; never under something invisible or of the wrong kind.
        let dept = app.post("/api/v1/organizations").token(&qxn).json(json!({"name": "黔西南州教育局", "kind": "agency", "region_code": "522300"})).send().await.json();
        let school = app.post("/api/v1/organizations").token(&qxn).json(json!({"name": "兴义市第八中学", "kind": "agency", "region_code": "522301", "parent_id": dept["id"]})).send().await;
        school.assert_status(201);
        assert_eq!(school.json()["parent_id"], dept["id"]);
        let foreign = app.org("宁波市机关事务管理局", OrgKind::Agency, "330200", None).await;
        app.post("/api/v1/organizations").token(&qxn).json(json!({"name": "x", "kind": "agency", "region_code": "522301", "parent_id": foreign.id})).send().await.assert_problem(422, "validation_failed");
        app.post("/api/v1/organizations").token(&qxn).json(json!({"name": "x", "kind": "producer", "region_code": "522301", "parent_id": dept["id"]})).send().await.assert_problem(422, "validation_failed");

        let count: i64 = app.db(|c| {
            use diesel::prelude::*;
            dongxi::db::schema::organizations::table.count().get_result(c).unwrap()
        }).await;
        assert_eq!(count, 4 + 4 + 1, "only the accepted requests wrote anything");
        let _ = qxn_org;
    }

    async fn organisations_are_visible_only_to_those_concerned(app: TestApp) {
        let (qxn_org, qxn) = app.signed_in("黔西南州乡村振兴局", OrgKind::Coordinator, "522300", Role::Admin).await;
        let (hz_org, huizhou) = app.signed_in("惠州市协作办", OrgKind::Coordinator, "441300", Role::Member).await;
        let edu = app.org("惠州市教育局", OrgKind::Agency, "441300", None).await;
        let school = app.org("惠州市第一中学", OrgKind::Agency, "441302", Some(&edu)).await;
        let sibling = app.org("惠州市第二中学", OrgKind::Agency, "441302", Some(&edu)).await;
        let ningbo = app.org("宁波市机关事务管理局", OrgKind::Agency, "330200", None).await;
        let tea = app.org("普安县茶源茶叶专业合作社", OrgKind::Producer, "522323", None).await;
        let school_email = app.user(&school, "zongwu@hz1z.cn", Role::Member).await;
        let school_token = app.login(&school_email).await;
        let edu_email = app.user(&edu, "caiwu@hzedu.cn", Role::Admin).await;
        let edu_token = app.login(&edu_email).await;
        let admin = app.platform_admin().await;

        let visible = |token: String, id: String| {
            let app = &app;
            async move { app.get(&format!("/api/v1/organizations/{id}")).token(&token).send().await.status.as_u16() }
        };
        // A school sees itself, its supervising department and producers; not its sibling or other cities.
        assert_eq!(visible(school_token.clone(), school.id.clone()).await, 200);
        assert_eq!(visible(school_token.clone(), edu.id.clone()).await, 200);
        assert_eq!(visible(school_token.clone(), tea.id.clone()).await, 200);
        assert_eq!(visible(school_token.clone(), sibling.id.clone()).await, 404);
        assert_eq!(visible(school_token.clone(), ningbo.id.clone()).await, 404);
        assert_eq!(visible(school_token.clone(), hz_org.id.clone()).await, 404);
        // The department sees everything under it.
        assert_eq!(visible(edu_token.clone(), sibling.id.clone()).await, 200);
        // Coordinators see their region, not elsewhere.
        assert_eq!(visible(huizhou.clone(), sibling.id.clone()).await, 200);
        assert_eq!(visible(huizhou.clone(), ningbo.id.clone()).await, 404);
        assert_eq!(visible(huizhou.clone(), qxn_org.id.clone()).await, 404);
        assert_eq!(visible(qxn.clone(), tea.id.clone()).await, 200);
        assert_eq!(visible(qxn.clone(), school.id.clone()).await, 404);
        assert_eq!(visible(admin.clone(), ningbo.id.clone()).await, 200);
        assert_eq!(visible(admin.clone(), "org_nonexistent".into()).await, 404);
        app.get(&format!("/api/v1/organizations/{}", edu.id)).send().await.assert_problem(401, "unauthenticated");

        // Lists apply the same rule, with filters and cursors.
        let ids = |body: serde_json::Value| -> Vec<String> { body["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect() };
        let mine = ids(app.get("/api/v1/organizations?kind=agency").token(&edu_token).send().await.json());
        assert_eq!(mine, vec![edu.id.clone(), school.id.clone(), sibling.id.clone()]);
        let in_huizhou = ids(app.get("/api/v1/organizations?region=441302").token(&huizhou).send().await.json());
        assert_eq!(in_huizhou, vec![school.id.clone(), sibling.id.clone()]);
        let children = ids(app.get(&format!("/api/v1/organizations?parent_id={}", edu.id)).token(&admin).send().await.json());
        assert_eq!(children, vec![school.id.clone(), sibling.id.clone()]);
        let page1 = app.get("/api/v1/organizations?limit=2").token(&admin).send().await.json();
        let page2 = app.get(&format!("/api/v1/organizations?limit=2&cursor={}", page1["next_cursor"].as_str().unwrap())).token(&admin).send().await.json();
        let mut all = ids(page1);
        all.extend(ids(page2));
        assert_eq!(all.len(), 4);
        assert_eq!(all[0], qxn_org.id);
        app.get("/api/v1/organizations?region=000001").token(&admin).send().await.assert_problem(422, "unknown_region");
        app.get("/api/v1/organizations?kind=farm").token(&admin).send().await.assert_problem(422, "validation_failed");
    }

    async fn users_are_managed_by_their_organisation(app: TestApp) {
        let admin = app.platform_admin().await;
        let (org, org_admin) = app.signed_in("惠州市中心人民医院", OrgKind::Agency, "441302", Role::Admin).await;
        let member_email = app.user(&org, "nurse@hzhospital.cn", Role::Member).await;
        let member = app.login(&member_email).await;
        let (_, other_admin) = app.signed_in("宁波市鄞州区人民医院", OrgKind::Agency, "330212", Role::Admin).await;
        let (_, hz_coordinator) = app.signed_in("惠州市协作办", OrgKind::Coordinator, "441300", Role::Admin).await;
        let tea = app.org("普安县茶源茶叶专业合作社", OrgKind::Producer, "522323", None).await;
        let path = format!("/api/v1/organizations/{}/users", org.id);

        let new_user = json!({"email": "Houqin@HZhospital.cn", "name": "后勤部 王主任", "password": "十个字符的中文密码好的", "role": "member"});
        app.post(&path).json(new_user.clone()).send().await.assert_problem(401, "unauthenticated");
        app.post(&path).token(&member).json(new_user.clone()).send().await.assert_problem(403, "forbidden");
        app.post(&path).token(&other_admin).json(new_user.clone()).send().await.assert_problem(404, "not_found");
        app.post(&format!("/api/v1/organizations/{}/users", tea.id)).token(&other_admin).json(new_user.clone()).send().await.assert_problem(403, "forbidden");

        let r = app.post(&path).token(&org_admin).json(new_user.clone()).send().await;
        r.assert_status(201);
        let body = r.json();
        assert_eq!(body["email"], "houqin@hzhospital.cn");
        assert_eq!(body["organization_id"], org.id);
        assert!(body.get("password").is_none());
        let login = app.post("/api/v1/auth/login").json(json!({"email": "houqin@hzhospital.cn", "password": "十个字符的中文密码好的"})).send().await;
        login.assert_status(200);

        app.post(&path).token(&admin).json(new_user.clone()).send().await.assert_problem(409, "email_taken");
        let mut weak = new_user.clone();
        weak["email"] = json!("weak@hzhospital.cn");
        weak["password"] = json!("123456789");
        app.post(&path).token(&org_admin).json(weak).send().await.assert_problem(422, "weak_password");
        let mut bad = new_user.clone();
        bad["email"] = json!("not-mail");
        app.post(&path).token(&org_admin).json(bad).send().await.assert_problem(422, "validation_failed");
        let mut bad_role = new_user.clone();
        bad_role["email"] = json!("r@hzhospital.cn");
        bad_role["role"] = json!("owner");
        app.post(&path).token(&org_admin).json(bad_role).send().await.assert_problem(422, "validation_failed");

        // The platform admin and the coordinator over the region may add users too.
        let mut by_admin = new_user.clone();
        by_admin["email"] = json!("admin-made@hzhospital.cn");
        app.post(&path).token(&admin).json(by_admin).send().await.assert_status(201);
        let mut by_coordinator = new_user.clone();
        by_coordinator["email"] = json!("coordinator-made@hzhospital.cn");
        by_coordinator["role"] = json!("admin");
        app.post(&path).token(&hz_coordinator).json(by_coordinator).send().await.assert_status(201);

        let list = app.get(&path).token(&org_admin).send().await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 5);
        app.get(&path).token(&member).send().await.assert_problem(403, "forbidden");
        app.get(&path).token(&other_admin).send().await.assert_problem(404, "not_found");
    }
}

#[tokio::test]
async fn bootstrap_admin_is_created_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let config = crate::helpers::test_config(
        &url,
        dir.path(),
        &[
            ("DONGXI_BOOTSTRAP_ADMIN_EMAIL", "root@province.gov.cn"),
            ("DONGXI_BOOTSTRAP_ADMIN_PASSWORD", "a-long-enough-secret"),
        ],
    );
    let clock = dongxi::clock::Clock::system();
    let c2 = config.clone();
    let clock2 = clock.clone();
    let users = tokio::task::spawn_blocking(move || {
        dongxi::server::prepare(&c2, &clock2, true).unwrap();
        let db = dongxi::server::prepare(&c2, &clock2, true).unwrap();
        let mut conn = db.get().unwrap();
        use diesel::prelude::*;
        dongxi::db::schema::users::table
            .inner_join(dongxi::db::schema::organizations::table)
            .select((
                dongxi::db::schema::users::email,
                dongxi::db::schema::users::role,
                dongxi::db::schema::organizations::kind,
            ))
            .load::<(String, String, String)>(&mut conn)
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(users, vec![("root@province.gov.cn".to_owned(), "admin".to_owned(), "platform".to_owned())]);

    let weak = crate::helpers::test_config(
        &url,
        dir.path(),
        &[("DONGXI_BOOTSTRAP_ADMIN_EMAIL", "other@province.gov.cn"), ("DONGXI_BOOTSTRAP_ADMIN_PASSWORD", "short")],
    );
    let err =
        tokio::task::spawn_blocking(move || dongxi::server::prepare(&weak, &clock, true).err().map(|e| e.to_string()))
            .await
            .unwrap();
    assert!(err.unwrap().contains("DONGXI_BOOTSTRAP_ADMIN_PASSWORD"));
}
