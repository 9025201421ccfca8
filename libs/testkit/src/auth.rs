//! Callers of test servers: one development issuer per test process, whose tokens every test
//! server verifies, and requests signed as any actor.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use luukku_auth::{AuthConfig, DEV_AUDIENCE, DEV_ISSUER, DevIssuer, Grant, Verifier};
use luukku_domain::Actor;
use luukku_domain::family::MemberRef;
use luukku_grpc::Authenticator;

struct Issuer {
    issuer: DevIssuer,
    authenticator: Arc<Authenticator>,
}

fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let folder = tempfile::Builder::new()
            .prefix("luukku-issuer-")
            .tempdir()
            .unwrap_or_else(|error| panic!("a folder for the test issuer: {error}"));
        let issuer = DevIssuer::create_or_open(folder.path())
            .unwrap_or_else(|error| panic!("the test issuer: {error}"));
        // The issuer holds its key in memory: the folder goes now, since a static is never
        // dropped and its folder would outlive every test process.
        drop(folder);
        let keys = issuer.key_set().unwrap_or_else(|error| panic!("the test issuer's keys: {error}"));
        let verifier = Verifier::new(AuthConfig::new(DEV_ISSUER, DEV_AUDIENCE), keys);
        Issuer { issuer, authenticator: Arc::new(Authenticator::new(verifier)) }
    })
}

/// The authenticator test servers use: it accepts the tokens of [`token`].
pub fn authenticator() -> Arc<Authenticator> {
    Arc::clone(&issuer().authenticator)
}

/// The development issuer behind [`token`], for tests that mint their own tokens.
pub fn dev_issuer() -> &'static DevIssuer {
    &issuer().issuer
}

/// What a token for `actor` grants, valid for an hour.
pub fn grant(actor: &Actor) -> Grant {
    Grant {
        person: actor.person_id.to_string(),
        role: actor.role,
        organisation: actor.organisation.to_string(),
        sector: actor.sector,
        system: actor.system.to_string(),
        member: None,
        ttl: Duration::from_secs(3600),
    }
}

/// A signed token saying its bearer is `actor`.
pub fn token(actor: &Actor) -> String {
    mint(&grant(actor))
}

/// A family member's token, standing for `member`.
pub fn member_token(actor: &Actor, member: MemberRef) -> String {
    mint(&Grant { member: Some(member), ..grant(actor) })
}

pub fn mint(grant: &Grant) -> String {
    issuer().issuer.mint(grant).unwrap_or_else(|error| panic!("minting a test token: {error}"))
}

/// A request made by `actor`, with its token.
pub fn with_identity<T>(message: T, actor: &Actor) -> tonic::Request<T> {
    luukku_grpc::with_token(message, &token(actor))
}

/// A token this process's test servers must refuse, and the reason they must give.
pub struct BadToken {
    pub case: &'static str,
    /// `None` sends no `authorization` header at all.
    pub token: Option<String>,
    pub reason: &'static str,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

fn claims(actor: &Actor) -> serde_json::Value {
    let now = now();
    serde_json::json!({
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": actor.person_id.as_str(),
        "iat": now,
        "exp": now + 600,
        "azp": actor.system.as_str(),
        "luukku_role": actor.role.as_code(),
        "luukku_organisation": actor.organisation.as_str(),
    })
}

fn signed(claims: &serde_json::Value) -> String {
    dev_issuer().sign(claims).unwrap_or_else(|error| panic!("signing test claims: {error}"))
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Every kind of token a server must refuse, each otherwise naming `actor`: none at all, an
/// expired one, one for another audience, a forged signature, `alg: none`, a key the server
/// does not know, 100 KB, garbage, and 1,000 claims.
pub fn bad_tokens(actor: &Actor) -> Vec<BadToken> {
    let mut expired = claims(actor);
    expired["iat"] = (now() - 7200).into();
    expired["exp"] = (now() - 3600).into();
    let mut audience = claims(actor);
    audience["aud"] = "another-service".into();
    let valid = signed(&claims(actor));
    let mut forged: Vec<&str> = valid.split('.').collect();
    let other = signed(&serde_json::json!({ "sub": "someone.else" }));
    let other_signature = other.rsplit('.').next().unwrap_or_default();
    forged[2] = other_signature;
    let none_header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64url(claims(actor).to_string().as_bytes());
    let stranger_folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let stranger =
        DevIssuer::create_or_open(stranger_folder.path()).unwrap_or_else(|error| panic!("{error}"));
    let unknown_key = stranger.sign(&claims(actor)).unwrap_or_else(|error| panic!("{error}"));
    let mut many = claims(actor);
    for index in 0..1000 {
        many[format!("c{index}")] = index.into();
    }
    let huge = format!("{}.{}.{}", base64url(br#"{"alg":"ES256"}"#), "A".repeat(100 * 1024), "B".repeat(86));
    vec![
        BadToken { case: "no token", token: None, reason: "TOKEN_MISSING" },
        BadToken { case: "expired", token: Some(signed(&expired)), reason: "TOKEN_EXPIRED" },
        BadToken { case: "wrong audience", token: Some(signed(&audience)), reason: "TOKEN_AUDIENCE" },
        BadToken { case: "wrong signature", token: Some(forged.join(".")), reason: "TOKEN_SIGNATURE" },
        BadToken {
            case: "alg none",
            token: Some(format!("{none_header}.{payload}.")),
            reason: "TOKEN_ALGORITHM",
        },
        BadToken { case: "unknown key id", token: Some(unknown_key), reason: "TOKEN_UNKNOWN_KEY" },
        BadToken { case: "100 KB", token: Some(huge), reason: "TOKEN_MALFORMED" },
        BadToken {
            case: "garbage base64",
            token: Some("!!!not.base64@@.###".to_owned()),
            reason: "TOKEN_MALFORMED",
        },
        BadToken { case: "1,000 claims", token: Some(signed(&many)), reason: "TOKEN_MALFORMED" },
    ]
}

/// A request carrying `bad`'s token, or none.
pub fn with_bad_token<T>(message: T, bad: &BadToken) -> tonic::Request<T> {
    match &bad.token {
        Some(token) => luukku_grpc::with_token(message, token),
        None => tonic::Request::new(message),
    }
}

/// Checks that `status` refuses a bad token as it must: `UNAUTHENTICATED`, with the reason.
pub fn check_refused(bad: &BadToken, status: &tonic::Status) -> Result<(), String> {
    use tonic_types::StatusExt as _;
    if status.code() != tonic::Code::Unauthenticated {
        return Err(format!("{}: {:?}, not UNAUTHENTICATED: {}", bad.case, status.code(), status.message()));
    }
    let reason = status.get_error_details().error_info().map(|info| info.reason.clone());
    if reason.as_deref() != Some(bad.reason) {
        return Err(format!("{}: reason {reason:?}, not {}: {}", bad.case, bad.reason, status.message()));
    }
    Ok(())
}

/// Makes `call` with every bad token of [`bad_tokens`] and checks each is refused as it must be.
pub async fn refuses_every_bad_token<F, Fut, R>(actor: &Actor, mut call: F) -> anyhow::Result<()>
where
    F: FnMut(&BadToken) -> Fut,
    Fut: std::future::Future<Output = Result<R, tonic::Status>>,
{
    for bad in bad_tokens(actor) {
        match call(&bad).await {
            Ok(_) => anyhow::bail!("{}: accepted", bad.case),
            Err(status) => check_refused(&bad, &status).map_err(anyhow::Error::msg)?,
        }
    }
    Ok(())
}
