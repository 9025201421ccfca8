//! Verifying a bearer token on every call, and remembering what was verified until it expires.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use lru::LruCache;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{AuthError, ClaimNames, Identity, KeySet};

/// The largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The most claims a token may hold.
pub const MAX_CLAIMS: usize = 64;

/// The longest a token may be valid for by default: a working day and then some.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

fn leeway_of(config: &AuthConfig) -> i64 {
    i64::try_from(config.leeway.as_secs()).unwrap_or(0)
}

/// How many verified tokens a [`Verifier`] remembers by default: a caller's later calls with a
/// token remembered skip its signature check. Size it ([`AuthConfig::cached_tokens`]) for the
/// callers active within a token's lifetime.
pub const CACHED_TOKENS: NonZeroUsize = NonZeroUsize::new(16_384).expect("non-zero");

/// What a token must say to be accepted.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must include.
    pub audience: String,
    /// How far `exp` and `nbf` may be off, for clocks that differ a little.
    pub leeway: Duration,
    /// The longest a token may still be valid for: longer-lived tokens are refused.
    pub max_lifetime: Duration,
    pub claims: ClaimNames,
    /// How many verified tokens are remembered, the least recently used forgotten first.
    pub cached_tokens: NonZeroUsize,
}

impl AuthConfig {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: Duration::from_secs(30),
            max_lifetime: MAX_LIFETIME,
            claims: ClaimNames::default(),
            cached_tokens: CACHED_TOKENS,
        }
    }
}

/// Verifies tokens against one issuer's keys.
pub struct Verifier {
    config: AuthConfig,
    keys: KeySet,
    /// Verified tokens by their hash, with the key set generation they were verified under.
    cache: Mutex<LruCache<[u8; 32], (u64, Identity)>>,
    /// Tokens verified in full, signature and claims (not found remembered).
    full_verifications: AtomicU64,
}

#[derive(serde::Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

fn header(token: &str) -> Result<(Algorithm, Option<String>), AuthError> {
    let mut parts = token.split('.');
    let (Some(encoded), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed("a JWT has three parts separated by dots".to_owned()));
    };
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AuthError::Malformed("the header is not base64url".to_owned()))?;
    let header: RawHeader = serde_json::from_slice(&json)
        .map_err(|_| AuthError::Malformed("the header is not a JWS header".to_owned()))?;
    let algorithm = match header.alg.as_str() {
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        _ => return Err(AuthError::Algorithm(shortened(&header.alg))),
    };
    Ok((algorithm, header.kid))
}

/// At most 40 characters of a value the caller sent, to say what was wrong without echoing
/// kilobytes back.
pub(crate) fn shortened(value: &str) -> String {
    match value.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &value[..at]),
        None => value.to_owned(),
    }
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Verifier {
    pub fn new(config: AuthConfig, keys: KeySet) -> Self {
        let cache = Mutex::new(LruCache::new(config.cached_tokens));
        Self { config, keys, cache, full_verifications: AtomicU64::new(0) }
    }

    /// How many tokens were accepted after a full verification (signature and claims), not
    /// found remembered: when this grows about as fast as the calls, the cache is too small
    /// for the callers ([`AuthConfig::cached_tokens`]).
    pub fn full_verifications(&self) -> u64 {
        self.full_verifications.load(Ordering::Relaxed)
    }

    /// How many verified tokens are remembered now, expired ones not yet forgotten included.
    pub fn cached_tokens(&self) -> usize {
        self.lock().len()
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The identity `token` carries, when it is signed by one of the issuer's keys with an
    /// allowed algorithm, is from the issuer, for the audience, within its validity, and its
    /// claims name a luukku identity.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge { len: token.len(), max: MAX_TOKEN_BYTES });
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let generation = self.keys.generation();
        let leeway = leeway_of(&self.config);
        {
            let mut cache = self.lock();
            let remembered = cache.get(&hash).map(|(verified_under, identity)| {
                let current = *verified_under == generation
                    && identity.expires_at.saturating_add(leeway) > now_seconds();
                (current, identity.clone())
            });
            match remembered {
                Some((true, identity)) => return Ok(identity),
                // Verified with keys since replaced, or expired: forgotten.
                Some((false, _)) => {
                    cache.pop(&hash);
                    metrics::gauge!("luukku_auth_cached_tokens").set(cache.len() as f64);
                }
                None => {}
            }
        }
        let verified = self.verify_signed(token);
        let result = if verified.is_ok() { "verified" } else { "refused" };
        metrics::counter!("luukku_auth_full_verifications_total", "result" => result).increment(1);
        let identity = verified?;
        self.full_verifications.fetch_add(1, Ordering::Relaxed);
        let mut cache = self.lock();
        cache.put(hash, (generation, identity.clone()));
        metrics::gauge!("luukku_auth_cached_tokens").set(cache.len() as f64);
        Ok(identity)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<[u8; 32], (u64, Identity)>> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn verify_signed(&self, token: &str) -> Result<Identity, AuthError> {
        let claims = self.verify_claims(token)?;
        let identity = self.config.claims.identity(&claims)?;
        let max_lifetime = i64::try_from(self.config.max_lifetime.as_secs()).unwrap_or(i64::MAX);
        if identity.expires_at.saturating_sub(now_seconds())
            > max_lifetime.saturating_add(leeway_of(&self.config))
        {
            return Err(AuthError::TooLongLived { max_hours: self.config.max_lifetime.as_secs() / 3600 });
        }
        Ok(identity)
    }

    /// The claims of `token`, checked as [`Verifier::verify`] checks them (signature, issuer,
    /// audience, validity, size) but not read as a luukku identity: for an OpenID Connect ID
    /// token, whose audience is the client. Nothing is cached.
    pub fn verify_claims(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge { len: token.len(), max: MAX_TOKEN_BYTES });
        }
        let (algorithm, kid) = header(token)?;
        let key = self.keys.find(kid.as_deref(), algorithm)?;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", &self.config.claims.person]);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(
                |error| match error.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                    ErrorKind::InvalidAudience => AuthError::WrongAudience(self.config.audience.clone()),
                    ErrorKind::InvalidIssuer => AuthError::WrongIssuer(self.config.issuer.clone()),
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => AuthError::BadSignature,
                    ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
                    ErrorKind::InvalidClaimFormat(claim) => {
                        AuthError::BadClaim { name: claim.clone(), reason: "has the wrong format".to_owned() }
                    }
                    _ => AuthError::Malformed("the payload is not base64url JSON claims".to_owned()),
                },
            )?;
        if data.claims.len() > MAX_CLAIMS {
            return Err(AuthError::TooManyClaims { count: data.claims.len(), max: MAX_CLAIMS });
        }
        Ok(data.claims)
    }
}
