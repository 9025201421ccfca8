//! `luukku.meetings.v1.MeetingService`: each call decodes its request, calls the application
//! and encodes the answer.

mod decode;
mod encode;

use luukku_app::{Guard, context_now};
use luukku_domain::access::{Action, Scope, Target};
use luukku_domain::family::FamilyId;
use luukku_domain::meetings::{MeetingCommand, Participant};
use luukku_eventstore::KeyStore;
use luukku_grpc::paging::{page, requested};
use luukku_grpc::{caller, check, status, status_with};
use luukku_proto::meetings::v1 as pb;
use luukku_proto::meetings::v1::meeting_service_server::MeetingService;
use tonic::{Request, Response, Status};

use crate::app::Meetings;

pub struct MeetingGrpc<K: KeyStore> {
    app: Meetings<K>,
    guard: Guard,
}

/// What a meeting command targets, for the access policy.
fn target(family_id: FamilyId, command: &MeetingCommand) -> Target {
    let family = Target::family(family_id);
    match command {
        MeetingCommand::Answer { meeting_id, participant, .. } => {
            Target { meeting: Some(*meeting_id), participant: Some(participant.clone()), ..family }
        }
        MeetingCommand::CompleteAction { meeting_id, action_id, .. } => {
            Target { meeting: Some(*meeting_id), action: Some(*action_id), ..family }
        }
        MeetingCommand::Propose { meeting_id, .. }
        | MeetingCommand::Schedule { meeting_id, .. }
        | MeetingCommand::Reschedule { meeting_id, .. }
        | MeetingCommand::Cancel { meeting_id, .. }
        | MeetingCommand::AddParticipant { meeting_id, .. }
        | MeetingCommand::RemoveParticipant { meeting_id, .. }
        | MeetingCommand::Hold { meeting_id, .. }
        | MeetingCommand::ReassignAction { meeting_id, .. } => {
            Target { meeting: Some(*meeting_id), ..family }
        }
    }
}

/// The person or sector whose work list is asked for.
fn work_list(who: &Participant) -> Target {
    match who {
        Participant::Person(person) => Target { person: Some(person.clone()), ..Target::default() },
        Participant::Sector(sector) => Target { sector: Some(*sector), ..Target::default() },
        Participant::FamilyMember(member) => Target { member: Some(*member), ..Target::default() },
    }
}

impl<K: KeyStore> MeetingGrpc<K> {
    pub fn new(app: Meetings<K>, guard: Guard) -> Self {
        Self { app, guard }
    }

    /// A change answered with the write result only.
    async fn change<T: prost::Message + prost::Name>(
        &self,
        request: Request<T>,
        action: Action,
        decode: fn(&T) -> Result<decode::Decoded, Status>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode(request.get_ref())?;
        check(&self.guard, &caller, action, target(family_id, &command)).await?;
        let written = self
            .app
            .change(&caller, &write, family_id, command)
            .await
            .map_err(status_with(decode::meeting_paths))?;
        Ok(Response::new(pb::MeetingWriteResponse { result: encode::written(written) }))
    }
}

#[tonic::async_trait]
impl<K: KeyStore> MeetingService for MeetingGrpc<K> {
    async fn propose_meeting(
        &self,
        request: Request<pb::ProposeMeetingRequest>,
    ) -> Result<Response<pb::ProposeMeetingResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::propose(request.get_ref())?;
        check(&self.guard, &caller, Action::ProposeMeeting, target(family_id, &command)).await?;
        let (written, meeting_id) = self
            .app
            .propose(&caller, &write, family_id, command)
            .await
            .map_err(status_with(decode::meeting_paths))?;
        Ok(Response::new(pb::ProposeMeetingResponse {
            result: encode::written(written),
            meeting_id: meeting_id.map(|id| id.to_string()).unwrap_or_default(),
        }))
    }

    async fn answer_invitation(
        &self,
        request: Request<pb::AnswerInvitationRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        self.change(request, Action::AnswerInvitation, decode::answer).await
    }

    async fn schedule_meeting(
        &self,
        request: Request<pb::ScheduleMeetingRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        self.change(request, Action::ScheduleMeeting, decode::schedule).await
    }

    async fn reschedule_meeting(
        &self,
        request: Request<pb::RescheduleMeetingRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::reschedule(request.get_ref())?;
        check(&self.guard, &caller, Action::RescheduleMeeting, target(family_id, &command)).await?;
        let written = self
            .app
            .change(&caller, &write, family_id, command)
            .await
            .map_err(status_with(decode::reschedule_paths))?;
        Ok(Response::new(pb::MeetingWriteResponse { result: encode::written(written) }))
    }

    async fn cancel_meeting(
        &self,
        request: Request<pb::CancelMeetingRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        self.change(request, Action::CancelMeeting, decode::cancel).await
    }

    async fn add_participant(
        &self,
        request: Request<pb::ParticipantRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        self.change(request, Action::AddParticipant, decode::add_participant).await
    }

    async fn remove_participant(
        &self,
        request: Request<pb::ParticipantRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        self.change(request, Action::RemoveParticipant, decode::remove_participant).await
    }

    async fn hold_meeting(
        &self,
        request: Request<pb::HoldMeetingRequest>,
    ) -> Result<Response<pb::HoldMeetingResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::hold(request.get_ref(), context_now().now)?;
        check(&self.guard, &caller, Action::HoldMeeting, target(family_id, &command)).await?;
        let (written, action_ids) = self
            .app
            .hold(&caller, &write, family_id, command)
            .await
            .map_err(status_with(decode::meeting_paths))?;
        Ok(Response::new(pb::HoldMeetingResponse {
            result: encode::written(written),
            action_ids: action_ids.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn complete_action(
        &self,
        request: Request<pb::CompleteActionRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        self.change(request, Action::CompleteAction, decode::complete_action).await
    }

    async fn reassign_action(
        &self,
        request: Request<pb::ReassignActionRequest>,
    ) -> Result<Response<pb::MeetingWriteResponse>, Status> {
        self.change(request, Action::ReassignAction, decode::reassign_action).await
    }

    async fn get_meeting(
        &self,
        request: Request<pb::GetMeetingRequest>,
    ) -> Result<Response<pb::GetMeetingResponse>, Status> {
        let caller = caller(&request).await?;
        let meeting_id = decode::meeting_id(&request.get_ref().meeting_id)?;
        let granted = check(
            &self.guard,
            &caller,
            Action::GetMeeting,
            Target { meeting: Some(meeting_id), ..Target::default() },
        )
        .await?;
        let (found, version) = self.app.get(&caller, meeting_id, granted.family).await.map_err(status)?;
        Ok(Response::new(pb::GetMeetingResponse {
            meeting: Some(encode::meeting(&found, context_now().today)),
            version,
        }))
    }

    async fn list_family_meetings(
        &self,
        request: Request<pb::ListFamilyMeetingsRequest>,
    ) -> Result<Response<pb::ListFamilyMeetingsResponse>, Status> {
        let caller = caller(&request).await?;
        let family_id = decode::family_id(&request.get_ref().family_id)?;
        let requested = requested(request.get_ref().page_size, &request.get_ref().page_token)?;
        let granted =
            check(&self.guard, &caller, Action::ListFamilyMeetings, Target::family(family_id)).await?;
        let (mut meetings, version) = self.app.family_meetings(&caller, family_id).await.map_err(status)?;
        // An invitation opens that meeting; a referral, none.
        match &granted.scope {
            Scope::Meetings(invited) => meetings.retain(|found| invited.contains(&found.meeting_id)),
            Scope::Referrals(_) | Scope::Own | Scope::NoPersonalData => meetings.clear(),
            Scope::Whole | Scope::Members(_) | Scope::Consent { .. } => {}
        }
        let (meetings, next_page_token) = page(meetings, decode::newest_first, &requested);
        let today = context_now().today;
        Ok(Response::new(pb::ListFamilyMeetingsResponse {
            meetings: meetings.iter().map(|found| encode::meeting(found, today)).collect(),
            version,
            next_page_token,
        }))
    }

    async fn list_upcoming_meetings(
        &self,
        request: Request<pb::ListUpcomingMeetingsRequest>,
    ) -> Result<Response<pb::ListUpcomingMeetingsResponse>, Status> {
        let caller = caller(&request).await?;
        let who = decode::who(&request.get_ref().person_id, &request.get_ref().sector)?;
        let requested = requested(request.get_ref().page_size, &request.get_ref().page_token)?;
        let granted = check(&self.guard, &caller, Action::ListUpcomingMeetings, work_list(&who)).await?;
        let meetings = self.app.upcoming(&caller, &who).await.map_err(status)?;
        let (meetings, next_page_token) = page(meetings, decode::upcoming_key, &requested);
        let today = context_now().today;
        let found: Vec<_> = meetings.iter().map(|found| found.family_id).collect();
        self.guard
            .record_found(&caller, Action::ListUpcomingMeetings, &found, &granted.basis)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListUpcomingMeetingsResponse {
            meetings: meetings.iter().map(|found| encode::meeting(found, today)).collect(),
            next_page_token,
        }))
    }

    async fn list_open_actions(
        &self,
        request: Request<pb::ListOpenActionsRequest>,
    ) -> Result<Response<pb::ListOpenActionsResponse>, Status> {
        let caller = caller(&request).await?;
        let who = decode::who(&request.get_ref().person_id, &request.get_ref().sector)?;
        let requested = requested(request.get_ref().page_size, &request.get_ref().page_token)?;
        let granted = check(&self.guard, &caller, Action::ListOpenActions, work_list(&who)).await?;
        let actions = self.app.open_actions(&caller, &who).await.map_err(status)?;
        let (actions, next_page_token) = page(actions, decode::action_key, &requested);
        let today = context_now().today;
        let found: Vec<_> = actions.iter().map(|open| open.family_id).collect();
        self.guard
            .record_found(&caller, Action::ListOpenActions, &found, &granted.basis)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListOpenActionsResponse {
            actions: actions.iter().map(|open| encode::open_action(open, today)).collect(),
            next_page_token,
        }))
    }
}
