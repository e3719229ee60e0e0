//! Time to money (结算时效) beside progress: how long the scope's producers wait from being owed
//! a sub-order to being paid, from the same report as `/api/v1/reports/time-to-money`.

use serde_json::{Value, json};

use crate::accounting::scope::Scope;
use crate::db::DbConn;
use crate::error::AppResult;
use crate::identity::Actor;
use crate::identity::types::OrgKind;
use crate::settlement::time_to_money::{self, Spread, TimeToMoneyQuery, TimeToMoneyView};

const ROWS_SHOWN: usize = 15;

fn days(d: Option<f64>) -> String {
    d.map(|d| format!("{d:.1}")).unwrap_or_else(|| "—".into())
}

fn spread_json(s: &Spread) -> Value {
    json!({
        "payables": s.payables, "paid": s.paid, "unpaid": s.payables - s.paid,
        "median": days(s.median_days), "p90": days(s.p90_days),
        "median_days": s.median_days, "p90_days": s.p90_days,
    })
}

/// The recipient region whose producers the scope is about, or the producer itself; `None` for
/// scopes of buyers (a donor region, an agency), which have no producers to wait.
enum Whose<'a> {
    Region(&'a str, &'a str),
    Producer(&'a str),
}

fn whose(scope: &Scope) -> Option<Whose<'_>> {
    match scope {
        Scope::Recipient(p) => Some(Whose::Region(&p.code, &p.path)),
        Scope::Pairing { row, .. } => Some(Whose::Region(&row.recipient_region_code, &row.recipient_path)),
        Scope::Producer { org, .. } => Some(Whose::Producer(&org.id)),
        Scope::Donor(_) | Scope::Org { .. } => None,
    }
}

/// The section, or `None` when the scope has no producers or the user may not see their payouts
/// (agencies; a coordinator looking at a pairing whose recipient lies outside its region).
pub fn section(
    conn: &mut DbConn,
    actor: &Actor,
    scope: &Scope,
    year: i32,
    zone: chrono_tz::Tz,
) -> AppResult<Option<Value>> {
    let Some(whose) = whose(scope) else { return Ok(None) };
    let report = |conn: &mut DbConn, region: Option<&str>, by: &str| -> AppResult<TimeToMoneyView> {
        let q = TimeToMoneyQuery { year, region: region.map(str::to_owned), by: Some(by.into()) };
        time_to_money::report(conn, actor, q, zone)
    };
    let (overall, rows, by_label) = match (actor.org_kind, whose) {
        (OrgKind::Agency, _) => return Ok(None),
        (OrgKind::Coordinator, Whose::Region(_, path)) if !actor.region_contains(path) => return Ok(None),
        (_, Whose::Region(code, _)) => {
            let mut view = report(conn, Some(code), "county")?;
            let mut label = "区县";
            if view.rows.len() <= 1 {
                view = report(conn, Some(code), "producer")?;
                label = "供应商";
            }
            (view.overall, view.rows, label)
        }
        (_, Whose::Producer(id)) => {
            let view = report(conn, None, "producer")?;
            let rows: Vec<_> = view.rows.into_iter().filter(|r| r.key == id).collect();
            let overall = rows.first().map(|r| r.spread.clone()).unwrap_or_else(|| time_to_money::spread(vec![], 0));
            (overall, rows, "供应商")
        }
    };
    let rows: Vec<Value> = rows
        .iter()
        .take(ROWS_SHOWN)
        .map(|r| {
            let mut v = spread_json(&r.spread);
            v["name"] = json!(r.name);
            v
        })
        .collect();
    Ok(Some(json!({ "overall": spread_json(&overall), "rows": rows, "by_label": by_label })))
}
