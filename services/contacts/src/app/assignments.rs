//! Each family's one contact person: assigning, handing over, and transferring a leaving
//! contact person's caseload. A first assignment reserves its place in the caseload before it
//! is recorded, and a handover moves the family between caseloads when it is accepted; the
//! domain's rules plan both.

use std::sync::Arc;

use futures::StreamExt;
use luukku_app::{AppError, Caller, Entry, Result, Write, Written, refused};
use luukku_domain::RequestId;
use luukku_domain::contacts::{
    AssignPlan, Assignment, AssignmentCommand, AssignmentEvent, CaseloadFamily, CaseloadMove, ContactPerson,
    ContactPersonCommand, ContactPersonId, EndReason, HandoverId, Receiver, ReservationId, SpreadRule,
    assignment_kept, check_receiver, plan_accept, plan_assignment, plan_transfer,
};
use luukku_domain::family::{Family, FamilyId};
use luukku_eventstore::KeyStore;
use sha2::{Digest, Sha256};

use super::Contacts;

/// Handovers of one caseload transfer proposed at once.
const TRANSFER_CONCURRENCY: usize = 16;

/// The outcome of an assignment: the family's contact person now, or a handover proposed.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub written: Written,
    pub assigned: bool,
    pub handover_id: Option<HandoverId>,
}

/// A family's assignment as it stands now, with its history.
#[derive(Debug, Clone)]
pub struct AssignmentRecord {
    pub family_id: FamilyId,
    pub state: Assignment,
    pub version: u64,
    pub entries: Vec<Arc<Entry<AssignmentEvent>>>,
}

/// A caseload transfer as asked.
#[derive(Debug, Clone)]
pub struct TransferRequest {
    pub write: Write,
    pub from: ContactPersonId,
    pub receivers: Vec<ContactPersonId>,
    pub rule: SpreadRule,
    pub reason: String,
}

/// One handover a transfer proposed.
#[derive(Debug, Clone)]
pub struct Transferred {
    pub family_id: FamilyId,
    pub to: ContactPersonId,
    pub handover_id: HandoverId,
    /// Where the proposal landed (its first answer's, on a retry).
    pub written: Written,
}

/// What a transfer proposed, and which families it left, with why.
#[derive(Debug, Clone, Default)]
pub struct Transfer {
    pub proposed: Vec<Transferred>,
    pub skipped: Vec<(FamilyId, String)>,
}

/// The request id of one family of a transfer: the same transfer and family always give the
/// same id, so a retried transfer replays each handover it proposed.
fn part_request_id(request_id: &RequestId, family_id: FamilyId) -> RequestId {
    let digest = Sha256::digest(format!("{request_id}/{family_id}").as_bytes());
    let hex: String = digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect();
    RequestId::parse(&format!("part-{hex}"))
        .unwrap_or_else(|_| unreachable!("hex digits make a valid request id"))
}

/// The handover the events propose, and to whom: on a retry, the first answer's receiver.
fn handover_of(events: &[AssignmentEvent]) -> Option<(HandoverId, ContactPersonId)> {
    events.iter().find_map(|event| match event {
        AssignmentEvent::HandoverProposed(proposed) => Some((proposed.handover_id, proposed.to)),
        _ => None,
    })
}

/// The caseload move of a handover proposed in the aggregate's history, accepted or not.
fn proposed_move(entries: &[Arc<Entry<AssignmentEvent>>], handover_id: HandoverId) -> Option<CaseloadMove> {
    entries.iter().flat_map(|entry| &entry.events).find_map(|event| match event {
        AssignmentEvent::HandoverProposed(proposed) if proposed.handover_id == handover_id => {
            Some(CaseloadMove { from: proposed.from, to: proposed.to })
        }
        _ => None,
    })
}

/// A place held in a caseload by one request.
#[derive(Debug, Clone, Copy)]
struct Held {
    person: ContactPersonId,
    family_id: FamilyId,
    reservation_id: ReservationId,
}

impl<K: KeyStore> Contacts<K> {
    /// Holds a place in `person`'s caseload for the family while `write` is recorded. The
    /// place is the request's own (its id is made from the caller and the request id), so a
    /// retry holds the same place, and no other request can release it.
    async fn reserve(
        &self,
        caller: &Caller,
        write: &Write,
        person: ContactPersonId,
        family_id: FamilyId,
    ) -> Result<Held> {
        let reservation_id = ReservationId::from_ulid(write.new_id(caller, "caseload-place"));
        let until = luukku_app::context_now().now.after(self.reservation_time);
        let command = ContactPersonCommand::Reserve { family_id, reservation_id, until };
        self.caseload(caller, person, command).await?;
        Ok(Held { person, family_id, reservation_id })
    }

    /// Takes the held place when the assignment named its person, and gives it up otherwise.
    /// A failure is logged: the write it was held for has its answer, and the caseload
    /// process takes or releases the place when its time runs out.
    async fn settle(&self, caller: &Caller, held: Held, taken: bool) {
        let Held { person, family_id, reservation_id } = held;
        let command = if taken {
            ContactPersonCommand::Join { family_id }
        } else {
            ContactPersonCommand::Release { family_id, reservation_id, expired: false }
        };
        if let Err(error) = self.caseload(caller, person, command).await {
            tracing::warn!(%person, %family_id, %error, "caseload place not settled; the caseload process will");
        }
    }

    /// Assigns `to` as the family's contact person, or proposes a handover to them when the
    /// family has one.
    pub async fn assign(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        to: ContactPersonId,
        reason: String,
    ) -> Result<Assigned> {
        let command = AssignmentCommand::Assign { to, handover_id: HandoverId::generate(), reason };
        // Loaded together: one round trip's wait, not three.
        let (assignment, family, receiver) = tokio::join!(
            self.assignments.load(family_id.into()),
            self.families.load_latest(family_id.into()),
            self.persons.load_latest(to.into()),
        );
        let assignment = assignment?;
        let replay = assignment.written_by(&caller.actor, &write.request_id).is_some();
        let plan = if replay {
            AssignPlan::Propose
        } else {
            family?.state.check_open().map_err(refused::<Family>(family_id))?;
            let receiver = receiver?;
            plan_assignment(&assignment.state, &receiver.state, to).map_err(refused::<ContactPerson>(to))?
        };
        let held = match plan {
            AssignPlan::ReserveFirst(person) => Some(self.reserve(caller, write, person, family_id).await?),
            AssignPlan::Propose => None,
        };
        let outcome = self.assignments.execute(family_id.into(), caller, write, &command).await;
        let kept = outcome.as_ref().is_ok_and(|outcome| assignment_kept(&outcome.events, to));
        if let Some(held) = held {
            self.settle(caller, held, kept).await;
        } else if replay && kept && assignment.state.current == Some(to) {
            // A retry finishes what a first attempt that stopped short left.
            self.caseload(caller, to, ContactPersonCommand::Join { family_id }).await?;
        }
        let outcome = outcome?;
        Ok(Assigned {
            written: outcome.written,
            assigned: kept,
            handover_id: handover_of(&outcome.events).map(|(handover_id, _)| handover_id),
        })
    }

    /// The receiver accepts a handover: the family joins their caseload and leaves the one it
    /// was in.
    pub async fn accept_handover(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        handover_id: HandoverId,
    ) -> Result<Written> {
        let command = AssignmentCommand::Accept { handover_id };
        let assignment = self.assignments.load(family_id.into()).await?;
        let planned = plan_accept(&assignment.state, handover_id);
        let (Some(moves), None) = (planned, assignment.written_by(&caller.actor, &write.request_id)) else {
            // A retry, or no such handover: the assignment answers either. A retry also
            // finishes the moves between caseloads, which may have stopped short the first time.
            let written = self.assignments.execute(family_id.into(), caller, write, &command).await?.written;
            if let Some(moves) = proposed_move(&assignment.entries, handover_id)
                && assignment.state.current == Some(moves.to)
            {
                self.caseload(caller, moves.to, ContactPersonCommand::Join { family_id }).await?;
                self.leave(caller, moves.from, family_id).await?;
            }
            return Ok(written);
        };
        let receiver = self.persons.load_latest(moves.to.into()).await?;
        check_receiver(&caller.actor, moves.to, &receiver.state).map_err(refused::<Assignment>(family_id))?;
        self.family(family_id, true).await?;
        receiver.state.check_active().map_err(refused::<ContactPerson>(moves.to))?;
        let held = self.reserve(caller, write, moves.to, family_id).await?;
        let outcome = self.assignments.execute(family_id.into(), caller, write, &command).await;
        self.settle(caller, held, outcome.is_ok()).await;
        let written = outcome?.written;
        self.leave(caller, moves.from, family_id).await?;
        Ok(written)
    }

    /// The family's contact person stops coordinating it, and the family leaves their
    /// caseload; a pending handover is withdrawn.
    pub async fn end_assignment(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        reason: EndReason,
        note: String,
    ) -> Result<Written> {
        self.family(family_id, false).await?;
        let command = AssignmentCommand::End { reason, note };
        let outcome = self.assignments.execute(family_id.into(), caller, write, &command).await?;
        let ended = outcome.events.iter().find_map(|event| match event {
            AssignmentEvent::Ended(ended) => Some(ended.contact_person),
            _ => None,
        });
        if let Some(person) = ended {
            // On a retry the family may have been assigned to them again since.
            self.align(caller, person, family_id, None).await?;
        }
        Ok(outcome.written)
    }

    pub async fn decline_handover(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        handover_id: HandoverId,
        reason: String,
    ) -> Result<Written> {
        let assignment = self.assignments.load(family_id.into()).await?;
        if let Some(moves) = plan_accept(&assignment.state, handover_id) {
            let receiver = self.persons.load_latest(moves.to.into()).await?;
            check_receiver(&caller.actor, moves.to, &receiver.state)
                .map_err(refused::<Assignment>(family_id))?;
        }
        let command = AssignmentCommand::Decline { handover_id, reason };
        Ok(self.assignments.execute(family_id.into(), caller, write, &command).await?.written)
    }

    pub async fn withdraw_handover(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        handover_id: HandoverId,
    ) -> Result<Written> {
        let command = AssignmentCommand::Withdraw { handover_id };
        Ok(self.assignments.execute(family_id.into(), caller, write, &command).await?.written)
    }

    /// Proposes a handover of each family of a leaving contact person, spread over the
    /// receivers by the rule asked.
    pub async fn transfer_caseload(&self, caller: &Caller, request: TransferRequest) -> Result<Transfer> {
        let leaving = self.person(request.from).await?;
        let mut receivers = Vec::new();
        for receiver in &request.receivers {
            let person = self.persons.load_latest((*receiver).into()).await?;
            person.state.check_active().map_err(refused::<ContactPerson>(*receiver))?;
            receivers.push(Receiver::of(*receiver, &person.state));
        }
        let mut assignments = Vec::new();
        for family_id in &leaving.state.caseload {
            let assignment = self.assignments.load((*family_id).into()).await?;
            let part = part_request_id(&request.write.request_id, *family_id);
            let retried = assignment.written_by(&caller.actor, &part).is_some();
            let closed = self.families.load_latest((*family_id).into()).await?.state.check_open().is_err();
            assignments.push((*family_id, assignment, retried, closed));
        }
        let caseload: Vec<CaseloadFamily<'_>> = assignments
            .iter()
            .map(|(family_id, assignment, retried, closed)| CaseloadFamily {
                family_id: *family_id,
                assignment: &assignment.state,
                retried: *retried,
                closed: *closed,
            })
            .collect();
        let plan = plan_transfer(request.from, &caseload, &receivers, request.rule);
        let mut transfer = Transfer {
            proposed: Vec::new(),
            skipped: plan.skipped.iter().map(|(family_id, skip)| (*family_id, skip.to_string())).collect(),
        };
        let reason = request.reason.trim().to_owned();
        let proposals = futures::stream::iter(plan.handovers.into_iter().map(|(family_id, to)| {
            let write = request.write.part(part_request_id(&request.write.request_id, family_id));
            let command =
                AssignmentCommand::Assign { to, handover_id: HandoverId::generate(), reason: reason.clone() };
            async move {
                let outcome = self
                    .assignments
                    .execute(family_id.into(), caller, &write, &command)
                    .await
                    .map_err(|error| (family_id, AppError::from(error).to_string()))?;
                // On a retry the replayed proposal names the receiver of the first answer.
                let (handover_id, to) =
                    handover_of(&outcome.events).ok_or((family_id, "no handover was proposed".to_owned()))?;
                Ok(Transferred { family_id, to, handover_id, written: outcome.written })
            }
        }))
        .buffered(TRANSFER_CONCURRENCY)
        .collect::<Vec<Result<Transferred, (FamilyId, String)>>>()
        .await;
        for proposal in proposals {
            match proposal {
                Ok(transferred) => transfer.proposed.push(transferred),
                Err(skipped) => transfer.skipped.push(skipped),
            }
        }
        tracing::info!(
            from = %request.from,
            proposed = transfer.proposed.len(),
            skipped = transfer.skipped.len(),
            "caseload transfer"
        );
        Ok(transfer)
    }

    pub async fn get_assignment(&self, _caller: &Caller, family_id: FamilyId) -> Result<AssignmentRecord> {
        self.family(family_id, false).await?;
        let assignment = self.assignments.load(family_id.into()).await?;
        Ok(AssignmentRecord {
            family_id,
            state: assignment.state.clone(),
            version: assignment.version,
            entries: assignment.entries.clone(),
        })
    }
}
