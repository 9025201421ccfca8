//! Referrals: a sector's inbox, and a referral's own page, where the sender follows it and the
//! receiving sector takes its steps.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use luukku_grpc::with_token;
use luukku_proto::referrals::v1 as referrals;
use luukku_proto::referrals::v1::update_referral_request::Step;
use maud::{Markup, html};

use crate::forms;
use crate::i18n::{Lang, moment};
use crate::session::Session;
use crate::{App, Posted, SignedIn, page, pages, problem, redirect, refused};

/// States a receiving sector still has work in.
const OPEN: &[&str] = &["requested", "received", "accepted", "in_progress", "on_hold"];

/// The signed-in professional's sector's referrals not yet ended, oldest first.
pub async fn inbox(State(app): State<App>, SignedIn { session, .. }: SignedIn) -> Response {
    let lang = session.lang;
    let Some(sector) = session.sector.clone() else {
        return page(
            lang,
            lang.t("inbox"),
            Some(&session),
            html! { h1 { (lang.t("inbox")) } (pages::nothing(lang)) },
        );
    };
    let request = referrals::ListReferralsRequest {
        sector: sector.clone(),
        states: OPEN.iter().map(|state| (*state).to_owned()).collect(),
        page_size: 200,
        ..Default::default()
    };
    let listed = match app.referrals().list_referrals(with_token(request, &session.token)).await {
        Ok(listed) => listed.into_inner().referrals,
        Err(status) => return refused(lang, &session, &status),
    };
    let body = html! {
        h1 { (lang.t("inbox")) ": " (lang.word("sector", &sector)) }
        @if listed.is_empty() { p { (lang.t("no_referrals")) } } @else {
            table {
                thead { tr {
                    th scope="col" { (lang.t("sent_at")) }
                    th scope="col" { (lang.t("needs")) }
                    th scope="col" { (lang.t("urgency")) }
                    th scope="col" { (lang.t("state")) }
                    th scope="col" { (lang.t("deadline")) }
                } }
                tbody {
                    @for referral in &listed {
                        tr {
                            td data-label=(lang.t("sent_at")) { a href={ "/referrals/" (referral.referral_id) } { (moment(lang, referral.sent_at_ms)) } }
                            td data-label=(lang.t("needs")) { (pages::words(lang, "need", &referral.needs)) }
                            td data-label=(lang.t("urgency")) { (lang.word("urgency", &referral.urgency)) }
                            td data-label=(lang.t("state")) { (lang.word("state", &referral.state)) }
                            td data-label=(lang.t("deadline")) {
                                (moment(lang, referral.deadline_ms))
                                @if referral.overdue { " " span.attention { (lang.t("overdue")) } }
                            }
                        }
                    }
                }
            }
        }
    };
    page(lang, lang.t("inbox"), Some(&session), body)
}

#[derive(serde::Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
}

/// The steps the signed-in person may offer at `state`: (step, text key). The service decides
/// whether they may take it.
fn steps(session: &Session, referral: &referrals::Referral) -> Vec<(&'static str, &'static str)> {
    let receiving =
        session.sector.as_deref() == Some(referral.sector.as_str()) && session.role == "sector_professional";
    let mut steps = Vec::new();
    if receiving {
        steps.extend(match referral.state.as_str() {
            "requested" => &[("receive", "step_receive")][..],
            "received" => &[("accept", "step_accept"), ("reject", "step_reject")][..],
            "accepted" => &[("start", "step_start")][..],
            "in_progress" => &[("complete", "step_complete")][..],
            _ => &[][..],
        });
    }
    if session.role == "contact_person"
        && matches!(referral.state.as_str(), "requested" | "received" | "accepted")
    {
        steps.push(("cancel", "step_cancel"));
    }
    steps
}

fn referral_page(
    lang: Lang,
    session: &Session,
    found: &referrals::GetReferralResponse,
    notice: Option<&str>,
) -> Markup {
    let referral = found.referral.clone().unwrap_or_default();
    let reasons = forms::coded(
        lang,
        "reject",
        &["no_capacity", "not_eligible", "referred_elsewhere", "family_declined"],
    );
    html! {
        h1 { (lang.t("referral")) ": " (lang.word("sector", &referral.sector)) }
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        p { a href={ "/families/" (referral.family_id) } { (lang.t("back_to_family")) } }
        dl {
            dt { (lang.t("state")) } dd { (lang.word("state", &referral.state)) @if referral.overdue { " " span.attention { (lang.t("overdue")) } } }
            dt { (lang.t("needs")) } dd { (pages::words(lang, "need", &referral.needs)) }
            dt { (lang.t("urgency")) } dd { (lang.word("urgency", &referral.urgency)) }
            dt { (lang.t("sent_at")) } dd { (moment(lang, referral.sent_at_ms)) }
            dt { (lang.t("deadline")) } dd { (moment(lang, referral.deadline_ms)) }
            dt { (lang.t("waiting_days")) } dd { (referral.waiting_ms / 86_400_000) }
            @if !referral.reason.is_empty() { dt { (lang.t("reason")) } dd { (referral.reason) } }
            @if referral.consent_lapsed { dt { (lang.t("consents")) } dd { span.attention { (lang.t("consent_lapsed")) } } }
        }
        @for (step, key) in steps(session, &referral) {
            form.stack #{ "step-" (step) } method="post" action={ "/referrals/" (referral.referral_id) "/step" } {
                (forms::hidden(session))
                input type="hidden" name="step" value=(step);
                input type="hidden" name="expected_version" value=(referral.version);
                @if step == "reject" {
                    (forms::select("reject_reason", lang.t("reason"), &reasons, "", None))
                }
                @if matches!(step, "reject" | "complete" | "cancel") {
                    (forms::text(&format!("note-{step}"), lang.t("note"), "", None, false))
                }
                button.primary type="submit" { (lang.t(key)) }
            }
        }
        h2 { (lang.t("history")) }
        ol {
            @for entry in &found.history {
                li {
                    (moment(lang, entry.recorded_at_ms)) " – "
                    (entry.events.iter().map(|event| event.summary.as_str()).collect::<Vec<_>>().join("; "))
                }
            }
        }
    }
}

async fn show(
    app: &App,
    session: &Session,
    referral_id: &str,
    notice: Option<&str>,
    refusal: Option<&tonic::Status>,
) -> Response {
    let lang = session.lang;
    let request = referrals::GetReferralRequest { referral_id: referral_id.to_owned() };
    match app.referrals().get_referral(with_token(request, &session.token)).await {
        Ok(found) => {
            let mut body = referral_page(lang, session, found.get_ref(), notice);
            let mut code = StatusCode::OK;
            if let Some(status) = refusal {
                body = html! { (pages::problem(&problem(lang, status))) (body) };
                code = StatusCode::UNPROCESSABLE_ENTITY;
            }
            (code, page(lang, lang.t("referral"), Some(session), body)).into_response()
        }
        Err(status) => refused(lang, session, &status),
    }
}

pub async fn show_page(
    State(app): State<App>,
    SignedIn { session, .. }: SignedIn,
    Path(referral_id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let notice = match done.done.as_str() {
        "sent" => Some(session.lang.t("referral_sent")),
        "step" => Some(session.lang.t("referral_stepped")),
        _ => None,
    };
    show(&app, &session, &referral_id, notice, None).await
}

pub async fn step(
    State(app): State<App>,
    Path(referral_id): Path<String>,
    Posted { session, form, .. }: Posted,
) -> Response {
    let name = form.get("step");
    let note = || referrals::WithNote { note: form.get(&format!("note-{name}")) };
    let step = match name.as_str() {
        "receive" => Step::Receive(referrals::Empty {}),
        "accept" => Step::Accept(referrals::Empty {}),
        "reject" => Step::Reject(referrals::Reject { reason: form.get("reject_reason"), note: note().note }),
        "start" => Step::Start(referrals::Empty {}),
        "complete" => Step::Complete(note()),
        "cancel" => Step::Cancel(note()),
        _ => return crate::missing(&session),
    };
    let request = referrals::UpdateReferralRequest {
        request_id: form.request_id(),
        referral_id: referral_id.clone(),
        expected_version: form.get("expected_version").parse().ok(),
        step: Some(step),
    };
    match app.referrals().update_referral(with_token(request, &session.token)).await {
        Ok(_) => redirect(&format!("/referrals/{referral_id}?done=step")),
        Err(status) if forms::fixable(&status) => {
            show(&app, &session, &referral_id, None, Some(&status)).await
        }
        Err(status) => refused(session.lang, &session, &status),
    }
}
