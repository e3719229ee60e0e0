//! Month-end snapshots of the rollups a report `as_of` an earlier instant reads. Without them such
//! a report is today's rollup less every line recorded since (a quarter of a province's year for
//! an `as_of` a quarter back); with them it is the nearest snapshot, plus or minus the lines
//! recorded between it and the instant. Taken by the worker once a month has ended (and a grace
//! for transactions still in flight has passed), from the lines themselves; `ledger verify`
//! recomputes every one (`verify`).
//!
//! The province-grain buyer tables are also snapshotted at each week's end (Monday 00:00): half
//! a month of a province's lines touches tens of thousands of buyers, each to be corrected, and
//! at most half a week of them keeps a province's largest buyers as of any instant within the
//! reports' budget. A week-end snapshot holds its own year only, and those of years before last
//! are dropped (`forget_old_weeks`), so they stay at most two years' worth.

use chrono::{Datelike, NaiveDateTime, TimeZone};
use diesel::QueryableByName;
use diesel::sql_types::{Integer, Text, Timestamp};

use crate::db::DbConn;
use crate::db::sql::{self, Bind, Statement};
use crate::error::AppResult;

/// A snapshot table: the rows of `source` (summed to `key` when coarser) as they stood at the
/// snapshot's instant. Every column is a ledger line's, so a snapshot is computed from the lines.
pub struct Snapshot {
    pub table: &'static str,
    pub source: &'static str,
    pub key: &'static [&'static str],
    pub rest: &'static [&'static str],
    /// Also taken at week ends.
    pub weekly: bool,
}

/// When a snapshot was taken: at a month's end (every table) or a week's (the weekly ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Month,
    Week,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::Month => "month",
            Kind::Week => "week",
        }
    }

    pub fn parse(code: &str) -> Option<Kind> {
        [Kind::Month, Kind::Week].into_iter().find(|k| k.code() == code)
    }

    /// The tables a snapshot of this kind fills.
    pub fn tables(self) -> impl Iterator<Item = &'static Snapshot> {
        SNAPSHOTS.iter().filter(move |s| self == Kind::Month || s.weekly)
    }
}

pub const SNAPSHOTS: [Snapshot; 4] = [
    // The month rollup without category and pairing: progress and the prefecture breakdowns.
    Snapshot {
        table: "ledger_snap_month",
        source: "ledger_sums_month",
        key: &["year", "month", "origin_prefecture", "buyer_prefecture"],
        rest: &["origin_province", "buyer_province"],
        weekly: false,
    },
    Snapshot {
        table: "ledger_snap_buyer_origin",
        source: "ledger_sums_buyer_origin",
        key: &["year", "origin_prefecture", "buyer_org_id"],
        rest: &["origin_province"],
        weekly: false,
    },
    Snapshot {
        table: "ledger_snap_buyer_origin_province",
        source: "ledger_sums_buyer_origin_province",
        key: &["year", "origin_province", "buyer_org_id"],
        rest: &[],
        weekly: true,
    },
    Snapshot {
        table: "ledger_snap_buyer_donor",
        source: "ledger_sums_buyer_donor",
        key: &["year", "buyer_prefecture", "buyer_org_id"],
        rest: &["buyer_province"],
        // A donor province's buyers are read from it (by the province's index).
        weekly: true,
    },
];

/// The snapshot table that copies a rollup, if any.
pub fn of_rollup(table: &str) -> Option<&'static Snapshot> {
    SNAPSHOTS.iter().find(|s| s.source == table)
}

/// The snapshot table of that name.
pub fn named(table: &str) -> Option<&'static Snapshot> {
    SNAPSHOTS.iter().find(|s| s.table == table)
}

/// How long after a month's end its snapshot waits, so that no transaction that recorded a line
/// before the end is still uncommitted (payments take milliseconds; this is generous).
pub const GRACE_MINUTES: i64 = 10;

/// The latest month end (in `zone`, as a UTC instant) at least the grace before `now`.
pub fn due_month_end(now: NaiveDateTime, zone: chrono_tz::Tz) -> Option<NaiveDateTime> {
    let local = (now - chrono::Duration::minutes(GRACE_MINUTES)).and_utc().with_timezone(&zone);
    let first = chrono::NaiveDate::from_ymd_opt(local.year(), local.month(), 1)?.and_hms_opt(0, 0, 0)?;
    Some(zone.from_local_datetime(&first).earliest()?.naive_utc())
}

/// The latest week end (Monday 00:00 in `zone`, as a UTC instant) at least the grace before `now`.
pub fn due_week_end(now: NaiveDateTime, zone: chrono_tz::Tz) -> Option<NaiveDateTime> {
    let local = (now - chrono::Duration::minutes(GRACE_MINUTES)).and_utc().with_timezone(&zone);
    let monday = local.date_naive() - chrono::Duration::days(i64::from(local.weekday().num_days_from_monday()));
    Some(zone.from_local_datetime(&monday.and_hms_opt(0, 0, 0)?).earliest()?.naive_utc())
}

/// The earliest year a snapshot taken at `at` holds: the year of the period it closes, less one
/// for a month end (lines of the year before still arrive in January; older years are closed or
/// quiet); a week end holds its own year only, there being fifty-two of them.
pub fn first_year(at: NaiveDateTime, kind: Kind, zone: chrono_tz::Tz) -> i32 {
    let year = (at - chrono::Duration::seconds(1)).and_utc().with_timezone(&zone).year();
    match kind {
        Kind::Month => year - 1,
        Kind::Week => year,
    }
}

/// `SELECT key…, rest…, SUM(amount_fen) FROM ledger_lines WHERE year >= ? AND recorded_at <= ?`
/// grouped by the key, groups that add up to nothing left out: a snapshot's rows at `at`.
fn from_lines(s: &Snapshot) -> String {
    let key = s.key.join(", ");
    let rest: String = s.rest.iter().map(|c| format!("MIN({c}), ")).collect();
    format!(
        "SELECT {key}, {rest}CAST(SUM(amount_fen) AS BIGINT) FROM ledger_lines WHERE year >= ? AND recorded_at <= ? \
         GROUP BY {key} HAVING SUM(amount_fen) <> 0"
    )
}

/// Takes the snapshot standing for `at` (a month or a week end) unless one stands for it (a
/// month end that is also a week end is a month-end snapshot); whether it took it. One
/// transaction: the row in `ledger_snapshots` and every table's rows, or nothing.
pub fn take(
    conn: &mut DbConn,
    at: NaiveDateTime,
    kind: Kind,
    zone: chrono_tz::Tz,
    now: NaiveDateTime,
) -> AppResult<bool> {
    let first = first_year(at, kind, zone);
    crate::db::write_tx(conn, |c| {
        let claimed = sql::execute(
            c,
            "INSERT INTO ledger_snapshots (taken_at, first_year, made_at, kind) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            &[Bind::Time(at), Bind::Int(first), Bind::Time(now), Bind::Text(kind.code().to_owned())],
        )?;
        if claimed == 0 {
            return Ok(false);
        }
        let statements: Vec<Statement> = kind
            .tables()
            .map(|s| {
                let mut columns: Vec<&str> = vec!["taken_at"];
                columns.extend(s.key);
                columns.extend(s.rest);
                columns.push("amount_fen");
                Statement {
                    sql: format!(
                        "INSERT INTO {} ({}) SELECT ?, x.* FROM ({}) x",
                        s.table,
                        columns.join(", "),
                        from_lines(s)
                    ),
                    binds: vec![Bind::Time(at), Bind::Int(first), Bind::Time(at)],
                }
            })
            .collect();
        sql::execute_all(c, &statements)?;
        Ok(true)
    })
}

/// Drops the week-end snapshots of years before last (at `now` in `zone`); how many. Month-end
/// ones stay: they are what an older `as_of` starts from.
pub fn forget_old_weeks(conn: &mut DbConn, now: NaiveDateTime, zone: chrono_tz::Tz) -> AppResult<usize> {
    let oldest_kept = now.and_utc().with_timezone(&zone).year() - 1;
    let old = "SELECT taken_at FROM ledger_snapshots WHERE kind = 'week' AND first_year < ?";
    crate::db::write_tx(conn, |c| {
        let statements: Vec<Statement> = Kind::Week
            .tables()
            .map(|s| Statement {
                sql: format!("DELETE FROM {} WHERE taken_at IN ({old})", s.table),
                binds: vec![Bind::Int(oldest_kept)],
            })
            .collect();
        sql::execute_all(c, &statements)?;
        sql::execute(
            c,
            "DELETE FROM ledger_snapshots WHERE kind = 'week' AND first_year < ?",
            &[Bind::Int(oldest_kept)],
        )
    })
}

/// Vacuums and analyses the snapshot tables once a snapshot is in (PostgreSQL; SQLite has no
/// visibility map). Autovacuum leaves a table alone until a fifth of it is new, and after the
/// first few month ends a snapshot adds less than that, so it would wait for months: meanwhile
/// every index-only scan of the new rows also visits their table pages, and the planner, without
/// statistics for the new instant, takes it for one without rows. `VACUUM` runs outside any
/// transaction.
pub fn tidy(conn: &mut DbConn) -> AppResult<()> {
    if matches!(conn, DbConn::Postgres(_)) {
        let tables: Vec<&str> = SNAPSHOTS.iter().map(|s| s.table).collect();
        sql::execute(conn, &format!("VACUUM (ANALYZE) {}", tables.join(", ")), &[])?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Timestamp)]
    taken_at: NaiveDateTime,
}

/// Whether the snapshot standing for `at` has been taken.
pub fn exists(conn: &mut DbConn, at: NaiveDateTime) -> AppResult<bool> {
    let rows: Vec<Taken> =
        sql::query(conn, "SELECT taken_at FROM ledger_snapshots WHERE taken_at = ?", &[Bind::Time(at)])?;
    Ok(!rows.is_empty())
}

/// The snapshot holding `year` in `table` nearest to `at`, and how far from it (seconds).
pub fn nearest(
    conn: &mut DbConn,
    table: &Snapshot,
    year: i32,
    at: NaiveDateTime,
) -> AppResult<Option<(NaiveDateTime, i64)>> {
    let mut best: Option<(NaiveDateTime, i64)> = None;
    let kinds = if table.weekly { "" } else { "kind = 'month' AND " };
    for (cmp, order) in [("<=", "DESC"), (">", "ASC")] {
        let rows: Vec<Taken> = sql::query(
            conn,
            &format!(
                "SELECT taken_at FROM ledger_snapshots WHERE {kinds}first_year <= ? AND taken_at {cmp} ? \
                 ORDER BY taken_at {order} LIMIT 1"
            ),
            &[Bind::Int(year), Bind::Time(at)],
        )?;
        for r in rows {
            let distance = (r.taken_at - at).num_seconds().abs();
            if best.is_none_or(|(_, d)| distance < d) {
                best = Some((r.taken_at, distance));
            }
        }
    }
    Ok(best)
}

#[derive(QueryableByName)]
pub struct Stored {
    #[diesel(sql_type = Timestamp)]
    pub taken_at: NaiveDateTime,
    #[diesel(sql_type = Integer)]
    pub first_year: i32,
    #[diesel(sql_type = Text)]
    pub kind: String,
}

impl Stored {
    /// The tables this snapshot filled.
    pub fn tables(&self) -> impl Iterator<Item = &'static Snapshot> {
        Kind::parse(&self.kind).unwrap_or(Kind::Month).tables()
    }
}

/// Every snapshot taken, oldest first.
pub fn all(conn: &mut DbConn) -> AppResult<Vec<Stored>> {
    sql::query(conn, "SELECT taken_at, first_year, kind FROM ledger_snapshots ORDER BY taken_at", &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::model::LedgerLine;
    use crate::accounting::rollups::ROLLUPS;

    #[test]
    fn every_snapshot_column_is_a_line_column_and_its_source_a_rollup() {
        for s in &SNAPSHOTS {
            assert!(ROLLUPS.iter().any(|r| r.table == s.source), "{} copies {}, not a rollup", s.table, s.source);
            for c in s.key.iter().chain(s.rest) {
                assert!(LedgerLine::COLUMNS.contains(c), "{} names {c}, which no ledger line has", s.table);
            }
        }
    }

    #[test]
    fn month_ends_are_in_the_zone_and_wait_for_the_grace() {
        let zone = chrono_tz::Asia::Shanghai;
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        // 1 October 00:00 in Beijing is 30 September 16:00 UTC.
        assert_eq!(due_month_end(t("2025-09-30 16:20:00"), zone), Some(t("2025-09-30 16:00:00")));
        // Within the grace the month before is still the latest due.
        assert_eq!(due_month_end(t("2025-09-30 16:05:00"), zone), Some(t("2025-08-31 16:00:00")));
        assert_eq!(first_year(t("2025-12-31 16:00:00"), Kind::Month, zone), 2024);
        assert_eq!(first_year(t("2026-01-31 16:00:00"), Kind::Month, zone), 2025);
    }

    #[test]
    fn week_ends_are_mondays_in_the_zone_and_hold_their_own_year() {
        let zone = chrono_tz::Asia::Shanghai;
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        // Monday 11 August 2025 00:00 in Beijing is Sunday 10 August 16:00 UTC.
        assert_eq!(due_week_end(t("2025-08-10 16:11:00"), zone), Some(t("2025-08-10 16:00:00")));
        assert_eq!(due_week_end(t("2025-08-10 16:05:00"), zone), Some(t("2025-08-03 16:00:00")));
        assert_eq!(due_week_end(t("2025-08-15 04:00:00"), zone), Some(t("2025-08-10 16:00:00")));
        // The week to Monday 5 January 2026 closes on a Sunday of 2026.
        assert_eq!(first_year(t("2026-01-04 16:00:00"), Kind::Week, zone), 2026);
        // The week to Monday 1 December closes in the same year.
        assert_eq!(first_year(t("2025-11-30 16:00:00"), Kind::Week, zone), 2025);
    }

    #[test]
    fn a_week_end_snapshot_fills_the_weekly_tables_only() {
        let week: Vec<&str> = Kind::Week.tables().map(|s| s.table).collect();
        assert_eq!(week, ["ledger_snap_buyer_origin_province", "ledger_snap_buyer_donor"]);
        assert_eq!(Kind::Month.tables().count(), SNAPSHOTS.len());
        for kind in [Kind::Month, Kind::Week] {
            assert_eq!(Kind::parse(kind.code()), Some(kind));
        }
    }
}
