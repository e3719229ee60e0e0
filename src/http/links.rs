//! OpenAPI links: how the ids in one operation's answer feed the next step of a lifecycle, so a
//! client (and the fuzzer's stateful phase) can walk whole business paths with real objects:
//! a product made → its certification asked → approved → published; an order placed → paid →
//! shipped → accepted → rated, refunded or a refund asked and decided; a campaign → a pledge →
//! withdrawn or authorised → the close; a filing → approved or returned; a run → its settlements
//! → a batch → paid or failed. `ops::contract` checks that every link names real operations,
//! real parameters and a field the answer has.

use serde_json::{Map, Value, json};

/// One link: from an operation's answer with `status` to the operation `to`, whose parameters
/// (`path.id`, `query.year`) take the answer's fields (JSON pointers into its body).
pub struct Link {
    pub from: &'static str,
    pub status: &'static str,
    pub to: &'static str,
    pub parameters: &'static [(&'static str, &'static str)],
}

const fn link(
    from: &'static str,
    status: &'static str,
    to: &'static str,
    parameters: &'static [(&'static str, &'static str)],
) -> Link {
    Link { from, status, to, parameters }
}

const ID: &[(&str, &str)] = &[("path.id", "/id")];
const PRODUCT_ID: &[(&str, &str)] = &[("path.id", "/product_id")];
const SUB_ORDER_ID: &[(&str, &str)] = &[("path.id", "/sub_order_id")];
const FIRST_SUB_ORDER: &[(&str, &str)] = &[("path.id", "/sub_orders/0/id")];
const PAID_ORDER: &[(&str, &str)] = &[("path.id", "/order/id")];
const PAID_SUB_ORDER: &[(&str, &str)] = &[("path.id", "/order/sub_orders/0/id")];
const PLEDGE: &[(&str, &str)] = &[("path.id", "/group_buy_id"), ("path.pledge_id", "/id")];
const FILING: &[(&str, &str)] = &[("path.id", "/org_id"), ("path.year", "/year")];
const TARGET_SCOPE: &[(&str, &str)] =
    &[("query.year", "/year"), ("query.scope_kind", "/scope_kind"), ("query.scope_id", "/scope_id")];
const REGION: &[(&str, &str)] = &[("path.code", "/code")];

#[rustfmt::skip]
pub const LINKS: &[Link] = &[
    // The catalogue: a product, its certification, batches and labels.
    link("create_product", "201", "get_product", ID),
    link("create_product", "201", "patch_product", ID),
    link("create_product", "201", "request_certification", ID),
    link("create_product", "201", "certification_events", ID),
    link("create_product", "201", "create_batch", ID),
    link("create_product", "201", "add_label", ID),
    link("create_product", "201", "price_check", ID),
    link("patch_product", "200", "request_certification", ID),
    link("request_certification", "201", "get_request", ID),
    link("request_certification", "201", "approve", ID),
    link("request_certification", "201", "reject", ID),
    link("approve", "200", "publish", PRODUCT_ID),
    link("approve", "200", "revoke", PRODUCT_ID),
    link("approve", "200", "certification_events", PRODUCT_ID),
    link("reject", "200", "request_certification", PRODUCT_ID),
    link("publish", "200", "get_product", ID),
    link("publish", "200", "unpublish", ID),
    link("unpublish", "200", "publish", ID),
    link("create_batch", "201", "trace_code", &[("path.code", "/trace_code")]),
    link("create_batch", "201", "list_batches", PRODUCT_ID),
    link("add_label", "201", "remove_label", &[("path.id", "/product_id"), ("path.label_id", "/id")]),
    link("add_label", "201", "list_labels", PRODUCT_ID),
    // Orders: placed, paid, shipped, accepted, rated; cancelled; refunded, or a refund asked.
    link("place_order", "201", "get_order", ID),
    link("place_order", "201", "order_events", ID),
    link("place_order", "201", "cancel_order", ID),
    link("place_order", "201", "record_offline", ID),
    link("place_order", "201", "pay_by_stripe", ID),
    link("place_order", "201", "list_payments", ID),
    link("place_order", "201", "get_sub_order", FIRST_SUB_ORDER),
    link("record_offline", "201", "get_order", PAID_ORDER),
    link("record_offline", "201", "cancel_order", PAID_ORDER),
    link("record_offline", "201", "ship", PAID_SUB_ORDER),
    link("record_offline", "201", "refund", PAID_SUB_ORDER),
    link("record_offline", "201", "list_refunds", PAID_SUB_ORDER),
    link("ship", "200", "accept", ID),
    link("ship", "200", "ask_refund", ID),
    link("ship", "200", "get_sub_order", ID),
    link("accept", "200", "rate", ID),
    link("accept", "200", "ask_refund", ID),
    link("accept", "200", "refund", ID),
    link("ask_refund", "201", "grant_refund_request", ID),
    link("ask_refund", "201", "decline_refund_request", ID),
    link("ask_refund", "201", "get_sub_order", SUB_ORDER_ID),
    link("grant_refund_request", "200", "list_refunds", SUB_ORDER_ID),
    link("decline_refund_request", "200", "refund", SUB_ORDER_ID),
    link("refund", "201", "get_sub_order", &[("path.id", "/sub_order/id")]),
    link("cancel_order", "200", "order_events", ID),
    // Group purchases: a campaign, pledges, the close.
    link("create_campaign", "201", "get_campaign", ID),
    link("create_campaign", "201", "pledge", ID),
    link("create_campaign", "201", "list_pledges", ID),
    link("create_campaign", "201", "close_campaign", ID),
    link("create_campaign", "201", "cancel_campaign", ID),
    link("pledge", "201", "withdraw", PLEDGE),
    link("pledge", "201", "authorize_card", PLEDGE),
    link("pledge", "201", "close_campaign", &[("path.id", "/group_buy_id")]),
    link("close_campaign", "200", "list_pledges", ID),
    // Live sessions.
    link("create_session", "201", "get_session", ID),
    link("create_session", "201", "cancel_session", ID),
    // Organisations, users, bank details.
    link("create_org", "201", "get_org", ID),
    link("create_org", "201", "create_user", ID),
    link("create_org", "201", "list_users", ID),
    link("create_org", "201", "put_bank_account", ID),
    link("create_org", "201", "balance", ID),
    link("create_user", "201", "get_org", &[("path.id", "/organization_id")]),
    link("put_bank_account", "200", "bank_account_events", &[("path.id", "/org_id")]),
    link("put_bank_account", "200", "get_bank_account", &[("path.id", "/org_id")]),
    // Regions, pairings, targets and the reports on them; filings.
    link("create_region", "201", "get_region", REGION),
    link("create_region", "201", "patch_region", REGION),
    link("patch_region", "200", "get_region", REGION),
    link("create_pairing", "201", "get_pairing", ID),
    link("create_pairing", "201", "patch_pairing", ID),
    link("create_pairing", "201", "accounting_events", &[("query.subject_id", "/id")]),
    link("create_target", "201", "patch_target", ID),
    link("create_target", "201", "progress", TARGET_SCOPE),
    link("create_target", "201", "breakdown", TARGET_SCOPE),
    link("create_target", "201", "ledger", TARGET_SCOPE),
    link("patch_target", "200", "progress", TARGET_SCOPE),
    link("put_filing", "200", "approve_filing", FILING),
    link("put_filing", "200", "return_filing", FILING),
    link("put_filing", "201", "approve_filing", FILING),
    link("put_filing", "201", "return_filing", FILING),
    link("put_filing", "201", "get_filing", FILING),
    link("return_filing", "200", "put_filing", FILING),
    // Settlement: a run, its settlements, a batch, paid or failed.
    link("start_run", "202", "get_run", ID),
    link("create_payment_batch", "201", "batch_file", ID),
    link("create_payment_batch", "201", "record_paid", &[("path.id", "/lines/0/settlement_id")]),
    link("create_payment_batch", "201", "record_failed", &[("path.id", "/lines/0/settlement_id")]),
    link("record_paid", "200", "get_settlement", ID),
    link("record_paid", "200", "statement_csv", ID),
    link("record_paid", "200", "record_failed", ID),
    link("record_failed", "200", "record_paid", ID),
    link("record_failed", "200", "cancel_settlement", ID),
];

/// Adds every link of `LINKS` to the responses of the served document (named after the operation
/// it leads to). It works on the JSON because utoipa's `Link` serialises its members in snake
/// case (`operation_id`), which no OpenAPI reader understands. A link whose operation or response
/// is missing is left out here and fails the contract test.
pub fn document(openapi: &mut Value) {
    let Some(paths) = openapi.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for operation in item.values_mut() {
            let Some(id) = operation.get("operationId").and_then(Value::as_str).map(str::to_owned) else { continue };
            for l in LINKS.iter().filter(|l| l.from == id) {
                let Some(response) = operation.pointer_mut(&format!("/responses/{}", l.status)) else { continue };
                let Some(response) = response.as_object_mut() else { continue };
                let parameters: Map<String, Value> = l
                    .parameters
                    .iter()
                    .map(|(name, pointer)| ((*name).to_owned(), json!(format!("$response.body#{pointer}"))))
                    .collect();
                let links = response.entry("links").or_insert_with(|| json!({}));
                if let Some(links) = links.as_object_mut() {
                    links.insert(l.to.to_owned(), json!({"operationId": l.to, "parameters": parameters}));
                }
            }
        }
    }
}
