//! Compiles proto/ with protox (pure Rust, no protoc needed) and keeps the descriptor set for
//! gRPC reflection.

use std::path::PathBuf;

use prost::Message as _;

const FILES: &[&str] = &[
    "luukku/common/v1/common.proto",
    "luukku/contacts/v1/contacts.proto",
    "luukku/coordination/v1/coordination.proto",
    "luukku/families/v1/families.proto",
    "luukku/meetings/v1/meetings.proto",
    "luukku/referrals/v1/referrals.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for file in FILES {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(FILES, [&root])?;
    std::fs::write(out.join("luukku_descriptor.bin"), descriptors.encode_to_vec())?;
    // Type names give each request its method's name, for request fingerprints.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure().compile_fds_with_config(descriptors, config)?;
    Ok(())
}
