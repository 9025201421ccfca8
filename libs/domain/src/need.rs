//! What a family needs help with, and how a contact happened: codes shared by the contact log,
//! referrals and statistics.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares a code enum with stable wire codes. Variants are only ever appended: their order is
/// part of the persisted encoding.
macro_rules! codes {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $code:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_code(self) -> &'static str {
                match self {
                    $($name::$variant => $code),*
                }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(input: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|value| value.as_code() == input).ok_or_else(|| {
                    let known: Vec<&str> = Self::ALL.iter().map(|value| value.as_code()).collect();
                    format!("{input:?} is not a known {}; known: {}", $what, known.join(", "))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_code())
            }
        }
    };
}

codes!(
    /// A category of need.
    Need, "need category" {
        Parenting = "parenting",
        ChildDevelopment = "child_development",
        Learning = "learning",
        MentalHealth = "mental_health",
        SubstanceUse = "substance_use",
        Finances = "finances",
        Housing = "housing",
        FamilyRelationships = "family_relationships",
        Violence = "violence",
        Health = "health",
        Disability = "disability",
        Loneliness = "loneliness",
        Other = "other",
    }
);

codes!(
    /// How a contact happened.
    Channel, "channel" {
        Phone = "phone",
        WalkIn = "walk_in",
        Chat = "chat",
        Email = "email",
        Video = "video",
        HomeVisit = "home_visit",
    }
);
