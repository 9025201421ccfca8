//! Network meetings of a family: proposed with times to choose from, scheduled on one, and
//! recorded as held, with the child's own view and the actions agreed.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use luukku_grpc::with_token;
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::meetings::v1 as meetings;
use luukku_proto::meetings::v1::participant::Who;
use maud::{Markup, html};

use crate::family::{Part, meeting_status};
use crate::forms::{self, Problem};
use crate::i18n::{self, Lang, iso_date, moment};
use crate::session::Session;
use crate::{App, Posted, SignedIn, family_view, page, pages, problem, redirect, refused};

/// How many agreed actions the form offers rows for.
const ACTION_ROWS: usize = 3;

/// A participant as a form value: `member:<id>`, `person:<id>` or `sector:<code>`.
fn value(participant: &meetings::Participant) -> String {
    match &participant.who {
        Some(Who::MemberId(id)) => format!("member:{id}"),
        Some(Who::PersonId(id)) => format!("person:{id}"),
        Some(Who::Sector(code)) => format!("sector:{code}"),
        None => String::new(),
    }
}

fn participant(value: &str) -> Option<meetings::Participant> {
    let who = match value.split_once(':')? {
        ("member", id) => Who::MemberId(id.to_owned()),
        ("person", id) => Who::PersonId(id.to_owned()),
        ("sector", code) => Who::Sector(code.to_owned()),
        _ => return None,
    };
    Some(meetings::Participant { who: Some(who) })
}

/// Who may be invited or own an action: the family's members, the signed-in person, sectors.
fn people(lang: Lang, session: &Session, view: &coordination::FamilyView) -> Vec<(String, String)> {
    let mut people =
        vec![(format!("person:{}", session.person), format!("{} ({})", session.person, lang.t("me")))];
    people.extend(
        view.members.iter().map(|member| (format!("member:{}", member.member_id), member.name.clone())),
    );
    people.extend(
        forms::SECTORS.iter().map(|sector| (format!("sector:{sector}"), lang.word("sector", sector))),
    );
    people
}

/// The form to propose a meeting, on the family's page.
pub fn propose_form(
    lang: Lang,
    session: &Session,
    view: &coordination::FamilyView,
    refusal: Option<&Problem>,
) -> Markup {
    let error = |paths: &[&str]| refusal.and_then(|problem| problem.about(paths));
    let was = |name: &str| refusal.map_or("", |problem| problem.value(name)).to_owned();
    html! {
        form.stack method="post" action={ "/families/" (view.family_id) "/meetings" } novalidate {
            (forms::hidden(session))
            (forms::select("meeting_purpose", lang.t("purpose"), &forms::coded(lang, "purpose", forms::PURPOSES), &was("meeting_purpose"), error(&["purpose"])))
            (forms::area("description", lang.t("description"), &was("description"), error(&["description"])))
            @for slot in 0..2 {
                fieldset {
                    legend { (lang.t("slots")) " " (slot + 1) }
                    (forms::text(&format!("slot{slot}_date"), lang.t("slot_date"), &was(&format!("slot{slot}_date")), error(&[&format!("slot{slot}_date"), &format!("slots[{slot}]")]), false))
                    (forms::text(&format!("slot{slot}_time"), lang.t("slot_time"), &was(&format!("slot{slot}_time")), error(&[&format!("slot{slot}_time")]), false))
                    (forms::text(&format!("slot{slot}_minutes"), lang.t("slot_minutes"), &Some(was(&format!("slot{slot}_minutes"))).filter(|minutes| !minutes.is_empty()).unwrap_or_else(|| "60".to_owned()), error(&[&format!("slot{slot}_minutes")]), true))
                }
            }
            (forms::text("place", lang.t("place"), &was("place"), error(&["place"]), false))
            (forms::checks("participants", lang.t("participants"), &people(lang, session, view), &refusal.map(|problem| problem.values("participants")).unwrap_or_default(), error(&["participants"])))
            button.primary type="submit" { (lang.t("propose_button")) }
        }
    }
}

/// `d.m.yyyy` and `hh.mm` (or `hh:mm`) in Finland, as milliseconds since the epoch.
fn starts_at(date: &str, time: &str) -> Result<i64, &'static str> {
    let date: jiff::civil::Date =
        i18n::parse_date(date).and_then(|date| date.parse().ok()).ok_or("date_form")?;
    let (hour, minute) = time.trim().split_once(['.', ':']).ok_or("time_form")?;
    let hour: i8 = hour.parse().map_err(|_| "time_form")?;
    let minute: i8 = minute.parse().map_err(|_| "time_form")?;
    let at = jiff::civil::DateTime::new(date.year(), date.month(), date.day(), hour, minute, 0, 0)
        .map_err(|_| "time_form")?;
    let zoned = at.to_zoned(luukku_app::finnish_zone()).map_err(|_| "time_form")?;
    Ok(zoned.timestamp().as_millisecond())
}

pub async fn propose(
    State(app): State<App>,
    Path(family_id): Path<String>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let lang = session.lang;
    let mut slots = Vec::new();
    for slot in 0..2 {
        let (date, time) = (form.get(&format!("slot{slot}_date")), form.get(&format!("slot{slot}_time")));
        if slot > 0 && date.is_empty() && time.is_empty() {
            continue;
        }
        let starts_at_ms = match starts_at(&date, &time) {
            Ok(at) => at,
            Err(key) => {
                let field =
                    if key == "date_form" { format!("slot{slot}_date") } else { format!("slot{slot}_time") };
                let problem = Problem::field(lang, &field, lang.t(key)).with_sent(&form);
                return crate::family::respond(
                    &app,
                    &session,
                    &family_id,
                    None,
                    None,
                    Some((Part::Meeting, problem)),
                )
                .await;
            }
        };
        let minutes = form.get(&format!("slot{slot}_minutes")).parse().unwrap_or(60);
        slots.push(meetings::Slot { starts_at_ms, minutes });
    }
    let request = meetings::ProposeMeetingRequest {
        request_id: form.request_id(),
        family_id: family_id.clone(),
        purpose: form.get("meeting_purpose"),
        description: form.get("description"),
        slots,
        place: form.get("place"),
        participants: form.all("participants").iter().filter_map(|value| participant(value)).collect(),
        ..Default::default()
    };
    match app.meetings().propose_meeting(with_token(request, &session.token)).await {
        Ok(proposed) => redirect(&format!(
            "/families/{family_id}/meetings/{}?done=proposed",
            proposed.into_inner().meeting_id
        )),
        Err(status) if forms::fixable(&status) => {
            let problem = problem(lang, &status).with_sent(&form);
            crate::family::respond(&app, &session, &family_id, None, None, Some((Part::Meeting, problem)))
                .await
        }
        Err(status) => refused(lang, &session, &status),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn meeting_times_are_read_in_finnish_time_and_nonsense_is_refused() {
        // 1.6.2026 10.00 in Finland is 07.00 UTC (summer time).
        assert_eq!(super::starts_at("1.6.2026", "10.00"), Ok(1_780_297_200_000));
        assert_eq!(super::starts_at("1.6.2026", "10:00"), Ok(1_780_297_200_000));
        assert_eq!(super::starts_at("1.6.2026", "25.00"), Err("time_form"));
        assert_eq!(super::starts_at("1.6.2026", "10.61"), Err("time_form"));
        assert_eq!(super::starts_at("1.6.2026", "kymmenen"), Err("time_form"));
        assert_eq!(super::starts_at("31.6.2026", "10.00"), Err("date_form"));
    }
}

#[derive(serde::Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
}

fn who(lang: Lang, view: &coordination::FamilyView, participant: &meetings::Participant) -> String {
    pages::owner(lang, view, &value(participant))
}

fn meeting_page(
    lang: Lang,
    session: &Session,
    view: &coordination::FamilyView,
    meeting: &meetings::Meeting,
    version: u64,
    notice: Option<&str>,
    refusal: Option<&Problem>,
) -> Markup {
    let base = format!("/families/{}/meetings/{}", view.family_id, meeting.meeting_id);
    let status = meeting_status(meeting);
    let children: Vec<&coordination::Member> =
        view.members.iter().filter(|member| member.role == "child").collect();
    let error = |paths: &[&str]| refusal.and_then(|problem| problem.about(paths));
    let was = |name: &str| refusal.map_or("", |problem| problem.value(name)).to_owned();
    // The page's body first: what its forms show next to their fields, the summary above them
    // does not repeat.
    let body = html! {
        p { a href={ "/families/" (view.family_id) } { (lang.t("back_to_family")) } }
        dl {
            dt { (lang.t("state")) } dd { (lang.word("meeting", status)) }
            @if !meeting.description.is_empty() { dt { (lang.t("description")) } dd { (meeting.description) } }
            @if !meeting.place.is_empty() { dt { (lang.t("place")) } dd { (meeting.place) } }
            @if let Some(slot) = &meeting.scheduled { dt { (lang.t("scheduled_at")) } dd { (moment(lang, slot.starts_at_ms)) " (" (slot.minutes) " min)" } }
            @if meeting.held_at_ms > 0 { dt { (lang.t("held_at")) } dd { (moment(lang, meeting.held_at_ms)) } }
            dt { (lang.t("participants")) }
            dd { (meeting.invitations.iter().filter_map(|invitation| invitation.participant.as_ref()).map(|participant| who(lang, view, participant)).collect::<Vec<_>>().join(", ")) }
        }
        @if status == "proposed" {
            form.stack method="post" action={ (base) "/schedule" } {
                (forms::hidden(session))
                input type="hidden" name="expected_version" value=(version);
                fieldset {
                    legend { (lang.t("slots")) }
                    @for (index, slot) in meeting.proposed_slots.iter().enumerate() {
                        div.choice {
                            input type="radio" name="slot" id={ "slot-" (index) } value=(index) checked[index == 0];
                            " " label for={ "slot-" (index) } { (moment(lang, slot.starts_at_ms)) " (" (slot.minutes) " min)" }
                        }
                    }
                }
                button.primary type="submit" { (lang.t("schedule_button")) }
            }
        }
        @if status == "scheduled" {
            h2 { (lang.t("hold_meeting")) }
            form.stack method="post" action={ (base) "/hold" } novalidate {
                (forms::hidden(session))
                input type="hidden" name="expected_version" value=(version);
                fieldset {
                    legend { (lang.t("attended")) }
                    @for (index, invitation) in meeting.invitations.iter().enumerate() {
                        @if let Some(participant) = &invitation.participant {
                            div.choice {
                                input type="checkbox" name="attended" id={ "attended-" (index) } value=(value(participant)) checked;
                                " " label for={ "attended-" (index) } { (who(lang, view, participant)) }
                            }
                        }
                    }
                }
                (forms::area("summary", lang.t("summary"), &was("summary"), error(&["summary"])))
                @for child in &children {
                    @let field = format!("child_view-{}", child.member_id);
                    (forms::area(&field, &format!("{} {}", lang.t("child_view"), child.name), &was(&field), error(&["child_views"])))
                }
                @for row in 0..ACTION_ROWS {
                    fieldset {
                        legend { (lang.t("agreed_actions")) " " (row + 1) }
                        (forms::text(&format!("action{row}_what"), lang.t("action_what"), &was(&format!("action{row}_what")), error(&[&format!("actions[{row}].what")]), false))
                        (forms::select(&format!("action{row}_owner"), lang.t("action_owner"), &people(lang, session, view), &was(&format!("action{row}_owner")), error(&[&format!("actions[{row}].owner")])))
                        (forms::text(&format!("action{row}_due"), lang.t("action_due"), &was(&format!("action{row}_due")), error(&[&format!("action{row}_due"), &format!("actions[{row}].due")]), false))
                    }
                }
                button.primary type="submit" { (lang.t("hold_button")) }
            }
        }
        @if status == "held" {
            @if !meeting.summary.is_empty() { h2 { (lang.t("summary")) } p { (meeting.summary) } }
            @for child_view in &meeting.child_views {
                h2 { (lang.t("child_view")) " " (pages::owner(lang, view, &format!("member:{}", child_view.member_id))) }
                p { (child_view.view) }
            }
            h2 { (lang.t("agreed_actions")) }
            @if meeting.actions.is_empty() { (pages::nothing(lang)) }
            ul {
                @for action in &meeting.actions {
                    li {
                        (action.what) " – "
                        (action.owner.as_ref().map(|owner| who(lang, view, owner)).unwrap_or_default())
                        ", " (lang.t("due")) " " (iso_date(&action.due))
                        @if action.done { " – " (lang.t("action_done")) }
                        @else {
                            @if action.overdue { " " span.attention { (lang.t("overdue")) } }
                            form.inline method="post" action={ (base) "/actions/" (action.action_id) "/done" } {
                                (forms::hidden(session))
                                input type="hidden" name="expected_version" value=(version);
                                button type="submit" { (lang.t("mark_done")) }
                            }
                        }
                    }
                }
            }
        }
    };
    html! {
        h1 { (lang.t("meeting")) ": " (lang.word("purpose", &meeting.purpose)) }
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        @if let Some(refusal) = refusal { (pages::problem(refusal)) }
        (body)
    }
}

async fn show(
    app: &App,
    session: &Session,
    family_id: &str,
    meeting_id: &str,
    notice: Option<&str>,
    refusal: Option<Problem>,
) -> Response {
    let lang = session.lang;
    let request = meetings::GetMeetingRequest { meeting_id: meeting_id.to_owned() };
    let mut client = app.meetings();
    let (found, view) = tokio::join!(
        client.get_meeting(with_token(request, &session.token)),
        family_view(app, session, family_id, None)
    );
    let (found, view) = match (found, view) {
        (Ok(found), Ok(view)) => (found.into_inner(), view),
        (Err(status), _) | (_, Err(status)) => return refused(lang, session, &status),
    };
    let Some(meeting) = found.meeting.filter(|meeting| meeting.family_id == family_id) else {
        return refused(lang, session, &tonic::Status::not_found("no such meeting of the family"));
    };
    let code = if refusal.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let body = meeting_page(lang, session, &view, &meeting, found.version, notice, refusal.as_ref());
    (code, page(lang, lang.t("meeting"), Some(session), body)).into_response()
}

pub async fn show_page(
    State(app): State<App>,
    SignedIn { session, .. }: SignedIn,
    Path((family_id, meeting_id)): Path<(String, String)>,
    Query(done): Query<Done>,
) -> Response {
    let lang = session.lang;
    let notice = match done.done.as_str() {
        "proposed" => Some(lang.t("meeting_proposed")),
        "scheduled" => Some(lang.t("meeting_scheduled")),
        "held" => Some(lang.t("meeting_held")),
        "action" => Some(lang.t("action_completed")),
        _ => None,
    };
    show(&app, &session, &family_id, &meeting_id, notice, None).await
}

/// After a meeting's write: its page again, with what was done or what was refused.
async fn answered<T>(
    app: &App,
    session: &Session,
    family_id: &str,
    meeting_id: &str,
    done: &str,
    form: &forms::Fields,
    answer: Result<T, tonic::Status>,
) -> Response {
    match answer {
        Ok(_) => redirect(&format!("/families/{family_id}/meetings/{meeting_id}?done={done}")),
        Err(status) if forms::fixable(&status) => {
            show(
                app,
                session,
                family_id,
                meeting_id,
                None,
                Some(problem(session.lang, &status).with_sent(form)),
            )
            .await
        }
        Err(status) => refused(session.lang, session, &status),
    }
}

pub async fn schedule(
    State(app): State<App>,
    Path((family_id, meeting_id)): Path<(String, String)>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let request = meetings::ScheduleMeetingRequest {
        request_id: form.request_id(),
        family_id: family_id.clone(),
        expected_version: form.get("expected_version").parse().ok(),
        meeting_id: meeting_id.clone(),
        slot: form.get("slot").parse().unwrap_or_default(),
    };
    let answer = app.meetings().schedule_meeting(with_token(request, &session.token)).await;
    answered(&app, &session, &family_id, &meeting_id, "scheduled", &form, answer).await
}

pub async fn hold(
    State(app): State<App>,
    Path((family_id, meeting_id)): Path<(String, String)>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let lang = session.lang;
    let mut actions = Vec::new();
    for row in 0..ACTION_ROWS {
        let what = form.get(&format!("action{row}_what"));
        if what.is_empty() {
            continue;
        }
        let due = form.get(&format!("action{row}_due"));
        let Some(due) = i18n::parse_date(&due) else {
            let problem =
                Problem::field(lang, &format!("action{row}_due"), lang.t("date_form")).with_sent(&form);
            return show(&app, &session, &family_id, &meeting_id, None, Some(problem)).await;
        };
        actions.push(meetings::NewAction {
            what,
            owner: participant(&form.get(&format!("action{row}_owner"))),
            due,
            ..Default::default()
        });
    }
    let request = meetings::HoldMeetingRequest {
        request_id: form.request_id(),
        family_id: family_id.clone(),
        expected_version: form.get("expected_version").parse().ok(),
        meeting_id: meeting_id.clone(),
        attended: form.all("attended").iter().filter_map(|value| participant(value)).collect(),
        summary: form.get("summary"),
        child_views: form
            .fields()
            .filter_map(|(name, text)| {
                let member_id = name.strip_prefix("child_view-")?;
                (!text.is_empty())
                    .then(|| meetings::ChildView { member_id: member_id.to_owned(), view: text.to_owned() })
            })
            .collect(),
        actions,
        ..Default::default()
    };
    let answer = app.meetings().hold_meeting(with_token(request, &session.token)).await;
    answered(&app, &session, &family_id, &meeting_id, "held", &form, answer).await
}

pub async fn complete_action(
    State(app): State<App>,
    Path((family_id, meeting_id, action_id)): Path<(String, String, String)>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let request = meetings::CompleteActionRequest {
        request_id: form.request_id(),
        family_id: family_id.clone(),
        expected_version: form.get("expected_version").parse().ok(),
        meeting_id: meeting_id.clone(),
        action_id,
        note: String::new(),
    };
    let answer = app.meetings().complete_action(with_token(request, &session.token)).await;
    answered(&app, &session, &family_id, &meeting_id, "action", &form, answer).await
}
