//! A verified token's claims as a luukku identity, under claim names a deployment chooses.

use luukku_domain::family::MemberRef;
use luukku_domain::{Code, Role, Sector};
use serde_json::{Map, Value};

use crate::AuthError;

/// Which claims carry what. The defaults suit tokens of the development issuer and an OpenID
/// Connect provider configured with luukku's custom claims.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimNames {
    /// The person: their id in the identity provider. Default `sub`.
    pub person: String,
    /// One of `contact_person`, `sector_professional`, `family_member`, `operator`, `system`.
    /// Default `luukku_role`.
    pub role: String,
    /// The organisation's business id or OID. Default `luukku_organisation`.
    pub organisation: String,
    /// The sector code, required for sector professionals. Default `luukku_sector`.
    pub sector: String,
    /// The calling system (the client the token was issued to). Default `azp`.
    pub system: String,
    /// The family member a family member's token stands for, `FAMILY_ID:MEMBER_ID`. Default
    /// `luukku_member`.
    pub member: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            person: "sub".to_owned(),
            role: "luukku_role".to_owned(),
            organisation: "luukku_organisation".to_owned(),
            sector: "luukku_sector".to_owned(),
            system: "azp".to_owned(),
            member: "luukku_member".to_owned(),
        }
    }
}

/// Who a verified token says its bearer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub person: Code,
    pub role: Role,
    pub organisation: Code,
    pub sector: Option<Sector>,
    /// The calling system, when the token names one.
    pub system: Option<Code>,
    /// The family member a family member's token names, when it does.
    pub member: Option<MemberRef>,
    /// When the token stops being valid, seconds since the Unix epoch.
    pub expires_at: i64,
}

fn text<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) => Err(AuthError::BadClaim { name: name.to_owned(), reason: "is not a string".to_owned() }),
    }
}

fn required<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, AuthError> {
    text(claims, name)?.ok_or_else(|| AuthError::MissingClaim(name.to_owned()))
}

fn bad(name: &str, reason: impl std::fmt::Display) -> AuthError {
    AuthError::BadClaim { name: name.to_owned(), reason: reason.to_string() }
}

impl ClaimNames {
    /// The identity `claims` (already verified) carry.
    pub fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, AuthError> {
        let person =
            Code::parse(required(claims, &self.person)?).map_err(|error| bad(&self.person, error))?;
        let role = required(claims, &self.role)?.parse::<Role>().map_err(|error| bad(&self.role, error))?;
        let organisation = Code::parse(required(claims, &self.organisation)?)
            .map_err(|error| bad(&self.organisation, error))?;
        let sector = text(claims, &self.sector)?
            .map(|code| code.parse::<Sector>().map_err(|error| bad(&self.sector, error)))
            .transpose()?;
        if role == Role::SectorProfessional && sector.is_none() {
            return Err(AuthError::MissingClaim(self.sector.clone()));
        }
        let system = text(claims, &self.system)?
            .map(|code| Code::parse(code).map_err(|error| bad(&self.system, error)))
            .transpose()?;
        // Only a family member's token stands for a member of a family.
        let member = match role {
            Role::FamilyMember => text(claims, &self.member)?
                .map(|member| member.parse::<MemberRef>().map_err(|error| bad(&self.member, error)))
                .transpose()?,
            _ => None,
        };
        let expires_at =
            claims.get("exp").and_then(Value::as_i64).ok_or_else(|| AuthError::MissingClaim("exp".into()))?;
        Ok(Identity { person, role, organisation, sector, system, member, expires_at })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn default_claims_give_the_identity() {
        let names = ClaimNames::default();
        let identity = names
            .identity(&claims(json!({
                "sub": "nurse.1", "luukku_role": "sector_professional", "luukku_organisation": "0201256-6",
                "luukku_sector": "child_health_clinic", "azp": "neuvola-system", "exp": 2_000_000_000,
            })))
            .expect("an identity");
        assert_eq!(identity.person.as_str(), "nurse.1");
        assert_eq!(identity.role, Role::SectorProfessional);
        assert_eq!(identity.sector, Some(Sector::ChildHealthClinic));
        assert_eq!(identity.system.map(|s| s.as_str().to_owned()).as_deref(), Some("neuvola-system"));
    }

    #[test]
    fn bad_or_missing_claims_are_named() {
        let names = ClaimNames::default();
        let base =
            json!({"sub": "x", "luukku_role": "sector_professional", "luukku_organisation": "o", "exp": 1});
        assert_eq!(
            names.identity(&claims(base.clone())),
            Err(AuthError::MissingClaim("luukku_sector".into()))
        );
        let mut wrong_role = claims(base);
        wrong_role.insert("luukku_role".into(), json!("king"));
        assert!(
            matches!(names.identity(&wrong_role), Err(AuthError::BadClaim { name, .. }) if name == "luukku_role")
        );
        let custom = ClaimNames { role: "roles".into(), ..ClaimNames::default() };
        let identity = custom.identity(&claims(
            json!({"sub": "x", "roles": "operator", "luukku_organisation": "o", "exp": 1}),
        ));
        assert_eq!(identity.map(|identity| identity.role), Ok(Role::Operator));
    }
}
