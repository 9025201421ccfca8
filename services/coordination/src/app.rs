//! The coordination service's use cases: the one view of a family, a contact person's
//! caseload, a family's timeline, search, anonymous statistics, watching a family or a
//! caseload, and rebuilding the projection. Free of gRPC.

pub mod shape;
pub mod statistics;
pub mod timeline;
pub mod view;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use luukku_app::{AppError, Caller, Result};
use luukku_domain::Role;
use luukku_domain::contacts::{ContactPersonError, ContactPersonId};
use luukku_domain::family::{FamilyError, FamilyId, Municipality};
use luukku_domain::refusal::rules;
use luukku_domain::sealing::FamilyKey;
use luukku_eventstore::audit::{ReportPage, ReportQuery};
use luukku_eventstore::{Checkpoints, KeyStore};

use crate::projection::doc::FamilyDoc;
use crate::projection::{Projection, ProjectionError, ProjectionTree, search};
use statistics::Statistics;
use timeline::{TimelineCursor, TimelineItem};
use view::{CaseloadEntry, FamilyView};

pub use watch::{CaseloadChange, CaseloadMessage, FamilyChange, WatchLimits};

/// One page of a timeline, newest first, and where the next page starts.
#[derive(Debug, Clone)]
pub struct TimelinePage {
    pub entries: Vec<TimelineItem>,
    pub next: Option<TimelineCursor>,
}

/// What a search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query<'a> {
    /// A part of a member's name.
    Name(&'a str),
    /// A member's exact identity code.
    IdentityCode(&'a luukku_domain::identity_code::IdentityCode),
}

/// Where a search looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchIn {
    /// In this contact person's caseload (nowhere for a caller who is none).
    Caseload(Option<ContactPersonId>),
    Everywhere,
}

/// How long a query waits for the projection to reach the positions it names, at most.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub targets: Checkpoints,
    pub limit: Duration,
}

pub struct Coordination<K> {
    projection: Arc<Projection>,
    keys: K,
    watches: watch::Watches,
}

fn internal(error: ProjectionError) -> AppError {
    tracing::error!(%error, "projection read failed");
    AppError::Internal(error.to_string())
}

impl<K: KeyStore + Clone> Coordination<K> {
    pub fn new(projection: Arc<Projection>, keys: K) -> Self {
        Self::with_watch_limits(projection, keys, WatchLimits::default())
    }

    pub fn with_watch_limits(projection: Arc<Projection>, keys: K, limits: WatchLimits) -> Self {
        Self { projection, keys, watches: watch::Watches::new(limits) }
    }

    /// How many watches are open now.
    pub fn watches_open(&self) -> usize {
        self.watches.open()
    }

    pub fn projection(&self) -> &Arc<Projection> {
        &self.projection
    }

    /// Waits until the projection has reached the targets, or says where it stands.
    async fn reached(&self, wait: Wait) -> Result<()> {
        self.projection.wait_for(wait.targets, wait.limit).await.map_err(|at| {
            let standing = self.projection.standing();
            if let Some(stopped) = standing.stopped() {
                return standing.stopped_error(&stopped);
            }
            AppError::Unavailable(format!(
                "the projection has not reached the positions asked for within {} ms: it is at {at}, asked {}",
                wait.limit.as_millis(),
                wait.targets
            ))
        })
    }

    async fn key(&self, family: FamilyId) -> Result<Option<FamilyKey>> {
        Ok(self.keys.get(&family.to_string()).await?)
    }

    /// The family's document with its members' details opened.
    async fn opened(&self, tree: &ProjectionTree, family: FamilyId) -> Result<Option<FamilyDoc>> {
        let Some(doc) = tree.family(family).map_err(internal)? else {
            return Ok(None);
        };
        Ok(Some(view::open(doc, family, self.key(family).await?.as_ref(), view::Opening::Members)))
    }

    fn not_projected(family: FamilyId) -> AppError {
        AppError::refused("family", family, FamilyError::NotFound)
    }

    /// The view, with the newest `history` entries of its timeline (the view shows the newest
    /// [`view::RECENT`]); all of them, read together with the view.
    async fn view_and_history(
        &self,
        family: FamilyId,
        history: usize,
    ) -> Result<(FamilyView, Vec<TimelineItem>)> {
        let tree = self.projection.tree();
        let doc = tree.family(family).map_err(internal)?.ok_or_else(|| Self::not_projected(family))?;
        let history = timeline::read(&tree, family, None, history.max(view::RECENT)).map_err(internal)?;
        let recent = history.iter().take(view::RECENT).cloned().collect();
        Ok((self.view_of(&tree, family, doc, recent).await?, history))
    }

    /// The view of the family's document `doc`, as stored in `tree`, with `recent`, the newest
    /// entries of its timeline.
    async fn view_of(
        &self,
        tree: &ProjectionTree,
        family: FamilyId,
        doc: FamilyDoc,
        recent: Vec<TimelineItem>,
    ) -> Result<FamilyView> {
        let context = luukku_app::context_now();
        let opening = view::Opening::View { today: context.today };
        let doc = view::open(doc, family, self.key(family).await?.as_ref(), opening);
        view::family_view(tree, family, doc, &context, self.projection.positions(), recent).map_err(internal)
    }

    pub async fn family_view(&self, _caller: &Caller, family: FamilyId, wait: Wait) -> Result<FamilyView> {
        self.reached(wait).await?;
        let tree = self.projection.tree();
        let doc = tree.family(family).map_err(internal)?.ok_or_else(|| Self::not_projected(family))?;
        let recent = timeline::read(&tree, family, None, view::RECENT).map_err(internal)?;
        self.view_of(&tree, family, doc, recent).await
    }

    /// A contact person's families, what needs attention first.
    async fn caseload_now(&self, person: ContactPersonId) -> Result<Vec<CaseloadEntry>> {
        let tree = self.projection.tree();
        let doc = tree
            .person(person)
            .map_err(internal)?
            .ok_or_else(|| AppError::refused("contact_person", person, ContactPersonError::NotFound))?;
        let context = luukku_app::context_now();
        let mut entries = Vec::new();
        for family in doc.families {
            if let Some(opened) = self.opened(&tree, family).await? {
                entries.push(view::caseload_entry(family, &opened, &context));
            }
        }
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.attention));
        Ok(entries)
    }

    pub async fn caseload(
        &self,
        _caller: &Caller,
        person: ContactPersonId,
        wait: Wait,
    ) -> Result<Vec<CaseloadEntry>> {
        self.reached(wait).await?;
        self.caseload_now(person).await
    }

    /// `page_size` entries of the family's timeline after `after`, newest first.
    pub async fn timeline(
        &self,
        _caller: &Caller,
        family: FamilyId,
        wait: Wait,
        after: Option<TimelineCursor>,
        page_size: usize,
    ) -> Result<TimelinePage> {
        self.reached(wait).await?;
        let tree = self.projection.tree();
        if tree.family(family).map_err(internal)?.is_none() {
            return Err(Self::not_projected(family));
        }
        let mut entries =
            timeline::read(&tree, family, after, page_size.saturating_add(1)).map_err(internal)?;
        let next = if entries.len() > page_size {
            entries.truncate(page_size);
            entries.last().map(TimelineItem::cursor)
        } else {
            None
        };
        Ok(TimelinePage { entries, next })
    }

    /// Families with a member whose name has tokens beginning with each of the query's (a
    /// token of fewer than three letters must be whole), or with a member of the identity code,
    /// in `municipality`. Found in the search index; only the families found are opened.
    pub async fn search(
        &self,
        _caller: &Caller,
        query: Query<'_>,
        municipality: Option<&Municipality>,
        within: SearchIn,
        wait: Wait,
    ) -> Result<Vec<CaseloadEntry>> {
        self.reached(wait).await?;
        let tree = self.projection.tree();
        let key = self.projection.search_key().ok_or_else(|| {
            AppError::Unavailable(
                "the search index key has not been read yet: the families service makes it at its first start"
                    .to_owned(),
            )
        })?;
        if tree.search_check().map_err(internal)?.is_some_and(|check| check != key.check()) {
            return Err(AppError::Unavailable(
                "the search index was made with another search key (the entry search-index of the family-key \
                 bucket was replaced): an operator must rebuild the projection"
                    .to_owned(),
            ));
        }
        let words = match query {
            Query::Name(name) => search::tokens(name),
            Query::IdentityCode(_) => Vec::new(),
        };
        let caseload = |person| -> Result<std::collections::BTreeSet<FamilyId>> {
            Ok(tree.person(person).map_err(internal)?.map(|doc| doc.families).unwrap_or_default())
        };
        let candidates: Vec<FamilyId> = match (within, query) {
            (SearchIn::Caseload(None), _) => return Ok(Vec::new()),
            // No name: every family of the caseload (a municipality may narrow them below).
            (SearchIn::Caseload(Some(person)), Query::Name(_)) if words.is_empty() => {
                caseload(person)?.into_iter().collect()
            }
            // The caseload's name hashes are one key range; a name's hashes are its family's own.
            // Only the caseload's families are answered, whatever the range holds.
            (SearchIn::Caseload(Some(person)), Query::Name(_)) => {
                let caseload = caseload(person)?;
                tree.caseload_names(person)
                    .map_err(internal)?
                    .into_iter()
                    .filter(|(family, names)| {
                        caseload.contains(family)
                            && words.iter().all(|word| names.contains(&key.lookup(*family, word)))
                    })
                    .map(|(family, _)| family)
                    .collect()
            }
            (SearchIn::Caseload(Some(person)), Query::IdentityCode(code)) => {
                let caseload = caseload(person)?;
                let mut found = tree.with_code(key.identity_code(code)).map_err(internal)?;
                found.retain(|family| caseload.contains(family));
                found
            }
            // Only identity codes are indexed everywhere (see `search::Entries`).
            (SearchIn::Everywhere, Query::IdentityCode(code)) => {
                tree.with_code(key.identity_code(code)).map_err(internal)?
            }
            (SearchIn::Everywhere, Query::Name(_)) => {
                return Err(AppError::Internal("names are searched in a caseload only".into()));
            }
        };
        let context = luukku_app::context_now();
        let mut found = Vec::new();
        for family in candidates {
            let Some(doc) = tree.family(family).map_err(internal)? else { continue };
            if municipality.is_some_and(|wanted| wanted.as_str() != doc.municipality) {
                continue;
            }
            let opened = view::open(doc, family, self.key(family).await?.as_ref(), view::Opening::Members);
            // The index finds; the opened names decide (hashes are short, and prefixes are
            // three letters).
            let holds = match query {
                Query::Name(_) => search::matches(&words, &view::names(&opened)),
                Query::IdentityCode(code) => opened.members.values().any(|member| {
                    member.details.plain().and_then(|details| details.identity_code.as_ref()) == Some(code)
                }),
            };
            if holds {
                found.push(view::caseload_entry(family, &opened, &context));
            }
        }
        Ok(found)
    }

    /// A page of the family's log report, and the access log stream it comes from (see
    /// [`crate::projection::access_log::AccessLog::report`]).
    pub async fn access_log(
        &self,
        _caller: &Caller,
        query: &ReportQuery,
        continues: Option<i128>,
    ) -> Result<(ReportPage, i128)> {
        self.projection.access_log().report(query, continues).await
    }

    /// The figures published last: as of their cut-off, never of a moment the caller picks.
    pub async fn statistics(&self, _caller: &Caller) -> Result<Statistics> {
        statistics::published(&self.projection).map_err(internal)?.ok_or_else(|| {
            AppError::Unavailable(
                "no statistics are published yet; they are published at each midnight in Finland".to_owned(),
            )
        })
    }

    /// Whether the caller may rebuild the projection: operators only. Asked before a rebuild
    /// starts, so that a refusal is the call's answer rather than a message of its stream.
    pub fn may_rebuild(caller: &Caller) -> Result<()> {
        if caller.actor.role != Role::Operator {
            return Err(AppError::rule(
                rules::OPERATORS_ONLY,
                "projection",
                "rebuilding the projection is for operators",
            ));
        }
        Ok(())
    }

    /// Rebuilds the projection from the start of the streams while it keeps answering; calls
    /// `progress` with where the new generation stands and where it is going.
    pub async fn rebuild(
        &self,
        caller: &Caller,
        progress: impl FnMut(Checkpoints, Checkpoints),
    ) -> Result<u64> {
        Self::may_rebuild(caller)?;
        self.projection
            .rebuild(progress)
            .await
            .map_err(|error| AppError::Internal(format!("the rebuild failed: {error}")))
    }
}
