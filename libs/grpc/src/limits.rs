//! Limits on every input, checked in one place for every call: the length of every text
//! field and the count of every repeated field, walked over the request as the API describes
//! it (its descriptors), so that a new field is limited the day it is added. A call over a
//! limit is `INVALID_ARGUMENT` naming each field by its path.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, Value};
use tonic::Status;

use crate::decode::Decoder;

/// Characters of an id, a code, a name or a date.
pub const MAX_TEXT: usize = 200;
/// Characters of a free text: a reason, a note, a summary, a purpose, a child's view.
pub const MAX_LONG_TEXT: usize = 4_000;
/// Elements of a repeated field.
pub const MAX_REPEATED: usize = 50;
/// Members of one family, proposed slots of one meeting.
pub const MAX_MEMBERS: usize = 20;

/// The fields holding free text.
const LONG_TEXT: &[&str] =
    &["reason", "note", "summary", "purpose", "what", "follow_up", "description", "text", "view", "outcome"];

/// The most characters `field` may hold.
pub fn text_limit(field: &str) -> usize {
    if LONG_TEXT.contains(&field) { MAX_LONG_TEXT } else { MAX_TEXT }
}

/// The most elements `field` may hold.
pub fn repeated_limit(field: &str) -> usize {
    match field {
        "members" | "slots" => MAX_MEMBERS,
        _ => MAX_REPEATED,
    }
}

static POOL: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(luukku_proto::FILE_DESCRIPTOR_SET).ok());

/// Checks every text and repeated field of `message` against its limit.
pub fn check<M: prost::Message + prost::Name>(message: &M) -> Result<(), Status> {
    let Some(descriptor) = POOL.as_ref().and_then(|pool| pool.get_message_by_name(&M::full_name())) else {
        return Err(Status::internal(format!("no descriptor for {}", M::full_name())));
    };
    let dynamic =
        DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()).map_err(|error| {
            Status::internal(format!("{} does not decode as described: {error}", M::full_name()))
        })?;
    let mut decoder = Decoder::new();
    walk(&dynamic, "", &mut decoder);
    decoder.finish(|| Some(()))
}

fn walk(message: &DynamicMessage, path: &str, decoder: &mut Decoder) {
    for (field, value) in message.fields() {
        let name = field.name();
        let here = if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
        match value {
            Value::List(items) => {
                let limit = repeated_limit(name);
                if items.len() > limit {
                    decoder.bad(&here, format!("at most {limit} elements, got {}", items.len()));
                }
                for (index, item) in items.iter().enumerate() {
                    element(item, name, &format!("{here}[{index}]"), decoder);
                }
            }
            Value::Map(entries) => {
                if entries.len() > MAX_REPEATED {
                    decoder.bad(&here, format!("at most {MAX_REPEATED} entries, got {}", entries.len()));
                }
                for (key, item) in entries {
                    if let MapKey::String(key) = key {
                        text(key, name, &format!("{here}[key]"), decoder);
                    }
                    element(item, name, &format!("{here}[{key:?}]"), decoder);
                }
            }
            other => element(other, name, &here, decoder),
        }
    }
}

fn element(value: &Value, name: &str, path: &str, decoder: &mut Decoder) {
    match value {
        Value::String(value) => text(value, name, path, decoder),
        Value::Bytes(bytes) if bytes.len() > MAX_LONG_TEXT => {
            decoder.bad(path, format!("at most {MAX_LONG_TEXT} bytes, got {}", bytes.len()));
        }
        Value::Message(inner) => walk(inner, path, decoder),
        _ => {}
    }
}

fn text(value: &str, name: &str, path: &str, decoder: &mut Decoder) {
    let limit = text_limit(name);
    let length = value.chars().count();
    if length > limit {
        decoder.bad(path, format!("at most {limit} characters, got {length}"));
    }
}

#[cfg(test)]
mod tests {
    use luukku_proto::families::v1 as pb;
    use tonic_types::StatusExt;

    use super::*;

    fn violations(status: Status) -> Vec<(String, String)> {
        let details = status.get_details_bad_request().expect("BadRequest details");
        details
            .field_violations
            .into_iter()
            .map(|violation| (violation.field, violation.description))
            .collect()
    }

    #[test]
    fn every_text_and_repeated_field_is_limited_and_named_by_its_path() {
        let member = pb::NewMember {
            member_id: String::new(),
            details: Some(pb::MemberInput { given_names: "x".repeat(201), ..Default::default() }),
        };
        let request = pb::RegisterFamilyRequest {
            request_id: "r-1".into(),
            municipality: "091".into(),
            members: vec![member; 21],
            ..Default::default()
        };
        let status = check(&request).expect_err("over the limits");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let found = violations(status);
        assert!(found.contains(&("members".into(), "at most 20 elements, got 21".into())), "{found:?}");
        assert!(
            found.contains(&(
                "members[20].details.given_names".into(),
                "at most 200 characters, got 201".into()
            )),
            "{found:?}"
        );
    }

    #[test]
    fn free_text_may_be_longer_than_a_name_and_a_request_within_limits_passes() {
        let grant = pb::GrantConsentRequest {
            request_id: "r-1".into(),
            purpose: "ö".repeat(MAX_LONG_TEXT),
            sectors: vec!["school".into(); MAX_REPEATED],
            ..Default::default()
        };
        assert!(check(&grant).is_ok());
        let too_long = pb::GrantConsentRequest { purpose: "ö".repeat(MAX_LONG_TEXT + 1), ..grant };
        let found = violations(check(&too_long).expect_err("over"));
        assert_eq!(
            found,
            vec![("purpose".to_owned(), format!("at most 4000 characters, got {}", MAX_LONG_TEXT + 1))]
        );
    }
}
