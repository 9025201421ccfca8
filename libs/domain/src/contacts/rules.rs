//! Rules across the contacts aggregates and the family: reserving a place in a caseload before
//! an assignment, who decides on a handover, spreading a leaving contact person's families, and
//! whom a contact was with.

use std::fmt;

use super::decide::{AssignmentError, ContactPersonError};
use super::events::{AssignmentEvent, Party};
use super::state::{Assignment, ContactPerson};
use super::{ContactPersonId, HandoverId};
use crate::family::{Family, FamilyError, FamilyId};
use crate::{Actor, Role};

/// How an assignment is carried out, decided before anything is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignPlan {
    /// The family's first contact person: reserve a place in their caseload first, and release
    /// it unless [`assignment_kept`] says the assignment happened.
    ReserveFirst(ContactPersonId),
    /// A handover is proposed (or the assignment refuses): nothing is reserved now; the place
    /// is taken when the handover is accepted.
    Propose,
}

/// Plans assigning `receiver` (whose id is `to`) to a family with `assignment`.
pub fn plan_assignment(
    assignment: &Assignment,
    receiver: &ContactPerson,
    to: ContactPersonId,
) -> Result<AssignPlan, ContactPersonError> {
    receiver.check_active()?;
    match assignment.current {
        None => Ok(AssignPlan::ReserveFirst(to)),
        Some(current) if current != to && !receiver.has_room() => {
            Err(ContactPersonError::CaseloadFull { limit: receiver.limit() })
        }
        Some(_) => Ok(AssignPlan::Propose),
    }
}

/// Whether the recorded `events` made `to` the family's contact person, so that the place
/// reserved for the family in their caseload stays taken.
pub fn assignment_kept(events: &[AssignmentEvent], to: ContactPersonId) -> bool {
    events
        .iter()
        .any(|event| matches!(event, AssignmentEvent::Assigned(assigned) if assigned.contact_person == to))
}

/// What an accepted handover moves: the family leaves `from`'s caseload for `to`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseloadMove {
    pub from: ContactPersonId,
    pub to: ContactPersonId,
}

/// What accepting `handover_id` moves when it is pending; `None` leaves the refusal to the
/// assignment.
pub fn plan_accept(assignment: &Assignment, handover_id: HandoverId) -> Option<CaseloadMove> {
    assignment
        .pending_handover(handover_id)
        .map(|pending| CaseloadMove { from: pending.from, to: pending.to })
}

/// Only the receiving contact person, or an operator, decides on a handover.
pub fn check_receiver(
    actor: &Actor,
    receiver_id: ContactPersonId,
    receiver: &ContactPerson,
) -> Result<(), AssignmentError> {
    let is_receiver = receiver.profile.as_ref().is_some_and(|profile| profile.person_id == actor.person_id);
    if actor.role == Role::Operator || is_receiver {
        return Ok(());
    }
    Err(AssignmentError::NotTheReceiver(receiver_id))
}

/// A contact with a family member names a member of the family.
pub fn check_party(family: &Family, party: &Party) -> Result<(), FamilyError> {
    match party {
        Party::FamilyMember(member) => family.check_member(*member).map(|_| ()),
        Party::Professional(_) => Ok(()),
    }
}

/// How a leaving contact person's families are spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpreadRule {
    /// In turn, in the order the receivers are named.
    RoundRobin,
    /// Each family to the receiver with the fewest families at that point.
    LeastLoaded,
}

/// A receiver of families: the places taken in its caseload now (held ones too), and its
/// limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receiver {
    pub id: ContactPersonId,
    pub caseload: usize,
    pub limit: usize,
}

impl Receiver {
    pub fn of(id: ContactPersonId, person: &ContactPerson) -> Self {
        Self { id, caseload: person.places_taken(), limit: person.limit() as usize }
    }
}

/// Who receives each family; `None` when no receiver has room left.
pub fn spread(
    families: &[FamilyId],
    receivers: &[Receiver],
    rule: SpreadRule,
) -> Vec<(FamilyId, Option<ContactPersonId>)> {
    let mut loads: Vec<usize> = receivers.iter().map(|receiver| receiver.caseload).collect();
    let mut turn = 0;
    families
        .iter()
        .map(|family| {
            let has_room = |index: usize| loads[index] < receivers[index].limit;
            let chosen = match rule {
                SpreadRule::RoundRobin => {
                    let found = (0..receivers.len())
                        .map(|step| (turn + step) % receivers.len())
                        .find(|i| has_room(*i));
                    if let Some(index) = found {
                        turn = index + 1;
                    }
                    found
                }
                SpreadRule::LeastLoaded => {
                    (0..receivers.len()).filter(|i| has_room(*i)).min_by_key(|i| loads[*i])
                }
            };
            if let Some(index) = chosen {
                loads[index] += 1;
            }
            (*family, chosen.map(|index| receivers[index].id))
        })
        .collect()
}

/// One family of a leaving contact person's caseload.
#[derive(Debug, Clone, Copy)]
pub struct CaseloadFamily<'a> {
    pub family_id: FamilyId,
    pub assignment: &'a Assignment,
    /// This transfer proposed its handover already (a retry of the same transfer).
    pub retried: bool,
    /// The family is closed or erased: its assignment ends rather than moves.
    pub closed: bool,
}

/// Why a family is left out of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    FamilyClosed,
    HandoverPending(HandoverId),
    NotTheirs(ContactPersonId),
    NoRoom,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::FamilyClosed => f.write_str("the family is closed"),
            Skip::HandoverPending(handover) => write!(f, "handover {handover} is already pending"),
            Skip::NotTheirs(from) => write!(f, "{from} is not the family's contact person"),
            Skip::NoRoom => f.write_str("no receiver has room"),
        }
    }
}

/// The handovers a caseload transfer proposes, and the families it leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferPlan {
    pub handovers: Vec<(FamilyId, ContactPersonId)>,
    pub skipped: Vec<(FamilyId, Skip)>,
}

/// Plans moving the families `from` coordinates to `receivers`. A closed family, one with a
/// pending handover, or one that is not `from`'s any more, is skipped; a retried transfer plans
/// again the families it proposed before, so that each replays its first answer.
pub fn plan_transfer(
    from: ContactPersonId,
    families: &[CaseloadFamily<'_>],
    receivers: &[Receiver],
    rule: SpreadRule,
) -> TransferPlan {
    let mut plan = TransferPlan::default();
    let mut eligible = Vec::new();
    for family in families {
        let assignment = family.assignment;
        if family.retried
            || (!family.closed && assignment.current == Some(from) && assignment.pending.is_none())
        {
            eligible.push(family.family_id);
            continue;
        }
        let skip = match &assignment.pending {
            _ if family.closed => Skip::FamilyClosed,
            Some(pending) => Skip::HandoverPending(pending.handover_id),
            None => Skip::NotTheirs(from),
        };
        plan.skipped.push((family.family_id, skip));
    }
    for (family_id, to) in spread(&eligible, receivers, rule) {
        match to {
            Some(to) => plan.handovers.push((family_id, to)),
            None => plan.skipped.push((family_id, Skip::NoRoom)),
        }
    }
    plan
}
