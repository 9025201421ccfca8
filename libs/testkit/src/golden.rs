//! Golden fixtures: the committed bytes of every persisted event version must keep decoding.
//!
//! A missing fixture fails the test; with `LUUKKU_WRITE_FIXTURES=1` it is written from the
//! current encoder instead, once. An existing fixture is never rewritten.

use std::fmt::Debug;
use std::path::Path;

use luukku_domain::DomainEvent;

/// One persisted version of one event type, and what it must decode to.
pub struct GoldenCase<E> {
    pub event_type: &'static str,
    pub version: u16,
    /// The bytes as that version is written; used only to create a missing fixture.
    pub bytes: Vec<u8>,
    pub decoded: E,
}

/// Checks that `cases` cover every type and version of `E::SCHEMAS`, and that each committed
/// fixture under `folder` decodes to its expected value.
pub fn check<E: DomainEvent + Debug + PartialEq>(folder: &Path, cases: &[GoldenCase<E>]) {
    check_opened(folder, cases, |event| event);
}

/// Like [`check`], with `open` applied to each decoded event before the comparison (to open
/// sealed personal data with a fixture key).
pub fn check_opened<E: DomainEvent + Debug + PartialEq>(
    folder: &Path,
    cases: &[GoldenCase<E>],
    open: impl Fn(E) -> E,
) {
    for schema in E::SCHEMAS {
        for version in schema.versions {
            assert!(
                cases.iter().any(|case| case.event_type == schema.event_type && case.version == *version),
                "no golden case for {} v{version}: add one",
                schema.event_type
            );
        }
    }
    let write_missing = std::env::var_os("LUUKKU_WRITE_FIXTURES").is_some();
    for case in cases {
        let path = folder.join(format!("{}.v{}.bin", case.event_type, case.version));
        if !path.exists() && write_missing {
            std::fs::create_dir_all(folder).unwrap_or_else(|error| panic!("{}: {error}", folder.display()));
            std::fs::write(&path, &case.bytes).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|error| {
            panic!(
                "golden fixture {} missing ({error}); run with LUUKKU_WRITE_FIXTURES=1 once and commit it",
                path.display()
            )
        });
        let decoded = E::decode(case.event_type, case.version, &bytes)
            .map(&open)
            .unwrap_or_else(|error| panic!("golden fixture {} no longer decodes: {error}", path.display()));
        assert_eq!(decoded, case.decoded, "golden fixture {} decodes to something else", path.display());
    }
}

/// The key sealed fixtures are sealed with.
pub fn fixture_key() -> luukku_domain::sealing::FamilyKey {
    luukku_domain::sealing::FamilyKey::from_bytes(&[7; luukku_domain::sealing::FamilyKey::LEN])
        .unwrap_or_else(|error| panic!("the fixture key: {error}"))
}

/// Checks `examples`, one per event type and version of `E`, against the fixtures under
/// `folder`: each is stored sealed with [`fixture_key`] for the family `family`, and must keep
/// decoding and opening to the example.
pub fn check_sealed<E>(folder: &Path, examples: Vec<E>, family: &[u8])
where
    E: DomainEvent + luukku_domain::sealing::HasPersonal + Clone + Debug + PartialEq,
{
    let cases: Vec<GoldenCase<E>> = examples
        .into_iter()
        .map(|plain| {
            let mut sealed = plain.clone();
            sealed.seal(&fixture_key(), family).unwrap_or_else(|error| panic!("sealing: {error}"));
            GoldenCase {
                event_type: plain.event_type(),
                version: plain.schema_version(),
                bytes: sealed.encode().unwrap_or_else(|error| panic!("encoding: {error}")),
                decoded: plain,
            }
        })
        .collect();
    check_opened(folder, &cases, |mut event| {
        event
            .open(Some(&fixture_key()), family)
            .unwrap_or_else(|error| panic!("the fixture key opens it: {error}"));
        event
    });
}
