//! Response deadlines: how long the receiving sector has to acknowledge a referral.

use super::Urgency;
use crate::Timestamp;
use jiff::Timestamp as Instant;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

/// A time allowed to respond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Monday to Friday only, counted from the same time of day.
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
                // A referral sent at the weekend counts from Monday's start of day.
                while matches!(at.weekday(), Weekday::Saturday | Weekday::Sunday) {
                    at = at
                        .checked_add(jiff::Span::new().days(1))
                        .and_then(|next| next.start_of_day())
                        .unwrap_or(at);
                }
                let mut left = days;
                while left > 0 {
                    at = at.checked_add(jiff::Span::new().days(1)).unwrap_or(at);
                    if !matches!(at.weekday(), Weekday::Saturday | Weekday::Sunday) {
                        left -= 1;
                    }
                }
            }
        }
        Timestamp::from_millis(at.timestamp().as_millisecond())
    }
}
