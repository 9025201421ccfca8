//! The blind search index: keyed hashes of the first three letters of members' normalised
//! name tokens (of a shorter token, the whole token), and of identity codes. The projection's files hold no readable name,
//! only these hashes, under a key kept (wrapped under the key-encryption key) in the family-key
//! bucket, one per deployment. A search looks the hashes up, then opens only the families found
//! and checks them against the query, so a hash shared by chance finds nothing wrong.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac as _};
use luukku_domain::family::MemberDetails;
use luukku_domain::identity_code::IdentityCode;
use luukku_domain::sealing::FamilyKey;
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization as _;

/// The name of the index key in the family-key bucket.
pub use luukku_eventstore::SEARCH_INDEX_KEY;

/// How many letters of a name token its prefix entry holds: a prefix of this many letters or
/// more finds the family.
pub const PREFIX: usize = 3;

/// One entry of the index: the first bytes of a keyed hash.
pub type Hash = [u8; 8];

/// The key the index's hashes are made with. Never printed.
#[derive(Clone)]
pub struct SearchKey(Hmac<Sha256>);

impl std::fmt::Debug for SearchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchKey([redacted])")
    }
}

/// A family's entries in the index. Names are searched in a caseload only (the access policy
/// lets no one search names beyond it), so they are kept with the family; identity codes are
/// searched everywhere, so each is also kept under its hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entries {
    pub names: BTreeSet<Hash>,
    pub codes: BTreeSet<Hash>,
}

impl Entries {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.codes.is_empty()
    }

    /// Whether the family has every one of `hashes`.
    pub fn holds(&self, hashes: &[Hash]) -> bool {
        hashes.iter().all(|hash| self.names.contains(hash) || self.codes.contains(hash))
    }
}

/// What a hash stands for; each kind hashes apart from the others.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A whole name token.
    Token,
    /// A name token's first [`PREFIX`] letters.
    Prefix,
    IdentityCode,
}

impl SearchKey {
    pub fn new(key: &FamilyKey) -> Self {
        Self(Hmac::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length"))
    }

    fn hash(&self, kind: Kind, text: &str) -> Hash {
        let mut mac = self.0.clone();
        let label: &[u8] = match kind {
            Kind::Token => b"luukku search: name token\0",
            Kind::Prefix => b"luukku search: name prefix\0",
            Kind::IdentityCode => b"luukku search: identity code\0",
        };
        mac.update(label);
        mac.update(text.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut hash = Hash::default();
        let length = hash.len();
        hash.copy_from_slice(&digest[..length]);
        hash
    }

    /// Every entry of a family with these members.
    pub fn entries<'a>(&self, members: impl IntoIterator<Item = &'a MemberDetails>) -> Entries {
        let mut entries = Entries::default();
        for member in members {
            for token in tokens(&member.full_name()) {
                entries.names.insert(self.lookup(&token));
            }
            if let Some(code) = &member.identity_code {
                entries.codes.insert(self.identity_code(code));
            }
        }
        entries
    }

    /// A token's entry, which a query token finds it by: the hash of its first [`PREFIX`]
    /// letters, or of the whole token when it is shorter.
    pub fn lookup(&self, token: &str) -> Hash {
        match prefix(token) {
            Some(prefix) => self.hash(Kind::Prefix, prefix),
            None => self.hash(Kind::Token, token),
        }
    }

    pub fn identity_code(&self, code: &IdentityCode) -> Hash {
        self.hash(Kind::IdentityCode, code.as_str())
    }
}

/// The first [`PREFIX`] letters of a token, when it has that many.
fn prefix(token: &str) -> Option<&str> {
    let mut ends = token.char_indices().map(|(start, c)| start + c.len_utf8());
    ends.nth(PREFIX - 1).map(|end| &token[..end])
}

/// A name's tokens, normalised: composed (NFC), lower case, split at anything but letters and
/// digits (spaces, hyphens, apostrophes).
pub fn tokens(name: &str) -> Vec<String> {
    let composed: String = name.nfc().flat_map(char::to_lowercase).collect();
    composed
        .split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether every query token begins one of the name's tokens; a query token shorter than
/// [`PREFIX`] letters must be a whole token.
pub fn matches(query: &[String], names: &[String]) -> bool {
    let found: Vec<String> = names.iter().flat_map(|name| tokens(name)).collect();
    query.iter().all(|wanted| {
        let whole = wanted.chars().count() < PREFIX;
        found.iter().any(|token| if whole { token == wanted } else { token.starts_with(wanted.as_str()) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(given: &str, family: &str) -> MemberDetails {
        MemberDetails {
            given_names: given.into(),
            family_name: family.into(),
            birth_date: None,
            identity_code: None,
            languages: vec![],
        }
    }

    #[test]
    fn names_are_normalised_into_tokens() {
        // "Ä" decomposed (A and a combining diaeresis) composes; hyphens and case split and fold.
        assert_eq!(tokens("Anna-Liisa  A\u{0308}ijälä"), ["anna", "liisa", "äijälä"]);
        assert_eq!(tokens("  "), Vec::<String>::new());
    }

    #[test]
    fn a_prefix_of_three_letters_or_a_whole_short_token_finds_the_entry() {
        let key = SearchKey::new(&FamilyKey::generate());
        let mut li = member("Li", "Äijälä");
        li.identity_code = Some(IdentityCode::parse("131052-308T").expect("valid"));
        let entries = key.entries([&li]);
        for query in ["äij", "äijä", "äijälä", "li"] {
            assert!(entries.holds(&[key.lookup(query)]), "{query}");
        }
        assert!(!entries.holds(&[key.lookup("l")]));
        assert!(!entries.holds(&[key.lookup("li"), key.lookup("jäl")]), "every hash must be there");
        assert_eq!(entries.codes.len(), 1);
        assert!(entries.holds(&[key.identity_code(&IdentityCode::parse("131052-308T").expect("valid"))]));
        let three = key.entries([&member("Eva", "Oja")]);
        assert!(three.holds(&[key.lookup("eva"), key.lookup("oja")]), "three letters, whole");
        // No entry holds the name's letters.
        let flat: Vec<u8> = entries.names.iter().flatten().copied().collect();
        assert!(!flat.windows(3).any(|window| window == "äij".as_bytes() || window == b"Li "));
    }

    #[test]
    fn another_key_gives_other_hashes() {
        let one = SearchKey::new(&FamilyKey::generate());
        let two = SearchKey::new(&FamilyKey::generate());
        assert_ne!(one.lookup("virtanen"), two.lookup("virtanen"));
        assert_eq!(one.lookup("virtanen"), one.lookup("virtanen"));
        assert_eq!(one.lookup("vir"), one.lookup("virtanen"), "a query token looks up its prefix");
        assert_ne!(one.hash(Kind::Prefix, "vir"), one.hash(Kind::Token, "vir"), "kinds hash apart");
    }

    #[test]
    fn matching_checks_every_query_token_against_the_names() {
        let names = ["Aino Virtanen".to_owned(), "Eero Virtanen".to_owned()];
        let query = |text: &str| tokens(text);
        assert!(matches(&query("virt"), &names));
        assert!(matches(&query("eero VIRTANEN"), &names));
        assert!(!matches(&query("irta"), &names), "a prefix, not any part");
        assert!(!matches(&query("eero korhonen"), &names));
        assert!(!matches(&query("ai"), &names), "two letters must be a whole token");
    }
}
