//! The issuer's public keys, from a JWKS document: a file, or a URL refreshed in the
//! background (an OpenID Connect provider's `jwks_uri`). Only ES256 (P-256) and EdDSA (Ed25519)
//! keys are kept.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::{Digest as _, Sha256};
use tokio::sync::Notify;

use crate::AuthError;

/// The largest key set document fetched.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How soon after a refresh an unknown key id may ask for another one.
const MIN_REFRESH_GAP: Duration = Duration::from_secs(30);

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS file, read once at start.
    File(PathBuf),
    /// A JWKS URL, fetched at start, every `refresh`, and when a token names an unknown key.
    Url { url: String, refresh: Duration },
}

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    decoding: DecodingKey,
}

struct Keys {
    keys: Vec<Key>,
    /// Bumped on every change, so that what was verified with old keys can be forgotten.
    generation: u64,
    /// The SHA-256 of the JWKS document fetched last, for a URL: a fetch of the same document
    /// changes nothing.
    digest: Option<[u8; 32]>,
}

impl Keys {
    /// Takes the keys of a document fetched again: a new generation only when the document
    /// changed, so that tokens verified with the same keys need not be checked again.
    fn fetched(&mut self, (keys, digest): (Vec<Key>, [u8; 32])) {
        if self.digest != Some(digest) {
            self.keys = keys;
            self.digest = Some(digest);
            self.generation += 1;
        }
    }
}

/// The keys tokens are verified with; cheap to clone.
#[derive(Clone)]
pub struct KeySet {
    keys: Arc<RwLock<Keys>>,
    refresh: Arc<Notify>,
}

/// Why a key set cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("reading the key set {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the key set is not a JWKS document: {0}")]
    Parse(String),
    #[error("the key set holds no ES256 or EdDSA key")]
    Empty,
    #[error("fetching the key set from {url}: {reason}")]
    Fetch { url: String, reason: String },
}

fn algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    match (&jwk.common.key_algorithm, &jwk.algorithm) {
        (Some(KeyAlgorithm::ES256), AlgorithmParameters::EllipticCurve(_)) => Some(Algorithm::ES256),
        (Some(KeyAlgorithm::EdDSA), AlgorithmParameters::OctetKeyPair(_)) => Some(Algorithm::EdDSA),
        (Some(_), _) => None,
        (None, AlgorithmParameters::EllipticCurve(ec)) if ec.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        (None, AlgorithmParameters::OctetKeyPair(okp)) if okp.curve == EllipticCurve::Ed25519 => {
            Some(Algorithm::EdDSA)
        }
        (None, _) => None,
    }
}

/// The usable keys of a JWKS document.
fn parse(jwks: &str) -> Result<Vec<Key>, KeysError> {
    let set: JwkSet = serde_json::from_str(jwks).map_err(|error| KeysError::Parse(error.to_string()))?;
    let keys: Vec<Key> = set
        .keys
        .iter()
        .filter_map(|jwk| {
            let algorithm = algorithm(jwk)?;
            let decoding = DecodingKey::from_jwk(jwk)
                .map_err(|error| tracing::warn!(kid = ?jwk.common.key_id, %error, "unusable key skipped"))
                .ok()?;
            Some(Key { kid: jwk.common.key_id.clone(), algorithm, decoding })
        })
        .collect();
    if keys.is_empty() {
        return Err(KeysError::Empty);
    }
    Ok(keys)
}

/// Plain http only to this machine (an identity provider's sidecar, or a test).
/// Whether `url` is plain HTTP to this machine (allowed where HTTPS is otherwise required).
pub fn is_loopback_http(url: &str) -> bool {
    ["http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/", "http://[::1]:"]
        .iter()
        .any(|prefix| url.starts_with(prefix))
}

/// Installs the process's TLS crypto provider for HTTPS clients (once; later calls do nothing).
pub fn install_tls_provider() {
    // One provider for every TLS client of the process; a second install is refused, harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The usable keys of the JWKS document at `url`, and the document's SHA-256.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<(Vec<Key>, [u8; 32]), KeysError> {
    let failed = |reason: String| KeysError::Fetch { url: url.to_owned(), reason };
    let response = client.get(url).send().await.map_err(|error| failed(error.to_string()))?;
    let mut response = response.error_for_status().map_err(|error| failed(error.to_string()))?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| failed(error.to_string()))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_JWKS_BYTES {
            return Err(failed(format!("the key set is over {MAX_JWKS_BYTES} bytes")));
        }
    }
    document(&body)
}

/// The usable keys of a fetched JWKS document, and its SHA-256.
fn document(body: &[u8]) -> Result<(Vec<Key>, [u8; 32]), KeysError> {
    Ok((parse(&String::from_utf8_lossy(body))?, Sha256::digest(body).into()))
}

impl KeySet {
    fn with(keys: Vec<Key>) -> Self {
        Self {
            keys: Arc::new(RwLock::new(Keys { keys, generation: 1, digest: None })),
            refresh: Arc::new(Notify::new()),
        }
    }

    /// The keys of a JWKS document.
    pub fn from_jwks(jwks: &str) -> Result<Self, KeysError> {
        Ok(Self::with(parse(jwks)?))
    }

    /// Loads the keys from `source`. A URL is fetched now, and then in the background for as
    /// long as the key set is in use; if the first fetch fails, the set starts empty (every
    /// token is refused) and the fetch is retried.
    pub async fn load(source: &KeySource) -> Result<Self, KeysError> {
        match source {
            KeySource::File(path) => {
                let jwks = std::fs::read_to_string(path)
                    .map_err(|source| KeysError::Read { path: path.clone(), source })?;
                Self::from_jwks(&jwks)
            }
            KeySource::Url { url, refresh } => {
                if !url.starts_with("https://") && !is_loopback_http(url) {
                    return Err(KeysError::Fetch {
                        url: url.clone(),
                        reason: "the key set must be fetched over https".to_owned(),
                    });
                }
                install_tls_provider();
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|error| KeysError::Fetch { url: url.clone(), reason: error.to_string() })?;
                let set = Self::with(Vec::new());
                match fetch(&client, url).await {
                    Ok(fetched) => {
                        set.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner).fetched(fetched)
                    }
                    Err(error) => tracing::error!(%error, "no keys to verify tokens with yet; retrying"),
                }
                let weak = Arc::downgrade(&set.keys);
                let notify = Arc::clone(&set.refresh);
                let (url, every) = (url.clone(), *refresh);
                tokio::spawn(async move {
                    loop {
                        let _ = tokio::time::timeout(every, notify.notified()).await;
                        let Some(keys) = weak.upgrade() else { return };
                        match fetch(&client, &url).await {
                            Ok(fetched) => {
                                keys.write()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .fetched(fetched);
                            }
                            Err(error) => tracing::warn!(%error, "the key set was not refreshed"),
                        }
                        drop(keys);
                        tokio::time::sleep(MIN_REFRESH_GAP).await;
                    }
                });
                Ok(set)
            }
        }
    }

    /// Changes whenever the keys change.
    pub fn generation(&self) -> u64 {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).generation
    }

    /// The key `kid` names for `algorithm`; without a kid, the only key of that algorithm.
    pub(crate) fn find(&self, kid: Option<&str>, algorithm: Algorithm) -> Result<DecodingKey, AuthError> {
        let keys = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = match kid {
            Some(kid) => keys.keys.iter().find(|key| key.kid.as_deref() == Some(kid)).ok_or_else(|| {
                self.refresh.notify_one();
                AuthError::UnknownKey(crate::verify::shortened(kid))
            })?,
            None => {
                let mut candidates = keys.keys.iter().filter(|key| key.algorithm == algorithm);
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => only,
                    (None, _) => return Err(AuthError::Algorithm(format!("{algorithm:?}"))),
                    (Some(_), Some(_)) => return Err(AuthError::NoKeyId),
                }
            }
        };
        if found.algorithm != algorithm {
            return Err(AuthError::BadSignature);
        }
        Ok(found.decoding.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{AuthConfig, DEV_AUDIENCE, DEV_ISSUER, DevIssuer, Grant, Verifier};

    fn fetched(set: &KeySet, issuer: &DevIssuer) {
        let document = document(issuer.jwks().as_bytes()).expect("a JWKS document");
        set.keys.write().expect("not poisoned").fetched(document);
    }

    #[test]
    fn the_same_document_fetched_again_keeps_verified_tokens_and_another_forgets_them() {
        let (ours, theirs) = (tempfile::tempdir().expect("a folder"), tempfile::tempdir().expect("a folder"));
        let issuer = DevIssuer::create_or_open(ours.path()).expect("an issuer");
        let other = DevIssuer::create_or_open(theirs.path()).expect("another issuer");
        let set = KeySet::with(Vec::new());
        fetched(&set, &issuer);
        let verifier = Verifier::new(AuthConfig::new(DEV_ISSUER, DEV_AUDIENCE), set.clone());
        let grant = Grant {
            person: "anna.contact".into(),
            role: luukku_domain::Role::ContactPerson,
            organisation: "0201256-6".into(),
            sector: None,
            system: "luukku-cli".into(),
            member: None,
            ttl: Duration::from_secs(60),
        };
        let token = issuer.mint(&grant).expect("a token");
        verifier.verify(&token).expect("verified");
        fetched(&set, &issuer);
        verifier.verify(&token).expect("still verified");
        assert_eq!(verifier.full_verifications(), 1, "an unchanged key set keeps what was verified with it");
        fetched(&set, &other);
        assert!(
            matches!(verifier.verify(&token), Err(AuthError::UnknownKey(_))),
            "a changed key set is verified against anew"
        );
        assert_eq!(verifier.cached_tokens(), 0, "what was verified with the replaced keys is forgotten");
    }
}
