//! The authorisation matrix: every route the router serves (read from `dongxi::app::route_list`,
//! so a route added without a row here fails) × every kind of caller, on objects that belong to
//! one agency (惠州市第一中学) and one producer (普安县茶源茶叶专业合作社). Each row runs on its
//! own copy of the database, callers from the least to the most entitled, so a row's first
//! success cannot hide a later caller's refusal. Strangers and the anonymous never get a
//! success that carries the owners' private data.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::orders::{delivery, order_body, pay, world};

/// The callers, in the order each row tries them (and its `expect` lists their statuses).
const CALLERS: [&str; 14] = ["anon", "xa", "xp", "xc", "pm", "cm", "sm", "am", "cd", "ba", "ca", "sa", "aa", "pa"];
// anon  no credentials
// xa    a stranger agency's admin (宁波市机关事务管理局)
// xp    a stranger producer's admin (册亨县食用菌合作社, in the same prefecture)
// xc    a stranger coordinator's admin (宁波市对口支援办, another donor city)
// pm    a platform member          cm  a member of the recipient coordinator (黔西南州)
// sm    a member of the producer   am  a member of the buying agency
// cd    the donor city's coordinator admin (惠州市协作办)
// ba    the buying agency's supervising parent's admin (惠州市教育局)
// ca    the recipient coordinator's admin   sa  the producer's admin
// aa    the buying agency's admin            pa  the platform admin
/// Callers who must never see the owners' private objects.
const FOREIGN: [&str; 4] = ["anon", "xa", "xp", "xc"];

struct Row {
    method: &'static str,
    route: &'static str,
    /// The concrete request: `{name}` filled from the fixture; a body starting `form:` is sent
    /// form-encoded, otherwise as JSON (empty: no body).
    path: &'static str,
    body: &'static str,
    /// One status per caller, in `CALLERS` order.
    expect: &'static str,
}

const fn row(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: &'static str,
    expect: &'static str,
) -> Row {
    Row { method, route, path, body, expect }
}

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                                                    anon xa  xp  xc  pm  cm  sm  am  cd  ba  ca  sa  aa  pa
    row("POST", "/api/v1/auth/login", "/api/v1/auth/login", r#"{"email": "school@test.dongxi.cn", "password": "correct-horse-battery"}"#, "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("POST", "/api/v1/auth/logout", "/api/v1/auth/logout", "", "401 204 204 204 204 204 204 204 204 204 204 204 204 204"),
    row("GET", "/api/v1/me", "/api/v1/me", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("POST", "/api/v1/organizations", "/api/v1/organizations", r#"{"name": "惠州市第二中学", "kind": "agency", "region_code": "441302", "parent_id": "{bureau_org}"}"#, "401 403 403 403 403 403 403 403 201 403 403 403 403 201"),
    row("GET", "/api/v1/organizations", "/api/v1/organizations?kind=agency", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/organizations/{id}", "/api/v1/organizations/{school_org}", "", "401 404 404 404 200 404 404 200 200 200 404 404 200 200"),
    row("POST", "/api/v1/organizations/{id}/users", "/api/v1/organizations/{school_org}/users", r#"{"email": "new@test.dongxi.cn", "name": "新同事", "password": "a-long-password", "role": "member"}"#, "401 404 404 404 403 404 404 403 201 403 404 404 409 409"),
    row("GET", "/api/v1/organizations/{id}/users", "/api/v1/organizations/{school_org}/users", "", "401 404 404 404 403 404 404 403 200 403 404 404 200 200"),
    row("GET", "/api/v1/regions", "/api/v1/regions?parent=522300", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("POST", "/api/v1/regions", "/api/v1/regions", r#"{"code": "522323101", "name": "盘水街道", "parent_code": "522323", "level": "town"}"#, "401 403 403 403 403 403 403 403 403 403 201 403 403 409"),
    row("GET", "/api/v1/regions/{code}", "/api/v1/regions/522323", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("PATCH", "/api/v1/regions/{code}", "/api/v1/regions/522600", r#"{"assisted": true}"#, "401 403 403 403 403 403 403 403 403 403 403 403 403 200"),
    row("GET", "/api/v1/categories", "/api/v1/categories", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("POST", "/api/v1/products", "/api/v1/products", r#"{"name": "普安红茶 一级", "category": "tea", "origin_region_code": "522323", "unit": "罐", "spec": "100g/罐", "price_fen": 8800, "stock": 10}"#, "401 403 201 403 403 403 201 403 403 403 403 201 403 403"),
    row("GET", "/api/v1/products", "/api/v1/products", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/products/{id}", "/api/v1/products/{draft}", "", "404 404 404 404 200 200 200 404 404 404 200 200 404 200"),
    row("PATCH", "/api/v1/products/{id}", "/api/v1/products/{tea}", r#"{"price_fen": 16600}"#, "401 403 403 403 403 403 200 403 403 403 403 200 403 403"),
    row("POST", "/api/v1/products/{id}/publish", "/api/v1/products/{unlisted}/publish", "", "401 404 404 404 403 403 409 404 404 404 403 409 404 403"),
    row("POST", "/api/v1/products/{id}/unpublish", "/api/v1/products/{tea}/unpublish", "", "401 403 403 403 403 403 200 404 404 404 403 200 404 403"),
    row("POST", "/api/v1/products/{id}/certification-requests", "/api/v1/products/{unlisted}/certification-requests", r#"{"benefit_mechanism": "保底收购"}"#, "401 404 404 404 403 403 201 404 404 404 403 409 404 403"),
    row("GET", "/api/v1/products/{id}/certification-events", "/api/v1/products/{draft}/certification-events", "", "401 404 404 404 200 200 200 404 404 404 200 200 404 200"),
    row("GET", "/api/v1/certification-requests", "/api/v1/certification-requests?status=pending", "", "401 403 200 200 200 200 200 403 200 403 200 200 403 200"),
    row("GET", "/api/v1/certification-requests/{id}", "/api/v1/certification-requests/{cert_request}", "", "401 404 404 404 200 200 200 404 404 404 200 200 404 200"),
    row("POST", "/api/v1/certification-requests/{id}/approve", "/api/v1/certification-requests/{cert_request}/approve", r#"{"valid_until": "2027-12-31"}"#, "401 404 404 404 403 403 403 404 404 404 200 403 404 409"),
    row("POST", "/api/v1/certification-requests/{id}/reject", "/api/v1/certification-requests/{cert_request}/reject", r#"{"reason": "材料不全"}"#, "401 404 404 404 403 403 403 404 404 404 200 403 404 409"),
    row("POST", "/api/v1/products/{id}/revoke-certification", "/api/v1/products/{tea}/revoke-certification", r#"{"reason": "抽检不合格"}"#, "401 403 403 403 403 403 403 403 403 403 200 403 404 409"),
    row("POST", "/api/v1/products/{id}/batches", "/api/v1/products/{tea}/batches", r#"{"batch_no": "PA-2026-11-02", "produced_on": "2026-11-02", "quantity": 100}"#, "401 403 403 403 403 403 201 403 403 403 403 409 403 403"),
    row("GET", "/api/v1/products/{id}/batches", "/api/v1/products/{tea}/batches", "", "401 403 403 403 403 403 200 403 403 403 403 200 403 403"),
    row("POST", "/api/v1/products/{id}/labels", "/api/v1/products/{tea}/labels", r#"{"kind": "organic", "issuer": "中绿华夏有机产品认证中心", "certificate_no": "COFCC-R-2021-0001", "valid_from": "2021-01-01", "valid_until": "2027-12-31"}"#, "401 403 403 403 403 403 201 403 403 403 403 409 403 403"),
    row("GET", "/api/v1/products/{id}/labels", "/api/v1/products/{tea}/labels", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("DELETE", "/api/v1/products/{id}/labels/{label_id}", "/api/v1/products/{tea}/labels/{label}", "", "401 403 403 403 403 403 204 403 403 403 403 404 403 403"),
    row("GET", "/api/v1/trace/{code}", "/api/v1/trace/{trace}", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/products/{id}/price-check", "/api/v1/products/{tea}/price-check", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/search/products", "/api/v1/search/products?q=红茶", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("POST", "/api/v1/orders", "/api/v1/orders", "{order_body}", "401 201 403 403 403 403 403 201 403 201 403 403 201 403"),
    row("GET", "/api/v1/orders", "/api/v1/orders", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/orders/{id}", "/api/v1/orders/{order}", "", "401 404 404 404 200 404 200 200 404 200 404 200 200 200"),
    row("GET", "/api/v1/orders/{id}/events", "/api/v1/orders/{order}/events", "", "401 404 404 404 200 404 200 200 404 200 404 200 200 200"),
    row("POST", "/api/v1/orders/{id}/cancel", "/api/v1/orders/{order}/cancel", "", "401 404 404 404 403 404 403 200 404 403 404 403 409 403"),
    row("GET", "/api/v1/sub-orders", "/api/v1/sub-orders", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/sub-orders/{id}", "/api/v1/sub-orders/{paid_sub}", "", "401 404 404 404 200 404 200 200 404 200 404 200 200 200"),
    row("POST", "/api/v1/sub-orders/{id}/ship", "/api/v1/sub-orders/{paid_sub}/ship", r#"{"carrier": "顺丰", "tracking_no": "SF1001"}"#, "401 404 404 404 403 404 200 403 404 403 404 409 403 403"),
    row("POST", "/api/v1/sub-orders/{id}/accept", "/api/v1/sub-orders/{shipped_sub}/accept", "{}", "401 404 404 404 403 404 403 200 404 403 404 403 409 403"),
    row("POST", "/api/v1/sub-orders/{id}/rating", "/api/v1/sub-orders/{accepted_sub}/rating", r#"{"stars": 5, "comment": "好茶"}"#, "401 404 404 404 403 404 403 201 404 403 404 403 409 403"),
    row("POST", "/api/v1/orders/{id}/payments/offline", "/api/v1/orders/{order}/payments/offline", r#"{"amount_fen": 158000, "reference": "ICBC-1", "paid_at": "2026-11-23T08:00:00Z"}"#, "401 403 403 403 403 403 403 403 403 403 403 403 403 201"),
    row("GET", "/api/v1/orders/{id}/payments", "/api/v1/orders/{paid}/payments", "", "401 404 404 404 200 404 200 200 404 200 404 200 200 200"),
    row("POST", "/api/v1/sub-orders/{id}/refunds", "/api/v1/sub-orders/{paid_sub}/refunds", r#"{"amount_fen": 100, "reason": "少发一罐"}"#, "401 404 404 404 403 404 201 403 404 403 404 201 403 201"),
    row("POST", "/api/v1/sub-orders/{id}/refund-requests", "/api/v1/sub-orders/{shipped_sub}/refund-requests", r#"{"amount_fen": 100, "reason": "少发一罐"}"#, "401 404 404 404 403 404 403 201 404 403 404 403 409 403"),
    row("GET", "/api/v1/refund-requests", "/api/v1/refund-requests?status=requested", "", "401 200 200 403 200 403 200 200 403 200 403 200 200 200"),
    row("POST", "/api/v1/refund-requests/{id}/grant", "/api/v1/refund-requests/{refund_request}/grant", "", "401 404 404 404 403 404 200 403 404 404 404 409 403 409"),
    row("POST", "/api/v1/refund-requests/{id}/decline", "/api/v1/refund-requests/{refund_request}/decline", r#"{"reason": "已按约定数量发货"}"#, "401 404 404 404 403 404 200 403 404 404 404 409 403 409"),
    row("GET", "/api/v1/sub-orders/{id}/refunds", "/api/v1/sub-orders/{paid_sub}/refunds", "", "401 404 404 404 200 404 200 200 404 200 404 200 200 200"),
    row("POST", "/api/v1/orders/{id}/payments/stripe", "/api/v1/orders/{order}/payments/stripe", "", "401 404 404 404 403 404 403 503 404 403 404 403 503 403"),
    row("POST", "/api/v1/webhooks/stripe", "/api/v1/webhooks/stripe", r#"{"id": "evt_1", "type": "payment_intent.succeeded"}"#, "503 503 503 503 503 503 503 503 503 503 503 503 503 503"),
    row("POST", "/api/v1/pairings", "/api/v1/pairings", r#"{"donor_region_code": "440100", "recipient_region_code": "522300", "valid_from": "2026-01-01"}"#, "401 403 403 403 403 403 403 403 403 403 201 403 403 409"),
    row("GET", "/api/v1/pairings", "/api/v1/pairings?recipient=522300", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/pairings/{id}", "/api/v1/pairings/{pairing}", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("PATCH", "/api/v1/pairings/{id}", "/api/v1/pairings/{pairing}", r#"{"valid_to": "2030-12-31"}"#, "401 403 403 403 403 403 403 403 200 403 200 403 403 200"),
    row("POST", "/api/v1/targets", "/api/v1/targets", r#"{"year": 2026, "scope_kind": "donor", "scope_id": "441302", "amount_fen": 100000000}"#, "401 403 403 403 403 403 403 403 201 403 403 403 403 409"),
    row("GET", "/api/v1/targets", "/api/v1/targets?year=2026&scope_kind=org&scope_id={school_org}", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("PATCH", "/api/v1/targets/{id}", "/api/v1/targets/{target}", r#"{"amount_fen": 120000000}"#, "401 404 404 404 403 404 404 404 200 200 404 404 403 200"),
    row("PUT", "/api/v1/organizations/{id}/filings/{year}", "/api/v1/organizations/{school_org}/filings/2027", r#"{"canteen_budget_fen": 1000000000, "share_bp": 3000}"#, "401 404 404 404 403 404 404 403 403 403 404 404 201 403"),
    row("GET", "/api/v1/organizations/{id}/filings/{year}", "/api/v1/organizations/{school_org}/filings/2026", "", "401 404 404 404 200 404 404 200 200 200 404 404 200 200"),
    row("POST", "/api/v1/organizations/{id}/filings/{year}/approve", "/api/v1/organizations/{school_org}/filings/2026/approve", "", "401 404 404 404 403 404 404 403 200 409 404 404 403 409"),
    row("POST", "/api/v1/organizations/{id}/filings/{year}/return", "/api/v1/organizations/{school_org}/filings/2026/return", r#"{"reason": "预算口径不符"}"#, "401 404 404 404 403 404 404 403 200 409 404 404 403 409"),
    row("GET", "/api/v1/filings", "/api/v1/filings?year=2026", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("POST", "/api/v1/periods/{year}/close", "/api/v1/periods/2025/close", "", "401 403 403 403 403 403 403 403 403 403 403 403 403 200"),
    row("GET", "/api/v1/periods", "/api/v1/periods", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/ledger", "/api/v1/ledger?year=2026&scope_kind=org&scope_id={school_org}", "", "401 404 404 404 200 404 404 403 200 200 404 404 200 200"),
    row("GET", "/api/v1/reports/progress", "/api/v1/reports/progress?year=2026&scope_kind=org&scope_id={school_org}", "", "401 404 404 404 200 404 404 403 200 200 404 404 200 200"),
    row("GET", "/api/v1/reports/breakdown", "/api/v1/reports/breakdown?year=2026&scope_kind=org&scope_id={school_org}&by=category", "", "401 404 404 404 200 404 404 403 200 200 404 404 200 200"),
    row("GET", "/api/v1/reports/laggards", "/api/v1/reports/laggards?year=2026&scope_kind=org&scope_id={bureau_org}", "", "401 404 404 404 200 404 404 403 200 200 404 404 403 200"),
    row("GET", "/api/v1/reports/bulletin", "/api/v1/reports/bulletin?year=2026&period=H1&org_id={bureau_org}", "", "401 404 404 404 200 404 404 403 200 200 404 404 403 200"),
    row("GET", "/api/v1/accounting-events", "/api/v1/accounting-events?subject_kind=pairing&subject_id={pairing}", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("POST", "/api/v1/group-buys", "/api/v1/group-buys", "{campaign_body}", "401 403 403 403 403 403 403 403 201 201 403 403 403 201"),
    row("GET", "/api/v1/group-buys", "/api/v1/group-buys", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/group-buys/{id}", "/api/v1/group-buys/{campaign}", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("POST", "/api/v1/group-buys/{id}/pledges", "/api/v1/group-buys/{campaign}/pledges", "{pledge_body}", "401 403 403 403 403 403 403 201 403 201 403 403 201 403"),
    row("GET", "/api/v1/group-buys/{id}/pledges", "/api/v1/group-buys/{campaign}/pledges", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("DELETE", "/api/v1/group-buys/{id}/pledges/{pledge_id}", "/api/v1/group-buys/{campaign}/pledges/{pledge}", "", "401 404 404 404 404 404 404 204 404 404 404 404 204 404"),
    row("POST", "/api/v1/group-buys/{id}/pledges/{pledge_id}/authorization", "/api/v1/group-buys/{campaign}/pledges/{pledge}/authorization", "", "401 404 404 404 404 404 404 503 404 404 404 404 503 404"),
    row("POST", "/api/v1/group-buys/{id}/close", "/api/v1/group-buys/{campaign}/close", "", "401 403 403 403 403 403 403 403 200 403 403 403 403 200"),
    row("POST", "/api/v1/group-buys/{id}/cancel", "/api/v1/group-buys/{campaign}/cancel", r#"{"reason": "产品抽检未过"}"#, "401 403 403 403 403 403 403 403 200 403 403 403 403 409"),
    row("GET", "/api/v1/service-fees", "/api/v1/service-fees", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("PUT", "/api/v1/service-fees/{category}", "/api/v1/service-fees/tea", r#"{"rate_bp": 100}"#, "401 403 403 403 403 403 403 403 403 403 403 403 403 200"),
    row("POST", "/api/v1/settlements/runs", "/api/v1/settlements/runs", "{}", "401 403 403 403 403 403 403 403 403 403 403 403 403 202"),
    row("GET", "/api/v1/settlements/runs/{id}", "/api/v1/settlements/runs/{run}", "", "401 403 403 403 403 403 403 403 403 403 403 403 403 200"),
    row("GET", "/api/v1/settlements", "/api/v1/settlements", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/settlements/{id}", "/api/v1/settlements/{settlement}", "", "401 404 404 404 200 200 200 404 404 404 200 200 404 200"),
    row("GET", "/api/v1/settlements/{id}/statement.csv", "/api/v1/settlements/{settlement}/statement.csv", "", "401 404 404 404 200 200 200 404 404 404 200 200 404 200"),
    row("GET", "/api/v1/settlements/{id}/statement.xlsx", "/api/v1/settlements/{settlement}/statement.xlsx", "", "401 404 404 404 200 200 200 404 404 404 200 200 404 200"),
    row("POST", "/api/v1/settlements/batches", "/api/v1/settlements/batches", "{}", "401 403 403 403 403 403 403 403 403 403 403 403 403 409"),
    row("GET", "/api/v1/settlements/batches/{id}/file", "/api/v1/settlements/batches/{batch}/file", "", "401 403 403 403 403 403 403 403 403 403 403 403 403 200"),
    row("POST", "/api/v1/settlements/{id}/paid", "/api/v1/settlements/{settlement}/paid", r#"{"reference": "ABC-1", "paid_at": "2026-11-23T08:00:00Z"}"#, "401 403 403 403 403 403 403 403 403 403 403 403 403 200"),
    row("POST", "/api/v1/settlements/{id}/failed", "/api/v1/settlements/{settlement}/failed", r#"{"reason": "户名不符"}"#, "401 403 403 403 403 403 403 403 403 403 403 403 403 200"),
    row("POST", "/api/v1/settlements/{id}/cancel", "/api/v1/settlements/{settlement}/cancel", r#"{"reason": "核对"}"#, "401 403 403 403 403 403 403 403 403 403 403 403 403 409"),
    row("GET", "/api/v1/organizations/{id}/balance", "/api/v1/organizations/{tea_org}/balance", "", "401 404 404 404 200 200 200 404 404 404 200 200 404 200"),
    row("GET", "/api/v1/organizations/{id}/bank-account", "/api/v1/organizations/{tea_org}/bank-account", "", "401 404 404 404 200 200 200 404 404 404 200 200 404 200"),
    row("PUT", "/api/v1/organizations/{id}/bank-account", "/api/v1/organizations/{tea_org}/bank-account", r#"{"account_name": "普安县茶源茶叶专业合作社", "bank_name": "中国农业银行普安县支行", "account_no": "62284808123456701"}"#, "401 403 403 403 403 403 403 403 403 403 403 200 403 200"),
    row("GET", "/api/v1/organizations/{id}/bank-account/events", "/api/v1/organizations/{tea_org}/bank-account/events", "", "401 404 404 404 200 200 200 404 404 404 200 200 404 200"),
    row("GET", "/api/v1/reports/time-to-money", "/api/v1/reports/time-to-money?year=2026", "", "401 403 200 200 200 200 200 403 200 403 200 200 403 200"),
    row("GET", "/api/v1/me/mail-preferences", "/api/v1/me/mail-preferences", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("PUT", "/api/v1/me/mail-preferences", "/api/v1/me/mail-preferences", r#"{"digest": false}"#, "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/healthz", "/healthz", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/readyz", "/readyz", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/metrics", "/metrics", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/openapi.json", "/api/openapi.json", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/docs", "/api/docs", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/mail/unsubscribe", "/mail/unsubscribe?token=not-a-token", "", "404 404 404 404 404 404 404 404 404 404 404 404 404 404"),
    row("POST", "/mail/unsubscribe", "/mail/unsubscribe", "form:token=not-a-token", "404 404 404 404 404 404 404 404 404 404 404 404 404 404"),
    row("GET", "/", "/", "", "303 303 303 303 303 303 303 303 303 303 303 303 303 303"),
    row("GET", "/login", "/login", "", "200 303 303 303 303 303 303 303 303 303 303 303 303 303"),
    row("POST", "/login", "/login", "form:email=school%40test.dongxi.cn&password=correct-horse-battery", "403 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/logout", "/logout", "form:csrf=forged", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("GET", "/dashboard", "/dashboard?year=2026", "", "303 200 200 200 200 200 200 403 200 200 200 200 200 200"),
    row("GET", "/dashboard/orders/{id}", "/dashboard/orders/{paid}?year=2026&scope=org:{school_org}", "", "303 404 404 404 200 404 404 403 200 200 404 404 200 200"),
    row("GET", "/dashboard/download", "/dashboard/download?report=progress&format=csv&year=2026&scope=org:{school_org}", "", "303 404 404 404 200 404 404 403 200 200 404 404 200 200"),
    row("GET", "/dashboard/bulletin", "/dashboard/bulletin?year=2026&period=H1&scope=org:{bureau_org}", "", "303 404 404 404 200 404 404 403 200 200 404 404 403 200"),
    row("GET", "/agency", "/agency", "", "303 200 403 403 403 403 403 200 403 200 403 403 200 403"),
    row("GET", "/agency/goods", "/agency/goods?q=%E7%BA%A2%E8%8C%B6", "", "303 200 403 403 403 403 403 200 403 200 403 403 200 403"),
    row("GET", "/agency/cart", "/agency/cart", "", "303 200 403 403 403 403 403 200 403 200 403 403 200 403"),
    row("POST", "/agency/cart", "/agency/cart", "form:csrf=forged&product_id=x&quantity=1", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/agency/cart/lines/{product_id}", "/agency/cart/lines/prd_x", "form:csrf=forged&quantity=1", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/agency/cart/place", "/agency/cart/place", "form:csrf=forged&key=k", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("GET", "/agency/sheets", "/agency/sheets", "", "303 200 403 403 403 403 403 200 403 200 403 403 200 403"),
    row("POST", "/agency/sheets", "/agency/sheets", "form:csrf=forged", "303 400 403 403 403 403 403 400 403 400 403 403 400 403"),
    row("GET", "/agency/sheets/{id}", "/agency/sheets/sht_nosuch", "", "303 404 403 403 403 403 403 404 403 404 403 403 404 403"),
    row("POST", "/agency/sheets/{id}/place", "/agency/sheets/sht_nosuch/place", "form:csrf=forged", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("GET", "/agency/sheet-template", "/agency/sheet-template?format=csv", "", "303 200 403 403 403 403 403 200 403 200 403 403 200 403"),
    row("POST", "/api/v1/live-sessions", "/api/v1/live-sessions", "{live_body}", "401 403 403 201 403 403 403 403 201 403 201 409 403 201"),
    row("GET", "/api/v1/live-sessions", "/api/v1/live-sessions", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/api/v1/live-sessions/{id}", "/api/v1/live-sessions/{live}", "", "401 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("POST", "/api/v1/live-sessions/{id}/cancel", "/api/v1/live-sessions/{live}/cancel", "", "401 403 403 403 403 403 403 403 403 403 403 200 403 409"),
    row("GET", "/live", "/live", "", "303 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/live/{id}", "/live/{live}", "", "303 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/agency/group-buys", "/agency/group-buys", "", "303 200 403 403 403 403 403 200 403 200 403 403 200 403"),
    row("GET", "/agency/group-buys/{id}", "/agency/group-buys/{campaign}", "", "303 200 403 403 403 403 403 200 403 200 403 403 200 403"),
    row("POST", "/agency/group-buys/{id}/pledge", "/agency/group-buys/{campaign}/pledge", "form:csrf=forged&key=k&quantity=1", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/agency/group-buys/{id}/withdraw", "/agency/group-buys/{campaign}/withdraw", "form:csrf=forged&pledge_id={pledge}", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("GET", "/agency/orders", "/agency/orders?status=paid", "", "303 200 403 403 403 403 403 200 403 200 403 403 200 403"),
    row("GET", "/agency/orders/{id}", "/agency/orders/{paid}", "", "303 404 403 403 403 403 403 200 403 200 403 403 200 403"),
    row("POST", "/agency/sub-orders/{id}/accept", "/agency/sub-orders/{shipped_sub}/accept", "form:csrf=forged&note=ok", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/agency/sub-orders/{id}/rating", "/agency/sub-orders/{accepted_sub}/rating", "form:csrf=forged&stars=5", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/agency/sub-orders/{id}/refund-request", "/agency/sub-orders/{shipped_sub}/refund-request", "form:csrf=forged&amount=1&reason=x&key=k", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("GET", "/producer", "/producer", "", "303 403 200 403 403 403 200 403 403 403 403 200 403 403"),
    row("GET", "/producer/orders", "/producer/orders?status=awaiting_shipment", "", "303 403 200 403 403 403 200 403 403 403 403 200 403 403"),
    row("GET", "/producer/orders/{id}", "/producer/orders/{paid_sub}", "", "303 403 404 403 403 403 200 403 403 403 403 200 403 403"),
    row("POST", "/producer/orders/{id}/ship", "/producer/orders/{paid_sub}/ship", "form:csrf=forged&carrier=%E9%A1%BA%E4%B8%B0&tracking_no=SF1", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("GET", "/producer/orders/{id}/packing", "/producer/orders/{paid_sub}/packing", "", "303 403 404 403 403 403 200 403 403 403 403 200 403 403"),
    row("POST", "/producer/refund-requests/{id}/grant", "/producer/refund-requests/{refund_request}/grant", "form:csrf=forged", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/producer/refund-requests/{id}/decline", "/producer/refund-requests/{refund_request}/decline", "form:csrf=forged&reason=x", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("GET", "/producer/products", "/producer/products", "", "303 403 200 403 403 403 200 403 403 403 403 200 403 403"),
    row("GET", "/producer/products/new", "/producer/products/new", "", "303 403 200 403 403 403 200 403 403 403 403 200 403 403"),
    row("POST", "/producer/products/new", "/producer/products/new", "form:csrf=forged&name=x", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("GET", "/producer/products/{id}", "/producer/products/{tea}", "", "303 403 403 403 403 403 200 403 403 403 403 200 403 403"),
    row("POST", "/producer/products/{id}", "/producer/products/{tea}", "form:csrf=forged&stock=1", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/producer/products/{id}/certification", "/producer/products/{tea}/certification", "form:csrf=forged&benefit_mechanism=x", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/producer/products/{id}/batches", "/producer/products/{tea}/batches", "form:csrf=forged&batch_no=x", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/producer/products/{id}/labels", "/producer/products/{tea}/labels", "form:csrf=forged&kind=organic", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/producer/products/{id}/labels/{label_id}/remove", "/producer/products/{tea}/labels/{label}/remove", "form:csrf=forged", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/producer/products/{id}/publish", "/producer/products/{tea}/publish", "form:csrf=forged", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("POST", "/producer/products/{id}/unpublish", "/producer/products/{tea}/unpublish", "form:csrf=forged", "303 403 403 403 403 403 403 403 403 403 403 403 403 403"),
    row("GET", "/producer/settlements/{id}/statement", "/producer/settlements/{settlement}/statement?format=csv", "", "303 403 404 403 403 403 200 403 403 403 403 200 403 403"),
    row("GET", "/trace/{code}", "/trace/{trace}", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    row("GET", "/dashboard/static/dashboard.css", "/dashboard/static/dashboard.css", "", "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
];

/// The owners' objects, and the callers' tokens.
struct Fixture {
    tokens: BTreeMap<&'static str, String>,
    names: BTreeMap<&'static str, String>,
    /// Strings that only the owners' side (and those entitled over it) may read.
    private: Vec<String>,
}

async fn member(app: &TestApp, admin: &str, token_of_org: &str, email: &str) -> String {
    let me = app.get("/api/v1/me").token(token_of_org).send().await.json();
    let org = me["organization"]["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/organizations/{org}/users"))
        .token(admin)
        .json(json!({"email": email, "name": "同事", "password": crate::helpers::PASSWORD, "role": "member"}))
        .send()
        .await
        .assert_status(201);
    app.login(email).await
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

async fn paid_order(app: &TestApp, w: &crate::orders::World) -> Value {
    let order = crate::orders::place(app, &w.school, &[(&w.tea, 10)]).await;
    pay(app, &w.admin, &order).await;
    order
}

async fn fixture(app: &TestApp) -> Fixture {
    let w = world(app).await;
    let (xc_org, xc) = app
        .signed_in(
            "宁波市对口支援办",
            dongxi::identity::types::OrgKind::Coordinator,
            "330200",
            dongxi::identity::types::Role::Admin,
        )
        .await;
    let _ = xc_org;
    let cm = member(app, &w.admin, &w.qxn, "qxn-member@test.dongxi.cn").await;
    let sm = member(app, &w.admin, &w.tea_producer, "tea-member@test.dongxi.cn").await;
    let me = |token: String| async move {
        app.get("/api/v1/me").token(&token).send().await.json()["organization"]["id"].as_str().unwrap().to_owned()
    };
    let bureau_org = me(w.bureau.clone()).await;

    // A draft with a pending certification request, and an unlisted certified product.
    let draft = app
        .post("/api/v1/products")
        .token(&w.tea_producer)
        .json(json!({"name": "普安白茶", "category": "tea", "origin_region_code": "522323", "unit": "罐", "spec": "200g/罐", "price_fen": 12800, "stock": 50}))
        .send()
        .await;
    draft.assert_status(201);
    let draft = id(&draft.json());
    let cert_request = app
        .post(&format!("/api/v1/products/{draft}/certification-requests"))
        .token(&w.tea_producer)
        .json(json!({"benefit_mechanism": "吸纳脱贫户务工"}))
        .send()
        .await;
    cert_request.assert_status(201);
    let cert_request = id(&cert_request.json());
    let unlisted = app
        .post("/api/v1/products")
        .token(&w.tea_producer)
        .json(json!({"name": "普安绿茶", "category": "tea", "origin_region_code": "522323", "unit": "罐", "spec": "150g/罐", "price_fen": 9800, "stock": 50}))
        .send()
        .await;
    unlisted.assert_status(201);
    let unlisted = id(&unlisted.json());

    let trace = app
        .post(&format!("/api/v1/products/{}/batches", w.tea))
        .token(&w.tea_producer)
        .json(json!({"batch_no": "PA-2026-11-01", "produced_on": "2026-11-01", "quantity": 500}))
        .send()
        .await;
    trace.assert_status(201);
    let trace = trace.json()["trace_code"].as_str().unwrap().to_owned();

    let order = crate::orders::place(app, &w.school, &[(&w.tea, 10)]).await;
    let paid = paid_order(app, &w).await;
    let paid_sub = id(&paid["sub_orders"][0]);
    let label = app
        .post(&format!("/api/v1/products/{}/labels", w.tea))
        .token(&w.tea_producer)
        .json(json!({"kind": "geo_indication", "issuer": "农业农村部", "certificate_no": "AGI2019-02-2556", "valid_from": "2019-08-01", "valid_until": "2029-07-31"}))
        .send()
        .await;
    label.assert_status(201);
    let label = id(&label.json());
    let refund_request = app
        .post(&format!("/api/v1/sub-orders/{paid_sub}/refund-requests"))
        .token(&w.school)
        .json(json!({"amount_fen": 1680, "reason": "到货一罐破损"}))
        .send()
        .await;
    refund_request.assert_status(201);
    let refund_request = id(&refund_request.json());
    let shipped = paid_order(app, &w).await;
    let shipped_sub = id(&shipped["sub_orders"][0]);
    let ship = |sub: String| {
        let token = w.tea_producer.clone();
        async move {
            app.post(&format!("/api/v1/sub-orders/{sub}/ship"))
                .token(&token)
                .json(json!({"carrier": "顺丰", "tracking_no": "SF1"}))
                .send()
                .await
                .assert_status(200);
        }
    };
    ship(shipped_sub.clone()).await;
    let accepted = paid_order(app, &w).await;
    let accepted_sub = id(&accepted["sub_orders"][0]);
    ship(accepted_sub.clone()).await;
    app.post(&format!("/api/v1/sub-orders/{accepted_sub}/accept"))
        .token(&w.school)
        .json(json!({}))
        .send()
        .await
        .assert_status(200);

    let pairing = app
        .post("/api/v1/pairings")
        .token(&w.admin)
        .json(json!({"donor_region_code": "441300", "recipient_region_code": "522300", "valid_from": "2026-01-01"}))
        .send()
        .await;
    pairing.assert_status(201);
    let pairing = id(&pairing.json());
    let target = app
        .post("/api/v1/targets")
        .token(&w.admin)
        .json(json!({"year": 2026, "scope_kind": "org", "scope_id": w.school_id, "amount_fen": 50_000_000}))
        .send()
        .await;
    target.assert_status(201);
    let target = id(&target.json());
    let filing = app
        .request(Method::PUT, &format!("/api/v1/organizations/{}/filings/2026", w.school_id))
        .token(&w.school)
        .json(json!({"canteen_budget_fen": 200_000_000, "share_bp": 3000}))
        .send()
        .await;
    filing.assert_status(201);
    let filing = id(&filing.json());

    let now = app.clock.now();
    let campaign_body = json!({
        "title": "惠州工会 普安红茶 团购", "product_id": w.tea,
        "tiers": [{"min_qty": 1, "unit_price_fen": 16000}, {"min_qty": 100, "unit_price_fen": 15000}],
        "min_total_qty": 20, "max_total_qty": 300,
        "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(), "closes_at": (now + chrono::Duration::days(3)).to_rfc3339(),
        "eligible_region_code": "441300"
    });
    let campaign = app.post("/api/v1/group-buys").token(&w.coordinator).json(campaign_body.clone()).send().await;
    campaign.assert_status(201);
    let campaign = id(&campaign.json());
    let pledge_body = json!({"quantity": 30, "delivery": delivery()});
    let pledge = app
        .post(&format!("/api/v1/group-buys/{campaign}/pledges"))
        .token(&w.school)
        .json(pledge_body.clone())
        .send()
        .await;
    pledge.assert_status(201);
    let pledge = id(&pledge.json());
    let live_body = json!({
        "title": "普安红茶 产地直播", "host": "普安县茶源合作社 理事长",
        "starts_at": (now + chrono::Duration::days(1)).to_rfc3339(), "ends_at": (now + chrono::Duration::days(1) + chrono::Duration::hours(2)).to_rfc3339(),
        "items": [{"product_id": w.tea, "live_price_fen": 15800, "stock_cap": 200}]
    });
    let live = app.post("/api/v1/live-sessions").token(&w.tea_producer).json(live_body.clone()).send().await;
    live.assert_status(201);
    let live = id(&live.json());

    // The tea producer's bank details, and a settlement of its accepted sub-order in a bank batch.
    app.request(Method::PUT, &format!("/api/v1/organizations/{}/bank-account", w.tea_org))
        .token(&w.tea_producer)
        .json(json!({"account_name": "普安县茶源茶叶专业合作社", "bank_name": "中国农业银行普安县支行", "account_no": "6228480812345670123"}))
        .send()
        .await
        .assert_status(200);
    let run =
        app.post("/api/v1/settlements/runs").token(&w.admin).json(json!({"cutoff": now.to_rfc3339()})).send().await;
    run.assert_status(202);
    let run = id(&run.json());
    dongxi::worker::run_due(&app.state, |t| t == "settlement.run").await;
    let settlement = app.get("/api/v1/settlements").token(&w.admin).send().await.json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let batch = app
        .post("/api/v1/settlements/batches")
        .token(&w.admin)
        .json(json!({"settlement_ids": [settlement]}))
        .send()
        .await;
    batch.assert_status(201);
    let batch = id(&batch.json());

    let tokens = BTreeMap::from([
        ("xa", w.stranger.clone()),
        ("xp", w.fungi_producer.clone()),
        ("xc", xc),
        ("pm", w.platform_member.clone()),
        ("cm", cm),
        ("sm", sm),
        ("am", w.school_member.clone()),
        ("cd", w.coordinator.clone()),
        ("ba", w.bureau.clone()),
        ("ca", w.qxn.clone()),
        ("sa", w.tea_producer.clone()),
        ("aa", w.school.clone()),
        ("pa", w.admin.clone()),
    ]);
    let private = vec![
        order["id"].as_str().unwrap().to_owned(),
        paid["id"].as_str().unwrap().to_owned(),
        paid_sub.clone(),
        shipped_sub.clone(),
        accepted_sub.clone(),
        draft.clone(),
        cert_request.clone(),
        refund_request.clone(),
        pledge.clone(),
        target.clone(),
        filing,
        settlement.clone(),
        "6228480812345670123".to_owned(),
        // The agency member's email.
        "canteen@test.dongxi.cn".to_owned(),
    ];
    let names = BTreeMap::from([
        ("school_org", w.school_id.clone()),
        ("bureau_org", bureau_org),
        ("tea", w.tea.clone()),
        ("draft", draft),
        ("unlisted", unlisted),
        ("cert_request", cert_request),
        ("trace", trace),
        ("order", id(&order)),
        ("paid", id(&paid)),
        ("paid_sub", paid_sub),
        ("refund_request", refund_request),
        ("label", label),
        ("shipped_sub", shipped_sub),
        ("accepted_sub", accepted_sub),
        ("pairing", pairing),
        ("target", target),
        ("campaign", campaign),
        ("live", live),
        ("pledge", pledge),
        ("tea_org", w.tea_org.clone()),
        ("run", run),
        ("settlement", settlement),
        ("batch", batch),
        ("order_body", order_body(&[(&w.tea, 10)]).to_string()),
        ("campaign_body", campaign_body.to_string()),
        ("live_body", live_body.to_string()),
        ("pledge_body", pledge_body.to_string()),
    ]);
    Fixture { tokens, names, private }
}

fn fill(template: &str, names: &BTreeMap<&'static str, String>) -> String {
    let mut out = template.to_owned();
    for (name, value) in names {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

async fn call(app: &TestApp, row: &Row, fx: &Fixture, caller: &str) -> (u16, String) {
    let method = Method::from_bytes(row.method.as_bytes()).unwrap();
    let path = fill(row.path, &fx.names);
    let mut request = app.request(method, &path);
    if let Some(token) = fx.tokens.get(caller) {
        request = if path.starts_with("/api/") {
            request.token(token)
        } else {
            request.header("cookie", &format!("{}={token}", dongxi::dashboard::SESSION_COOKIE))
        };
    }
    if let Some(form) = row.body.strip_prefix("form:") {
        request = request.raw("application/x-www-form-urlencoded", form.as_bytes().to_vec());
    } else if !row.body.is_empty() {
        let body: Value =
            serde_json::from_str(&fill(row.body, &fx.names)).unwrap_or_else(|e| panic!("{}: {e}", row.route));
        request = request.json(body);
    }
    let response = request.send().await;
    (response.status.as_u16(), response.text())
}

backend_tests! {
    async fn every_route_by_every_caller(app: TestApp) {
        let served: BTreeSet<(String, String)> =
            dongxi::app::route_list().into_iter().map(|(m, p)| (m.as_str().to_owned(), p)).collect();
        let listed: BTreeSet<(String, String)> = MATRIX.iter().map(|r| (r.method.to_owned(), r.route.to_owned())).collect();
        let missing: Vec<_> = served.difference(&listed).collect();
        assert!(missing.is_empty(), "routes without a row in the authorisation matrix: {missing:?}");
        let stale: Vec<_> = listed.difference(&served).collect();
        assert!(stale.is_empty(), "matrix rows for routes the router does not serve: {stale:?}");
        assert_eq!(listed.len(), MATRIX.len(), "a route has two rows");

        let fx = fixture(&app).await;
        let mut wrong = Vec::new();
        let mut observed = Vec::new();
        for row in MATRIX {
            let copy = app.fork().await;
            let mut statuses = Vec::new();
            for caller in CALLERS {
                let (status, body) = call(&copy, row, &fx, caller).await;
                if FOREIGN.contains(&caller) && (200..300).contains(&status) {
                    for secret in &fx.private {
                        assert!(!body.contains(secret.as_str()), "{caller} {} {}: {status} showed {secret}: {body}", row.method, row.path);
                    }
                }
                // The one documented 503 here: this deployment has no Stripe (card payments are
                // checked against a real Stripe-compatible server in the payments tests).
                let unconfigured = status == 503 && body.contains("\"stripe_not_configured\"");
                assert!(status < 500 || unconfigured, "{caller} {} {} → {status}: {body}", row.method, row.path);
                statuses.push(status.to_string());
            }
            let got = statuses.join(" ");
            if got != row.expect {
                wrong.push(format!("{} {}: want {} got {got}", row.method, row.route, row.expect));
            }
            observed.push(format!("{} {} => {got}", row.method, row.route));
        }
        assert!(wrong.is_empty(), "{} rows differ:\n{}\n\nobserved:\n{}", wrong.len(), wrong.join("\n"), observed.join("\n"));
    }
}
