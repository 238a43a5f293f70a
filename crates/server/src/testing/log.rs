//! The request log: every request a server answered, for tests' assertions, recorded by the
//! outermost layer of the stack so it sees the status the client saw; and the [`Event`]s a
//! server reports to an event sink ([`ServerBuilder::on_event`](crate::ServerBuilder::on_event)):
//! completed requests with the bytes sent, failed TLS handshakes, malformed requests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use futures_util::future::BoxFuture;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tower::ServiceExt;

use crate::body::Body;

/// Which listener answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Origin {
    /// The registry itself.
    Registry,
    /// The CDN origin that blob redirects point to.
    Cdn,
}

/// One answered request.
///
/// Serialised (for `ocipull serve --log-file` and the control API's `GET /log`) as a JSON
/// object with the same field names; `time` as RFC 3339 UTC, `duration` as `duration_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// When the request arrived.
    pub time: SystemTime,
    /// Which listener answered.
    pub origin: Origin,
    /// The request method.
    pub method: Method,
    /// Path and query, as received.
    ///
    /// # Security
    /// Holds query strings verbatim, including the CDN's signatures; do not print logs of
    /// servers holding real credentials.
    pub path: String,
    /// The answer's status (after fault injection and auth).
    pub status: StatusCode,
    /// Whether the request had an `Authorization` header (its value is not kept).
    pub authorization: bool,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `Accept` header values, joined with `, `, if any.
    pub accept: Option<String>,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// Body bytes sent. `None` in the [`RequestLog`], which records a request when its
    /// answer's headers are ready; set in [`Event::Request`], sent when the body has ended
    /// (or the connection was cut).
    pub bytes_sent: Option<u64>,
    /// From the request's arrival to the end of its body; `None` in the [`RequestLog`]
    /// (see `bytes_sent`).
    pub duration: Option<Duration>,
}

impl serde::Serialize for RequestRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            time: String,
            origin: Origin,
            method: &'a str,
            path: &'a str,
            status: u16,
            bytes_sent: Option<u64>,
            range: Option<&'a str>,
            duration_ms: Option<f64>,
            user_agent: Option<&'a str>,
            authorization: bool,
            accept: Option<&'a str>,
        }
        Doc {
            time: rfc3339(self.time),
            origin: self.origin,
            method: self.method.as_str(),
            path: &self.path,
            status: self.status.as_u16(),
            bytes_sent: self.bytes_sent,
            range: self.range.as_deref(),
            duration_ms: self.duration.map(|d| d.as_secs_f64() * 1000.0),
            user_agent: self.user_agent.as_deref(),
            authorization: self.authorization,
            accept: self.accept.as_deref(),
        }
        .serialize(s)
    }
}

/// `t` as an RFC 3339 UTC timestamp with milliseconds: `2024-05-01T12:34:56.789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// What a server reports to its event sink.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A request was answered and its body has ended (or was cut).
    Request(RequestRecord),
    /// A client's TLS handshake failed (e.g. it does not trust the certificate).
    TlsHandshakeFailed {
        /// When.
        time: SystemTime,
        /// The client's address.
        peer: SocketAddr,
        /// What went wrong.
        error: String,
    },
    /// A connection sent something that is not HTTP (hyper answered 400 and closed it).
    MalformedRequest {
        /// When.
        time: SystemTime,
        /// The client's address.
        peer: SocketAddr,
        /// What was wrong.
        error: String,
    },
}

/// Where a server sends its [`Event`]s; called on the serving tasks, so it must not block
/// (send to a channel).
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// A shared, append-only list of [`RequestRecord`]s; clones share the list.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    records: Arc<Mutex<Vec<RequestRecord>>>,
}

impl RequestLog {
    /// A copy of every record so far, oldest first.
    pub fn records(&self) -> Vec<RequestRecord> {
        self.lock().clone()
    }

    /// The records whose path contains `substring`.
    pub fn matching(&self, substring: &str) -> Vec<RequestRecord> {
        self.lock()
            .iter()
            .filter(|r| r.path.contains(substring))
            .cloned()
            .collect()
    }

    /// How many requests were recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every record.
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn push(&self, record: RequestRecord) {
        self.lock().push(record);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RequestRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The request log as a layer. In the stack only when the log or an event sink is on.
#[derive(Clone)]
pub(crate) struct LogLayer {
    pub(crate) log: Option<RequestLog>,
    pub(crate) sink: Option<EventSink>,
    pub(crate) origin: Origin,
}

impl<S> tower::Layer<S> for LogLayer {
    type Service = LogService<S>;
    fn layer(&self, inner: S) -> LogService<S> {
        LogService {
            inner,
            log: self.log.clone(),
            sink: self.sink.clone(),
            origin: self.origin,
        }
    }
}

/// Records every request and its answer's status.
#[derive(Clone)]
pub(crate) struct LogService<S> {
    inner: S,
    log: Option<RequestLog>,
    sink: Option<EventSink>,
    origin: Origin,
}

impl<S> tower::Service<Request<()>> for LogService<S>
where
    S: tower::Service<Request<()>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let text = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let accept: Vec<&str> = request
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let mut record = RequestRecord {
            time: SystemTime::now(),
            user_agent: text(header::USER_AGENT),
            bytes_sent: None,
            duration: None,
            origin: self.origin,
            method: request.method().clone(),
            path: request.uri().path_and_query().map_or_else(
                || request.uri().path().to_owned(),
                |p| p.as_str().to_owned(),
            ),
            status: StatusCode::OK,
            authorization: request.headers().contains_key(header::AUTHORIZATION),
            range: text(header::RANGE),
            accept: (!accept.is_empty()).then(|| accept.join(", ")),
        };
        let log = self.log.clone();
        let sink = self.sink.clone();
        let inner = self.inner.clone();
        let started = tokio::time::Instant::now();
        Box::pin(async move {
            let response = inner.oneshot(request).await?;
            record.status = response.status();
            if let Some(log) = log {
                log.push(record.clone());
            }
            let Some(sink) = sink else {
                return Ok(response);
            };
            Ok(response.map(|inner| {
                Body::new(Counted {
                    inner,
                    sent: 0,
                    started,
                    record: Some(record),
                    sink,
                })
            }))
        })
    }
}

/// A body that reports its request to the event sink when it ends or is dropped.
struct Counted {
    inner: Body,
    sent: u64,
    started: tokio::time::Instant,
    record: Option<RequestRecord>,
    sink: EventSink,
}

impl Counted {
    fn report(&mut self) {
        if let Some(mut r) = self.record.take() {
            r.bytes_sent = Some(self.sent);
            r.duration = Some(self.started.elapsed());
            (self.sink)(Event::Request(r));
        }
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    self.sent += d.len() as u64;
                }
            }
            None | Some(Err(_)) => self.report(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.report();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_millis(s);
        assert_eq!(rfc3339(t(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(t(784_111_777_123)), "1994-11-06T08:49:37.123Z");
        assert_eq!(rfc3339(t(951_782_400_000)), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(t(4_102_444_799_000)), "2099-12-31T23:59:59.000Z");
    }
}
