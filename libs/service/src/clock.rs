//! The clock, read once per command at the edge.

use jiff::tz::TimeZone;
use luukku_domain::{Context, Timestamp};

/// Now, and today's date in Finland (Europe/Helsinki; UTC when the time zone database is
/// missing).
pub fn context_now() -> Context {
    let now = jiff::Timestamp::now();
    let zone = TimeZone::get("Europe/Helsinki").unwrap_or(TimeZone::UTC);
    Context { now: Timestamp::from_millis(now.as_millisecond()), today: now.to_zoned(zone).date() }
}
