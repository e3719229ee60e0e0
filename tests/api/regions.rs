use dongxi::identity::types::{OrgKind, Role};
use serde_json::json;

use crate::backend_tests;

backend_tests! {
    async fn national_list_is_loaded(app: TestApp) {
        let r = app.get("/api/v1/regions/522323").send().await;
        r.assert_status(200);
        let body = r.json();
        assert_eq!(body["name"], "普安县");
        assert_eq!(body["parent_code"], "522300");
        assert_eq!(body["level"], "county");
        assert_eq!(body["full_name"], "贵州省 黔西南布依族苗族自治州 普安县");
        assert_eq!(body["assisted"], false, "nothing is assisted until marked");

        let r = app.get("/api/v1/regions?parent=522300").send().await;
        let codes: Vec<String> = r.json()["items"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap().to_owned()).collect();
        assert_eq!(codes, ["522301", "522302", "522323", "522324", "522325", "522326", "522327", "522328"]);

        for (code, name) in [("652927", "乌什县"), ("510727", "平武县"), ("513324", "九龙县"), ("520627", "沿河土家族自治县"), ("320582", "张家港市"), ("330200", "宁波市"), ("441300", "惠州市")] {
            let r = app.get(&format!("/api/v1/regions/{code}")).send().await;
            assert_eq!(r.json()["name"], name, "{code}");
        }
        // Municipalities' placeholder level is left out of full names.
        assert_eq!(app.get("/api/v1/regions/110105").send().await.json()["full_name"], "北京市 朝阳区");

        let provinces = app.get("/api/v1/regions?limit=200").send().await.json();
        assert_eq!(provinces["items"].as_array().unwrap().len(), 31);
        assert!(provinces["next_cursor"].is_null());

        let counties: usize = app.db(|c| {
            use diesel::prelude::*;
            use dongxi::db::schema::regions::dsl::*;
            regions.filter(level.eq("county")).count().get_result::<i64>(c).unwrap() as usize
        }).await;
        assert!(counties >= 2800, "{counties} county-level units");
    }

    async fn region_lists_page_with_cursors(app: TestApp) {
        let first = app.get("/api/v1/regions?parent=522300&limit=3").send().await.json();
        assert_eq!(first["items"].as_array().unwrap().len(), 3);
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        let second = app.get(&format!("/api/v1/regions?parent=522300&limit=3&cursor={cursor}")).send().await.json();
        assert_eq!(second["items"][0]["code"], "522324");
        let third = app.get(&format!("/api/v1/regions?parent=522300&limit=3&cursor={}", second["next_cursor"].as_str().unwrap())).send().await.json();
        assert_eq!(third["items"].as_array().unwrap().len(), 2);
        assert!(third["next_cursor"].is_null());

        app.get("/api/v1/regions?parent=522300&limit=0").send().await.assert_problem(422, "validation_failed");
        app.get("/api/v1/regions?parent=522300&limit=201").send().await.assert_problem(422, "validation_failed");
        app.get("/api/v1/regions?parent=522300&cursor=%%%").send().await.assert_problem(422, "validation_failed");
        app.get("/api/v1/regions?parent=999999").send().await.assert_problem(422, "unknown_region");
        app.get("/api/v1/regions/999999").send().await.assert_problem(404, "not_found");
    }

    async fn units_without_codes_are_added_by_region_admins(app: TestApp) {
        let admin = app.platform_admin().await;
        let (_, qxn) = app.signed_in("黔西南州乡村振兴局", OrgKind::Coordinator, "522300", Role::Admin).await;
        let (_, qxn_member) = app.signed_in("黔西南州协作科", OrgKind::Coordinator, "522300", Role::Member).await;
        let (_, huizhou) = app.signed_in("惠州市协作办", OrgKind::Coordinator, "441300", Role::Admin).await;
        let (_, agency) = app.signed_in("惠州市教育局", OrgKind::Agency, "441300", Role::Admin).await;

        let town = json!({"code": "522323100", "name": "盘水街道", "parent_code": "522323", "level": "town"});
        app.post("/api/v1/regions").json(town.clone()).send().await.assert_problem(401, "unauthenticated");
        app.post("/api/v1/regions").token(&huizhou).json(town.clone()).send().await.assert_problem(403, "forbidden");
        app.post("/api/v1/regions").token(&qxn_member).json(town.clone()).send().await.assert_problem(403, "forbidden");
        app.post("/api/v1/regions").token(&agency).json(town.clone()).send().await.assert_problem(403, "forbidden");

        let r = app.post("/api/v1/regions").token(&qxn).json(town.clone()).send().await;
        r.assert_status(201);
        assert_eq!(r.json()["full_name"], "贵州省 黔西南布依族苗族自治州 普安县 盘水街道");
        assert_eq!(r.json()["national"], false);
        app.post("/api/v1/regions").token(&qxn).json(town).send().await.assert_problem(409, "region_exists");

        let village = json!({"code": "522323100-201", "name": "岗坪村", "parent_code": "522323100", "level": "village"});
        app.post("/api/v1/regions").token(&qxn).json(village).send().await.assert_status(201);
        assert_eq!(app.get("/api/v1/regions?parent=522323100").send().await.json()["items"][0]["name"], "岗坪村");

        let corps = json!({"code": "652900-bt1-4", "name": "新疆生产建设兵团第一师四团", "parent_code": "652900", "level": "unit"});
        let r = app.post("/api/v1/regions").token(&admin).json(corps).send().await;
        r.assert_status(201);
        assert_eq!(r.json()["code"], "652900-BT1-4", "codes are upper-cased");

        for (body, code) in [
            (json!({"code": "522399", "name": "x", "parent_code": "522300", "level": "unit"}), "validation_failed"),
            (json!({"code": "A B", "name": "x", "parent_code": "522300", "level": "unit"}), "validation_failed"),
            (json!({"code": "X1", "name": " ", "parent_code": "522300", "level": "unit"}), "validation_failed"),
            (json!({"code": "X1", "name": "x", "parent_code": "522300", "level": "county"}), "validation_failed"),
            (json!({"code": "X1", "name": "x", "parent_code": "522300", "level": "town"}), "validation_failed"),
            (json!({"code": "X1", "name": "x", "parent_code": "000001", "level": "unit"}), "unknown_region"),
        ] {
            app.post("/api/v1/regions").token(&admin).json(body.clone()).send().await.assert_problem(422, code);
        }
        app.post("/api/v1/regions").token(&admin).json(json!({"code": "X1"})).send().await.assert_problem(422, "validation_failed");
        assert_eq!(app.get("/api/v1/regions/X1").send().await.status, 404, "nothing half-written");
    }

    async fn assisted_marks_are_inherited(app: TestApp) {
        let admin = app.platform_admin().await;
        let (_, coordinator) = app.signed_in("黔西南州乡村振兴局", OrgKind::Coordinator, "522300", Role::Admin).await;

        app.patch("/api/v1/regions/522300").token(&coordinator).json(json!({"assisted": true})).send().await.assert_problem(403, "forbidden");
        app.patch("/api/v1/regions/522300").json(json!({"assisted": true})).send().await.assert_problem(401, "unauthenticated");
        app.patch("/api/v1/regions/522300").token(&admin).json(json!({"assisted": "yes"})).send().await.assert_problem(422, "validation_failed");
        app.patch("/api/v1/regions/999999").token(&admin).json(json!({"assisted": true})).send().await.assert_problem(404, "not_found");

        let r = app.patch("/api/v1/regions/522300").token(&admin).json(json!({"assisted": true})).send().await;
        assert_eq!(r.json()["assisted"], true);
        assert_eq!(app.get("/api/v1/regions/522323").send().await.json()["assisted"], true, "a county inherits its prefecture's mark");
        assert_eq!(app.get("/api/v1/regions/520000").send().await.json()["assisted"], false, "marks do not flow upward");
        assert_eq!(app.get("/api/v1/regions/520627").send().await.json()["assisted"], false);

        app.patch("/api/v1/regions/522300").token(&admin).json(json!({"assisted": false})).send().await.assert_status(200);
        assert_eq!(app.get("/api/v1/regions/522323").send().await.json()["assisted"], false);
    }
}
