//! Forms as sent (repeated fields included), the form parts every page shares, and what a
//! refusal names next to its field.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use crate::i18n::Lang;
use crate::session::Session;

/// What went wrong with a call, in words, and the fields it names.
#[derive(Debug, Default, Clone)]
pub struct Problem {
    pub message: String,
    /// Field path to what is wrong with it.
    pub fields: BTreeMap<String, String>,
    /// The form as it was sent, so it is shown again as the person left it.
    pub sent: Vec<(String, String)>,
    /// The fields already shown next to their form field (the summary lists the others).
    pub placed: RefCell<BTreeSet<String>>,
}

impl Problem {
    /// A form field the page itself could not read (a date, a time).
    pub fn field(lang: Lang, field: &str, what: &str) -> Self {
        let mut problem = Problem { message: lang.t("fix_fields").to_owned(), ..Problem::default() };
        problem.fields.insert(field.to_owned(), what.to_owned());
        problem
    }

    /// With the form as it was sent.
    pub fn with_sent(mut self, form: &Fields) -> Self {
        self.sent = form.0.iter().filter(|(name, _)| name != "csrf").cloned().collect();
        self
    }

    /// The value sent in field `name`; empty when none.
    pub fn value(&self, name: &str) -> &str {
        self.sent.iter().find(|(key, _)| key == name).map_or("", |(_, value)| value.as_str())
    }

    /// Every value sent in field `name` (check boxes).
    pub fn values(&self, name: &str) -> Vec<String> {
        self.sent.iter().filter(|(key, _)| key == name).map(|(_, value)| value.clone()).collect()
    }

    /// What it says of the field at `path`, or of anything under it (`slots` covers
    /// `slots[0].starts_at_ms`); what is found counts as shown at its field.
    pub fn about(&self, paths: &[&str]) -> Option<String> {
        let (field, what) = paths.iter().find_map(|path| {
            self.fields.iter().find(|(field, _)| {
                field.as_str() == *path
                    || field.strip_prefix(path).is_some_and(|rest| rest.starts_with(['.', '[']))
            })
        })?;
        self.placed.borrow_mut().insert(field.clone());
        Some(what.clone())
    }

    /// What it says of exactly the field at one of `paths`; counts as shown at its field.
    pub fn exact(&self, paths: &[&str]) -> Option<String> {
        let (field, what) = paths.iter().find_map(|path| self.fields.get_key_value(*path))?;
        self.placed.borrow_mut().insert(field.clone());
        Some(what.clone())
    }

    /// What it says of fields not shown next to a form field.
    pub fn unplaced(&self) -> Vec<(&String, &String)> {
        let placed = self.placed.borrow();
        self.fields.iter().filter(|(field, _)| !placed.contains(*field)).collect()
    }
}

/// A form as sent, in order; a field may repeat (`needs=a&needs=b`).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_owned())
            .unwrap_or_default()
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(key, _)| key == name).map(|(_, value)| value.trim().to_owned()).collect()
    }

    /// Every field, as (name, value trimmed).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value.trim()))
    }

    /// The request id the form was made with (see [`request_id`]).
    pub fn request_id(&self) -> String {
        request_id(&self.get("request_id"))
    }
}

/// The request id a form was made with; a new one for a form without (an old page).
pub fn request_id(sent: &str) -> String {
    luukku_domain::RequestId::parse(sent.trim())
        .map_or_else(|_| luukku_domain::RequestId::generate().to_string(), |id| id.to_string())
}

/// Whether a refusal is the person's to fix on the form they sent (its fields, a rule, a
/// change made meanwhile): the form is shown again with it.
pub fn fixable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition | tonic::Code::Aborted
    )
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let body = Bytes::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        Ok(Self::parse(&body))
    }
}

/// The hidden fields of every form: the session's CSRF token, and a request id made with the
/// form, so a form sent twice (a double click, a retry) writes once.
pub fn hidden(session: &Session) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(session.csrf);
        input type="hidden" name="request_id" value=(luukku_domain::RequestId::generate().to_string());
    }
}

/// A labelled one-line text field, with what a refusal said of it. `numeric` brings a number
/// pad on phones: for codes only, as its pad has no `.` for dates and times.
pub fn text(id: &str, label: &str, value: &str, error: Option<String>, numeric: bool) -> Markup {
    let described = error.as_ref().map(|_| format!("{id}-error"));
    html! {
        div {
            label for=(id) { (label) }
            input #(id) name=(id) type="text" inputmode=[numeric.then_some("numeric")] value=(value)
                aria-invalid=[error.as_ref().map(|_| "true")] aria-describedby=[described.as_deref()];
            @if let Some(error) = error { p.error id={ (id) "-error" } { (error) } }
        }
    }
}

/// A labelled text area holding `value`, with what a refusal said of it.
pub fn area(id: &str, label: &str, value: &str, error: Option<String>) -> Markup {
    let described = error.as_ref().map(|_| format!("{id}-error"));
    html! {
        div {
            label for=(id) { (label) }
            textarea #(id) name=(id) rows="3" aria-invalid=[error.as_ref().map(|_| "true")] aria-describedby=[described.as_deref()] { (value) }
            @if let Some(error) = error { p.error id={ (id) "-error" } { (error) } }
        }
    }
}

/// A labelled choice of one of `options` (value, words), `chosen` selected.
pub fn select(
    id: &str,
    label: &str,
    options: &[(String, String)],
    chosen: &str,
    error: Option<String>,
) -> Markup {
    let described = error.as_ref().map(|_| format!("{id}-error"));
    html! {
        div {
            label for=(id) { (label) }
            select #(id) name=(id) aria-invalid=[error.as_ref().map(|_| "true")] aria-describedby=[described.as_deref()] {
                @for (value, words) in options { option value=(value) selected[value == chosen] { (words) } }
            }
            @if let Some(error) = error { p.error id={ (id) "-error" } { (error) } }
        }
    }
}

/// Check boxes named `name`, one per option (value, words), in a fieldset; those in `checked`
/// ticked.
pub fn checks(
    name: &str,
    legend: &str,
    options: &[(String, String)],
    checked: &[String],
    error: Option<String>,
) -> Markup {
    html! {
        fieldset {
            legend { (legend) }
            @for (value, words) in options {
                @let id = format!("{name}-{value}").replace(':', "-");
                div.choice {
                    input type="checkbox" name=(name) id=(id) value=(value) checked[checked.contains(value)];
                    " " label for=(id) { (words) }
                }
            }
            @if let Some(error) = error { p.error role="alert" { (error) } }
        }
    }
}

/// (code, words) for each code of `kind`.
pub fn coded(lang: Lang, kind: &str, codes: &[&str]) -> Vec<(String, String)> {
    codes.iter().map(|code| ((*code).to_owned(), lang.word(kind, code))).collect()
}

pub const SECTORS: &[&str] = &[
    "child_health_clinic",
    "early_education",
    "school",
    "student_welfare",
    "family_social_services",
    "child_protection",
    "mental_health",
    "family_counselling",
    "rehabilitation",
    "ngo_or_parish",
];

pub const NEEDS: &[&str] = &[
    "parenting",
    "child_development",
    "learning",
    "mental_health",
    "substance_use",
    "finances",
    "housing",
    "family_relationships",
    "violence",
    "health",
    "disability",
    "loneliness",
    "other",
];

pub const CHANNELS: &[&str] = &["phone", "walk_in", "chat", "email", "video", "home_visit"];

pub const PURPOSES: &[&str] = &[
    "support_planning",
    "school_support",
    "early_education_support",
    "transition",
    "crisis",
    "follow_up",
    "other",
];
