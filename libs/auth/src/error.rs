//! Why a token does not identify its bearer. Each message says what to fix; none repeats the
//! token or its claims' values.

/// Why a caller is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token: send the metadata `authorization: Bearer <token>`")]
    Missing,
    #[error("the authorization metadata must be `Bearer <token>`")]
    NotBearer,
    #[error("the token is {len} bytes; at most {max} are accepted")]
    TooLarge { len: usize, max: usize },
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the token is signed with {0:?}; accepted are ES256 and EdDSA")]
    Algorithm(String),
    #[error("the token names no key id (kid), and the issuer has more than one key")]
    NoKeyId,
    #[error("the token's key id {0:?} is not among the issuer's keys; get a new token")]
    UnknownKey(String),
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired; get a new one")]
    Expired,
    #[error("the token is valid for longer than the {max_hours} hours accepted; get one that expires sooner")]
    TooLongLived { max_hours: u64 },
    #[error("the token is not valid yet (nbf is in the future)")]
    NotYetValid,
    #[error("the token was issued by another issuer; this service trusts {0}")]
    WrongIssuer(String),
    #[error("the token is not meant for this service: its audience is not {0}")]
    WrongAudience(String),
    #[error("the token holds {count} claims; at most {max} are accepted")]
    TooManyClaims { count: usize, max: usize },
    #[error("the token has no {0:?} claim")]
    MissingClaim(String),
    #[error("the token's {name:?} claim {reason}")]
    BadClaim { name: String, reason: String },
}
