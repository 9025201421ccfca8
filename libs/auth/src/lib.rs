//! Who is calling. A caller presents a signed token (a JWT); [`Verifier`] checks its signature
//! against the issuer's published keys, its issuer, audience and validity period, and maps its
//! claims to an [`Identity`]. Only ES256 and EdDSA signatures are accepted: `none` and the
//! shared-secret HMAC algorithms are refused whatever the token says.
//!
//! [`DevIssuer`] is the development issuer of `luukku dev`: a signing key and its key set in
//! the data folder, and tokens minted with them.

mod claims;
mod error;
mod issuer;
mod keys;
mod verify;

pub use claims::{ClaimNames, Identity};
pub use error::AuthError;
pub use issuer::{DEV_AUDIENCE, DEV_ISSUER, DevIssuer, Grant, IssuerError};
pub use keys::{KeySet, KeySource, KeysError, install_tls_provider, is_loopback_http};
pub use verify::{AuthConfig, CACHED_TOKENS, MAX_LIFETIME, Verifier};

/// The algorithms a token may be signed with.
pub const ALGORITHMS: [&str; 2] = ["ES256", "EdDSA"];
