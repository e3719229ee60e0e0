//! Settlements as producers, finance and coordinators read them: the list, one settlement with
//! its lines and payouts, its statement (对账单) as a file, and a producer's balance. Producers
//! see their own (and a producer group those under it), platform finance every one,
//! coordinators those of producers inside their region; anyone else gets 404.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bank::{producer, require_concerned};
use super::model::{self, PayableRow, PayoutRow, SettlementRow};
use crate::accounting::export::{Cell, Table};
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::schema::{payables as p, payouts as po, settlement_events as ev, settlements as s};
use crate::db::{DbConn, prefix_pattern};
use crate::error::{AppError, AppResult};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::model::org_names;
use crate::identity::types::OrgKind;
use crate::validate::one_of;

pub const STATUSES: [&str; 4] = ["scheduled", "paying", "paid", "cancelled"];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PayoutView {
    pub id: String,
    /// `bank` or `stripe`.
    pub method: String,
    /// `pending`, `sending`, `paid` or `failed`.
    pub status: String,
    pub amount_fen: i64,
    pub batch_id: Option<String>,
    /// The bank's reference (bank transfers).
    pub reference: Option<String>,
    /// Stripe's transfer id (Stripe payouts).
    pub transfer_id: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<PayoutRow> for PayoutView {
    fn from(r: PayoutRow) -> Self {
        PayoutView {
            id: r.id,
            method: r.method,
            status: r.status,
            amount_fen: r.amount_fen,
            batch_id: r.batch_id,
            reference: r.reference,
            transfer_id: r.external_id,
            failure_reason: r.failure_reason,
            created_at: utc(r.created_at),
            completed_at: r.completed_at.map(utc),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettlementView {
    pub id: String,
    pub run_id: String,
    pub producer_id: String,
    pub producer_name: String,
    /// `scheduled` (waiting for its payout), `paying`, `paid` or `cancelled`.
    pub status: String,
    /// What the buyers paid for the sub-orders it settles.
    pub gross_fen: i64,
    /// The service fees on them (less the fees refunds gave back).
    pub fee_fen: i64,
    /// Refunds taken off this statement.
    pub deducted_fen: i64,
    /// What is paid out: gross − fee − deducted.
    pub amount_fen: i64,
    pub line_count: i32,
    /// The first and last time a line of it became owed.
    pub due_from: DateTime<Utc>,
    pub due_to: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
}

fn settlement_view(r: SettlementRow, names: &std::collections::HashMap<String, String>) -> SettlementView {
    SettlementView {
        producer_name: names.get(&r.producer_id).cloned().unwrap_or_default(),
        id: r.id,
        run_id: r.run_id,
        producer_id: r.producer_id,
        status: r.status,
        gross_fen: r.gross_fen,
        fee_fen: r.fee_fen,
        deducted_fen: r.deducted_fen,
        amount_fen: r.amount_fen,
        line_count: r.line_count,
        due_from: utc(r.due_from),
        due_to: utc(r.due_to),
        created_at: utc(r.created_at),
        paid_at: r.paid_at.map(utc),
        cancel_reason: r.cancel_reason,
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SettlementLineView)]
pub struct LineView {
    pub payable_id: String,
    /// `sale` (a sub-order owed) or `refund` (a deduction).
    pub kind: String,
    pub order_id: String,
    pub sub_order_id: String,
    pub refund_id: Option<String>,
    pub gross_fen: i64,
    pub fee_fen: i64,
    pub net_fen: i64,
    pub due_at: DateTime<Utc>,
}

impl From<PayableRow> for LineView {
    fn from(r: PayableRow) -> Self {
        LineView {
            payable_id: r.id,
            kind: r.kind,
            order_id: r.order_id,
            sub_order_id: r.sub_order_id,
            refund_id: r.refund_id,
            gross_fen: r.gross_fen,
            fee_fen: r.fee_fen,
            net_fen: r.net_fen,
            due_at: utc(r.due_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryView {
    pub action: String,
    pub actor_user_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettlementDetail {
    #[serde(flatten)]
    pub settlement: SettlementView,
    pub lines: Vec<LineView>,
    pub payouts: Vec<PayoutView>,
    pub history: Vec<HistoryView>,
}

/// A settlement the actor may see (404 otherwise).
fn visible(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<SettlementRow> {
    let row = model::find_settlement(conn, id)?.ok_or_else(|| AppError::not_found("settlement"))?;
    let own = row.producer_path.starts_with(&actor.org.path);
    let coordinator = actor.org_kind == OrgKind::Coordinator && actor.region_contains(&row.producer_region_path);
    if actor.org_kind == OrgKind::Platform || own || coordinator {
        Ok(row)
    } else {
        Err(AppError::not_found("settlement"))
    }
}

pub fn get(conn: &mut DbConn, actor: &Actor, id: &str) -> AppResult<SettlementDetail> {
    let row = visible(conn, actor, id)?;
    let lines: Vec<PayableRow> = p::table
        .filter(p::settlement_id.eq(id))
        .order((p::due_at.asc(), p::id.asc()))
        .select(PayableRow::as_select())
        .load(conn)?;
    let payouts: Vec<PayoutRow> =
        po::table.filter(po::settlement_id.eq(id)).order(po::id.asc()).select(PayoutRow::as_select()).load(conn)?;
    type Event = (String, Option<String>, String, NaiveDateTime);
    let history: Vec<Event> = ev::table
        .filter(ev::settlement_id.eq(id))
        .order(ev::id.asc())
        .select((ev::action, ev::actor_user_id, ev::details, ev::at))
        .load(conn)?;
    let names = org_names(conn, std::slice::from_ref(&row.producer_id))?;
    Ok(SettlementDetail {
        settlement: settlement_view(row, &names),
        lines: lines.into_iter().map(LineView::from).collect(),
        payouts: payouts.into_iter().map(PayoutView::from).collect(),
        history: history
            .into_iter()
            .map(|(action, actor_user_id, details, at)| HistoryView {
                action,
                actor_user_id,
                details: serde_json::from_str(&details).unwrap_or_default(),
                at: utc(at),
            })
            .collect(),
    })
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SettlementListQuery {
    /// `scheduled`, `paying`, `paid` or `cancelled`.
    pub status: Option<String>,
    /// One producer's (and those under it).
    pub producer_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::paged!(SettlementListQuery);

/// Settlements the actor sees, newest first.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    q: SettlementListQuery,
    page: &PageRequest,
) -> AppResult<Page<SettlementView>> {
    one_of("status", q.status.as_deref(), &STATUSES)?;
    let mut query = s::table.order(s::id.desc()).limit(page.limit + 1).select(SettlementRow::as_select()).into_boxed();
    match actor.org_kind {
        OrgKind::Platform => {}
        OrgKind::Coordinator => {
            query = query.filter(s::producer_region_path.like(prefix_pattern(&actor.region_path)).escape('\\'))
        }
        _ => query = query.filter(s::producer_path.like(prefix_pattern(&actor.org.path)).escape('\\')),
    }
    if let Some(status) = q.status {
        query = query.filter(s::status.eq(status));
    }
    if let Some(producer) = q.producer_id {
        query = query.filter(s::producer_id.eq(producer));
    }
    if let Some(after) = &page.after {
        query = query.filter(s::id.lt(after.clone()));
    }
    let rows: Vec<SettlementRow> = query.load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.producer_id.clone()).collect();
    let names = org_names(conn, &ids)?;
    Ok(Page::from_rows(rows, page, |r| r.id.clone(), |r| settlement_view(r, &names)))
}

/// The statement (对账单) of a settlement, as a table for CSV or XLSX.
pub fn statement(conn: &mut DbConn, actor: &Actor, id: &str, zone: chrono_tz::Tz) -> AppResult<Table> {
    let detail = get(conn, actor, id)?;
    let s = &detail.settlement;
    let day = |t: DateTime<Utc>| t.with_timezone(&zone).format("%Y-%m-%d").to_string();
    let kind = |k: &str| if k == "refund" { "退款扣减" } else { "货款" };
    let paid = detail.payouts.iter().find(|p| p.status == "paid");
    Ok(Table {
        title: format!("东西 货款结算对账单 {} {}", s.producer_name, s.id),
        file_stem: format!("statement-{}", s.id),
        preamble: vec![
            ("供应商".into(), Cell::Text(s.producer_name.clone())),
            ("结算单号".into(), Cell::Text(s.id.clone())),
            ("账期".into(), Cell::Text(format!("{} 至 {}", day(s.due_from), day(s.due_to)))),
            ("状态".into(), Cell::Text(s.status.clone())),
            ("货款合计（元）".into(), Cell::Yuan(s.gross_fen)),
            ("服务费（元）".into(), Cell::Yuan(s.fee_fen)),
            ("退款扣减（元）".into(), Cell::Yuan(s.deducted_fen)),
            ("应付金额（元）".into(), Cell::Yuan(s.amount_fen)),
            (
                "付款流水号".into(),
                Cell::Text(paid.and_then(|p| p.reference.clone().or(p.transfer_id.clone())).unwrap_or_default()),
            ),
        ],
        headers: vec!["日期", "类型", "订单号", "子订单号", "退款单号", "金额（元）", "服务费（元）", "应付（元）"],
        rows: detail
            .lines
            .iter()
            .map(|l| {
                vec![
                    Cell::Text(day(l.due_at)),
                    Cell::Text(kind(&l.kind).into()),
                    Cell::Text(l.order_id.clone()),
                    Cell::Text(l.sub_order_id.clone()),
                    Cell::Text(l.refund_id.clone().unwrap_or_default()),
                    Cell::Yuan(l.gross_fen),
                    Cell::Yuan(l.fee_fen),
                    Cell::Yuan(l.net_fen),
                ]
            })
            .collect(),
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceView {
    pub org_id: String,
    /// Owed, but not yet old enough for a run (`DONGXI_SETTLE_DELAY_DAYS`).
    pub pending_fen: i64,
    /// Owed and due for the next run (refunds not yet deducted count against it).
    pub due_fen: i64,
    /// In settlements waiting for, or in the middle of, their payout.
    pub scheduled_fen: i64,
    pub paid_fen: i64,
    /// Refunds taken off statements so far.
    pub deducted_fen: i64,
    /// Service fees taken so far (net of the fees refunds gave back).
    pub fees_fen: i64,
    pub as_of: DateTime<Utc>,
}

/// What a producer is owed and has been paid, from its payables and settlements.
pub fn balance(conn: &mut DbConn, actor: &Actor, org_id: &str, delay_days: i64, ctx: &Ctx) -> AppResult<BalanceView> {
    let (org, region) = producer(conn, actor, org_id)?;
    require_concerned(actor, &org, &region)?;
    let cutoff = ctx.now - chrono::Duration::days(delay_days);
    let open: Vec<(i64, NaiveDateTime)> = p::table
        .filter(p::producer_id.eq(org_id))
        .filter(p::settlement_id.is_null())
        .select((p::net_fen, p::due_at))
        .load(conn)?;
    type Settled = (String, i64, i64, i64);
    let settled: Vec<Settled> = s::table
        .filter(s::producer_id.eq(org_id))
        .filter(s::status.ne("cancelled"))
        .select((s::status, s::amount_fen, s::deducted_fen, s::fee_fen))
        .load(conn)?;
    let sum = |f: &dyn Fn(&Settled) -> Option<i64>| settled.iter().filter_map(f).sum::<i64>();
    Ok(BalanceView {
        org_id: org_id.to_owned(),
        pending_fen: open.iter().filter(|(_, due)| *due > cutoff).map(|(n, _)| n).sum(),
        due_fen: open.iter().filter(|(_, due)| *due <= cutoff).map(|(n, _)| n).sum(),
        scheduled_fen: sum(&|r| (r.0 == "scheduled" || r.0 == "paying").then_some(r.1)),
        paid_fen: sum(&|r| (r.0 == "paid").then_some(r.1)),
        deducted_fen: sum(&|r| Some(r.2)),
        fees_fen: sum(&|r| Some(r.3)),
        as_of: utc(ctx.now),
    })
}
