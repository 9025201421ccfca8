//! `luukku.meetings.v1.MeetingService`.

use std::sync::Arc;

use luukku_domain::family::{Family, FamilyId, MemberId, MemberRole};
use luukku_domain::meetings::{
    ActionId, FamilyMeetings, MeetingCommand, MeetingEvent, MeetingId, MeetingStatus, NewAction, Participant,
};
use luukku_domain::{Code, Sector};
use luukku_eventstore::{EventStore, KeyStore, streams};
use luukku_proto::meetings::v1 as pb;
use luukku_proto::meetings::v1::meeting_service_server::MeetingService;
use luukku_service::parse::{checked, date, id, optional_id, write};
use luukku_service::repository::{Keys, Loaded, Outcome, Repository, Write};
use luukku_service::{Violations, caller, context_now};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::errors::meeting_status;
use crate::index::MeetingIndex;

pub struct MeetingsService<K: KeyStore> {
    meetings: Repository<FamilyMeetings, K>,
    families: Repository<Family, K>,
    index: Arc<MeetingIndex>,
}

fn refuse_family(id: luukku_domain::AggregateId, error: luukku_domain::family::FamilyError) -> Status {
    Status::internal(format!("the meetings service does not change family {id}: {error}"))
}

/// A family member a command names, and whether it must be a child.
struct Named {
    field: String,
    member: MemberId,
    child: bool,
}

fn named_members(field: &str, participants: &[Participant]) -> Vec<Named> {
    participants
        .iter()
        .enumerate()
        .filter_map(|(index, participant)| match participant {
            Participant::FamilyMember(member) => {
                Some(Named { field: format!("{field}[{index}]"), member: *member, child: false })
            }
            _ => None,
        })
        .collect()
}

impl<K: KeyStore + Clone> MeetingsService<K> {
    pub fn new(store: EventStore, keys: K, index: Arc<MeetingIndex>) -> Self {
        Self {
            meetings: Repository::new(
                store.clone(),
                keys.clone(),
                streams::MEETINGS,
                Keys::FamilyKey,
                meeting_status,
            ),
            families: Repository::new(store, keys, streams::FAMILIES, Keys::FamilyKey, refuse_family),
            index,
        }
    }
}

impl<K: KeyStore> MeetingsService<K> {
    async fn family(&self, family_id: FamilyId, changeable: bool) -> Result<Arc<Loaded<Family>>, Status> {
        luukku_service::family::require_family(&self.families, family_id, changeable).await
    }

    /// Carries out a change of the family's meetings, after checking that the family is open
    /// and that the members named belong to it.
    async fn change(
        &self,
        family_id: FamilyId,
        write: &Write,
        command: MeetingCommand,
        named: Vec<Named>,
    ) -> Result<Outcome<MeetingEvent>, Status> {
        let current = self.meetings.load(family_id.into()).await?;
        if current.written_by(&write.request_id).is_none() {
            let family = self.family(family_id, true).await?;
            let mut violations = Violations::new();
            for Named { field, member, child } in named {
                match family.state.members.get(&member) {
                    None => violations.add(field, format!("member {member} is not in family {family_id}")),
                    Some(found) if child && found.role != MemberRole::Child => {
                        violations.add(field, format!("member {member} is not a child"));
                    }
                    Some(_) => {}
                }
            }
            violations.into_result()?;
        }
        let creates = false;
        self.meetings.execute(family_id.into(), write, &command, creates).await
    }

    fn response(outcome: Outcome<MeetingEvent>) -> Response<pb::MeetingWriteResponse> {
        Response::new(pb::MeetingWriteResponse { result: Some(outcome.result) })
    }

    /// Meetings matching `select` in every family, as loaded (and opened) now.
    async fn across_families(
        &self,
        select: impl Fn(&FamilyMeetings) -> Vec<MeetingId>,
    ) -> Result<Vec<(FamilyId, MeetingId, Arc<Loaded<FamilyMeetings>>)>, Status> {
        self.index.caught_up(self.meetings.store()).await?;
        let mut found = Vec::new();
        for (family_id, meetings) in self.index.find(select) {
            let loaded = self.meetings.load(family_id.into()).await?;
            for meeting_id in meetings {
                found.push((family_id, meeting_id, Arc::clone(&loaded)));
            }
        }
        Ok(found)
    }
}

/// The person or sector a query is about.
fn who(violations: &mut Violations, person_id: &str, sector: &str) -> Option<Participant> {
    match (person_id.is_empty(), sector.is_empty()) {
        (false, true) => violations.check("person_id", Code::parse(person_id)).map(Participant::Person),
        (true, false) => violations.check("sector", sector.parse::<Sector>()).map(Participant::Sector),
        _ => {
            violations.add("person_id", "name either a person or a sector");
            None
        }
    }
}

/// The write, family and meeting of a change, each `None` when bad (and named in the violations).
type Target = (Option<Write>, Option<FamilyId>, Option<MeetingId>);

/// The request id, family and meeting every change names.
fn target<T>(
    request: &Request<T>,
    violations: &mut Violations,
    fields: (&str, &str, Option<u64>, &str),
) -> Result<Target, Status> {
    let (request_id, family_id, expected_version, meeting_id) = fields;
    let actor = caller(request)?;
    let write = write(violations, request_id, expected_version, actor);
    let family_id = id(violations, "family_id", family_id, FamilyId::parse);
    let meeting_id = id(violations, "meeting_id", meeting_id, MeetingId::parse);
    Ok((write, family_id, meeting_id))
}

#[tonic::async_trait]
impl<K: KeyStore + Clone> MeetingService for MeetingsService<K> {
    async fn propose_meeting(
        &self,
        request: Request<pb::ProposeMeetingRequest>,
    ) -> Result<Response<pb::ProposeMeetingResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, message.expected_version, actor);
        let family_id = id(&mut violations, "family_id", &message.family_id, FamilyId::parse);
        let meeting_id = optional_id(
            &mut violations,
            "meeting_id",
            &message.meeting_id,
            MeetingId::parse,
            MeetingId::generate,
        );
        let purpose = violations.check("purpose", message.purpose.parse());
        let slots: Vec<_> = message
            .slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| {
                convert::slot(&mut violations, &format!("slots[{index}]"), Some(slot))
            })
            .collect();
        let participants = convert::participants(&mut violations, "participants", &message.participants);
        violations.into_result()?;
        let named = named_members("participants", &participants);
        let command = MeetingCommand::Propose {
            meeting_id: checked(meeting_id)?,
            purpose: checked(purpose)?,
            description: message.description,
            slots,
            place: message.place,
            participants,
        };
        let outcome = self.change(checked(family_id)?, &checked(write)?, command, named).await?;
        let meeting_id =
            outcome.events.first().map(|event| event.meeting_id().to_string()).unwrap_or_default();
        Ok(Response::new(pb::ProposeMeetingResponse { result: Some(outcome.result), meeting_id }))
    }

    async fn answer_invitation(
        &self,
        request: Request<pb::AnswerInvitationRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        let mut violations = Violations::new();
        let m = request.get_ref();
        let (write, family_id, meeting_id) = target(
            &request,
            &mut violations,
            (&m.request_id, &m.family_id, m.expected_version, &m.meeting_id),
        )?;
        let participant = convert::participant(&mut violations, "participant", m.participant.as_ref());
        let mut answers = Vec::new();
        for (index, answer) in m.answers.iter().enumerate() {
            let value = convert::answer(&mut violations, &format!("answers[{index}].answer"), answer.answer);
            let slot = violations.check(&format!("answers[{index}].slot"), u8::try_from(answer.slot));
            if let (Some(value), Some(slot)) = (value, slot) {
                answers.push((slot, value));
            }
        }
        violations.into_result()?;
        let command = MeetingCommand::Answer {
            meeting_id: checked(meeting_id)?,
            participant: checked(participant)?,
            answers,
        };
        Ok(Self::response(self.change(checked(family_id)?, &checked(write)?, command, Vec::new()).await?))
    }

    async fn schedule_meeting(
        &self,
        request: Request<pb::ScheduleMeetingRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        let mut violations = Violations::new();
        let m = request.get_ref();
        let (write, family_id, meeting_id) = target(
            &request,
            &mut violations,
            (&m.request_id, &m.family_id, m.expected_version, &m.meeting_id),
        )?;
        let slot_index = violations.check("slot", u8::try_from(m.slot));
        violations.into_result()?;
        let command =
            MeetingCommand::Schedule { meeting_id: checked(meeting_id)?, slot_index: checked(slot_index)? };
        Ok(Self::response(self.change(checked(family_id)?, &checked(write)?, command, Vec::new()).await?))
    }

    async fn reschedule_meeting(
        &self,
        request: Request<pb::RescheduleMeetingRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        let mut violations = Violations::new();
        let m = request.get_ref();
        let (write, family_id, meeting_id) = target(
            &request,
            &mut violations,
            (&m.request_id, &m.family_id, m.expected_version, &m.meeting_id),
        )?;
        let slot = convert::slot(&mut violations, "slot", m.slot.as_ref());
        violations.into_result()?;
        let command = MeetingCommand::Reschedule {
            meeting_id: checked(meeting_id)?,
            slot: checked(slot)?,
            reason: m.reason.clone(),
        };
        Ok(Self::response(self.change(checked(family_id)?, &checked(write)?, command, Vec::new()).await?))
    }

    async fn cancel_meeting(
        &self,
        request: Request<pb::CancelMeetingRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        let mut violations = Violations::new();
        let m = request.get_ref();
        let (write, family_id, meeting_id) = target(
            &request,
            &mut violations,
            (&m.request_id, &m.family_id, m.expected_version, &m.meeting_id),
        )?;
        violations.into_result()?;
        let command = MeetingCommand::Cancel { meeting_id: checked(meeting_id)?, reason: m.reason.clone() };
        Ok(Self::response(self.change(checked(family_id)?, &checked(write)?, command, Vec::new()).await?))
    }

    async fn add_participant(
        &self,
        request: Request<pb::ParticipantRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        let mut violations = Violations::new();
        let m = request.get_ref();
        let (write, family_id, meeting_id) = target(
            &request,
            &mut violations,
            (&m.request_id, &m.family_id, m.expected_version, &m.meeting_id),
        )?;
        let participant = convert::participant(&mut violations, "participant", m.participant.as_ref());
        violations.into_result()?;
        let participant = checked(participant)?;
        let named = named_members("participant", std::slice::from_ref(&participant));
        let command = MeetingCommand::AddParticipant { meeting_id: checked(meeting_id)?, participant };
        Ok(Self::response(self.change(checked(family_id)?, &checked(write)?, command, named).await?))
    }

    async fn remove_participant(
        &self,
        request: Request<pb::ParticipantRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        let mut violations = Violations::new();
        let m = request.get_ref();
        let (write, family_id, meeting_id) = target(
            &request,
            &mut violations,
            (&m.request_id, &m.family_id, m.expected_version, &m.meeting_id),
        )?;
        let participant = convert::participant(&mut violations, "participant", m.participant.as_ref());
        violations.into_result()?;
        let command = MeetingCommand::RemoveParticipant {
            meeting_id: checked(meeting_id)?,
            participant: checked(participant)?,
        };
        Ok(Self::response(self.change(checked(family_id)?, &checked(write)?, command, Vec::new()).await?))
    }

    async fn hold_meeting(
        &self,
        request: Request<pb::HoldMeetingRequest>,
    ) -> Result<Response<pb::HoldMeetingResponse>, Status> {
        let mut violations = Violations::new();
        let m = request.get_ref();
        let (write, family_id, meeting_id) = target(
            &request,
            &mut violations,
            (&m.request_id, &m.family_id, m.expected_version, &m.meeting_id),
        )?;
        let attended = convert::participants(&mut violations, "attended", &m.attended);
        let mut named = named_members("attended", &attended);
        let mut child_views = Vec::new();
        for (index, view) in m.child_views.iter().enumerate() {
            let field = format!("child_views[{index}].member_id");
            if let Some(member) = violations.check(&field, MemberId::parse(&view.member_id)) {
                named.push(Named { field, member, child: true });
                child_views.push((member, view.view.clone()));
            }
        }
        let mut actions = Vec::new();
        for (index, action) in m.actions.iter().enumerate() {
            let field = format!("actions[{index}]");
            let action_id = optional_id(
                &mut violations,
                &format!("{field}.action_id"),
                &action.action_id,
                ActionId::parse,
                ActionId::generate,
            );
            let owner =
                convert::participant(&mut violations, &format!("{field}.owner"), action.owner.as_ref());
            let due = date(&mut violations, &format!("{field}.due"), &action.due);
            if let (Some(action_id), Some(owner), Some(due)) = (action_id, owner, due) {
                if let Participant::FamilyMember(member) = owner {
                    named.push(Named { field: format!("{field}.owner"), member, child: false });
                }
                actions.push(NewAction { action_id, what: action.what.clone(), owner, due });
            }
        }
        violations.into_result()?;
        let held_at = if m.held_at_ms == 0 {
            context_now().now
        } else {
            luukku_domain::Timestamp::from_millis(m.held_at_ms)
        };
        let command = MeetingCommand::Hold {
            meeting_id: checked(meeting_id)?,
            held_at,
            attended,
            summary: m.summary.clone(),
            child_views,
            actions,
        };
        let outcome = self.change(checked(family_id)?, &checked(write)?, command, named).await?;
        let action_ids = outcome
            .events
            .iter()
            .flat_map(|event| match event {
                MeetingEvent::Held(held) => held.actions.iter().map(|a| a.action_id.to_string()).collect(),
                _ => Vec::new(),
            })
            .collect();
        Ok(Response::new(pb::HoldMeetingResponse { result: Some(outcome.result), action_ids }))
    }

    async fn complete_action(
        &self,
        request: Request<pb::CompleteActionRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        let mut violations = Violations::new();
        let m = request.get_ref();
        let (write, family_id, meeting_id) = target(
            &request,
            &mut violations,
            (&m.request_id, &m.family_id, m.expected_version, &m.meeting_id),
        )?;
        let action_id = id(&mut violations, "action_id", &m.action_id, ActionId::parse);
        violations.into_result()?;
        let command = MeetingCommand::CompleteAction {
            meeting_id: checked(meeting_id)?,
            action_id: checked(action_id)?,
            note: m.note.clone(),
        };
        Ok(Self::response(self.change(checked(family_id)?, &checked(write)?, command, Vec::new()).await?))
    }

    async fn reassign_action(
        &self,
        request: Request<pb::ReassignActionRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        let mut violations = Violations::new();
        let m = request.get_ref();
        let (write, family_id, meeting_id) = target(
            &request,
            &mut violations,
            (&m.request_id, &m.family_id, m.expected_version, &m.meeting_id),
        )?;
        let action_id = id(&mut violations, "action_id", &m.action_id, ActionId::parse);
        let owner = convert::participant(&mut violations, "owner", m.owner.as_ref());
        violations.into_result()?;
        let owner = checked(owner)?;
        let named = named_members("owner", std::slice::from_ref(&owner));
        let command = MeetingCommand::ReassignAction {
            meeting_id: checked(meeting_id)?,
            action_id: checked(action_id)?,
            owner,
        };
        Ok(Self::response(self.change(checked(family_id)?, &checked(write)?, command, named).await?))
    }

    async fn get_meeting(
        &self,
        request: Request<pb::GetMeetingRequest>,
    ) -> Result<Response<pb::GetMeetingResponse>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let meeting_id = id(&mut violations, "meeting_id", &request.get_ref().meeting_id, MeetingId::parse);
        violations.into_result()?;
        let meeting_id = checked(meeting_id)?;
        self.index.caught_up(self.meetings.store()).await?;
        let not_found = || Status::not_found(format!("meeting {meeting_id} not found"));
        let family_id = self.index.family_of(meeting_id).ok_or_else(not_found)?;
        let loaded = self.meetings.load(family_id.into()).await?;
        let meeting = loaded.state.meetings.get(&meeting_id).ok_or_else(not_found)?;
        Ok(Response::new(pb::GetMeetingResponse {
            meeting: Some(convert::meeting_pb(family_id, meeting_id, meeting, context_now().today)),
            version: loaded.version,
        }))
    }

    async fn list_family_meetings(
        &self,
        request: Request<pb::ListFamilyMeetingsRequest>,
    ) -> Result<Response<pb::ListFamilyMeetingsResponse>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let family_id = id(&mut violations, "family_id", &request.get_ref().family_id, FamilyId::parse);
        violations.into_result()?;
        let family_id = checked(family_id)?;
        self.family(family_id, false).await?;
        let loaded = self.meetings.load(family_id.into()).await?;
        let today = context_now().today;
        // Ids are ULIDs: the newest proposal has the greatest.
        let meetings = loaded
            .state
            .meetings
            .iter()
            .rev()
            .map(|(id, meeting)| convert::meeting_pb(family_id, *id, meeting, today))
            .collect();
        Ok(Response::new(pb::ListFamilyMeetingsResponse { meetings, version: loaded.version }))
    }

    async fn list_upcoming_meetings(
        &self,
        request: Request<pb::ListUpcomingMeetingsRequest>,
    ) -> Result<Response<pb::ListUpcomingMeetingsResponse>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let who = who(&mut violations, &request.get_ref().person_id, &request.get_ref().sector);
        violations.into_result()?;
        let who = checked(who)?;
        let context = context_now();
        let upcoming = |meetings: &FamilyMeetings| -> Vec<MeetingId> {
            meetings
                .meetings
                .iter()
                .filter(|(_, meeting)| {
                    matches!(meeting.status, MeetingStatus::Scheduled(slot) if slot.starts_at >= context.now)
                        && meeting.participants.contains(&who)
                })
                .map(|(id, _)| *id)
                .collect()
        };
        let mut meetings: Vec<pb::Meeting> = self
            .across_families(upcoming)
            .await?
            .into_iter()
            .filter_map(|(family_id, meeting_id, loaded)| {
                let meeting = loaded.state.meetings.get(&meeting_id)?;
                // The fresh state decides: the index may be a moment ahead or behind.
                let still = matches!(meeting.status, MeetingStatus::Scheduled(_))
                    && meeting.participants.contains(&who);
                still.then(|| convert::meeting_pb(family_id, meeting_id, meeting, context.today))
            })
            .collect();
        meetings.sort_by_key(|meeting| meeting.scheduled.as_ref().map_or(0, |slot| slot.starts_at_ms));
        Ok(Response::new(pb::ListUpcomingMeetingsResponse { meetings }))
    }

    async fn list_open_actions(
        &self,
        request: Request<pb::ListOpenActionsRequest>,
    ) -> Result<Response<pb::ListOpenActionsResponse>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let who = who(&mut violations, &request.get_ref().person_id, &request.get_ref().sector);
        violations.into_result()?;
        let who = checked(who)?;
        let today = context_now().today;
        let owned = |meetings: &FamilyMeetings| -> Vec<MeetingId> {
            meetings
                .meetings
                .iter()
                .filter(|(_, meeting)| meeting.actions.values().any(|a| a.done.is_none() && a.owner == who))
                .map(|(id, _)| *id)
                .collect()
        };
        let mut actions: Vec<pb::Action> = Vec::new();
        for (family_id, meeting_id, loaded) in self.across_families(owned).await? {
            let Some(meeting) = loaded.state.meetings.get(&meeting_id) else { continue };
            let owner = convert::participant_pb(&who);
            actions.extend(
                convert::actions_pb(family_id, meeting_id, meeting, today)
                    .into_iter()
                    .filter(|action| !action.done && action.owner.as_ref() == Some(&owner)),
            );
        }
        actions.sort_by(|a, b| a.due.cmp(&b.due));
        Ok(Response::new(pb::ListOpenActionsResponse { actions }))
    }
}
