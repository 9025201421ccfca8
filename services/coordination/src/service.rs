//! `luukku.coordination.v1.CoordinationService`.

use std::sync::Arc;
use std::time::Duration;

use luukku_domain::contacts::ContactPersonId;
use luukku_domain::family::{FamilyId, Municipality};
use luukku_eventstore::KeyStore;
use luukku_proto::common::v1 as common;
use luukku_proto::coordination::v1 as pb;
use luukku_proto::coordination::v1::coordination_service_server::CoordinationService;
use luukku_service::parse::{checked, id};
use luukku_service::{Violations, caller, context_now};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::coordination::Coordination;
use crate::doc::PersonDoc;
use crate::store::{self, STREAMS, key};
use crate::{statistics, view};

/// The longest a query waits for the projection to reach the positions it names.
const MAX_WAIT: Duration = Duration::from_secs(10);

pub struct CoordinationServiceImpl<K> {
    coordination: Arc<Coordination>,
    keys: K,
}

impl<K: KeyStore + Clone> CoordinationServiceImpl<K> {
    pub fn new(coordination: Arc<Coordination>, keys: K) -> Self {
        Self { coordination, keys }
    }
}

fn internal(error: store::ProjectionError) -> Status {
    tracing::error!(%error, "projection read failed");
    Status::internal(error.to_string())
}

/// The call's deadline from `grpc-timeout`, capped.
fn wait_limit<T>(request: &Request<T>) -> Duration {
    let parsed =
        request.metadata().get("grpc-timeout").and_then(|value| value.to_str().ok()).and_then(|value| {
            let (number, unit) = value.split_at(value.len().checked_sub(1)?);
            let number: u64 = number.parse().ok()?;
            Some(match unit {
                "H" => Duration::from_secs(number * 3600),
                "M" => Duration::from_secs(number * 60),
                "S" => Duration::from_secs(number),
                "m" => Duration::from_millis(number),
                "u" => Duration::from_micros(number),
                "n" => Duration::from_nanos(number),
                _ => return None,
            })
        });
    // Leave a little of the caller's time for the answer itself.
    parsed.map_or(MAX_WAIT, |limit| limit.mul_f64(0.9)).min(MAX_WAIT)
}

fn targets(violations: &mut Violations, positions: &[common::Position]) -> [u64; 4] {
    let mut targets = [0; 4];
    for (index, position) in positions.iter().enumerate() {
        match store::stream_index(&position.stream) {
            Some(stream) => targets[stream] = targets[stream].max(position.sequence),
            None => violations.add(
                format!("min_positions[{index}].stream"),
                format!("{:?} is not one of {}", position.stream, STREAMS.join(", ")),
            ),
        }
    }
    targets
}

impl<K: KeyStore + Clone> CoordinationServiceImpl<K> {
    /// Waits until the projection has passed `targets`, or says where it stands.
    async fn reached(&self, targets: [u64; 4], limit: Duration) -> Result<(), Status> {
        self.coordination.wait_for(targets, limit).await.map_err(|at| {
            let describe = |values: [u64; 4]| {
                STREAMS.iter().zip(values).map(|(s, v)| format!("{s} {v}")).collect::<Vec<_>>().join(", ")
            };
            Status::unavailable(format!(
                "the projection has not reached the positions asked for within {} ms: it is at {}, asked {}",
                limit.as_millis(),
                describe(at),
                describe(targets)
            ))
        })
    }

    async fn key(&self, family: FamilyId) -> Result<Option<luukku_domain::sealing::FamilyKey>, Status> {
        self.keys.get(&family.to_string()).await.map_err(luukku_service::store_status)
    }

    async fn family_view(&self, family: FamilyId) -> Result<pb::FamilyView, Status> {
        Ok(self.family_view_and_history(family).await?.0)
    }

    /// The view, and the whole history it shows the newest of.
    async fn family_view_and_history(
        &self,
        family: FamilyId,
    ) -> Result<(pb::FamilyView, Vec<crate::store::TimelineItem>), Status> {
        let tree = self.coordination.tree();
        let key = self.key(family).await?;
        let doc = view::load_family(&tree, family, key.as_ref())
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("family {family} is not in the projection")))?;
        let history =
            crate::history::history(self.coordination.store(), family, &doc).await.map_err(internal)?;
        let timeline = history.iter().take(view::RECENT).map(crate::history::entry_pb).collect();
        let view =
            view::family_view(&tree, family, &doc, &context_now(), self.coordination.positions(), timeline)
                .map_err(internal)?;
        Ok((view, history))
    }

    async fn caseload(&self, person: ContactPersonId) -> Result<Vec<pb::CaseloadEntry>, Status> {
        let tree = self.coordination.tree();
        let doc: PersonDoc = tree
            .get(key::person(person.as_ulid()))
            .map_err(|e| internal(e.into()))?
            .map(|bytes| store::decode(&bytes))
            .transpose()
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("contact person {person} is not in the projection")))?;
        let context = context_now();
        let mut entries = Vec::new();
        for family in doc.families {
            let key = self.key(family).await?;
            if let Some(family_doc) = view::load_family(&tree, family, key.as_ref()).map_err(internal)? {
                entries.push(view::caseload_entry(family, &family_doc, &context));
            }
        }
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.attention.as_ref().map(view::urgency)));
        Ok(entries)
    }
}

#[tonic::async_trait]
impl<K: KeyStore + Clone> CoordinationService for CoordinationServiceImpl<K> {
    async fn get_family_view(
        &self,
        request: Request<pb::GetFamilyViewRequest>,
    ) -> Result<Response<pb::FamilyView>, Status> {
        caller(&request)?;
        let limit = wait_limit(&request);
        let message = request.into_inner();
        let mut violations = Violations::new();
        let family = id(&mut violations, "family_id", &message.family_id, FamilyId::parse);
        let targets = targets(&mut violations, &message.min_positions);
        violations.into_result()?;
        self.reached(targets, limit).await?;
        Ok(Response::new(self.family_view(checked(family)?).await?))
    }

    async fn list_caseload(
        &self,
        request: Request<pb::ListCaseloadRequest>,
    ) -> Result<Response<pb::ListCaseloadResponse>, Status> {
        caller(&request)?;
        let limit = wait_limit(&request);
        let message = request.into_inner();
        let mut violations = Violations::new();
        let person =
            id(&mut violations, "contact_person_id", &message.contact_person_id, ContactPersonId::parse);
        let targets = targets(&mut violations, &message.min_positions);
        violations.into_result()?;
        self.reached(targets, limit).await?;
        Ok(Response::new(pb::ListCaseloadResponse { families: self.caseload(checked(person)?).await? }))
    }

    async fn get_timeline(
        &self,
        request: Request<pb::GetTimelineRequest>,
    ) -> Result<Response<pb::GetTimelineResponse>, Status> {
        caller(&request)?;
        let limit = wait_limit(&request);
        let message = request.into_inner();
        let mut violations = Violations::new();
        let family = id(&mut violations, "family_id", &message.family_id, FamilyId::parse);
        let targets = targets(&mut violations, &message.min_positions);
        let after = if message.page_token.is_empty() {
            None
        } else {
            let parsed = crate::history::parse_token(&message.page_token);
            if parsed.is_none() {
                violations.add("page_token", "is not a token this service gave");
            }
            parsed
        };
        violations.into_result()?;
        self.reached(targets, limit).await?;
        let family = checked(family)?;
        let tree = self.coordination.tree();
        let doc: crate::doc::FamilyDoc = tree
            .get(key::family(family))
            .map_err(|e| internal(e.into()))?
            .map(|bytes| store::decode(&bytes))
            .transpose()
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("family {family} is not in the projection")))?;
        let page_size = match message.page_size {
            0 => 50,
            size => usize::try_from(size).unwrap_or(500).min(500),
        };
        let history =
            crate::history::history(self.coordination.store(), family, &doc).await.map_err(internal)?;
        let remaining: Vec<_> = history
            .iter()
            .filter(|item| after.is_none_or(|after| crate::history::older_than(item, after)))
            .collect();
        let entries = remaining.iter().take(page_size).map(|item| crate::history::entry_pb(item)).collect();
        let next_page_token = if remaining.len() > page_size {
            remaining.get(page_size - 1).map(|item| crate::history::token(item)).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::GetTimelineResponse { entries, next_page_token }))
    }

    async fn search_families(
        &self,
        request: Request<pb::SearchFamiliesRequest>,
    ) -> Result<Response<pb::SearchFamiliesResponse>, Status> {
        caller(&request)?;
        let limit = wait_limit(&request);
        let message = request.into_inner();
        let mut violations = Violations::new();
        let municipality = (!message.municipality.is_empty())
            .then(|| violations.check("municipality", Municipality::parse(&message.municipality)))
            .flatten();
        let name = message.name.trim().to_lowercase();
        if name.is_empty() && municipality.is_none() {
            violations.add("name", "give a name, a municipality or both");
        }
        let targets = targets(&mut violations, &message.min_positions);
        violations.into_result()?;
        self.reached(targets, limit).await?;
        let tree = self.coordination.tree();
        let context = context_now();
        let mut families = Vec::new();
        for item in tree.scan_prefix(key::FAMILY_PREFIX) {
            let (key_bytes, value) = item.map_err(|e| internal(e.into()))?;
            let doc: crate::doc::FamilyDoc = store::decode(&value).map_err(internal)?;
            if municipality.as_ref().is_some_and(|m| m.as_str() != doc.municipality) {
                continue;
            }
            let Some(family) = key_bytes.get(1..17).and_then(|b| <[u8; 16]>::try_from(b).ok()) else {
                continue;
            };
            let family = FamilyId::from_ulid(ulid::Ulid::from_bytes(family));
            let key = self.key(family).await?;
            let Some(opened) = view::load_family(&tree, family, key.as_ref()).map_err(internal)? else {
                continue;
            };
            if !name.is_empty() && !view::names(&opened).iter().any(|n| n.to_lowercase().contains(&name)) {
                continue;
            }
            families.push(view::caseload_entry(family, &opened, &context));
        }
        Ok(Response::new(pb::SearchFamiliesResponse { families }))
    }

    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::GetStatisticsResponse>, Status> {
        caller(&request)?;
        let limit = wait_limit(&request);
        let mut violations = Violations::new();
        let targets = targets(&mut violations, &request.get_ref().min_positions);
        violations.into_result()?;
        self.reached(targets, limit).await?;
        let tree = self.coordination.tree();
        let now = context_now().now.as_millis();
        let answer = tokio::task::spawn_blocking(move || statistics::statistics(&tree, now))
            .await
            .map_err(|error| Status::internal(error.to_string()))?
            .map_err(internal)?;
        Ok(Response::new(answer))
    }

    type WatchFamilyStream = ReceiverStream<Result<pb::FamilyChange, Status>>;

    async fn watch_family(
        &self,
        request: Request<pb::WatchFamilyRequest>,
    ) -> Result<Response<Self::WatchFamilyStream>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let family = id(&mut violations, "family_id", &request.get_ref().family_id, FamilyId::parse);
        violations.into_result()?;
        let family = checked(family)?;
        let mut changes = self.coordination.subscribe();
        let (first, history) = self.family_view_and_history(family).await?;
        // Every entry is sent once; notifications may cover several changes (projected in one
        // batch, or missed when lagging), so each round sends all entries not sent yet.
        let key = |item: &crate::store::TimelineItem| (item.stream, item.sequence, item.part);
        let mut sent: std::collections::HashSet<_> = history.iter().map(key).collect();
        let (sender, receiver) = mpsc::channel(64);
        let watcher = Self { coordination: Arc::clone(&self.coordination), keys: self.keys.clone() };
        tokio::spawn(async move {
            if sender.send(Ok(pb::FamilyChange { entries: Vec::new(), view: Some(first) })).await.is_err() {
                return;
            }
            loop {
                let changed = match changes.recv().await {
                    Ok(changed) => changed == family,
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if !changed {
                    continue;
                }
                let (view, history) = match watcher.family_view_and_history(family).await {
                    Ok(found) => found,
                    Err(status) => {
                        let _ = sender.send(Err(status)).await;
                        return;
                    }
                };
                // Only what the projection has reached; the history may run ahead of it.
                let projected = watcher.coordination.positions();
                let mut new: Vec<_> = history
                    .into_iter()
                    .filter(|item| item.sequence <= projected[item.stream] && !sent.contains(&key(item)))
                    .collect();
                new.reverse(); // oldest first
                let mut messages: Vec<Vec<crate::store::TimelineItem>> = Vec::new();
                for item in new {
                    sent.insert(key(&item));
                    match messages.last_mut() {
                        Some(last) if (last[0].stream, last[0].sequence) == (item.stream, item.sequence) => {
                            last.push(item)
                        }
                        _ => messages.push(vec![item]),
                    }
                }
                for message in messages {
                    let entries = message.iter().map(crate::history::entry_pb).collect();
                    let change = pb::FamilyChange { entries, view: Some(view.clone()) };
                    if sender.send(Ok(change)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    type WatchCaseloadStream = ReceiverStream<Result<pb::CaseloadEntry, Status>>;

    async fn watch_caseload(
        &self,
        request: Request<pb::WatchCaseloadRequest>,
    ) -> Result<Response<Self::WatchCaseloadStream>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let person = id(
            &mut violations,
            "contact_person_id",
            &request.get_ref().contact_person_id,
            ContactPersonId::parse,
        );
        violations.into_result()?;
        let person = checked(person)?;
        let mut changes = self.coordination.subscribe();
        let (sender, receiver) = mpsc::channel(64);
        let watcher = Self { coordination: Arc::clone(&self.coordination), keys: self.keys.clone() };
        tokio::spawn(async move {
            loop {
                let family = match changes.recv().await {
                    Ok(family) => family,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Ok(entries) = watcher.caseload(person).await else { continue };
                if let Some(entry) = entries.into_iter().find(|entry| entry.family_id == family.to_string())
                    && sender.send(Ok(entry)).await.is_err()
                {
                    return;
                }
                if sender.is_closed() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}
