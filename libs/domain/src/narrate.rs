//! Telling events as text, for histories and timelines. Each context has one pure `narrate`
//! function; personal data appears only when the caller asks for it and can read it.

use crate::sealing::Personal;

/// How personal data is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Telling {
    /// With personal data where it is readable, `[erased]` where it is not: for the family's
    /// own history, read by those who may see it.
    WithPersonal,
    /// The facts without any personal data: for timelines and anything logged.
    FactsOnly,
}

impl Telling {
    /// `show(value)` when told with personal data (`[erased]` when unreadable), else `None`.
    pub fn personal<T>(self, value: &Personal<T>, show: impl Fn(&T) -> String) -> Option<String> {
        match self {
            Telling::WithPersonal => Some(value.plain().map(show).unwrap_or_else(|| ERASED.to_owned())),
            Telling::FactsOnly => None,
        }
    }

    /// `": text"` for a personal note when told with personal data and not empty.
    pub fn note(self, value: &Personal<String>) -> String {
        match self.personal(value, Clone::clone) {
            Some(text) if !text.is_empty() => format!(": {text}"),
            _ => String::new(),
        }
    }
}

/// An event told as one line of text.
pub trait Narrate {
    fn narrate(&self, telling: Telling) -> String;
}

/// What unreadable personal data is told as.
pub const ERASED: &str = "[erased]";

/// Codes joined for reading: `a, b`.
pub fn codes<T: std::fmt::Display>(values: &[T]) -> String {
    values.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
