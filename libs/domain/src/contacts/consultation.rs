//! A consultation: a professional asks about a client who is not registered. No personal data
//! is recorded; it counts in statistics.

use serde::{Deserialize, Serialize};

use crate::family::Municipality;
use crate::sealing::{HasPersonal, PersonalField};
use crate::{Aggregate, Channel, Context, Need, Sector, Timestamp, Violation};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsultationRecorded {
    pub occurred_at: Timestamp,
    /// The consulting professional's sector.
    pub sector: Sector,
    pub channel: Channel,
    pub needs: Vec<Need>,
    pub guidance: Vec<Sector>,
    pub municipality: Option<Municipality>,
}

crate::v1_events!(
    pub enum ConsultationEvent {
        Recorded(ConsultationRecorded) = "ConsultationRecorded",
    }
);

impl HasPersonal for ConsultationEvent {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consultation {
    pub recorded: Option<ConsultationRecorded>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsultationError {
    #[error("invalid command: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
    #[error("the consultation is already recorded")]
    Exists,
}

impl Aggregate for Consultation {
    type Event = ConsultationEvent;
    type Command = ConsultationRecorded;
    type Error = ConsultationError;

    const TYPE: &'static str = "consultation";

    fn apply(&mut self, event: &ConsultationEvent) {
        let ConsultationEvent::Recorded(recorded) = event;
        self.recorded = Some(recorded.clone());
    }

    fn decide(
        &self,
        command: &ConsultationRecorded,
        context: &Context,
    ) -> Result<Vec<ConsultationEvent>, ConsultationError> {
        if self.recorded.is_some() {
            return Err(ConsultationError::Exists);
        }
        let mut violations = Vec::new();
        if command.needs.is_empty() {
            violations.push(Violation::new("needs", "name at least one need category"));
        }
        if command.occurred_at > context.now {
            violations.push(Violation::new("occurred_at", "must not be in the future"));
        }
        super::invalid_if_any(violations, ConsultationError::Invalid)?;
        Ok(vec![ConsultationEvent::Recorded(command.clone())])
    }
}
