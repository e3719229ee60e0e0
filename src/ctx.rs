//! The moment a request (or a job) happens and the rules it happens under: what every service
//! takes besides its connection and its input. Imports nothing of the domains.

use crate::clock::Clock;
use crate::config::CountOn;

/// The moment a request happens and the rules it happens under, read once per request.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub now: chrono::NaiveDateTime,
    /// Today in the deployment's zone.
    pub today: chrono::NaiveDate,
    pub zone: chrono_tz::Tz,
    pub count_on: CountOn,
}

impl Ctx {
    pub fn at(clock: &Clock, zone: chrono_tz::Tz, count_on: CountOn) -> Ctx {
        let now = clock.now();
        Ctx { now: now.naive_utc(), today: now.with_timezone(&zone).date_naive(), zone, count_on }
    }
}
