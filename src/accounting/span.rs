//! The stretch of a year a report covers: the whole year, a half (`H1`, `H2`), a quarter
//! (`Q1`..`Q4`) or a month (`M01`..`M12`), in the deployment's zone (Beijing time). A year's target
//! is shared out over its parts at an even pace, as `expected_to_date_fen` already assumes, so a
//! half-year's target is the yearly target's share of that half, to the fen, and the parts' shares
//! add up to the year's.

use crate::clock::start_of_day;
use crate::ctx::Ctx;
use crate::error::{AppError, AppResult};
use chrono::NaiveDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub year: i32,
    pub first_month: u32,
    pub last_month: u32,
}

/// 2021年上半年 (or 2021年 for the whole year) of a report's `period`, for titles.
pub fn label_of(year: i32, period: &str) -> String {
    Span::parse(year, Some(period)).map(|s| s.label()).unwrap_or_else(|_| format!("{year}年"))
}

/// `2021` or `2021-H1`, for file names.
pub fn stem_of(year: i32, period: &str) -> String {
    if period == "year" { year.to_string() } else { format!("{year}-{period}") }
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

pub const PERIODS: &str = "year, H1, H2, Q1, Q2, Q3, Q4 or M01 to M12";

impl Span {
    pub fn year(year: i32) -> Span {
        Span { year, first_month: 1, last_month: 12 }
    }

    /// `period` as a report's query gives it (absent: the whole year); 422 naming the field.
    pub fn parse(year: i32, period: Option<&str>) -> AppResult<Span> {
        let bad = || AppError::invalid_field("validation_failed", "period", format!("must be {PERIODS}"));
        let (first, last) = match period.map(str::trim) {
            None | Some("year") => (1, 12),
            Some("H1") => (1, 6),
            Some("H2") => (7, 12),
            Some(q) if q.len() == 2 && q.starts_with('Q') => {
                let n: u32 = q[1..].parse().map_err(|_| bad())?;
                if !(1..=4).contains(&n) {
                    return Err(bad());
                }
                (n * 3 - 2, n * 3)
            }
            Some(m) if m.len() == 3 && m.starts_with('M') && m[1..].chars().all(|c| c.is_ascii_digit()) => {
                let n: u32 = m[1..].parse().map_err(|_| bad())?;
                if !(1..=12).contains(&n) {
                    return Err(bad());
                }
                (n, n)
            }
            Some(_) => return Err(bad()),
        };
        Ok(Span { year, first_month: first, last_month: last })
    }

    pub fn is_whole_year(&self) -> bool {
        self.first_month == 1 && self.last_month == 12
    }

    pub fn code(&self) -> String {
        match (self.first_month, self.last_month) {
            (1, 12) => "year".into(),
            (1, 6) => "H1".into(),
            (7, 12) => "H2".into(),
            (f, l) if l == f + 2 && f % 3 == 1 => format!("Q{}", l / 3),
            (f, _) => format!("M{f:02}"),
        }
    }

    /// The half or the quarter the span is (`H1`, `Q3`), as the rollups kept per part of the year
    /// name it; none for the year and for a month.
    pub fn part(&self) -> Option<String> {
        let code = self.code();
        (code.starts_with('H') || code.starts_with('Q')).then_some(code)
    }

    /// 2021年上半年, 2021年第一季度, 2021年3月, 2021年.
    pub fn label(&self) -> String {
        let y = self.year;
        match self.code().as_str() {
            "year" => format!("{y}年"),
            "H1" => format!("{y}年上半年"),
            "H2" => format!("{y}年下半年"),
            q if q.starts_with('Q') => {
                format!("{y}年第{}季度", ["一", "二", "三", "四"][(self.last_month / 3 - 1) as usize])
            }
            _ => format!("{y}年{}月", self.first_month),
        }
    }

    fn first_day(year: i32, month: u32) -> chrono::NaiveDate {
        let (y, m) = if month > 12 { (year + 1, 1) } else { (year, month) };
        chrono::NaiveDate::from_ymd_opt(y, m, 1).unwrap_or_default()
    }

    /// The first day, in the deployment's zone.
    pub fn starts_on(&self) -> chrono::NaiveDate {
        Span::first_day(self.year, self.first_month)
    }

    /// The last day, in the deployment's zone.
    pub fn ends_on(&self) -> chrono::NaiveDate {
        Span::first_day(self.year, self.last_month + 1).pred_opt().unwrap_or_default()
    }

    /// The first instant of the span and the first after it (UTC).
    pub fn bounds(&self, ctx: &Ctx) -> (NaiveDateTime, NaiveDateTime) {
        (
            start_of_day(Span::first_day(self.year, self.first_month), ctx.zone),
            start_of_day(Span::first_day(self.year, self.last_month + 1), ctx.zone),
        )
    }

    /// The span's share of a yearly target: the even pace at its end less the pace at its start.
    pub fn share(&self, year_target: i64, ctx: &Ctx) -> i64 {
        let (start, end) = self.bounds(ctx);
        expected(year_target, self.year, end, ctx) - expected(year_target, self.year, start, ctx)
    }

    /// What the even pace has reached inside the span by `at` (0 before it, its share after it).
    pub fn expected_by(&self, year_target: i64, at: NaiveDateTime, ctx: &Ctx) -> i64 {
        let (start, end) = self.bounds(ctx);
        let at = at.clamp(start, end);
        expected(year_target, self.year, at, ctx) - expected(year_target, self.year, start, ctx)
    }

    /// (elapsed, length) of the span at `at`, in seconds.
    pub fn elapsed(&self, at: NaiveDateTime, ctx: &Ctx) -> (i64, i64) {
        let (start, end) = self.bounds(ctx);
        let length = (end - start).num_seconds().max(1);
        ((at - start).num_seconds().clamp(0, length), length)
    }

    pub fn months(&self) -> std::ops::RangeInclusive<u32> {
        self.first_month..=self.last_month
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_name_themselves() {
        for (p, first, last, label) in [
            ("H1", 1, 6, "2021年上半年"),
            ("H2", 7, 12, "2021年下半年"),
            ("Q1", 1, 3, "2021年第一季度"),
            ("Q4", 10, 12, "2021年第四季度"),
            ("M03", 3, 3, "2021年3月"),
            ("year", 1, 12, "2021年"),
        ] {
            let s = Span::parse(2021, Some(p)).unwrap();
            assert_eq!((s.first_month, s.last_month), (first, last), "{p}");
            assert_eq!(s.code(), p);
            assert_eq!(s.part().is_some(), p.starts_with('H') || p.starts_with('Q'), "{p}");
            assert_eq!(s.label(), label);
        }
        assert!(Span::parse(2021, None).unwrap().is_whole_year());
        for bad in ["H3", "Q0", "Q5", "M13", "M00", "M3", "h1", "", "2021-H1", "Q+1"] {
            assert!(Span::parse(2021, Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(Span::parse(2021, Some("H1")).unwrap().ends_on().to_string(), "2021-06-30");
        assert_eq!(Span::parse(2021, Some("M02")).unwrap().ends_on().to_string(), "2021-02-28");
        assert_eq!(Span::parse(2021, Some("Q3")).unwrap().starts_on().to_string(), "2021-07-01");
    }

    #[test]
    fn the_parts_shares_add_up_to_the_year() {
        let now = chrono::NaiveDate::from_ymd_opt(2022, 3, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        let ctx =
            Ctx::new(now, chrono_tz::Asia::Shanghai, crate::config::CountOn::Paid, crate::config::SettleOn::Accepted);
        let target = 100_000_000_007;
        for parts in [vec!["H1", "H2"], vec!["Q1", "Q2", "Q3", "Q4"]] {
            let sum: i64 = parts.iter().map(|p| Span::parse(2021, Some(p)).unwrap().share(target, &ctx)).sum();
            assert_eq!(sum, target, "{parts:?}");
        }
        let months: i64 =
            (1..=12).map(|m| Span::parse(2021, Some(&format!("M{m:02}"))).unwrap().share(target, &ctx)).sum();
        assert_eq!(months, target);
        // The first half of 2021 is 181 of 365 days.
        let h1 = Span::parse(2021, Some("H1")).unwrap().share(36_500, &ctx);
        assert_eq!(h1, 18_100);
    }
}
