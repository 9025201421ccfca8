//! The family aggregate: members, municipality, consents, closing and erasure.

mod decide;
mod events;
mod narrate;
mod rules;
mod state;

pub use decide::{FamilyCommand, FamilyError, NewMember, Retention};
pub use events::{
    CloseReason, Closed, ConsentGranted, ConsentRevoked, ErasureApproved, ErasureGround, ErasureRequested,
    FamilyEvent, MemberDetails, MemberJoined, MemberLinked, MemberRemoved, MemberRole, MemberUnlinked,
    MemberUpdated, MunicipalityChanged, Registered, Reopened,
};
pub use rules::check_retention;
pub use state::{Consent, Family, FamilyStatus, Member, PendingErasure};

use std::fmt;

use serde::{Deserialize, Serialize};

crate::ulid_id!(
    /// A family: the aggregate id in the `FAMILIES` stream.
    FamilyId
);
crate::ulid_id!(
    /// A member of one family.
    MemberId
);
crate::ulid_id!(
    /// One consent of one family.
    ConsentId
);
crate::ulid_id!(
    /// One request to erase a family.
    ErasureId
);

/// One member of one family, as a token or a link names them: `FAMILY_ID:MEMBER_ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberRef {
    pub family_id: FamilyId,
    pub member_id: MemberId,
}

impl fmt::Display for MemberRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.family_id, self.member_id)
    }
}

impl std::str::FromStr for MemberRef {
    type Err = String;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (family, member) =
            input.split_once(':').ok_or_else(|| format!("{input:?} is not FAMILY_ID:MEMBER_ID"))?;
        Ok(Self {
            family_id: family.parse().map_err(|error| format!("the family id: {error}"))?,
            member_id: member.parse().map_err(|error| format!("the member id: {error}"))?,
        })
    }
}

/// A municipality by its three-digit Statistics Finland code, such as `091` (Helsinki).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Municipality(String);

impl Municipality {
    pub fn parse(input: &str) -> Result<Self, String> {
        if input.len() == 3 && input.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(input.to_owned()))
        } else {
            Err(format!("{input:?} is not a three-digit municipality code such as \"091\""))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Municipality {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Municipality> for String {
    fn from(value: Municipality) -> Self {
        value.0
    }
}

impl fmt::Display for Municipality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Municipality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Municipality({})", self.0)
    }
}

/// Checks an ISO 639 language code: two or three lower-case letters.
pub fn parse_language(input: &str) -> Result<String, String> {
    let code = input.trim().to_ascii_lowercase();
    if (2..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(code)
    } else {
        Err(format!("{input:?} is not an ISO 639 language code such as \"fi\" or \"sv\""))
    }
}

/// Age in whole years on `today`.
pub fn age_on(birth_date: jiff::civil::Date, today: jiff::civil::Date) -> i16 {
    let mut age = today.year() - birth_date.year();
    if (today.month(), today.day()) < (birth_date.month(), birth_date.day()) {
        age -= 1;
    }
    age
}

/// The age from which a child may consent for themself.
pub const SELF_CONSENT_AGE: i16 = 15;
