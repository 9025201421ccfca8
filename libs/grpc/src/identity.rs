//! The caller of a request, established in this one place and handed to the application as a
//! [`Caller`]: a bearer token verified against the issuer's keys and, under mutual TLS, the
//! system the client certificate names. Metadata such as `x-luukku-person` identifies no one.

use std::collections::HashMap;
use std::sync::Arc;

use luukku_app::Caller;
use luukku_auth::{AuthError, Identity, Verifier};
use luukku_domain::{Actor, Code, Role};
use luukku_eventstore::MemberLinks;
use tonic::metadata::MetadataMap;
use tonic::{Code as StatusCode, Request, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::status::DOMAIN;

/// The system recorded when neither the token nor a client certificate names one.
const UNNAMED_SYSTEM: &str = "unnamed";

/// Authenticates the callers of a server.
pub struct Authenticator {
    verifier: Verifier,
    links: Option<MemberLinks>,
    /// Benchmarks only: every call is this caller, unverified, to measure what verifying costs.
    #[cfg(feature = "unverified")]
    unverified: Option<Caller>,
}

/// Why a call is unauthenticated, for its `ErrorInfo`.
fn reason(error: &AuthError) -> &'static str {
    match error {
        AuthError::Missing | AuthError::NotBearer => "TOKEN_MISSING",
        AuthError::TooLarge { .. } | AuthError::Malformed(_) | AuthError::TooManyClaims { .. } => {
            "TOKEN_MALFORMED"
        }
        AuthError::Algorithm(_) => "TOKEN_ALGORITHM",
        AuthError::NoKeyId | AuthError::UnknownKey(_) => "TOKEN_UNKNOWN_KEY",
        AuthError::BadSignature => "TOKEN_SIGNATURE",
        AuthError::Expired => "TOKEN_EXPIRED",
        AuthError::TooLongLived { .. } => "TOKEN_LIFETIME",
        AuthError::NotYetValid => "TOKEN_NOT_YET_VALID",
        AuthError::WrongIssuer(_) => "TOKEN_ISSUER",
        AuthError::WrongAudience(_) => "TOKEN_AUDIENCE",
        AuthError::MissingClaim(_) | AuthError::BadClaim { .. } => "TOKEN_CLAIMS",
    }
}

fn unauthenticated(error: &AuthError) -> Status {
    let details = ErrorDetails::with_error_info(reason(error), DOMAIN, HashMap::new());
    Status::with_error_details(StatusCode::Unauthenticated, error.to_string(), details)
}

fn bearer(metadata: &MetadataMap) -> Result<&str, AuthError> {
    let value = metadata.get("authorization").ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::NotBearer);
    }
    Ok(token.trim())
}

/// The system a client certificate names: its first SAN URI or DNS name that is a code.
pub fn certificate_system(der: &[u8]) -> Result<Code, String> {
    use x509_parser::extensions::GeneralName;
    let (_, certificate) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| "the client certificate does not parse".to_owned())?;
    let names = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| san.value.general_names.clone())
        .unwrap_or_default();
    let uris = names.iter().filter_map(|name| match name {
        GeneralName::URI(uri) => Some(*uri),
        _ => None,
    });
    let dns = names.iter().filter_map(|name| match name {
        GeneralName::DNSName(dns) => Some(*dns),
        _ => None,
    });
    uris.chain(dns).find_map(|name| Code::parse(name).ok()).ok_or_else(|| {
        "the client certificate names no system: give it a SAN URI or DNS name of letters, digits and . _ : @ -"
            .to_owned()
    })
}

impl Authenticator {
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            links: None,
            #[cfg(feature = "unverified")]
            unverified: None,
        }
    }

    /// For benchmarks only (the `unverified` feature): takes every call to be `caller`'s and
    /// reads no token, so that a benchmark can measure what verification costs.
    #[cfg(feature = "unverified")]
    pub fn unverified(verifier: Verifier, caller: Caller) -> Self {
        Self { unverified: Some(caller), ..Self::new(verifier) }
    }

    /// Resolves family members' tokens that name no member through the member links.
    pub fn with_member_links(mut self, links: MemberLinks) -> Self {
        self.links = Some(links);
        self
    }

    /// The caller of `request`: `UNAUTHENTICATED`, saying what to fix, without a valid token.
    pub async fn authenticate<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        #[cfg(feature = "unverified")]
        if let Some(caller) = &self.unverified {
            return Ok(caller.clone());
        }
        let token = bearer(request.metadata()).map_err(|error| unauthenticated(&error))?;
        let identity = self.verifier.verify(token).map_err(|error| unauthenticated(&error))?;
        let certified = match request.peer_certs() {
            Some(certificates) => match certificates.first() {
                Some(certificate) => {
                    Some(certificate_system(certificate.as_ref()).map_err(Status::unauthenticated)?)
                }
                None => None,
            },
            None => None,
        };
        let member = self.member(&identity).await?;
        let Identity { person, role, organisation, sector, system, .. } = identity;
        let system = match certified.or(system) {
            Some(system) => system,
            None => Code::parse(UNNAMED_SYSTEM).map_err(|error| Status::internal(error.to_string()))?,
        };
        Ok(Caller { actor: Actor { person_id: person, role, sector, organisation, system }, member })
    }

    /// The member a family member's token stands for: named in it, or linked to its subject.
    async fn member(&self, identity: &Identity) -> Result<Option<luukku_domain::family::MemberRef>, Status> {
        match (identity.role, identity.member, &self.links) {
            (Role::FamilyMember, None, Some(links)) => links
                .member_of(identity.person.as_str())
                .await
                .map_err(|error| Status::unavailable(format!("the member link cannot be read: {error}"))),
            (_, member, _) => Ok(member),
        }
    }
}

/// The verified caller of `request`. A server without an [`Authenticator`] verifies no one and
/// refuses every call.
pub async fn caller<T: prost::Message + prost::Name>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = match request.extensions().get::<Arc<Authenticator>>() {
        Some(authenticator) => authenticator.authenticate(request).await?,
        None => return Err(Status::unauthenticated("this server has no way to verify callers")),
    };
    // Every call's input is within its limits before anything reads it.
    crate::limits::check(request.get_ref())?;
    Ok(caller)
}

/// A request carrying `token`, as clients send it.
pub fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}
