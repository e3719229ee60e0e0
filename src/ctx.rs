//! The moment a request (or a job) happens and the rules it happens under: what every service
//! takes besides its connection and its input. Imports nothing of the domains.

use chrono::NaiveDateTime;

use crate::clock::Clock;
use crate::config::{Config, CountOn, SettleOn};

/// The moment a request happens and the rules it happens under, read once per request.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub now: NaiveDateTime,
    /// Today in the deployment's zone.
    pub today: chrono::NaiveDate,
    pub zone: chrono_tz::Tz,
    pub count_on: CountOn,
    pub settle_on: SettleOn,
}

impl Ctx {
    /// `now` (UTC, as stored) under explicit rules.
    pub fn new(now: NaiveDateTime, zone: chrono_tz::Tz, count_on: CountOn, settle_on: SettleOn) -> Ctx {
        Ctx { now, today: now.and_utc().with_timezone(&zone).date_naive(), zone, count_on, settle_on }
    }

    /// `now` under the deployment's rules.
    pub fn of(now: NaiveDateTime, config: &Config) -> Ctx {
        Ctx::new(now, config.timezone, config.count_on, config.settle.on)
    }

    /// The clock's present under the deployment's rules.
    pub fn at(clock: &Clock, config: &Config) -> Ctx {
        Ctx::of(clock.now_naive(), config)
    }
}
