//! Time to money (结算时效): how many days pass from the moment a producer is owed a sub-order
//! (its acceptance, or its payment) to the moment the money is paid out to it, per county and
//! per producer: the median (the middle value; the mean of the two middle ones for an even
//! count) and the 90th percentile (nearest rank). From payables and their settlements' payouts.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{organizations, payables as p, regions, settlements as s};
use crate::db::{DbConn, prefix_pattern};
use crate::error::{AppError, AppResult};
use crate::identity::Actor;
use crate::identity::types::OrgKind;
use crate::validate::one_of;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeToMoneyQuery {
    /// Payables owed in this year (in the deployment's zone).
    pub year: i32,
    /// Producers inside this region (default: the caller's region; a producer sees its own).
    pub region: Option<String>,
    /// `county` (default) or `producer`.
    pub by: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Spread {
    /// Sub-orders owed in the year.
    pub payables: usize,
    /// Of those, paid out.
    pub paid: usize,
    pub median_days: Option<f64>,
    pub p90_days: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimeRow {
    pub key: String,
    pub name: String,
    #[serde(flatten)]
    pub spread: Spread,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimeToMoneyView {
    pub year: i32,
    pub region_code: Option<String>,
    pub by: String,
    pub overall: Spread,
    pub rows: Vec<TimeRow>,
}

/// Median and nearest-rank p90 of `days`, with the counts.
pub fn spread(mut days: Vec<f64>, payables: usize) -> Spread {
    days.sort_by(f64::total_cmp);
    let n = days.len();
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let median = match n {
        0 => None,
        _ if n % 2 == 1 => Some(days[n / 2]),
        _ => Some((days[n / 2 - 1] + days[n / 2]) / 2.0),
    };
    let p90 = (n > 0).then(|| days[((0.9 * n as f64).ceil() as usize).clamp(1, n) - 1]);
    Spread { payables, paid: n, median_days: median.map(round), p90_days: p90.map(round) }
}

/// The report for the producers the actor may see.
pub fn report(
    conn: &mut DbConn,
    actor: &Actor,
    q: TimeToMoneyQuery,
    zone: chrono_tz::Tz,
) -> AppResult<TimeToMoneyView> {
    if !(2000..=2100).contains(&q.year) {
        return Err(AppError::invalid_field("validation_failed", "year", "must be 2000 to 2100"));
    }
    one_of("by", q.by.as_deref(), &["county", "producer"])?;
    let by = q.by.clone().unwrap_or_else(|| "county".into());
    let region_path = match &q.region {
        Some(code) => Some(
            crate::regions::model::find(conn, code)?
                .ok_or_else(|| AppError::invalid_field("unknown_region", "region", "no such region"))?
                .path,
        ),
        None => None,
    };
    let mut query = p::table
        .inner_join(organizations::table.on(organizations::id.eq(p::producer_id)))
        .inner_join(regions::table.on(regions::code.eq(organizations::region_code)))
        .left_join(s::table.on(s::id.nullable().eq(p::settlement_id).and(s::status.eq("paid"))))
        .filter(p::kind.eq("sale"))
        .select((p::producer_id, organizations::name, regions::path, p::due_at, s::paid_at.nullable()))
        .into_boxed();
    match actor.org_kind {
        OrgKind::Platform => {}
        OrgKind::Coordinator => {
            if region_path.as_deref().is_some_and(|r| !actor.region_contains(r)) {
                return Err(AppError::forbidden("the region lies outside your coordinator region"));
            }
            query = query.filter(regions::path.like(prefix_pattern(&actor.region_path)).escape('\\'));
        }
        OrgKind::Producer => {
            query = query.filter(organizations::path.like(prefix_pattern(&actor.org.path)).escape('\\'));
        }
        OrgKind::Agency => return Err(AppError::forbidden("time to money is for producers, finance and coordinators")),
    }
    if let Some(path) = &region_path {
        query = query.filter(regions::path.like(prefix_pattern(path)).escape('\\'));
    }
    type Row = (String, String, String, NaiveDateTime, Option<NaiveDateTime>);
    let rows: Vec<Row> = query.load(conn)?;
    let in_year = |t: NaiveDateTime| t.and_utc().with_timezone(&zone).year() == q.year;
    let rows: Vec<Row> = rows.into_iter().filter(|r| in_year(r.3)).collect();
    let days = |due: NaiveDateTime, paid: NaiveDateTime| (paid - due).num_seconds() as f64 / 86_400.0;
    let mut groups: BTreeMap<String, (Vec<f64>, usize)> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (producer, name, path, due, paid) in &rows {
        let key = if by == "producer" {
            names.insert(producer.clone(), name.clone());
            producer.clone()
        } else {
            path.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned()
        };
        let entry = groups.entry(key).or_default();
        entry.1 += 1;
        if let Some(paid) = paid {
            entry.0.push(days(*due, *paid));
        }
    }
    if by == "county" {
        let codes: Vec<String> = groups.keys().cloned().collect();
        let found: Vec<(String, String)> =
            regions::table.filter(regions::code.eq_any(&codes)).select((regions::code, regions::name)).load(conn)?;
        names.extend(found);
    }
    let all: Vec<f64> = groups.values().flat_map(|(d, _)| d.iter().copied()).collect();
    Ok(TimeToMoneyView {
        year: q.year,
        region_code: q.region,
        overall: spread(all, rows.len()),
        rows: groups
            .into_iter()
            .map(|(key, (days, n))| TimeRow {
                name: names.get(&key).cloned().unwrap_or_default(),
                spread: spread(days, n),
                key,
            })
            .collect(),
        by,
    })
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn median_and_p90_by_their_definitions() {
        let s = spread(vec![5.0, 1.0, 3.0], 4);
        assert_eq!((s.payables, s.paid, s.median_days, s.p90_days), (4, 3, Some(3.0), Some(5.0)));
        let s = spread((1..=10).map(f64::from).collect(), 10);
        assert_eq!((s.median_days, s.p90_days), (Some(5.5), Some(9.0)));
        assert_eq!(spread(vec![], 2).median_days, None);
    }
}
