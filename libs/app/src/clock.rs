//! The clock, read once per command at the edge of the domain.

use jiff::tz::TimeZone;
use luukku_domain::{Context, Timestamp};

/// Finnish time (Europe/Helsinki); UTC when the time zone database is missing.
pub fn finnish_zone() -> TimeZone {
    TimeZone::get("Europe/Helsinki").unwrap_or(TimeZone::UTC)
}

/// Now, and today's date in Finland.
pub fn context_now() -> Context {
    let now = jiff::Timestamp::now();
    Context { now: Timestamp::from_millis(now.as_millisecond()), today: now.to_zoned(finnish_zone()).date() }
}
