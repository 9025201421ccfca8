use std::path::Path;
use std::sync::Arc;

use luukku_coordination::Projection;
use luukku_domain::{Actor, RequestId};
use luukku_eventstore::{Checkpoints, EventStore, NatsKeyStore, Stream};
use luukku_proto::common::v1 as common;
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::contacts::v1::contact_service_client::ContactServiceClient;
use luukku_proto::coordination::v1::coordination_admin_client::CoordinationAdminClient;
use luukku_proto::coordination::v1::coordination_service_client::CoordinationServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_proto::meetings::v1::meeting_service_client::MeetingServiceClient;
use luukku_proto::referrals::v1 as referrals;
use luukku_proto::referrals::v1::referral_service_client::ReferralServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::auth::with_identity;
use luukku_testkit::grpc::{Served, serve_routes};
use tonic::transport::Channel;

/// Every service over one nats-server, the coordination projection in a temporary folder.
pub struct Harness {
    pub families: FamilyServiceClient<Channel>,
    pub contacts: ContactServiceClient<Channel>,
    pub referrals: ReferralServiceClient<Channel>,
    pub meetings: MeetingServiceClient<Channel>,
    pub coordination: CoordinationServiceClient<Channel>,
    pub admin: CoordinationAdminClient<Channel>,
    pub projection: Arc<Projection>,
    /// How many watches the coordination service holds open.
    pub open_watches: Arc<dyn Fn() -> usize + Send + Sync>,
    pub store: EventStore,
    /// The family keys, as the services read them.
    pub keys: NatsKeyStore,
    pub actor: Actor,
    /// The person id each registered contact person signs in with.
    persons: std::collections::HashMap<String, String>,
    _folder: tempfile::TempDir,
    /// The referral and caseload processes, which append on timers of their own.
    processes: Option<(luukku_referrals::Process, luukku_contacts::Process)>,
    _served: Vec<Served>,
    pub nats: TestNats,
}

/// Where a write's events sit.
pub fn position(result: Option<common::WriteResult>) -> common::Position {
    result.and_then(|r| r.position).expect("a write gives its position")
}

pub fn request_id() -> String {
    RequestId::generate().to_string()
}

impl Harness {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(luukku_coordination::WatchLimits::default()).await
    }

    /// The harness with `watches` as the coordination service's watch limits.
    pub async fn start_with(watches: luukku_coordination::WatchLimits) -> anyhow::Result<Self> {
        let nats = TestNats::start().await?;
        let store = nats.store().await?;
        let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
        let folder = tempfile::Builder::new().prefix("luukku-projection-").tempdir()?;
        let (referral_routes, process) = luukku_referrals::start(
            store.clone(),
            keys.clone(),
            luukku_referrals::Config::default(),
            luukku_app::Guard::start(store.clone()),
        )
        .await;
        let coordination = luukku_coordination::start_with(
            folder.path(),
            store.clone(),
            luukku_coordination::cached_keys(keys.clone()),
            luukku_app::Guard::start(store.clone()),
            watches,
        )
        .await?;
        let (contact_routes, caseloads) = luukku_contacts::start(
            store.clone(),
            keys.clone(),
            luukku_contacts::Config::default(),
            luukku_app::Guard::start(store.clone()),
        )
        .await;
        let served = vec![
            serve_routes(
                luukku_families::routes(store.clone(), keys.clone(), luukku_app::Guard::start(store.clone()))
                    .await,
            )
            .await?,
            serve_routes(contact_routes).await?,
            serve_routes(referral_routes).await?,
            serve_routes(
                luukku_meetings::routes(store.clone(), keys.clone(), luukku_app::Guard::start(store.clone()))
                    .await,
            )
            .await?,
            serve_routes(coordination.routes).await?,
            serve_routes(coordination.admin).await?,
        ];
        Ok(Self {
            families: FamilyServiceClient::connect(served[0].url()).await?,
            contacts: ContactServiceClient::connect(served[1].url()).await?,
            referrals: ReferralServiceClient::connect(served[2].url()).await?,
            meetings: MeetingServiceClient::connect(served[3].url()).await?,
            coordination: CoordinationServiceClient::connect(served[4].url()).await?,
            admin: CoordinationAdminClient::connect(served[5].url()).await?,
            projection: coordination.projection,
            open_watches: coordination.open_watches,
            store,
            keys,
            actor: luukku_testkit::actor(),
            persons: std::collections::HashMap::new(),
            _folder: folder,
            processes: Some((process, caseloads)),
            _served: served,
            nats,
        })
    }

    /// Stops the referral and caseload processes. Their escalations and repairs append on
    /// timers of their own, so a test that measures where the streams end and waits for a
    /// projection to reach exactly there stops them before it writes anything: a process
    /// stopped while it writes may still land that write.
    pub fn stop_processes(&mut self) {
        self.processes = None;
    }

    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        with_identity(message, &self.actor)
    }

    /// The health status the coordination service gives for `service` ("" for the server).
    pub async fn health(&self, service: &str) -> anyhow::Result<i32> {
        let channel = tonic::transport::Endpoint::from_shared(self._served[4].url())?.connect().await?;
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let request = tonic_health::pb::HealthCheckRequest { service: service.to_owned() };
        Ok(client.check(request).await?.into_inner().status)
    }

    pub fn call_as<T>(&self, actor: &Actor, message: T) -> tonic::Request<T> {
        with_identity(message, actor)
    }

    /// A request made by the contact persons' supervisor, who also keeps the catalogue.
    pub fn as_supervisor<T>(&self, message: T) -> tonic::Request<T> {
        with_identity(message, &luukku_testkit::supervisor())
    }

    /// The test family (a guardian and two children) under `family_name`; gives the ids and
    /// the write's position.
    pub async fn family(
        &mut self,
        family_name: &str,
    ) -> anyhow::Result<(String, Vec<String>, common::Position)> {
        let request = luukku_testkit::fixtures::registration_request(&request_id(), family_name);
        let response = self.families.register_family(self.call(request)).await?.into_inner();
        let position =
            response.result.and_then(|r| r.position).ok_or_else(|| anyhow::anyhow!("no position"))?;
        Ok((response.family_id, response.member_ids, position))
    }

    pub async fn move_family(
        &mut self,
        family_id: &str,
        municipality: &str,
    ) -> anyhow::Result<common::Position> {
        let request = families::ChangeMunicipalityRequest {
            request_id: request_id(),
            family_id: family_id.to_owned(),
            expected_version: None,
            municipality: municipality.to_owned(),
        };
        let response = self.families.change_municipality(self.call(request)).await?.into_inner();
        response.result.and_then(|r| r.position).ok_or_else(|| anyhow::anyhow!("no position"))
    }

    pub async fn contact_person(&mut self, person_id: &str, name: &str) -> anyhow::Result<String> {
        Ok(self.register_contact_person(person_id, name).await?.contact_person_id)
    }

    pub async fn register_contact_person(
        &mut self,
        person_id: &str,
        name: &str,
    ) -> anyhow::Result<contacts::RegisterContactPersonResponse> {
        let register = contacts::RegisterContactPersonRequest {
            request_id: request_id(),
            contact_person_id: String::new(),
            profile: Some(contacts::ContactPersonProfile {
                person_id: person_id.to_owned(),
                name: name.to_owned(),
                organisation: "0201256-6".to_owned(),
                sector: "family_social_services".to_owned(),
                municipalities: vec!["091".to_owned()],
                languages: vec!["fi".to_owned()],
                caseload_limit: 50,
            }),
        };
        let request = with_identity(register, &luukku_testkit::supervisor());
        let registered = self.contacts.register_contact_person(request).await?.into_inner();
        self.persons.insert(registered.contact_person_id.clone(), person_id.to_owned());
        Ok(registered)
    }

    pub async fn assign(&mut self, family_id: &str, person: &str) -> anyhow::Result<common::Position> {
        let assign = contacts::AssignContactPersonRequest {
            request_id: request_id(),
            family_id: family_id.to_owned(),
            expected_version: None,
            contact_person_id: person.to_owned(),
            reason: String::new(),
        };
        let request = with_identity(assign, &luukku_testkit::supervisor());
        let response = self.contacts.assign_contact_person(request).await?.into_inner();
        // From now on the harness acts as the family's contact person.
        if let Some(code) = self.persons.get(person) {
            self.actor = luukku_testkit::actor_named(code);
        }
        response.result.and_then(|r| r.position).ok_or_else(|| anyhow::anyhow!("no position"))
    }

    /// Hands the family over to `person` (registered by this harness): the supervisor proposes,
    /// the receiver accepts. From then on the harness acts as the receiver.
    pub async fn hand_over(&mut self, family_id: &str, person: &str) -> anyhow::Result<common::Position> {
        let propose = contacts::AssignContactPersonRequest {
            request_id: request_id(),
            family_id: family_id.to_owned(),
            expected_version: None,
            contact_person_id: person.to_owned(),
            reason: "caseload".to_owned(),
        };
        let request = with_identity(propose, &luukku_testkit::supervisor());
        let proposed = self.contacts.assign_contact_person(request).await?.into_inner();
        anyhow::ensure!(!proposed.assigned, "assigned at once: the family had no contact person");
        let code =
            self.persons.get(person).ok_or_else(|| anyhow::anyhow!("{person} is not registered here"))?;
        let receiver = luukku_testkit::actor_named(code);
        let accept = contacts::HandoverDecisionRequest {
            request_id: request_id(),
            family_id: family_id.to_owned(),
            handover_id: proposed.handover_id,
            ..Default::default()
        };
        let accepted = self.contacts.accept_handover(with_identity(accept, &receiver)).await?.into_inner();
        self.actor = receiver;
        accepted.result.and_then(|r| r.position).ok_or_else(|| anyhow::anyhow!("no position"))
    }
}

/// Every key and value of every tree of the sled database under `folder` but `meta`, the
/// commits under way (`redo/…`) and the access log's copy (which is no projection: it holds
/// the stream's records as they are).
pub fn dump(db: &sled::Db) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut all = Vec::new();
    for name in db.tree_names() {
        if [&b"meta"[..], b"__sled__default", b"access-log"].contains(&name.as_ref())
            || name.starts_with(luukku_app::writes::REDO_PREFIX.as_bytes())
        {
            continue;
        }
        all.extend(luukku_coordination::projection::ProjectionTree::open(db, &name)?.dump()?);
    }
    Ok(all)
}

pub fn dump_folder(folder: &Path) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    dump(&sled::open(folder)?)
}

/// Waits until `projection` has reached every stream's last sequence.
pub async fn caught_up(projection: &Projection, store: &EventStore) -> anyhow::Result<()> {
    let mut targets = Checkpoints::default();
    for stream in Stream::ALL {
        targets.set(stream, store.last_sequence(stream).await?);
    }
    projection
        .wait_for(targets, std::time::Duration::from_secs(30))
        .await
        .map_err(|at| anyhow::anyhow!("projection at {at}, streams at {targets}"))
}

impl Harness {
    /// A consent given by `given_by` for `sectors`, concerning `concerns` or the whole family,
    /// recorded by the harness's actor on its signed form.
    pub async fn consent(
        &mut self,
        family_id: &str,
        given_by: &str,
        concerns: Option<&str>,
        sectors: &[&str],
    ) -> anyhow::Result<families::GrantConsentResponse> {
        let grant = families::GrantConsentRequest {
            request_id: request_id(),
            family_id: family_id.to_owned(),
            given_by: given_by.to_owned(),
            concerns_member_id: concerns.unwrap_or_default().to_owned(),
            sectors: sectors.iter().map(|sector| (*sector).to_owned()).collect(),
            purpose: "support".into(),
            valid_until: "2099-12-31".into(),
            signed_form: "consent-form-1".into(),
            ..Default::default()
        };
        Ok(self.families.grant_consent(self.call(grant)).await?.into_inner())
    }

    /// A phone call of `member`, in the contact log.
    pub async fn log_contact(
        &mut self,
        family_id: &str,
        member: &str,
        summary: &str,
    ) -> anyhow::Result<contacts::RecordContactResponse> {
        let contact = contacts::RecordContactRequest {
            request_id: request_id(),
            family_id: family_id.to_owned(),
            direction: contacts::Direction::Inbound as i32,
            member_id: member.to_owned(),
            channel: "phone".into(),
            needs: vec!["parenting".into()],
            summary: summary.to_owned(),
            ..Default::default()
        };
        Ok(self.contacts.record_contact(self.call(contact)).await?.into_inner())
    }

    /// A child-protection notification about `child` (no consent needed: the duty to notify),
    /// to an intake service the supervisor registers first.
    pub async fn notify_child_protection(
        &mut self,
        family_id: &str,
        child: &str,
        reason: &str,
    ) -> anyhow::Result<referrals::CreateReferralResponse> {
        let service = referrals::RegisterServiceRequest {
            request_id: request_id(),
            service_id: String::new(),
            info: Some(referrals::ServiceInfo {
                provider: "City".into(),
                sector: "child_protection".into(),
                name: "Child protection intake".into(),
                max_age: 17,
                needs: vec!["violence".into()],
                contact: "intake@example.fi".into(),
                ..Default::default()
            }),
        };
        let service_id =
            self.referrals.register_service(self.as_supervisor(service)).await?.into_inner().service_id;
        let notification = referrals::CreateReferralRequest {
            request_id: request_id(),
            family_id: family_id.to_owned(),
            child_member_id: child.to_owned(),
            service_id,
            needs: vec!["violence".into()],
            urgency: "urgent".into(),
            reason: reason.to_owned(),
            statutory_basis: Some(referrals::StatutoryBasis {
                basis: "child_protection_notification".into(),
                note: "the duty to notify, Child Welfare Act 25 §".into(),
            }),
            ..Default::default()
        };
        Ok(self.referrals.create_referral(self.call(notification)).await?.into_inner())
    }
}

/// An allowed, statutory read of `family`'s timeline by `actor`, as its access record says.
pub fn statutory_read(
    actor: Actor,
    family: luukku_domain::family::FamilyId,
) -> luukku_eventstore::audit::Access {
    luukku_eventstore::audit::Access {
        at: luukku_domain::Timestamp::now(),
        actor,
        rpc: "/luukku.coordination.v1.CoordinationService/GetTimeline".to_owned(),
        kind: "read".to_owned(),
        family: Some(family),
        member: None,
        parts: vec!["timeline".to_owned()],
        basis: "statutory".to_owned(),
        reason: None,
        allowed: true,
        rule: None,
    }
}
