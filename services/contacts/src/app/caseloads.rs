//! Keeping caseloads true to the assignments. A family's assignment says who coordinates it; a
//! contact person's caseload follows in a second write. Where the two differ (a crash between
//! the writes, a request cancelled after holding a place, a family closed or erased), the
//! difference is found from the streams and repaired by making the caseload follow the
//! assignment as it stands when repaired.

use std::sync::Arc;

use luukku_app::projected::{Folder, Projected, View, key};
use luukku_app::{AppError, Caller, Result, Write};
use luukku_domain::contacts::reconcile::{Caseloads, Difference, FamilyEnds, Found, differences};
use luukku_domain::contacts::{
    Assignment, AssignmentCommand, AssignmentError, AssignmentEvent, ContactPerson, ContactPersonCommand,
    ContactPersonEvent, ContactPersonId, EndReason, ReservationId,
};
use luukku_domain::family::{Family, FamilyEvent, FamilyId, FamilyStatus};
use luukku_domain::{Actor, Aggregate, Code, CodecError, RequestId, Role, Timestamp};
use luukku_eventstore::{EventStore, KeyStore, Recorded, Stream};
use serde::{Deserialize, Serialize};

use super::Contacts;

/// The shape of the model's records; a new shape writes the model anew. Version 2 counts the
/// families each person coordinates, where version 1 kept an entry per family: a key costs
/// memory in sled whatever its size (docs/performance.md).
const VERSION: u32 = 2;

/// One family's part of the caseloads model: its assignment, the places in caseloads that name
/// it, and whether it ended. The differences of a family are found from its part alone.
#[derive(Default, Serialize, Deserialize)]
struct FamilyCase {
    caseloads: Caseloads,
    ends: FamilyEnds,
}

impl FamilyCase {
    /// Whether the family differs now, or will when a place held expires.
    fn may_differ(&self) -> bool {
        !differences(&self.caseloads, &self.ends, Timestamp::from_millis(i64::MAX), 0).is_empty()
    }
}

fn case_key(family: FamilyId) -> Vec<u8> {
    key(b'f', &[&family.as_ulid().to_bytes()])
}

/// The families that differ, or may.
const DIFFERING: u8 = b'd';

fn differing_key(family: FamilyId) -> Vec<u8> {
    key(DIFFERING, &[&family.as_ulid().to_bytes()])
}

/// How many families' assignments name a person (a `u64`; no record for none).
fn coordinated_key(person: ContactPersonId) -> Vec<u8> {
    key(b'n', &[&person.as_ulid().to_bytes()])
}

/// Adds one to `person`'s count of coordinated families, or takes one away.
fn count(view: &mut View<'_>, person: ContactPersonId, more: bool) {
    let key = coordinated_key(person);
    let count: u64 = view.get(&key).unwrap_or_default();
    if !more && count == 0 {
        // Every change of an assignment passes here: none to take one from means the model
        // went wrong.
        tracing::error!(model = "contacts.caseloads", "no coordinated families to take one from");
    }
    match if more { count + 1 } else { count.saturating_sub(1) } {
        0 => view.remove(key),
        count => view.put(key, &count),
    }
}

/// Changes one family's part of the model with `change`, its index entry and the counts of the
/// persons its assignment names before and after.
fn change_case(view: &mut View<'_>, family: FamilyId, change: impl FnOnce(&mut FamilyCase)) {
    let key = case_key(family);
    let mut case: FamilyCase = view.get(&key).unwrap_or_default();
    let entries = |case: &FamilyCase| {
        if case.may_differ() { vec![differing_key(family)] } else { Vec::new() }
    };
    let before = entries(&case);
    let assigned_before = case.caseloads.assigned.get(&family).copied();
    change(&mut case);
    case.caseloads.persons.retain(|_, places| !places.caseload.is_empty() || !places.reserved.is_empty());
    view.reindex(before, entries(&case));
    let assigned = case.caseloads.assigned.get(&family).copied();
    if assigned != assigned_before {
        assigned_before.into_iter().for_each(|person| count(view, person, false));
        assigned.into_iter().for_each(|person| count(view, person, true));
    }
    view.put(key, &case);
}

/// Applies one `CONTACTS` or `FAMILIES` message to the caseloads model (personal data stays
/// sealed).
fn apply(_: &(), view: &mut View<'_>, recorded: &Recorded) -> Result<(), CodecError> {
    let Some(id) = recorded.aggregate_id() else {
        return Ok(());
    };
    let at = recorded.envelope.recorded_at;
    match (recorded.position.stream, recorded.aggregate_type()) {
        (Stream::Contacts, Some(ContactPerson::TYPE)) => {
            let person = ContactPersonId::from_ulid(id.as_ulid());
            for event in recorded.decode_events::<ContactPersonEvent>()? {
                let family = match &event {
                    ContactPersonEvent::CaseloadJoined(change) | ContactPersonEvent::CaseloadLeft(change) => {
                        change.family_id
                    }
                    ContactPersonEvent::PlaceReserved(reserved) => reserved.family_id,
                    ContactPersonEvent::ReservationReleased(released) => released.family_id,
                    ContactPersonEvent::Registered(_)
                    | ContactPersonEvent::Updated(_)
                    | ContactPersonEvent::Deactivated(_) => continue,
                };
                change_case(view, family, |case| case.caseloads.apply_person(person, &event, at));
            }
        }
        (Stream::Contacts, Some(Assignment::TYPE)) => {
            let family = FamilyId::from_ulid(id.as_ulid());
            let events = recorded.decode_events::<AssignmentEvent>()?;
            change_case(view, family, |case| {
                events.iter().for_each(|event| case.caseloads.apply_assignment(family, event, at));
            });
        }
        (Stream::Families, Some(Family::TYPE)) => {
            let family = FamilyId::from_ulid(id.as_ulid());
            let events = recorded.decode_events::<FamilyEvent>()?;
            let ends = |event: &&FamilyEvent| {
                matches!(event, FamilyEvent::Closed(_) | FamilyEvent::Erased | FamilyEvent::Reopened(_))
            };
            if events.iter().any(|event| ends(&event)) {
                change_case(view, family, |case| {
                    events.iter().filter(ends).for_each(|event| case.ends.apply(family, event, at));
                });
            }
        }
        _ => {}
    }
    Ok(())
}

/// The caseloads model: each family's assignment, the caseload places naming it, and its end,
/// from `CONTACTS` and `FAMILIES`, checkpointed in the read-model folder.
pub(super) struct CaseloadModel(Arc<Projected<()>>);

impl CaseloadModel {
    pub(super) fn spawn(folder: &Folder, store: EventStore) -> Self {
        let streams = [Stream::Contacts, Stream::Families];
        Self(Projected::spawn(folder, store, "contacts.caseloads", VERSION, &streams, (), apply))
    }

    pub(super) fn standing(&self) -> &Arc<luukku_app::Standing> {
        self.0.standing()
    }
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
        let family = self.families.load_latest(family_id.into()).await?;
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
        self.caseloads.0.caught_up(self.persons.store()).await?;
        let count: Option<u64> = self.caseloads.0.get(&coordinated_key(person))?;
        Ok(count.map_or(0, |count| count as usize))
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
        self.caseloads.0.caught_up(store).await?;
        let now = luukku_app::context_now().now;
        let mut found = Vec::new();
        for family in self.caseloads.0.keys(&[DIFFERING]) {
            let family = <[u8; 16]>::try_from(family?.as_slice()).map_err(|_| {
                AppError::Internal("the caseloads model holds an entry of another shape".to_owned())
            })?;
            let family = FamilyId::from_ulid(ulid::Ulid::from_bytes(family));
            if let Some(case) = self.caseloads.0.get::<FamilyCase>(&case_key(family))? {
                found.extend(differences(&case.caseloads, &case.ends, now, grace_ms));
            }
        }
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
