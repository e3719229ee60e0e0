//! The time source. Production reads the system clock; tests may set and advance a fake one.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound, Utc};

#[derive(Clone, Default)]
pub struct Clock {
    fixed: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    pub fn system() -> Self {
        Clock { fixed: None }
    }

    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock { fixed: Some(Arc::new(Mutex::new(at))) }
    }

    /// Truncated to microseconds, the precision both databases store, so a time we return
    /// equals the one read back later.
    pub fn now(&self) -> DateTime<Utc> {
        let t = match &self.fixed {
            Some(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
            None => Utc::now(),
        };
        t.trunc_subsecs(6)
    }

    /// Today's date where the deployment is (the configured zone, Asia/Shanghai by default).
    pub fn today(&self, zone: chrono_tz::Tz) -> chrono::NaiveDate {
        self.now().with_timezone(&zone).date_naive()
    }

    /// The current time as stored in the database (UTC, no zone).
    pub fn now_naive(&self) -> NaiveDateTime {
        self.now().naive_utc()
    }

    /// Sets a fixed clock to `at` (tests living through past years); a system clock cannot be set.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(t) = &self.fixed {
            *t.lock().unwrap_or_else(|p| p.into_inner()) = at;
        }
    }

    /// Moves a fixed clock forward; a system clock cannot be moved.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.fixed {
            let mut guard = t.lock().unwrap_or_else(|p| p.into_inner());
            *guard += by;
        }
    }
}

/// Database timestamps are UTC without a zone; the API speaks RFC 3339 with `Z`.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// The instant a calendar day starts in `zone`, as stored (UTC): for date filters and years.
pub fn start_of_day(date: chrono::NaiveDate, zone: chrono_tz::Tz) -> NaiveDateTime {
    use chrono::TimeZone;
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    match zone.from_local_datetime(&midnight).earliest() {
        Some(t) => t.naive_utc(),
        // A day that starts inside a DST gap: its first instant is an hour on.
        None => zone
            .from_local_datetime(&(midnight + Duration::hours(1)))
            .earliest()
            .map(|t| t.naive_utc())
            .unwrap_or(midnight),
    }
}
