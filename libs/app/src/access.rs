//! Need to know, in one place: every use case asks the [`Guard`] first. It gathers the facts of
//! the caller's relationships to the family from [`Relations`], asks the domain's one policy
//! (`luukku_domain::access::decide`), and stores an access record, allowed or denied, before
//! anything is answered.

mod relations;
pub mod unusual;

use std::sync::Arc;

use luukku_domain::access::{self, Action, Basis, BreakGlass, Decision, Facts, Scope, Target};
use luukku_domain::contacts::ContactPersonId;
use luukku_domain::family::{Family, FamilyError, FamilyId};
use luukku_domain::meetings::MeetingError;
use luukku_domain::referrals::{Referral, ReferralError};
use luukku_domain::refusal::rules;
use luukku_domain::{Actor, Code, Role, Rule, Timestamp};
use luukku_eventstore::EventStore;
use luukku_eventstore::audit::{Access, AccessLog};
use luukku_eventstore::glass::Glass;

pub use relations::Relations;

use crate::projected::Folder;
use crate::{AppError, Caller, Result, context_now, refused};

/// What an allowed caller may see, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub scope: Scope,
    pub basis: Basis,
    /// The family the call concerns, as the guard resolved it.
    pub family: Option<FamilyId>,
    /// The contact person the caller is, if they are one.
    pub contact_person: Option<ContactPersonId>,
    /// The break-glass grant the access rests on, if it does.
    pub glass: Option<BreakGlass>,
}

/// Decides every call by the policy and logs it.
#[derive(Clone)]
pub struct Guard {
    store: EventStore,
    /// The process's read-model folder, where the relations live, and the services' models.
    folder: Folder,
    relations: Arc<Relations>,
    log: AccessLog,
    /// Operators' break-glass grants, opened on first use.
    glass: Arc<tokio::sync::OnceCell<Glass>>,
    unusual: Arc<unusual::Unusual>,
    /// Benchmarks only: allows every call and records nothing.
    #[cfg(feature = "unguarded")]
    unguarded: bool,
}

fn parts(scope: &Scope) -> Vec<String> {
    match scope {
        Scope::Whole => vec!["whole".to_owned()],
        Scope::Consent { consents, .. } => consents.iter().map(|id| format!("consent:{id}")).collect(),
        Scope::Referrals(referrals) => referrals.iter().map(|id| format!("referral:{id}")).collect(),
        Scope::Meetings(meetings) => meetings.iter().map(|id| format!("meeting:{id}")).collect(),
        Scope::Members(members) => members.iter().map(|id| format!("member:{id}")).collect(),
        Scope::Own => vec!["own".to_owned()],
        Scope::NoPersonalData => Vec::new(),
    }
}

/// The basis as the access log writes it, and the reason given with it.
fn basis(basis: &Basis) -> (String, Option<String>) {
    match basis {
        Basis::ContactPerson => ("contact_person".to_owned(), None),
        Basis::Registrant => ("registrant".to_owned(), None),
        Basis::PendingReceiver => ("pending_receiver".to_owned(), None),
        Basis::FormerContactPerson => ("former_contact_person".to_owned(), None),
        Basis::Consent(id) => (format!("consent:{id}"), None),
        Basis::Referral(id) => (format!("referral:{id}"), None),
        Basis::Meeting(id) => (format!("meeting:{id}"), None),
        Basis::FamilyMember(id) => (format!("family_member:{id}"), None),
        Basis::Statutory(basis) => (format!("statutory:{basis}"), None),
        Basis::BreakGlass(reason) => ("break_glass".to_owned(), Some(reason.clone())),
        Basis::Purpose(purpose) => ("purpose".to_owned(), Some(purpose.clone())),
        Basis::Role(role) => (format!("role:{role}"), None),
        Basis::Own => ("own".to_owned(), None),
    }
}

impl Guard {
    /// The guard of a service whose relations model is `relations`, kept in `folder`.
    pub fn new(store: EventStore, folder: Folder, relations: Arc<Relations>, log: AccessLog) -> Self {
        Self {
            store,
            folder,
            relations,
            log,
            glass: Arc::default(),
            unusual: Arc::new(unusual::Unusual::new()),
            #[cfg(feature = "unguarded")]
            unguarded: false,
        }
    }

    /// For benchmarks only (the `unguarded` feature): allows every call, with the whole
    /// family in scope, and records nothing, to measure what the policy and the log cost.
    #[cfg(feature = "unguarded")]
    pub fn unguarded(store: EventStore) -> Self {
        Self { unguarded: true, ..Self::start(store) }
    }

    /// The break-glass grants.
    pub async fn glass(&self) -> Result<&Glass> {
        Ok(self.glass.get_or_try_init(|| Glass::open(&self.store)).await?)
    }

    /// The grant an operator holds for the family a call names.
    async fn glass_of(&self, caller: &Caller, target: &Target) -> Result<Option<BreakGlass>> {
        match (caller.actor.role, target.family) {
            (Role::Operator, Some(family)) => {
                Ok(self.glass().await?.grant_of(caller.actor.person_id.as_str(), family).await?)
            }
            _ => Ok(None),
        }
    }

    /// Starts the relationships model (in a temporary folder: written from the streams' start)
    /// and the access log writer on `store`.
    pub fn start(store: EventStore) -> Self {
        Self::start_in(&Folder::temporary(), store)
    }

    /// Starts the relationships model in `folder` and the access log writer on `store`.
    pub fn start_in(folder: &Folder, store: EventStore) -> Self {
        let relations = Relations::spawn(folder, store.clone());
        let log = AccessLog::start(store.clone());
        Self::new(store, folder.clone(), relations, log)
    }

    /// The process's read-model folder: the services keep their models beside the relations.
    pub fn folder(&self) -> &Folder {
        &self.folder
    }

    pub fn relations(&self) -> &Arc<Relations> {
        &self.relations
    }

    /// Break-glass uses and denied calls, per actor.
    pub fn unusual(&self) -> &unusual::Unusual {
        &self.unusual
    }

    fn decide(
        &self,
        caller: &Caller,
        action: Action,
        target: &Target,
        glass: Option<&BreakGlass>,
    ) -> Result<(Decision, Option<ContactPersonId>)> {
        let context = context_now();
        let (family, caller_contact_person) =
            self.relations.family_and_contact_person(target.family, &caller.actor.person_id)?;
        let facts = Facts {
            today: context.today,
            now_ms: context.now.as_millis(),
            family: family.as_ref(),
            caller_contact_person,
            caller_member: caller.member,
            break_glass: glass,
            target: target.clone(),
        };
        Ok((access::decide(&caller.actor, action, &facts), caller_contact_person))
    }

    /// May `caller` take `action` on `target`? Stores the access record either way; `Err` when
    /// denied, or when the record could not be stored (then nothing may be answered).
    pub async fn check(&self, caller: &Caller, action: Action, mut target: Target) -> Result<Granted> {
        #[cfg(feature = "unguarded")]
        if self.unguarded {
            let basis = Basis::Role(caller.actor.role);
            return Ok(Granted {
                scope: Scope::Whole,
                basis,
                family: target.family,
                contact_person: None,
                glass: None,
            });
        }
        // The facts that cannot be gathered now leave a denial on record, and no answer.
        let (decision, glass, contact_person) =
            match self.gather_and_decide(caller, action, &mut target).await {
                Ok(decided) => decided,
                Err(error) => {
                    let unavailable = Decision::Deny { rule: rules::FACTS_UNAVAILABLE };
                    self.record(caller, action, &target, &unavailable).await?;
                    return Err(error);
                }
            };
        // Counted and logged under the id the access log keeps (a member's subject hashed).
        match &decision {
            Decision::Allow { basis: Basis::BreakGlass(_), .. } if action != Action::BreakGlass => {
                self.unusual.break_glass(&logged_actor(&caller.actor))
            }
            Decision::Deny { rule } => {
                self.unusual.denied(&logged_actor(&caller.actor), rule.code, std::time::Instant::now());
            }
            Decision::Allow { .. } => {}
        }
        self.record(caller, action, &target, &decision).await?;
        match decision {
            Decision::Allow { scope, basis } => Ok(Granted {
                scope,
                basis,
                family: target.family,
                // The caller's contact person the decision rested on.
                contact_person,
                glass,
            }),
            Decision::Deny { rule } => Err(denied(rule, action, &target)),
        }
    }

    /// Resolves the family a call names, gathers the facts and decides.
    async fn gather_and_decide(
        &self,
        caller: &Caller,
        action: Action,
        target: &mut Target,
    ) -> Result<(Decision, Option<BreakGlass>, Option<ContactPersonId>)> {
        // Facts stopped at a message they cannot read may miss a revocation after it: nothing
        // is decided on them until the message is dealt with.
        let standing = self.relations.standing();
        if let Some(stopped) = standing.stopped() {
            return Err(standing.stopped_error(&stopped));
        }
        // At a start, the model is read only once its folder has been checked.
        self.relations.ready().await?;
        if target.family.is_none() && (target.referral.is_some() || target.meeting.is_some()) {
            let family_of = |target: &Target| -> Result<Option<FamilyId>> {
                if let Some(family) =
                    target.referral.map(|id| self.relations.family_of_referral(id)).transpose()?.flatten()
                {
                    return Ok(Some(family));
                }
                Ok(target.meeting.map(|id| self.relations.family_of_meeting(id)).transpose()?.flatten())
            };
            let mut family = family_of(target)?;
            if family.is_none() {
                // Perhaps sent a moment ago.
                self.relations.caught_up(&self.store).await?;
                family = family_of(target)?;
            }
            target.family = family;
        }
        let glass = self.glass_of(caller, target).await?;
        let mut decided = self.decide(caller, action, target, glass.as_ref())?;
        if !decided.0.allowed() {
            // The relationship may have been recorded a moment ago: decide again on facts that
            // include everything acknowledged before this call.
            self.relations.caught_up(&self.store).await?;
            decided = self.decide(caller, action, target, glass.as_ref())?;
        }
        let (decision, contact_person) = decided;
        Ok((decision, glass, contact_person))
    }

    /// Whether a call allowed earlier is still allowed once the facts include `positions` (the
    /// change a watch is about to send), and within which scope. Records nothing.
    pub async fn recheck_at(
        &self,
        caller: &Caller,
        action: Action,
        granted: &Granted,
        positions: impl IntoIterator<Item = luukku_eventstore::Position>,
    ) -> Option<Scope> {
        for position in positions {
            if !self.relations.reached(position.stream, position.sequence).await {
                // The facts cannot be brought up to the change: end rather than guess.
                return None;
            }
        }
        self.recheck(caller, action, granted)
    }

    /// Whether a call allowed earlier is still allowed now, and within which scope: for a
    /// watch, which is decided again at each change. Records nothing.
    pub fn recheck(&self, caller: &Caller, action: Action, granted: &Granted) -> Option<Scope> {
        let target = Target { family: granted.family, ..Target::default() };
        // Facts that cannot be read end the watch rather than guess.
        match self.decide(caller, action, &target, granted.glass.as_ref()).map(|(decision, _)| decision) {
            Ok(Decision::Allow { scope, .. }) => Some(scope),
            Ok(Decision::Deny { .. }) | Err(_) => None,
        }
    }

    /// Stores the access record of `decision`: `UNAVAILABLE` when it cannot be stored.
    async fn record(
        &self,
        caller: &Caller,
        action: Action,
        target: &Target,
        decision: &Decision,
    ) -> Result<()> {
        let (allowed, parts, (basis, reason), rule) = match decision {
            Decision::Allow { scope, basis: why } => (true, parts(scope), basis(why), None),
            Decision::Deny { rule } => (false, Vec::new(), (String::new(), None), Some(rule.code.to_owned())),
        };
        let access = Access {
            at: Timestamp::now(),
            actor: logged_actor(&caller.actor),
            rpc: action.path(),
            kind: action.kind().token().to_owned(),
            family: target.family,
            member: target.member.or(caller.member.map(|member| member.member_id)),
            parts,
            basis,
            // The signed form a consent rests on, or the reason given, is recorded with it.
            reason: reason.or(target.signed_form.clone()).or(target.purpose.clone()),
            allowed,
            rule,
        };
        self.log.record(access).await.map_err(|error| {
            AppError::Unavailable(format!(
                "the access log cannot be written, so nothing is answered: {error}"
            ))
        })
    }

    /// Records that `caller`'s `action` returned data of each of `families` (search hits, the
    /// families of a list), so that each family's log shows it.
    pub async fn record_found(
        &self,
        caller: &Caller,
        action: Action,
        families: &[FamilyId],
        basis: &Basis,
    ) -> Result<()> {
        let (basis, reason) = self::basis(basis);
        let mut families = families.to_vec();
        families.sort();
        families.dedup();
        let records = families.iter().map(|family| Access {
            at: Timestamp::now(),
            actor: logged_actor(&caller.actor),
            rpc: action.path(),
            kind: action.kind().token().to_owned(),
            family: Some(*family),
            member: None,
            parts: vec!["listed".to_owned()],
            basis: basis.clone(),
            reason: reason.clone(),
            allowed: true,
            rule: None,
        });
        let stored = futures::future::join_all(records.map(|access| self.log.record(access))).await;
        stored.into_iter().collect::<std::result::Result<Vec<()>, _>>().map_err(|error| {
            AppError::Unavailable(format!(
                "the access log cannot be written, so nothing is answered: {error}"
            ))
        })?;
        Ok(())
    }
}

/// The actor as the access log keeps it: a family member's identity-provider subject is
/// personal, so it is kept only as a hash (the member id says who they are to the family).
fn logged_actor(actor: &Actor) -> Actor {
    let mut logged = actor.clone();
    if actor.role == Role::FamilyMember {
        let key = luukku_eventstore::links::subject_key(actor.person_id.as_str());
        if let Ok(code) = Code::parse(&format!("subject:{}", &key[..16])) {
            logged.person_id = code;
        }
    }
    logged
}

/// The refusal a denied caller gets. One with no relationship to the family is told what a
/// caller asking after a family that does not exist is told.
fn denied(rule: Rule, action: Action, target: &Target) -> AppError {
    if rule == rules::NO_RELATIONSHIP {
        if let (Some(referral), Action::GetReferral | Action::UpdateReferral) = (target.referral, action) {
            return refused::<Referral>(referral)(ReferralError::NotFound);
        }
        if let (Some(meeting), Action::GetMeeting) = (target.meeting, action) {
            return AppError::refused("meeting", meeting, MeetingError::NotFound(meeting));
        }
        if let Some(family) = target.family {
            return refused::<Family>(family)(FamilyError::NotFound);
        }
    }
    let subject = target.family.map(|family| format!("family/{family}")).unwrap_or_default();
    AppError::rule(rule, subject, format!("{action}: {} ({})", access::explain(rule), rule.code))
}
