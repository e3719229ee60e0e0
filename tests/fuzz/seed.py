#!/usr/bin/env python3
"""The fuzz database's fixtures: on top of the demo data, objects in every state an operation
acts on (a pending certification request to approve and one to reject, an unpaid order to cancel
and one to pay, a paid sub-order to ship, a shipped one to accept, an accepted one to rate,
refund requests to grant and to decline, pledges to withdraw and to authorise, campaigns to close
and to cancel, filings to approve and to return, scheduled settlements...), made through the API
as their real owners. Writes a schemathesis configuration whose dictionaries hold their ids, bound
to each operation's parameters, so the fuzzer reaches the business paths with real objects and
still tries unknown ids the rest of the time.
    seed.py BASE_URL PASSWORD CONFIG_OUT
"""
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

base, password, config_out = sys.argv[1:4]
API = base + "/api/v1"
DELIVERY = {"address": "广东省惠州市惠城区麦地路 1 号 食堂", "contact_name": "王老师", "phone": "0752-2222222"}


def call(token, method, path, body=None, expect=(200, 201, 202, 204)):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(API + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    request.add_header("idempotency-key", str(uuid.uuid4()))
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    if status not in expect:
        raise SystemExit(f"seed: {method} {path} answered {status}: {text[:300]}")
    return json.loads(text) if text else None


def login(email):
    return call(None, "POST", "/auth/login", {"email": f"{email}@demo.dongxi.cn", "password": password})["token"]


admin, agency, producer, coordinator = (login(e) for e in ("admin", "school.hz", "tea.puan", "qxn"))
school8, huiyang = login("school8.hz"), login("huiyang.hz")
now = datetime.now(timezone.utc)
iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731

me = {who: call(tok, "GET", "/me")["organization"]["id"] for who, tok in
      (("agency", agency), ("producer", producer), ("school8", school8), ("huiyang", huiyang))}
mine = [p for p in call(producer, "GET", "/products?limit=200")["items"] if p["producer_id"] == me["producer"]]
listed = [p["id"] for p in mine if p["status"] == "listed"]
tea, tea_unpublish, tea_revoke = listed[0], listed[1], listed[2]


def new_product(name):
    body = {"name": name, "category": "tea", "origin_region_code": "522323", "unit": "罐", "spec": "100g/罐",
            "price_fen": 8800, "stock": 500}
    return call(producer, "POST", "/products", body)["id"]


def certification_request(product):
    return call(producer, "POST", f"/products/{product}/certification-requests", {"benefit_mechanism": "保底收购"})["id"]


to_request = new_product("普安红茶 待申请认证")
to_approve = certification_request(new_product("普安红茶 待审批"))
to_reject = certification_request(new_product("普安红茶 待驳回"))
to_publish = new_product("普安红茶 待上架")
# Its own product to edit: a change of origin or spec sets certification back to none, which
# on the tea every order and campaign draws from would stop them all.
to_patch = new_product("普安红茶 待修改")
call(admin, "POST", f"/certification-requests/{certification_request(to_publish)}/approve", {"valid_until": "2030-12-31"})
label = call(producer, "POST", f"/products/{tea}/labels", {
    "kind": "organic", "issuer": "中绿华夏有机产品认证中心", "certificate_no": "COFCC-R-2021-0001",
    "valid_from": "2021-01-01", "valid_until": "2030-12-31"})["id"]
trace = call(producer, "POST", f"/products/{tea}/batches",
             {"batch_no": "PA-FUZZ-1", "produced_on": now.date().isoformat(), "quantity": 100})["trace_code"]


def order(product=None):
    return call(agency, "POST", "/orders", {"lines": [{"product_id": product or tea, "quantity": 2}], "delivery": DELIVERY})


def paid_sub_order(product=None):
    placed = order(product)
    call(admin, "POST", f"/orders/{placed['id']}/payments/offline",
         {"amount_fen": placed["total_fen"], "reference": "ICBC-FUZZ", "paid_at": placed["created_at"]})
    return placed["sub_orders"][0]["id"]


def shipped_sub_order(product=None, seller=producer):
    sub = paid_sub_order(product)
    call(seller, "POST", f"/sub-orders/{sub}/ship", {"carrier": "顺丰", "tracking_no": "SF1001"})
    return sub


def accepted_sub_order(product=None, seller=producer):
    sub = shipped_sub_order(product, seller)
    call(agency, "POST", f"/sub-orders/{sub}/accept", {})
    return sub


to_cancel, to_pay_offline, to_pay_stripe = order(), order(), order()
to_ship, to_refund = paid_sub_order(), paid_sub_order()
to_accept, to_ask_refund = shipped_sub_order(), shipped_sub_order()
to_rate = accepted_sub_order()
refund_requests = []
for _ in range(2):
    sub = shipped_sub_order()
    refund_requests.append(call(agency, "POST", f"/sub-orders/{sub}/refund-requests",
                                {"amount_fen": 100, "reason": "少发一罐"})["id"])
to_grant, to_decline = refund_requests


def campaign(title):
    body = {"title": title, "product_id": tea,
            "tiers": [{"min_qty": 1, "unit_price_fen": 16000}, {"min_qty": 100, "unit_price_fen": 15000}],
            "min_total_qty": 2, "max_total_qty": 300, "opens_at": iso(now - timedelta(hours=1)),
            "closes_at": iso(now + timedelta(days=3)), "eligible_region_code": "441300"}
    return call(admin, "POST", "/group-buys", body)["id"]


def pledge(campaign_id, token=agency):
    return call(token, "POST", f"/group-buys/{campaign_id}/pledges", {"quantity": 3, "delivery": DELIVERY})["id"]


to_pledge, to_close, to_cancel_campaign = campaign("普安红茶 团购 认购"), campaign("普安红茶 团购 截单"), campaign("普安红茶 团购 取消")
pledge(to_close, school8)
withdraw_campaign, authorize_campaign = campaign("普安红茶 团购 撤回"), campaign("普安红茶 团购 授权")
to_withdraw, to_authorize = pledge(withdraw_campaign), pledge(authorize_campaign)

# The region whose assisted flag the fuzzer may turn: a town of its own, so that turning it off
# never makes 普安县's goods unassisted for the rest of the run.
town = call(admin, "POST", "/regions", {"code": "522323-FUZZ", "name": "盘水街道", "parent_code": "522323", "level": "town"})["code"]

live = call(admin, "POST", "/live-sessions", {
    "title": "普安红茶 产地直播", "host": "普安县茶源合作社 理事长",
    "starts_at": iso(now + timedelta(days=1)), "ends_at": iso(now + timedelta(days=1, hours=2)),
    "items": [{"product_id": tea, "live_price_fen": 15800, "stock_cap": 200}]})["id"]

year = now.year + 1
call(school8, "PUT", f"/organizations/{me['school8']}/filings/{year}", {"canteen_budget_fen": 1000000000, "share_bp": 3000})
call(huiyang, "PUT", f"/organizations/{me['huiyang']}/filings/{year}", {"canteen_budget_fen": 1000000000, "share_bp": 3000})

# Four other producers' sub-orders accepted, so that a run schedules four settlements: one to
# record paid, one to cancel, one paid by a batch here and one for the fuzzer's batch.
for email in ("tea.qinglong", "fungi.ceheng", "yiren.xingren", "fungi.anlong"):
    seller = login(email)
    seller_org = call(seller, "GET", "/me")["organization"]["id"]
    product = next(p["id"] for p in call(seller, "GET", "/products?limit=200")["items"]
                   if p["producer_id"] == seller_org and p["status"] == "listed")
    accepted_sub_order(product, seller)
# A producer without bank details: a batch of "every scheduled settlement" leaves its settlement
# out, so the one to cancel is still scheduled whenever the fuzzer gets to it.
unbanked = call(admin, "POST", "/organizations", {"name": "普安县新苗茶叶合作社", "kind": "producer", "region_code": "522323"})["id"]
call(admin, "POST", f"/organizations/{unbanked}/users",
     {"email": "xinmiao@demo.dongxi.cn", "name": "新苗茶叶", "password": password, "role": "admin"})
seller = login("xinmiao")
product = call(seller, "POST", "/products", {"name": "普安红茶 新苗", "category": "tea", "origin_region_code": "522323",
                                           "unit": "罐", "spec": "100g/罐", "price_fen": 6800, "stock": 100})["id"]
request = call(seller, "POST", f"/products/{product}/certification-requests", {"benefit_mechanism": "保底收购"})["id"]
call(admin, "POST", f"/certification-requests/{request}/approve", {"valid_until": "2030-12-31"})
call(seller, "POST", f"/products/{product}/publish")
accepted_sub_order(product, seller)
run = call(admin, "POST", "/settlements/runs", {"cutoff": iso(datetime.now(timezone.utc))})["id"]
for _ in range(100):
    if call(admin, "GET", f"/settlements/runs/{run}")["status"] == "finished":
        break
    time.sleep(0.1)
settlements = call(admin, "GET", "/settlements?limit=200")["items"]
paid_settlements = [s["id"] for s in settlements if s["status"] == "paid"]
scheduled = [s["id"] for s in settlements if s["status"] == "scheduled" and s["producer_id"] != unbanked]
to_cancel_settlement = next(s["id"] for s in settlements if s["status"] == "scheduled" and s["producer_id"] == unbanked)
if len(scheduled) < 4:
    raise SystemExit(f"seed: the run scheduled {len(scheduled)} settlements, not 4")
batch = call(admin, "POST", "/settlements/batches", {"settlement_ids": scheduled[2:3]})["id"]
pairings = [p["id"] for p in call(admin, "GET", "/pairings?limit=50")["items"]]
targets = [t["id"] for t in call(admin, "GET", "/targets?limit=50")["items"]]
orgs = [o["id"] for o in call(admin, "GET", "/organizations?limit=200")["items"]]
campaigns = [c["id"] for c in call(admin, "GET", "/group-buys?limit=50")["items"]]

# name -> ids; each operation's parameters draw from these most of the time.
dictionaries = {
    "product": [tea],
    "product_to_request": [to_request],
    "product_to_publish": [to_publish],
    "product_to_patch": [to_patch],
    "product_to_unpublish": [tea_unpublish],
    "product_to_revoke": [tea_revoke],
    "request": [to_approve, to_reject],
    "request_to_approve": [to_approve],
    "request_to_reject": [to_reject],
    "label": [label],
    "trace": [trace],
    "order": [to_pay_offline["id"], to_cancel["id"]],
    "order_to_cancel": [to_cancel["id"]],
    "order_to_pay_offline": [to_pay_offline["id"]],
    "order_to_pay_stripe": [to_pay_stripe["id"]],
    "amount_to_pay": [to_pay_offline["total_fen"]],
    "sub_order": [to_ship, to_refund, to_accept],
    "sub_order_to_ship": [to_ship],
    "sub_order_to_refund": [to_refund],
    "sub_order_to_accept": [to_accept],
    "sub_order_to_ask_refund": [to_ask_refund],
    "sub_order_to_rate": [to_rate],
    "refund_request_to_grant": [to_grant],
    "refund_request_to_decline": [to_decline],
    "campaign": campaigns,
    "campaign_to_pledge": [to_pledge],
    "campaign_to_close": [to_close],
    "campaign_to_cancel": [to_cancel_campaign],
    "campaign_to_withdraw": [withdraw_campaign],
    "pledge_to_withdraw": [to_withdraw],
    "campaign_to_authorize": [authorize_campaign],
    "pledge_to_authorize": [to_authorize],
    "live": [live],
    "org": orgs,
    "agency_org": [me["agency"]],
    "producer_org": [me["producer"]],
    "filing_org_to_approve": [me["school8"]],
    "filing_org_to_return": [me["huiyang"]],
    "filing_year": [year],
    "year": [2021],
    "closable_year": [2020],
    "settlement": paid_settlements[:5] + scheduled[:5],
    "settlement_to_pay": scheduled[:1],
    "settlement_to_cancel": [to_cancel_settlement],
    "batch": [batch],
    "settlement_to_batch": scheduled[3:4],
    "settlement_paid": paid_settlements[:3],
    "run": [run],
    "pairing": pairings,
    "target": targets,
    "region": ["522300", "522323", "441300", "441302", "440000", "520000"],
    "town": [town],
    "scope_id": ["522300", "522323", "441300", "520000", me["agency"], me["producer"]] + pairings[:2],
    "category": ["tea", "edible_fungi", "grain_oil"],
    # Values the schema cannot state: a caller's email and password, instants that must lie ahead
    # of (or just behind) the server's clock, a county that is assisted.
    "email": ["school.hz@demo.dongxi.cn", "tea.puan@demo.dongxi.cn"],
    "password": [password],
    "future_date": [(now + timedelta(days=400)).date().isoformat()],
    "past_date": [(now - timedelta(days=3)).date().isoformat()],
    "opens_at": [iso(now - timedelta(hours=1))],
    "closes_at": [iso(now + timedelta(days=5))],
    "starts_at": [iso(now + timedelta(days=2))],
    "ends_at": [iso(now + timedelta(days=2, hours=2))],
    "paid_at": [iso(now + timedelta(minutes=2))],
    "assisted_county": ["522323", "522324", "522327"],
    "donor_region": ["441300", "441302", "330200"],
    "recipient_region": ["522300", "522323"],
}

# (operation id, {parameter: dictionary}); the ids of the operations are the document's.
bindings = {
    "get_product": {"path.id": "product"}, "patch_product": {"path.id": "product_to_patch", "body.origin_region_code": "assisted_county"},
    "publish": {"path.id": "product_to_publish"}, "unpublish": {"path.id": "product_to_unpublish"},
    "request_certification": {"path.id": "product_to_request"},
    "certification_events": {"path.id": "product"}, "price_check": {"path.id": "product"},
    "list_batches": {"path.id": "product"}, "create_batch": {"path.id": "product", "body.produced_on": "past_date"},
    "list_labels": {"path.id": "product"},
    "remove_label": {"path.id": "product", "path.label_id": "label"},
    "revoke": {"path.id": "product_to_revoke"},
    "get_request": {"path.id": "request"}, "approve": {"path.id": "request_to_approve", "body.valid_until": "future_date"},
    "reject": {"path.id": "request_to_reject"}, "trace_code": {"path.code": "trace"},
    "get_order": {"path.id": "order"}, "order_events": {"path.id": "order"}, "list_payments": {"path.id": "order"},
    "cancel_order": {"path.id": "order_to_cancel"},
    "record_offline": {"path.id": "order_to_pay_offline", "body.amount_fen": "amount_to_pay", "body.paid_at": "paid_at"},
    "pay_by_stripe": {"path.id": "order_to_pay_stripe"},
    "place_order": {"body.lines[*].product_id": "product"},
    "get_sub_order": {"path.id": "sub_order"}, "list_refunds": {"path.id": "sub_order"},
    "ship": {"path.id": "sub_order_to_ship"}, "refund": {"path.id": "sub_order_to_refund"},
    "accept": {"path.id": "sub_order_to_accept"}, "rate": {"path.id": "sub_order_to_rate"},
    "ask_refund": {"path.id": "sub_order_to_ask_refund"},
    "grant_refund_request": {"path.id": "refund_request_to_grant"},
    "decline_refund_request": {"path.id": "refund_request_to_decline"},
    "create_campaign": {"body.product_id": "product", "body.opens_at": "opens_at", "body.closes_at": "closes_at",
                        "body.eligible_region_code": "donor_region"},
    "login": {"body.email": "email", "body.password": "password"},
    "create_product": {"body.origin_region_code": "assisted_county"},
    "get_campaign": {"path.id": "campaign"}, "list_pledges": {"path.id": "campaign"},
    "pledge": {"path.id": "campaign_to_pledge"}, "close_campaign": {"path.id": "campaign_to_close"},
    "cancel_campaign": {"path.id": "campaign_to_cancel"},
    "withdraw": {"path.id": "campaign_to_withdraw", "path.pledge_id": "pledge_to_withdraw"},
    "authorize_card": {"path.id": "campaign_to_authorize", "path.pledge_id": "pledge_to_authorize"},
    "create_session": {"body.items[*].product_id": "product", "body.starts_at": "starts_at", "body.ends_at": "ends_at"},
    "get_session": {"path.id": "live"}, "cancel_session": {"path.id": "live"},
    "get_org": {"path.id": "org"}, "list_users": {"path.id": "agency_org"}, "create_user": {"path.id": "agency_org"},
    "create_org": {"body.region_code": "region"},
    "balance": {"path.id": "producer_org"}, "get_bank_account": {"path.id": "producer_org"},
    "put_bank_account": {"path.id": "producer_org"}, "bank_account_events": {"path.id": "producer_org"},
    "get_filing": {"path.id": "filing_org_to_approve", "path.year": "filing_year"},
    "put_filing": {"path.id": "agency_org", "path.year": "filing_year"},
    "approve_filing": {"path.id": "filing_org_to_approve", "path.year": "filing_year"},
    "return_filing": {"path.id": "filing_org_to_return", "path.year": "filing_year"},
    "get_pairing": {"path.id": "pairing"}, "patch_pairing": {"path.id": "pairing"},
    "patch_target": {"path.id": "target"},
    "get_region": {"path.code": "region"}, "patch_region": {"path.code": "town"},
    "create_region": {"body.parent_code": "region"},
    "get_settlement": {"path.id": "settlement"}, "statement_csv": {"path.id": "settlement"},
    "statement_xlsx": {"path.id": "settlement"}, "record_paid": {"path.id": "settlement_to_pay", "body.paid_at": "paid_at"},
    "record_failed": {"path.id": "settlement_paid"}, "cancel_settlement": {"path.id": "settlement_to_cancel"},
    "get_run": {"path.id": "run"}, "create_payment_batch": {"body.settlement_ids[*]": "settlement_to_batch"}, "batch_file": {"path.id": "batch"},
    "set_fee": {"path.category": "category"},
    "ledger": {"query.year": "year", "query.scope_id": "scope_id"},
    "progress": {"query.year": "year", "query.scope_id": "scope_id"},
    "breakdown": {"query.year": "year", "query.scope_id": "scope_id"},
    "laggards": {"query.year": "year", "query.scope_id": "scope_id"},
    "bulletin": {"query.year": "year", "query.org_id": "org"},
    "time_to_money": {"query.year": "year"},
    "accounting_events": {"query.subject_id": "pairing"},
    "close_period": {"path.year": "closable_year"},
    "create_pairing": {"body.recipient_region_code": "recipient_region", "body.donor_region_code": "donor_region",
                       "body.valid_from": "future_date"},
    "add_label": {"path.id": "product", "body.valid_from": "past_date", "body.valid_until": "future_date"},
    "create_target": {"body.scope_id": "scope_id", "body.year": "filing_year"},
}

lines = ["# Written by tests/fuzz/seed.py for one fuzz run; not committed.", ""]
for name, values in dictionaries.items():
    lines.append(f"[dictionaries.{name}]")
    lines.append(f"values = {json.dumps(values, ensure_ascii=False)}")
    lines.append("")
for operation, parameters in bindings.items():
    lines.append("[[operations]]")
    lines.append(f'include-operation-id = "{operation}"')
    bound = ", ".join(f'"{p}" = {{ dictionary = "{d}", probability = 0.9 }}' for p, d in parameters.items())
    lines.append(f"parameters = {{ {bound} }}")
    lines.append("")
open(config_out, "w", encoding="utf-8").write("\n".join(lines))
print(f"seed: {sum(len(v) for v in dictionaries.values())} ids in {len(dictionaries)} dictionaries, "
      f"bound to {len(bindings)} operations; written to {config_out}")
