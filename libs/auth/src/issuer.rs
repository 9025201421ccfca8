//! The development issuer of `luukku dev`: an ES256 signing key made on the first start in the
//! data folder, the key set services verify against, and tokens minted for any identity. It
//! signs only in a folder `luukku dev` made; it is for development, never for production.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use luukku_domain::family::MemberRef;
use luukku_domain::{Role, Sector};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{KeySet, keys::KeysError};

/// The `iss` of development tokens.
pub const DEV_ISSUER: &str = "luukku-dev";
/// The `aud` of development tokens.
pub const DEV_AUDIENCE: &str = "luukku";

/// The file that marks a folder as a `luukku dev` data folder.
const MARKER: &str = "luukku-dev";

/// What a development token says its bearer is.
#[derive(Debug, Clone)]
pub struct Grant {
    pub person: String,
    pub role: Role,
    pub organisation: String,
    pub sector: Option<Sector>,
    pub system: String,
    pub member: Option<MemberRef>,
    pub ttl: Duration,
}

/// Why the development issuer cannot sign.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error(
        "{0} is not a luukku dev data folder (no {MARKER} file); start `luukku dev --data-dir {0}` first"
    )]
    NotDevFolder(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the development signing key in {0} is unusable")]
    BadKey(String),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error("cannot sign: {0}")]
    Sign(String),
}

pub struct DevIssuer {
    encoding: EncodingKey,
    kid: String,
    jwks: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IssuerError + '_ {
    move |source| IssuerError::Io { path: path.to_owned(), source }
}

fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("auth").join("dev-signing-key.p8")
}

impl DevIssuer {
    /// The key set file services verify development tokens against.
    pub fn jwks_path(data_dir: &Path) -> PathBuf {
        data_dir.join("auth").join("dev-jwks.json")
    }

    /// Makes `data_dir` a development folder with a signing key, once, and opens its issuer.
    pub fn create_or_open(data_dir: &Path) -> Result<Self, IssuerError> {
        let auth = data_dir.join("auth");
        std::fs::create_dir_all(&auth).map_err(io(&auth))?;
        let marker = data_dir.join(MARKER);
        if !marker.exists() {
            std::fs::write(&marker, "a luukku dev data folder: its development issuer signs tokens\n")
                .map_err(io(&marker))?;
        }
        let key = key_path(data_dir);
        if !key.exists() {
            let signing = SigningKey::random(&mut rand_core::OsRng);
            let der = signing.to_pkcs8_der().map_err(|_| IssuerError::BadKey(key.display().to_string()))?;
            write_private(&key, der.as_bytes())?;
        }
        let issuer = Self::open(data_dir)?;
        let jwks = Self::jwks_path(data_dir);
        std::fs::write(&jwks, &issuer.jwks).map_err(io(&jwks))?;
        Ok(issuer)
    }

    /// The issuer of an existing development folder; refuses any other folder.
    pub fn open(data_dir: &Path) -> Result<Self, IssuerError> {
        if !data_dir.join(MARKER).is_file() {
            return Err(IssuerError::NotDevFolder(data_dir.display().to_string()));
        }
        let path = key_path(data_dir);
        let der = Zeroizing::new(std::fs::read(&path).map_err(io(&path))?);
        let signing =
            SigningKey::from_pkcs8_der(&der).map_err(|_| IssuerError::BadKey(path.display().to_string()))?;
        let public = p256::PublicKey::from(signing.verifying_key());
        let kid: String =
            Sha256::digest(public.to_sec1_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
        let mut jwk: serde_json::Value = serde_json::from_str(&public.to_jwk_string())
            .map_err(|_| IssuerError::BadKey(path.display().to_string()))?;
        if let Some(object) = jwk.as_object_mut() {
            object.insert("kid".into(), kid.clone().into());
            object.insert("alg".into(), "ES256".into());
            object.insert("use".into(), "sig".into());
        }
        let jwks = serde_json::json!({ "keys": [jwk] }).to_string();
        Ok(Self { encoding: EncodingKey::from_ec_der(&der), kid, jwks })
    }

    /// The JWKS document of the issuer's public key.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    pub fn key_set(&self) -> Result<KeySet, IssuerError> {
        Ok(KeySet::from_jwks(&self.jwks)?)
    }

    /// A token for `grant`, valid from now for its time to live.
    pub fn mint(&self, grant: &Grant) -> Result<String, IssuerError> {
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = serde_json::json!({
            "iss": DEV_ISSUER,
            "aud": DEV_AUDIENCE,
            "sub": grant.person,
            "iat": now,
            "nbf": now,
            "exp": now + grant.ttl.as_secs(),
            "azp": grant.system,
            "luukku_role": grant.role.as_code(),
            "luukku_organisation": grant.organisation,
        });
        if let Some(object) = claims.as_object_mut() {
            if let Some(sector) = grant.sector {
                object.insert("luukku_sector".into(), sector.as_code().into());
            }
            if let Some(member) = grant.member {
                object.insert("luukku_member".into(), member.to_string().into());
            }
        }
        self.sign(&claims)
    }

    /// Signs any claims as they are, for tests of what a verifier refuses.
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, IssuerError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|error| IssuerError::Sign(error.to_string()))
    }
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), IssuerError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthConfig, AuthError, Verifier};

    fn grant(ttl: Duration) -> Grant {
        Grant {
            person: "anna.contact".into(),
            role: Role::ContactPerson,
            organisation: "0201256-6".into(),
            sector: Some(Sector::FamilySocialServices),
            system: "luukku-cli".into(),
            member: None,
            ttl,
        }
    }

    #[test]
    fn a_minted_token_verifies_and_the_key_survives_a_restart() {
        let folder = tempfile::tempdir().expect("a folder");
        let issuer = DevIssuer::create_or_open(folder.path()).expect("an issuer");
        let token = issuer.mint(&grant(Duration::from_secs(60))).expect("a token");
        let again = DevIssuer::create_or_open(folder.path()).expect("the same issuer");
        assert_eq!(again.jwks(), issuer.jwks(), "the key is made once");
        let verifier =
            Verifier::new(AuthConfig::new(DEV_ISSUER, DEV_AUDIENCE), again.key_set().expect("keys"));
        let identity = verifier.verify(&token).expect("verified");
        assert_eq!(identity.person.as_str(), "anna.contact");
        assert_eq!(identity.role, Role::ContactPerson);
        assert_eq!(identity.system.map(|system| system.as_str().to_owned()).as_deref(), Some("luukku-cli"));
    }

    #[test]
    fn a_remembered_token_skips_its_signature_check_and_the_cache_keeps_its_size() {
        let folder = tempfile::tempdir().expect("a folder");
        let issuer = DevIssuer::create_or_open(folder.path()).expect("an issuer");
        let config = AuthConfig {
            cached_tokens: std::num::NonZeroUsize::new(2).expect("non-zero"),
            ..AuthConfig::new(DEV_ISSUER, DEV_AUDIENCE)
        };
        let verifier = Verifier::new(config, issuer.key_set().expect("keys"));
        let tokens: Vec<String> = ["anna", "bertta", "cecilia"]
            .into_iter()
            .map(|person| {
                let grant = Grant { person: person.into(), ..grant(Duration::from_secs(60)) };
                issuer.mint(&grant).expect("a token")
            })
            .collect();
        for token in &tokens {
            verifier.verify(token).expect("verified");
        }
        assert_eq!(verifier.full_verifications(), 3, "each new token is checked");
        assert_eq!(verifier.cached_tokens(), 2, "the least recently used is forgotten");
        let third = verifier.verify(&tokens[2]).expect("verified");
        assert_eq!(third.person.as_str(), "cecilia");
        assert_eq!(verifier.full_verifications(), 3, "a remembered token is not checked again");
        verifier.verify(&tokens[0]).expect("verified");
        assert_eq!(verifier.full_verifications(), 4, "a forgotten token is checked again");
        assert_eq!(verifier.cached_tokens(), 2);
        let (signed, signature) = tokens[1].rsplit_once('.').expect("a signature");
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{signed}.{first}{}", &signature[1..]);
        assert!(verifier.verify(&forged).is_err(), "a changed signature is refused");
        assert_eq!(verifier.full_verifications(), 4, "a refused token is not counted as verified");
    }

    #[test]
    fn only_a_dev_folder_signs() {
        let folder = tempfile::tempdir().expect("a folder");
        assert!(matches!(DevIssuer::open(folder.path()), Err(IssuerError::NotDevFolder(_))));
    }

    #[test]
    fn another_issuers_key_or_audience_is_refused() {
        let ours = tempfile::tempdir().expect("a folder");
        let theirs = tempfile::tempdir().expect("a folder");
        let issuer = DevIssuer::create_or_open(ours.path()).expect("an issuer");
        let other = DevIssuer::create_or_open(theirs.path()).expect("another issuer");
        let token = other.mint(&grant(Duration::from_secs(60))).expect("a token");
        let verifier =
            Verifier::new(AuthConfig::new(DEV_ISSUER, DEV_AUDIENCE), issuer.key_set().expect("keys"));
        assert!(matches!(verifier.verify(&token), Err(AuthError::UnknownKey(_))));
        let ours_token = issuer.mint(&grant(Duration::from_secs(60))).expect("a token");
        let elsewhere =
            Verifier::new(AuthConfig::new(DEV_ISSUER, "another-audience"), issuer.key_set().expect("keys"));
        assert_eq!(elsewhere.verify(&ours_token), Err(AuthError::WrongAudience("another-audience".into())));
    }

    #[test]
    fn a_token_living_too_long_is_refused_and_only_family_members_stand_for_a_member() {
        let folder = tempfile::tempdir().expect("a folder");
        let issuer = DevIssuer::create_or_open(folder.path()).expect("an issuer");
        let verifier =
            Verifier::new(AuthConfig::new(DEV_ISSUER, DEV_AUDIENCE), issuer.key_set().expect("keys"));
        let week = issuer.mint(&grant(Duration::from_secs(7 * 24 * 3600))).expect("a token");
        assert_eq!(verifier.verify(&week), Err(AuthError::TooLongLived { max_hours: 24 }));
        let member: MemberRef =
            "01KAQ8S0V3M7Y9ZQ0W2X4B6C8D:01KAQ8S0V3M7Y9ZQ0W2X4B6C8E".parse().expect("a member");
        let contact = Grant { member: Some(member), ..grant(Duration::from_secs(60)) };
        let identity = verifier.verify(&issuer.mint(&contact).expect("a token")).expect("verified");
        assert_eq!(identity.member, None, "a contact person's token stands for no member");
        let own = Grant { role: Role::FamilyMember, sector: None, ..contact };
        let identity = verifier.verify(&issuer.mint(&own).expect("a token")).expect("verified");
        assert_eq!(identity.member, Some(member));
    }
}
