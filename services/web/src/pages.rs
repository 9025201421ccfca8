//! The pages, as maud templates: every value is escaped, and no page holds inline script.

use luukku_proto::coordination::v1 as coordination;
use maud::{DOCTYPE, Markup, html};

use crate::i18n::{Lang, iso_date, moment};
use crate::session::Session;

pub use crate::forms::Problem;

/// The page around `body`.
pub fn layout(lang: Lang, title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – luukku" }
                link rel="stylesheet" href="/static/luukku.css";
                script src="/static/live.js" defer {}
            }
            body {
                a.skip href="#main" { (lang.t("skip")) }
                header {
                    span.brand { "luukku" }
                    @if let Some(session) = session {
                        nav aria-label=(lang.t("menu")) {
                            ul {
                                @for (href, key) in crate::menu(&session.role) {
                                    li { a href=(href) { (lang.t(key)) } }
                                }
                            }
                        }
                        span { (lang.t("signed_in_as")) " " (session.person) }
                        form method="post" action="/sign-out" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { (lang.t("sign_out")) }
                        }
                    }
                    nav aria-label=(lang.t("language")) {
                        ul {
                            @for other in Lang::ALL {
                                li {
                                    @if other == lang {
                                        span aria-current="true" { (other.name()) }
                                    } @else {
                                        a href={ "/lang?to=" (other.code()) } lang=(other.code()) { (other.name()) }
                                    }
                                }
                            }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// A call's refusal, in words.
pub fn problem(problem: &Problem) -> Markup {
    html! {
        div.problem role="alert" {
            p { (problem.message) }
            // Those shown next to their form fields are not repeated here.
            @let unplaced = problem.unplaced();
            @if !unplaced.is_empty() {
                ul {
                    @for (field, what) in unplaced {
                        li { (field) ": " (what) }
                    }
                }
            }
        }
    }
}

/// The development identities one may sign in as under `luukku dev`.
pub fn sign_in(lang: Lang, identities: &[(&str, &str)], available: bool, provider: bool) -> Markup {
    html! {
        h1 { (lang.t("sign_in")) }
        @if provider {
            form.stack method="post" action="/sign-in/oidc" {
                button.primary type="submit" { (lang.t("sign_in_provider")) }
            }
        }
        @if available {
            p.notice { (lang.t("dev_note")) }
            form.stack method="post" action="/sign-in" {
                fieldset {
                    legend { (lang.t("dev_identity")) }
                    @for (index, (id, label)) in identities.iter().enumerate() {
                        div.choice {
                            input type="radio" name="identity" id={ "identity-" (id) } value=(id) checked[index == 0];
                            " "
                            label for={ "identity-" (id) } { (label) }
                        }
                    }
                }
                button.primary type="submit" { (lang.t("sign_in")) }
            }
        } @else if !provider {
            p.problem { (lang.t("no_sign_in")) }
        }
    }
}

fn attention(count: u32) -> Markup {
    html! {
        @if count > 0 { span.attention { (count) } } @else { span.muted { "0" } }
    }
}

/// The contact person's families, what needs attention first (the service's order).
pub fn caseload(
    lang: Lang,
    families: Option<&[coordination::CaseloadEntry]>,
    offered: &[(String, String)],
) -> Markup {
    html! {
        h1 { (lang.t("caseload")) }
        // Families handed to them, awaiting their answer: (id, names).
        @if !offered.is_empty() {
            section.notice aria-labelledby="offered" {
                h2 #offered { (lang.t("offered")) }
                ul {
                    @for (family_id, names) in offered {
                        li { a href={ "/families/" (family_id) } { (names) } }
                    }
                }
            }
        }
        @match families {
            None => p.notice { (lang.t("not_contact_person")) },
            Some([]) => p { (lang.t("no_families")) },
            Some(families) => table {
                thead {
                    tr {
                        th scope="col" { (lang.t("family")) }
                        th scope="col" { (lang.t("overdue_referrals")) }
                        th scope="col" { (lang.t("lapsed_consents")) }
                        th scope="col" { (lang.t("actions_past_due")) }
                        th scope="col" { (lang.t("follow_ups")) }
                        th scope="col" { (lang.t("meetings_week")) }
                    }
                }
                tbody {
                    @for family in families {
                        @let a = family.attention.unwrap_or_default();
                        tr {
                            td data-label=(lang.t("family")) {
                                a href={ "/families/" (family.family_id) } { (family.names.join(", ")) }
                                " " span.muted { "(" (family.municipality) ")" }
                                @if a.pending_handover { " " span.attention { (lang.t("handover_pending")) } }
                            }
                            td data-label=(lang.t("overdue_referrals")) { (attention(a.overdue_referrals)) }
                            td data-label=(lang.t("lapsed_consents")) { (attention(a.consents_ending)) }
                            td data-label=(lang.t("actions_past_due")) { (attention(a.actions_past_due)) }
                            td data-label=(lang.t("follow_ups")) { (attention(a.follow_ups_due)) }
                            td data-label=(lang.t("meetings_week")) { (a.meetings_within_week) }
                        }
                    }
                }
            },
        }
    }
}

fn status_word(lang: Lang, status: &str) -> &'static str {
    match status {
        "active" => lang.t("status_active"),
        "closed" => lang.t("status_closed"),
        "erased" => lang.t("status_erased"),
        _ => "",
    }
}

/// Codes of `kind` in words, separated by commas.
pub fn words(lang: Lang, kind: &str, codes: &[String]) -> String {
    codes.iter().map(|code| lang.word(kind, code)).collect::<Vec<_>>().join(", ")
}

/// An action's owner (`person:<id>`, `sector:<code>` or `member:<id>`) in words.
pub fn owner(lang: Lang, view: &coordination::FamilyView, owner: &str) -> String {
    match owner.split_once(':') {
        Some(("sector", code)) => lang.word("sector", code),
        Some(("member", id)) => view
            .members
            .iter()
            .find(|member| member.member_id == id)
            .map_or_else(|| id.to_owned(), |member| member.name.clone()),
        Some((_, person)) => person.to_owned(),
        None => owner.to_owned(),
    }
}

pub fn nothing(lang: Lang) -> Markup {
    html! { p.muted { (lang.t("nothing")) } }
}

/// A family's one view: what the live page swaps in on each change.
pub fn family_view(lang: Lang, view: &coordination::FamilyView) -> Markup {
    html! {
        p {
            (lang.t("status")) ": " (status_word(lang, &view.status)) " · "
            (lang.t("municipality")) ": " (view.municipality) " · "
            (lang.t("contact_person")) ": "
            @match &view.contact_person { Some(person) => (person.name), None => (lang.t("none")) }
            @if let Some(handover) = &view.pending_handover {
                " · " span.attention { (lang.t("handover_pending")) ": "
                    (handover.from.as_ref().map(|p| p.name.as_str()).unwrap_or_default()) " → "
                    (handover.to.as_ref().map(|p| p.name.as_str()).unwrap_or_default()) }
            }
        }
        @if !view.withheld.is_empty() {
            p.notice { (lang.t("withheld")) " " (view.withheld.join(", ")) }
        }
        section aria-labelledby="members" {
            h2 #members { (lang.t("members")) }
            ul {
                @for member in &view.members {
                    li {
                        (member.name) " – "
                        (if member.role == "child" { lang.t("child") } else { lang.t("guardian") })
                        @if !member.birth_date.is_empty() { ", " (lang.t("born")) " " (iso_date(&member.birth_date)) }
                        @if member.age >= 0 { ", " (lang.t("age")) " " (member.age) }
                    }
                }
            }
        }
        section aria-labelledby="consents" {
            h2 #consents { (lang.t("consents")) }
            @if view.consents.is_empty() { (nothing(lang)) }
            ul {
                @for consent in &view.consents {
                    li {
                        (lang.t("sectors")) ": " (words(lang, "sector", &consent.sectors)) " · "
                        (lang.t("valid_until")) " " (iso_date(&consent.valid_until))
                        @if consent.ending_soon { " " span.attention { (lang.t("ending_soon")) } }
                    }
                }
            }
        }
        section aria-labelledby="referrals" {
            h2 #referrals { (lang.t("referrals")) }
            @if view.referrals.is_empty() { (nothing(lang)) }
            ul {
                @for referral in &view.referrals {
                    li {
                        a href={ "/referrals/" (referral.referral_id) } { (referral.service_name) }
                        " (" (lang.word("sector", &referral.sector)) "): " (lang.word("state", &referral.state)) " · "
                        (lang.t("waiting_days")) " " (referral.waiting_days)
                        @if referral.overdue { " " span.attention { (lang.t("overdue")) } }
                        @if referral.consent_lapsed { " " span.attention { (lang.t("consent_lapsed")) } }
                    }
                }
            }
        }
        section aria-labelledby="upcoming" {
            h2 #upcoming { (lang.t("meetings_upcoming")) }
            @if view.upcoming_meetings.is_empty() { (nothing(lang)) }
            ul { @for meeting in &view.upcoming_meetings { li { a href={ "/families/" (view.family_id) "/meetings/" (meeting.meeting_id) } { (moment(lang, meeting.at_ms)) } " – " (lang.word("purpose", &meeting.purpose)) } } }
            h2 { (lang.t("meetings_past")) }
            @if view.past_meetings.is_empty() { (nothing(lang)) }
            ul { @for meeting in &view.past_meetings { li { a href={ "/families/" (view.family_id) "/meetings/" (meeting.meeting_id) } { (moment(lang, meeting.at_ms)) } " – " (lang.word("purpose", &meeting.purpose)) } } }
        }
        section aria-labelledby="actions" {
            h2 #actions { (lang.t("open_actions")) }
            @if view.open_actions.is_empty() { (nothing(lang)) }
            ul {
                @for action in &view.open_actions {
                    li {
                        (action.what) " – " (owner(lang, view, &action.owner)) ", " (lang.t("due")) " " (iso_date(&action.due))
                        @if action.overdue { " " span.attention { (lang.t("overdue")) } }
                    }
                }
            }
        }
        section aria-labelledby="contacts" {
            h2 #contacts { (lang.t("contacts")) }
            @if view.recent_contacts.is_empty() { (nothing(lang)) }
            ul { @for contact in &view.recent_contacts { li { (moment(lang, contact.occurred_at_ms)) " – " (lang.word("channel", &contact.channel)) ": " (contact.summary) } } }
        }
        section aria-labelledby="timeline" {
            h2 #timeline { (lang.t("timeline")) }
            ul.plain { @for entry in &view.timeline { li { (moment(lang, entry.at_ms)) " – " (entry.text) } } }
        }
    }
}

/// The values a registration form was sent with, to show them again with its errors.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Registration {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub municipality: String,
    #[serde(default)]
    pub guardian_given: String,
    #[serde(default)]
    pub guardian_family: String,
    #[serde(default)]
    pub child_given: String,
    #[serde(default)]
    pub child_family: String,
    #[serde(default)]
    pub child_born: String,
}

/// The registration form; with the values sent and what was wrong with them after a refusal.
pub fn register(lang: Lang, session: &Session, sent: &Registration, refused: Option<&Problem>) -> Markup {
    // The service names fields by their path in the request.
    let error = |paths: &[&str]| refused.and_then(|problem| problem.exact(paths));
    // The form first: what it shows next to its fields, the summary does not repeat.
    let form = html! {
        form.stack method="post" action="/families" novalidate {
            input type="hidden" name="csrf" value=(session.csrf);
            // Made with the form: a form sent twice (a double click, a retry) writes once; a
            // form shown again after a refusal keeps its id, as nothing was written.
            input type="hidden" name="request_id" value=(if sent.request_id.is_empty() { luukku_domain::RequestId::generate().to_string() } else { sent.request_id.clone() });
            (crate::forms::text("municipality", lang.t("municipality_code"), &sent.municipality, error(&["municipality"]), true))
            fieldset {
                legend { (lang.t("guardian_heading")) }
                (crate::forms::text("guardian_given", lang.t("given_names"), &sent.guardian_given, error(&["members[0].details.given_names", "members[0]"]), false))
                (crate::forms::text("guardian_family", lang.t("family_name"), &sent.guardian_family, error(&["members[0].details.family_name"]), false))
            }
            fieldset {
                legend { (lang.t("child_heading")) }
                (crate::forms::text("child_given", lang.t("given_names"), &sent.child_given, error(&["members[1].details.given_names", "members[1]"]), false))
                (crate::forms::text("child_family", lang.t("family_name"), &sent.child_family, error(&["members[1].details.family_name"]), false))
                (crate::forms::text("child_born", lang.t("birth_date"), &sent.child_born, error(&["members[1].details.birth_date"]), false))
            }
            button.primary type="submit" { (lang.t("register_button")) }
        }
    };
    html! {
        h1 { (lang.t("register")) }
        @if let Some(refused) = refused { (problem(refused)) }
        (form)
    }
}

/// The page after a sign-in at the provider: it goes on to `home` by itself (a navigation of
/// this site's own), or by its link.
pub fn onward(lang: Lang, home: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content={ "0;url=" (home) };
                title { (lang.t("signed_in")) " – luukku" }
                link rel="stylesheet" href="/static/luukku.css";
            }
            body { main #main { p { a href=(home) { (lang.t("signed_in")) } } } }
        }
    }
}

/// A page that says what went wrong, in words.
pub fn error_page(lang: Lang, message: &str) -> Markup {
    html! {
        h1 { "luukku" }
        p.problem role="alert" { (message) }
        p { a href="/" { (lang.t("caseload")) } }
    }
}

/// One page of a family's access log, oldest first, and a link to the next.
pub fn access_log(lang: Lang, family_id: &str, log: &coordination::GetAccessLogResponse) -> Markup {
    html! {
        h1 { (lang.t("access_log")) }
        p { a href={ "/families/" (family_id) } { (lang.t("back_to_family")) } }
        @if log.entries.is_empty() { (nothing(lang)) } @else {
            table {
                thead {
                    tr {
                        th scope="col" { (lang.t("when")) }
                        th scope="col" { (lang.t("who")) }
                        th scope="col" { (lang.t("what")) }
                        th scope="col" { (lang.t("basis")) }
                        th scope="col" { (lang.t("outcome")) }
                    }
                }
                tbody {
                    @for entry in &log.entries {
                        @let actor = entry.actor.clone().unwrap_or_default();
                        tr {
                            td data-label=(lang.t("when")) { (moment(lang, entry.at_ms)) }
                            td data-label=(lang.t("who")) { (actor.person_id) " (" (actor.role) ", " (actor.organisation) ")" }
                            td data-label=(lang.t("what")) { (entry.rpc.rsplit('/').next().unwrap_or_default()) " – " (entry.kind) }
                            td data-label=(lang.t("basis")) { (entry.basis) }
                            td data-label=(lang.t("outcome")) {
                                @if entry.allowed { (lang.t("allowed")) } @else { span.attention { (lang.t("denied")) " " (entry.rule) } }
                            }
                        }
                    }
                }
            }
        }
        @if !log.next_page_token.is_empty() {
            p { a href={ "/families/" (family_id) "/access-log?page=" (form_urlencoded::byte_serialize(log.next_page_token.as_bytes()).collect::<String>()) } { (lang.t("next_page")) } }
        }
    }
}
