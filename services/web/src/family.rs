//! A family's page and the actions on it: consents, the contact log, referrals, meetings, and
//! who the family's contact person is (assignment and handover).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use luukku_grpc::with_token;
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::families::v1 as families;
use luukku_proto::meetings::v1 as meetings;
use luukku_proto::referrals::v1 as referrals;
use maud::{Markup, html};

use crate::forms::{self, Problem};
use crate::i18n::{self, Lang, iso_date, moment};
use crate::session::Session;
use crate::{App, Posted, SignedIn, family_view, page, pages, problem, redirect, refused, shown};

/// What the family page says after a write (`?done=`).
pub fn notice(lang: Lang, done: &str) -> Option<&'static str> {
    let key = match done {
        "registered" => "registered",
        "consent" => "consent_granted",
        "revoked" => "consent_revoked",
        "contact" => "contact_logged",
        "referral" => "referral_sent",
        "handover" => "handover_proposed",
        "accept" => "handover_accepted",
        "decline" => "handover_declined",
        "withdraw" => "handover_withdrawn",
        "meeting" => "meeting_proposed",
        _ => return None,
    };
    Some(lang.t(key))
}

/// Which form a refusal belongs to, so it is shown there.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Consent,
    Contact,
    Referral,
    Meeting,
    Handover,
    /// Accepting, declining or withdrawing a handover: no form of its own to show it at.
    Decision,
}

impl Part {
    /// The id of its section's heading on the family page.
    fn anchor(self) -> &'static str {
        match self {
            Part::Consent => "act-consent",
            Part::Contact => "act-contact",
            Part::Referral => "act-referral",
            Part::Meeting => "act-meeting",
            Part::Handover | Part::Decision => "act-handover",
        }
    }
}

/// What the page offers beside the view: the catalogue to refer to and the family's meetings.
#[derive(Default)]
struct Extras {
    services: Vec<referrals::Service>,
    meetings: Vec<meetings::Meeting>,
}

/// The family's page; with a refusal shown at the form it belongs to (and the answer 422).
pub async fn respond(
    app: &App,
    session: &Session,
    family_id: &str,
    after: Option<&str>,
    notice: Option<&str>,
    refusal: Option<(Part, Problem)>,
) -> Response {
    let lang = session.lang;
    let view = match family_view(app, session, family_id, after).await {
        Ok(view) => view,
        Err(status) => return refused(lang, session, &status),
    };
    // Shown now: its live view asks the services again.
    session.set_live_refused(family_id, false);
    let extras = if view.status == "active" && coordinates(session, &view) {
        extras(app, session, &view).await
    } else {
        Extras::default()
    };
    let body = family_page(lang, session, &view, &extras, notice, refusal.as_ref());
    let code = if refusal.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    (code, page(lang, lang.t("family"), Some(session), body)).into_response()
}

/// Whether the signed-in person coordinates the family: its contact person, or before one is
/// assigned, the one who registered it (whose view then withholds nothing).
fn coordinates(session: &Session, view: &coordination::FamilyView) -> bool {
    match &view.contact_person {
        Some(person) => session.contact_person_id.as_deref() == Some(person.contact_person_id.as_str()),
        None => session.role == "contact_person" && view.withheld.is_empty(),
    }
}

async fn extras(app: &App, session: &Session, view: &coordination::FamilyView) -> Extras {
    let catalogue = referrals::SearchServicesRequest {
        municipality: view.municipality.clone(),
        taking_referrals: true,
        page_size: 200,
        ..Default::default()
    };
    let listed =
        meetings::ListFamilyMeetingsRequest { family_id: view.family_id.clone(), ..Default::default() };
    let mut referral_client = app.referrals();
    let mut meeting_client = app.meetings();
    let (services, meetings) = tokio::join!(
        referral_client.search_services(with_token(catalogue, &session.token)),
        meeting_client.list_family_meetings(with_token(listed, &session.token)),
    );
    // The view stands without them; the forms that need them say there is nothing to pick.
    Extras {
        services: services.map(|found| found.into_inner().services).unwrap_or_else(|status| {
            tracing::warn!(code = ?status.code(), "listing the service catalogue");
            Vec::new()
        }),
        meetings: meetings.map(|found| found.into_inner().meetings).unwrap_or_else(|status| {
            tracing::warn!(code = ?status.code(), "listing the family's meetings");
            Vec::new()
        }),
    }
}

/// A write refused: the family's page again, the refusal at its form; or a page that says
/// what the refusal means.
async fn refused_at(
    app: &App,
    session: &Session,
    family_id: &str,
    part: Part,
    form: &crate::forms::Fields,
    status: &tonic::Status,
) -> Response {
    use tonic::Code;
    match status.code() {
        Code::InvalidArgument | Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists => {
            respond(
                app,
                session,
                family_id,
                None,
                None,
                Some((part, problem(session.lang, status).with_sent(form))),
            )
            .await
        }
        _ => refused(session.lang, session, status),
    }
}

fn members_of<'v>(view: &'v coordination::FamilyView, role: &str) -> Vec<&'v coordination::Member> {
    view.members.iter().filter(|member| member.role == role).collect()
}

/// The form of `part` as it was sent, when it was refused.
fn sent(refusal: Option<&(Part, Problem)>, part: Part) -> Option<&Problem> {
    refusal.filter(|(at, _)| *at == part).map(|(_, problem)| problem)
}

fn value<'p>(sent: Option<&'p Problem>, name: &str) -> &'p str {
    sent.map_or("", |problem| problem.value(name))
}

fn values(sent: Option<&Problem>, name: &str) -> Vec<String> {
    sent.map(|problem| problem.values(name)).unwrap_or_default()
}

fn about(refusal: Option<&(Part, Problem)>, part: Part, paths: &[&str]) -> Option<String> {
    refusal.filter(|(at, _)| *at == part).and_then(|(_, problem)| problem.about(paths))
}

/// An action's section: its heading, and its refusal; open when refused.
fn section(id: &str, heading: &str, part: Part, refusal: Option<&(Part, Problem)>, body: Markup) -> Markup {
    let refused = refusal.filter(|(at, _)| *at == part);
    html! {
        details.action open[refused.is_some()] {
            summary #(id) { (heading) }
            @if let Some((_, problem)) = refused { (pages::problem(problem)) }
            (body)
        }
    }
}

fn family_page(
    lang: Lang,
    session: &Session,
    view: &coordination::FamilyView,
    extras: &Extras,
    notice: Option<&str>,
    refusal: Option<&(Part, Problem)>,
) -> Markup {
    let names: Vec<&str> = view.members.iter().map(|member| member.name.as_str()).collect();
    let coordinating = view.status == "active" && coordinates(session, view);
    // A refusal whose form is not on the page (a handover decision; a family that closed
    // meanwhile) is said at the top.
    let drawn = |part: Part| {
        part != Part::Decision
            && coordinating
            && (part != Part::Handover || (view.contact_person.is_some() && view.pending_handover.is_none()))
    };
    let unplaced = refusal.filter(|(part, _)| !drawn(*part)).map(|(_, problem)| problem);
    html! {
        h1 { (lang.t("family")) ": " (names.join(", ")) }
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        @if let Some(problem) = unplaced { (pages::problem(problem)) }
        // A refused form may be far down the page: the top says so and leads there.
        @if let Some((part, problem)) = refusal.filter(|(part, _)| drawn(*part)) {
            p.problem { (problem.message) " " a href={ "#" (part.anchor()) } { (lang.t("to_form")) } }
        }
        p.muted { (lang.t("family_id")) ": " code { (view.family_id) } " · "
            a href={ "/families/" (view.family_id) "/access-log" } { (lang.t("access_log")) } }
        @if let Some(handover) = &view.pending_handover { (handover_decision(lang, session, view, handover)) }
        p.visually-hidden #live-status role="status" data-text=(lang.t("updated")) {}
        p.notice #live-paused role="status" hidden data-text=(lang.t("live_paused")) {}
        div #family-view data-live={ "/families/" (view.family_id) "/events" } data-fragment={ "/families/" (view.family_id) "/fragment" } {
            (pages::family_view(lang, view))
        }
        @if coordinating {
            h2 { (lang.t("meetings")) }
            @if extras.meetings.is_empty() { (pages::nothing(lang)) }
            ul {
                @for meeting in &extras.meetings {
                    li {
                        a href={ "/families/" (view.family_id) "/meetings/" (meeting.meeting_id) } { (lang.word("purpose", &meeting.purpose)) }
                        " – " (lang.word("meeting", meeting_status(meeting)))
                        @if let Some(slot) = &meeting.scheduled { " – " (moment(lang, slot.starts_at_ms)) }
                    }
                }
            }
            (section(Part::Contact.anchor(), lang.t("log_contact"), Part::Contact, refusal, contact_form(lang, session, view, refusal)))
            (section(Part::Referral.anchor(), lang.t("make_referral"), Part::Referral, refusal, referral_form(lang, session, view, &extras.services, refusal)))
            (section(Part::Meeting.anchor(), lang.t("propose_meeting"), Part::Meeting, refusal, crate::meetings::propose_form(lang, session, view, refusal.filter(|(at, _)| *at == Part::Meeting).map(|(_, problem)| problem))))
            (section(Part::Consent.anchor(), lang.t("grant_consent"), Part::Consent, refusal, consent_forms(lang, session, view, refusal)))
            @if view.contact_person.is_some() && view.pending_handover.is_none() {
                (section(Part::Handover.anchor(), lang.t("handover"), Part::Handover, refusal, handover_form(lang, session, view, refusal)))
            }
        }
    }
}

pub fn meeting_status(meeting: &meetings::Meeting) -> &'static str {
    match meetings::MeetingStatus::try_from(meeting.status) {
        Ok(meetings::MeetingStatus::Proposed) => "proposed",
        Ok(meetings::MeetingStatus::Scheduled) => "scheduled",
        Ok(meetings::MeetingStatus::Held) => "held",
        Ok(meetings::MeetingStatus::Cancelled) => "cancelled",
        _ => "",
    }
}

fn guardians(view: &coordination::FamilyView) -> Vec<(String, String)> {
    members_of(view, "guardian")
        .iter()
        .map(|member| (member.member_id.clone(), member.name.clone()))
        .collect()
}

fn consent_forms(
    lang: Lang,
    session: &Session,
    view: &coordination::FamilyView,
    refusal: Option<&(Part, Problem)>,
) -> Markup {
    let error = |paths: &[&str]| about(refusal, Part::Consent, paths);
    let was = sent(refusal, Part::Consent);
    let sectors = forms::coded(lang, "sector", forms::SECTORS);
    html! {
        form.stack method="post" action={ "/families/" (view.family_id) "/consents" } novalidate {
            (forms::hidden(session))
            (forms::select("given_by", lang.t("given_by"), &guardians(view), value(was, "given_by"), error(&["given_by"])))
            (forms::checks("sectors", lang.t("sectors"), &sectors, &values(was, "sectors"), error(&["sectors"])))
            (forms::text("purpose", lang.t("purpose"), value(was, "purpose"), error(&["purpose"]), false))
            (forms::text("valid_until", lang.t("valid_until"), value(was, "valid_until"), error(&["valid_until"]), false))
            (forms::text("signed_form", lang.t("signed_form"), value(was, "signed_form"), error(&["signed_form"]), false))
            button.primary type="submit" { (lang.t("grant_button")) }
        }
        @for consent in &view.consents {
            form.inline method="post" action={ "/families/" (view.family_id) "/consents/" (consent.consent_id) "/revoke" } {
                (forms::hidden(session))
                @let id = format!("revoked_by-{}", consent.consent_id);
                span { (pages::words(lang, "sector", &consent.sectors)) ", " (lang.t("valid_until")) " " (iso_date(&consent.valid_until)) " " }
                label for=(id) { (lang.t("revoked_by")) }
                select #(id) name="revoked_by" {
                    @for (value, name) in guardians(view) { option value=(value) { (name) } }
                }
                button type="submit" { (lang.t("revoke")) }
            }
        }
    }
}

fn contact_form(
    lang: Lang,
    session: &Session,
    view: &coordination::FamilyView,
    refusal: Option<&(Part, Problem)>,
) -> Markup {
    let error = |paths: &[&str]| about(refusal, Part::Contact, paths);
    let was = sent(refusal, Part::Contact);
    let mut with: Vec<(String, String)> = view
        .members
        .iter()
        .map(|member| (format!("member:{}", member.member_id), member.name.clone()))
        .collect();
    with.extend(
        forms::SECTORS.iter().map(|sector| (format!("sector:{sector}"), lang.word("sector", sector))),
    );
    html! {
        form.stack method="post" action={ "/families/" (view.family_id) "/contacts" } novalidate {
            (forms::hidden(session))
            (forms::select("with", lang.t("with_whom"), &with, value(was, "with"), error(&["member_id", "professional_sector"])))
            (forms::select("direction", lang.t("direction"), &[("inbound".to_owned(), lang.t("inbound").to_owned()), ("outbound".to_owned(), lang.t("outbound").to_owned())], value(was, "direction"), error(&["direction"])))
            (forms::select("channel", lang.t("channel"), &forms::coded(lang, "channel", forms::CHANNELS), value(was, "channel"), error(&["channel"])))
            (forms::checks("contact_needs", lang.t("needs"), &forms::coded(lang, "need", forms::NEEDS), &values(was, "contact_needs"), error(&["needs"])))
            (forms::area("summary", lang.t("summary"), value(was, "summary"), error(&["summary"])))
            (forms::text("follow_up", lang.t("follow_up_date"), value(was, "follow_up"), error(&["follow_up"]), false))
            button.primary type="submit" { (lang.t("log_button")) }
        }
    }
}

fn referral_form(
    lang: Lang,
    session: &Session,
    view: &coordination::FamilyView,
    services: &[referrals::Service],
    refusal: Option<&(Part, Problem)>,
) -> Markup {
    let error = |paths: &[&str]| about(refusal, Part::Referral, paths);
    let was = sent(refusal, Part::Referral);
    let services: Vec<(String, String)> = services
        .iter()
        .map(|service| {
            let info = service.info.clone().unwrap_or_default();
            (service.service_id.clone(), format!("{} ({})", info.name, lang.word("sector", &info.sector)))
        })
        .collect();
    let mut concerns = vec![(String::new(), lang.t("whole_family").to_owned())];
    concerns
        .extend(members_of(view, "child").iter().map(|child| (child.member_id.clone(), child.name.clone())));
    html! {
        form.stack method="post" action={ "/families/" (view.family_id) "/referrals" } novalidate {
            (forms::hidden(session))
            (forms::select("service_id", lang.t("service"), &services, value(was, "service_id"), error(&["service_id"])))
            (forms::select("child_member_id", lang.t("concerns"), &concerns, value(was, "child_member_id"), error(&["child_member_id"])))
            (forms::checks("referral_needs", lang.t("needs"), &forms::coded(lang, "need", forms::NEEDS), &values(was, "referral_needs"), error(&["needs"])))
            (forms::select("urgency", lang.t("urgency"), &forms::coded(lang, "urgency", &["normal", "urgent"]), value(was, "urgency"), error(&["urgency"])))
            (forms::area("reason", lang.t("reason"), value(was, "reason"), error(&["reason"])))
            button.primary type="submit" { (lang.t("refer_button")) }
        }
    }
}

fn handover_form(
    lang: Lang,
    session: &Session,
    view: &coordination::FamilyView,
    refusal: Option<&(Part, Problem)>,
) -> Markup {
    let error = |paths: &[&str]| about(refusal, Part::Handover, paths);
    let was = sent(refusal, Part::Handover);
    html! {
        form.stack method="post" action={ "/families/" (view.family_id) "/handover" } novalidate {
            (forms::hidden(session))
            (forms::text("person_id", lang.t("person_id"), value(was, "person_id"), error(&["person_id", "contact_person_id"]), false))
            (forms::area("handover_reason", lang.t("reason"), value(was, "handover_reason"), error(&["reason"])))
            button.primary type="submit" { (lang.t("handover_button")) }
        }
    }
}

/// A pending handover: the receiver accepts or declines it, the sender may withdraw it.
fn handover_decision(
    lang: Lang,
    session: &Session,
    view: &coordination::FamilyView,
    handover: &coordination::Handover,
) -> Markup {
    let id = |person: &Option<coordination::ContactPerson>| {
        person.as_ref().map(|person| person.contact_person_id.clone())
    };
    let name = |person: &Option<coordination::ContactPerson>| {
        person.as_ref().map(|person| person.name.clone()).unwrap_or_default()
    };
    let mine = session.contact_person_id.clone();
    let action =
        |decision: &str| format!("/families/{}/handover/{}/{decision}", view.family_id, handover.handover_id);
    html! {
        @if mine.is_some() && id(&handover.to) == mine {
            div.notice role="status" {
                p { (lang.t("handover_to_you")) " " (name(&handover.from)) }
                form.inline method="post" action=(action("accept")) { (forms::hidden(session)) button.primary type="submit" { (lang.t("accept")) } }
                form.inline method="post" action=(action("decline")) {
                    (forms::hidden(session))
                    label for="decline-reason" { (lang.t("reason")) }
                    input #decline-reason name="reason" type="text";
                    button type="submit" { (lang.t("decline")) }
                }
            }
        } @else if mine.is_some() && id(&handover.from) == mine {
            div.notice role="status" {
                p { (lang.t("handover_from_you")) " " (name(&handover.to)) }
                form.inline method="post" action=(action("withdraw")) { (forms::hidden(session)) button type="submit" { (lang.t("withdraw")) } }
            }
        }
    }
}

pub async fn grant_consent(
    State(app): State<App>,
    Path(family_id): Path<String>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let lang = session.lang;
    if form.get("signed_form").is_empty() {
        // A consent rests on a signed form: said here, next to its field.
        let problem = Problem::field(lang, "signed_form", lang.t("signed_form_needed")).with_sent(&form);
        return respond(&app, &session, &family_id, None, None, Some((Part::Consent, problem))).await;
    }
    let valid_until = form.get("valid_until");
    let request = families::GrantConsentRequest {
        request_id: form.request_id(),
        family_id: family_id.clone(),
        given_by: form.get("given_by"),
        sectors: form.all("sectors"),
        purpose: form.get("purpose"),
        valid_until: i18n::parse_date(&valid_until).unwrap_or(valid_until),
        signed_form: form.get("signed_form"),
        ..Default::default()
    };
    match app.families().grant_consent(with_token(request, &session.token)).await {
        Ok(granted) => shown(&family_id, granted.into_inner().result.as_ref(), "consent"),
        Err(status) => refused_at(&app, &session, &family_id, Part::Consent, &form, &status).await,
    }
}

pub async fn revoke_consent(
    State(app): State<App>,
    Path((family_id, consent_id)): Path<(String, String)>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let request = families::RevokeConsentRequest {
        request_id: form.request_id(),
        family_id: family_id.clone(),
        consent_id,
        revoked_by: form.get("revoked_by"),
        ..Default::default()
    };
    match app.families().revoke_consent(with_token(request, &session.token)).await {
        Ok(revoked) => shown(&family_id, revoked.into_inner().result.as_ref(), "revoked"),
        Err(status) => refused_at(&app, &session, &family_id, Part::Consent, &form, &status).await,
    }
}

pub async fn record_contact(
    State(app): State<App>,
    Path(family_id): Path<String>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let lang = session.lang;
    let follow_up = form.get("follow_up");
    let follow_up = match (follow_up.is_empty(), i18n::parse_date(&follow_up)) {
        (true, _) => String::new(),
        (false, Some(date)) => date,
        (false, None) => {
            let problem = Problem::field(lang, "follow_up", lang.t("date_form")).with_sent(&form);
            return respond(&app, &session, &family_id, None, None, Some((Part::Contact, problem))).await;
        }
    };
    let with = form.get("with");
    let (member_id, professional_sector) = match with.split_once(':') {
        Some(("member", member)) => (member.to_owned(), String::new()),
        Some(("sector", sector)) => (String::new(), sector.to_owned()),
        _ => (String::new(), String::new()),
    };
    let direction = match form.get("direction").as_str() {
        "outbound" => contacts::Direction::Outbound,
        _ => contacts::Direction::Inbound,
    };
    let request = contacts::RecordContactRequest {
        request_id: form.request_id(),
        family_id: family_id.clone(),
        direction: direction as i32,
        member_id,
        professional_sector,
        channel: form.get("channel"),
        needs: form.all("contact_needs"),
        summary: form.get("summary"),
        follow_up,
        ..Default::default()
    };
    match app.contacts().record_contact(with_token(request, &session.token)).await {
        Ok(recorded) => shown(&family_id, recorded.into_inner().result.as_ref(), "contact"),
        Err(status) => refused_at(&app, &session, &family_id, Part::Contact, &form, &status).await,
    }
}

pub async fn create_referral(
    State(app): State<App>,
    Path(family_id): Path<String>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let request = referrals::CreateReferralRequest {
        request_id: form.request_id(),
        family_id: family_id.clone(),
        child_member_id: form.get("child_member_id"),
        service_id: form.get("service_id"),
        needs: form.all("referral_needs"),
        urgency: form.get("urgency"),
        reason: form.get("reason"),
        ..Default::default()
    };
    match app.referrals().create_referral(with_token(request, &session.token)).await {
        Ok(created) => {
            let created = created.into_inner();
            // The referral's own page follows it from here (it reads the referral itself).
            redirect(&format!("/referrals/{}?done=sent", created.referral_id))
        }
        Err(status) => refused_at(&app, &session, &family_id, Part::Referral, &form, &status).await,
    }
}

/// The contact person whose tokens name `person_id`, as the form named them.
async fn contact_person(app: &App, session: &Session, person_id: &str) -> Result<String, tonic::Status> {
    let request = contacts::GetContactPersonRequest { person_id: person_id.to_owned(), ..Default::default() };
    let found = app.contacts().get_contact_person(with_token(request, &session.token)).await?.into_inner();
    found
        .contact_person
        .map(|person| person.contact_person_id)
        .ok_or_else(|| tonic::Status::not_found("no such contact person"))
}

/// The refusal of a person id no contact person has: said next to its field.
fn unknown_person(lang: Lang) -> Problem {
    Problem::field(lang, "person_id", lang.t("no_such_contact_person"))
}

pub async fn propose_handover(
    State(app): State<App>,
    Path(family_id): Path<String>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let to = match contact_person(&app, &session, &form.get("person_id")).await {
        Ok(to) => to,
        Err(status) if matches!(status.code(), tonic::Code::NotFound | tonic::Code::InvalidArgument) => {
            let problem = unknown_person(session.lang).with_sent(&form);
            return respond(&app, &session, &family_id, None, None, Some((Part::Handover, problem))).await;
        }
        Err(status) => return refused(session.lang, &session, &status),
    };
    let request = contacts::AssignContactPersonRequest {
        request_id: form.request_id(),
        family_id: family_id.clone(),
        contact_person_id: to,
        reason: form.get("handover_reason"),
        ..Default::default()
    };
    match app.contacts().assign_contact_person(with_token(request, &session.token)).await {
        Ok(proposed) => shown(&family_id, proposed.into_inner().result.as_ref(), "handover"),
        Err(status) => refused_at(&app, &session, &family_id, Part::Handover, &form, &status).await,
    }
}

pub async fn decide_handover(
    State(app): State<App>,
    Path((family_id, handover_id, decision)): Path<(String, String, String)>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let request = contacts::HandoverDecisionRequest {
        request_id: form.request_id(),
        family_id: family_id.clone(),
        handover_id,
        reason: form.get("reason"),
        ..Default::default()
    };
    let request = with_token(request, &session.token);
    let mut client = app.contacts();
    let decided = match decision.as_str() {
        "accept" => client.accept_handover(request).await,
        "decline" => client.decline_handover(request).await,
        "withdraw" => client.withdraw_handover(request).await,
        _ => return crate::missing(&session),
    };
    match decided {
        Ok(decided) => shown(&family_id, decided.into_inner().result.as_ref(), &decision),
        Err(status) => refused_at(&app, &session, &family_id, Part::Decision, &form, &status).await,
    }
}

#[derive(serde::Deserialize, Default)]
pub struct AssignQuery {
    #[serde(default)]
    done: String,
}

fn assign_form(lang: Lang, session: &Session, notice: Option<&str>, refusal: Option<&Problem>) -> Markup {
    let error = |paths: &[&str]| refusal.and_then(|problem| problem.about(paths));
    let form = html! {
        form.stack method="post" action="/assign" novalidate {
            (forms::hidden(session))
            (forms::text("family_id", lang.t("family_id"), value(refusal, "family_id"), error(&["family_id"]), false))
            (forms::text("person_id", lang.t("person_id"), value(refusal, "person_id"), error(&["person_id", "contact_person_id"]), false))
            (forms::area("reason", lang.t("reason"), value(refusal, "reason"), error(&["reason"])))
            button.primary type="submit" { (lang.t("assign_button")) }
        }
    };
    html! {
        h1 { (lang.t("assign")) }
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        @if let Some(refusal) = refusal { (pages::problem(refusal)) }
        (form)
    }
}

/// A supervisor assigns a family its contact person (or proposes a handover, when it has one).
pub async fn assign_page(SignedIn { session, .. }: SignedIn, Query(query): Query<AssignQuery>) -> Response {
    let lang = session.lang;
    let notice = match query.done.as_str() {
        "assigned" => Some(lang.t("assigned")),
        "handover" => Some(lang.t("handover_proposed")),
        _ => None,
    };
    page(lang, lang.t("assign"), Some(&session), assign_form(lang, &session, notice, None))
}

pub async fn assign(State(app): State<App>, Posted { session, form, .. }: Posted) -> Response {
    let lang = session.lang;
    let again = |problem: Problem| {
        let body = assign_form(lang, &session, None, Some(&problem));
        (StatusCode::UNPROCESSABLE_ENTITY, page(lang, lang.t("assign"), Some(&session), body)).into_response()
    };
    let to = match contact_person(&app, &session, &form.get("person_id")).await {
        Ok(to) => to,
        Err(status) if matches!(status.code(), tonic::Code::NotFound | tonic::Code::InvalidArgument) => {
            return again(unknown_person(lang).with_sent(&form));
        }
        Err(status) => return refused(lang, &session, &status),
    };
    let request = contacts::AssignContactPersonRequest {
        request_id: form.request_id(),
        family_id: form.get("family_id"),
        contact_person_id: to,
        reason: form.get("reason"),
        ..Default::default()
    };
    match app.contacts().assign_contact_person(with_token(request, &session.token)).await {
        Ok(assigned) if assigned.get_ref().assigned => redirect("/assign?done=assigned"),
        Ok(_) => redirect("/assign?done=handover"),
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition | tonic::Code::NotFound
            ) =>
        {
            again(problem(lang, &status).with_sent(&form))
        }
        Err(status) => refused(lang, &session, &status),
    }
}
