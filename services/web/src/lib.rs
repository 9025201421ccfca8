//! luukku's web client for contact persons: pages rendered on the server, over the same gRPC
//! calls as every other client, with the signed-in person's token (ADR 14).

mod family;
mod forms;
mod i18n;
mod meetings;
mod oidc;
mod pages;
mod referrals;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, FromRequestParts as _, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use luukku_auth::{DevIssuer, Grant};
use luukku_domain::{Role, Sector};
use luukku_grpc::with_token;
use luukku_proto::common::v1::Position;
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::contacts::v1::contact_service_client::ContactServiceClient;
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::coordination::v1::coordination_service_client::CoordinationServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_proto::meetings::v1::meeting_service_client::MeetingServiceClient;
use luukku_proto::referrals::v1::referral_service_client::ReferralServiceClient;
use maud::Markup;
use tonic::transport::Channel;

pub use i18n::Lang;
pub use oidc::{Oidc, OidcConfig, OidcError};
use pages::{Problem, Registration};
use session::{Session, Sessions};

/// The Content-Security-Policy of every answer: scripts, styles and connections of this origin
/// only, and no inline script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The most connections the TLS server holds open at once.
const MOST_CONNECTIONS: usize = 10_000;

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
        "contact2",
        "dev.contact2",
        Role::ContactPerson,
        Some(Sector::FamilySocialServices),
        "Kalle Kollega – yhteyshenkilö, lapsiperheiden sosiaalipalvelut",
    ),
    (
        "supervisor",
        "dev.esihenkilo",
        Role::Supervisor,
        Some(Sector::FamilySocialServices),
        "Eeva Esihenkilö – palveluesihenkilö",
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
    pub contacts_url: String,
    pub referrals_url: String,
    pub meetings_url: String,
    pub coordination_url: String,
    /// Under `luukku dev`: the development issuer that signs the identities offered at sign-in.
    pub dev_issuer: Option<Arc<DevIssuer>>,
    /// In production: the OpenID Connect provider people sign in with.
    pub oidc: Option<Arc<Oidc>>,
    /// The CA (PEM) that signed the services' certificates, for `https://` service URLs; the
    /// system's roots are trusted too.
    pub services_ca: Option<Vec<u8>>,
    /// A client certificate and key (PEM) for services that ask for one (mutual TLS).
    pub services_identity: Option<(Vec<u8>, Vec<u8>)>,
}

struct Inner {
    sessions: Sessions,
    dev_issuer: Option<Arc<DevIssuer>>,
    oidc: Option<Arc<Oidc>>,
    families: Channel,
    contacts: Channel,
    referrals: Channel,
    meetings: Channel,
    coordination: Channel,
}

#[derive(Clone)]
struct App(Arc<Inner>);

impl App {
    fn families(&self) -> FamilyServiceClient<Channel> {
        FamilyServiceClient::new(self.0.families.clone())
    }

    fn contacts(&self) -> ContactServiceClient<Channel> {
        ContactServiceClient::new(self.0.contacts.clone())
    }

    fn referrals(&self) -> ReferralServiceClient<Channel> {
        ReferralServiceClient::new(self.0.referrals.clone())
    }

    fn meetings(&self) -> MeetingServiceClient<Channel> {
        MeetingServiceClient::new(self.0.meetings.clone())
    }

    fn coordination(&self) -> CoordinationServiceClient<Channel> {
        CoordinationServiceClient::new(self.0.coordination.clone())
    }

    /// The contact person `person` is, asked with their own token; `None` when none.
    async fn contact_person_of(&self, token: &str, person: &str) -> Result<Option<String>, tonic::Status> {
        let request =
            contacts::GetContactPersonRequest { person_id: person.to_owned(), ..Default::default() };
        match self.contacts().get_contact_person(with_token(request, token)).await {
            Ok(found) => Ok(found.into_inner().contact_person.map(|found| found.contact_person_id)),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }
}

/// The web client's routes.
pub fn router(config: WebConfig) -> Result<Router, tonic::transport::Error> {
    let lazy = |url: &str| -> Result<Channel, tonic::transport::Error> {
        let mut endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())?;
        if url.starts_with("https://") {
            let mut tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
            if let Some(ca) = &config.services_ca {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(ca));
            }
            if let Some((certificate, key)) = &config.services_identity {
                tls = tls.identity(tonic::transport::Identity::from_pem(certificate, key));
            }
            endpoint = endpoint.tls_config(tls)?;
        }
        Ok(endpoint.connect_lazy())
    };
    let app = App(Arc::new(Inner {
        sessions: Sessions::default(),
        dev_issuer: config.dev_issuer.clone(),
        oidc: config.oidc.clone(),
        families: lazy(&config.families_url)?,
        contacts: lazy(&config.contacts_url)?,
        referrals: lazy(&config.referrals_url)?,
        meetings: lazy(&config.meetings_url)?,
        coordination: lazy(&config.coordination_url)?,
    }));
    // Ended sessions are forgotten each minute, and their live views closed.
    let swept = Arc::downgrade(&app.0);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            let Some(inner) = swept.upgrade() else { break };
            inner.sessions.sweep();
        }
    });
    Ok(Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/sign-in/oidc", post(oidc_start))
        .route("/oidc/callback", get(oidc_callback))
        .route("/lang", get(set_lang))
        .route("/caseload", get(caseload))
        .route("/families/new", get(register_page))
        .route("/families", post(register))
        .route("/families/{family_id}", get(family))
        .route("/families/{family_id}/fragment", get(family_fragment))
        .route("/families/{family_id}/events", get(family_events))
        .route("/families/{family_id}/consents", post(family::grant_consent))
        .route("/families/{family_id}/consents/{consent_id}/revoke", post(family::revoke_consent))
        .route("/families/{family_id}/contacts", post(family::record_contact))
        .route("/families/{family_id}/referrals", post(family::create_referral))
        .route("/families/{family_id}/handover", post(family::propose_handover))
        .route("/families/{family_id}/handover/{handover_id}/{decision}", post(family::decide_handover))
        .route("/families/{family_id}/meetings", post(meetings::propose))
        .route("/families/{family_id}/meetings/{meeting_id}", get(meetings::show_page))
        .route("/families/{family_id}/meetings/{meeting_id}/schedule", post(meetings::schedule))
        .route("/families/{family_id}/meetings/{meeting_id}/hold", post(meetings::hold))
        .route(
            "/families/{family_id}/meetings/{meeting_id}/actions/{action_id}/done",
            post(meetings::complete_action),
        )
        .route("/families/{family_id}/access-log", get(access_log))
        .route("/assign", get(family::assign_page).post(family::assign))
        .route("/inbox", get(referrals::inbox))
        .route("/referrals/{referral_id}", get(referrals::show_page))
        .route("/referrals/{referral_id}/step", post(referrals::step))
        .route("/audit", get(audit))
        .route(
            "/static/luukku.css",
            get(|| async { asset("text/css", include_str!("../static/luukku.css")) }),
        )
        .route(
            "/static/live.js",
            get(|| async { asset("text/javascript", include_str!("../static/live.js")) }),
        )
        .fallback(not_found)
        // A fault in a page is an error page, never a dropped connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
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

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a web page failed");
    let lang = Lang::default();
    let body = pages::error_page(lang, lang.t("error_other"));
    (StatusCode::INTERNAL_SERVER_ERROR, page(lang, "500", None, body)).into_response()
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves: the certificate chain
/// and private key are PEM.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    certificate: &[u8],
    key: &[u8],
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |error: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, error.to_string())
    };
    let chain = CertificateDer::pem_slice_iter(certificate)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(&error))?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|error| invalid(&error))?;
    luukku_auth::install_tls_provider();
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| invalid(&error))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let service = hyper_util::service::TowerToHyperService::new(router);
    let connections = Arc::new(tokio::sync::Semaphore::new(MOST_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(%error, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        // Connections beyond the most are closed at once.
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            continue;
        };
        let (acceptor, service) = (acceptor.clone(), service.clone());
        tokio::spawn(async move {
            let _permit = permit;
            // A handshake that never finishes holds nothing for long.
            let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            let io = hyper_util::rt::TokioIo::new(stream);
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            // A client that sends its headers too slowly is let go.
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(15));
            // An HTTP/2 client that stops answering pings is let go.
            builder
                .http2()
                .timer(hyper_util::rt::TokioTimer::new())
                .keep_alive_interval(Duration::from_secs(30))
                .keep_alive_timeout(Duration::from_secs(20));
            let served = builder.serve_connection_with_upgrades(io, service).await;
            if let Err(error) = served {
                tracing::debug!(%error, "a web connection ended");
            }
        });
    }
}

async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // Ignored over plain HTTP (`luukku dev`); over HTTPS, the browser keeps to HTTPS.
    headers.insert("strict-transport-security", HeaderValue::from_static("max-age=31536000"));
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

/// A form posted by a signed-in person from this site, with their session's CSRF token;
/// anything else is refused (or led to sign-in).
struct Posted {
    session: Session,
    form: forms::Fields,
    /// The session's id.
    id: String,
}

impl axum::extract::FromRequest<App> for Posted {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, app: &App) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let SignedIn { id, session } = SignedIn::from_request_parts(&mut parts, app).await?;
        let headers = parts.headers.clone();
        // HTTP/2 names the host in the request's authority, HTTP/1.1 in its Host header.
        let host = parts.uri.authority().map(|authority| authority.as_str().to_owned());
        let form = forms::Fields::from_request(axum::extract::Request::from_parts(parts, body), app).await?;
        match forged(&headers, host.as_deref(), &session, &form.get("csrf")) {
            Some(refusal) => Err(refusal),
            None => Ok(Self { session, form, id }),
        }
    }
}

/// The page of something the path names that is not there.
fn missing(session: &Session) -> Response {
    let lang = session.lang;
    let body = pages::error_page(lang, lang.t("error_not_found"));
    (StatusCode::NOT_FOUND, page(lang, "404", Some(session), body)).into_response()
}

/// The refusal of a form without this session's CSRF token, or sent from another origin.
fn forged(headers: &HeaderMap, authority: Option<&str>, session: &Session, csrf: &str) -> Option<Response> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let host = header("host").or(authority).unwrap_or_default();
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
            fields.insert(violation.field.clone(), i18n::explain(lang, &violation.description));
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
    Problem { message, fields, ..Problem::default() }
}

/// A page that says what a refusal means.
fn refused(lang: Lang, session: &Session, status: &tonic::Status) -> Response {
    if status.code() == tonic::Code::Unauthenticated {
        return redirect("/sign-in");
    }
    let code = status_code(status);
    let body = pages::problem(&problem(lang, status));
    (code, page(lang, "luukku", Some(session), body)).into_response()
}

/// The pages of a role's menu: (path, text key); the first is the role's home.
fn menu(role: &str) -> &'static [(&'static str, &'static str)] {
    match role {
        "contact_person" => &[("/caseload", "caseload"), ("/families/new", "register")],
        "sector_professional" => &[("/inbox", "inbox")],
        "supervisor" => &[("/assign", "assign")],
        "data_protection" => &[("/audit", "audit")],
        _ => &[],
    }
}

async fn home(State(app): State<App>, headers: HeaderMap) -> Response {
    match app.0.sessions.get(&headers) {
        Some((_, session)) => redirect(menu(&session.role).first().map_or("/caseload", |(path, _)| path)),
        None => redirect("/sign-in"),
    }
}

#[derive(serde::Deserialize, Default)]
struct AuditQuery {
    #[serde(default)]
    family: String,
}

/// The data-protection officer's start: a family's access log by the family's id.
async fn audit(SignedIn { session, .. }: SignedIn, Query(query): Query<AuditQuery>) -> Response {
    let family = query.family.trim();
    if !family.is_empty() {
        let family: String = form_urlencoded::byte_serialize(family.as_bytes()).collect();
        return redirect(&format!("/families/{family}/access-log"));
    }
    let lang = session.lang;
    let body = maud::html! {
        h1 { (lang.t("audit")) }
        form.stack method="get" action="/audit" {
            (forms::text("family", lang.t("family_id"), "", None, false))
            button.primary type="submit" { (lang.t("show")) }
        }
    };
    page(lang, lang.t("audit"), Some(&session), body)
}

async fn sign_in_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers, None);
    let identities: Vec<(&str, &str)> = DEV_IDENTITIES.iter().map(|(id, .., label)| (*id, *label)).collect();
    let body = pages::sign_in(lang, &identities, app.0.dev_issuer.is_some(), app.0.oidc.is_some());
    let mut response = page(lang, lang.t("sign_in"), None, body);
    // The sign-in form leads on to the provider: a form's redirect must be allowed too.
    if let Some(oidc) = &app.0.oidc
        && let Ok(csp) =
            HeaderValue::from_str(&CSP.replace(
                "form-action 'self'",
                &format!("form-action 'self' {}", oidc.authorization_origin()),
            ))
    {
        response.headers_mut().insert(CONTENT_SECURITY_POLICY, csp);
    }
    response
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
    let session =
        Session::new(token, (*person).to_owned(), role.to_string(), sector.map(|s| s.to_string()), lang);
    start_session(&app, session, false).await
}

/// The cookie that ties a sign-in at the provider to this browser. SameSite=Lax: the provider
/// sends the browser back with a cross-site navigation, on which a Strict cookie is not sent.
const LOGIN_COOKIE: &str = "__Host-luukku-login";

/// A refusal before anyone is signed in.
fn unsigned(lang: Lang, code: StatusCode, key: &'static str) -> Response {
    (code, page(lang, code.as_str(), None, pages::error_page(lang, lang.t(key)))).into_response()
}

/// Sends the browser to the provider to sign in.
async fn oidc_start(State(app): State<App>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers, None);
    if headers.get("sec-fetch-site").is_some_and(|site| site != "same-origin") {
        return unsigned(lang, StatusCode::FORBIDDEN, "error_forged");
    }
    let Some(oidc) = &app.0.oidc else {
        return unsigned(lang, StatusCode::NOT_FOUND, "no_sign_in");
    };
    let (url, sealed) = oidc.start(lang);
    let mut response = redirect(&url);
    let cookie = format!("{LOGIN_COOKIE}={sealed}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=600");
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

#[derive(serde::Deserialize, Default)]
struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

/// The provider sends the browser back here with a code, which buys the tokens. Whatever the
/// outcome, the login cookie is spent.
async fn oidc_callback(State(app): State<App>, headers: HeaderMap, Query(back): Query<Callback>) -> Response {
    let mut response = oidc_return(&app, &headers, &back).await;
    if let Ok(cookie) =
        HeaderValue::from_str(&format!("{LOGIN_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0"))
    {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

async fn oidc_return(app: &App, headers: &HeaderMap, back: &Callback) -> Response {
    let lang = lang_of(headers, None);
    let Some(oidc) = &app.0.oidc else {
        return unsigned(lang, StatusCode::NOT_FOUND, "no_sign_in");
    };
    if !back.error.is_empty() || back.code.is_empty() {
        // The provider's error code only (not its free text): no personal data in the log.
        let error: String =
            back.error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
        tracing::info!(%error, "the provider did not sign the person in");
        return unsigned(lang, StatusCode::UNAUTHORIZED, "sign_in_failed");
    }
    // The attempt this browser was sent off with, whose state must be the one returned.
    let sealed = session::cookie(headers, LOGIN_COOKIE).unwrap_or_default();
    let signed = match oidc.finish(sealed, &back.state, &back.code).await {
        Ok(signed) => signed,
        Err(error) => {
            tracing::warn!(%error, "a sign-in was refused");
            return unsigned(lang, StatusCode::UNAUTHORIZED, "sign_in_failed");
        }
    };
    let identity = &signed.identity;
    let mut session = Session::new(
        signed.token.clone(),
        identity.person.to_string(),
        identity.role.to_string(),
        identity.sector.map(|sector| sector.to_string()),
        signed.lang,
    );
    // A session lasts no longer than its token.
    let now_secs = jiff::Timestamp::now().as_second();
    let left = u64::try_from(identity.expires_at.saturating_sub(now_secs)).unwrap_or_default();
    session.expires = session.expires.min(std::time::Instant::now() + Duration::from_secs(left));
    start_session(app, session, true).await
}

/// Starts `session` (looking up the contact person they are) and leads to their home page:
/// by a redirect, or `by_page` (after the provider's cross-site redirect, so the next request
/// is one of this site's and carries the SameSite=Strict session cookie).
async fn start_session(app: &App, mut session: Session, by_page: bool) -> Response {
    let lang = session.lang;
    // Without knowing which contact person they are, their pages would offer them nothing:
    // the sign-in waits for an answer rather than starting such a session.
    if session.role == Role::ContactPerson.to_string() {
        match app.contact_person_of(&session.token, &session.person).await {
            Ok(found) => session.contact_person_id = found,
            Err(status) => {
                tracing::warn!(code = ?status.code(), "looking up the signed-in contact person");
                return unsigned(lang, StatusCode::SERVICE_UNAVAILABLE, "error_unavailable");
            }
        }
    }
    let home = menu(&session.role).first().map_or("/caseload", |(path, _)| *path);
    let Some(id) = app.0.sessions.start(session) else {
        let body = pages::error_page(lang, lang.t("error_unavailable"));
        return (StatusCode::SERVICE_UNAVAILABLE, page(lang, "503", None, body)).into_response();
    };
    let mut response = if by_page { pages::onward(lang, home).into_response() } else { redirect(home) };
    if let Ok(cookie) = HeaderValue::from_str(&session::session_cookie(&id)) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

async fn sign_out(State(app): State<App>, Posted { id, .. }: Posted) -> Response {
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
    let mut client = app.coordination();
    let request = coordination::ListCaseloadRequest::default();
    let families = match client.list_caseload(with_token(request, &session.token)).await {
        Ok(response) => Some(response.into_inner().families),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => return refused(lang, &session, &status),
    };
    let offered = offered(&app, &session).await;
    page(lang, lang.t("caseload"), Some(&session), pages::caseload(lang, families.as_deref(), &offered))
}

/// The families offered to the signed-in contact person, awaiting their answer: (id, names).
async fn offered(app: &App, session: &Session) -> Vec<(String, String)> {
    if session.contact_person_id.is_none() {
        return Vec::new();
    }
    let request =
        contacts::GetContactPersonRequest { person_id: session.person.clone(), ..Default::default() };
    let offered = match app.contacts().get_contact_person(with_token(request, &session.token)).await {
        Ok(found) => found.into_inner().contact_person.map(|person| person.offered).unwrap_or_default(),
        Err(status) => {
            tracing::warn!(code = ?status.code(), "listing the families offered");
            return Vec::new();
        }
    };
    let mut named = Vec::new();
    for family_id in offered.into_iter().take(20) {
        // Offered to them, they may read it (and the read is recorded): its names, for the list.
        let names = match family_view(app, session, &family_id, None).await {
            Ok(view) => view.members.iter().map(|member| member.name.as_str()).collect::<Vec<_>>().join(", "),
            Err(_) => family_id.clone(),
        };
        named.push((family_id, names));
    }
    named
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
    uri: axum::http::Uri,
    Form(sent): Form<Registration>,
) -> Response {
    if let Some(refusal) = forged(&headers, uri.authority().map(|a| a.as_str()), &session, &sent.csrf) {
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
        request_id: forms::request_id(&sent.request_id),
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
    let mut client = app.coordination();
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
    let notice = query.done.as_deref().and_then(|done| family::notice(session.lang, done));
    family::respond(&app, &session, &family_id, query.after.as_deref(), notice, None).await
}

async fn family_fragment(
    State(app): State<App>,
    headers: HeaderMap,
    Path(family_id): Path<String>,
) -> Response {
    let Some((_, session)) = app.0.sessions.peek(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match family_view(&app, &session, &family_id, None).await {
        Ok(view) => pages::family_view(session.lang, &view).into_response(),
        // The page keeps what it shows; the script swaps in only a successful answer.
        Err(status) => {
            (status_code(&status), pages::problem(&problem(session.lang, &status))).into_response()
        }
    }
}

/// The HTTP status of a service's refusal.
fn status_code(status: &tonic::Status) -> StatusCode {
    match status.code() {
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => StatusCode::SERVICE_UNAVAILABLE,
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition | tonic::Code::Aborted => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Server-sent events, one `change` per change of the family recorded.
async fn family_events(
    State(app): State<App>,
    headers: HeaderMap,
    Path(family_id): Path<String>,
) -> Response {
    let Some((_, session)) = app.0.sessions.peek(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    // A few open at once per session: each holds a stream to the coordination service.
    let Some(place) = session.live_view() else {
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    };
    // Refused once this session: refused again here, without asking (and logging) again.
    if session.live_refused(&family_id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut client = app.coordination();
    let request = coordination::WatchFamilyRequest { family_id: family_id.clone() };
    let changes = match client.watch_family(with_token(request, &session.token)).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            // A family the caller has no need to know is not found, as one that does not exist.
            if matches!(status.code(), tonic::Code::PermissionDenied | tonic::Code::NotFound) {
                session.set_live_refused(&family_id, true);
            }
            return status_code(&status).into_response();
        }
    };
    // The first message is the family as it is: the page has it already. The stream ends
    // with the session, and frees its place when it ends.
    let events = changes
        .take_until(session.ended())
        .skip(1)
        .take_while(|change| futures::future::ready(change.is_ok()))
        .map(move |_| {
            let _held = &place;
            Ok::<Event, std::convert::Infallible>(Event::default().event("change").data("changed"))
        });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
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
    let mut client = app.coordination();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The web client served over its own TLS: a client that trusts the certificate's CA gets
    /// the sign-in page over HTTP/2 and over HTTP/1.1, with the security headers.
    #[tokio::test]
    async fn it_serves_its_pages_over_tls_with_http2_and_http1() -> anyhow::Result<()> {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate()?)?;
        let key = rcgen::KeyPair::generate()?;
        let certificate =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &ca)?;
        let router = router(WebConfig {
            families_url: "http://127.0.0.1:9".to_owned(),
            contacts_url: "http://127.0.0.1:9".to_owned(),
            referrals_url: "http://127.0.0.1:9".to_owned(),
            meetings_url: "http://127.0.0.1:9".to_owned(),
            coordination_url: "http://127.0.0.1:9".to_owned(),
            dev_issuer: None,
            oidc: None,
            services_ca: None,
            services_identity: None,
        })?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (chain, private) = (certificate.pem().into_bytes(), key.serialize_pem().into_bytes());
        let served = tokio::spawn(async move {
            serve_tls(listener, router, &chain, &private, async move {
                let _ = stopped.await;
            })
            .await
        });
        luukku_auth::install_tls_provider();
        let trusted = reqwest::Certificate::from_pem(ca.pem().as_bytes())?;
        for http2 in [true, false] {
            let mut client = reqwest::Client::builder()
                .add_root_certificate(trusted.clone())
                .resolve("localhost", std::net::SocketAddr::from(([127, 0, 0, 1], port)));
            client = if http2 { client.http2_prior_knowledge() } else { client.http1_only() };
            let answer = client.build()?.get(format!("https://localhost:{port}/sign-in")).send().await?;
            assert_eq!(answer.status(), reqwest::StatusCode::OK);
            let version = if http2 { reqwest::Version::HTTP_2 } else { reqwest::Version::HTTP_11 };
            assert_eq!(answer.version(), version);
            for header in ["strict-transport-security", "content-security-policy", "x-content-type-options"] {
                assert!(answer.headers().contains_key(header), "{header}");
            }
            assert!(answer.text().await?.contains("Kirjautumista ei ole määritetty."));
        }
        // A client that does not trust the certificate gets no page.
        let untrusting = reqwest::Client::builder()
            .resolve("localhost", std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .build()?;
        assert!(untrusting.get(format!("https://localhost:{port}/sign-in")).send().await.is_err());
        let _ = stop.send(());
        served.await??;
        Ok(())
    }
}
