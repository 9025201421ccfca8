//! `luukku.coordination.v1.CoordinationService`: each call decodes its request, calls the
//! application and encodes the answer.

pub mod admin;
mod decode;
mod encode;

use std::num::NonZeroUsize;
use std::sync::Arc;

use luukku_app::Guard;
use luukku_domain::access::{Action, Scope, Target};
use luukku_domain::contacts::ContactPersonId;
use luukku_domain::family::{FamilyId, MemberId};
use luukku_domain::identity_code::IdentityCode;
use luukku_eventstore::KeyStore;
use luukku_eventstore::Position;
use luukku_eventstore::audit::ReportQuery;
use luukku_grpc::decode::page_size;
use luukku_grpc::paging::{Snapshots, page};
use luukku_grpc::{Decoder, caller, check, status};
use luukku_proto::coordination::v1 as pb;
use luukku_proto::coordination::v1::coordination_service_server::CoordinationService;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::app::timeline::TimelineCursor;
use crate::app::{Coordination, Query, SearchIn, shape};
use crate::projection::search;

/// A timeline page's default and largest size.
const PAGE: (usize, usize) = (50, 500);

pub struct CoordinationGrpc<K> {
    app: Arc<Coordination<K>>,
    guard: Guard,
    /// The order of each caseload's first page, for its later pages.
    caseload_pages: Snapshots,
}

/// Caseload orders kept for later pages, at most.
const CASELOAD_ORDERS: NonZeroUsize = NonZeroUsize::new(4096).expect("non-zero");

impl<K> CoordinationGrpc<K> {
    pub fn new(app: Arc<Coordination<K>>, guard: Guard) -> Self {
        Self { app, guard, caseload_pages: Snapshots::new(CASELOAD_ORDERS) }
    }

    /// The contact person the caller is registered as: `NOT_FOUND` when none.
    async fn own_contact_person(
        &self,
        caller: &luukku_app::Caller,
    ) -> Result<Option<ContactPersonId>, Status> {
        let relations = self.guard.relations();
        relations.ready().await.map_err(status)?;
        let own = relations.contact_person_of(&caller.actor.person_id).map_err(status)?;
        own.map(Some).ok_or_else(|| {
            Status::not_found("you are not registered as a contact person; name one in contact_person_id")
        })
    }
}

type Streamed<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl<K: KeyStore + Clone> CoordinationService for CoordinationGrpc<K> {
    async fn get_family_view(
        &self,
        request: Request<pb::GetFamilyViewRequest>,
    ) -> Result<Response<pb::FamilyView>, Status> {
        let caller = caller(&request).await?;
        let mut decoder = Decoder::new();
        let family = decoder.id("family_id", &request.get_ref().family_id, FamilyId::parse);
        let wait = decode::wait(&mut decoder, &request, &request.get_ref().min_positions);
        let family = decoder.finish(|| family)?;
        let granted = check(&self.guard, &caller, Action::GetFamilyView, Target::family(family)).await?;
        let view = self.app.family_view(&caller, family, wait).await.map_err(status)?;
        let (view, withheld) = shape::view(view, &granted.scope, caller.actor.sector);
        Ok(Response::new(encode::family_view(view, &withheld)))
    }

    async fn list_caseload(
        &self,
        request: Request<pb::ListCaseloadRequest>,
    ) -> Result<Response<pb::ListCaseloadResponse>, Status> {
        let caller = caller(&request).await?;
        let mut decoder = Decoder::new();
        let person = if request.get_ref().contact_person_id.is_empty() {
            // The caller's own caseload.
            self.own_contact_person(&caller).await?
        } else {
            decoder.id("contact_person_id", &request.get_ref().contact_person_id, ContactPersonId::parse)
        };
        let wait = decode::wait(&mut decoder, &request, &request.get_ref().min_positions);
        let requested = decoder.page(request.get_ref().page_size, &request.get_ref().page_token);
        let (person, requested) = decoder.finish(|| Some((person?, requested?)))?;
        let granted = check(
            &self.guard,
            &caller,
            Action::ListCaseload,
            Target { contact_person: Some(person), ..Target::default() },
        )
        .await?;
        let families = self.app.caseload(&caller, person, wait).await.map_err(status)?;
        let actor = &caller.actor;
        let owner = format!("{}/{}/{person}", actor.system, actor.person_id);
        let id = |entry: &crate::app::view::CaseloadEntry| entry.family_id.to_string();
        let (families, next_page_token) =
            self.caseload_pages.page(&owner, families, id, decode::attention_first, &requested)?;
        let found: Vec<_> = families.iter().map(|entry| entry.family_id).collect();
        self.guard
            .record_found(&caller, Action::ListCaseload, &found, &granted.basis)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListCaseloadResponse {
            families: families.iter().map(encode::caseload_entry).collect(),
            next_page_token,
        }))
    }

    async fn get_timeline(
        &self,
        request: Request<pb::GetTimelineRequest>,
    ) -> Result<Response<pb::GetTimelineResponse>, Status> {
        let caller = caller(&request).await?;
        let message = request.get_ref();
        let mut decoder = Decoder::new();
        let family = decoder.id("family_id", &message.family_id, FamilyId::parse);
        let wait = decode::wait(&mut decoder, &request, &message.min_positions);
        let after = decoder.optional_code::<TimelineCursor>("page_token", &message.page_token);
        let (family, after) = decoder.finish(|| Some((family?, after?)))?;
        let granted = check(&self.guard, &caller, Action::GetTimeline, Target::family(family)).await?;
        let size = page_size(message.page_size, PAGE.0, PAGE.1);
        let page = self.app.timeline(&caller, family, wait, after, size).await.map_err(status)?;
        let mut page = page;
        let withheld = shape::timeline(&mut page.entries, &granted.scope);
        Ok(Response::new(encode::timeline(page, withheld)))
    }

    async fn search_families(
        &self,
        request: Request<pb::SearchFamiliesRequest>,
    ) -> Result<Response<pb::SearchFamiliesResponse>, Status> {
        let caller = caller(&request).await?;
        let message = request.get_ref();
        let mut decoder = Decoder::new();
        let by_code = !message.identity_code.trim().is_empty();
        let municipality = if message.municipality.is_empty() || by_code {
            Some(None)
        } else {
            decoder.municipality("municipality", &message.municipality).map(Some)
        };
        let code = if by_code {
            decoder.field("identity_code", IdentityCode::parse(message.identity_code.trim())).map(Some)
        } else {
            Some(None)
        };
        if !by_code && message.name.trim().is_empty() && message.municipality.is_empty() {
            decoder.bad("name", "give a name, a municipality or both, or an identity_code with a purpose");
        } else if !by_code && !message.name.trim().is_empty() && search::tokens(&message.name).is_empty() {
            decoder.bad("name", "a name to search for needs letters");
        }
        let wait = decode::wait(&mut decoder, &request, &message.min_positions);
        let requested = decoder.page(message.page_size, &message.page_token);
        let (municipality, code, requested) = decoder.finish(|| Some((municipality?, code?, requested?)))?;
        let purpose = Some(message.purpose.trim().to_owned()).filter(|purpose| !purpose.is_empty());
        let target = Target { identity_code_search: by_code, purpose, ..Target::default() };
        let granted = check(&self.guard, &caller, Action::SearchFamilies, target).await?;
        let (within, query) = match (&granted.scope, code.as_ref()) {
            (Scope::Own, _) => (SearchIn::Caseload(granted.contact_person), Query::Name(&message.name)),
            (_, Some(code)) => (SearchIn::Everywhere, Query::IdentityCode(code)),
            (_, None) => (SearchIn::Caseload(granted.contact_person), Query::Name(&message.name)),
        };
        let families =
            self.app.search(&caller, query, municipality.as_ref(), within, wait).await.map_err(status)?;
        let (families, next_page_token) = page(families, |entry| entry.family_id.to_string(), &requested);
        let found: Vec<FamilyId> = families.iter().map(|entry| entry.family_id).collect();
        self.guard
            .record_found(&caller, Action::SearchFamilies, &found, &granted.basis)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SearchFamiliesResponse {
            families: families.iter().map(encode::caseload_entry).collect(),
            next_page_token,
        }))
    }

    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::GetStatisticsResponse>, Status> {
        let caller = caller(&request).await?;
        check(&self.guard, &caller, Action::GetStatistics, Target::default()).await?;
        let figures = self.app.statistics(&caller).await.map_err(status)?;
        Ok(Response::new(encode::statistics(&figures)))
    }

    type WatchFamilyStream = Streamed<pb::FamilyChange>;

    async fn watch_family(
        &self,
        request: Request<pb::WatchFamilyRequest>,
    ) -> Result<Response<Self::WatchFamilyStream>, Status> {
        let caller = caller(&request).await?;
        let mut decoder = Decoder::new();
        let family = decoder.id("family_id", &request.get_ref().family_id, FamilyId::parse);
        let family = decoder.finish(|| family)?;
        let granted = check(&self.guard, &caller, Action::WatchFamily, Target::family(family)).await?;
        let changes = self.app.watch_family(&caller, family).await.map_err(status)?;
        // Each change is decided again: the watch ends when the relationship (a consent, a
        // pending handover, a break-glass grant) does, and follows a narrower scope.
        let guard = self.guard.clone();
        let watcher = Arc::new((caller, granted));
        let stream = ReceiverStream::new(changes).then(move |change| {
            let (guard, watcher) = (guard.clone(), Arc::clone(&watcher));
            async move {
                let (caller, granted) = &*watcher;
                let change = change.map_err(status)?;
                // Decided on facts that include the change itself.
                let positions: Vec<Position> = change
                    .entries
                    .iter()
                    .map(|entry| Position { stream: entry.stream, sequence: entry.sequence })
                    .collect();
                let scope = guard
                    .recheck_at(caller, Action::WatchFamily, granted, positions)
                    .await
                    .ok_or_else(|| {
                        Status::permission_denied(
                            "the access this watch rested on has ended; watch again to be decided anew",
                        )
                    })?;
                Ok(encode::family_change(change, &scope, caller.actor.sector))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_access_log(
        &self,
        request: Request<pb::GetAccessLogRequest>,
    ) -> Result<Response<pb::GetAccessLogResponse>, Status> {
        let caller = caller(&request).await?;
        let message = request.get_ref();
        let mut decoder = Decoder::new();
        let family = decoder.id("family_id", &message.family_id, FamilyId::parse);
        let member = decoder.optional_id("member_id", &message.member_id, MemberId::parse);
        let from = decoder.optional_moment("from", &message.from, false);
        let to = decoder.optional_moment("to", &message.to, true);
        let after = if message.page_token.is_empty() {
            Some((0, None))
        } else {
            let token = encode::access_log_token(&message.page_token);
            decoder.field("page_token", token.map(|(after, stream)| (after, Some(stream))))
        };
        let (family, member, from_ms, to_ms, (after_sequence, continues)) =
            decoder.finish(|| Some((family?, member?, from?, to?, after?)))?;
        let target = Target { member, ..Target::family(family) };
        let granted = check(&self.guard, &caller, Action::GetAccessLog, target).await?;
        // A family member sees the records of their own and their children's data.
        let members = match (granted.scope, member) {
            (Scope::Members(seen), Some(member)) => {
                Some(seen.into_iter().filter(|id| *id == member).collect())
            }
            (Scope::Members(seen), None) => Some(seen),
            (_, Some(member)) => Some(vec![member]),
            (_, None) => None,
        };
        let query = ReportQuery {
            family,
            members,
            from_ms,
            to_ms,
            after_sequence,
            page_size: page_size(message.page_size, PAGE.0, PAGE.1),
        };
        let (page, stream) = self.app.access_log(&caller, &query, continues).await.map_err(status)?;
        Ok(Response::new(encode::access_log(&page, stream)))
    }

    type WatchCaseloadStream = Streamed<pb::CaseloadChange>;

    async fn watch_caseload(
        &self,
        request: Request<pb::WatchCaseloadRequest>,
    ) -> Result<Response<Self::WatchCaseloadStream>, Status> {
        let caller = caller(&request).await?;
        let mut decoder = Decoder::new();
        let person =
            decoder.id("contact_person_id", &request.get_ref().contact_person_id, ContactPersonId::parse);
        let from = decode::wait(&mut decoder, &request, &request.get_ref().from_positions);
        let person = decoder.finish(|| person)?;
        check(
            &self.guard,
            &caller,
            Action::WatchCaseload,
            Target { contact_person: Some(person), ..Target::default() },
        )
        .await?;
        let changes = self.app.watch_caseload(&caller, person, from).await.map_err(status)?;
        let stream = ReceiverStream::new(changes)
            .map(|change| change.map(|change| encode::caseload_change(&change)).map_err(status));
        Ok(Response::new(Box::pin(stream)))
    }
}
