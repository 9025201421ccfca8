//! Response deadlines: how long the receiving sector has to acknowledge a referral.

use super::Urgency;
use crate::Timestamp;
use crate::holidays::is_working_day;
use jiff::Timestamp as Instant;
use jiff::tz::TimeZone;

/// A time allowed to respond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Working days only (Monday to Friday, not a Finnish holiday), counted from the same time
    /// of day.
    WorkingDays(u32),
    /// Calendar days.
    Days(u32),
    /// A fixed time, such as four hours.
    Fixed(std::time::Duration),
}

/// The allowance per urgency, configurable per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlinePolicy {
    pub urgent: Allowance,
    pub normal: Allowance,
}

impl Default for DeadlinePolicy {
    /// Urgent: one working day to `received`; normal: seven days.
    fn default() -> Self {
        Self { urgent: Allowance::WorkingDays(1), normal: Allowance::Days(7) }
    }
}

impl DeadlinePolicy {
    /// The deadline of a referral of `urgency` sent at `sent`, counting days in `zone` (Finnish
    /// time; the edge reads the time zone database, the domain does no IO).
    pub fn deadline(&self, urgency: Urgency, sent: Timestamp, zone: &TimeZone) -> Timestamp {
        let allowance = match urgency {
            Urgency::Urgent => self.urgent,
            Urgency::Normal => self.normal,
        };
        let Ok(start) = Instant::from_millisecond(sent.as_millis()) else {
            return sent;
        };
        let mut at = start.to_zoned(zone.clone());
        match allowance {
            Allowance::Fixed(duration) => {
                let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
                return Timestamp::from_millis(sent.as_millis().saturating_add(millis));
            }
            Allowance::Days(days) => {
                at = at.checked_add(jiff::Span::new().days(i64::from(days))).unwrap_or(at);
            }
            Allowance::WorkingDays(days) => {
                // A referral sent on a weekend or a holiday counts from the next working day's
                // start.
                while !is_working_day(at.date()) {
                    let Ok(next) =
                        at.checked_add(jiff::Span::new().days(1)).and_then(|next| next.start_of_day())
                    else {
                        break;
                    };
                    at = next;
                }
                let mut left = days;
                while left > 0 {
                    let Ok(next) = at.checked_add(jiff::Span::new().days(1)) else {
                        break;
                    };
                    at = next;
                    if is_working_day(at.date()) {
                        left -= 1;
                    }
                }
            }
        }
        Timestamp::from_millis(at.timestamp().as_millisecond())
    }
}
