//! From "what happened" (a `notify` outbox row) to "who is told what": the recipients of each
//! event, each one's mail rendered from its template. Runs in the worker's transaction that also
//! marks the event done, so an event becomes its mails once.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::{Value, json};

use super::recipients::{Recipient, admins_of, mails};
use super::{Mail, local_date, local_time, yuan};
use crate::catalog::model as products;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{certification_requests, filings, group_buy_pledges, organizations, refunds, regions, users};
use crate::error::AppResult;
use crate::identity::model::{UserRecord, org_names};
use crate::orders::model::{self as orders, LineRow, OrderRow};
use crate::worker::payloads::Notice;

/// The mails a notice makes. A notice about something that no longer exists makes none.
pub fn expand(conn: &mut DbConn, notice: &Notice, base_url: &str, ctx: &Ctx) -> AppResult<Vec<Mail>> {
    match notice {
        Notice::OrderPlaced { order_id } => order_placed(conn, order_id, ctx),
        Notice::SubOrderShipped { sub_order_id } => shipped(conn, sub_order_id, ctx),
        Notice::RefundRecorded { refund_id } => refunded(conn, refund_id),
        Notice::CertificationApproved { request_id } => certification(conn, "certification_approved", request_id),
        Notice::CertificationRejected { request_id } => certification(conn, "certification_rejected", request_id),
        Notice::CertificateExpiring { product_id } => certificate_lapse(conn, "certificate_expiring", product_id, ctx),
        Notice::CertificateExpired { product_id } => certificate_lapse(conn, "certificate_expired", product_id, ctx),
        Notice::FilingReturned { filing_id } => filing_returned(conn, filing_id),
        Notice::AccountCreated { user_id } => account_created(conn, user_id, ctx),
        Notice::Digest { week } => super::digest::mails(conn, week, base_url, ctx),
        Notice::Bulletin { year, period } => super::bulletin_mail::mails(conn, *year, period, base_url, ctx),
        Notice::GroupBuyOpened { group_buy_id } => group_buy(conn, "opened", group_buy_id, ctx),
        Notice::GroupBuyClosingSoon { group_buy_id } => group_buy(conn, "closing_soon", group_buy_id, ctx),
        Notice::GroupBuySucceeded { group_buy_id } => group_buy(conn, "succeeded", group_buy_id, ctx),
        Notice::GroupBuyFailed { group_buy_id } => group_buy(conn, "failed", group_buy_id, ctx),
        Notice::GroupBuyCancelled { group_buy_id } => group_buy(conn, "cancelled", group_buy_id, ctx),
        Notice::SettlementPaid { settlement_id } => settlement_paid(conn, settlement_id, ctx),
        Notice::BankAccountChanged { event_id } => bank_account_changed(conn, event_id, ctx),
    }
}

fn line_json(l: &LineRow, producers: &HashMap<String, String>) -> Value {
    json!({"name": l.product_name, "spec": l.spec, "quantity": l.quantity, "unit": l.unit,
        "unit_price": yuan(l.unit_price_fen), "subtotal": yuan(l.subtotal_fen),
        "producer": producers.get(&l.producer_id).cloned().unwrap_or_default()})
}

fn delivery_json(o: &OrderRow) -> Value {
    json!({"address": o.delivery_address, "contact_name": o.delivery_contact, "phone": o.delivery_phone})
}

fn group_buy_title(conn: &mut DbConn, order: &OrderRow) -> AppResult<Option<String>> {
    use crate::db::schema::group_buys as g;
    Ok(match &order.group_buy_id {
        Some(id) => g::table.find(id).select(g::title).first(conn).optional()?,
        None => None,
    })
}

/// The buyer's administrators get the whole order; each producer's its own part.
fn order_placed(conn: &mut DbConn, order_id: &str, ctx: &Ctx) -> AppResult<Vec<Mail>> {
    let Some(order) = orders::find(conn, order_id)? else { return Ok(Vec::new()) };
    let subs = orders::sub_orders_of(conn, std::slice::from_ref(&order.id))?;
    let lines = orders::lines_of(conn, std::slice::from_ref(&order.id))?;
    let mut org_ids: Vec<String> = subs.iter().map(|s| s.producer_id.clone()).collect();
    org_ids.push(order.buyer_org_id.clone());
    let names = org_names(conn, &org_ids)?;
    let buyer_name = names.get(&order.buyer_org_id).cloned().unwrap_or_default();
    let placed_at = local_time(order.created_at, ctx.zone);
    let context = json!({"order_id": order.id, "buyer_name": buyer_name, "placed_at": placed_at,
        "group_buy_title": group_buy_title(conn, &order)?, "total": yuan(order.total_fen),
        "lines": lines.iter().map(|l| line_json(l, &names)).collect::<Vec<_>>(), "delivery": delivery_json(&order)});
    let buyers = admins_of(conn, std::slice::from_ref(&order.buyer_org_id))?;
    let mut out = mails(conn, buyers, "order", "order_placed_buyer", &context, None)?;
    for sub in &subs {
        let mine: Vec<Value> =
            lines.iter().filter(|l| l.sub_order_id == sub.id).map(|l| line_json(l, &names)).collect();
        let context = json!({"order_id": order.id, "sub_order_id": sub.id, "buyer_name": buyer_name, "placed_at": placed_at,
            "producer_name": names.get(&sub.producer_id).cloned().unwrap_or_default(), "total": yuan(sub.total_fen),
            "lines": mine, "delivery": delivery_json(&order)});
        let producers = admins_of(conn, std::slice::from_ref(&sub.producer_id))?;
        out.extend(mails(conn, producers, "order", "order_placed_producer", &context, None)?);
    }
    Ok(out)
}

fn shipped(conn: &mut DbConn, sub_id: &str, ctx: &Ctx) -> AppResult<Vec<Mail>> {
    let Some(sub) = orders::find_sub_order(conn, sub_id)? else { return Ok(Vec::new()) };
    let Some(order) = orders::find(conn, &sub.order_id)? else { return Ok(Vec::new()) };
    let lines: Vec<LineRow> = orders::lines_of(conn, std::slice::from_ref(&order.id))?
        .into_iter()
        .filter(|l| l.sub_order_id == sub.id)
        .collect();
    let names = org_names(conn, std::slice::from_ref(&sub.producer_id))?;
    let context = json!({"order_id": order.id, "producer_name": names.get(&sub.producer_id).cloned().unwrap_or_default(),
        "shipped_at": sub.shipped_at.map(|t| local_time(t, ctx.zone)), "carrier": sub.carrier, "tracking_no": sub.tracking_no,
        "invoice_no": sub.invoice_no, "lines": lines.iter().map(|l| line_json(l, &names)).collect::<Vec<_>>()});
    let buyers = admins_of(conn, std::slice::from_ref(&order.buyer_org_id))?;
    mails(conn, buyers, "order", "sub_order_shipped", &context, None)
}

fn refunded(conn: &mut DbConn, refund_id: &str) -> AppResult<Vec<Mail>> {
    let found: Option<(String, String, i64, String, String)> = refunds::table
        .find(refund_id)
        .select((refunds::order_id, refunds::sub_order_id, refunds::amount_fen, refunds::reason, refunds::status))
        .first(conn)
        .optional()?;
    let Some((order_id, sub_id, amount, reason, status)) = found else { return Ok(Vec::new()) };
    let (Some(order), Some(sub)) = (orders::find(conn, &order_id)?, orders::find_sub_order(conn, &sub_id)?) else {
        return Ok(Vec::new());
    };
    let names = org_names(conn, std::slice::from_ref(&sub.producer_id))?;
    let context = json!({"order_id": order.id, "producer_name": names.get(&sub.producer_id).cloned().unwrap_or_default(),
        "amount": yuan(amount), "reason": reason, "refunded_total": yuan(sub.refunded_fen), "pending": status == "pending"});
    let buyers = admins_of(conn, std::slice::from_ref(&order.buyer_org_id))?;
    mails(conn, buyers, "order", "refund_recorded", &context, None)
}

fn certification(conn: &mut DbConn, event: &str, request_id: &str) -> AppResult<Vec<Mail>> {
    type Decision = (String, Option<String>, Option<chrono::NaiveDate>, Option<String>);
    let found: Option<Decision> = certification_requests::table
        .find(request_id)
        .select((
            certification_requests::product_id,
            certification_requests::certificate_no,
            certification_requests::valid_until,
            certification_requests::decision_reason,
        ))
        .first(conn)
        .optional()?;
    let Some((product_id, certificate_no, valid_until, reason)) = found else { return Ok(Vec::new()) };
    let Some(product) = products::find(conn, &product_id)? else { return Ok(Vec::new()) };
    let context = json!({"product_name": product.name, "spec": product.spec, "certificate_no": certificate_no,
        "valid_until": valid_until.map(local_date), "reason": reason});
    let producers = admins_of(conn, std::slice::from_ref(&product.producer_id))?;
    mails(conn, producers, "certification", event, &context, None)
}

fn certificate_lapse(conn: &mut DbConn, event: &str, product_id: &str, ctx: &Ctx) -> AppResult<Vec<Mail>> {
    let Some(product) = products::find(conn, product_id)? else { return Ok(Vec::new()) };
    let Some(until) = product.cert_valid_until else { return Ok(Vec::new()) };
    let context = json!({"product_name": product.name, "certificate_no": product.certificate_no,
        "valid_until": local_date(until), "days_left": (until - ctx.today).num_days()});
    let producers = admins_of(conn, std::slice::from_ref(&product.producer_id))?;
    mails(conn, producers, "certification", event, &context, None)
}

fn filing_returned(conn: &mut DbConn, filing_id: &str) -> AppResult<Vec<Mail>> {
    let found: Option<(String, i32, i64, i32, Option<String>)> = filings::table
        .find(filing_id)
        .select((
            filings::org_id,
            filings::year,
            filings::canteen_budget_fen,
            filings::share_bp,
            filings::return_reason,
        ))
        .first(conn)
        .optional()?;
    let Some((org_id, year, budget, share_bp, reason)) = found else { return Ok(Vec::new()) };
    let names = org_names(conn, std::slice::from_ref(&org_id))?;
    let context = json!({"org_name": names.get(&org_id).cloned().unwrap_or_default(), "year": year, "budget": yuan(budget),
        "share": format!("{}.{:02}%", share_bp / 100, share_bp % 100), "reason": reason});
    let admins = admins_of(conn, std::slice::from_ref(&org_id))?;
    mails(conn, admins, "filing", "filing_returned", &context, None)
}

fn account_created(conn: &mut DbConn, user_id: &str, ctx: &Ctx) -> AppResult<Vec<Mail>> {
    let Some(user) = users::table.find(user_id).select(UserRecord::as_select()).first::<UserRecord>(conn).optional()?
    else {
        return Ok(Vec::new());
    };
    let names = org_names(conn, std::slice::from_ref(&user.org_id))?;
    let context = json!({"org_name": names.get(&user.org_id).cloned().unwrap_or_default(), "email": user.email,
        "role": if user.role == "admin" { "管理员" } else { "成员" }, "created_at": local_time(user.created_at, ctx.zone)});
    mails(conn, vec![Recipient::from(user)], "account", "account_created", &context, None)
}

/// Opening: every agency inside the eligible region. Closing soon: those that pledged. The
/// result: those that pledged (each with its own order) and the organiser.
fn group_buy(conn: &mut DbConn, what: &str, campaign_id: &str, ctx: &Ctx) -> AppResult<Vec<Mail>> {
    let Some(c) = crate::groupbuy::model::find(conn, campaign_id)? else { return Ok(Vec::new()) };
    if matches!(what, "opened" | "closing_soon") && !crate::groupbuy::model::LIVE.contains(&c.status.as_str()) {
        // News that is no longer true (the round closed meanwhile) is not sent.
        return Ok(Vec::new());
    }
    let view = crate::groupbuy::view::view(conn, None, c.clone(), ctx.now)?;
    let mut context = json!({"title": view.title, "organizer_name": view.organizer_org_name,
        "closes_at": local_time(c.closes_at, ctx.zone), "product_name": view.product_name, "spec": view.spec, "unit": view.unit,
        "list_price": yuan(view.list_price_fen), "min_total_qty": view.min_total_qty, "headline": view.headline,
        "total_qty": view.total_qty, "pledge_count": view.pledge_count,
        "tiers": view.tiers.iter().map(|t| json!({"min_qty": t.min_qty, "price": yuan(t.unit_price_fen)})).collect::<Vec<_>>(),
        "final_price": view.final_unit_price_fen.map(yuan), "reason": view.outcome_reason,
        "succeeded": what == "succeeded",
        "outcome": match what { "succeeded" => "成团", "failed" => "未成团", _ => "已取消" }});
    if what == "opened" {
        let agencies: Vec<String> = organizations::table
            .inner_join(regions::table)
            .filter(organizations::kind.eq("agency"))
            .filter(regions::path.like(crate::db::prefix_pattern(&c.eligible_region_path)).escape('\\'))
            .select(organizations::id)
            .load(conn)?;
        let admins = admins_of(conn, &agencies)?;
        return mails(conn, admins, "group_buy", "group_buy_opened", &context, None);
    }
    let statuses: &[&str] = if what == "closing_soon" { &["active"] } else { &["ordered", "released"] };
    let pledges: Vec<(String, i64, Option<String>)> = group_buy_pledges::table
        .filter(group_buy_pledges::group_buy_id.eq(&c.id))
        .filter(group_buy_pledges::status.eq_any(statuses))
        .select((group_buy_pledges::org_id, group_buy_pledges::quantity, group_buy_pledges::order_id))
        .load(conn)?;
    let template = if what == "closing_soon" { "group_buy_closing_soon" } else { "group_buy_result" };
    let mut out = Vec::new();
    for (org_id, quantity, order_id) in &pledges {
        context["my_quantity"] = json!(quantity);
        context["my_order_id"] = json!(order_id);
        let total = match order_id {
            Some(id) => orders::find(conn, id)?.map(|o| yuan(o.total_fen)),
            None => None,
        };
        context["my_total"] = json!(total);
        let admins = admins_of(conn, std::slice::from_ref(org_id))?;
        out.extend(mails(conn, admins, "group_buy", template, &context, None)?);
    }
    if template == "group_buy_result" && !pledges.iter().any(|(org, _, _)| *org == c.organizer_org_id) {
        context["my_quantity"] = Value::Null;
        let organisers = admins_of(conn, std::slice::from_ref(&c.organizer_org_id))?;
        out.extend(mails(conn, organisers, "group_buy", template, &context, None)?);
    }
    Ok(out)
}

/// A settlement paid out: the producer's administrators.
fn settlement_paid(conn: &mut DbConn, settlement_id: &str, ctx: &Ctx) -> AppResult<Vec<Mail>> {
    let Some(s) = crate::settlement::model::find_settlement(conn, settlement_id)? else { return Ok(Vec::new()) };
    let Some(payout) = crate::settlement::model::live_payout(conn, settlement_id)?.filter(|p| p.status == "paid")
    else {
        // Paid and then returned before this mail went: it is no longer news.
        return Ok(Vec::new());
    };
    let names = org_names(conn, std::slice::from_ref(&s.producer_id))?;
    let context = json!({"producer_name": names.get(&s.producer_id).cloned().unwrap_or_default(), "settlement_id": s.id,
        "period": format!("{} 至 {}", local_date(local_day(s.due_from, ctx)), local_date(local_day(s.due_to, ctx))),
        "amount": yuan(s.amount_fen), "gross": yuan(s.gross_fen), "fee": yuan(s.fee_fen), "deducted": yuan(s.deducted_fen),
        "lines": s.line_count, "method": if payout.method == "stripe" { "Stripe 转账" } else { "银行转账" },
        "reference": payout.reference.or(payout.external_id),
        "paid_at": local_time(payout.completed_at.unwrap_or(s.updated_at), ctx.zone)});
    let admins = admins_of(conn, std::slice::from_ref(&s.producer_id))?;
    mails(conn, admins, "settlement", "settlement_paid", &context, None)
}

fn local_day(t: chrono::NaiveDateTime, ctx: &Ctx) -> chrono::NaiveDate {
    t.and_utc().with_timezone(&ctx.zone).date_naive()
}

/// A producer's bank details set or changed: its administrators, whoever made the change
/// (security-relevant: it cannot be refused).
fn bank_account_changed(conn: &mut DbConn, event_id: &str, ctx: &Ctx) -> AppResult<Vec<Mail>> {
    use crate::db::schema::bank_account_events as ev;
    let found: Option<(String, String, Option<String>, String, chrono::NaiveDateTime)> = ev::table
        .find(event_id)
        .select((ev::org_id, ev::action, ev::actor_user_id, ev::details, ev::at))
        .first(conn)
        .optional()?;
    let Some((org_id, action, actor, details, at)) = found else { return Ok(Vec::new()) };
    let details: Value = serde_json::from_str(&details).unwrap_or_default();
    let names = org_names(conn, std::slice::from_ref(&org_id))?;
    let actor_name = match actor {
        Some(id) => {
            crate::identity::model::user_names(conn, std::slice::from_ref(&id))?.remove(&id).unwrap_or_default()
        }
        None => String::new(),
    };
    let after = &details["after"];
    let context = json!({"org_name": names.get(&org_id).cloned().unwrap_or_default(),
        "action": if action == "set" { "设置" } else { "变更" }, "at": local_time(at, ctx.zone), "actor_name": actor_name,
        "account_name": after["account_name"], "bank_name": after["bank_name"], "account_no": after["account_no"],
        "before": details["before"]});
    let admins = admins_of(conn, std::slice::from_ref(&org_id))?;
    mails(conn, admins, "account", "bank_account_changed", &context, None)
}
