//! The caller of a request, read in this one place and handed to the application as a
//! [`Caller`]. The metadata names the caller as the calling system states it; nothing here
//! verifies it yet.

use luukku_app::Caller;
use luukku_domain::{Actor, Code, Role, Sector};
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

pub const PERSON: &str = "x-luukku-person";
pub const ROLE: &str = "x-luukku-role";
pub const ORGANISATION: &str = "x-luukku-organisation";
pub const SECTOR: &str = "x-luukku-sector";
pub const SYSTEM: &str = "x-luukku-system";

/// The system recorded when the caller names none.
const UNNAMED_SYSTEM: &str = "unnamed";

fn text<'a>(metadata: &'a MetadataMap, key: &str) -> Result<Option<&'a str>, Status> {
    match metadata.get(key) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|value| Some(value.trim()).filter(|value| !value.is_empty()))
            .map_err(|_| Status::unauthenticated(format!("metadata {key} is not readable text"))),
    }
}

fn required<'a>(metadata: &'a MetadataMap, key: &str) -> Result<&'a str, Status> {
    text(metadata, key)?.ok_or_else(|| {
        Status::unauthenticated(format!(
            "metadata {key} is missing; every call names its caller with {PERSON}, {ROLE} and {ORGANISATION}"
        ))
    })
}

fn code(key: &str, value: &str) -> Result<Code, Status> {
    Code::parse(value).map_err(|error| Status::unauthenticated(format!("metadata {key}: {error}")))
}

/// The caller of `request`; `UNAUTHENTICATED` when the metadata does not name one.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    let metadata = request.metadata();
    let person_id = code(PERSON, required(metadata, PERSON)?)?;
    let role = required(metadata, ROLE)?
        .parse::<Role>()
        .map_err(|error| Status::unauthenticated(format!("metadata {ROLE}: {error}")))?;
    let organisation = code(ORGANISATION, required(metadata, ORGANISATION)?)?;
    let sector = match text(metadata, SECTOR)? {
        Some(value) => Some(
            value
                .parse::<Sector>()
                .map_err(|error| Status::unauthenticated(format!("metadata {SECTOR}: {error}")))?,
        ),
        None if role == Role::SectorProfessional => {
            return Err(Status::unauthenticated(format!(
                "metadata {SECTOR} is required for a sector professional"
            )));
        }
        None => None,
    };
    let system = code(SYSTEM, text(metadata, SYSTEM)?.unwrap_or(UNNAMED_SYSTEM))?;
    Ok(Caller::new(Actor { person_id, role, sector, organisation, system }))
}

/// A request naming `actor` as its caller, as clients send it.
pub fn with_identity<T>(message: T, actor: &Actor) -> Request<T> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    let mut insert = |key: &'static str, value: &str| {
        if let Ok(value) = value.parse() {
            metadata.insert(key, value);
        }
    };
    insert(PERSON, actor.person_id.as_str());
    insert(ROLE, actor.role.as_code());
    insert(ORGANISATION, actor.organisation.as_str());
    insert(SYSTEM, actor.system.as_str());
    if let Some(sector) = actor.sector {
        insert(SECTOR, sector.as_code());
    }
    request
}
