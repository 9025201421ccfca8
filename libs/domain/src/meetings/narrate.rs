//! A family's meeting events told as text.

use super::events::*;
use crate::narrate::{Narrate, Telling};

impl Narrate for MeetingEvent {
    fn narrate(&self, telling: Telling) -> String {
        match self {
            MeetingEvent::Proposed(proposed) => format!(
                "a {} meeting was proposed with {} participants",
                proposed.purpose,
                proposed.participants.len()
            ),
            MeetingEvent::Answered(answered) => {
                format!("an invitation to meeting {} was answered", answered.meeting_id)
            }
            MeetingEvent::Scheduled(_) => "a meeting was scheduled".to_owned(),
            MeetingEvent::Rescheduled(rescheduled) => {
                format!("a meeting was rescheduled{}", telling.note(&rescheduled.reason))
            }
            MeetingEvent::Cancelled(cancelled) => {
                format!("a meeting was cancelled{}", telling.note(&cancelled.reason))
            }
            MeetingEvent::ParticipantAdded(_) => "a participant was invited to a meeting".to_owned(),
            MeetingEvent::ParticipantRemoved(_) => "a participant was removed from a meeting".to_owned(),
            MeetingEvent::Held(held) => format!(
                "a meeting was held; {} actions agreed{}",
                held.actions.len(),
                telling.note(&held.summary)
            ),
            MeetingEvent::ActionDone(done) => {
                format!("an agreed action was done{}", telling.note(&done.note))
            }
            MeetingEvent::ActionReassigned(_) => "an agreed action was reassigned".to_owned(),
        }
    }
}
