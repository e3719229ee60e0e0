//! A scope's counted amount broken down by county, prefecture, donor region, buyer, producer,
//! category or month: rows that add up to the total, the long tail folded into one row.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::facts::{self, Group};
use super::progress::{instant, ratio, scope_name};
use super::scope::{Scope, ScopeKind};
use super::span::Span;
use super::targets;
use crate::catalog::categories;
use crate::clock::utc;
use crate::ctx::Ctx;
use crate::db::DbConn;
use crate::db::schema::regions;
use crate::error::AppResult;
use crate::identity::model::org_names;
use crate::validate::not_one_of;

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
    Channel,
}

impl By {
    pub const ALL: [&'static str; 8] = [
        "recipient_county",
        "recipient_prefecture",
        "donor_region",
        "buyer_org",
        "producer",
        "category",
        "month",
        "channel",
    ];

    pub fn parse(s: &str) -> AppResult<By> {
        Ok(match s {
            "recipient_county" => By::RecipientCounty,
            "recipient_prefecture" => By::RecipientPrefecture,
            "donor_region" => By::DonorRegion,
            "buyer_org" => By::BuyerOrg,
            "producer" => By::Producer,
            "category" => By::Category,
            "month" => By::Month,
            "channel" => By::Channel,
            _ => {
                return Err(not_one_of("by", &By::ALL));
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
            By::Channel => "渠道",
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
            By::Channel => Group::Channel,
        }
    }
    /// Whose targets a row's key names.
    fn target_kind(self) -> Option<ScopeKind> {
        match self {
            By::RecipientCounty | By::RecipientPrefecture => Some(ScopeKind::Recipient),
            By::DonorRegion => Some(ScopeKind::Donor),
            By::BuyerOrg => Some(ScopeKind::Org),
            By::Producer => Some(ScopeKind::Producer),
            By::Category | By::Month | By::Channel => None,
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
    /// `year` (the default), `H1`, `H2`, `Q1`..`Q4` or `M01`..`M12`.
    pub period: String,
    /// The period's first day, in the deployment's zone.
    pub starts_on: chrono::NaiveDate,
    /// The period's last day, in the deployment's zone.
    pub ends_on: chrono::NaiveDate,
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
        By::Channel => keys.iter().map(|k| (k.clone(), channel_name(k).to_owned())).collect(),
        By::Month => keys
            .iter()
            .map(|k| {
                (k.clone(), format!("{year}年{}月", k.trim_start_matches(&format!("{year}-")).trim_start_matches('0')))
            })
            .collect(),
    })
}

/// The key of the row that holds what a limited breakdown leaves out.
/// The Chinese name of an order channel.
pub fn channel_name(channel: &str) -> &str {
    match channel {
        "catalogue" => "目录采购",
        "group_buy" => "团购",
        "live" => "直播带货",
        other => other,
    }
}

pub const OTHER_KEY: &str = "_other";

/// Rows a breakdown returns unless asked otherwise: a province's buyers run to tens of thousands.
pub const DEFAULT_ROWS: usize = 1000;

/// A scope's counted amount split by `by`: the largest `limit` rows (all when `None`) and, when
/// some are left out, one more row (`_other`) holding their sum — so the rows always add up.
pub fn breakdown(
    conn: &mut DbConn,
    scope: &Scope,
    span: &Span,
    by: By,
    as_of: Option<DateTime<Utc>>,
    limit: Option<usize>,
    ctx: &Ctx,
) -> AppResult<BreakdownView> {
    let (cutoff, at) = instant(as_of, ctx)?;
    let year = span.year;
    let cond = facts::scope_cond(scope);
    let group = by.group(scope);
    let mut other: Option<(usize, i64)> = None;
    let top = match limit {
        Some(limit) => facts::top(conn, span, &cond, group, cutoff, limit)?,
        None => None,
    };
    let sums = if let Some(top) = top {
        if top.rest_count > 0 {
            other = Some((top.rest_count, top.rest_sum));
        }
        top.rows
    } else if by == By::Month {
        let got: HashMap<String, i64> = facts::sums(conn, span, &cond, group, cutoff)?.into_iter().collect();
        span.months().map(|m| (format!("{year}-{m:02}"), got.get(&m.to_string()).copied().unwrap_or(0))).collect()
    } else {
        // A group whose lines add up to nothing (bought, then refunded in full) is no row.
        let mut sums: Vec<(String, i64)> =
            facts::sums(conn, span, &cond, group, cutoff)?.into_iter().filter(|(_, v)| *v != 0).collect();
        sums.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if let Some(limit) = limit
            && sums.len() > limit
        {
            let rest = sums.split_off(limit);
            other = Some((rest.len(), rest.iter().map(|(_, v)| v).sum()));
        }
        sums
    };
    let keys: Vec<String> = sums.iter().map(|(k, _)| k.clone()).collect();
    let names = names(conn, by, &keys, year)?;
    let goals = match by.target_kind() {
        Some(kind) => targets::amounts(conn, year, kind, &keys)?,
        None => HashMap::new(),
    };
    let mut rows: Vec<BreakdownRow> = sums
        .into_iter()
        .map(|(key, counted)| {
            let target = goals.get(&key).map(|t| span.share(*t, ctx));
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
        period: span.code(),
        starts_on: span.starts_on(),
        ends_on: span.ends_on(),
        scope_kind: scope.kind(),
        scope_id: scope.id().to_owned(),
        scope_name: scope_name(conn, scope)?,
        by,
        rows,
        total_fen,
        as_of: utc(at),
    })
}
