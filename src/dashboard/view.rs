//! What the dashboard shows, gathered from the report functions behind `/api/v1/reports/*`
//! and `/api/v1/ledger` — never summed on its own — and shaped for the templates.

use crate::accounting::breakdown;
use crate::accounting::entries;
use crate::accounting::laggards;
use crate::accounting::progress;
use crate::accounting::span::{Span, label_of};
use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use serde::Serialize;

use super::charts::{self, Cumulative};
use super::query::{Selection, field_value};
use super::session::urlencode;
use crate::accounting::breakdown::BreakdownView;
use crate::accounting::breakdown::By;
use crate::accounting::entries::EntryView;
use crate::accounting::entries::LedgerQuery;
use crate::accounting::progress::ProgressView;
use crate::accounting::progress::Status;
use crate::accounting::scope::{self, Scope, ScopeKind};
use crate::clock::start_of_day;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::{pairings, targets};
use crate::error::{AppError, AppResult};
use crate::identity::Actor;
use crate::identity::model::org_names;
use crate::identity::types::OrgKind;
use crate::notify::{percent, yuan};

/// Rows a breakdown chart shows before the rest are summed into one.
const CHART_ROWS: usize = 10;
const LAGGARDS_SHOWN: usize = 15;
const LATEST_ENTRIES: usize = 15;
/// Region targets offered in the scope picker, beyond the user's own scopes.
const PICKER_TARGETS: i64 = 60;

/// `recipient:522300`, as the `scope` query parameter spells a scope.
pub fn scope_param(kind: ScopeKind, id: &str) -> String {
    format!("{}:{id}", kind.as_str())
}

pub fn wan_text(fen: i64) -> String {
    format!("{:.2}", charts::wan(fen))
}

#[derive(Serialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The scopes a user is offered, their own first: a coordinator's region as recipient and as
/// donor and the pairings it is part of; an agency its organisation; a producer its sales; and
/// the region targets of the year that the user may see.
fn offered(conn: &mut DbConn, actor: &Actor, year: i32) -> AppResult<Vec<Scope>> {
    let mut candidates: Vec<(ScopeKind, String)> = match actor.org_kind {
        OrgKind::Coordinator => vec![
            (ScopeKind::Recipient, actor.org.region_code.clone()),
            (ScopeKind::Donor, actor.org.region_code.clone()),
        ],
        OrgKind::Agency => vec![(ScopeKind::Org, actor.org.id.clone())],
        OrgKind::Producer => vec![(ScopeKind::Producer, actor.org.id.clone())],
        OrgKind::Platform => Vec::new(),
    };
    if matches!(actor.org_kind, OrgKind::Coordinator | OrgKind::Platform) {
        let (first, last) = (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year, 12, 31));
        if let (Some(first), Some(last)) = (first, last) {
            let in_force: Vec<String> = pairings::table
                .filter(pairings::valid_from.le(last))
                .filter(pairings::valid_to.is_null().or(pairings::valid_to.ge(first)))
                .order(pairings::created_at.asc())
                .select(pairings::id)
                .load(conn)?;
            candidates.extend(in_force.into_iter().map(|id| (ScopeKind::Pairing, id)));
        }
        let region_targets: Vec<(String, String)> = targets::table
            .filter(targets::year.eq(year))
            .filter(targets::scope_kind.eq_any(["recipient", "donor"]))
            .order((targets::scope_kind.desc(), targets::scope_id.asc()))
            .limit(PICKER_TARGETS)
            .select((targets::scope_kind, targets::scope_id))
            .load(conn)?;
        candidates.extend(region_targets.into_iter().filter_map(|(k, id)| ScopeKind::parse(&k).map(|k| (k, id))));
    }
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|c| seen.insert(c.clone()));
    Ok(candidates.into_iter().filter_map(|(kind, id)| visible(conn, actor, kind, &id)).collect())
}

/// The scope, when this user may see it.
fn visible(conn: &mut DbConn, actor: &Actor, kind: ScopeKind, id: &str) -> Option<Scope> {
    scope::resolve(conn, kind, id).ok().filter(|s| scope::may_see(actor, s))
}

/// The first of the user's scopes with a target or anything counted, else the first.
fn default_scope(conn: &mut DbConn, offered: &[Scope], year: i32, ctx: &Ctx) -> AppResult<Option<(ScopeKind, String)>> {
    let key = |s: &Scope| (s.kind(), s.id().to_owned());
    for s in offered {
        let p = progress::progress(conn, s, &Span::year(year), None, ctx)?;
        if p.target_fen.is_some() || p.counted_fen != 0 {
            return Ok(Some(key(s)));
        }
    }
    Ok(offered.first().map(key))
}

/// Where a breakdown by place looks: counties for what the scope sells, donor regions for what
/// a donor region or a producer's buyers buy.
fn places_by(scope: &Scope) -> By {
    match scope.kind() {
        ScopeKind::Donor | ScopeKind::Producer => By::DonorRegion,
        _ => By::RecipientCounty,
    }
}

/// How far the cumulative line runs: the months of the period that have begun by `as_of`.
fn months_begun(p: &ProgressView, span: &Span, ctx: &Ctx) -> usize {
    let at = p.as_of.with_timezone(&ctx.zone);
    let begun = match at.year().cmp(&p.year) {
        std::cmp::Ordering::Greater => 12,
        std::cmp::Ordering::Equal => at.month(),
        std::cmp::Ordering::Less => 0,
    };
    (begun.min(span.last_month) + 1).saturating_sub(span.first_month) as usize
}

fn cumulative_chart(p: &ProgressView, span: &Span, ctx: &Ctx) -> AppResult<String> {
    let counted: Vec<i64> = p
        .by_month
        .iter()
        .take(months_begun(p, span, ctx))
        .scan(0i64, |sum, m| {
            *sum += m.counted_fen;
            Some(*sum)
        })
        .collect();
    // The start of the period, then each month's end: the even pace at each tick of the axis.
    let pace = p.year_target_fen.map(|t| {
        (span.first_month..=span.last_month + 1)
            .map(|m| {
                let (y, m) = if m == 13 { (p.year + 1, 1) } else { (p.year, m) };
                NaiveDate::from_ymd_opt(y, m, 1)
                    .map(|d| span.expected_by(t, start_of_day(d, ctx.zone), ctx))
                    .unwrap_or(0)
            })
            .collect::<Vec<i64>>()
    });
    let months = (span.first_month, span.last_month);
    charts::cumulative(&Cumulative { pace, counted, target: p.target_fen, months, whole_year: span.is_whole_year() })
}

#[derive(Serialize)]
struct Row {
    name: String,
    counted: String,
    counted_fen: i64,
    target: String,
    percent: String,
    link: Option<String>,
}

fn breakdown_section(
    conn: &mut DbConn,
    actor: &Actor,
    b: &BreakdownView,
    link: impl Fn(&str) -> Option<String>,
) -> AppResult<serde_json::Value> {
    let chart_rows: Vec<(String, i64)> = b.rows.iter().map(|r| (r.name.clone(), r.counted_fen)).collect();
    let drill = match b.by {
        By::RecipientCounty | By::RecipientPrefecture => Some(ScopeKind::Recipient),
        By::DonorRegion => Some(ScopeKind::Donor),
        _ => None,
    };
    let mut rows = Vec::new();
    for r in &b.rows {
        let visible_link = match drill {
            Some(kind) if r.key != breakdown::OTHER_KEY && visible(conn, actor, kind, &r.key).is_some() => {
                link(&scope_param(kind, &r.key))
            }
            _ => None,
        };
        rows.push(Row {
            name: r.name.clone(),
            counted: yuan(r.counted_fen),
            counted_fen: r.counted_fen,
            target: r.target_fen.map(yuan).unwrap_or_else(|| "—".into()),
            percent: percent(r.ratio),
            link: visible_link,
        });
    }
    Ok(serde_json::json!({
        "by": b.by.as_str(),
        "label": b.by.label(),
        "total": yuan(b.total_fen),
        "total_fen": b.total_fen,
        "rows": rows,
        "chart": if b.rows.is_empty() { None } else { Some(charts::bars(&chart_rows, "金额（万元）")?) },
    }))
}

#[derive(Serialize)]
struct Entry {
    recorded_at: String,
    kind: &'static str,
    amount: String,
    amount_fen: i64,
    buyer: String,
    producer: String,
    origin: String,
    order_id: String,
    order_link: String,
}

fn entries_section(
    conn: &mut DbConn,
    entries: Vec<EntryView>,
    ctx: &Ctx,
    order_link: impl Fn(&str) -> String,
) -> AppResult<Vec<Entry>> {
    let orgs: Vec<String> = entries.iter().flat_map(|e| [e.buyer_org_id.clone(), e.producer_id.clone()]).collect();
    let names = org_names(conn, &orgs)?;
    let mut places: HashMap<String, String> = HashMap::new();
    for e in &entries {
        if !places.contains_key(&e.origin_region_code) {
            let name = crate::regions::service::get(conn, &e.origin_region_code)
                .map(|r| r.name)
                .unwrap_or_else(|_| e.origin_region_code.clone());
            places.insert(e.origin_region_code.clone(), name);
        }
    }
    Ok(entries
        .into_iter()
        .map(|e| Entry {
            recorded_at: e.recorded_at.with_timezone(&ctx.zone).format("%Y-%m-%d %H:%M").to_string(),
            kind: if e.kind == "reverse" { "冲回" } else { "计入" },
            amount: yuan(e.amount_fen),
            amount_fen: e.amount_fen,
            buyer: names.get(&e.buyer_org_id).cloned().unwrap_or_else(|| e.buyer_org_id.clone()),
            producer: names.get(&e.producer_id).cloned().unwrap_or_else(|| e.producer_id.clone()),
            origin: places.get(&e.origin_region_code).cloned().unwrap_or_default(),
            order_link: order_link(&e.order_id),
            order_id: e.order_id,
        })
        .collect())
}

/// The page's query string for a selection, with `extra` pairs in front.
pub fn query_string(extra: &[(&str, &str)], span: &Span, scope: &str, as_of: Option<&str>) -> String {
    let mut pairs: Vec<(&str, String)> = extra.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    pairs.push(("year", span.year.to_string()));
    if !span.is_whole_year() {
        pairs.push(("period", span.code()));
    }
    pairs.push(("scope", scope.to_owned()));
    if let Some(t) = as_of {
        pairs.push(("as_of", t.to_owned()));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// The whole dashboard for `actor` and `sel`, as the template's context.
pub fn dashboard(conn: &mut DbConn, actor: &Actor, sel: &Selection, ctx: &Ctx) -> AppResult<serde_json::Value> {
    let year = sel.year;
    let mut offered = offered(conn, actor, year)?;
    let chosen = match &sel.scope {
        Some(s) => s.clone(),
        None => default_scope(conn, &offered, year, ctx)?.ok_or_else(|| {
            AppError::forbidden(
                "no report scope is yours to see: the dashboard is for coordinators, agencies and producers",
            )
        })?,
    };
    let scope = progress::visible_scope(conn, actor, chosen.0.as_str(), &chosen.1)?;
    if !offered.iter().any(|s| s.kind() == chosen.0 && s.id() == chosen.1) {
        offered.insert(0, scope.clone());
    }
    let scope_value = scope_param(chosen.0, &chosen.1);
    let progress = progress::progress(conn, &scope, &sel.span, sel.as_of, ctx)?;
    let as_of_field = sel.as_of.map(|t| field_value(t, ctx.zone));
    let link_to =
        |scope: &str| Some(format!("/dashboard?{}", query_string(&[], &sel.span, scope, as_of_field.as_deref())));
    let places = breakdown::breakdown(conn, &scope, &sel.span, places_by(&scope), sel.as_of, Some(CHART_ROWS), ctx)?;
    let categories = breakdown::breakdown(conn, &scope, &sel.span, By::Category, sel.as_of, Some(CHART_ROWS), ctx)?;
    let laggards = laggards::laggards(conn, &scope, &sel.span, sel.as_of, ctx)?;
    let behind = laggards.rows.iter().filter(|l| l.status == Status::Behind).count();
    let mut laggard_rows = Vec::new();
    for l in laggards.rows.iter().take(LAGGARDS_SHOWN) {
        let link = visible(conn, actor, l.target_kind, &l.org_id)
            .and_then(|_| link_to(&scope_param(l.target_kind, &l.org_id)));
        laggard_rows.push(serde_json::json!({
            "name": l.name, "kind": l.target_kind.label(), "target": yuan(l.target_fen), "counted": yuan(l.counted_fen),
            "counted_fen": l.counted_fen, "percent": percent(Some(l.ratio)), "expected": yuan(l.expected_to_date_fen),
            "status": l.status, "status_label": l.status.label(), "link": link,
        }));
    }
    let ledger_query = LedgerQuery {
        year,
        scope_kind: Some(chosen.0.as_str().to_owned()),
        scope_id: Some(chosen.1.clone()),
        as_of: sel.as_of,
        period: (!sel.span.is_whole_year()).then(|| sel.span.code()),
        ..Default::default()
    };
    let latest = entries::latest_entries(conn, actor, &ledger_query, LATEST_ENTRIES, ctx)?;
    let order_link = |order: &str| {
        format!(
            "/dashboard/orders/{}?{}",
            urlencode(order),
            query_string(&[], &sel.span, &scope_value, as_of_field.as_deref())
        )
    };
    let latest = entries_section(conn, latest, ctx, order_link)?;
    let mut scope_choices = Vec::new();
    for s in &offered {
        let name = progress::scope_name(conn, s)?;
        let value = scope_param(s.kind(), s.id());
        scope_choices.push(Choice {
            selected: value == scope_value,
            label: format!("{}：{name}", s.kind().label()),
            value,
        });
    }
    let this_year = ctx.today.year();
    let years: Vec<Choice> = (year.min(this_year - 4)..=year.max(this_year))
        .rev()
        .map(|y| Choice { value: y.to_string(), label: format!("{y}年"), selected: y == year })
        .collect();
    let download = |report: &str, by: Option<By>, label: String| {
        let mut extra = vec![("report", report)];
        if let Some(by) = by {
            extra.push(("by", by.as_str()));
        }
        let url = |format: &'static str| {
            let mut pairs = extra.clone();
            pairs.push(("format", format));
            format!("/dashboard/download?{}", query_string(&pairs, &sel.span, &scope_value, as_of_field.as_deref()))
        };
        serde_json::json!({ "label": label, "xlsx": url("xlsx"), "csv": url("csv") })
    };
    let place_by = places_by(&scope);
    let downloads = vec![
        download("progress", None, "目标完成进度".into()),
        download("breakdown", Some(place_by), format!("按{}分布", place_by.label())),
        download("breakdown", Some(By::Category), "按品类分布".into()),
        download("breakdown", Some(By::Month), "按月份分布".into()),
        download("breakdown", Some(By::BuyerOrg), "按采购单位分布".into()),
        download("breakdown", Some(By::Channel), "按渠道分布（目录、团购、直播）".into()),
        download("laggards", None, "滞后单位".into()),
        download("ledger", None, "台账明细".into()),
    ];
    let period = sel.span.code();
    let periods: Vec<Choice> = ["year", "H1", "H2", "Q1", "Q2", "Q3", "Q4"]
        .into_iter()
        .map(|p| Choice {
            value: p.to_owned(),
            label: if p == "year" {
                "全年".into()
            } else {
                label_of(year, p).trim_start_matches(&format!("{year}年")).to_owned()
            },
            selected: p == period,
        })
        .collect();
    // A supervising organisation's bulletin: its units against their reserved shares.
    let bulletin = match &scope {
        Scope::Org { org, .. } if has_units(conn, &org.id)? => {
            let half = if sel.span.is_whole_year() { Span::parse(year, Some("H1"))? } else { sel.span };
            Some(format!("/dashboard/bulletin?{}", query_string(&[], &half, &scope_value, as_of_field.as_deref())))
        }
        _ => None,
    };
    Ok(serde_json::json!({
        "user": { "name": actor.name, "org": actor.org.name },
        "year": year,
        "years": years,
        "periods": periods,
        "period_label": sel.span.label(),
        "whole_year": sel.span.is_whole_year(),
        "bulletin_link": bulletin,
        "scopes": scope_choices,
        "scope": scope_value,
        "as_of_field": as_of_field,
        "as_of_text": crate::accounting::export::as_of_text(progress.as_of, ctx.zone),
        "live": sel.as_of.is_none(),
        "live_link": format!("/dashboard?{}", query_string(&[], &sel.span, &scope_value, None)),
        "progress": {
            "scope_name": progress.scope_name,
            "scope_label": progress.scope_kind.label(),
            "target_fen": progress.target_fen,
            "target_wan": progress.target_fen.map(wan_text),
            "target": progress.target_fen.map(yuan),
            "counted_fen": progress.counted_fen,
            "counted_wan": wan_text(progress.counted_fen),
            "counted": yuan(progress.counted_fen),
            "ratio": progress.ratio,
            "percent": percent(progress.ratio),
            "bar_width": progress.ratio.map(|r| (r * 100.0).clamp(0.0, 100.0).round() as i64),
            "expected_wan": progress.expected_to_date_fen.map(wan_text),
            "expected_fen": progress.expected_to_date_fen,
            "projected_wan": wan_text(progress.projected_year_end_fen),
            "projected_fen": progress.projected_year_end_fen,
            "status": progress.status,
            "status_label": progress.status.label(),
        },
        "cumulative_chart": cumulative_chart(&progress, &sel.span, ctx)?,
        "time_to_money": super::money::section(conn, actor, &scope, year, ctx.zone)?,
        "places": breakdown_section(conn, actor, &places, link_to)?,
        "categories": breakdown_section(conn, actor, &categories, |_| None)?,
        "laggards": laggard_rows,
        "laggards_total": laggards.rows.len(),
        "laggards_behind": behind,
        "latest": latest,
        "downloads": downloads,
    }))
}

/// Whether an organisation has units under it (a supervising organisation).
fn has_units(conn: &mut DbConn, org_id: &str) -> AppResult<bool> {
    use diesel::prelude::*;
    let n: i64 = crate::db::schema::organizations::table
        .filter(crate::db::schema::organizations::parent_id.eq(org_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}
