use futures::TryStreamExt;
use luukku_domain::{Actor, RequestId};
use luukku_eventstore::{EventStore, NatsKeyStore, ReadOptions};
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::contacts::v1::contact_service_client::ContactServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_proto::referrals::v1 as pb;
use luukku_proto::referrals::v1::referral_service_client::ReferralServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::auth::with_identity;
pub use luukku_testkit::eventually;
use luukku_testkit::grpc::{Served, serve_routes};
use tonic::transport::Channel;
use tonic::{Code as StatusCode, Status};
use tonic_types::StatusExt;

pub struct Harness {
    pub referrals: ReferralServiceClient<Channel>,
    pub families: FamilyServiceClient<Channel>,
    pub contacts: ContactServiceClient<Channel>,
    pub store: EventStore,
    pub keys: NatsKeyStore,
    pub actor: Actor,
    pub process: Option<luukku_referrals::Process>,
    _caseloads: luukku_contacts::Process,
    _served: Vec<Served>,
    _nats: TestNats,
}

pub fn request_id() -> String {
    RequestId::generate().to_string()
}

pub struct Family {
    pub id: String,
    pub guardian: String,
    pub child: String,
}

impl Harness {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(luukku_referrals::Config {
            tick: std::time::Duration::from_millis(100),
            ..Default::default()
        })
        .await
    }

    pub async fn start_with(config: luukku_referrals::Config) -> anyhow::Result<Self> {
        let nats = TestNats::start().await?;
        let store = nats.store().await?;
        let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
        let families = serve_routes(
            luukku_families::routes(store.clone(), keys.clone(), luukku_app::Guard::start(store.clone()))
                .await,
        )
        .await?;
        let (contact_routes, caseloads) = luukku_contacts::start(
            store.clone(),
            keys.clone(),
            luukku_contacts::Config::default(),
            luukku_app::Guard::start(store.clone()),
        )
        .await;
        let contacts = serve_routes(contact_routes).await?;
        let (routes, process) = luukku_referrals::start(
            store.clone(),
            keys.clone(),
            config,
            luukku_app::Guard::start(store.clone()),
        )
        .await;
        let referrals = serve_routes(routes).await?;
        Ok(Self {
            referrals: ReferralServiceClient::connect(referrals.url()).await?,
            families: FamilyServiceClient::connect(families.url()).await?,
            contacts: ContactServiceClient::connect(contacts.url()).await?,
            store,
            keys,
            actor: luukku_testkit::actor(),
            process: Some(process),
            _caseloads: caseloads,
            _served: vec![families, contacts, referrals],
            _nats: nats,
        })
    }

    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        with_identity(message, &self.actor)
    }

    pub fn call_as<T>(&self, actor: &Actor, message: T) -> tonic::Request<T> {
        with_identity(message, actor)
    }

    /// A request made by the contact persons' supervisor, who also keeps the catalogue.
    pub fn as_supervisor<T>(&self, message: T) -> tonic::Request<T> {
        with_identity(message, &luukku_testkit::supervisor())
    }

    /// A request made by a professional of `sector` (a sector code).
    pub fn as_sector<T>(&self, sector: &str, message: T) -> tonic::Request<T> {
        with_identity(message, &sector_worker(sector))
    }

    /// The test family, with a consent of the guardian for `sectors`.
    pub async fn family(&mut self, sectors: &[&str]) -> anyhow::Result<(Family, String)> {
        let request = luukku_testkit::fixtures::registration_request(&request_id(), "Virtanen");
        let registered = self.families.register_family(self.call(request)).await?.into_inner();
        let family = Family {
            id: registered.family_id,
            guardian: registered.member_ids[0].clone(),
            child: registered.member_ids[1].clone(),
        };
        let mut consent_id = String::new();
        if !sectors.is_empty() {
            let grant = families::GrantConsentRequest {
                signed_form: "consent-form-1".into(),
                request_id: request_id(),
                family_id: family.id.clone(),
                given_by: family.guardian.clone(),
                sectors: sectors.iter().map(|s| (*s).to_owned()).collect(),
                purpose: "help for Eero".to_owned(),
                valid_until: "2099-12-31".to_owned(),
                ..Default::default()
            };
            consent_id = self.families.grant_consent(self.call(grant)).await?.into_inner().consent_id;
        }
        Ok((family, consent_id))
    }

    pub async fn service(&mut self, sector: &str, name: &str) -> anyhow::Result<String> {
        let request = pb::RegisterServiceRequest {
            request_id: request_id(),
            service_id: String::new(),
            info: Some(info(sector, name)),
        };
        Ok(self.referrals.register_service(self.as_supervisor(request)).await?.into_inner().service_id)
    }

    pub async fn refer(
        &mut self,
        family: &Family,
        service_id: &str,
    ) -> Result<pb::CreateReferralResponse, Status> {
        let request = referral(family, service_id);
        Ok(self.referrals.create_referral(self.call(request)).await?.into_inner())
    }

    pub async fn step(
        &mut self,
        referral_id: &str,
        step: pb::update_referral_request::Step,
    ) -> Result<String, Status> {
        let request = pb::UpdateReferralRequest {
            request_id: request_id(),
            referral_id: referral_id.to_owned(),
            expected_version: None,
            step: Some(step),
        };
        // The receiving sector takes every step but a cancellation, which is the sender's.
        let request = match request.step {
            Some(pb::update_referral_request::Step::Cancel(_)) => self.call(request),
            _ => {
                let sector =
                    self.get(referral_id).await.map_err(|error| Status::internal(error.to_string()))?;
                self.as_sector(&sector.referral.map(|r| r.sector).unwrap_or_default(), request)
            }
        };
        Ok(self.referrals.update_referral(request).await?.into_inner().state)
    }

    pub async fn get(&mut self, referral_id: &str) -> anyhow::Result<pb::GetReferralResponse> {
        let request = pb::GetReferralRequest { referral_id: referral_id.to_owned() };
        Ok(self.referrals.get_referral(self.call(request)).await?.into_inner())
    }

    /// How many events of `event_type` the REFERRALS stream holds.
    pub async fn events_of_type(&self, event_type: &str) -> anyhow::Result<usize> {
        let messages: Vec<_> = self
            .store
            .read(luukku_eventstore::Stream::Referrals, ReadOptions::default())
            .await?
            .try_collect()
            .await?;
        Ok(messages.iter().flat_map(|m| &m.envelope.events).filter(|e| e.event_type == event_type).count())
    }

    pub async fn contact_person(&mut self, family_id: &str) -> anyhow::Result<String> {
        let register = contacts::RegisterContactPersonRequest {
            request_id: request_id(),
            contact_person_id: String::new(),
            profile: Some(contacts::ContactPersonProfile {
                person_id: "anna.contact".to_owned(),
                name: "Anna".to_owned(),
                organisation: "0201256-6".to_owned(),
                sector: "family_social_services".to_owned(),
                municipalities: vec![],
                languages: vec![],
                caseload_limit: 10,
            }),
        };
        let id = self
            .contacts
            .register_contact_person(self.as_supervisor(register))
            .await?
            .into_inner()
            .contact_person_id;
        let assign = contacts::AssignContactPersonRequest {
            request_id: request_id(),
            family_id: family_id.to_owned(),
            expected_version: None,
            contact_person_id: id.clone(),
            reason: String::new(),
        };
        self.contacts.assign_contact_person(self.as_supervisor(assign)).await?;
        // From now on the harness acts as the family's contact person.
        self.actor = luukku_testkit::actor_named("anna.contact");
        Ok(id)
    }
}

pub fn info(sector: &str, name: &str) -> pb::ServiceInfo {
    pb::ServiceInfo {
        provider: "City of Helsinki".to_owned(),
        sector: sector.to_owned(),
        name: name.to_owned(),
        description: "Support for children and families".to_owned(),
        min_age: 6,
        max_age: 17,
        needs: vec!["mental_health".to_owned(), "learning".to_owned()],
        municipalities: vec!["091".to_owned()],
        low_threshold: false,
        contact: "+358 9 310 00000".to_owned(),
    }
}

pub fn referral(family: &Family, service_id: &str) -> pb::CreateReferralRequest {
    pb::CreateReferralRequest {
        request_id: request_id(),
        referral_id: String::new(),
        family_id: family.id.clone(),
        child_member_id: family.child.clone(),
        service_id: service_id.to_owned(),
        needs: vec!["mental_health".to_owned()],
        urgency: "normal".to_owned(),
        reason: "Eero has panic attacks before school".to_owned(),
        statutory_basis: None,
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

/// A professional of `sector` (a sector code).
pub fn sector_worker(sector: &str) -> Actor {
    let sector = sector.parse().unwrap_or_else(|error| panic!("test sector: {error}"));
    luukku_testkit::professional("sector.worker", sector)
}
