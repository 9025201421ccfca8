//! The families service's use cases: one function each, free of gRPC.

use std::sync::Arc;

use luukku_app::{AppError, Caller, Entry, Repository, Result, Write, Written, refused};
use luukku_app::{Keys, Relations};
use luukku_domain::Timestamp;
use luukku_domain::family::{
    ConsentId, ErasureGround, ErasureId, Family, FamilyCommand, FamilyError, FamilyEvent, FamilyId,
    FamilyStatus, MemberId, MemberRef, Retention, check_retention,
};
use luukku_domain::refusal::rules;
use luukku_eventstore::{EventStore, KeyStore, MemberLinks, Stream};

/// A registered family: its id and its members' ids, in the order of the command.
#[derive(Debug, Clone)]
pub struct Registered {
    pub family_id: FamilyId,
    pub member_ids: Vec<MemberId>,
    pub written: Written,
}

/// A family as it stands now.
#[derive(Debug, Clone)]
pub struct FamilyRecord {
    pub family_id: FamilyId,
    pub state: Family,
    pub version: u64,
    pub registered_at: Option<Timestamp>,
}

/// One page of a family's history, and the version the next page starts after (0: no more).
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub entries: Vec<Arc<Entry<FamilyEvent>>>,
    pub next_after_version: u64,
}

pub struct Families<K: KeyStore> {
    families: Repository<Family, K>,
    /// Each family's relationships, for what retention asks (a referral to child protection).
    relations: Option<Arc<Relations>>,
    /// The member link bucket, opened on first use.
    links: tokio::sync::OnceCell<MemberLinks>,
    /// The process completing erasures, which runs for as long as the service holds it.
    _erasures: Option<crate::erasure::Erasures>,
}

impl<K: KeyStore> Families<K> {
    pub fn new(store: EventStore, keys: K) -> Self {
        Self {
            families: Repository::new(store, keys, Stream::Families, Keys::CreatesFamilyKey),
            relations: None,
            links: tokio::sync::OnceCell::new(),
            _erasures: None,
        }
    }

    /// Keeps the process completing erasures running for as long as the service lives.
    pub fn with_erasures(mut self, erasures: crate::erasure::Erasures) -> Self {
        self._erasures = Some(erasures);
        self
    }

    /// The key store the families' keys are in.
    pub fn keys(&self) -> &K {
        self.families.keys()
    }

    /// Reads each family's relationships from `relations`.
    pub fn with_relations(mut self, relations: Arc<Relations>) -> Self {
        self.relations = Some(relations);
        self
    }

    async fn links(&self) -> Result<&MemberLinks> {
        Ok(self.links.get_or_try_init(|| MemberLinks::open(self.families.store())).await?)
    }

    /// Brings the member link bucket in line with the links the events start and end. A retry
    /// does it again, so a bucket write that failed the first time is made then.
    async fn sync_links(&self, family_id: FamilyId, events: &[FamilyEvent]) -> Result<()> {
        for event in events {
            match event {
                FamilyEvent::MemberLinked(linked) => {
                    let member = MemberRef { family_id, member_id: linked.member_id };
                    self.links().await?.put(&linked.subject_key, member).await?;
                }
                FamilyEvent::MemberUnlinked(unlinked) => {
                    self.links().await?.remove(&unlinked.subject_key).await?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Lets a member sign in as `subject`, an identity provider's opaque id. A subject stands
    /// for one member: linking one already linked elsewhere is refused.
    pub async fn link_member(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        member_id: MemberId,
        subject: &str,
    ) -> Result<Written> {
        let subject_key = luukku_eventstore::links::subject_key(subject.trim());
        let member = MemberRef { family_id, member_id };
        if let Some(other) = self.links().await?.member_under(&subject_key).await?
            && other != member
        {
            return Err(AppError::rule(
                rules::SUBJECT_LINKED,
                format!("family/{family_id}/member/{member_id}"),
                "this subject already signs in as another member; unlink it there first",
            ));
        }
        let command = FamilyCommand::LinkMember { member_id, subject: subject.to_owned(), subject_key };
        Ok(self.run(caller, write, family_id, &command).await?.2)
    }

    /// Ends a member's sign-in.
    pub async fn unlink_member(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        member_id: MemberId,
    ) -> Result<Written> {
        let command = FamilyCommand::UnlinkMember { member_id };
        Ok(self.run(caller, write, family_id, &command).await?.2)
    }

    async fn run(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        command: &FamilyCommand,
    ) -> Result<(FamilyId, Vec<FamilyEvent>, Written)> {
        let outcome = self.families.execute(family_id.into(), caller, write, command).await?;
        let family_id = FamilyId::from_ulid(outcome.id.as_ulid());
        self.sync_links(family_id, &outcome.events).await?;
        tracing::info!(
            %family_id,
            request_id = %write.request_id,
            version = outcome.written.version,
            replayed = outcome.written.replayed,
            "family command"
        );
        Ok((family_id, outcome.events, outcome.written))
    }

    pub async fn register(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        command: FamilyCommand,
    ) -> Result<Registered> {
        let (family_id, events, written) = self.run(caller, write, family_id, &command).await?;
        let member_ids = match events.first() {
            Some(FamilyEvent::Registered(registered)) => {
                registered.members.iter().map(|member| member.member_id).collect()
            }
            _ => Vec::new(),
        };
        Ok(Registered { family_id, member_ids, written })
    }

    /// Adds a member; answers the member's id.
    pub async fn add_member(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        command: FamilyCommand,
    ) -> Result<(Written, Option<MemberId>)> {
        let (_, events, written) = self.run(caller, write, family_id, &command).await?;
        let member_id = events.iter().find_map(|event| match event {
            FamilyEvent::MemberAdded(joined) => Some(joined.member_id),
            _ => None,
        });
        Ok((written, member_id))
    }

    /// Grants a consent; answers its id.
    pub async fn grant_consent(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        command: FamilyCommand,
    ) -> Result<(Written, Option<ConsentId>)> {
        let (_, events, written) = self.run(caller, write, family_id, &command).await?;
        let consent_id = events.iter().find_map(|event| match event {
            FamilyEvent::ConsentGranted(granted) => Some(granted.consent_id),
            _ => None,
        });
        Ok((written, consent_id))
    }

    /// Updates or removes a member, changes the municipality, revokes a consent, closes or
    /// reopens the family.
    pub async fn change(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        command: FamilyCommand,
    ) -> Result<Written> {
        Ok(self.run(caller, write, family_id, &command).await?.2)
    }

    /// What statutory retention asks of the family's records: whether a referral to child
    /// protection was made (from the relationships model) and when coordination closed.
    async fn retention(&self, family_id: FamilyId) -> Result<Retention> {
        let loaded = self.families.load(family_id.into()).await?;
        let closed_on = match loaded.state.status {
            FamilyStatus::Closed(_) => loaded
                .entries
                .iter()
                .rev()
                .find(|entry| entry.events.iter().any(|event| matches!(event, FamilyEvent::Closed(_))))
                .and_then(|entry| {
                    jiff::Timestamp::from_millisecond(entry.recorded.envelope.recorded_at.as_millis()).ok()
                })
                .map(|at| at.to_zoned(luukku_app::finnish_zone()).date()),
            _ => None,
        };
        let child_protection = match &self.relations {
            Some(relations) => {
                // Everything acknowledged before the call counts.
                relations.caught_up(self.families.store()).await?;
                relations.family(family_id)?.is_some_and(|facts| facts.child_protection_referred)
            }
            None => false,
        };
        Ok(Retention { child_protection, closed_on })
    }

    /// Asks for the family's erasure on `ground`; refused inside a statutory retention period.
    pub async fn request_erasure(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        erasure_id: ErasureId,
        ground: ErasureGround,
        on_behalf_of: Option<MemberId>,
    ) -> Result<(Written, ErasureId)> {
        let retention = self.retention(family_id).await?;
        let requested_by = caller.actor.person_id.clone();
        let command =
            FamilyCommand::RequestErasure { erasure_id, ground, on_behalf_of, requested_by, retention };
        let (_, events, written) = self.run(caller, write, family_id, &command).await?;
        let requested = events.iter().find_map(|event| match event {
            FamilyEvent::ErasureRequested(requested) => Some(requested.erasure_id),
            _ => None,
        });
        Ok((written, requested.unwrap_or(erasure_id)))
    }

    /// Approves a request to erase, by a second person.
    pub async fn approve_erasure(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        erasure_id: ErasureId,
    ) -> Result<Written> {
        let retention = self.retention(family_id).await?;
        let command = FamilyCommand::ApproveErasure {
            erasure_id,
            approved_by: caller.actor.person_id.clone(),
            retention,
        };
        Ok(self.run(caller, write, family_id, &command).await?.2)
    }

    /// Carries out an approved erasure: records it, then deletes the family's key. A retry of
    /// the same request completes a deletion that failed.
    pub async fn erase(&self, caller: &Caller, write: &Write, family_id: FamilyId) -> Result<Written> {
        // Retention is checked a last time: the family may have come under it since approval.
        let loaded = self.families.load(family_id.into()).await?;
        if let Some(pending) =
            loaded.state.erasure.as_ref().filter(|_| loaded.state.status != FamilyStatus::Erased)
        {
            let retention = self.retention(family_id).await?;
            check_retention(pending.ground, retention, luukku_app::context_now().today)
                .map_err(refused::<Family>(family_id))?;
        }
        let (family_id, events, written) = self.run(caller, write, family_id, &FamilyCommand::Erase).await?;
        if events.contains(&FamilyEvent::Erased) {
            // From now on nothing in this process opens the family's data, key or no key.
            luukku_app::erasures::record(family_id.into());
            self.families.keys().erase(&family_id.to_string()).await?;
            tracing::info!(%family_id, "family key erased");
        }
        Ok(written)
    }

    /// Erases again a family whose erasure a restore from a backup lost: the erasure journal
    /// holds it, the restored stream does not (`crate::journal`). Records the erasure, then
    /// deletes the family's key; a retry of the same request deletes a key left behind.
    pub async fn reapply_erasure(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
    ) -> Result<Written> {
        let (family_id, events, written) =
            self.run(caller, write, family_id, &FamilyCommand::ReapplyErasure).await?;
        if events.contains(&FamilyEvent::Erased) {
            luukku_app::erasures::record(family_id.into());
        }
        self.families.keys().erase(&family_id.to_string()).await?;
        tracing::info!(%family_id, "family erased again after a restore");
        Ok(written)
    }

    /// The family's status, and when its last message was recorded, as the stream's leader
    /// has them; `None` when the stream holds none.
    pub async fn status(&self, family_id: FamilyId) -> Result<Option<(FamilyStatus, Timestamp)>> {
        let loaded = self.families.reader().load_latest(family_id.into()).await?;
        let last = loaded.entries.last().map(|entry| entry.recorded.envelope.recorded_at);
        Ok(last.filter(|_| loaded.version > 0).map(|last| (loaded.state.status, last)))
    }

    pub async fn get(&self, _caller: &Caller, family_id: FamilyId) -> Result<FamilyRecord> {
        let loaded = self.families.load(family_id.into()).await?;
        if loaded.version == 0 {
            return Err(AppError::refused("family", family_id, FamilyError::NotFound));
        }
        Ok(FamilyRecord {
            family_id,
            registered_at: loaded.created_at(),
            state: loaded.state.clone(),
            version: loaded.version,
        })
    }

    /// The history after version `after_version`, `page_size` entries at most.
    pub async fn history(
        &self,
        _caller: &Caller,
        family_id: FamilyId,
        after_version: u64,
        page_size: usize,
    ) -> Result<HistoryPage> {
        let loaded = self.families.load(family_id.into()).await?;
        if loaded.version == 0 {
            return Err(AppError::refused("family", family_id, FamilyError::NotFound));
        }
        let remaining: Vec<&Arc<Entry<FamilyEvent>>> =
            loaded.entries.iter().filter(|entry| entry.recorded.position.sequence > after_version).collect();
        let entries: Vec<Arc<Entry<FamilyEvent>>> =
            remaining.iter().take(page_size).map(|entry| Arc::clone(entry)).collect();
        let next_after_version = if remaining.len() > page_size {
            entries.last().map_or(0, |entry| entry.recorded.position.sequence)
        } else {
            0
        };
        Ok(HistoryPage { entries, next_after_version })
    }
}
