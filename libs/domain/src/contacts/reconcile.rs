//! Caseloads against assignments. A family's assignment is the truth of who coordinates it; a
//! contact person's caseload follows it in a second write, which a crash, a cancelled request
//! or a bug may miss. This finds where the two differ, and what would repair each difference.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use super::events::{AssignmentEvent, ContactPersonEvent};
use super::state::Reservation;
use super::{ContactPersonId, ReservationId};
use crate::Timestamp;
use crate::family::{FamilyEvent, FamilyId};

/// How a family ended, so that its assignment ends too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FamilyEnd {
    Closed,
    Erased,
}

/// One contact person's caseload and the places they hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Places {
    pub caseload: BTreeSet<FamilyId>,
    pub reserved: BTreeMap<FamilyId, Reservation>,
}

/// What the `CONTACTS` stream says of assignments and caseloads, with personal data left
/// sealed.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Caseloads {
    /// Each family's contact person, as its assignment names them.
    pub assigned: HashMap<FamilyId, ContactPersonId>,
    pub persons: HashMap<ContactPersonId, Places>,
    /// The receiver of each family's pending handover.
    pub receivers: HashMap<FamilyId, ContactPersonId>,
    /// When each family's assignment or place last changed.
    pub changed: HashMap<FamilyId, Timestamp>,
}

impl Caseloads {
    pub fn apply_person(&mut self, person: ContactPersonId, event: &ContactPersonEvent, at: Timestamp) {
        let places = self.persons.entry(person).or_default();
        let family = match event {
            ContactPersonEvent::CaseloadJoined(change) => {
                places.reserved.remove(&change.family_id);
                places.caseload.insert(change.family_id);
                change.family_id
            }
            ContactPersonEvent::CaseloadLeft(change) => {
                places.caseload.remove(&change.family_id);
                change.family_id
            }
            ContactPersonEvent::PlaceReserved(reserved) => {
                let reservation =
                    Reservation { reservation_id: reserved.reservation_id, until: reserved.until };
                places.reserved.insert(reserved.family_id, reservation);
                reserved.family_id
            }
            ContactPersonEvent::ReservationReleased(released) => {
                let held = places.reserved.get(&released.family_id);
                if held.is_some_and(|held| held.reservation_id == released.reservation_id) {
                    places.reserved.remove(&released.family_id);
                }
                released.family_id
            }
            ContactPersonEvent::Registered(_)
            | ContactPersonEvent::Updated(_)
            | ContactPersonEvent::Deactivated(_) => return,
        };
        self.changed.insert(family, at);
    }

    pub fn apply_assignment(&mut self, family: FamilyId, event: &AssignmentEvent, at: Timestamp) {
        match event {
            AssignmentEvent::Assigned(assigned) => {
                self.assigned.insert(family, assigned.contact_person);
            }
            AssignmentEvent::HandoverProposed(proposed) => {
                self.receivers.insert(family, proposed.to);
                return;
            }
            AssignmentEvent::HandoverAccepted(_) => {
                if let Some(to) = self.receivers.remove(&family) {
                    self.assigned.insert(family, to);
                }
            }
            AssignmentEvent::HandoverDeclined(_) | AssignmentEvent::HandoverWithdrawn(_) => {
                self.receivers.remove(&family);
                return;
            }
            AssignmentEvent::Ended(_) => {
                self.assigned.remove(&family);
                self.receivers.remove(&family);
            }
        }
        self.changed.insert(family, at);
    }
}

/// Families closed or erased, as the `FAMILIES` stream says, and since when.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FamilyEnds {
    pub ended: HashMap<FamilyId, (FamilyEnd, Timestamp)>,
}

impl FamilyEnds {
    pub fn apply(&mut self, family: FamilyId, event: &FamilyEvent, at: Timestamp) {
        match event {
            FamilyEvent::Closed(_) => {
                self.ended.insert(family, (FamilyEnd::Closed, at));
            }
            FamilyEvent::Erased => {
                self.ended.insert(family, (FamilyEnd::Erased, at));
            }
            FamilyEvent::Reopened(_) => {
                self.ended.remove(&family);
            }
            _ => {}
        }
    }
}

/// One difference between a caseload and the assignments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    /// The assignment names the person; their caseload lacks the family. Repair: join.
    Missing { family: FamilyId, person: ContactPersonId },
    /// The caseload holds the family; its assignment names another, or nobody. Repair: leave.
    Stale { family: FamilyId, person: ContactPersonId, assigned: Option<ContactPersonId> },
    /// A place held past its time. Repair: join when the assignment names the person,
    /// otherwise release.
    Expired { family: FamilyId, person: ContactPersonId, reservation_id: ReservationId },
    /// The family is closed or erased, and still has a contact person. Repair: end the
    /// assignment.
    Ended { family: FamilyId, person: ContactPersonId, end: FamilyEnd },
}

impl Difference {
    pub fn family(&self) -> FamilyId {
        match self {
            Difference::Missing { family, .. }
            | Difference::Stale { family, .. }
            | Difference::Expired { family, .. }
            | Difference::Ended { family, .. } => *family,
        }
    }

    pub fn person(&self) -> ContactPersonId {
        match self {
            Difference::Missing { person, .. }
            | Difference::Stale { person, .. }
            | Difference::Expired { person, .. }
            | Difference::Ended { person, .. } => *person,
        }
    }

    /// A short stable name of the kind of difference.
    pub fn kind(&self) -> &'static str {
        match self {
            Difference::Missing { .. } => "missing",
            Difference::Stale { .. } => "stale",
            Difference::Expired { .. } => "expired",
            Difference::Ended { .. } => "ended",
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Missing { family, person } => {
                write!(f, "family {family} is assigned to {person} but not in their caseload")
            }
            Difference::Stale { family, person, assigned: Some(assigned) } => {
                write!(f, "family {family} is in {person}'s caseload but assigned to {assigned}")
            }
            Difference::Stale { family, person, assigned: None } => {
                write!(f, "family {family} is in {person}'s caseload but has no contact person")
            }
            Difference::Expired { family, person, reservation_id } => {
                write!(f, "place {reservation_id} held by {person} for family {family} has expired")
            }
            Difference::Ended { family, person, end } => {
                let ended = match end {
                    FamilyEnd::Closed => "closed",
                    FamilyEnd::Erased => "erased",
                };
                write!(f, "family {family} is {ended} but {person} still coordinates it")
            }
        }
    }
}

/// A difference, and whether it has stood long enough to be repaired: a request in flight
/// makes the same differences for a moment, and finishes them itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub difference: Difference,
    pub settled: bool,
}

/// Every difference at `now`. Differences younger than `grace` are found but not settled;
/// an expired place is settled once its time has run out.
pub fn differences(caseloads: &Caseloads, ends: &FamilyEnds, now: Timestamp, grace_ms: i64) -> Vec<Found> {
    let settled_since =
        |at: Option<&Timestamp>| at.is_none_or(|at| at.as_millis() + grace_ms <= now.as_millis());
    let mut found = Vec::new();
    let mut persons: Vec<_> = caseloads.persons.iter().collect();
    persons.sort_by_key(|(person, _)| **person);
    for (person, places) in persons {
        for (family, reservation) in &places.reserved {
            if reservation.until <= now {
                let difference = Difference::Expired {
                    family: *family,
                    person: *person,
                    reservation_id: reservation.reservation_id,
                };
                found.push(Found { difference, settled: true });
            }
        }
        for family in &places.caseload {
            let assigned = caseloads.assigned.get(family).copied();
            if assigned != Some(*person) {
                let difference = Difference::Stale { family: *family, person: *person, assigned };
                found.push(Found { difference, settled: settled_since(caseloads.changed.get(family)) });
            }
        }
    }
    let mut assigned: Vec<_> = caseloads.assigned.iter().collect();
    assigned.sort();
    for (family, person) in assigned {
        let places = caseloads.persons.get(person);
        let held = places.is_some_and(|places| places.reserved.contains_key(family));
        if !held && !places.is_some_and(|places| places.caseload.contains(family)) {
            let difference = Difference::Missing { family: *family, person: *person };
            found.push(Found { difference, settled: settled_since(caseloads.changed.get(family)) });
        }
        if let Some((end, since)) = ends.ended.get(family) {
            let difference = Difference::Ended { family: *family, person: *person, end: *end };
            found.push(Found { difference, settled: settled_since(Some(since)) });
        }
    }
    found
}
