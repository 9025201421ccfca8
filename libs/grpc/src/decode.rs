//! Requests into commands in one pass: every field is parsed once, every bad one is named by
//! its path in the request, and the command is built only when nothing was bad.

use std::fmt::Display;
use std::str::FromStr;

use jiff::civil::Date;
use luukku_app::{Caller, Write};
use luukku_domain::family::Municipality;
use luukku_domain::{IdError, RequestId};
use luukku_eventstore::Fingerprint;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The fingerprint of a request: the call's method and a digest of its encoded bytes. Several
/// methods may share one request message (pause, resume and retire a service), so the method
/// is the one served; outside a served call, the message's name without `Request`.
pub fn fingerprint<M: prost::Message + prost::Name>(message: &M) -> Fingerprint {
    let method = crate::deadline::current_method()
        .filter(|method| !method.is_empty())
        .unwrap_or_else(|| M::NAME.strip_suffix("Request").unwrap_or(M::NAME).to_owned());
    Fingerprint::of(&method, &message.encode_to_vec())
}

/// Gathers the bad fields of one request, so the caller learns of all of them at once.
#[derive(Debug, Default)]
pub struct Decoder {
    violations: Vec<(String, String)>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is bad.
    pub fn bad(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations.push((field.into(), description.into()));
    }

    /// The parsed value of `field`, or `None` after recording why it is bad.
    pub fn field<T, E: Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.bad(field, error.to_string());
                None
            }
        }
    }

    /// A wire code (`"school"`) at `field`.
    pub fn code<T: FromStr>(&mut self, field: &str, value: &str) -> Option<T>
    where
        T::Err: Display,
    {
        self.field(field, value.parse::<T>())
    }

    /// A wire code that may be left empty.
    pub fn optional_code<T: FromStr>(&mut self, field: &str, value: &str) -> Option<Option<T>>
    where
        T::Err: Display,
    {
        if value.is_empty() { Some(None) } else { self.code(field, value).map(Some) }
    }

    /// Every element of `values`, each bad one named `field[index]`.
    pub fn list<T, E: Display>(
        &mut self,
        field: &str,
        values: &[String],
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Vec<T> {
        values
            .iter()
            .enumerate()
            .filter_map(|(index, value)| self.field(&format!("{field}[{index}]"), parse(value)))
            .collect()
    }

    /// Every element of `values` as a wire code.
    pub fn codes<T: FromStr>(&mut self, field: &str, values: &[String]) -> Vec<T>
    where
        T::Err: Display,
    {
        self.list(field, values, str::parse::<T>)
    }

    /// A required id.
    pub fn id<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: impl Fn(&str) -> Result<T, IdError>,
    ) -> Option<T> {
        self.field(field, parse(value))
    }

    /// An id that may be left empty.
    pub fn optional_id<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: impl Fn(&str) -> Result<T, IdError>,
    ) -> Option<Option<T>> {
        if value.is_empty() { Some(None) } else { self.id(field, value, parse).map(Some) }
    }

    /// A caller-chosen id, or a new one when empty.
    pub fn id_or_new<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: impl Fn(&str) -> Result<T, IdError>,
        generate: impl Fn() -> T,
    ) -> Option<T> {
        if value.is_empty() { Some(generate()) } else { self.id(field, value, parse) }
    }

    /// The id of the aggregate a request creates: the one the caller named, or when `value`
    /// is empty, one derived from the caller and the request id (see [`Write::new_id`]), so
    /// that a retry, however late, finds the aggregate the first attempt created.
    #[allow(clippy::too_many_arguments)]
    pub fn creates<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: impl Fn(&str) -> Result<T, IdError>,
        from_ulid: impl Fn(ulid::Ulid) -> T,
        write: Option<&Write>,
        caller: &Caller,
        kind: &str,
    ) -> Option<T> {
        if value.is_empty() {
            write.map(|write| from_ulid(write.new_id(caller, kind)))
        } else {
            self.id(field, value, parse)
        }
    }

    /// The request id, expected version and fingerprint of a write: `message` is the whole
    /// request, and `request_id` its request id.
    pub fn write<M: prost::Message + prost::Name>(
        &mut self,
        message: &M,
        request_id: &str,
        expected_version: Option<u64>,
    ) -> Option<Write> {
        let request_id = self.field("request_id", RequestId::parse(request_id))?;
        // Every log line of the call names its request.
        tracing::Span::current().record("request_id", request_id.as_str());
        let fingerprint = Some(fingerprint(message));
        Some(Write { request_id, expected_version, fingerprint })
    }

    pub fn date(&mut self, field: &str, value: &str) -> Option<Date> {
        self.field(field, value.parse::<Date>().map_err(|_| format!("{value:?} is not a date YYYY-MM-DD")))
    }

    pub fn optional_date(&mut self, field: &str, value: &str) -> Option<Option<Date>> {
        if value.is_empty() { Some(None) } else { self.date(field, value).map(Some) }
    }

    /// A moment: an RFC 3339 timestamp, or a date taken in Finland at its start (or, with
    /// `end_of_day`, its end); empty is `None`. In milliseconds since the epoch.
    pub fn optional_moment(&mut self, field: &str, value: &str, end_of_day: bool) -> Option<Option<i64>> {
        if value.is_empty() {
            return Some(None);
        }
        let moment = value.parse::<jiff::Timestamp>().map(|at| at.as_millisecond()).or_else(|_| {
            let date = value
                .parse::<Date>()
                .map_err(|_| format!("{value:?} is not a timestamp or a date YYYY-MM-DD"))?;
            let day = date.to_zoned(luukku_app::finnish_zone()).map_err(|error| error.to_string())?;
            let start = day.timestamp().as_millisecond();
            Ok::<i64, String>(if end_of_day { start + 24 * 3_600_000 - 1 } else { start })
        });
        self.field(field, moment).map(Some)
    }

    pub fn municipality(&mut self, field: &str, value: &str) -> Option<Municipality> {
        self.field(field, Municipality::parse(value))
    }

    /// A number that must fit `T`.
    pub fn number<T: TryFrom<u32>>(&mut self, field: &str, value: u32, range: &str) -> Option<T> {
        self.field(field, T::try_from(value).map_err(|_| format!("must be {range}")))
    }

    /// The command `build` makes, when no field was bad; else `INVALID_ARGUMENT` naming every
    /// bad field. `build` sees every value it needs as `Some` once nothing was bad.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Status> {
        if !self.violations.is_empty() {
            return Err(invalid(self.violations));
        }
        build().ok_or_else(|| {
            tracing::error!("a decoder built nothing although no field was bad");
            Status::internal("the request could not be read")
        })
    }
}

/// `INVALID_ARGUMENT` with one field violation per bad field.
pub fn invalid(violations: Vec<(String, String)>) -> Status {
    let message =
        violations.iter().map(|(field, why)| format!("{field}: {why}")).collect::<Vec<_>>().join("; ");
    let mut details = ErrorDetails::new();
    for (field, description) in violations {
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The page size a list asks for: `default` when 0, at most `max`.
pub fn page_size(requested: u32, default: usize, max: usize) -> usize {
    match usize::try_from(requested).unwrap_or(max) {
        0 => default,
        size => size.min(max),
    }
}
