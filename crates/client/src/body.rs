//! Reading response bodies within limits and within the stall timeout.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Response};
use http_body_util::BodyExt as _;

use crate::transport::ResponseBody;
use crate::{Error, HttpError, RedactedUrl};

/// Where a body comes from, for errors.
pub(crate) struct Source<'a> {
    pub(crate) method: &'a Method,
    pub(crate) url: &'a RedactedUrl,
    pub(crate) stall: Duration,
}

impl Source<'_> {
    pub(crate) fn stalled(&self) -> Error {
        Error::Stalled {
            method: self.method.clone(),
            url: self.url.clone(),
            timeout: self.stall,
        }
    }

    pub(crate) fn connection(&self, source: crate::BoxError) -> Error {
        Error::Connection {
            method: self.method.clone(),
            url: self.url.clone(),
            source,
        }
    }
}

/// The `Content-Length`, when present and a number.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads a whole body of at most `limit` bytes. A `Content-Length` over the limit fails
/// before reading; a body that grows past it fails as soon as it does, so an oversized body
/// is never held in memory.
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    mut body: ResponseBody,
    limit: u64,
    what: &'static str,
    source: &Source<'_>,
) -> Result<Bytes, Error> {
    let too_large = || Error::TooLarge {
        url: source.url.clone(),
        what,
        limit,
    };
    let declared = content_length(headers);
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let capacity = declared.unwrap_or(0).min(limit) as usize;
    let mut buf = BytesMut::with_capacity(capacity);
    loop {
        let frame = match tokio::time::timeout(source.stall, body.frame()).await {
            Err(_) => return Err(source.stalled()),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(source.connection(e)),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Reads at most `limit` bytes of an error body; whatever cannot be read is left out.
async fn read_prefix(mut body: ResponseBody, limit: usize, stall: Duration) -> Bytes {
    let mut buf = BytesMut::new();
    while buf.len() < limit {
        match tokio::time::timeout(stall, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    let take = data.len().min(limit - buf.len());
                    buf.extend_from_slice(&data[..take]);
                }
            }
            _ => break,
        }
    }
    buf.freeze()
}

/// Turns an error response into an [`HttpError`]: reads at most `limit` bytes of the body,
/// parses it as a distribution-spec error body when it is one, and keeps `Retry-After`.
pub(crate) async fn status_error(
    response: Response<ResponseBody>,
    limit: usize,
    source: &Source<'_>,
) -> Error {
    let (parts, body) = response.into_parts();
    let retry_after = crate::retry::retry_after(&parts.headers);
    let body = read_prefix(body, limit, source.stall).await;
    let error_body = serde_json::from_slice(&body).ok();
    HttpError {
        method: source.method.clone(),
        url: source.url.clone(),
        status: parts.status,
        error_body,
        body,
        retry_after,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn body(bytes: &'static [u8]) -> ResponseBody {
        Full::new(Bytes::from_static(bytes))
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    fn source(url: &RedactedUrl) -> Source<'_> {
        Source {
            method: &Method::GET,
            url,
            stall: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn limits_apply_to_declared_and_actual_sizes() {
        let url = RedactedUrl::new("https://r.example/v2/a/manifests/x");
        let mut headers = HeaderMap::new();
        let ok = read_limited(&headers, body(b"12345"), 5, "manifest", &source(&url)).await;
        assert_eq!(ok.unwrap().as_ref(), b"12345");
        let over = read_limited(&headers, body(b"123456"), 5, "manifest", &source(&url)).await;
        assert!(matches!(
            over,
            Err(Error::TooLarge {
                limit: 5,
                what: "manifest",
                ..
            })
        ));
        headers.insert(http::header::CONTENT_LENGTH, "6".parse().unwrap());
        let declared = read_limited(&headers, body(b"1"), 5, "manifest", &source(&url)).await;
        assert!(matches!(declared, Err(Error::TooLarge { .. })));
    }

    #[tokio::test]
    async fn error_bodies_are_cut_and_parsed() {
        let url = RedactedUrl::new("https://r.example/v2/");
        let json = br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#;
        let response = Response::builder()
            .status(429)
            .header("retry-after", "3")
            .body(body(json))
            .unwrap();
        let err = status_error(response, 2048, &source(&url)).await;
        let http = err.http().unwrap();
        assert_eq!(http.status.as_u16(), 429);
        assert_eq!(http.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(
            http.error_body.as_ref().unwrap().errors[0].code,
            ocipull_spec::ErrorCode::TooManyRequests
        );
        assert!(
            err.to_string().contains("TOOMANYREQUESTS: slow down"),
            "{err}"
        );
        let long = Response::builder()
            .status(500)
            .body(body(&[b'x'; 5000]))
            .unwrap();
        let err = status_error(long, 2048, &source(&url)).await;
        assert_eq!(err.http().unwrap().body.len(), 2048);
        assert!(err.http().unwrap().error_body.is_none());
    }
}
