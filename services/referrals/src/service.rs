//! `luukku.referrals.v1.ReferralService`.

use std::sync::Arc;

use luukku_domain::contacts::assignment::Assignment;
use luukku_domain::family::{Family, FamilyId, MemberId, MemberRole, Municipality};
use luukku_domain::referrals::{
    Basis, CatalogueService, DeadlinePolicy, Referral, ReferralCommand, ReferralCreated, ReferralEvent,
    ReferralId, ReferralState, RejectReason, ServiceCommand, ServiceId, ServiceInfo, ServiceStatus,
    StatutoryBasis, Urgency,
};
use luukku_domain::sealing::Personal;
use luukku_domain::{AggregateId, Need, Sector};
use luukku_eventstore::{EventStore, KeyStore, streams};
use luukku_proto::referrals::v1 as pb;
use luukku_proto::referrals::v1::referral_service_server::ReferralService;
use luukku_proto::referrals::v1::update_referral_request::Step;
use luukku_service::follow::Followed;
use luukku_service::parse::{checked, id, list, municipality, optional_id, write};
use luukku_service::repository::{Keys, Loaded, Repository};
use luukku_service::status::failed_precondition;
use luukku_service::{Violations, caller, context_now};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::errors::{referral_status, service_status};
use crate::model::{self, State};

/// The largest page of a referral list.
const MAX_PAGE: usize = 500;

/// The pieces the service and its background process share.
pub struct Parts<K: KeyStore> {
    pub referrals: Repository<Referral, K>,
    pub catalogue: Repository<CatalogueService, K>,
    pub families: Repository<Family, K>,
    pub assignments: Repository<Assignment, K>,
    pub model: Arc<Followed<State>>,
    pub policy: DeadlinePolicy,
}

fn refuse_other(id: AggregateId, error: impl std::fmt::Display) -> Status {
    Status::internal(format!("the referrals service does not change {id}: {error}"))
}

fn referral_family(state: &Referral, events: &[ReferralEvent]) -> Option<AggregateId> {
    let created = events.iter().find_map(|event| match event {
        ReferralEvent::Created(created) => Some(created.family_id),
        _ => None,
    });
    model::family_of(state).or(created).map(Into::into)
}

impl<K: KeyStore + Clone> Parts<K> {
    pub fn new(store: EventStore, keys: K, policy: DeadlinePolicy) -> Arc<Self> {
        let referrals = streams::REFERRALS;
        Arc::new(Self {
            referrals: Repository::new(
                store.clone(),
                keys.clone(),
                referrals,
                Keys::FamilyOf(referral_family),
                referral_status,
            ),
            catalogue: Repository::new(store.clone(), keys.clone(), referrals, Keys::None, service_status),
            families: Repository::new(
                store.clone(),
                keys.clone(),
                streams::FAMILIES,
                Keys::FamilyKey,
                refuse_other,
            ),
            assignments: Repository::new(
                store.clone(),
                keys,
                streams::CONTACTS,
                Keys::FamilyKey,
                refuse_other,
            ),
            model: Followed::spawn(store, referrals.name, model::apply),
            policy,
        })
    }
}

pub struct ReferralsService<K: KeyStore> {
    parts: Arc<Parts<K>>,
}

impl<K: KeyStore> ReferralsService<K> {
    pub fn new(parts: Arc<Parts<K>>) -> Self {
        Self { parts }
    }

    async fn open_family(&self, family_id: FamilyId) -> Result<Arc<Loaded<Family>>, Status> {
        luukku_service::family::require_family(&self.parts.families, family_id, true).await
    }

    /// A catalogue service that takes referrals now.
    async fn taking(&self, service_id: ServiceId) -> Result<ServiceInfo, Status> {
        let service = self.parts.catalogue.load(service_id.into()).await?;
        let subject = format!("service/{service_id}");
        match (service.state.status, &service.state.info) {
            (ServiceStatus::Active, Some(info)) => Ok(info.clone()),
            (ServiceStatus::Paused, _) => Err(failed_precondition(
                "SERVICE_PAUSED",
                &subject,
                format!("service {service_id} is not taking referrals now"),
            )),
            (ServiceStatus::Retired, _) => Err(failed_precondition(
                "SERVICE_RETIRED",
                &subject,
                format!("service {service_id} is retired"),
            )),
            _ => Err(Status::not_found(format!("service {service_id} not found"))),
        }
    }

    async fn service_write(
        &self,
        request: Request<pb::ServiceStatusRequest>,
        command: fn(String) -> ServiceCommand,
    ) -> Result<Response<pb::ServiceWriteResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, message.expected_version, actor);
        let service_id = id(&mut violations, "service_id", &message.service_id, ServiceId::parse);
        violations.into_result()?;
        let outcome = self
            .parts
            .catalogue
            .execute(checked(service_id)?.into(), &checked(write)?, &command(message.reason), false)
            .await?;
        Ok(Response::new(pb::ServiceWriteResponse { result: Some(outcome.result) }))
    }
}

fn info(violations: &mut Violations, input: Option<&pb::ServiceInfo>) -> Option<ServiceInfo> {
    let Some(input) = input else {
        violations.add("info", "is required");
        return None;
    };
    let sector = violations.check("info.sector", input.sector.parse::<Sector>());
    let min_age = violations.check("info.min_age", u8::try_from(input.min_age));
    let max_age = violations.check("info.max_age", u8::try_from(input.max_age));
    let needs = list(violations, "info.needs", &input.needs, str::parse::<Need>);
    let municipalities = list(violations, "info.municipalities", &input.municipalities, Municipality::parse);
    Some(ServiceInfo {
        provider: input.provider.trim().to_owned(),
        sector: sector?,
        name: input.name.trim().to_owned(),
        description: input.description.trim().to_owned(),
        min_age: min_age?,
        max_age: max_age?,
        needs,
        municipalities,
        low_threshold: input.low_threshold,
        contact: input.contact.trim().to_owned(),
    })
}

fn code<T>(
    violations: &mut Violations,
    field: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
    known: &str,
) -> Option<T> {
    let parsed = parse(value);
    if parsed.is_none() {
        violations.add(field, format!("{value:?} is not one of {known}"));
    }
    parsed
}

#[tonic::async_trait]
impl<K: KeyStore + Clone> ReferralService for ReferralsService<K> {
    async fn register_service(
        &self,
        request: Request<pb::RegisterServiceRequest>,
    ) -> Result<Response<pb::RegisterServiceResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, None, actor);
        let service_id = optional_id(
            &mut violations,
            "service_id",
            &message.service_id,
            ServiceId::parse,
            ServiceId::generate,
        );
        let info = info(&mut violations, message.info.as_ref());
        violations.into_result()?;
        let command = ServiceCommand::Register(checked(info)?);
        let outcome = self
            .parts
            .catalogue
            .execute(checked(service_id)?.into(), &checked(write)?, &command, true)
            .await?;
        Ok(Response::new(pb::RegisterServiceResponse {
            result: Some(outcome.result),
            service_id: outcome.id.to_string(),
        }))
    }

    async fn update_service(
        &self,
        request: Request<pb::UpdateServiceRequest>,
    ) -> Result<Response<pb::ServiceWriteResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, message.expected_version, actor);
        let service_id = id(&mut violations, "service_id", &message.service_id, ServiceId::parse);
        let info = info(&mut violations, message.info.as_ref());
        violations.into_result()?;
        let command = ServiceCommand::Update(checked(info)?);
        let outcome = self
            .parts
            .catalogue
            .execute(checked(service_id)?.into(), &checked(write)?, &command, false)
            .await?;
        Ok(Response::new(pb::ServiceWriteResponse { result: Some(outcome.result) }))
    }

    async fn pause_service(
        &self,
        request: Request<pb::ServiceStatusRequest>,
    ) -> Result<Response<pb::ServiceWriteResponse>, Status> {
        self.service_write(request, |reason| ServiceCommand::Pause { reason }).await
    }

    async fn resume_service(
        &self,
        request: Request<pb::ServiceStatusRequest>,
    ) -> Result<Response<pb::ServiceWriteResponse>, Status> {
        self.service_write(request, |_| ServiceCommand::Resume).await
    }

    async fn retire_service(
        &self,
        request: Request<pb::ServiceStatusRequest>,
    ) -> Result<Response<pb::ServiceWriteResponse>, Status> {
        self.service_write(request, |reason| ServiceCommand::Retire { reason }).await
    }

    async fn search_services(
        &self,
        request: Request<pb::SearchServicesRequest>,
    ) -> Result<Response<pb::SearchServicesResponse>, Status> {
        caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let sector = (!message.sector.is_empty())
            .then(|| violations.check("sector", message.sector.parse::<Sector>()))
            .flatten();
        let need = (!message.need.is_empty())
            .then(|| violations.check("need", message.need.parse::<Need>()))
            .flatten();
        let age = message.age.and_then(|age| violations.check("age", u8::try_from(age)));
        let place = (!message.municipality.is_empty())
            .then(|| municipality(&mut violations, "municipality", &message.municipality))
            .flatten();
        violations.into_result()?;
        self.parts.model.caught_up(self.parts.catalogue.store()).await?;
        let mut services: Vec<pb::Service> = self.parts.model.read(|state| {
            state
                .services
                .iter()
                .filter(|(_, service)| match &service.info {
                    Some(info) => {
                        service.status != ServiceStatus::Retired
                            && (!message.taking_referrals || service.status == ServiceStatus::Active)
                            && sector.is_none_or(|sector| info.sector == sector)
                            && info.serves(age, need, place.as_ref())
                    }
                    None => false,
                })
                .map(|(id, service)| convert::service_pb(*id, service))
                .collect()
        });
        services.sort_by(|a, b| a.info.as_ref().map(|i| &i.name).cmp(&b.info.as_ref().map(|i| &i.name)));
        Ok(Response::new(pb::SearchServicesResponse { services }))
    }

    async fn create_referral(
        &self,
        request: Request<pb::CreateReferralRequest>,
    ) -> Result<Response<pb::CreateReferralResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, None, actor);
        let referral_id = optional_id(
            &mut violations,
            "referral_id",
            &message.referral_id,
            ReferralId::parse,
            ReferralId::generate,
        );
        let family_id = id(&mut violations, "family_id", &message.family_id, FamilyId::parse);
        let child = if message.child_member_id.is_empty() {
            Some(None)
        } else {
            id(&mut violations, "child_member_id", &message.child_member_id, MemberId::parse).map(Some)
        };
        let service_id = id(&mut violations, "service_id", &message.service_id, ServiceId::parse);
        let needs = list(&mut violations, "needs", &message.needs, str::parse::<Need>);
        let urgency = code(
            &mut violations,
            "urgency",
            &message.urgency,
            |v| match v {
                "urgent" => Some(Urgency::Urgent),
                "normal" => Some(Urgency::Normal),
                _ => None,
            },
            "urgent, normal",
        );
        let statutory = match &message.statutory_basis {
            Some(basis) => code(
                &mut violations,
                "statutory_basis.basis",
                &basis.basis,
                StatutoryBasis::from_code,
                "child_protection_notification, child_protection_investigation, emergency, other_law",
            )
            .map(|code| Some((code, basis.note.clone()))),
            None => Some(None),
        };
        violations.into_result()?;
        let (write, referral_id, family_id, child, service_id, urgency, statutory) = (
            checked(write)?,
            checked(referral_id)?,
            checked(family_id)?,
            checked(child)?,
            checked(service_id)?,
            checked(urgency)?,
            checked(statutory)?,
        );
        let family = self.open_family(family_id).await?;
        if let Some(child) = child
            && family.state.members.get(&child).is_none_or(|member| member.role != MemberRole::Child)
        {
            let mut violations = Violations::new();
            violations.add("child_member_id", format!("{child} is not a child of family {family_id}"));
            violations.into_result()?;
        }
        let service = self.taking(service_id).await?;
        let context = context_now();
        let basis = match statutory {
            Some((basis, note)) => Basis::Statutory { basis, note: Personal::Plain(note.trim().to_owned()) },
            None => match family.state.consent_covering(service.sector, child, context.today) {
                Some(consent_id) => Basis::Consent(consent_id),
                None => {
                    return Err(failed_precondition(
                        "NO_CONSENT",
                        &format!("family/{family_id}"),
                        format!(
                            "no consent of family {family_id} in force covers sector {}; record one with \
                                 GrantConsent, or give the statutory basis",
                            service.sector.as_code()
                        ),
                    ));
                }
            },
        };
        let contact_person = self.parts.assignments.load(family_id.into()).await?.state.current;
        let created = ReferralCreated {
            family_id,
            child,
            service_id,
            sector: service.sector,
            needs,
            urgency,
            reason: Personal::Plain(message.reason.trim().to_owned()),
            basis,
            sent_at: context.now,
            deadline: self.parts.policy.deadline(
                urgency,
                context.now,
                &luukku_service::clock::finnish_zone(),
            ),
            contact_person,
        };
        let command = ReferralCommand::Create(Box::new(created));
        let outcome = self.parts.referrals.execute(referral_id.into(), &write, &command, true).await?;
        let referral_id = ReferralId::from_ulid(outcome.id.as_ulid());
        let (consent_id, deadline_ms) = match outcome.events.first() {
            Some(ReferralEvent::Created(created)) => (
                match created.basis {
                    Basis::Consent(consent) => consent.to_string(),
                    Basis::Statutory { .. } => String::new(),
                },
                created.deadline.as_millis(),
            ),
            _ => (String::new(), 0),
        };
        self.parts.model.caught_up(self.parts.referrals.store()).await?;
        let possible_duplicates = self.parts.model.read(|state| {
            state
                .referrals
                .iter()
                .filter(|(other, referral)| {
                    **other != referral_id
                        && referral.state.is_some_and(ReferralState::is_open)
                        && referral.service_id == Some(service_id)
                        && referral
                            .created
                            .as_ref()
                            .is_some_and(|c| c.family_id == family_id && c.child == child)
                })
                .map(|(other, _)| other.to_string())
                .collect()
        });
        Ok(Response::new(pb::CreateReferralResponse {
            result: Some(outcome.result),
            referral_id: referral_id.to_string(),
            consent_id,
            deadline_ms,
            possible_duplicates,
        }))
    }

    async fn update_referral(
        &self,
        request: Request<pb::UpdateReferralRequest>,
    ) -> Result<Response<pb::UpdateReferralResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, message.expected_version, actor);
        let referral_id = id(&mut violations, "referral_id", &message.referral_id, ReferralId::parse);
        let redirect_to = match &message.step {
            Some(Step::Redirect(redirect)) => {
                id(&mut violations, "redirect.service_id", &redirect.service_id, ServiceId::parse)
            }
            _ => None,
        };
        let reject_reason = match &message.step {
            Some(Step::Reject(reject)) => code(
                &mut violations,
                "reject.reason",
                &reject.reason,
                RejectReason::from_code,
                "no_capacity, not_eligible, referred_elsewhere, family_declined",
            ),
            _ => None,
        };
        if message.step.is_none() {
            violations.add("step", "name the step: receive, accept, reject, start, complete, fail, hold, resume, cancel or redirect");
        }
        violations.into_result()?;
        let (write, referral_id) = (checked(write)?, checked(referral_id)?);
        let command = match message.step {
            Some(Step::Receive(_)) => ReferralCommand::Receive,
            Some(Step::Accept(_)) => ReferralCommand::Accept,
            Some(Step::Reject(reject)) => {
                ReferralCommand::Reject { reason: checked(reject_reason)?, note: reject.note }
            }
            Some(Step::Start(_)) => ReferralCommand::Start,
            Some(Step::Complete(note)) => ReferralCommand::Complete { outcome: note.note },
            Some(Step::Fail(note)) => ReferralCommand::Fail { note: note.note },
            Some(Step::Hold(note)) => ReferralCommand::Hold { note: note.note },
            Some(Step::Resume(_)) => ReferralCommand::Resume,
            Some(Step::Cancel(note)) => ReferralCommand::Cancel { note: note.note },
            Some(Step::Redirect(redirect)) => {
                let service_id = checked(redirect_to)?;
                let current = self.parts.referrals.load(referral_id.into()).await?;
                let urgency =
                    current.state.created.as_ref().map_or(Urgency::Normal, |created| created.urgency);
                let sector = if current.written_by(&write.request_id).is_some() {
                    current.state.sector.unwrap_or(Sector::Other)
                } else {
                    self.taking(service_id).await?.sector
                };
                let deadline = self.parts.policy.deadline(
                    urgency,
                    context_now().now,
                    &luukku_service::clock::finnish_zone(),
                );
                ReferralCommand::Redirect { service_id, sector, note: redirect.note, deadline }
            }
            None => return Err(Status::invalid_argument("no step")),
        };
        let outcome = self.parts.referrals.execute(referral_id.into(), &write, &command, false).await?;
        let state = self.parts.referrals.load(referral_id.into()).await?.state.state;
        Ok(Response::new(pb::UpdateReferralResponse {
            result: Some(outcome.result),
            state: state.map(|state| state.as_code().to_owned()).unwrap_or_default(),
        }))
    }

    async fn get_referral(
        &self,
        request: Request<pb::GetReferralRequest>,
    ) -> Result<Response<pb::GetReferralResponse>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let referral_id =
            id(&mut violations, "referral_id", &request.get_ref().referral_id, ReferralId::parse);
        violations.into_result()?;
        let referral_id = checked(referral_id)?;
        let loaded = self.parts.referrals.load(referral_id.into()).await?;
        if loaded.state.created.is_none() {
            return Err(Status::not_found(format!("referral {referral_id} not found")));
        }
        Ok(Response::new(pb::GetReferralResponse {
            referral: Some(convert::referral_pb(referral_id, &loaded, context_now().now)),
            history: loaded
                .entries
                .iter()
                .map(|entry| luukku_service::parse::history_entry(entry, convert::summary))
                .collect(),
        }))
    }

    async fn list_referrals(
        &self,
        request: Request<pb::ListReferralsRequest>,
    ) -> Result<Response<pb::ListReferralsResponse>, Status> {
        caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let sector = (!message.sector.is_empty())
            .then(|| violations.check("sector", message.sector.parse::<Sector>()))
            .flatten();
        let person = (!message.contact_person_id.is_empty())
            .then(|| {
                id(
                    &mut violations,
                    "contact_person_id",
                    &message.contact_person_id,
                    luukku_domain::contacts::ContactPersonId::parse,
                )
            })
            .flatten();
        let family = (!message.family_id.is_empty())
            .then(|| id(&mut violations, "family_id", &message.family_id, FamilyId::parse))
            .flatten();
        let states: Vec<ReferralState> = message
            .states
            .iter()
            .enumerate()
            .filter_map(|(index, state)| {
                let parsed = ReferralState::from_code(state);
                if parsed.is_none() {
                    violations.add(format!("states[{index}]"), format!("{state:?} is not a referral state"));
                }
                parsed
            })
            .collect();
        if message.sector.is_empty() && message.contact_person_id.is_empty() && message.family_id.is_empty() {
            violations.add("sector", "name a sector, a contact person or a family");
        }
        let after = (!message.page_token.is_empty())
            .then(|| id(&mut violations, "page_token", &message.page_token, ReferralId::parse))
            .flatten();
        violations.into_result()?;
        let page_size = match usize::try_from(message.page_size).unwrap_or(MAX_PAGE) {
            0 => MAX_PAGE,
            size => size.min(MAX_PAGE),
        };
        self.parts.model.caught_up(self.parts.referrals.store()).await?;
        let mut matching: Vec<(i64, ReferralId)> = self.parts.model.read(|state| {
            state
                .referrals
                .iter()
                .filter_map(|(id, referral)| {
                    let created = referral.created.as_ref()?;
                    let wanted = sector.is_none_or(|sector| referral.sector == Some(sector))
                        && person.is_none_or(|person| created.contact_person == Some(person))
                        && family.is_none_or(|family| created.family_id == family)
                        && (states.is_empty() || referral.state.is_some_and(|state| states.contains(&state)))
                        && (!message.overdue_only || referral.overdue);
                    wanted.then_some((created.sent_at.as_millis(), *id))
                })
                .collect()
        });
        matching.sort();
        let start = match after {
            Some(after) => {
                matching.iter().position(|(_, id)| *id == after).map_or(matching.len(), |at| at + 1)
            }
            None => 0,
        };
        let page: Vec<ReferralId> = matching.iter().skip(start).take(page_size).map(|(_, id)| *id).collect();
        let next_page_token = if start + page.len() < matching.len() {
            page.last().map(ToString::to_string).unwrap_or_default()
        } else {
            String::new()
        };
        let now = context_now().now;
        let mut referrals = Vec::with_capacity(page.len());
        for referral_id in page {
            let loaded = self.parts.referrals.load(referral_id.into()).await?;
            referrals.push(convert::referral_pb(referral_id, &loaded, now));
        }
        Ok(Response::new(pb::ListReferralsResponse { referrals, next_page_token }))
    }
}
