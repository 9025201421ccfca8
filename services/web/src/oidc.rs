//! Sign-in in production: the OpenID Connect authorization code flow with PKCE (RFC 7636),
//! against the configured provider.
//!
//! The provider's access token is what the web client presents to the services, which verify it
//! as they verify any caller's; the web client verifies it the same way, to know who signed in.
//! The ID token proves the sign-in was made for this client and this attempt (its nonce).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead as _, AeadCore as _, KeyInit as _, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use luukku_auth::{AuthConfig, Identity, KeySet, KeySource, Verifier};
use sha2::{Digest as _, Sha256};

use crate::i18n::Lang;
use crate::session::random_token;

/// How long a sign-in may take at the provider.
const ATTEMPT_TTL: Duration = Duration::from_secs(600);
/// The largest answer taken from the provider.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How the web client signs people in with the provider.
#[derive(Clone)]
pub struct OidcConfig {
    /// The provider's issuer URL; its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// A confidential client's secret (sent with HTTP Basic); none for a public client.
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: `<public URL>/oidc/callback`.
    pub redirect_uri: String,
    /// Space-separated; `openid` is always asked for.
    pub scopes: String,
    /// Verifies the access tokens, as the services do (their issuer, audience and claims).
    pub access: Arc<Verifier>,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the provider at {url} could not be asked: {reason}")]
    Provider { url: String, reason: String },
    #[error("the provider's {what} is not usable: {reason}")]
    Answer { what: &'static str, reason: String },
    #[error("the sign-in is not this browser's, or too old")]
    UnknownAttempt,
    #[error("the ID token is not valid: {0}")]
    IdToken(String),
    #[error("the access token is not valid: {0}")]
    AccessToken(String),
}

/// One sign-in under way at the provider. It is kept by the browser, sealed (encrypted and
/// authenticated with a key of this process) in the login cookie: the server holds nothing per
/// sign-in, so no flood of starts can crowd out anyone's.
#[derive(serde::Serialize, serde::Deserialize)]
struct Attempt {
    state: String,
    verifier: String,
    nonce: String,
    lang: String,
    /// Seconds since the Unix epoch.
    started: i64,
}

/// The provider, as discovered, and the sign-ins under way.
pub struct Oidc {
    config: OidcConfig,
    authorization_endpoint: String,
    token_endpoint: String,
    id_tokens: Verifier,
    http: reqwest::Client,
    /// Seals the attempts the browsers keep.
    sealing: XChaCha20Poly1305,
}

/// What a successful sign-in gives.
pub struct SignedIn {
    pub token: String,
    pub identity: Identity,
    pub lang: Lang,
}

fn usable_url(url: &str) -> bool {
    url.starts_with("https://") || luukku_auth::is_loopback_http(url)
}

#[derive(serde::Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    id_token: String,
    #[serde(default)]
    token_type: String,
}

impl Oidc {
    /// Reads the provider's discovery document and starts following its keys.
    pub async fn discover(config: OidcConfig) -> Result<Self, OidcError> {
        luukku_auth::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| OidcError::Provider { url: config.issuer.clone(), reason: error.to_string() })?;
        let url = format!("{}/.well-known/openid-configuration", config.issuer.trim_end_matches('/'));
        if !usable_url(&url) {
            return Err(OidcError::Provider {
                url,
                reason: "the provider must be reached over https".to_owned(),
            });
        }
        let body = read(http.get(&url).send().await, &url).await?;
        let found: Discovery = serde_json::from_slice(&body)
            .map_err(|error| OidcError::Answer { what: "discovery document", reason: error.to_string() })?;
        // The document must be the issuer's own (OpenID Connect Discovery 1.0, 4.3).
        if found.issuer != config.issuer {
            return Err(OidcError::Answer {
                what: "discovery document",
                reason: format!("it names the issuer {:?}, not {:?}", found.issuer, config.issuer),
            });
        }
        if !found.code_challenge_methods_supported.is_empty()
            && !found.code_challenge_methods_supported.iter().any(|method| method == "S256")
        {
            return Err(OidcError::Answer {
                what: "discovery document",
                reason: "no PKCE with S256".to_owned(),
            });
        }
        for endpoint in [&found.authorization_endpoint, &found.token_endpoint, &found.jwks_uri] {
            if !usable_url(endpoint) {
                return Err(OidcError::Answer {
                    what: "discovery document",
                    reason: format!("{endpoint} is not https"),
                });
            }
        }
        let keys =
            KeySet::load(&KeySource::Url { url: found.jwks_uri.clone(), refresh: Duration::from_secs(300) })
                .await
                .map_err(|error| OidcError::Answer { what: "key set", reason: error.to_string() })?;
        let id_tokens = Verifier::new(AuthConfig::new(config.issuer.clone(), config.client_id.clone()), keys);
        Ok(Self {
            config,
            authorization_endpoint: found.authorization_endpoint,
            token_endpoint: found.token_endpoint,
            id_tokens,
            http,
            sealing: XChaCha20Poly1305::new(&XChaCha20Poly1305::generate_key(&mut OsRng)),
        })
    }

    /// The origin of the provider's sign-in page (`https://host[:port]`): the sign-in form
    /// leads there, so the page's Content-Security-Policy allows it as a form's destination.
    pub fn authorization_origin(&self) -> &str {
        let endpoint = self.authorization_endpoint.as_str();
        let after_scheme = endpoint.find("://").map_or(0, |at| at + 3);
        let end =
            endpoint[after_scheme..].find(['/', '?', '#']).map_or(endpoint.len(), |at| after_scheme + at);
        &endpoint[..end]
    }

    fn seal(&self, attempt: &Attempt) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let plain = serde_json::to_vec(attempt).unwrap_or_default();
        // Sealing a few hundred bytes in memory does not fail; an empty seal opens to nothing.
        let sealed = self.sealing.encrypt(&nonce, plain.as_slice()).unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn open(&self, sealed: &str) -> Option<Attempt> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() <= 24 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(24);
        let plain = self.sealing.decrypt(XNonce::from_slice(nonce), sealed).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// Starts a sign-in: the provider's URL to send the browser to, and the sealed attempt the
    /// browser keeps in a cookie until it comes back.
    pub fn start(&self, lang: Lang) -> (String, String) {
        let (state, nonce, verifier) = (random_token(), random_token(), random_token());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let attempt = Attempt {
            state: state.clone(),
            verifier,
            nonce: nonce.clone(),
            lang: lang.code().to_owned(),
            started: jiff::Timestamp::now().as_second(),
        };
        let scopes = if self.config.scopes.split(' ').any(|scope| scope == "openid") {
            self.config.scopes.clone()
        } else {
            format!("openid {}", self.config.scopes).trim().to_owned()
        };
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("scope", &scopes)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("ui_locales", lang.code())
            .finish();
        let separator = if self.authorization_endpoint.contains('?') { '&' } else { '?' };
        (format!("{}{separator}{query}", self.authorization_endpoint), self.seal(&attempt))
    }

    /// Finishes the sign-in the browser's sealed attempt holds, for the `state` and `code` the
    /// provider sent it back with: the tokens, checked. The provider takes a code once.
    pub async fn finish(&self, sealed: &str, state: &str, code: &str) -> Result<SignedIn, OidcError> {
        let attempt = self.open(sealed).ok_or(OidcError::UnknownAttempt)?;
        let age = jiff::Timestamp::now().as_second().saturating_sub(attempt.started);
        let ttl = i64::try_from(ATTEMPT_TTL.as_secs()).unwrap_or(i64::MAX);
        if !crate::session::same_secret(&attempt.state, state) || !(0..ttl).contains(&age) {
            return Err(OidcError::UnknownAttempt);
        }
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("client_id", &self.config.client_id)
            .append_pair("code_verifier", &attempt.verifier)
            .finish();
        let mut request = self
            .http
            .post(&self.token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form);
        if let Some(secret) = &self.config.client_secret {
            // client_secret_basic: both parts form-encoded first (RFC 6749, 2.3.1).
            let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            let basic = STANDARD.encode(format!("{}:{}", encode(&self.config.client_id), encode(secret)));
            request = request.header("authorization", format!("Basic {basic}"));
        }
        let body = read(request.send().await, &self.token_endpoint).await?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|error| OidcError::Answer { what: "token answer", reason: error.to_string() })?;
        if !answer.token_type.is_empty() && !answer.token_type.eq_ignore_ascii_case("bearer") {
            return Err(OidcError::Answer { what: "token answer", reason: "not a bearer token".to_owned() });
        }
        let claims = self
            .id_tokens
            .verify_claims(&answer.id_token)
            .map_err(|error| OidcError::IdToken(error.to_string()))?;
        if claims.get("nonce").and_then(serde_json::Value::as_str) != Some(attempt.nonce.as_str()) {
            return Err(OidcError::IdToken("its nonce is not this sign-in's".to_owned()));
        }
        let access = |error: luukku_auth::AuthError| OidcError::AccessToken(error.to_string());
        let identity = self.config.access.verify(&answer.access_token).map_err(access)?;
        // Both tokens must be about the same subject (whichever claim names the person).
        let subject = |claims: &serde_json::Map<String, serde_json::Value>| {
            claims.get("sub").and_then(serde_json::Value::as_str).map(str::to_owned)
        };
        let access_claims = self.config.access.verify_claims(&answer.access_token).map_err(access)?;
        if subject(&claims).is_none() || subject(&claims) != subject(&access_claims) {
            return Err(OidcError::AccessToken("it is about another subject than the ID token".to_owned()));
        }
        // An ID token that names the party it was issued to (required with several audiences)
        // must name this client.
        let audiences = claims.get("aud").and_then(serde_json::Value::as_array).map_or(1, Vec::len);
        let azp = claims.get("azp").and_then(serde_json::Value::as_str);
        if (audiences > 1 || azp.is_some()) && azp != Some(self.config.client_id.as_str()) {
            return Err(OidcError::IdToken(
                "it has several audiences and is not authorised for this client".to_owned(),
            ));
        }
        Ok(SignedIn {
            token: answer.access_token,
            identity,
            lang: Lang::parse(&attempt.lang).unwrap_or_default(),
        })
    }
}

async fn read(answer: Result<reqwest::Response, reqwest::Error>, url: &str) -> Result<Vec<u8>, OidcError> {
    let failed = |reason: String| OidcError::Provider { url: url.to_owned(), reason };
    let mut response = answer.map_err(|error| failed(error.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("it answered {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| failed(error.to_string()))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            return Err(failed("the answer is too large".to_owned()));
        }
    }
    Ok(body)
}
