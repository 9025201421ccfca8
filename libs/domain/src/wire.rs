//! Enums with a stable wire code: the code crosses the public API and logs, and the order of
//! the variants is part of the persisted postcard encoding, so variants are only ever appended.

use std::fmt;

/// A string that is not one of an enum's wire codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnknownCode {
    /// What the code names, such as "sector".
    pub what: &'static str,
    pub given: String,
    pub known: &'static [&'static str],
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a known {}; known: {}", self.given, self.what, self.known.join(", "))
    }
}

/// Declares an enum whose every variant has a stable wire code: `ALL`, `CODES`, `as_code`,
/// `FromStr` (refusing unknown codes with [`UnknownCode`]), `Display` and serde.
#[macro_export]
macro_rules! wire_codes {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident, $what:literal {
            $($(#[$variant_meta:meta])* $variant:ident = $code:literal),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        $vis enum $name {
            $($(#[$variant_meta])* $variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub const CODES: &'static [&'static str] = &[$($code),*];

            pub fn as_code(self) -> &'static str {
                match self {
                    $($name::$variant => $code),*
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::wire::UnknownCode;
            fn from_str(input: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|value| value.as_code() == input).ok_or_else(|| {
                    $crate::wire::UnknownCode { what: $what, given: input.to_owned(), known: Self::CODES }
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_code())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::wire_codes!(
        enum Colour, "colour" {
            Red = "red",
            Green = "green",
        }
    );

    #[test]
    fn codes_round_trip_and_unknown_ones_name_the_known() {
        for colour in Colour::ALL {
            assert_eq!(colour.as_code().parse::<Colour>(), Ok(*colour));
        }
        let error = "blue".parse::<Colour>().expect_err("unknown");
        assert_eq!(error.to_string(), "\"blue\" is not a known colour; known: red, green");
    }

    #[test]
    fn the_persisted_form_is_the_variant_index() {
        assert_eq!(postcard::to_stdvec(&Colour::Green).expect("encodes"), vec![1]);
    }
}
