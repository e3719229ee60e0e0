//! Quality labels (圳品, 绿色食品, 有机产品, 农产品地理标志): added by the producer with issuer,
//! number, validity and document; bad input refused and nothing written; one of each kind at a
//! time; expiring by themselves; audited; shown on the product, its trace page and the producer's
//! workplace, where a bad date is shown beside its field.

use chrono::Duration;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::dashboard::{Visitor, attr};
use crate::helpers::TestApp;
use crate::orders::{World, world};

fn green(from: &str, until: &str) -> Value {
    json!({
        "kind": "green_food", "issuer": "中国绿色食品发展中心", "certificate_no": "LB-18-21031200117A",
        "valid_from": from, "valid_until": until, "document_url": "https://docs.ceheng.example.cn/lb.pdf"
    })
}

async fn labels_of(app: &TestApp, product: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/products/{product}/labels")).send().await;
    r.assert_status(200);
    r.json()["items"].as_array().unwrap().clone()
}

backend_tests! {
    async fn a_producer_labels_its_product_and_the_label_expires_by_itself(app: TestApp) {
        let w: World = world(&app).await;
        let path = format!("/api/v1/products/{}/labels", w.fungi);
        let today = app.clock.now().date_naive();
        let (from, until) = ((today - Duration::days(30)).to_string(), (today + Duration::days(10)).to_string());

        // Bad input: each refused with problem+json, nothing written.
        for (body, field) in [
            (green(&until, &from), "valid_until"),
            (json!({"kind": "halal", "issuer": "x", "certificate_no": "1", "valid_from": from, "valid_until": until}), "kind"),
            (json!({"kind": "organic", "issuer": " ", "certificate_no": "1", "valid_from": from, "valid_until": until}), "issuer"),
            (json!({"kind": "organic", "issuer": "x", "certificate_no": "1", "valid_from": from, "valid_until": until, "document_url": "javascript:alert(1)"}), "document_url"),
        ] {
            let r = app.post(&path).token(&w.fungi_producer).json(body).send().await;
            r.assert_status(422);
            assert_eq!(r.headers.get("content-type").unwrap(), "application/problem+json");
            assert_eq!(r.json()["errors"][0]["field"], field, "{}", r.text());
        }
        let unknown_field = app.post(&path).token(&w.fungi_producer).json(json!({"kind": "organic", "colour": "green"})).send().await;
        assert_eq!(unknown_field.status.as_u16(), 422);
        // Only its producer labels it.
        app.post(&path).token(&w.tea_producer).json(green(&from, &until)).send().await.assert_status(403);
        app.post(&path).token(&w.school).json(green(&from, &until)).send().await.assert_status(403);
        assert!(labels_of(&app, &w.fungi).await.is_empty(), "nothing written");

        // One green-food label, valid today; a second of the kind is refused.
        let made = app.post(&path).token(&w.fungi_producer).json(green(&from, &until)).send().await;
        made.assert_status(201);
        let label = made.json();
        assert_eq!((label["kind_name"].as_str(), label["status"].as_str()), (Some("绿色食品"), Some("valid")));
        let twice = app.post(&path).token(&w.fungi_producer).json(green(&from, &until)).send().await;
        twice.assert_status(409);
        assert_eq!(twice.json()["code"], "label_exists");
        let geo = json!({"kind": "geo_indication", "issuer": "农业农村部", "certificate_no": "AGI2020-01-0001", "valid_from": until, "valid_until": "2030-12-31"});
        app.post(&path).token(&w.fungi_producer).json(geo).send().await.assert_status(201);

        // Shown on the product (to anyone) with its state; the geographical indication is not yet valid.
        let product = app.get(&format!("/api/v1/products/{}", w.fungi)).send().await.json();
        let kinds: Vec<(&str, &str)> = product["labels"].as_array().unwrap().iter().map(|l| (l["kind"].as_str().unwrap(), l["status"].as_str().unwrap())).collect();
        assert_eq!(kinds, [("geo_indication", "not_yet_valid"), ("green_food", "valid")]);

        // It expires by itself after its last day (read anonymously: sessions last hours, not days).
        let start = app.clock.now();
        app.clock.advance(Duration::days(11));
        let later: Vec<(String, String)> = labels_of(&app, &w.fungi).await.iter().map(|l| (l["kind"].as_str().unwrap().to_owned(), l["status"].as_str().unwrap().to_owned())).collect();
        assert_eq!(later, [("geo_indication".to_owned(), "valid".to_owned()), ("green_food".to_owned(), "expired".to_owned())]);
        app.clock.set(start);

        // Removed by its producer only; the removal and the addition are in the audit trail.
        let id = label["id"].as_str().unwrap();
        app.request(axum::http::Method::DELETE, &format!("{path}/{id}")).token(&w.tea_producer).send().await.assert_status(403);
        app.request(axum::http::Method::DELETE, &format!("{path}/{id}")).token(&w.fungi_producer).send().await.assert_status(204);
        app.request(axum::http::Method::DELETE, &format!("{path}/{id}")).token(&w.fungi_producer).send().await.assert_status(404);
        assert_eq!(labels_of(&app, &w.fungi).await.len(), 1);
        let events = app.get(&format!("/api/v1/products/{}/certification-events", w.fungi)).token(&w.fungi_producer).send().await.json();
        let actions: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions.iter().filter(|a| **a == "label_added").count(), 2, "{actions:?}");
        assert_eq!(actions.iter().filter(|a| **a == "label_removed").count(), 1, "{actions:?}");
        // A green-food label may be added again once the old one is removed.
        app.post(&path).token(&w.fungi_producer).json(green(&from, "2030-01-01")).send().await.assert_status(201);

        // The trace page (JSON and the public page) shows the labels.
        let batch = app
            .post(&format!("/api/v1/products/{}/batches", w.fungi))
            .token(&w.fungi_producer)
            .json(json!({"batch_no": "CH-XG-1", "produced_on": from, "quantity": 100}))
            .send()
            .await
            .json();
        let code = batch["trace_code"].as_str().unwrap();
        let trace = app.get(&format!("/api/v1/trace/{code}")).send().await.json();
        assert_eq!(trace["labels"].as_array().unwrap().len(), 2);
        let page = app.get(&format!("/trace/{code}")).send().await.text();
        assert!(page.contains("农产品地理标志") && page.contains("AGI2020-01-0001"), "{page}");
    }

    async fn labels_are_added_and_removed_from_the_producers_workplace(app: TestApp) {
        let w: World = world(&app).await;
        let mut fungi = Visitor::new(&app);
        fungi.extra.push(("cookie".into(), format!("{}={}", dongxi::dashboard::SESSION_COOKIE, w.fungi_producer)));
        let path = format!("/producer/products/{}", w.fungi);
        let page = fungi.get(&path).await.text();
        let csrf = attr(&page, "logout-token", "value");
        assert_eq!(attr(&page, "label-form", "action"), format!("{path}/labels"));
        let form = |from: &'static str, until: &'static str| {
            vec![("csrf", csrf.clone()), ("kind", "green_food".into()), ("issuer", "中国绿色食品发展中心".into()), ("certificate_no", "LB-1".into()), ("valid_from", from.into()), ("valid_until", until.into()), ("document_url", String::new())]
        };
        let send = |f: &Vec<(&'static str, String)>| f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
        for (from, until, field) in [("2026-01-01", "2025-01-01", "valid_until"), ("01.01.2026", "2027-01-01", "valid_from")] {
            let f = send(&form(from, until));
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = fungi.post(&format!("{path}/labels"), &f).await;
            r.assert_status(422);
            let refused = r.text();
            assert!(refused.contains(&format!("id=\"error-{field}\"")), "{field}: {refused}");
            assert!(refused.contains(&format!("value=\"{until}\"")), "kept as typed");
        }
        assert!(labels_of(&app, &w.fungi).await.is_empty(), "nothing written");
        let f = send(&form("2026-01-01", "2027-12-31"));
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fungi.post(&format!("{path}/labels"), &f).await.assert_status(303);
        let again = fungi.post(&format!("{path}/labels"), &f).await;
        again.assert_status(422);
        assert!(again.text().contains("id=\"error-kind\""), "one of a kind, said beside the kind");
        let labels = labels_of(&app, &w.fungi).await;
        assert_eq!(labels.len(), 1);
        let id = labels[0]["id"].as_str().unwrap();
        let page = fungi.get(&path).await.text();
        assert!(page.contains(&format!("data-label=\"{id}\"")), "{page}");
        fungi.post(&format!("{path}/labels/{id}/remove"), &[("csrf", csrf.as_str())]).await.assert_status(303);
        assert!(labels_of(&app, &w.fungi).await.is_empty());
        let mut tea = Visitor::new(&app);
        tea.extra.push(("cookie".into(), format!("{}={}", dongxi::dashboard::SESSION_COOKIE, w.tea_producer)));
        let tea_csrf = attr(&tea.get("/producer").await.text(), "logout-token", "value");
        tea.post(&format!("{path}/labels"), &[("csrf", tea_csrf.as_str()), ("kind", "organic"), ("issuer", "x"), ("certificate_no", "1"), ("valid_from", "2026-01-01"), ("valid_until", "2027-01-01")]).await.assert_status(403);
    }
}
