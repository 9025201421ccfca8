//! Keeping caseloads true to the assignments. A family's assignment says who coordinates it; a
//! contact person's caseload follows in a second write. Where the two differ (a crash between
//! the writes, a request cancelled after holding a place, a family closed or erased), the
//! difference is found from the streams and repaired by making the caseload follow the
//! assignment as it stands when repaired.

use luukku_app::{AppError, Caller, Result, Write};
use luukku_domain::contacts::reconcile::{Caseloads, Difference, FamilyEnds, Found, differences};
use luukku_domain::contacts::{
    Assignment, AssignmentCommand, AssignmentError, AssignmentEvent, ContactPerson, ContactPersonCommand,
    ContactPersonEvent, ContactPersonId, EndReason, ReservationId,
};
use luukku_domain::family::{Family, FamilyEvent, FamilyId, FamilyStatus};
use luukku_domain::{Actor, Aggregate, Code, CodecError, RequestId, Role};
use luukku_eventstore::{KeyStore, Recorded};

use super::Contacts;

/// Applies one `CONTACTS` message to the caseloads model (personal data stays sealed).
pub(super) fn apply_contacts(caseloads: &mut Caseloads, recorded: &Recorded) -> Result<(), CodecError> {
    let Some(id) = recorded.aggregate_id() else {
        return Ok(());
    };
    let at = recorded.envelope.recorded_at;
    match recorded.aggregate_type() {
        Some(ContactPerson::TYPE) => {
            let person = ContactPersonId::from_ulid(id.as_ulid());
            for event in recorded.decode_events::<ContactPersonEvent>()? {
                caseloads.apply_person(person, &event, at);
            }
        }
        Some(Assignment::TYPE) => {
            let family = FamilyId::from_ulid(id.as_ulid());
            for event in recorded.decode_events::<AssignmentEvent>()? {
                caseloads.apply_assignment(family, &event, at);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Applies one `FAMILIES` message to the model of closed and erased families.
pub(super) fn apply_families(ends: &mut FamilyEnds, recorded: &Recorded) -> Result<(), CodecError> {
    let (Some(id), Some(Family::TYPE)) = (recorded.aggregate_id(), recorded.aggregate_type()) else {
        return Ok(());
    };
    let family = FamilyId::from_ulid(id.as_ulid());
    for event in recorded.decode_events::<FamilyEvent>()? {
        ends.apply(family, &event, recorded.envelope.recorded_at);
    }
    Ok(())
}

/// The service's own process, which keeps caseloads true, acts as itself.
pub fn process_caller() -> Caller {
    let code = |value: &str| Code::parse(value).unwrap_or_else(|_| unreachable!("a valid constant code"));
    Caller::new(Actor {
        person_id: code("luukku.caseload-process"),
        role: Role::System,
        sector: None,
        organisation: code("luukku"),
        system: code("luukku-contacts"),
    })
}

/// One repair tried, and how it went.
#[derive(Debug, Clone)]
pub struct Repaired {
    pub difference: Difference,
    pub outcome: std::result::Result<(), String>,
}

/// What a reconciliation found, and what it repaired.
#[derive(Debug, Clone, Default)]
pub struct Reconciled {
    pub found: Vec<Found>,
    pub repaired: Vec<Repaired>,
}

impl<K: KeyStore> Contacts<K> {
    /// Makes `person`'s caseload follow the family's assignment as it stands now: it joins
    /// when the assignment names them and leaves otherwise. A place `held` for the family
    /// (which is then not in the caseload) is taken, or given up.
    pub(super) async fn align(
        &self,
        caller: &Caller,
        person: ContactPersonId,
        family_id: FamilyId,
        held: Option<ReservationId>,
    ) -> Result<()> {
        let assignment = self.assignments.load(family_id.into()).await?;
        if assignment.state.current == Some(person) {
            return self.caseload(caller, person, ContactPersonCommand::Join { family_id }).await;
        }
        match held {
            Some(reservation_id) => {
                let release = ContactPersonCommand::Release { family_id, reservation_id, expired: true };
                self.caseload(caller, person, release).await
            }
            None => self.leave(caller, person, family_id).await,
        }
    }

    /// Takes the family out of `person`'s caseload, unless its assignment names them. The
    /// assignment is read again after the leave: an assignment to them that landed in between
    /// (its join found the family still there, and changed nothing) puts the family back.
    pub(super) async fn leave(
        &self,
        caller: &Caller,
        person: ContactPersonId,
        family_id: FamilyId,
    ) -> Result<()> {
        self.caseload(caller, person, ContactPersonCommand::Leave { family_id }).await?;
        let assignment = self.assignments.load(family_id.into()).await?;
        if assignment.state.current == Some(person) {
            self.caseload(caller, person, ContactPersonCommand::Join { family_id }).await?;
        }
        Ok(())
    }

    /// Ends the assignment of a family that was closed or erased, if it still has one, and
    /// takes the family out of the caseload of whoever it named (and of `person`, whom the
    /// model named).
    async fn end_for(&self, caller: &Caller, family_id: FamilyId, person: ContactPersonId) -> Result<()> {
        let family = self.families.load(family_id.into()).await?;
        let reason = match family.state.status {
            FamilyStatus::Erased => EndReason::FamilyErased,
            FamilyStatus::Closed(_) => EndReason::FamilyClosed,
            // Reopened since: the difference is gone.
            FamilyStatus::Active | FamilyStatus::Absent => return Ok(()),
        };
        let assignment = self.assignments.load(family_id.into()).await?;
        // One id per family history: a second process, or a repeat, replays the first end.
        let request = format!("ended-{family_id}-{}-{}", family.version, assignment.version);
        let request_id = RequestId::parse(&request).map_err(|error| AppError::Internal(error.to_string()))?;
        let command = AssignmentCommand::End { reason, note: String::new() };
        let ended =
            match self.assignments.execute(family_id.into(), caller, &Write::new(request_id), &command).await
            {
                Ok(outcome) => outcome.events.iter().find_map(|event| match event {
                    AssignmentEvent::Ended(ended) => Some(ended.contact_person),
                    _ => None,
                }),
                Err(luukku_app::RepositoryError::Refused { error: AssignmentError::NotAssigned, .. }) => None,
                Err(error) => return Err(error.into()),
            };
        if let Some(ended) = ended.filter(|ended| *ended != person) {
            self.align(caller, ended, family_id, None).await?;
        }
        self.align(caller, person, family_id, None).await
    }

    /// How many families' assignments name `person`, as the model has it now.
    pub(super) async fn coordinated_by(&self, person: ContactPersonId) -> Result<usize> {
        self.caseloads.caught_up(self.persons.store()).await?;
        Ok(self
            .caseloads
            .read(|caseloads| caseloads.assigned.values().filter(|assigned| **assigned == person).count()))
    }

    async fn repair(&self, caller: &Caller, difference: Difference) -> Result<()> {
        match difference {
            Difference::Missing { family, person } | Difference::Stale { family, person, .. } => {
                self.align(caller, person, family, None).await
            }
            Difference::Expired { family, person, reservation_id } => {
                self.align(caller, person, family, Some(reservation_id)).await
            }
            Difference::Ended { family, person, .. } => self.end_for(caller, family, person).await,
        }
    }

    /// Every difference between caseloads and assignments now; with `repair`, those that
    /// have stood for `grace_ms` are repaired on behalf of `caller`.
    pub async fn reconcile(&self, caller: &Caller, repair: bool, grace_ms: i64) -> Result<Reconciled> {
        let store = self.persons.store();
        self.caseloads.caught_up(store).await?;
        self.ends.caught_up(store).await?;
        let now = luukku_app::context_now().now;
        let found = self
            .caseloads
            .read(|caseloads| self.ends.read(|ends| differences(caseloads, ends, now, grace_ms)));
        let mut reconciled = Reconciled { found, repaired: Vec::new() };
        if !repair {
            return Ok(reconciled);
        }
        for found in reconciled.found.iter().filter(|found| found.settled) {
            let difference = found.difference;
            let outcome = self.repair(caller, difference).await.map_err(|error| error.to_string());
            match &outcome {
                Ok(()) => tracing::info!(
                    kind = difference.kind(),
                    family = %difference.family(),
                    person = %difference.person(),
                    "caseload repaired"
                ),
                Err(error) => tracing::warn!(
                    kind = difference.kind(),
                    family = %difference.family(),
                    %error,
                    "caseload not repaired; tried again next round"
                ),
            }
            reconciled.repaired.push(Repaired { difference, outcome });
        }
        Ok(reconciled)
    }
}
