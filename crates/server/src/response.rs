//! Response helpers: error bodies and the headers every answer carries.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use ocipull_spec::{ErrorBody, ErrorCode};

use crate::body::Body;

/// `Docker-Distribution-API-Version`, sent on every answer (distribution-spec "Determining
/// Support", Docker registry API v2).
pub const API_VERSION_HEADER: &str = "docker-distribution-api-version";
/// The value of [`API_VERSION_HEADER`].
pub const API_VERSION: &str = "registry/2.0";
/// `Docker-Content-Digest`: the digest of the content a manifest or blob answer carries.
pub const CONTENT_DIGEST_HEADER: &str = "docker-content-digest";
/// `OCI-Filters-Applied` (distribution-spec "Listing Referrers").
pub const FILTERS_APPLIED_HEADER: &str = "oci-filters-applied";
/// The methods this pull-only registry allows, for `Allow` on 405 answers (RFC 9110 §10.2.1).
pub const ALLOWED_METHODS: &str = "GET, HEAD";
/// Media type of error bodies and JSON answers.
pub const JSON: &str = "application/json";

/// An error answer with the distribution-spec's JSON body ("Error Codes").
pub fn error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response<Body> {
    let body = serde_json::to_vec(&ErrorBody::single(code, message))
        .expect("an error body always serialises");
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    r
}

/// The error code clients expect with an injected or generic `status`.
pub fn code_for(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Denied,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::TooManyRequests,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::Unsupported,
        StatusCode::NOT_FOUND => ErrorCode::NameUnknown,
        // Distribution's code for a registry that cannot answer now.
        s if s.is_server_error() => ErrorCode::Other("UNAVAILABLE".to_owned()),
        _ => ErrorCode::Unsupported,
    }
}

/// A header value from text we produced; text that is not a valid value (it cannot contain
/// control characters when it comes from validated names) falls back to an empty value
/// rather than panicking.
pub fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// 405 for any method but GET and HEAD on a registry path.
pub fn method_not_allowed() -> Response<Body> {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Unsupported,
        "this registry is pull-only: only GET and HEAD are supported",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    r
}
