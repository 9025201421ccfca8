//! luukku's web client for contact persons: pages rendered on the server, over the same gRPC
//! calls as every other client, with the signed-in person's token (ADR 14).

mod i18n;
mod pages;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use luukku_auth::{DevIssuer, Grant};
use luukku_domain::{RequestId, Role, Sector};
use luukku_grpc::with_token;
use luukku_proto::common::v1::Position;
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::coordination::v1::coordination_service_client::CoordinationServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use maud::Markup;
use tonic::transport::Channel;

pub use i18n::Lang;
use pages::{Problem, Registration};
use session::{Session, Sessions};

/// The Content-Security-Policy of every answer: scripts, styles and connections of this origin
/// only, and no inline script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How long a development token minted at sign-in lives.
const DEV_TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);

/// The development identities offered at sign-in: (id, person, role, sector, label).
const DEV_IDENTITIES: &[(&str, &str, Role, Option<Sector>, &str)] = &[
    (
        "contact",
        "dev.contact",
        Role::ContactPerson,
        Some(Sector::FamilySocialServices),
        "Kaisa Koordinaattori – yhteyshenkilö, lapsiperheiden sosiaalipalvelut",
    ),
    (
        "nurse",
        "dev.nurse",
        Role::SectorProfessional,
        Some(Sector::ChildHealthClinic),
        "Nea Neuvola – terveydenhoitaja, neuvola",
    ),
    ("privacy", "dev.tietosuoja", Role::DataProtection, None, "Tiina Tietosuoja – tietosuojavastaava"),
];

/// Where the services are, and how people sign in.
pub struct WebConfig {
    pub families_url: String,
    pub coordination_url: String,
    /// Under `luukku dev`: the development issuer that signs the identities offered at sign-in.
    pub dev_issuer: Option<Arc<DevIssuer>>,
}

struct Inner {
    sessions: Sessions,
    dev_issuer: Option<Arc<DevIssuer>>,
    families: Channel,
    coordination: Channel,
}

#[derive(Clone)]
struct App(Arc<Inner>);

/// The web client's routes.
pub fn router(config: WebConfig) -> Result<Router, tonic::transport::Error> {
    let lazy = |url: &str| -> Result<Channel, tonic::transport::Error> {
        Ok(tonic::transport::Endpoint::from_shared(url.to_owned())?.connect_lazy())
    };
    let app = App(Arc::new(Inner {
        sessions: Sessions::default(),
        dev_issuer: config.dev_issuer,
        families: lazy(&config.families_url)?,
        coordination: lazy(&config.coordination_url)?,
    }));
    Ok(Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/lang", get(set_lang))
        .route("/caseload", get(caseload))
        .route("/families/new", get(register_page))
        .route("/families", post(register))
        .route("/families/{family_id}", get(family))
        .route("/families/{family_id}/fragment", get(family_fragment))
        .route("/families/{family_id}/events", get(family_events))
        .route("/families/{family_id}/consents", post(grant_consent))
        .route("/families/{family_id}/access-log", get(access_log))
        .route(
            "/static/luukku.css",
            get(|| async { asset("text/css", include_str!("../static/luukku.css")) }),
        )
        .route(
            "/static/live.js",
            get(|| async { asset("text/javascript", include_str!("../static/live.js")) }),
        )
        .fallback(not_found)
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(app))
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

/// The page's language: the session's, or the language cookie's, or Finnish.
fn lang_of(headers: &HeaderMap, session: Option<&Session>) -> Lang {
    session
        .map(|session| session.lang)
        .or_else(|| session::cookie(headers, session::LANG_COOKIE).and_then(Lang::parse))
        .unwrap_or_default()
}

fn page(lang: Lang, title: &str, session: Option<&Session>, body: Markup) -> Response {
    pages::layout(lang, title, session, body).into_response()
}

async fn not_found(headers: HeaderMap) -> Response {
    let lang = lang_of(&headers, None);
    let body = pages::error_page(lang, lang.t("error_not_found"));
    (StatusCode::NOT_FOUND, page(lang, "404", None, body)).into_response()
}

/// The signed-in session, if any.
fn signed_in(app: &App, headers: &HeaderMap) -> Option<(String, Session)> {
    app.0.sessions.get(headers)
}

/// A page request's signed-in session; without one, the page leads to sign-in.
struct SignedIn {
    id: String,
    session: Session,
}

impl axum::extract::FromRequestParts<App> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, app: &App) -> Result<Self, Response> {
        let (id, session) = signed_in(app, &parts.headers).ok_or_else(|| redirect("/sign-in"))?;
        Ok(Self { id, session })
    }
}

/// The refusal of a form without this session's CSRF token, or sent from another origin.
fn forged(headers: &HeaderMap, session: &Session, csrf: &str) -> Option<Response> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let host = header("host").unwrap_or_default();
    // A browser says where a request comes from: Sec-Fetch-Site, or else Origin.
    let same_origin = match (header("sec-fetch-site"), header("origin")) {
        (Some(site), _) => site == "same-origin",
        (None, Some(origin)) => origin.split_once("://").is_some_and(|(_, rest)| rest == host),
        (None, None) => true,
    };
    if same_origin && session::same_secret(csrf, &session.csrf) {
        return None;
    }
    let lang = session.lang;
    let body = pages::error_page(lang, lang.t("error_forged"));
    Some((StatusCode::FORBIDDEN, page(lang, "403", Some(session), body)).into_response())
}

/// What a refusal means, in words, with the fields it names.
fn problem(lang: Lang, status: &tonic::Status) -> Problem {
    use tonic::Code;
    let mut fields = std::collections::BTreeMap::new();
    if let Ok(details) = tonic_types::StatusExt::check_error_details(status)
        && let Some(bad) = details.bad_request()
    {
        for violation in &bad.field_violations {
            fields.insert(violation.field.clone(), violation.description.clone());
        }
    }
    let message = match status.code() {
        Code::InvalidArgument => lang.t("fix_fields").to_owned(),
        Code::NotFound => lang.t("error_not_found").to_owned(),
        Code::PermissionDenied => lang.t("error_denied").to_owned(),
        Code::FailedPrecondition => format!("{} {}", lang.t("error_rule"), status.message()),
        Code::Aborted => lang.t("error_conflict").to_owned(),
        Code::Unavailable | Code::DeadlineExceeded => lang.t("error_unavailable").to_owned(),
        Code::Unauthenticated => lang.t("error_session").to_owned(),
        _ => lang.t("error_other").to_owned(),
    };
    Problem { message, fields }
}

/// A page that says what a refusal means.
fn refused(lang: Lang, session: &Session, status: &tonic::Status) -> Response {
    if status.code() == tonic::Code::Unauthenticated {
        return redirect("/sign-in");
    }
    let code = match status.code() {
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = pages::problem(&problem(lang, status));
    (code, page(lang, "luukku", Some(session), body)).into_response()
}

async fn home(State(app): State<App>, headers: HeaderMap) -> Response {
    match app.0.sessions.get(&headers) {
        Some(_) => redirect("/caseload"),
        None => redirect("/sign-in"),
    }
}

async fn sign_in_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers, None);
    let identities: Vec<(&str, &str)> = DEV_IDENTITIES.iter().map(|(id, .., label)| (*id, *label)).collect();
    page(lang, lang.t("sign_in"), None, pages::sign_in(lang, &identities, app.0.dev_issuer.is_some()))
}

#[derive(serde::Deserialize)]
struct SignIn {
    identity: String,
}

async fn sign_in(State(app): State<App>, headers: HeaderMap, Form(form): Form<SignIn>) -> Response {
    let lang = lang_of(&headers, None);
    // No other site signs anyone in here.
    if headers.get("sec-fetch-site").is_some_and(|site| site != "same-origin") {
        let body = pages::error_page(lang, lang.t("error_forged"));
        return (StatusCode::FORBIDDEN, page(lang, "403", None, body)).into_response();
    }
    let (Some(issuer), Some((_, person, role, sector, _))) =
        (&app.0.dev_issuer, DEV_IDENTITIES.iter().find(|(id, ..)| *id == form.identity))
    else {
        return (
            StatusCode::BAD_REQUEST,
            page(lang, "400", None, pages::error_page(lang, lang.t("no_sign_in"))),
        )
            .into_response();
    };
    let grant = Grant {
        person: (*person).to_owned(),
        role: *role,
        organisation: "dev".to_owned(),
        sector: *sector,
        system: "luukku-web".to_owned(),
        member: None,
        ttl: DEV_TOKEN_TTL,
    };
    let token = match issuer.mint(&grant) {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "the development issuer cannot sign");
            let body = pages::error_page(lang, lang.t("error_other"));
            return (StatusCode::INTERNAL_SERVER_ERROR, page(lang, "500", None, body)).into_response();
        }
    };
    let now = std::time::Instant::now();
    let Some(id) = app.0.sessions.start(Session {
        token,
        person: (*person).to_owned(),
        role: role.to_string(),
        csrf: session::random_token(),
        lang,
        expires: now + session::LIFETIME,
        seen: now,
    }) else {
        let body = pages::error_page(lang, lang.t("error_unavailable"));
        return (StatusCode::SERVICE_UNAVAILABLE, page(lang, "503", None, body)).into_response();
    };
    let mut response = redirect("/caseload");
    if let Ok(cookie) = HeaderValue::from_str(&session::session_cookie(&id)) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

#[derive(serde::Deserialize)]
struct Csrf {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(app): State<App>,
    SignedIn { id, session }: SignedIn,
    headers: HeaderMap,
    Form(form): Form<Csrf>,
) -> Response {
    if let Some(refusal) = forged(&headers, &session, &form.csrf) {
        return refusal;
    }
    app.0.sessions.end(&id);
    let mut response = redirect("/sign-in");
    if let Ok(cookie) = HeaderValue::from_str(&session::ended_cookie()) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

#[derive(serde::Deserialize)]
struct LangChoice {
    to: String,
}

async fn set_lang(State(app): State<App>, headers: HeaderMap, Query(choice): Query<LangChoice>) -> Response {
    let Some(lang) = Lang::parse(&choice.to) else {
        return redirect("/");
    };
    if let Some((id, _)) = app.0.sessions.get(&headers) {
        app.0.sessions.set_lang(&id, lang);
    }
    let mut response = redirect("/");
    let cookie = format!(
        "{}={}; Path=/; Secure; SameSite=Strict; Max-Age=31536000",
        session::LANG_COOKIE,
        lang.code()
    );
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

async fn caseload(State(app): State<App>, SignedIn { session, .. }: SignedIn) -> Response {
    let lang = session.lang;
    let mut client = CoordinationServiceClient::new(app.0.coordination.clone());
    let request = coordination::ListCaseloadRequest::default();
    let families = match client.list_caseload(with_token(request, &session.token)).await {
        Ok(response) => Some(response.into_inner().families),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => return refused(lang, &session, &status),
    };
    page(lang, lang.t("caseload"), Some(&session), pages::caseload(lang, families.as_deref()))
}

async fn register_page(SignedIn { session, .. }: SignedIn) -> Response {
    let lang = session.lang;
    page(
        lang,
        lang.t("register"),
        Some(&session),
        pages::register(lang, &session, &Registration::default(), None),
    )
}

/// The family's page after a write: it waits for the write's position (`after=STREAM:SEQ`), so
/// it shows the write at once, and says what was `done`.
fn shown(family_id: &str, written: Option<&luukku_proto::common::v1::WriteResult>, done: &str) -> Response {
    let after = written
        .and_then(|written| written.position.as_ref())
        .map(|position| format!("after={}:{}&", position.stream, position.sequence))
        .unwrap_or_default();
    redirect(&format!("/families/{family_id}?{after}done={done}"))
}

async fn register(
    State(app): State<App>,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
    Form(sent): Form<Registration>,
) -> Response {
    if let Some(refusal) = forged(&headers, &session, &sent.csrf) {
        return refusal;
    }
    let lang = session.lang;
    let member = |role: families::MemberRole, given: &str, family: &str, born: &str| families::NewMember {
        member_id: String::new(),
        details: Some(families::MemberInput {
            role: role as i32,
            given_names: given.trim().to_owned(),
            family_name: family.trim().to_owned(),
            birth_date: i18n::parse_date(born).unwrap_or_else(|| born.trim().to_owned()),
            ..Default::default()
        }),
    };
    let request = families::RegisterFamilyRequest {
        request_id: form_request_id(&sent.request_id),
        family_id: String::new(),
        municipality: sent.municipality.trim().to_owned(),
        members: vec![
            member(families::MemberRole::Guardian, &sent.guardian_given, &sent.guardian_family, ""),
            member(families::MemberRole::Child, &sent.child_given, &sent.child_family, &sent.child_born),
        ],
    };
    let mut client = FamilyServiceClient::new(app.0.families.clone());
    match client.register_family(with_token(request, &session.token)).await {
        Ok(response) => {
            let registered = response.into_inner();
            shown(&registered.family_id, registered.result.as_ref(), "registered")
        }
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            let body = pages::register(lang, &session, &sent, Some(&problem(lang, &status)));
            (StatusCode::UNPROCESSABLE_ENTITY, page(lang, lang.t("register"), Some(&session), body))
                .into_response()
        }
        Err(status) => refused(lang, &session, &status),
    }
}

#[derive(serde::Deserialize, Default)]
struct FamilyQuery {
    /// `STREAM:SEQ` of a write the page must show.
    #[serde(default)]
    after: Option<String>,
    /// What was just done, to say so.
    #[serde(default)]
    done: Option<String>,
}

fn min_positions(after: Option<&str>) -> Vec<Position> {
    after
        .into_iter()
        .flat_map(|after| after.split(','))
        .filter_map(|position| position.split_once(':'))
        .filter_map(|(stream, sequence)| {
            Some(Position { stream: stream.to_owned(), sequence: sequence.parse().ok()? })
        })
        .collect()
}

async fn family_view(
    app: &App,
    session: &Session,
    family_id: &str,
    after: Option<&str>,
) -> Result<coordination::FamilyView, tonic::Status> {
    let mut client = CoordinationServiceClient::new(app.0.coordination.clone());
    let request = coordination::GetFamilyViewRequest {
        family_id: family_id.to_owned(),
        min_positions: min_positions(after),
    };
    Ok(client.get_family_view(with_token(request, &session.token)).await?.into_inner())
}

async fn family(
    State(app): State<App>,
    SignedIn { session, .. }: SignedIn,
    Path(family_id): Path<String>,
    Query(query): Query<FamilyQuery>,
) -> Response {
    let lang = session.lang;
    match family_view(&app, &session, &family_id, query.after.as_deref()).await {
        Ok(view) => {
            let notice = match query.done.as_deref() {
                Some("registered") => Some(lang.t("registered")),
                Some("consent") => Some(lang.t("consent_granted")),
                _ => None,
            };
            page(
                lang,
                lang.t("family"),
                Some(&session),
                pages::family_page(lang, &session, &view, notice, None),
            )
        }
        Err(status) => refused(lang, &session, &status),
    }
}

async fn family_fragment(
    State(app): State<App>,
    headers: HeaderMap,
    Path(family_id): Path<String>,
) -> Response {
    let Some((_, session)) = signed_in(&app, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match family_view(&app, &session, &family_id, None).await {
        Ok(view) => pages::family_view(session.lang, &view).into_response(),
        Err(status) => pages::problem(&problem(session.lang, &status)).into_response(),
    }
}

/// Server-sent events, one `change` per change of the family recorded.
async fn family_events(
    State(app): State<App>,
    headers: HeaderMap,
    Path(family_id): Path<String>,
) -> Response {
    let Some((_, session)) = signed_in(&app, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let mut client = CoordinationServiceClient::new(app.0.coordination.clone());
    let request = coordination::WatchFamilyRequest { family_id };
    let changes = match client.watch_family(with_token(request, &session.token)).await {
        Ok(response) => response.into_inner(),
        Err(status) => return (StatusCode::NOT_FOUND, status.code().to_string()).into_response(),
    };
    // The first message is the family as it is: the page has it already.
    let events = changes
        .skip(1)
        .take_while(|change| futures::future::ready(change.is_ok()))
        .map(|_| Ok::<Event, std::convert::Infallible>(Event::default().event("change").data("changed")));
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// The request id a form was made with; a new one for a form without (an old page).
fn form_request_id(sent: &str) -> String {
    RequestId::parse(sent.trim()).map_or_else(|_| RequestId::generate().to_string(), |id| id.to_string())
}

/// A consent form as sent.
struct ConsentForm {
    csrf: String,
    given_by: String,
    sectors: Vec<String>,
    purpose: String,
    valid_until: String,
    signed_form: String,
}

async fn grant_consent(
    State(app): State<App>,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
    Path(family_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    // Repeated checkboxes: `sectors=a&sectors=b`.
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).unwrap_or_default()
    };
    let form = ConsentForm {
        csrf: field("csrf"),
        given_by: field("given_by"),
        sectors: pairs.iter().filter(|(key, _)| key == "sectors").map(|(_, value)| value.clone()).collect(),
        purpose: field("purpose"),
        valid_until: field("valid_until"),
        signed_form: field("signed_form"),
    };
    if let Some(refusal) = forged(&headers, &session, &form.csrf) {
        return refusal;
    }
    let lang = session.lang;
    if form.signed_form.trim().is_empty() {
        // A consent rests on a signed form: said here, next to its field.
        let mut refusal = Problem { message: lang.t("fix_fields").to_owned(), ..Problem::default() };
        refusal.fields.insert("signed_form".to_owned(), lang.t("signed_form_needed").to_owned());
        return match family_view(&app, &session, &family_id, None).await {
            Ok(view) => {
                let body = pages::family_page(lang, &session, &view, None, Some(&refusal));
                (StatusCode::UNPROCESSABLE_ENTITY, page(lang, lang.t("family"), Some(&session), body))
                    .into_response()
            }
            Err(status) => refused(lang, &session, &status),
        };
    }
    let request = families::GrantConsentRequest {
        request_id: form_request_id(&field("request_id")),
        family_id: family_id.clone(),
        given_by: form.given_by,
        sectors: form.sectors,
        purpose: form.purpose,
        valid_until: i18n::parse_date(&form.valid_until).unwrap_or(form.valid_until),
        signed_form: form.signed_form,
        ..Default::default()
    };
    let mut client = FamilyServiceClient::new(app.0.families.clone());
    match client.grant_consent(with_token(request, &session.token)).await {
        Ok(response) => {
            let granted = response.into_inner();
            shown(&family_id, granted.result.as_ref(), "consent")
        }
        Err(status)
            if matches!(status.code(), tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition) =>
        {
            let refusal = problem(lang, &status);
            match family_view(&app, &session, &family_id, None).await {
                Ok(view) => {
                    let body = pages::family_page(lang, &session, &view, None, Some(&refusal));
                    (StatusCode::UNPROCESSABLE_ENTITY, page(lang, lang.t("family"), Some(&session), body))
                        .into_response()
                }
                Err(status) => refused(lang, &session, &status),
            }
        }
        Err(status) => refused(lang, &session, &status),
    }
}

#[derive(serde::Deserialize, Default)]
struct LogQuery {
    #[serde(default)]
    page: String,
}

/// The family's access log (Act 703/2023): who read or changed its data, oldest first.
async fn access_log(
    State(app): State<App>,
    SignedIn { session, .. }: SignedIn,
    Path(family_id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Response {
    let lang = session.lang;
    let mut client = CoordinationServiceClient::new(app.0.coordination.clone());
    let request = coordination::GetAccessLogRequest {
        family_id: family_id.clone(),
        page_token: query.page,
        ..Default::default()
    };
    match client.get_access_log(with_token(request, &session.token)).await {
        Ok(response) => {
            let log = response.into_inner();
            let body = pages::access_log(lang, &family_id, &log);
            page(lang, lang.t("access_log"), Some(&session), body)
        }
        Err(status) => refused(lang, &session, &status),
    }
}
