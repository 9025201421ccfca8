use luukku_domain::{Actor, RequestId};
use luukku_eventstore::NatsKeyStore;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_proto::meetings::v1 as pb;
use luukku_proto::meetings::v1::meeting_service_client::MeetingServiceClient;
use luukku_proto::meetings::v1::participant::Who;
use luukku_testkit::TestNats;
use luukku_testkit::auth::with_identity;
use luukku_testkit::grpc::{Served, serve_routes};
use tonic::transport::Channel;
use tonic::{Code as StatusCode, Status};
use tonic_types::StatusExt;

pub struct Harness {
    pub meetings: MeetingServiceClient<Channel>,
    pub families: FamilyServiceClient<Channel>,
    pub store: luukku_eventstore::EventStore,
    pub actor: Actor,
    _served: (Served, Served),
    _nats: TestNats,
}

impl Harness {
    /// The meetings service's health for `service` ("" for the server).
    pub async fn health(&self, service: &str) -> anyhow::Result<i32> {
        let channel = tonic::transport::Endpoint::from_shared(self._served.1.url())?.connect().await?;
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let request = tonic_health::pb::HealthCheckRequest { service: service.to_owned() };
        Ok(client.check(request).await?.into_inner().status)
    }
}

impl Harness {
    /// Schedules the family's meeting at its first proposed slot.
    pub async fn schedule_first_slot(&mut self, family_id: &str, meeting_id: &str) -> anyhow::Result<()> {
        let schedule = pb::ScheduleMeetingRequest {
            request_id: request_id(),
            family_id: family_id.to_owned(),
            expected_version: None,
            meeting_id: meeting_id.to_owned(),
            slot: 0,
        };
        self.meetings.schedule_meeting(self.call(schedule)).await?;
        Ok(())
    }
}

pub fn request_id() -> String {
    RequestId::generate().to_string()
}

/// A family's guardian and child.
pub struct Family {
    pub id: String,
    pub guardian: String,
    pub child: String,
}

impl Harness {
    pub async fn start() -> anyhow::Result<Self> {
        let nats = TestNats::start().await?;
        let store = nats.store().await?;
        let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
        let families_served = serve_routes(
            luukku_families::routes(store.clone(), keys.clone(), luukku_app::Guard::start(store.clone()))
                .await,
        )
        .await?;
        let meetings_served = serve_routes(
            luukku_meetings::routes(store.clone(), keys, luukku_app::Guard::start(store.clone())).await,
        )
        .await?;
        Ok(Self {
            meetings: MeetingServiceClient::connect(meetings_served.url()).await?,
            families: FamilyServiceClient::connect(families_served.url()).await?,
            store,
            actor: luukku_testkit::actor(),
            _served: (families_served, meetings_served),
            _nats: nats,
        })
    }

    pub fn call_as<T>(&self, actor: &luukku_domain::Actor, message: T) -> tonic::Request<T> {
        luukku_testkit::auth::with_identity(message, actor)
    }

    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        with_identity(message, &self.actor)
    }

    /// Registers the test family; its guardian and its elder child.
    pub async fn family(&mut self) -> anyhow::Result<Family> {
        let request = luukku_testkit::fixtures::registration_request(&request_id(), "Virtanen");
        let response = self.families.register_family(self.call(request)).await?.into_inner();
        Ok(Family {
            id: response.family_id,
            guardian: response.member_ids[0].clone(),
            child: response.member_ids[1].clone(),
        })
    }

    pub async fn meeting(&mut self, meeting_id: &str) -> anyhow::Result<pb::Meeting> {
        let request = pb::GetMeetingRequest { meeting_id: meeting_id.to_owned() };
        let meeting = self.meetings.get_meeting(self.call(request)).await?.into_inner().meeting;
        meeting.ok_or_else(|| anyhow::anyhow!("no meeting in the answer"))
    }

    /// Messages in the MEETINGS stream.
    pub async fn messages(&self) -> anyhow::Result<u64> {
        Ok(self.store.stream(luukku_eventstore::Stream::Meetings).await?.info().await?.state.messages)
    }
}

pub fn member(id: &str) -> pb::Participant {
    pb::Participant { who: Some(Who::MemberId(id.to_owned())) }
}

pub fn person(id: &str) -> pb::Participant {
    pb::Participant { who: Some(Who::PersonId(id.to_owned())) }
}

pub fn sector(code: &str) -> pb::Participant {
    pb::Participant { who: Some(Who::Sector(code.to_owned())) }
}

/// A slot `hours` from now.
pub fn slot(hours: i64) -> pb::Slot {
    let now = jiff::Timestamp::now().as_millisecond();
    pb::Slot { starts_at_ms: now + hours * 3_600_000, minutes: 90 }
}

/// A date `days` from today.
pub fn in_days(days: i64) -> String {
    let today = luukku_app::context_now().today;
    today.checked_add(jiff::Span::new().days(days)).expect("date in range").to_string()
}

pub fn proposal(family: &Family, purpose: &str) -> pb::ProposeMeetingRequest {
    pb::ProposeMeetingRequest {
        request_id: request_id(),
        family_id: family.id.clone(),
        expected_version: None,
        meeting_id: String::new(),
        purpose: purpose.to_owned(),
        description: "Eero's school absences".to_owned(),
        slots: vec![slot(48), slot(72)],
        place: "Kallio school, room 12".to_owned(),
        participants: vec![
            member(&family.guardian),
            member(&family.child),
            person("teacher.1"),
            sector("student_welfare"),
        ],
    }
}

pub fn expect_code(result: Result<impl std::fmt::Debug, Status>, code: StatusCode) -> Status {
    match result {
        Err(status) if status.code() == code => status,
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

pub fn broken_rule(result: Result<impl std::fmt::Debug, Status>) -> String {
    let status = expect_code(result, StatusCode::FailedPrecondition);
    let failure = status.get_details_precondition_failure().expect("PreconditionFailure details");
    failure.violations.first().map(|violation| violation.r#type.clone()).unwrap_or_default()
}

pub fn bad_fields(result: Result<impl std::fmt::Debug, Status>) -> Vec<String> {
    let status = expect_code(result, StatusCode::InvalidArgument);
    let bad_request = status.get_details_bad_request().expect("BadRequest details");
    bad_request.field_violations.into_iter().map(|violation| violation.field).collect()
}

/// The teacher invited to meetings as `teacher.1`.
pub fn teacher() -> luukku_domain::Actor {
    luukku_testkit::professional("teacher.1", luukku_domain::Sector::School)
}

/// A school social worker: student welfare.
pub fn school_welfare() -> luukku_domain::Actor {
    luukku_testkit::professional("kuraattori", luukku_domain::Sector::StudentWelfare)
}
