use luukku_domain::{Actor, Code, RequestId, Role, Sector};
use luukku_eventstore::NatsKeyStore;
use luukku_proto::contacts::v1 as pb;
use luukku_proto::contacts::v1::contact_service_client::ContactServiceClient;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::auth::with_identity;
use luukku_testkit::grpc::{Served, serve_routes};
use tonic::transport::Channel;
use tonic::{Code as StatusCode, Status};
use tonic_types::StatusExt;

/// A nats-server, the families and contacts services, and clients of both.
pub struct Harness {
    pub contacts: ContactServiceClient<Channel>,
    pub families: FamilyServiceClient<Channel>,
    pub store: luukku_eventstore::EventStore,
    pub actor: Actor,
    _caseloads: luukku_contacts::Process,
    _served: (Served, Served),
    _nats: TestNats,
}

pub fn request_id() -> String {
    RequestId::generate().to_string()
}

/// A contact person's caller identity.
pub fn contact_actor(person_id: &str) -> Actor {
    Actor {
        person_id: Code::parse(person_id).expect("code"),
        role: Role::ContactPerson,
        sector: Some(Sector::FamilySocialServices),
        organisation: Code::parse("0201256-6").expect("code"),
        system: Code::parse("luukku-tests").expect("code"),
    }
}

impl Harness {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(luukku_contacts::Config::default()).await
    }

    /// With the caseload process run as `config` says.
    pub async fn start_with(config: luukku_contacts::Config) -> anyhow::Result<Self> {
        let nats = TestNats::start().await?;
        let store = nats.store().await?;
        let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
        let families_served = serve_routes(
            luukku_families::routes(store.clone(), keys.clone(), luukku_app::Guard::start(store.clone()))
                .await,
        )
        .await?;
        let (routes, caseloads) =
            luukku_contacts::start(store.clone(), keys, config, luukku_app::Guard::start(store.clone()))
                .await;
        let contacts_served = serve_routes(routes).await?;
        Ok(Self {
            contacts: ContactServiceClient::connect(contacts_served.url()).await?,
            families: FamilyServiceClient::connect(families_served.url()).await?,
            store,
            actor: contact_actor("coordinator.1"),
            _caseloads: caseloads,
            _served: (families_served, contacts_served),
            _nats: nats,
        })
    }

    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        with_identity(message, &self.actor)
    }

    pub fn call_as<T>(&self, actor: &Actor, message: T) -> tonic::Request<T> {
        with_identity(message, actor)
    }

    /// A request made by the contact persons' supervisor.
    pub fn as_supervisor<T>(&self, message: T) -> tonic::Request<T> {
        with_identity(message, &luukku_testkit::supervisor())
    }

    /// Registers the test family (a guardian and two children); gives its id and member ids.
    pub async fn family(&mut self) -> anyhow::Result<(String, Vec<String>)> {
        let request = luukku_testkit::fixtures::registration_request(&request_id(), "Virtanen");
        let response = self.families.register_family(self.call(request)).await?.into_inner();
        Ok((response.family_id, response.member_ids))
    }

    /// Registers a contact person whose identity is `person_id`.
    pub async fn person(&mut self, person_id: &str, limit: u32) -> anyhow::Result<String> {
        let request = pb::RegisterContactPersonRequest {
            request_id: request_id(),
            contact_person_id: String::new(),
            profile: Some(profile(person_id, limit)),
        };
        let request = self.call_as(&luukku_testkit::supervisor(), request);
        Ok(self.contacts.register_contact_person(request).await?.into_inner().contact_person_id)
    }

    pub async fn assign(
        &mut self,
        family_id: &str,
        contact_person_id: &str,
        reason: &str,
    ) -> Result<pb::AssignContactPersonResponse, Status> {
        let request = pb::AssignContactPersonRequest {
            request_id: request_id(),
            family_id: family_id.to_owned(),
            expected_version: None,
            contact_person_id: contact_person_id.to_owned(),
            reason: reason.to_owned(),
        };
        Ok(self
            .contacts
            .assign_contact_person(self.call_as(&luukku_testkit::supervisor(), request))
            .await?
            .into_inner())
    }

    pub async fn assignment(&mut self, family_id: &str) -> anyhow::Result<pb::GetAssignmentResponse> {
        let request = pb::GetAssignmentRequest { family_id: family_id.to_owned() };
        Ok(self
            .contacts
            .get_assignment(self.call_as(&luukku_testkit::supervisor(), request))
            .await?
            .into_inner())
    }

    pub async fn caseload(&mut self, contact_person_id: &str) -> anyhow::Result<Vec<String>> {
        let request = pb::GetContactPersonRequest {
            contact_person_id: contact_person_id.to_owned(),
            ..Default::default()
        };
        let person = self.contacts.get_contact_person(self.as_supervisor(request)).await?.into_inner();
        Ok(person.contact_person.map(|person| person.caseload).unwrap_or_default())
    }

    /// Messages in the CONTACTS stream under `subject_filter`.
    pub async fn messages(&self, subject_filter: &str) -> anyhow::Result<u64> {
        let stream = self.store.stream(luukku_eventstore::Stream::Contacts).await?;
        let info = stream.info_with_subjects(subject_filter).await?;
        use futures::TryStreamExt;
        let counts: Vec<(String, usize)> = info.try_collect().await?;
        Ok(counts.into_iter().map(|(_, count)| count as u64).sum())
    }
}

pub fn profile(person_id: &str, limit: u32) -> pb::ContactPersonProfile {
    pb::ContactPersonProfile {
        person_id: person_id.to_owned(),
        name: format!("Contact {person_id}"),
        organisation: "0201256-6".to_owned(),
        sector: "family_social_services".to_owned(),
        municipalities: vec!["091".to_owned()],
        languages: vec!["fi".to_owned()],
        caseload_limit: limit,
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
