//! The HTTP contract as review sees it: the served OpenAPI document and representative
//! problem+json bodies, kept as insta snapshots. A change to a path, a field, a status or an
//! error code shows up as a diff of `tests/api/snapshots/` in the change that makes it.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse};
use crate::orders::{order_body, world};

/// Pretty JSON with object keys sorted, so a snapshot changes only when the content does.
fn pretty(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sorted(value)).expect("JSON")
}

/// A problem body with the ids this run made up replaced by their kind (`prd_…` → `[prd]`).
fn problem(response: &TestResponse) -> String {
    let status = response.status.as_u16();
    let content_type = response.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut body = pretty(&response.json());
    for (start, _) in body.clone().match_indices('"') {
        let rest = &body[start + 1..];
        let Some(end) = rest.find('"') else { break };
        let word = &rest[..end];
        if let Some((kind, tail)) = word.split_once('_')
            && kind.len() == 3
            && kind.chars().all(|c| c.is_ascii_lowercase())
            && tail.len() >= 16
            && tail.chars().all(|c| c.is_ascii_alphanumeric())
        {
            body = body.replace(word, &format!("[{kind}]"));
        }
    }
    format!("{status} {content_type}\n{body}")
}

#[tokio::test]
async fn the_openapi_document_is_the_reviewed_one() {
    let app = TestApp::sqlite().await;
    let doc = app.get("/api/openapi.json").send().await;
    doc.assert_status(200);
    insta::assert_snapshot!("openapi", pretty(&doc.json()));
}

#[tokio::test]
async fn problems_keep_their_shape() {
    let app = TestApp::sqlite().await;
    let w = world(&app).await;
    let mut shown = Vec::new();
    let mut show = |name: &str, response: TestResponse| shown.push(format!("## {name}\n{}", problem(&response)));

    show("no token", app.get("/api/v1/me").send().await);
    show("unknown route", app.get("/api/v1/nothing-here").send().await);
    show("method not allowed", app.request(axum::http::Method::DELETE, "/api/v1/regions/522323").send().await);
    show(
        "malformed JSON",
        app.post("/api/v1/auth/login").raw("application/json", b"{\"email\":".to_vec()).send().await,
    );
    show(
        "wrong password",
        app.post("/api/v1/auth/login")
            .json(json!({"email": "school@test.dongxi.cn", "password": "not-the-one"}))
            .send()
            .await,
    );
    show(
        "validation with fields",
        app.post("/api/v1/products")
            .token(&w.tea_producer)
            .json(
                json!({"name": "", "category": "nonsense", "origin_region_code": "522323", "unit": "罐", "spec": "250g",
                "price_fen": 0, "stock": -1}),
            )
            .send()
            .await,
    );
    show(
        "not allowed",
        app.post("/api/v1/orders").token(&w.tea_producer).json(order_body(&[(&w.tea, 1)])).send().await,
    );
    show(
        "insufficient stock, with facts",
        app.post("/api/v1/orders").token(&w.school).json(order_body(&[(&w.tea, 100_000)])).send().await,
    );
    let keyed = |body: Value| app.post("/api/v1/orders").token(&w.school).header("idempotency-key", "k-1").json(body);
    keyed(order_body(&[(&w.tea, 1)])).send().await.assert_status(201);
    show("a key reused for another request", keyed(order_body(&[(&w.tea, 2)])).send().await);
    show("unknown region", app.get("/api/v1/regions/000000").send().await);
    show(
        "body over 1 MiB",
        app.post("/api/v1/auth/login").raw("application/json", vec![b' '; 1024 * 1024 + 1]).send().await,
    );
    insta::assert_snapshot!("problems", shown.join("\n\n"));
}
