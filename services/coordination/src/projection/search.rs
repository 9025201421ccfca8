//! The blind search index: keyed hashes of the first three letters of members' normalised
//! name tokens (of a shorter token, the whole token), each keyed with its family too so that
//! equal names hash apart in different families, and of identity codes. The projection's
//! files hold no readable name, only these hashes, under a key kept (wrapped under the
//! key-encryption key) in the family-key bucket, one per deployment. A search looks the hashes up, then opens only the families found
//! and checks them against the query, so a hash shared by chance finds nothing wrong.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac as _};
use luukku_domain::family::{FamilyId, MemberDetails};
use luukku_domain::identity_code::IdentityCode;
use luukku_domain::sealing::FamilyKey;
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization as _;

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
    /// What tells one key from another.
    Check,
}

impl SearchKey {
    pub fn new(key: &FamilyKey) -> Self {
        Self(Hmac::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length"))
    }

    fn hash(&self, kind: Kind, family: Option<FamilyId>, text: &str) -> Hash {
        let mut mac = self.0.clone();
        let label: &[u8] = match kind {
            Kind::Token => b"luukku search: name token\0",
            Kind::Prefix => b"luukku search: name prefix\0",
            Kind::IdentityCode => b"luukku search: identity code\0",
            Kind::Check => b"luukku search: key check\0",
        };
        mac.update(label);
        if let Some(family) = family {
            mac.update(&family.as_ulid().to_bytes());
        }
        mac.update(text.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut hash = Hash::default();
        let length = hash.len();
        hash.copy_from_slice(&digest[..length]);
        hash
    }

    /// Every entry of the family, with these members.
    pub fn entries<'a>(
        &self,
        family: FamilyId,
        members: impl IntoIterator<Item = &'a MemberDetails>,
    ) -> Entries {
        let mut entries = Entries::default();
        for member in members {
            for token in tokens(&member.full_name()) {
                entries.names.insert(self.lookup(family, &token));
            }
            if let Some(code) = &member.identity_code {
                entries.codes.insert(self.identity_code(code));
            }
        }
        entries
    }

    /// A token's entry, which a query token finds it by: the hash of its first [`PREFIX`]
    /// letters, or of the whole token when it is shorter.
    pub fn lookup(&self, family: FamilyId, token: &str) -> Hash {
        match prefix(token) {
            Some(prefix) => self.hash(Kind::Prefix, Some(family), prefix),
            None => self.hash(Kind::Token, Some(family), token),
        }
    }

    /// What tells this key from another: stored with the index, so that an index made with
    /// another key is noticed.
    pub fn check(&self) -> Hash {
        self.hash(Kind::Check, None, "")
    }

    /// An identity code's entry: the same in every family, since codes are searched everywhere.
    pub fn identity_code(&self, code: &IdentityCode) -> Hash {
        self.hash(Kind::IdentityCode, None, code.as_str())
    }
}

/// The first [`PREFIX`] letters of a token, when it has that many.
fn prefix(token: &str) -> Option<&str> {
    let mut ends = token.char_indices().map(|(start, c)| start + c.len_utf8());
    ends.nth(PREFIX - 1).map(|end| &token[..end])
}

/// A name's tokens, normalised: lower case, composed (NFC), split at anything but letters,
/// digits and combining marks (at spaces, hyphens, apostrophes).
pub fn tokens(name: &str) -> Vec<String> {
    let lower: String = name.chars().flat_map(char::to_lowercase).collect();
    let composed: String = lower.nfc().collect();
    composed
        .split(|c: char| !(c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c)))
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether one of the names has a token beginning with each query token; a query token shorter
/// than [`PREFIX`] letters must be a whole token.
pub fn matches(query: &[String], names: &[String]) -> bool {
    names.iter().any(|name| {
        let found = tokens(name);
        query.iter().all(|wanted| {
            let whole = wanted.chars().count() < PREFIX;
            found.iter().any(|token| if whole { token == wanted } else { token.starts_with(wanted.as_str()) })
        })
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
        // A letter whose lower case has a combining mark stays one token.
        assert_eq!(tokens("İsmail").len(), 1);
    }

    #[test]
    fn a_prefix_of_three_letters_or_a_whole_short_token_finds_the_entry() {
        let key = SearchKey::new(&FamilyKey::generate());
        let mut li = member("Li", "Äijälä");
        li.identity_code = Some(IdentityCode::parse("131052-308T").expect("valid"));
        let family = FamilyId::generate();
        let entries = key.entries(family, [&li]);
        for query in ["äij", "äijä", "äijälä", "li"] {
            assert!(entries.holds(&[key.lookup(family, query)]), "{query}");
        }
        assert!(!entries.holds(&[key.lookup(family, "l")]));
        assert!(
            !entries.holds(&[key.lookup(family, "li"), key.lookup(family, "jäl")]),
            "every hash must be there"
        );
        assert!(!entries.holds(&[key.lookup(FamilyId::generate(), "äij")]), "names hash apart per family");
        assert_eq!(entries.codes.len(), 1);
        let other = key.entries(FamilyId::generate(), [&li]);
        assert_eq!(entries.codes, other.codes, "codes hash alike everywhere");
        assert!(entries.names.is_disjoint(&other.names), "equal names hash apart in two families");
        let three = key.entries(family, [&member("Eva", "Oja")]);
        assert!(three.holds(&[key.lookup(family, "eva"), key.lookup(family, "oja")]), "three letters, whole");
        // No entry holds the name's letters.
        let flat: Vec<u8> = entries.names.iter().flatten().copied().collect();
        assert!(!flat.windows(3).any(|window| window == "äij".as_bytes() || window == b"Li "));
    }

    #[test]
    fn another_key_gives_other_hashes() {
        let one = SearchKey::new(&FamilyKey::generate());
        let two = SearchKey::new(&FamilyKey::generate());
        let family = FamilyId::generate();
        assert_ne!(one.lookup(family, "virtanen"), two.lookup(family, "virtanen"));
        assert_eq!(one.lookup(family, "virtanen"), one.lookup(family, "virtanen"));
        assert_eq!(
            one.lookup(family, "vir"),
            one.lookup(family, "virtanen"),
            "a query token looks up its prefix"
        );
        assert_ne!(
            one.hash(Kind::Prefix, Some(family), "vir"),
            one.hash(Kind::Token, Some(family), "vir"),
            "kinds hash apart"
        );
    }

    #[test]
    fn matching_checks_every_query_token_against_the_names() {
        let names = ["Aino Virtanen".to_owned(), "Eero Virtanen".to_owned()];
        let query = |text: &str| tokens(text);
        assert!(matches(&query("virt"), &names));
        assert!(matches(&query("eero VIRTANEN"), &names));
        assert!(!matches(&query("irta"), &names), "a prefix, not any part");
        assert!(!matches(&query("eero korhonen"), &names));
        assert!(!matches(&query("aino eero"), &names), "the words of one member's name");
        assert!(!matches(&query("ai"), &names), "two letters must be a whole token");
    }
}
