//! A bad field of a command, named in the domain's own words. The gRPC edge turns the name
//! into the request's field path; the domain knows nothing of requests.

use std::fmt;

/// Which field of a command a violation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Field {
    /// The list the field's item belongs to and the item's position: `("members", 1)`.
    pub item: Option<(&'static str, usize)>,
    /// The field, such as `given_names`; empty for the item as a whole.
    pub name: &'static str,
}

impl Field {
    pub const fn named(name: &'static str) -> Self {
        Self { item: None, name }
    }

    /// A field of the `index`th item of `list`; `name` empty for the item itself.
    pub const fn of_item(list: &'static str, index: usize, name: &'static str) -> Self {
        Self { item: Some((list, index)), name }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.item, self.name) {
            (Some((list, index)), "") => write!(f, "{list}[{index}]"),
            (Some((list, index)), name) => write!(f, "{list}[{index}].{name}"),
            (None, name) => f.write_str(name),
        }
    }
}

/// One bad field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: Field,
    pub description: String,
}

impl Violation {
    pub fn new(field: Field, description: impl Into<String>) -> Self {
        Self { field, description: description.into() }
    }

    pub fn named(name: &'static str, description: impl Into<String>) -> Self {
        Self::new(Field::named(name), description)
    }
}

/// `field: description; ...`, for error messages.
pub fn describe(violations: &[Violation]) -> String {
    violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; ")
}

/// `Ok` when nothing is bad, else `wrap(violations)`.
pub fn invalid_if_any<E>(violations: Vec<Violation>, wrap: fn(Vec<Violation>) -> E) -> Result<(), E> {
    if violations.is_empty() { Ok(()) } else { Err(wrap(violations)) }
}

/// Records that `text` must not be blank.
pub fn require_text(violations: &mut Vec<Violation>, field: Field, text: &str) {
    if text.trim().is_empty() {
        violations.push(Violation::new(field, "must not be empty"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_as_paths() {
        assert_eq!(Field::named("purpose").to_string(), "purpose");
        assert_eq!(Field::of_item("members", 2, "given_names").to_string(), "members[2].given_names");
        assert_eq!(Field::of_item("participants", 0, "").to_string(), "participants[0]");
    }
}
