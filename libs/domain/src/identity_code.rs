//! The Finnish personal identity code (henkilötunnus): DDMMYYCZZZQ.

use std::fmt;

use jiff::civil::Date;

/// Why a string is not a valid personal identity code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityCodeError {
    #[error("must be 11 characters DDMMYYCZZZQ, got {0}")]
    Length(usize),
    #[error("the century sign {0:?} is not one of + - Y X W V U A B C D E F")]
    CenturySign(char),
    #[error("the first six characters are not a date DDMMYY")]
    Date,
    #[error("the individual number must be 002 to 999")]
    IndividualNumber,
    #[error("the check character is {got:?}, it should be {expected:?}")]
    CheckCharacter { got: char, expected: char },
}

/// A valid personal identity code, in upper case.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct IdentityCode(String);

const CHECK_CHARACTERS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

impl IdentityCode {
    pub fn parse(input: &str) -> Result<Self, IdentityCodeError> {
        let code = input.trim().to_ascii_uppercase();
        let chars: Vec<char> = code.chars().collect();
        if chars.len() != 11 || !code.is_ascii() {
            return Err(IdentityCodeError::Length(chars.len()));
        }
        let digits = |range: std::ops::Range<usize>| -> Option<u32> {
            code.get(range).filter(|part| part.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
        };
        let century = match chars[6] {
            '+' => 1800,
            '-' | 'Y' | 'X' | 'W' | 'V' | 'U' => 1900,
            'A' | 'B' | 'C' | 'D' | 'E' | 'F' => 2000,
            other => return Err(IdentityCodeError::CenturySign(other)),
        };
        let (Some(day), Some(month), Some(year)) = (digits(0..2), digits(2..4), digits(4..6)) else {
            return Err(IdentityCodeError::Date);
        };
        let year = i16::try_from(century + year).map_err(|_| IdentityCodeError::Date)?;
        let month = i8::try_from(month).map_err(|_| IdentityCodeError::Date)?;
        let day = i8::try_from(day).map_err(|_| IdentityCodeError::Date)?;
        Date::new(year, month, day).map_err(|_| IdentityCodeError::Date)?;
        let individual = digits(7..10).ok_or(IdentityCodeError::IndividualNumber)?;
        if individual < 2 {
            return Err(IdentityCodeError::IndividualNumber);
        }
        let number = digits(0..6).ok_or(IdentityCodeError::Date)? * 1000 + individual;
        let expected = char::from(CHECK_CHARACTERS[(number % 31) as usize]);
        if chars[10] != expected {
            return Err(IdentityCodeError::CheckCharacter { got: chars[10], expected });
        }
        Ok(Self(code))
    }

    /// The birth date the code encodes.
    pub fn birth_date(&self) -> Date {
        let part = |range: std::ops::Range<usize>| self.0.get(range).and_then(|p| p.parse::<i16>().ok());
        let century = match self.0.as_bytes()[6] {
            b'+' => 1800,
            b'A'..=b'F' => 2000,
            _ => 1900,
        };
        let (day, month, year) = (part(0..2).unwrap_or(1), part(2..4).unwrap_or(1), part(4..6).unwrap_or(0));
        Date::new(century + year, month as i8, day as i8).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdentityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data stays out of logs.
        f.write_str("IdentityCode([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_codes_of_every_century() {
        let code = IdentityCode::parse("131052-308T").expect("the official example");
        assert_eq!(code.birth_date(), jiff::civil::date(1952, 10, 13));
        let code = IdentityCode::parse("010594Y9032").expect("new 1900s sign");
        assert_eq!(code.birth_date(), jiff::civil::date(1994, 5, 1));
        let code = IdentityCode::parse("020516c903k").expect("lower case is read as upper");
        assert_eq!(code.birth_date(), jiff::civil::date(2016, 5, 2));
        assert_eq!(code.as_str(), "020516C903K");
    }

    #[test]
    fn refuses_invalid_codes() {
        assert!(matches!(
            IdentityCode::parse("131052-308A"),
            Err(IdentityCodeError::CheckCharacter { expected: 'T', .. })
        ));
        assert_eq!(IdentityCode::parse("131052-30"), Err(IdentityCodeError::Length(9)));
        assert_eq!(IdentityCode::parse("131052G308T"), Err(IdentityCodeError::CenturySign('G')));
        assert_eq!(IdentityCode::parse("310252-308T"), Err(IdentityCodeError::Date));
        assert_eq!(IdentityCode::parse("131052-001T"), Err(IdentityCodeError::IndividualNumber));
    }
}
