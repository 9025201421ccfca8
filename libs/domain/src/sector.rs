//! The sectors of services a family deals with.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A sector of services. The wire code (`as_code`) is stable; the order of variants is part of
/// the persisted postcard encoding, so new sectors are only ever appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Sector {
    /// Neuvola: maternity and child health clinic.
    ChildHealthClinic,
    /// Varhaiskasvatus.
    EarlyEducation,
    /// Koulu.
    School,
    /// Opiskeluhuolto.
    StudentWelfare,
    /// Lapsiperheiden sosiaalipalvelut.
    FamilySocialServices,
    /// Lastensuojelu.
    ChildProtection,
    /// Lasten ja nuorten mielenterveyspalvelut.
    MentalHealth,
    /// Perheneuvola.
    FamilyCounselling,
    /// Kuntoutusohjaus.
    Rehabilitation,
    /// Järjestöt ja seurakunnat.
    NgoOrParish,
    Other,
}

impl Sector {
    pub const ALL: [Sector; 11] = [
        Sector::ChildHealthClinic,
        Sector::EarlyEducation,
        Sector::School,
        Sector::StudentWelfare,
        Sector::FamilySocialServices,
        Sector::ChildProtection,
        Sector::MentalHealth,
        Sector::FamilyCounselling,
        Sector::Rehabilitation,
        Sector::NgoOrParish,
        Sector::Other,
    ];

    pub fn as_code(self) -> &'static str {
        match self {
            Sector::ChildHealthClinic => "child_health_clinic",
            Sector::EarlyEducation => "early_education",
            Sector::School => "school",
            Sector::StudentWelfare => "student_welfare",
            Sector::FamilySocialServices => "family_social_services",
            Sector::ChildProtection => "child_protection",
            Sector::MentalHealth => "mental_health",
            Sector::FamilyCounselling => "family_counselling",
            Sector::Rehabilitation => "rehabilitation",
            Sector::NgoOrParish => "ngo_or_parish",
            Sector::Other => "other",
        }
    }
}

impl fmt::Display for Sector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sector {0:?}")]
pub struct UnknownSector(pub String);

impl FromStr for Sector {
    type Err = UnknownSector;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Sector::ALL
            .into_iter()
            .find(|sector| sector.as_code() == input)
            .ok_or_else(|| UnknownSector(input.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for sector in Sector::ALL {
            assert_eq!(sector.as_code().parse::<Sector>(), Ok(sector));
        }
        assert!("neuvola".parse::<Sector>().is_err());
    }
}
