//! luukku's public gRPC API, generated from `proto/`.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod common {
    pub mod v1 {
        tonic::include_proto!("luukku.common.v1");
    }
}

pub mod contacts {
    pub mod v1 {
        tonic::include_proto!("luukku.contacts.v1");
    }
}

pub mod coordination {
    pub mod v1 {
        tonic::include_proto!("luukku.coordination.v1");
    }
}

pub mod families {
    pub mod v1 {
        tonic::include_proto!("luukku.families.v1");
    }
}

pub mod meetings {
    pub mod v1 {
        tonic::include_proto!("luukku.meetings.v1");
    }
}

pub mod referrals {
    pub mod v1 {
        tonic::include_proto!("luukku.referrals.v1");
    }
}

/// Every luukku proto file's descriptors, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/luukku_descriptor.bin"));
