//! HTTP helpers shared by the endpoints and the test layers: byte ranges (RFC 9110 §14),
//! conditional requests (RFC 9110 §13), query strings, and response building with the
//! headers every answer carries.

pub(crate) mod conditional;
pub(crate) mod credentials;
pub(crate) mod query;
pub(crate) mod range;
pub(crate) mod response;
