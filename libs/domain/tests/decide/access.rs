//! The access policy: given a family's relationships, when a caller takes an action, then
//! allowed with a scope and a basis, or denied by a rule.

use jiff::civil::date;
use luukku_domain::access::*;
use luukku_domain::contacts::{Assigned, AssignmentEvent, ContactPersonId, HandoverProposed};
use luukku_domain::family::{FamilyId, MemberId, MemberRef};
use luukku_domain::meetings::{MeetingId, Participant};
use luukku_domain::referrals::{ReferralId, StatutoryBasis};
use luukku_domain::refusal::rules;
use luukku_domain::sealing::Personal;
use luukku_domain::{Actor, Code, Role, Rule, Sector};
use luukku_testkit::fixtures::*;
use luukku_testkit::given::{TODAY, id};

const NOW_MS: i64 = 1_795_428_000_000;

fn family_id() -> FamilyId {
    id(900)
}
fn anna() -> ContactPersonId {
    id(1)
}
fn bertta() -> ContactPersonId {
    id(2)
}
fn to_child_protection() -> ReferralId {
    id(30)
}
fn network_meeting() -> MeetingId {
    id(40)
}

fn actor(person: &str, role: Role, sector: Option<Sector>) -> Actor {
    Actor {
        person_id: Code::parse(person).expect("code"),
        role,
        sector,
        organisation: Code::parse("0201256-6").expect("code"),
        system: Code::parse("test").expect("code"),
    }
}

fn contact_person() -> Actor {
    actor("anna", Role::ContactPerson, Some(Sector::FamilySocialServices))
}
fn registrar() -> Actor {
    actor("intake", Role::ContactPerson, Some(Sector::FamilySocialServices))
}
fn professional(person: &str, sector: Sector) -> Actor {
    actor(person, Role::SectorProfessional, Some(sector))
}
fn family_member() -> Actor {
    actor("maria", Role::FamilyMember, None)
}

/// The Salo family: registered by `intake`, Anna its contact person, a consent for school and
/// child health, a referral from school to child protection, a meeting with mental health.
fn salo() -> FamilyFacts {
    let mut facts = FamilyFacts::default();
    for event in registered() {
        facts.apply_family(&registrar(), &event);
    }
    facts.apply_assignment(&AssignmentEvent::Assigned(Assigned { contact_person: anna() }));
    facts.consents.insert(
        id(20),
        ConsentFact {
            given_by: guardian(),
            concerns: Some(teen()),
            sectors: vec![Sector::School, Sector::ChildHealthClinic],
            valid_from: date(2026, 1, 1),
            valid_until: date(2027, 1, 1),
            revoked: false,
        },
    );
    facts.referrals.insert(
        to_child_protection(),
        ReferralFact {
            to_sector: Sector::ChildProtection,
            from_sector: Some(Sector::School),
            sent_by: Code::parse("opettaja").expect("code"),
            child: Some(teen()),
        },
    );
    facts.meetings.insert(
        network_meeting(),
        MeetingFact {
            participants: [Participant::Sector(Sector::MentalHealth)].into_iter().collect(),
            ..MeetingFact::default()
        },
    );
    facts
}

struct When<'a> {
    family: &'a FamilyFacts,
    caller_contact_person: Option<ContactPersonId>,
    caller_member: Option<MemberRef>,
    break_glass: Option<BreakGlass>,
    target: Target,
}

fn given(family: &FamilyFacts) -> When<'_> {
    When {
        family,
        caller_contact_person: None,
        caller_member: None,
        break_glass: None,
        target: Target::family(family_id()),
    }
}

impl When<'_> {
    fn by_contact_person(mut self, id: ContactPersonId) -> Self {
        self.caller_contact_person = Some(id);
        self
    }
    fn by_member(mut self, member_id: MemberId) -> Self {
        self.caller_member = Some(MemberRef { family_id: family_id(), member_id });
        self
    }
    fn target(mut self, change: impl FnOnce(&mut Target)) -> Self {
        change(&mut self.target);
        self
    }
    fn decide(&self, actor: &Actor, action: Action) -> Decision {
        let facts = Facts {
            today: TODAY,
            now_ms: NOW_MS,
            family: Some(self.family),
            caller_contact_person: self.caller_contact_person,
            caller_member: self.caller_member,
            break_glass: self.break_glass.as_ref(),
            target: self.target.clone(),
        };
        decide(actor, action, &facts)
    }
}

fn denied(rule: Rule) -> Decision {
    Decision::Deny { rule }
}

#[test]
fn the_contact_person_sees_everything_and_makes_the_familys_writes() {
    let family = salo();
    let when = given(&family).by_contact_person(anna());
    for action in [Action::GetFamilyView, Action::GetFamily, Action::ListFamilyHistory, Action::AddMember] {
        assert_eq!(
            when.decide(&contact_person(), action),
            Decision::Allow { scope: Scope::Whole, basis: Basis::ContactPerson },
            "{action}"
        );
    }
}

#[test]
fn another_contact_person_is_told_there_is_no_such_family() {
    let family = salo();
    let when = given(&family).by_contact_person(bertta());
    let bertta = actor("bertta", Role::ContactPerson, Some(Sector::FamilySocialServices));
    assert_eq!(when.decide(&bertta, Action::GetFamilyView), denied(rules::NO_RELATIONSHIP));
    assert_eq!(when.decide(&bertta, Action::CloseFamily), denied(rules::NO_RELATIONSHIP));
}

#[test]
fn the_registrant_acts_as_contact_person_only_until_one_is_assigned() {
    let mut family = FamilyFacts::default();
    for event in registered() {
        family.apply_family(&registrar(), &event);
    }
    assert_eq!(
        given(&family).decide(&registrar(), Action::AddMember),
        Decision::Allow { scope: Scope::Whole, basis: Basis::Registrant }
    );
    family.apply_assignment(&AssignmentEvent::Assigned(Assigned { contact_person: anna() }));
    assert_eq!(given(&family).decide(&registrar(), Action::AddMember), denied(rules::NO_RELATIONSHIP));
    // Nor once the assignment has ended: nobody coordinates the family then.
    family.apply_assignment(&ended(anna()));
    assert_eq!(given(&family).decide(&registrar(), Action::AddMember), denied(rules::NO_RELATIONSHIP));
}

fn ended(person: luukku_domain::contacts::ContactPersonId) -> AssignmentEvent {
    AssignmentEvent::Ended(luukku_domain::contacts::AssignmentEnded {
        contact_person: person,
        reason: luukku_domain::contacts::EndReason::NeedsMet,
        note: None,
    })
}

#[test]
fn a_contact_person_whose_assignment_ended_may_only_retry_the_end() {
    let mut family = salo();
    family.apply_assignment(&ended(anna()));
    let when = given(&family).by_contact_person(anna());
    assert_eq!(
        when.decide(&contact_person(), Action::EndAssignment),
        Decision::Allow { scope: Scope::Whole, basis: Basis::FormerContactPerson }
    );
    for action in [Action::GetFamilyView, Action::AddMember, Action::RecordContact, Action::WithdrawHandover]
    {
        assert!(!when.decide(&contact_person(), action).allowed(), "{action}");
    }
    let bertta_actor = actor("bertta", Role::ContactPerson, Some(Sector::FamilySocialServices));
    assert!(
        !given(&family).by_contact_person(bertta()).decide(&bertta_actor, Action::EndAssignment).allowed()
    );
    family.apply_assignment(&AssignmentEvent::Assigned(Assigned { contact_person: bertta() }));
    assert!(
        !given(&family).by_contact_person(anna()).decide(&contact_person(), Action::EndAssignment).allowed()
    );
}

#[test]
fn the_receiver_of_a_pending_handover_reads_until_it_is_accepted_but_does_not_write() {
    let mut family = salo();
    family.apply_assignment(&AssignmentEvent::HandoverProposed(HandoverProposed {
        handover_id: id(50),
        from: anna(),
        to: bertta(),
        reason: Personal::Plain("leave".into()),
    }));
    let bertta_actor = actor("bertta", Role::ContactPerson, Some(Sector::FamilySocialServices));
    let when = given(&family).by_contact_person(bertta());
    assert_eq!(
        when.decide(&bertta_actor, Action::GetFamilyView),
        Decision::Allow { scope: Scope::Whole, basis: Basis::PendingReceiver }
    );
    assert_eq!(when.decide(&bertta_actor, Action::AddMember), denied(rules::NOT_THE_CONTACT_PERSON));
    assert!(when.decide(&bertta_actor, Action::AcceptHandover).allowed());
    family.apply_assignment(&AssignmentEvent::HandoverAccepted(luukku_domain::contacts::HandoverAccepted {
        handover_id: id(50),
    }));
    let when = given(&family).by_contact_person(bertta());
    assert_eq!(
        when.decide(&bertta_actor, Action::AddMember),
        Decision::Allow { scope: Scope::Whole, basis: Basis::ContactPerson }
    );
}

#[test]
fn a_consenting_sector_sees_what_the_consent_covers() {
    let family = salo();
    let decision = given(&family)
        .decide(&professional("terveydenhoitaja", Sector::ChildHealthClinic), Action::GetFamilyView);
    assert_eq!(
        decision,
        Decision::Allow {
            scope: Scope::Consent { consents: vec![id(20)], children: vec![Some(teen())] },
            basis: Basis::Consent(id(20)),
        }
    );
}

#[test]
fn a_consent_that_ended_or_was_revoked_opens_nothing() {
    let mut family = salo();
    family.consents.values_mut().for_each(|consent| consent.valid_until = date(2026, 11, 22));
    let nurse = professional("terveydenhoitaja", Sector::ChildHealthClinic);
    assert_eq!(given(&family).decide(&nurse, Action::GetFamilyView), denied(rules::NO_RELATIONSHIP));
    let mut family = salo();
    family.consents.values_mut().for_each(|consent| consent.revoked = true);
    assert_eq!(given(&family).decide(&nurse, Action::GetFamilyView), denied(rules::NO_RELATIONSHIP));
}

#[test]
fn a_referral_opens_that_referral_to_its_receiving_and_sending_sectors() {
    let family = salo();
    let social_worker = professional("sosiaalityontekija", Sector::ChildProtection);
    let when = given(&family).target(|target| target.referral = Some(to_child_protection()));
    assert_eq!(
        when.decide(&social_worker, Action::GetReferral),
        Decision::Allow {
            scope: Scope::Referrals(vec![to_child_protection()]),
            basis: Basis::Referral(to_child_protection()),
        }
    );
    let other: ReferralId = id(31);
    let when = given(&family).target(|target| target.referral = Some(other));
    assert_eq!(when.decide(&social_worker, Action::GetReferral), denied(rules::NO_RELATIONSHIP));
    assert_eq!(
        given(&family).decide(&social_worker, Action::ListFamilyHistory),
        denied(rules::EXPORT_NOT_PERMITTED)
    );
}

#[test]
fn an_invitation_opens_that_meeting() {
    let family = salo();
    let psychologist = professional("psykologi", Sector::MentalHealth);
    let when = given(&family).target(|target| target.meeting = Some(network_meeting()));
    assert_eq!(
        when.decide(&psychologist, Action::GetMeeting),
        Decision::Allow {
            scope: Scope::Meetings(vec![network_meeting()]),
            basis: Basis::Meeting(network_meeting()),
        }
    );
}

#[test]
fn an_unrelated_sector_and_another_familys_member_see_no_family() {
    let family = salo();
    let teacher_elsewhere = professional("rehtori", Sector::EarlyEducation);
    assert_eq!(
        given(&family).decide(&teacher_elsewhere, Action::GetFamilyView),
        denied(rules::NO_RELATIONSHIP)
    );
    let mut when = given(&family);
    when.caller_member = Some(MemberRef { family_id: id(901), member_id: guardian() });
    assert_eq!(when.decide(&family_member(), Action::GetFamilyView), denied(rules::NO_RELATIONSHIP));
}

#[test]
fn a_guardian_sees_themself_and_their_children_and_a_child_only_themself() {
    let family = salo();
    let Decision::Allow { scope: Scope::Members(members), .. } =
        given(&family).by_member(guardian()).decide(&family_member(), Action::GetFamily)
    else {
        panic!("a guardian reads their family")
    };
    assert_eq!(members, vec![guardian(), teen(), toddler()]);
    let decision = given(&family).by_member(teen()).decide(&family_member(), Action::GetFamily);
    assert_eq!(
        decision,
        Decision::Allow { scope: Scope::Members(vec![teen()]), basis: Basis::FamilyMember(teen()) }
    );
    let notes = given(&family).by_member(guardian()).decide(&family_member(), Action::ListFamilyContacts);
    assert_eq!(notes, denied(rules::INTERNAL_NOTES), "never professionals' internal notes");
}

#[test]
fn referral_steps_belong_to_the_receiving_sector_and_cancel_to_the_sender_or_contact_person() {
    let family = salo();
    let step = |step| {
        given(&family).by_contact_person(anna()).target(move |target| {
            target.referral = Some(to_child_protection());
            target.step = Some(step);
        })
    };
    let social_worker = professional("sosiaalityontekija", Sector::ChildProtection);
    let teacher = professional("opettaja", Sector::School);
    let nurse = professional("terveydenhoitaja", Sector::ChildHealthClinic);
    assert!(step(ReferralStep::Receiving).decide(&social_worker, Action::UpdateReferral).allowed());
    assert_eq!(
        step(ReferralStep::Receiving).decide(&teacher, Action::UpdateReferral),
        denied(rules::NOT_THE_RECEIVING_SECTOR)
    );
    assert_eq!(
        step(ReferralStep::Receiving).decide(&contact_person(), Action::UpdateReferral),
        denied(rules::NOT_THE_RECEIVING_SECTOR)
    );
    assert!(step(ReferralStep::Cancel).decide(&teacher, Action::UpdateReferral).allowed(), "the sender");
    assert!(step(ReferralStep::Cancel).decide(&contact_person(), Action::UpdateReferral).allowed());
    assert_eq!(
        step(ReferralStep::Cancel).decide(&nurse, Action::UpdateReferral),
        denied(rules::NOT_THE_SENDER)
    );
}

#[test]
fn a_consent_is_recorded_by_the_member_themself_or_on_a_signed_form() {
    let family = salo();
    let own = given(&family).by_member(guardian()).target(|target| target.member = Some(guardian()));
    assert!(own.decide(&family_member(), Action::GrantConsent).allowed());
    let forged = given(&family).by_member(teen()).target(|target| target.member = Some(guardian()));
    assert_eq!(forged.decide(&family_member(), Action::GrantConsent), denied(rules::CONSENT_NOT_OWN));
    let unsigned = given(&family).by_contact_person(anna()).target(|target| target.member = Some(guardian()));
    assert_eq!(
        unsigned.decide(&contact_person(), Action::GrantConsent),
        denied(rules::CONSENT_NEEDS_SIGNED_FORM)
    );
    let signed = unsigned.target(|target| target.signed_form = Some("form-2026-0042".into()));
    assert!(signed.decide(&contact_person(), Action::GrantConsent).allowed());
    let teacher = professional("opettaja", Sector::School);
    assert_eq!(given(&family).decide(&teacher, Action::GrantConsent), denied(rules::NOT_THE_CONTACT_PERSON));
}

#[test]
fn a_statutory_basis_holds_only_for_the_sectors_the_law_names() {
    assert!(statutory_basis_allows(StatutoryBasis::ChildProtectionNotification, Sector::ChildProtection));
    assert!(!statutory_basis_allows(StatutoryBasis::ChildProtectionNotification, Sector::School));
    assert!(!statutory_basis_allows(StatutoryBasis::OtherLaw, Sector::MentalHealth));
    let family = salo();
    let teacher = professional("rehtori", Sector::EarlyEducation);
    let notify = given(&family).target(|target| {
        target.statutory = Some(StatutoryBasis::ChildProtectionNotification);
        target.to_sector = Some(Sector::ChildProtection);
    });
    assert_eq!(
        notify.decide(&teacher, Action::CreateReferral),
        Decision::Allow {
            scope: Scope::NoPersonalData,
            basis: Basis::Statutory(StatutoryBasis::ChildProtectionNotification)
        }
    );
    let claimed = given(&family).target(|target| {
        target.statutory = Some(StatutoryBasis::ChildProtectionNotification);
        target.to_sector = Some(Sector::MentalHealth);
    });
    assert_eq!(claimed.decide(&teacher, Action::CreateReferral), denied(rules::STATUTORY_BASIS_NOT_IN_LAW));
    assert_eq!(given(&family).decide(&teacher, Action::CreateReferral), denied(rules::NO_RELATIONSHIP));
}

#[test]
fn assignments_and_transfers_are_for_supervisors_and_operators() {
    let family = salo();
    let supervisor = actor("esihenkilo", Role::Supervisor, None);
    let when = given(&family).by_contact_person(anna());
    assert!(when.decide(&supervisor, Action::AssignContactPerson).allowed());
    assert!(when.decide(&supervisor, Action::TransferCaseload).allowed());
    assert!(when.decide(&contact_person(), Action::AssignContactPerson).allowed(), "a handover of their own");
    assert_eq!(when.decide(&contact_person(), Action::TransferCaseload), denied(rules::ROLE_NOT_PERMITTED));
    let unassigned = FamilyFacts::default();
    assert_eq!(
        given(&unassigned).decide(&registrar(), Action::AssignContactPerson),
        denied(rules::NO_RELATIONSHIP)
    );
}

#[test]
fn operators_operate_but_see_no_personal_data_without_break_glass() {
    let family = salo();
    let operator = actor("operaattori", Role::Operator, None);
    assert!(given(&family).decide(&operator, Action::Rebuild).allowed());
    assert!(given(&family).decide(&operator, Action::GetStatistics).allowed());
    assert_eq!(
        given(&family).decide(&operator, Action::GetFamilyView),
        denied(rules::OPERATORS_SEE_NO_PERSONAL_DATA)
    );
    let mut when = given(&family);
    when.break_glass =
        Some(BreakGlass { family_id: family_id(), reason: "incident 42".into(), until_ms: NOW_MS + 1 });
    assert_eq!(
        when.decide(&operator, Action::GetFamilyView),
        Decision::Allow { scope: Scope::Whole, basis: Basis::BreakGlass("incident 42".into()) }
    );
    when.break_glass =
        Some(BreakGlass { family_id: family_id(), reason: "incident 42".into(), until_ms: NOW_MS });
    assert_eq!(when.decide(&operator, Action::GetFamilyView), denied(rules::OPERATORS_SEE_NO_PERSONAL_DATA));
    assert_eq!(given(&family).decide(&contact_person(), Action::Rebuild), denied(rules::OPERATORS_ONLY));
}

#[test]
fn search_by_name_stays_in_the_callers_caseload_and_by_identity_code_needs_a_purpose() {
    let family = salo();
    let when = given(&family).target(|target| target.family = None);
    assert_eq!(
        when.decide(&contact_person(), Action::SearchFamilies),
        Decision::Allow { scope: Scope::Own, basis: Basis::Own }
    );
    let by_code = when.target(|target| target.identity_code_search = true);
    assert_eq!(
        by_code.decide(&contact_person(), Action::SearchFamilies),
        denied(rules::SEARCH_NEEDS_PURPOSE)
    );
    let with_purpose =
        by_code.target(|target| target.purpose = Some("a child protection notification".into()));
    assert!(with_purpose.decide(&contact_person(), Action::SearchFamilies).allowed());
    let teacher = professional("opettaja", Sector::School);
    assert_eq!(with_purpose.decide(&teacher, Action::SearchFamilies), denied(rules::ROLE_NOT_PERMITTED));
}

#[test]
fn a_work_list_is_the_callers_own() {
    let family = salo();
    let own = given(&family).by_contact_person(anna()).target(|target| {
        target.family = None;
        target.contact_person = Some(anna());
    });
    assert!(own.decide(&contact_person(), Action::ListCaseload).allowed());
    let others = own.target(|target| target.contact_person = Some(bertta()));
    assert_eq!(others.decide(&contact_person(), Action::ListCaseload), denied(rules::NOT_OWN_WORK_LIST));
    let inbox = given(&family).target(|target| {
        target.family = None;
        target.sector = Some(Sector::School);
    });
    assert!(inbox.decide(&professional("opettaja", Sector::School), Action::ListReferrals).allowed());
    assert_eq!(
        inbox.decide(&professional("hoitaja", Sector::MentalHealth), Action::ListReferrals),
        denied(rules::NOT_OWN_WORK_LIST)
    );
    let everything = given(&family).target(|target| target.family = None);
    assert_eq!(
        everything.decide(&professional("opettaja", Sector::School), Action::ListReferrals),
        denied(rules::NOT_OWN_WORK_LIST)
    );
}

#[test]
fn every_action_is_decided_for_every_role_without_panicking() {
    let family = salo();
    for role in Role::ALL {
        let caller = actor("someone", *role, Some(Sector::School));
        for action in Action::ALL {
            let _ = given(&family).decide(&caller, *action);
        }
    }
    let paths: std::collections::BTreeSet<String> = Action::ALL.iter().map(|action| action.path()).collect();
    assert_eq!(paths.len(), Action::ALL.len(), "one action per RPC");
    for action in Action::ALL {
        assert_eq!(Action::of_path(&action.path()), Some(*action));
    }
}

/// The relationships of the access-policy table, as columns.
const COLUMNS: [&str; 11] = [
    "contact person",
    "pending receiver",
    "consenting sector",
    "receiving sector",
    "unrelated sector",
    "family member",
    "other family's member",
    "supervisor",
    "data protection",
    "operator",
    "operator, break-glass",
];

/// Who calls, and what they are to the Salo family, for each column.
fn caller(column: &str) -> (Actor, When<'static>) {
    let family: &'static FamilyFacts = Box::leak(Box::new({
        let mut family = salo();
        family.apply_assignment(&AssignmentEvent::HandoverProposed(HandoverProposed {
            handover_id: id(50),
            from: anna(),
            to: bertta(),
            reason: Personal::Plain("leave".into()),
        }));
        family
    }));
    let when = given(family);
    match column {
        "contact person" => (contact_person(), when.by_contact_person(anna())),
        "pending receiver" => (
            actor("bertta", Role::ContactPerson, Some(Sector::FamilySocialServices)),
            when.by_contact_person(bertta()),
        ),
        "consenting sector" => (professional("terveydenhoitaja", Sector::ChildHealthClinic), when),
        "receiving sector" => (professional("sosiaalityontekija", Sector::ChildProtection), when),
        "unrelated sector" => (professional("rehtori", Sector::EarlyEducation), when),
        "family member" => (family_member(), when.by_member(guardian())),
        "other family's member" => {
            let mut when = when;
            when.caller_member = Some(MemberRef { family_id: id(901), member_id: guardian() });
            (family_member(), when)
        }
        "supervisor" => (actor("esihenkilo", Role::Supervisor, None), when),
        "data protection" => (actor("tietosuoja", Role::DataProtection, None), when),
        "operator" => (actor("operaattori", Role::Operator, None), when),
        _ => {
            let mut when = when;
            when.break_glass = Some(BreakGlass {
                family_id: family_id(),
                reason: "incident 42".into(),
                until_ms: NOW_MS + 60_000,
            });
            (actor("operaattori", Role::Operator, None), when)
        }
    }
}

/// What each action names, in the table: the family, and its referral to child protection,
/// its meeting, or the caller's own work list.
fn target_of(action: Action, when: When<'static>, caller: &Actor) -> When<'static> {
    let own = caller.clone();
    when.target(move |target| match (action, action.rules()) {
        (Action::GetReferral | Action::UpdateReferral, _) => {
            target.referral = Some(to_child_protection());
            target.step = Some(ReferralStep::Receiving);
        }
        (Action::GetMeeting | Action::AnswerInvitation, _) => {
            target.meeting = Some(network_meeting());
            target.participant = Some(Participant::Sector(Sector::MentalHealth));
        }
        (_, RuleSet::OwnWorkList | RuleSet::Search | RuleSet::Statistics | RuleSet::Directory) => {
            target.family = None;
            target.person = Some(own.person_id.clone());
        }
        (_, RuleSet::GrantConsent) => {
            target.member = Some(guardian());
            target.signed_form = Some("form-1".into());
        }
        (Action::BreakGlass, _) => target.purpose = Some("incident 42".into()),
        _ => {}
    })
}

/// The table of every RPC × relationship, as `docs/access-policy.md` holds it.
fn table() -> String {
    let mut table = format!("| RPC | {} |\n|---|{}\n", COLUMNS.join(" | "), "---|".repeat(COLUMNS.len()));
    for action in Action::ALL {
        let cells: Vec<&str> = COLUMNS
            .iter()
            .map(|column| {
                let (actor, when) = caller(column);
                match target_of(*action, when, &actor).decide(&actor, *action) {
                    Decision::Allow { scope: Scope::Whole, .. } => "all",
                    Decision::Allow { .. } => "part",
                    Decision::Deny { rule } if rule == rules::NO_RELATIONSHIP => "hidden",
                    Decision::Deny { .. } => "no",
                }
            })
            .collect();
        table.push_str(&format!("| `{}` | {} |\n", action.method(), cells.join(" | ")));
    }
    table
}

#[test]
fn the_documented_table_is_the_policy() {
    let document =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/access-policy.md"))
            .expect("docs/access-policy.md");
    let expected = table();
    assert!(
        document.contains(&expected),
        "docs/access-policy.md does not hold the policy's table; it is:\n\n{expected}"
    );
}

#[test]
fn an_invitation_is_answered_by_the_invited_for_themselves() {
    let family = salo();
    let answering = |participant: Participant| {
        given(&family).target(move |target| {
            target.meeting = Some(network_meeting());
            target.participant = Some(participant);
        })
    };
    let psychologist = professional("psykologi", Sector::MentalHealth);
    assert!(
        answering(Participant::Sector(Sector::MentalHealth))
            .decide(&psychologist, Action::AnswerInvitation)
            .allowed()
    );
    let nurse = professional("terveydenhoitaja", Sector::ChildHealthClinic);
    assert_eq!(
        answering(Participant::Sector(Sector::ChildHealthClinic)).decide(&nurse, Action::AnswerInvitation),
        denied(rules::NOT_A_PARTICIPANT),
        "not invited"
    );
    assert_eq!(
        answering(Participant::Sector(Sector::MentalHealth)).decide(&nurse, Action::AnswerInvitation),
        denied(rules::NOT_A_PARTICIPANT),
        "not for another"
    );
}

#[test]
fn a_member_is_linked_by_the_contact_person_and_unlinked_by_it_or_an_operator() {
    let family = salo();
    let when = given(&family).by_contact_person(anna());
    let operator = actor("operaattori", Role::Operator, None);
    assert!(when.decide(&contact_person(), Action::LinkMember).allowed());
    assert!(when.decide(&contact_person(), Action::UnlinkMember).allowed());
    assert!(given(&family).decide(&operator, Action::UnlinkMember).allowed(), "an operator stops a sign-in");
    assert_eq!(
        given(&family).decide(&operator, Action::LinkMember),
        denied(rules::OPERATORS_SEE_NO_PERSONAL_DATA),
        "but never lets someone sign in as a member"
    );
    let maria = given(&family).by_member(guardian());
    assert_eq!(maria.decide(&family_member(), Action::LinkMember), denied(rules::NOT_THE_CONTACT_PERSON));
}
