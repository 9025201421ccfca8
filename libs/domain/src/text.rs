//! Constrained strings that may travel in message headers and subjects' neighbourhoods.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters, got {len}")]
    TooLong { len: usize, max: usize },
    #[error("contains {0:?}; allowed are A-Z a-z 0-9 and . _ : @ -")]
    Character(char),
}

/// A short machine code: a person's id in an identity provider, an organisation's business id
/// or OID, a system's name. ASCII letters, digits and `. _ : @ -`, 1 to 64 characters, so it is
/// safe in a message header.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Code(String);

impl TryFrom<String> for Code {
    type Error = TextError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Code> for String {
    fn from(value: Code) -> Self {
        value.0
    }
}

impl Code {
    pub const MAX_LEN: usize = 64;

    pub fn parse(input: &str) -> Result<Self, TextError> {
        if input.is_empty() {
            return Err(TextError::Empty);
        }
        if let Some(bad) =
            input.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '-')))
        {
            return Err(TextError::Character(bad));
        }
        if input.len() > Self::MAX_LEN {
            return Err(TextError::TooLong { len: input.len(), max: Self::MAX_LEN });
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_accept_ids_and_refuse_header_breakers() {
        assert!(Code::parse("0201256-6").is_ok());
        assert!(Code::parse("1.2.246.10.2012566.10").is_ok());
        assert!(Code::parse("maija.meikalainen@hel.fi").is_ok());
        assert_eq!(Code::parse(""), Err(TextError::Empty));
        assert_eq!(Code::parse("a b"), Err(TextError::Character(' ')));
        assert_eq!(Code::parse("a\nb"), Err(TextError::Character('\n')));
        assert_eq!(Code::parse("Helsingin kaupunki"), Err(TextError::Character(' ')));
        assert!(matches!(Code::parse(&"a".repeat(65)), Err(TextError::TooLong { .. })));
    }
}
