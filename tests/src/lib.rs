//! End-to-end tests live in the per-area test binaries beside this crate.
