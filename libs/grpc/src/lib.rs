//! The gRPC edge every luukku service shares. A handler does three things: decode the request
//! into a command in one pass ([`decode`]), call the application, and encode the answer
//! ([`encode`]); an application error becomes a status in one place ([`status`]).

pub mod access;
pub mod deadline;
pub mod decode;
pub mod encode;
pub mod health;
pub mod identity;
pub mod limits;
pub mod observe;
pub mod paging;
pub mod serve;
pub mod status;

pub use access::check;
pub use decode::Decoder;
pub use identity::{Authenticator, caller, with_token};
pub use status::{Paths, status, status_with};
