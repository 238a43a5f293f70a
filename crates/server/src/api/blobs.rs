//! `GET`/`HEAD /v2/<name>/blobs/<digest>` (distribution-spec "Pulling blobs"), with ranges
//! and conditional requests (RFC 9110 §13, §14).

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use ocipull_spec::{BlobSource, Digest, ErrorCode};

use crate::body::{Body, multipart_body, range_body};
use crate::http_util::conditional::{etag, none_match, range_applies};
use crate::http_util::range::{RangeAnswer, evaluate};
use crate::http_util::response::{CONTENT_DIGEST_HEADER, error, value};

/// Media type of blob answers: a registry does not know a blob's type.
const BLOB_CONTENT_TYPE: &str = "application/octet-stream";

/// The error code of a 416 answer. The distribution-spec has none for reads; this one names
/// the condition (RFC 9110 §15.5.17).
const RANGE_NOT_SATISFIABLE_CODE: &str = "RANGE_NOT_SATISFIABLE";

/// Answers a blob request from `source`: 200, 206 (one range or `multipart/byteranges`),
/// 304 or 416. A HEAD answer has the same headers and no body.
pub(crate) fn serve_blob(
    request: &HeaderMap,
    head: bool,
    digest: &Digest,
    source: Arc<dyn BlobSource>,
) -> Response<Body> {
    let size = source.size();
    let tag = etag(digest);
    let mut response = answer(request, digest, &tag, source, size);
    let h = response.headers_mut();
    h.insert(CONTENT_DIGEST_HEADER, value(digest.as_str()));
    h.insert(header::ETAG, value(&tag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

fn answer(
    request: &HeaderMap,
    digest: &Digest,
    tag: &str,
    source: Arc<dyn BlobSource>,
    size: u64,
) -> Response<Body> {
    let text = |name| {
        request
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if text(header::IF_NONE_MATCH).is_some_and(|h| none_match(h, tag)) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        return r;
    }
    let range = text(header::RANGE)
        .filter(|_| text(header::IF_RANGE).is_none_or(|h| range_applies(h, tag)))
        .map_or(RangeAnswer::Ignore, |h| evaluate(h, size));
    match range {
        RangeAnswer::Ignore => content(
            StatusCode::OK,
            range_body(source, 0, size),
            size,
            BLOB_CONTENT_TYPE,
            None,
        ),
        RangeAnswer::Unsatisfiable => {
            let mut r = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::Other(RANGE_NOT_SATISFIABLE_CODE.to_owned()),
                format!("no requested range is satisfiable for blob {digest} of {size} bytes"),
            );
            r.headers_mut()
                .insert(header::CONTENT_RANGE, value(&format!("bytes */{size}")));
            r
        }
        RangeAnswer::Ranges(ranges) if ranges.len() == 1 => {
            let r = ranges[0];
            content(
                StatusCode::PARTIAL_CONTENT,
                range_body(source, r.start, r.len()),
                r.len(),
                BLOB_CONTENT_TYPE,
                Some(r.content_range(size)),
            )
        }
        RangeAnswer::Ranges(ranges) => {
            let boundary = format!("{:032x}", rand::random::<u128>());
            let (body, len) = multipart_body(source, &ranges, &boundary, BLOB_CONTENT_TYPE);
            content(
                StatusCode::PARTIAL_CONTENT,
                body,
                len,
                &format!("multipart/byteranges; boundary={boundary}"),
                None,
            )
        }
    }
}

fn content(
    status: StatusCode,
    body: Body,
    len: u64,
    content_type: &str,
    content_range: Option<String>,
) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CONTENT_TYPE, value(content_type));
    if let Some(cr) = content_range {
        h.insert(header::CONTENT_RANGE, value(&cr));
    }
    r
}
