//! The request log: every request a server answered, for tests' assertions, recorded by the
//! outermost layer of the stack so it sees the status the client saw.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tower::ServiceExt;

use crate::body::Body;

/// Which listener answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The registry itself.
    Registry,
    /// The CDN origin that blob redirects point to.
    Cdn,
}

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
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
}

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

/// The request log as a layer. In the stack only when the log is on.
#[derive(Clone)]
pub(crate) struct LogLayer {
    pub(crate) log: RequestLog,
    pub(crate) origin: Origin,
}

impl<S> tower::Layer<S> for LogLayer {
    type Service = LogService<S>;
    fn layer(&self, inner: S) -> LogService<S> {
        LogService {
            inner,
            log: self.log.clone(),
            origin: self.origin,
        }
    }
}

/// Records every request and its answer's status.
#[derive(Clone)]
pub(crate) struct LogService<S> {
    inner: S,
    log: RequestLog,
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
        let inner = self.inner.clone();
        Box::pin(async move {
            let response = inner.oneshot(request).await?;
            record.status = response.status();
            log.push(record);
            Ok(response)
        })
    }
}
