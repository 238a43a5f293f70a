//! Response building: spec error bodies, header values, and the headers every registry
//! answer carries — set in one place, [`common_headers`], whichever layer answered.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use ocipull_spec::{ErrorBody, ErrorCode};

use crate::body::Body;

/// `Docker-Distribution-API-Version`, sent on every registry answer (distribution-spec
/// "Determining Support"; Docker registry API v2). Clients such as Docker's check it on
/// `/v2/` to tell a registry from any web server.
const API_VERSION_HEADER: &str = "docker-distribution-api-version";
/// The value of [`API_VERSION_HEADER`].
const API_VERSION: &str = "registry/2.0";
/// `Docker-Content-Digest`: the digest of the content a manifest or blob answer carries
/// (distribution-spec "Pulling manifests", "Pulling blobs").
pub(crate) const CONTENT_DIGEST_HEADER: &str = "docker-content-digest";
/// `OCI-Filters-Applied` (distribution-spec "Listing Referrers").
pub(crate) const FILTERS_APPLIED_HEADER: &str = "oci-filters-applied";
/// The methods this pull-only registry allows, for `Allow` on 405 answers (RFC 9110 §10.2.1).
const ALLOWED_METHODS: &str = "GET, HEAD";
/// Media type of error bodies and JSON answers.
pub(crate) const JSON: &str = "application/json";

/// Adds the headers every registry answer carries, whichever layer produced it (a handler,
/// a 401 challenge, an injected fault status). The only place they are set.
pub(crate) fn common_headers(headers: &mut HeaderMap) {
    headers.insert(API_VERSION_HEADER, HeaderValue::from_static(API_VERSION));
}

/// An error answer with the distribution-spec's JSON body ("Error Codes").
pub(crate) fn error(
    status: StatusCode,
    code: ErrorCode,
    message: impl Into<String>,
) -> Response<Body> {
    // An `ErrorBody` is strings only, so serialising cannot fail; an empty body is a safe
    // answer should it ever do so, where a panic would take the connection down.
    let body = serde_json::to_vec(&ErrorBody::single(code, message)).unwrap_or_default();
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    r
}

/// The error code clients expect with an injected or generic `status`.
pub(crate) fn code_for(status: StatusCode) -> ErrorCode {
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
pub(crate) fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A JSON answer of `json`, or just its headers for a `HEAD` (RFC 9110 §9.3.2).
pub(crate) fn json(content_type: &'static str, json: Vec<u8>, head: bool) -> Response<Body> {
    let len = json.len();
    let mut r = Response::new(if head {
        Body::empty()
    } else {
        Body::full(json)
    });
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// 405 for any method but GET and HEAD on a registry path.
pub(crate) fn method_not_allowed() -> Response<Body> {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Unsupported,
        "this registry is pull-only: only GET and HEAD are supported",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    r
}
