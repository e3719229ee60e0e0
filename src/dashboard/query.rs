//! The dashboard's query string: `year`, `scope` (`kind:id`, e.g. `recipient:522300`) and
//! `as_of` (what a date-time field sends, in the deployment's zone, or RFC 3339).

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use crate::accounting::scope::{self, ScopeKind};
use crate::accounting::span::Span;
use crate::ctx::Ctx;
use crate::error::{AppError, AppResult};

#[derive(Debug, Default, Deserialize)]
pub struct RawQuery {
    pub year: Option<String>,
    /// `H1`, `H2`, `Q1`..`Q4`, `M01`..`M12`; absent or `year` for the whole year.
    pub period: Option<String>,
    pub scope: Option<String>,
    pub as_of: Option<String>,
    /// Downloads: `progress`, `breakdown`, `laggards` or `ledger`.
    pub report: Option<String>,
    /// Downloads: the breakdown's grouping.
    pub by: Option<String>,
    /// Downloads: `xlsx` or `csv`.
    pub format: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Selection {
    pub year: i32,
    /// The year, or the part of it, the figures cover.
    pub span: Span,
    /// None: the signed-in user's first scope.
    pub scope: Option<(ScopeKind, String)>,
    pub as_of: Option<DateTime<Utc>>,
}

pub fn parse_raw(raw: Option<&str>) -> AppResult<RawQuery> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| AppError::bad_request("malformed_query", format!("the query string is not readable: {e}")))
}

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub fn selection(q: &RawQuery, ctx: &Ctx) -> AppResult<Selection> {
    let year = match blank(&q.year) {
        None => ctx.today.year(),
        Some(y) => {
            let year = y
                .parse::<i32>()
                .map_err(|_| AppError::invalid_field("validation_failed", "year", "a year such as 2021"))?;
            scope::check_year(year, "year")?
        }
    };
    let scope = match blank(&q.scope) {
        None => None,
        Some(s) => {
            let (kind, id) = s.split_once(':').filter(|(_, id)| !id.is_empty()).ok_or_else(|| {
                AppError::invalid_field("validation_failed", "scope", "kind:id, such as recipient:522300")
            })?;
            Some((scope::parse_kind(kind, "scope")?, id.to_owned()))
        }
    };
    let as_of = blank(&q.as_of).map(|t| parse_instant(t, ctx)).transpose()?;
    let span = Span::parse(year, blank(&q.period))?;
    Ok(Selection { year, span, scope, as_of })
}

/// `2021-06-30T18:00` (a date-time field, in the deployment's zone), with seconds, or RFC 3339.
fn parse_instant(raw: &str, ctx: &Ctx) -> AppResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .or_else(|| chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(23, 59, 59)));
    let bad = || AppError::invalid_field("validation_failed", "as_of", "a date and time such as 2021-06-30T18:00");
    let local = local.ok_or_else(bad)?;
    ctx.zone.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)).ok_or_else(bad)
}

/// The value of a date-time field showing `at` in the deployment's zone.
pub fn field_value(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone).format("%Y-%m-%dT%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::config::{CountOn, SettleOn};

    fn ctx() -> Ctx {
        let clock = Clock::fixed(Utc.with_ymd_and_hms(2021, 7, 1, 0, 0, 0).single().unwrap_or_default());
        Ctx::new(clock.now_naive(), chrono_tz::Asia::Shanghai, CountOn::Paid, SettleOn::Accepted)
    }

    fn q(pairs: &str) -> RawQuery {
        parse_raw(Some(pairs)).unwrap_or_default()
    }

    #[test]
    fn an_empty_query_means_this_year_the_first_scope_and_now() {
        let s = selection(&q(""), &ctx()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.year, s.scope, s.as_of), (2021, None, None));
    }

    #[test]
    fn as_of_is_read_in_beijing_time() {
        let s = selection(&q("year=2021&scope=recipient:522300&as_of=2021-06-30T18:00"), &ctx())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.scope, Some((ScopeKind::Recipient, "522300".to_owned())));
        assert_eq!(s.as_of, Utc.with_ymd_and_hms(2021, 6, 30, 10, 0, 0).single());
    }

    #[test]
    fn bad_values_name_their_field() {
        for (query, field) in [
            ("year=abc", "year"),
            ("year=1999", "year"),
            ("scope=recipient", "scope"),
            ("scope=moon:1", "scope"),
            ("as_of=yesterday", "as_of"),
            ("period=H3", "period"),
        ] {
            let err = selection(&q(query), &ctx()).err().unwrap_or_else(|| panic!("{query} was accepted"));
            assert_eq!(err.to_problem().errors.first().map(|e| e.field.as_str()), Some(field), "{query}");
        }
    }
}
