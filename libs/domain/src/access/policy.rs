//! The one access policy: may this caller do this, for this family, and how much may they see.
//! Pure: the facts come in from the projections, the answer goes out to the access log.

use crate::family::{ConsentId, MemberId, MemberRole};
use crate::meetings::{MeetingId, Participant};
use crate::referrals::{ReferralId, StatutoryBasis};
use crate::refusal::rules;
use crate::{Actor, Role, Rule, Sector};

use super::action::{Action, RuleSet};
use super::facts::{Facts, FamilyFacts, ReferralStep};

/// How much of the family an allowed caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything, identity codes included: the contact person, or break-glass.
    Whole,
    /// What the consents in force for the caller's sector cover: the family, or the child
    /// each names.
    Consent { consents: Vec<ConsentId>, children: Vec<Option<MemberId>> },
    /// These referrals, and a minimal extract of the family: names, the child's age, how to
    /// reach the contact person.
    Referrals(Vec<ReferralId>),
    /// These meetings.
    Meetings(Vec<MeetingId>),
    /// A family member: their own and their children's data, never professionals' notes.
    Members(Vec<MemberId>),
    /// The caller's own caseload or work list.
    Own,
    /// Nothing personal: the directory, the catalogue, figures, operating.
    NoPersonalData,
}

/// Why a caller may: the relationship, the consent, the law, or the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    ContactPerson,
    /// Registered the family, which has no contact person yet.
    Registrant,
    PendingReceiver,
    /// Was the family's contact person until their assignment ended: only to retry ending it.
    FormerContactPerson,
    Consent(ConsentId),
    Referral(ReferralId),
    Meeting(MeetingId),
    FamilyMember(MemberId),
    Statutory(StatutoryBasis),
    BreakGlass(String),
    /// A search by identity code, for the stated purpose.
    Purpose(String),
    /// The caller's role allows it, whatever the family.
    Role(Role),
    /// The caller's own work list.
    Own,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow { scope: Scope, basis: Basis },
    Deny { rule: Rule },
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

fn allow(scope: Scope, basis: Basis) -> Decision {
    Decision::Allow { scope, basis }
}

fn deny(rule: Rule) -> Decision {
    Decision::Deny { rule }
}

/// The sectors a referral may be sent to without consent, and on which basis: the law that
/// lets information pass without the family's consent names them.
pub fn statutory_basis_allows(basis: StatutoryBasis, to: Sector) -> bool {
    match basis {
        // Child Welfare Act 417/2007 §25 and §26–27: a notification, and its investigation.
        StatutoryBasis::ChildProtectionNotification | StatutoryBasis::ChildProtectionInvestigation => {
            to == Sector::ChildProtection
        }
        // Social Welfare Act 1301/2014 §35 and §12: urgent need of social care or help.
        StatutoryBasis::Emergency => {
            matches!(to, Sector::ChildProtection | Sector::FamilySocialServices | Sector::MentalHealth)
        }
        // Pupil and Student Welfare Act 1287/2013 §23: student welfare within its own duties.
        StatutoryBasis::OtherLaw => to == Sector::StudentWelfare,
    }
}

/// The caller's relationships to the family, worked out once.
struct Relation<'a> {
    actor: &'a Actor,
    family: Option<&'a FamilyFacts>,
    facts: &'a Facts<'a>,
}

impl<'a> Relation<'a> {
    fn contact_person(&self) -> Option<Basis> {
        let family = self.family?;
        if self.actor.role != Role::ContactPerson {
            return None;
        }
        match family.contact_person {
            Some(assigned) => {
                (self.facts.caller_contact_person == Some(assigned)).then_some(Basis::ContactPerson)
            }
            // The registrant acts only until the family's first contact person is assigned.
            None => (family.former_contact_person.is_none()
                && family.registered_by.as_ref() == Some(&self.actor.person_id))
            .then_some(Basis::Registrant),
        }
    }

    fn pending_receiver(&self) -> bool {
        let receiver = self.family.and_then(|family| family.pending_receiver);
        self.actor.role == Role::ContactPerson
            && receiver.is_some()
            && receiver == self.facts.caller_contact_person
    }

    /// The family member the caller is, in this family.
    fn member(&self) -> Option<MemberId> {
        let member = self.facts.caller_member?;
        let family = self.family?;
        (self.actor.role == Role::FamilyMember
            && Some(member.family_id) == self.facts.target.family
            && family.members.contains_key(&member.member_id))
        .then_some(member.member_id)
    }

    /// A member's own data and, for a guardian, their children's.
    fn members_seen(&self, member: MemberId) -> Vec<MemberId> {
        let mut seen = vec![member];
        if let Some(family) = self.family
            && family.members.get(&member) == Some(&MemberRole::Guardian)
        {
            seen.extend(family.children());
        }
        seen
    }

    fn sector(&self) -> Option<Sector> {
        match self.actor.role {
            Role::SectorProfessional | Role::System => self.actor.sector,
            _ => None,
        }
    }

    fn break_glass(&self) -> Option<Basis> {
        let glass = self.facts.break_glass?;
        (self.actor.role == Role::Operator
            && Some(glass.family_id) == self.facts.target.family
            && glass.until_ms > self.facts.now_ms)
            .then(|| Basis::BreakGlass(glass.reason.clone()))
    }

    fn consents(&self) -> Vec<ConsentId> {
        match (self.family, self.sector()) {
            (Some(family), Some(sector)) => family.consents_covering(sector, self.facts.today).collect(),
            _ => Vec::new(),
        }
    }

    /// Referrals addressed to the caller's sector or sent by it.
    fn referrals(&self) -> Vec<ReferralId> {
        let (Some(family), Some(sector)) = (self.family, self.sector()) else {
            return Vec::new();
        };
        family
            .referrals
            .iter()
            .filter(|(_, referral)| referral.to_sector == sector || referral.from_sector == Some(sector))
            .map(|(id, _)| *id)
            .collect()
    }

    fn is(&self, participant: &Participant) -> bool {
        match participant {
            Participant::Person(person) => {
                *person == self.actor.person_id && self.actor.role != Role::FamilyMember
            }
            Participant::Sector(sector) => self.sector() == Some(*sector),
            Participant::FamilyMember(member) => self.member() == Some(*member),
        }
    }

    /// Meetings the caller is invited to.
    fn meetings(&self) -> Vec<MeetingId> {
        let Some(family) = self.family else {
            return Vec::new();
        };
        family
            .meetings
            .iter()
            .filter(|(_, meeting)| meeting.participants.iter().any(|participant| self.is(participant)))
            .map(|(id, _)| *id)
            .collect()
    }

    /// What the caller may read of the family, if anything.
    fn read(&self) -> Option<Decision> {
        if let Some(basis) = self.contact_person() {
            return Some(allow(Scope::Whole, basis));
        }
        if self.pending_receiver() {
            return Some(allow(Scope::Whole, Basis::PendingReceiver));
        }
        if let Some(basis) = self.break_glass() {
            return Some(allow(Scope::Whole, basis));
        }
        if let Some(member) = self.member() {
            return Some(allow(Scope::Members(self.members_seen(member)), Basis::FamilyMember(member)));
        }
        let consents = self.consents();
        if let (Some(first), Some(family)) = (consents.first(), self.family) {
            let children = consents
                .iter()
                .filter_map(|id| family.consents.get(id))
                .map(|consent| consent.concerns)
                .collect();
            return Some(allow(
                Scope::Consent { consents: consents.clone(), children },
                Basis::Consent(*first),
            ));
        }
        let referrals = self.referrals();
        if let Some(first) = referrals.first() {
            return Some(allow(Scope::Referrals(referrals.clone()), Basis::Referral(*first)));
        }
        let meetings = self.meetings();
        if let Some(first) = meetings.first() {
            return Some(allow(Scope::Meetings(meetings.clone()), Basis::Meeting(*first)));
        }
        None
    }

    /// Denies a caller who may read the family by `rule`, and one who may not as if there
    /// were no such family.
    fn refuse(&self, rule: Rule) -> Decision {
        match self.read() {
            Some(_) => deny(rule),
            None if self.actor.role == Role::Operator => deny(rules::OPERATORS_SEE_NO_PERSONAL_DATA),
            None => deny(rules::NO_RELATIONSHIP),
        }
    }

    fn write(&self) -> Decision {
        match self.contact_person() {
            Some(basis) => allow(Scope::Whole, basis),
            None => self.refuse(rules::NOT_THE_CONTACT_PERSON),
        }
    }
}

fn role_allows(actor: &Actor, roles: &[Role]) -> Decision {
    if roles.contains(&actor.role) {
        allow(Scope::NoPersonalData, Basis::Role(actor.role))
    } else {
        deny(rules::ROLE_NOT_PERMITTED)
    }
}

/// Decides whether `actor` may take `action` given `facts`.
pub fn decide(actor: &Actor, action: Action, facts: &Facts) -> Decision {
    let relation = Relation { actor, family: facts.family, facts };
    let target = &facts.target;
    match action.rules() {
        RuleSet::RegisterFamily => {
            match role_allows(actor, &[Role::ContactPerson, Role::Supervisor, Role::System]) {
                Decision::Allow { .. } => allow(Scope::Whole, Basis::Role(actor.role)),
                denied => denied,
            }
        }
        RuleSet::FamilyWrite => {
            // An operator may stop a member signing in, never let someone sign in as one.
            if action == Action::UnlinkMember && actor.role == Role::Operator {
                return allow(Scope::NoPersonalData, Basis::Role(Role::Operator));
            }
            relation.write()
        }
        RuleSet::GrantConsent => {
            if let Some(member) = relation.member() {
                return if target.member == Some(member) {
                    allow(Scope::Members(vec![member]), Basis::FamilyMember(member))
                } else {
                    deny(rules::CONSENT_NOT_OWN)
                };
            }
            match relation.contact_person() {
                Some(basis) if target.signed_form.is_some() => allow(Scope::Whole, basis),
                Some(_) => deny(rules::CONSENT_NEEDS_SIGNED_FORM),
                None => relation.refuse(rules::NOT_THE_CONTACT_PERSON),
            }
        }
        // A family member revokes in their own name.
        RuleSet::RevokeConsent => match relation.member() {
            Some(member) if target.member == Some(member) => {
                allow(Scope::Members(vec![member]), Basis::FamilyMember(member))
            }
            Some(_) => deny(rules::CONSENT_NOT_OWN),
            None => relation.write(),
        },
        // Carried out, once approved, by the contact person, the data-protection role or an
        // operator; each is recorded.
        RuleSet::Erase => match (relation.contact_person(), actor.role) {
            (Some(basis), _) => allow(Scope::Whole, basis),
            (None, Role::DataProtection | Role::Operator) => {
                allow(Scope::NoPersonalData, Basis::Role(actor.role))
            }
            (None, _) => relation.refuse(rules::NOT_THE_CONTACT_PERSON),
        },
        // A family member asks for themself or their children.
        RuleSet::RequestErasure => match (relation.member(), relation.contact_person()) {
            (Some(member), _)
                if target.member.is_none_or(|asked| relation.members_seen(member).contains(&asked)) =>
            {
                allow(Scope::Members(vec![member]), Basis::FamilyMember(member))
            }
            (Some(_), _) => deny(rules::CONSENT_NOT_OWN),
            (None, Some(basis)) => allow(Scope::Whole, basis),
            (None, None) => relation.refuse(rules::NOT_THE_CONTACT_PERSON),
        },
        RuleSet::ApproveErasure => match actor.role {
            Role::DataProtection => allow(Scope::NoPersonalData, Basis::Role(Role::DataProtection)),
            _ => relation.refuse(rules::ROLE_NOT_PERMITTED),
        },
        RuleSet::FamilyRead => match (action, actor.role) {
            // Who a family's contact person is: no personal data, for those who assign them.
            (Action::GetAssignment, Role::Supervisor | Role::Operator) => {
                allow(Scope::NoPersonalData, Basis::Role(actor.role))
            }
            _ => read(&relation, action),
        },
        RuleSet::InternalNotes => {
            if let Some(basis) = relation.contact_person() {
                allow(Scope::Whole, basis)
            } else if relation.pending_receiver() {
                allow(Scope::Whole, Basis::PendingReceiver)
            } else {
                relation.refuse(rules::INTERNAL_NOTES)
            }
        }
        RuleSet::Assign => {
            if matches!(actor.role, Role::Supervisor | Role::Operator) {
                return allow(Scope::NoPersonalData, Basis::Role(actor.role));
            }
            match (relation.contact_person(), relation.family.and_then(|family| family.contact_person)) {
                // A contact person proposes a handover of their own family.
                (Some(basis), Some(_)) => allow(Scope::Whole, basis),
                _ => relation.refuse(rules::ROLE_NOT_PERMITTED),
            }
        }
        RuleSet::HandoverDecision => {
            let pending = relation.family.is_some_and(|family| family.pending_receiver.is_some());
            if actor.role == Role::Supervisor {
                allow(Scope::NoPersonalData, Basis::Role(Role::Supervisor))
            } else if relation.pending_receiver() {
                allow(Scope::Whole, Basis::PendingReceiver)
            } else if let (false, Some(basis)) = (pending, relation.contact_person()) {
                // With no handover pending, the contact person's call is a retry of an
                // acceptance (answered as before) or names no handover (refused as such).
                allow(Scope::Whole, basis)
            } else {
                relation.refuse(rules::NOT_THE_RECEIVER)
            }
        }
        RuleSet::HandoverWithdraw | RuleSet::EndAssignment => {
            let former = relation
                .family
                .filter(|family| family.contact_person.is_none())
                .and_then(|family| family.former_contact_person);
            if actor.role == Role::Supervisor {
                allow(Scope::NoPersonalData, Basis::Role(Role::Supervisor))
            } else if action.rules() == RuleSet::EndAssignment
                && actor.role == Role::ContactPerson
                && former.is_some()
                && former == relation.facts.caller_contact_person
            {
                // The retry of an end that took their relationship answers as the first time.
                allow(Scope::Whole, Basis::FormerContactPerson)
            } else {
                relation.write()
            }
        }
        RuleSet::TransferCaseload | RuleSet::ManageContactPersons | RuleSet::ManageCatalogue => {
            let mut roles = vec![Role::Supervisor, Role::Operator];
            if action.rules() == RuleSet::ManageCatalogue {
                roles.push(Role::System);
            }
            role_allows(actor, &roles)
        }
        RuleSet::Directory => allow(Scope::NoPersonalData, Basis::Role(actor.role)),
        RuleSet::Statistics => role_allows(
            actor,
            &[
                Role::ContactPerson,
                Role::SectorProfessional,
                Role::Supervisor,
                Role::Operator,
                Role::System,
                Role::DataProtection,
            ],
        ),
        RuleSet::Consultation => {
            role_allows(actor, &[Role::ContactPerson, Role::SectorProfessional, Role::Supervisor])
        }
        RuleSet::OwnWorkList => own_work_list(&relation, action),
        RuleSet::CreateReferral => create_referral(&relation),
        RuleSet::ReferralStep => referral_step(&relation),
        RuleSet::AnswerInvitation => match &target.participant {
            // One answers for oneself, to a meeting one is invited to.
            Some(participant)
                if relation.is(participant)
                    && facts
                        .family
                        .zip(target.meeting)
                        .and_then(|(family, meeting)| family.meetings.get(&meeting))
                        .is_some_and(|meeting| meeting.participants.contains(participant)) =>
            {
                allow(Scope::Meetings(target.meeting.into_iter().collect()), Basis::Own)
            }
            _ => match relation.contact_person() {
                Some(basis) => allow(Scope::Whole, basis),
                None => relation.refuse(rules::NOT_A_PARTICIPANT),
            },
        },
        RuleSet::CompleteAction => {
            let owner = facts
                .family
                .zip(target.meeting)
                .and_then(|(family, meeting)| family.meetings.get(&meeting))
                .zip(target.action)
                .and_then(|(meeting, action)| meeting.owners.get(&action));
            match owner {
                Some(owner) if relation.is(owner) => {
                    allow(Scope::Meetings(target.meeting.into_iter().collect()), Basis::Own)
                }
                _ => relation.write(),
            }
        }
        RuleSet::Search => search(actor, facts),
        RuleSet::AccessLog => {
            if let Some(member) = relation.member() {
                allow(Scope::Members(relation.members_seen(member)), Basis::FamilyMember(member))
            } else if let Some(basis) = relation.contact_person() {
                allow(Scope::Whole, basis)
            } else if actor.role == Role::DataProtection {
                allow(Scope::Whole, Basis::Role(Role::DataProtection))
            } else {
                relation.refuse(rules::ROLE_NOT_PERMITTED)
            }
        }
        RuleSet::Operate => match (actor.role, action) {
            // The grant is flagged like every use, for the review.
            (Role::Operator, Action::BreakGlass) => {
                allow(Scope::NoPersonalData, Basis::BreakGlass(target.purpose.clone().unwrap_or_default()))
            }
            (Role::Operator, _) => allow(Scope::NoPersonalData, Basis::Role(Role::Operator)),
            _ => deny(rules::OPERATORS_ONLY),
        },
    }
}

fn read(relation: &Relation, action: Action) -> Decision {
    let target = &relation.facts.target;
    let Some(decision) = relation.read() else {
        return relation.refuse(rules::NO_RELATIONSHIP);
    };
    let Decision::Allow { scope, .. } = &decision else {
        return decision;
    };
    let whole_family = matches!(scope, Scope::Whole | Scope::Members(_));
    // A family member sees the referrals of the members they see (or of the whole family).
    if let (Action::GetReferral, Scope::Members(seen)) = (action, scope) {
        let child = relation
            .family
            .zip(target.referral)
            .and_then(|(family, id)| family.referrals.get(&id))
            .map(|referral| referral.child);
        return match child {
            Some(None) => decision.clone(),
            Some(Some(child)) if seen.contains(&child) => decision.clone(),
            _ => deny(rules::NO_RELATIONSHIP),
        };
    }
    match action {
        // A referral asked for by its id: the family's, or one addressed to or sent by the
        // caller's sector.
        Action::GetReferral if !whole_family => match target.referral {
            Some(id) if relation.referrals().contains(&id) => {
                allow(Scope::Referrals(vec![id]), Basis::Referral(id))
            }
            _ => deny(rules::NO_RELATIONSHIP),
        },
        // A meeting asked for by its id: under a consent, or by those invited to it.
        Action::GetMeeting if !whole_family && !matches!(scope, Scope::Consent { .. }) => {
            match target.meeting {
                Some(id) if relation.meetings().contains(&id) => {
                    allow(Scope::Meetings(vec![id]), Basis::Meeting(id))
                }
                _ => deny(rules::NO_RELATIONSHIP),
            }
        }
        // The raw history holds every member's data: the contact person's (and break-glass)
        // only; a family member reads their own through GetFamily and the log report.
        Action::ListFamilyHistory if *scope != Scope::Whole => deny(rules::EXPORT_NOT_PERMITTED),
        _ => decision,
    }
}

fn own_work_list(relation: &Relation, action: Action) -> Decision {
    let actor = relation.actor;
    let facts = relation.facts;
    let target = &facts.target;
    if target.family.is_some() {
        return read(relation, action);
    }
    // A supervisor sees any contact person's caseload (to assign and transfer), not their
    // notes, meetings or referrals.
    if actor.role == Role::Supervisor && matches!(action, Action::ListCaseload | Action::WatchCaseload) {
        return allow(Scope::Own, Basis::Role(Role::Supervisor));
    }
    // Every owner the call names must be the caller, and it must name one.
    let owners = [
        target.contact_person.map(|asked| facts.caller_contact_person == Some(asked)),
        target.person.as_ref().map(|person| *person == actor.person_id),
        target.sector.map(|sector| relation.sector() == Some(sector)),
    ];
    let named: Vec<bool> = owners.into_iter().flatten().collect();
    if !named.is_empty() && named.iter().all(|own| *own) && actor.role != Role::FamilyMember {
        allow(Scope::Own, Basis::Own)
    } else {
        deny(rules::NOT_OWN_WORK_LIST)
    }
}

fn create_referral(relation: &Relation) -> Decision {
    let target = &relation.facts.target;
    if let (Some(basis), Some(to)) = (target.statutory, target.to_sector)
        && !statutory_basis_allows(basis, to)
    {
        return deny(rules::STATUTORY_BASIS_NOT_IN_LAW);
    }
    if let Some(basis) = relation.contact_person() {
        return allow(Scope::Whole, basis);
    }
    if relation.sector().is_some() && relation.actor.role == Role::SectorProfessional {
        if let Some(basis) = target.statutory {
            // Anyone with the duty to notify may, with no other relationship to the family.
            return allow(Scope::NoPersonalData, Basis::Statutory(basis));
        }
        if let Some(consent) = relation.consents().first() {
            return allow(Scope::NoPersonalData, Basis::Consent(*consent));
        }
    }
    relation.refuse(rules::NOT_THE_CONTACT_PERSON)
}

fn referral_step(relation: &Relation) -> Decision {
    let target = &relation.facts.target;
    let referral = relation.family.zip(target.referral).and_then(|(family, id)| family.referrals.get(&id));
    let Some(referral) = referral else {
        return relation.refuse(rules::NO_RELATIONSHIP);
    };
    let id = target.referral.map(Basis::Referral).unwrap_or(Basis::Own);
    match target.step {
        Some(ReferralStep::Receiving) if relation.sector() == Some(referral.to_sector) => {
            allow(Scope::Referrals(target.referral.into_iter().collect()), id)
        }
        Some(ReferralStep::Cancel) => {
            if referral.sent_by == relation.actor.person_id && relation.actor.role != Role::FamilyMember {
                allow(Scope::Referrals(target.referral.into_iter().collect()), id)
            } else if let Some(basis) = relation.contact_person() {
                allow(Scope::Whole, basis)
            } else {
                relation.refuse(rules::NOT_THE_SENDER)
            }
        }
        _ => relation.refuse(rules::NOT_THE_RECEIVING_SECTOR),
    }
}

fn search(actor: &Actor, facts: &Facts) -> Decision {
    if !matches!(actor.role, Role::ContactPerson | Role::Supervisor) {
        return deny(rules::ROLE_NOT_PERMITTED);
    }
    let target = &facts.target;
    if target.identity_code_search {
        return match target.purpose.as_deref().map(str::trim) {
            Some(purpose) if !purpose.is_empty() => allow(Scope::Whole, Basis::Purpose(purpose.to_owned())),
            _ => deny(rules::SEARCH_NEEDS_PURPOSE),
        };
    }
    // By name, only within the caller's own caseload.
    allow(Scope::Own, Basis::Own)
}

/// Why the policy denies by `rule`, for the caller.
pub fn explain(rule: Rule) -> &'static str {
    match rule.code {
        "NO_RELATIONSHIP" => "the caller has no relationship to what it names",
        "OPERATORS_SEE_NO_PERSONAL_DATA" => "operators see no personal data without break-glass access",
        "NOT_THE_CONTACT_PERSON" => "only the family's contact person may",
        "ROLE_NOT_PERMITTED" => "the caller's role may not",
        "CONSENT_NOT_OWN" => "a family member records only their own consent",
        "CONSENT_NEEDS_SIGNED_FORM" => {
            "a professional records a consent only on the signed form it rests on: name it"
        }
        "INTERNAL_NOTES" => "the contact log holds professionals' internal notes: the contact person's only",
        "NOT_A_PARTICIPANT" => "only the participant answers for themself",
        "EXPORT_NOT_PERMITTED" => "the family's whole history goes only to its contact person",
        "NOT_OWN_WORK_LIST" => "a work list is its owner's own: name your own person or sector",
        "STATUTORY_BASIS_NOT_IN_LAW" => {
            "no law lets this basis carry a referral to that sector without consent"
        }
        "NOT_THE_RECEIVING_SECTOR" => "this step belongs to the receiving sector",
        "NOT_THE_SENDER" => "only the sender or the contact person cancels a referral",
        "SEARCH_NEEDS_PURPOSE" => "a search by identity code states its purpose",
        "NOT_THE_RECEIVER" => "only the receiver of the handover decides it",
        "OPERATORS_ONLY" => "operators only",
        _ => "the access policy does not allow it",
    }
}
