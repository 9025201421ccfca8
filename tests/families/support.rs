use luukku_domain::{Actor, Code, RequestId, Role, Sector};
use luukku_eventstore::{EventStore, NatsKeyStore};
use luukku_proto::families::v1 as pb;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::auth::with_identity;
use luukku_testkit::grpc::{Served, serve_routes};
use tonic::transport::Channel;
use tonic::{Code as StatusCode, Status};
use tonic_types::StatusExt;

/// A nats-server, the families service on a free port, and a client.
pub struct Harness {
    pub client: FamilyServiceClient<Channel>,
    pub store: EventStore,
    pub keys: NatsKeyStore,
    pub actor: Actor,
    served: Served,
    pub nats: TestNats,
}

impl Harness {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(luukku_eventstore::StoreSettings::default()).await
    }

    /// The harness with streams of `settings` (a short duplicate window, say).
    pub async fn start_with(settings: luukku_eventstore::StoreSettings) -> anyhow::Result<Self> {
        let nats = TestNats::start().await?;
        let store = nats.store_with(settings).await?;
        let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
        let guard = luukku_app::Guard::start(store.clone());
        // Started: its access relations have checked their folder against the streams.
        guard.relations().ready().await?;
        let served = serve_routes(luukku_families::routes(store.clone(), keys.clone(), guard).await).await?;
        let client = FamilyServiceClient::connect(served.url()).await?;
        Ok(Self { client, store, keys, actor: luukku_testkit::actor(), served, nats })
    }

    pub fn url(&self) -> String {
        self.served.url()
    }

    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        with_identity(message, &self.actor)
    }

    /// Messages in the FAMILIES stream, as the server counts them.
    pub async fn messages(&self) -> anyhow::Result<u64> {
        Ok(self.store.stream(luukku_eventstore::Stream::Families).await?.info().await?.state.messages)
    }

    pub async fn register(
        &mut self,
        request: pb::RegisterFamilyRequest,
    ) -> anyhow::Result<pb::RegisterFamilyResponse> {
        let call = self.call(request);
        Ok(self.client.register_family(call).await?.into_inner())
    }

    pub async fn family(&mut self, family_id: &str) -> anyhow::Result<pb::Family> {
        let call = self.call(pb::GetFamilyRequest { family_id: family_id.to_owned() });
        let family = self.client.get_family(call).await?.into_inner().family;
        family.ok_or_else(|| anyhow::anyhow!("GetFamily answered without a family"))
    }
}

pub fn request_id() -> String {
    RequestId::generate().to_string()
}

pub fn sector_professional() -> Actor {
    Actor {
        person_id: Code::parse("nurse.1").expect("code"),
        role: Role::SectorProfessional,
        sector: Some(Sector::ChildHealthClinic),
        organisation: Code::parse("0201256-6").expect("code"),
        system: Code::parse("neuvola-system").expect("code"),
    }
}

pub fn member(role: pb::MemberRole, given: &str, born: &str, code: &str) -> pb::NewMember {
    pb::NewMember {
        member_id: String::new(),
        details: Some(pb::MemberInput {
            role: role as i32,
            given_names: given.to_owned(),
            family_name: "Virtanen".to_owned(),
            birth_date: born.to_owned(),
            identity_code: code.to_owned(),
            languages: vec!["fi".to_owned(), "sv".to_owned()],
        }),
    }
}

/// A guardian (with an identity code), a 16-year-old and a 3-year-old in Helsinki.
pub fn virtanen_family() -> pb::RegisterFamilyRequest {
    luukku_testkit::fixtures::registration_request(&request_id(), "Virtanen")
}

/// Asserts `status` is `code` and returns its message.
pub fn expect_code(result: Result<impl std::fmt::Debug, Status>, code: StatusCode) -> Status {
    match result {
        Err(status) if status.code() == code => status,
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

/// The fields named by an INVALID_ARGUMENT's bad-request details.
pub fn bad_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), StatusCode::InvalidArgument, "{status:?}");
    let bad_request = status.get_details_bad_request().expect("INVALID_ARGUMENT carries BadRequest details");
    bad_request.field_violations.into_iter().map(|violation| violation.field).collect()
}

/// The rule named by a FAILED_PRECONDITION's details.
pub fn broken_rule(status: &Status) -> String {
    assert_eq!(status.code(), StatusCode::FailedPrecondition, "{status:?}");
    let failure = status.get_details_precondition_failure().expect("carries PreconditionFailure details");
    failure.violations.first().map(|violation| violation.r#type.clone()).unwrap_or_default()
}

pub type Client = FamilyServiceClient<Channel>;

/// A second instance of the families service on the harness's store, with its own read models
/// (written anew from the streams), and a client of it.
pub async fn second_instance(harness: &Harness) -> anyhow::Result<(Served, Client)> {
    let guard = luukku_app::Guard::start(harness.store.clone());
    guard.relations().ready().await?;
    let routes = luukku_families::routes(harness.store.clone(), harness.keys.clone(), guard).await;
    let served = serve_routes(routes).await?;
    let client = Client::connect(served.url()).await?;
    Ok((served, client))
}

/// A date `days` from today in Finland, as the service counts days.
pub fn in_days(days: i64) -> String {
    let today = luukku_app::context_now().today;
    today.checked_add(jiff::Span::new().days(days)).expect("date in range").to_string()
}

/// Waits until the harness's service has completed an erasure just made (it deletes the key
/// again a moment after the call did), so that a test may put the key back.
pub async fn settle_erasures() {
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}
