//! Reports: progress against a target, breakdowns, laggards and the ledger itself, for a scope
//! and a year, as they stand now or as they stood at `as_of`. All sums come from `facts`, so a
//! breakdown's rows always add up to the progress figure.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::facts::{self, Bind, Cond, Group};
use super::ledger::{EntryRow, LedgerLine};
use super::scope::{self, Scope, ScopeKind};
use super::targets;
use crate::catalog::categories;
use crate::clock::{start_of_day, utc};
use crate::ctx::Ctx;
use crate::db::schema::{ledger_lines, organizations, regions, targets as t};
use crate::db::{DbConn, prefix_pattern};
use crate::error::{AppError, AppResult};
use crate::http::pagination::{Page, PageRequest};
use crate::identity::Actor;
use crate::identity::model::org_names;
use crate::identity::types::OrgKind;

/// "Behind" means counted below this share of what an even pace would have reached by now.
pub const BEHIND_BELOW: f64 = 0.8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Achieved,
    OnTrack,
    Behind,
    NoTarget,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Achieved => "已完成",
            Status::OnTrack => "进度正常",
            Status::Behind => "进度滞后",
            Status::NoTarget => "未设目标",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MonthFigure {
    /// `2021-01`.
    pub month: String,
    pub counted_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProgressView {
    pub year: i32,
    pub scope_kind: ScopeKind,
    pub scope_id: String,
    pub scope_name: String,
    pub target_fen: Option<i64>,
    pub counted_fen: i64,
    /// counted ÷ target, four decimals; null without a target.
    pub ratio: Option<f64>,
    /// The target spread evenly over the year, up to `as_of`; null without a target.
    pub expected_to_date_fen: Option<i64>,
    /// The year's end at the pace so far (the counted figure itself once the year is over).
    pub projected_year_end_fen: i64,
    /// `achieved`, `on_track`, `behind` (below 80% of the even pace) or `no_target`.
    pub status: Status,
    pub by_month: Vec<MonthFigure>,
    /// The instant the figures stand at.
    pub as_of: DateTime<Utc>,
}

/// The moment a report answers for: `as_of` (not in the future) or now.
pub fn instant(as_of: Option<DateTime<Utc>>, ctx: &Ctx) -> AppResult<(Option<NaiveDateTime>, NaiveDateTime)> {
    match as_of {
        Some(t) if t.naive_utc() > ctx.now => {
            Err(AppError::invalid_field("validation_failed", "as_of", "must not be in the future"))
        }
        Some(t) => Ok((Some(t.naive_utc()), t.naive_utc())),
        None => Ok((None, ctx.now)),
    }
}

/// (elapsed, length) of `year` at instant `at`, in seconds, in the deployment's zone.
fn year_progress(year: i32, at: NaiveDateTime, ctx: &Ctx) -> (i64, i64) {
    let first = |y: i32| chrono::NaiveDate::from_ymd_opt(y, 1, 1).map(|d| start_of_day(d, ctx.zone));
    match (first(year), first(year + 1)) {
        (Some(start), Some(end)) => {
            let length = (end - start).num_seconds().max(1);
            ((at - start).num_seconds().clamp(0, length), length)
        }
        _ => (0, 1),
    }
}

/// The target spread evenly over the year up to `at`, to the fen.
pub fn expected(target: i64, year: i32, at: NaiveDateTime, ctx: &Ctx) -> i64 {
    let (elapsed, length) = year_progress(year, at, ctx);
    (target as i128 * elapsed as i128 / length as i128) as i64
}

pub fn ratio(counted: i64, target: i64) -> f64 {
    (counted as f64 / target as f64 * 10_000.0).round() / 10_000.0
}

pub fn status(counted: i64, target: Option<i64>, expected_fen: i64) -> Status {
    match target {
        None => Status::NoTarget,
        Some(t) if counted >= t => Status::Achieved,
        Some(_) if (counted as f64) < BEHIND_BELOW * expected_fen as f64 => Status::Behind,
        Some(_) => Status::OnTrack,
    }
}

/// The scope named by a report query, after checking the caller may see it.
pub fn visible_scope(conn: &mut DbConn, actor: &Actor, kind: &str, id: &str) -> AppResult<Scope> {
    let kind = scope::parse_kind(kind, "scope_kind")?;
    let scope = scope::resolve(conn, kind, id)?;
    scope::authorize(conn, actor, &scope)?;
    Ok(scope)
}

/// A readable name for a scope.
pub fn scope_name(conn: &mut DbConn, scope: &Scope) -> AppResult<String> {
    Ok(match scope {
        Scope::Recipient(p) | Scope::Donor(p) => crate::regions::service::get(conn, &p.code)?.full_name,
        Scope::Org { org, .. } | Scope::Producer { org, .. } => org.name.clone(),
        Scope::Pairing { row, .. } => {
            let v = super::pairings::view(conn, row.clone())?;
            format!("{} → {}", v.donor_name, v.recipient_name)
        }
    })
}

pub fn progress(
    conn: &mut DbConn,
    scope: &Scope,
    year: i32,
    as_of: Option<DateTime<Utc>>,
    ctx: &Ctx,
) -> AppResult<ProgressView> {
    let (cutoff, at) = instant(as_of, ctx)?;
    let cond = facts::scope_cond(scope);
    let months: HashMap<String, i64> = facts::sums(conn, year, &cond, Group::Month, cutoff)?.into_iter().collect();
    let by_month: Vec<MonthFigure> = (1..=12)
        .map(|m| MonthFigure {
            month: format!("{year}-{m:02}"),
            counted_fen: months.get(&m.to_string()).copied().unwrap_or(0),
        })
        .collect();
    let counted: i64 = by_month.iter().map(|m| m.counted_fen).sum();
    let target = targets::find(conn, year, scope.kind(), scope.id())?.map(|t| t.amount_fen);
    let expected_fen = target.map(|t| expected(t, year, at, ctx));
    let (elapsed, length) = year_progress(year, at, ctx);
    let projected = if elapsed >= length || elapsed == 0 {
        counted
    } else {
        (counted as i128 * length as i128 / elapsed as i128) as i64
    };
    Ok(ProgressView {
        year,
        scope_kind: scope.kind(),
        scope_id: scope.id().to_owned(),
        scope_name: scope_name(conn, scope)?,
        target_fen: target,
        counted_fen: counted,
        ratio: target.map(|t| ratio(counted, t)),
        expected_to_date_fen: expected_fen,
        projected_year_end_fen: projected,
        status: status(counted, target, expected_fen.unwrap_or(0)),
        by_month,
        as_of: utc(at),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum By {
    RecipientCounty,
    RecipientPrefecture,
    DonorRegion,
    BuyerOrg,
    Producer,
    Category,
    Month,
}

impl By {
    pub const ALL: [&'static str; 7] =
        ["recipient_county", "recipient_prefecture", "donor_region", "buyer_org", "producer", "category", "month"];

    pub fn parse(s: &str) -> AppResult<By> {
        Ok(match s {
            "recipient_county" => By::RecipientCounty,
            "recipient_prefecture" => By::RecipientPrefecture,
            "donor_region" => By::DonorRegion,
            "buyer_org" => By::BuyerOrg,
            "producer" => By::Producer,
            "category" => By::Category,
            "month" => By::Month,
            _ => {
                return Err(AppError::invalid_field(
                    "validation_failed",
                    "by",
                    format!("must be one of {}", By::ALL.join(", ")),
                ));
            }
        })
    }
    pub fn as_str(self) -> &'static str {
        By::ALL[self as usize]
    }
    /// The column header of the key, in Chinese.
    pub fn label(self) -> &'static str {
        match self {
            By::RecipientCounty => "受援县",
            By::RecipientPrefecture => "受援市州",
            By::DonorRegion => "帮扶地区",
            By::BuyerOrg => "采购单位",
            By::Producer => "供应商",
            By::Category => "品类",
            By::Month => "月份",
        }
    }
    /// The grouping in `scope`: donor regions one level below a donor scope, else by city.
    pub fn group(self, scope: &Scope) -> Group {
        match self {
            By::RecipientCounty => Group::OriginCounty,
            By::RecipientPrefecture => Group::OriginPrefecture,
            By::DonorRegion => match scope {
                Scope::Donor(p) if p.level != "province" => Group::BuyerCounty,
                _ => Group::BuyerPrefecture,
            },
            By::BuyerOrg => Group::BuyerOrg,
            By::Producer => Group::Producer,
            By::Category => Group::Category,
            By::Month => Group::Month,
        }
    }
    /// Whose targets a row's key names.
    fn target_kind(self) -> Option<ScopeKind> {
        match self {
            By::RecipientCounty | By::RecipientPrefecture => Some(ScopeKind::Recipient),
            By::DonorRegion => Some(ScopeKind::Donor),
            By::BuyerOrg => Some(ScopeKind::Org),
            By::Producer => Some(ScopeKind::Producer),
            By::Category | By::Month => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakdownRow {
    pub key: String,
    pub name: String,
    pub counted_fen: i64,
    pub target_fen: Option<i64>,
    pub ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakdownView {
    pub year: i32,
    pub scope_kind: ScopeKind,
    pub scope_id: String,
    pub scope_name: String,
    pub by: By,
    pub rows: Vec<BreakdownRow>,
    /// The sum of the rows: equal to the progress report's `counted_fen`.
    pub total_fen: i64,
    pub as_of: DateTime<Utc>,
}

/// Names for keys of a breakdown.
fn names(conn: &mut DbConn, by: By, keys: &[String], year: i32) -> AppResult<HashMap<String, String>> {
    Ok(match by {
        By::RecipientCounty | By::RecipientPrefecture | By::DonorRegion => regions::table
            .filter(regions::code.eq_any(keys))
            .select((regions::code, regions::name))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect(),
        By::BuyerOrg | By::Producer => org_names(conn, keys)?,
        By::Category => keys
            .iter()
            .map(|k| (k.clone(), categories::find(k).map(|c| c.name.to_owned()).unwrap_or_else(|| k.clone())))
            .collect(),
        By::Month => keys
            .iter()
            .map(|k| {
                (k.clone(), format!("{year}年{}月", k.trim_start_matches(&format!("{year}-")).trim_start_matches('0')))
            })
            .collect(),
    })
}

/// The key of the row that holds what a limited breakdown leaves out.
pub const OTHER_KEY: &str = "_other";
/// Rows a breakdown returns unless asked otherwise: a province's buyers run to tens of thousands.
pub const DEFAULT_ROWS: usize = 1000;

/// A scope's counted amount split by `by`: the largest `limit` rows (all when `None`) and, when
/// some are left out, one more row (`_other`) holding their sum — so the rows always add up.
pub fn breakdown(
    conn: &mut DbConn,
    scope: &Scope,
    year: i32,
    by: By,
    as_of: Option<DateTime<Utc>>,
    limit: Option<usize>,
    ctx: &Ctx,
) -> AppResult<BreakdownView> {
    let (cutoff, at) = instant(as_of, ctx)?;
    let cond = facts::scope_cond(scope);
    let mut sums = facts::sums(conn, year, &cond, by.group(scope), cutoff)?;
    let mut other: Option<(usize, i64)> = None;
    if by == By::Month {
        let got: HashMap<String, i64> = sums.into_iter().collect();
        sums = (1..=12).map(|m| (format!("{year}-{m:02}"), got.get(&m.to_string()).copied().unwrap_or(0))).collect();
    } else {
        sums.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if let Some(limit) = limit
            && sums.len() > limit
        {
            let rest = sums.split_off(limit);
            other = Some((rest.len(), rest.iter().map(|(_, v)| v).sum()));
        }
    }
    let keys: Vec<String> = sums.iter().map(|(k, _)| k.clone()).collect();
    let names = names(conn, by, &keys, year)?;
    let goals = match by.target_kind() {
        Some(kind) => targets::amounts(conn, year, kind, &keys)?,
        None => HashMap::new(),
    };
    let mut rows: Vec<BreakdownRow> = sums
        .into_iter()
        .map(|(key, counted)| {
            let target = goals.get(&key).copied();
            BreakdownRow {
                name: names.get(&key).cloned().unwrap_or_else(|| key.clone()),
                ratio: target.map(|t| ratio(counted, t)),
                counted_fen: counted,
                target_fen: target,
                key,
            }
        })
        .collect();
    if let Some((count, counted)) = other {
        rows.push(BreakdownRow {
            key: OTHER_KEY.to_owned(),
            name: format!("其他（{count}个）"),
            counted_fen: counted,
            target_fen: None,
            ratio: None,
        });
    }
    let total_fen = rows.iter().map(|r| r.counted_fen).sum();
    Ok(BreakdownView {
        year,
        scope_kind: scope.kind(),
        scope_id: scope.id().to_owned(),
        scope_name: scope_name(conn, scope)?,
        by,
        rows,
        total_fen,
        as_of: utc(at),
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LaggardRow {
    pub org_id: String,
    pub name: String,
    /// `org` (purchases of the organisation and those under it) or `producer` (its sales).
    pub target_kind: ScopeKind,
    pub target_fen: i64,
    pub counted_fen: i64,
    pub ratio: f64,
    pub expected_to_date_fen: i64,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LaggardsView {
    pub year: i32,
    pub scope_kind: ScopeKind,
    pub scope_id: String,
    pub scope_name: String,
    /// Worst ratio first.
    pub rows: Vec<LaggardRow>,
    pub as_of: DateTime<Utc>,
}

/// Organisations under the scope that have a target for the year, worst ratio first.
pub fn laggards(
    conn: &mut DbConn,
    scope: &Scope,
    year: i32,
    as_of: Option<DateTime<Utc>>,
    ctx: &Ctx,
) -> AppResult<LaggardsView> {
    let (cutoff, at) = instant(as_of, ctx)?;
    let mut orgs = organizations::table.inner_join(regions::table).select(organizations::id).into_boxed();
    orgs = match scope {
        Scope::Recipient(p) | Scope::Donor(p) => orgs.filter(regions::path.like(prefix_pattern(&p.path)).escape('\\')),
        Scope::Org { org, .. } | Scope::Producer { org, .. } => {
            orgs.filter(organizations::path.like(prefix_pattern(&org.path)).escape('\\'))
        }
        Scope::Pairing { row, .. } if row.donor_org_id.is_some() => {
            orgs.filter(organizations::path.like(prefix_pattern(&row.donor_path)).escape('\\'))
        }
        Scope::Pairing { row, .. } => orgs.filter(regions::path.like(prefix_pattern(&row.donor_path)).escape('\\')),
    };
    let under: Vec<String> = orgs.load(conn)?;
    let goals: Vec<(String, String, i64)> = t::table
        .filter(t::year.eq(year))
        .filter(t::scope_kind.eq_any(["org", "producer"]))
        .filter(t::scope_id.eq_any(&under))
        .select((t::scope_id, t::scope_kind, t::amount_fen))
        .load(conn)?;
    // Each target's organisation and everything under it: one sum per buying or selling organisation.
    let ids: Vec<String> = goals.iter().map(|(id, _, _)| id.clone()).collect();
    let tree: Vec<(String, String)> = {
        let paths: Vec<String> =
            organizations::table.filter(organizations::id.eq_any(&ids)).select(organizations::path).load(conn)?;
        let mut members = Vec::new();
        for path in paths {
            members.extend(
                organizations::table
                    .filter(organizations::path.like(prefix_pattern(&path)).escape('\\'))
                    .select((organizations::id, organizations::path))
                    .load::<(String, String)>(conn)?,
            );
        }
        members.sort_unstable();
        members.dedup();
        members
    };
    let member_ids: Vec<String> = tree.iter().map(|(id, _)| id.clone()).collect();
    let in_list = |column: &str| Cond {
        sql: format!("{column} IN ({})", vec!["?"; member_ids.len().max(1)].join(", ")),
        binds: if member_ids.is_empty() {
            vec![Bind::Text(String::new())]
        } else {
            member_ids.iter().cloned().map(Bind::Text).collect()
        },
        grain: facts::Grain::Prefecture,
        rollup_lead: None,
    };
    let bought: HashMap<String, i64> =
        facts::sums(conn, year, &in_list("buyer_org_id"), Group::BuyerOrg, cutoff)?.into_iter().collect();
    let sold: HashMap<String, i64> =
        facts::sums(conn, year, &in_list("producer_id"), Group::Producer, cutoff)?.into_iter().collect();
    let path_of: HashMap<&str, &str> = tree.iter().map(|(id, path)| (id.as_str(), path.as_str())).collect();
    let subtree_sum = |id: &str, sums: &HashMap<String, i64>| -> i64 {
        let Some(root) = path_of.get(id) else { return 0 };
        tree.iter().filter(|(_, p)| p.starts_with(root)).map(|(m, _)| sums.get(m).copied().unwrap_or(0)).sum()
    };
    let names = org_names(conn, &ids)?;
    let mut rows: Vec<LaggardRow> = goals
        .into_iter()
        .map(|(id, kind, target)| {
            let target_kind = if kind == "producer" { ScopeKind::Producer } else { ScopeKind::Org };
            let counted =
                if target_kind == ScopeKind::Producer { subtree_sum(&id, &sold) } else { subtree_sum(&id, &bought) };
            let expected_fen = expected(target, year, at, ctx);
            LaggardRow {
                name: names.get(&id).cloned().unwrap_or_default(),
                org_id: id,
                target_kind,
                target_fen: target,
                counted_fen: counted,
                ratio: ratio(counted, target),
                expected_to_date_fen: expected_fen,
                status: status(counted, Some(target), expected_fen),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.ratio.total_cmp(&b.ratio).then(a.name.cmp(&b.name)));
    Ok(LaggardsView {
        year,
        scope_kind: scope.kind(),
        scope_id: scope.id().to_owned(),
        scope_name: scope_name(conn, scope)?,
        rows,
        as_of: utc(at),
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryShare {
    pub category: String,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryLineView {
    pub product_id: String,
    pub category: String,
    pub origin_region_code: String,
    pub certificate_no: String,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryView {
    pub id: String,
    pub order_id: String,
    pub sub_order_id: String,
    /// `count` or `reverse`.
    pub kind: String,
    pub amount_fen: i64,
    /// When the business event happened (payment, acceptance, refund); decides year and month.
    pub counted_at: DateTime<Utc>,
    /// When the entry was written.
    pub recorded_at: DateTime<Utc>,
    pub year: i32,
    pub month: i32,
    /// The closed year this entry corrects, when it was posted into a later one.
    pub adjusts_year: Option<i32>,
    pub buyer_org_id: String,
    pub buyer_region_code: String,
    pub producer_id: String,
    pub origin_region_code: String,
    pub pairing_id: Option<String>,
    pub certificate_no: String,
    pub refund_id: Option<String>,
    /// The count entry a reversal takes back.
    pub reverses_id: Option<String>,
    /// The category mix.
    pub categories: Vec<CategoryShare>,
    pub lines: Vec<EntryLineView>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    pub year: i32,
    pub scope_kind: Option<String>,
    pub scope_id: Option<String>,
    pub as_of: Option<DateTime<Utc>>,
    /// With `key`: only the entries behind one row of `GET /reports/breakdown?by=…`.
    pub by: Option<String>,
    pub key: Option<String>,
    pub order_id: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    pub format: Option<String>,
}

/// The entries a ledger query selects, as SQL over `ledger_entries` and its binds.
fn ledger_selection(conn: &mut DbConn, actor: &Actor, q: &LedgerQuery, ctx: &Ctx) -> AppResult<(String, Vec<Bind>)> {
    let year = scope::check_year(q.year, "year")?;
    let (cutoff, _) = instant(q.as_of, ctx)?;
    let scope = match (&q.scope_kind, &q.scope_id) {
        (Some(kind), Some(id)) => Some(visible_scope(conn, actor, kind, id)?),
        (None, None) if actor.org_kind == OrgKind::Platform => None,
        _ => {
            return Err(AppError::invalid_field("validation_failed", "scope_id", "give scope_kind and scope_id"));
        }
    };
    let mut cond = scope.as_ref().map(facts::scope_cond).unwrap_or_default();
    if let (Some(by), Some(key)) = (&q.by, &q.key) {
        let by = By::parse(by)?;
        let group = scope.as_ref().map(|s| by.group(s)).unwrap_or(Group::BuyerPrefecture);
        if let Some(column) = group.plain_column() {
            let value = if by == By::Month {
                key.rsplit('-').next().and_then(|m| m.parse::<i32>().ok()).map(Bind::Int)
            } else {
                Some(Bind::Text(key.clone()))
            };
            let value =
                value.ok_or_else(|| AppError::invalid_field("validation_failed", "key", "a month is YYYY-MM"))?;
            if !cond.sql.is_empty() {
                cond.sql.push_str(" AND ");
            }
            cond.sql.push_str(&format!("{column} = ?"));
            cond.binds.push(value);
        }
    }
    let mut sql = String::from(
        "SELECT * FROM ledger_entries WHERE year = ? AND id IN (SELECT entry_id FROM ledger_lines WHERE year = ?",
    );
    let mut binds = vec![Bind::Int(year), Bind::Int(year)];
    if !cond.sql.is_empty() {
        sql.push_str(" AND ");
        sql.push_str(&cond.sql);
        binds.extend(cond.binds);
    }
    sql.push(')');
    if let Some(t) = cutoff {
        sql.push_str(" AND recorded_at <= ?");
        binds.push(Bind::Time(t));
    }
    if let Some(order) = &q.order_id {
        sql.push_str(" AND order_id = ?");
        binds.push(Bind::Text(order.clone()));
    }
    Ok((sql, binds))
}

/// Ledger entries of a scope and year, in the order they were written.
pub fn ledger(
    conn: &mut DbConn,
    actor: &Actor,
    q: &LedgerQuery,
    page: &PageRequest,
    ctx: &Ctx,
) -> AppResult<Page<EntryView>> {
    let (mut sql, mut binds) = ledger_selection(conn, actor, q, ctx)?;
    if let Some(after) = &page.after {
        sql.push_str(" AND id > ?");
        binds.push(Bind::Text(after.clone()));
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {}", page.limit + 1));
    let rows: Vec<EntryRow> = facts::query(conn, &sql, &binds)?;
    let page = Page::from_rows(rows, page, |e| e.id.clone(), |e| e);
    Ok(Page { items: with_lines(conn, page.items)?, next_cursor: page.next_cursor })
}

/// The `n` entries of a ledger query written last, newest first.
pub fn latest_entries(
    conn: &mut DbConn,
    actor: &Actor,
    q: &LedgerQuery,
    n: usize,
    ctx: &Ctx,
) -> AppResult<Vec<EntryView>> {
    let (mut sql, binds) = ledger_selection(conn, actor, q, ctx)?;
    sql.push_str(&format!(" ORDER BY recorded_at DESC, id DESC LIMIT {n}"));
    let rows: Vec<EntryRow> = facts::query(conn, &sql, &binds)?;
    with_lines(conn, rows)
}

fn with_lines(conn: &mut DbConn, entries: Vec<EntryRow>) -> AppResult<Vec<EntryView>> {
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    let lines: Vec<LedgerLine> = ledger_lines::table
        .filter(ledger_lines::entry_id.eq_any(&ids))
        .order((ledger_lines::entry_id.asc(), ledger_lines::position.asc()))
        .select(LedgerLine::as_select())
        .load(conn)?;
    Ok(entries.into_iter().map(|e| entry_view(e, &lines)).collect())
}

fn entry_view(e: EntryRow, lines: &[LedgerLine]) -> EntryView {
    let mine: Vec<&LedgerLine> = lines.iter().filter(|l| l.entry_id == e.id).collect();
    let mut categories: Vec<CategoryShare> = Vec::new();
    for l in &mine {
        match categories.iter_mut().find(|c| c.category == l.category) {
            Some(c) => c.amount_fen += l.amount_fen,
            None => categories.push(CategoryShare { category: l.category.clone(), amount_fen: l.amount_fen }),
        }
    }
    EntryView {
        lines: mine
            .iter()
            .map(|l| EntryLineView {
                product_id: l.product_id.clone(),
                category: l.category.clone(),
                origin_region_code: l.origin_code.clone(),
                certificate_no: l.certificate_no.clone(),
                amount_fen: l.amount_fen,
            })
            .collect(),
        categories,
        id: e.id,
        order_id: e.order_id,
        sub_order_id: e.sub_order_id,
        kind: e.kind,
        amount_fen: e.amount_fen,
        counted_at: utc(e.counted_at),
        recorded_at: utc(e.recorded_at),
        year: e.year,
        month: e.month,
        adjusts_year: e.adjusts_year,
        buyer_org_id: e.buyer_org_id,
        buyer_region_code: e.buyer_region_code,
        producer_id: e.producer_id,
        origin_region_code: e.origin_region_code,
        pairing_id: e.pairing_id,
        certificate_no: e.certificate_no,
        refund_id: e.refund_id,
        reverses_id: e.reverses_id,
    }
}
