//! The test-behaviour layers around the router: request log and fault injection.
//!
//! Each is a service wrapping the next one in the stack (`request log ─► fault injection ─►
//! auth ─► router`), present only when configured on the builder.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::header::{self, HeaderValue};
use http::{Request, Response};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::body::Body;
use crate::fault::{Fault, Faults};
use crate::fault_body;
use crate::log::{Origin, RequestLog, RequestRecord};
use crate::response::{CONTENT_DIGEST_HEADER, code_for, error, value};

/// A service in the stack.
pub(crate) type Inner = BoxCloneSyncService<Request<()>, Response<Body>, Infallible>;

/// Records every request and its answer's status.
#[derive(Clone)]
pub(crate) struct LogService {
    pub(crate) inner: Inner,
    pub(crate) log: RequestLog,
    pub(crate) origin: Origin,
}

impl tower::Service<Request<()>> for LogService {
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
            status: http::StatusCode::OK,
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

/// Applies the faults of the rules that fire on a request.
#[derive(Clone)]
pub(crate) struct FaultService {
    pub(crate) inner: Inner,
    pub(crate) faults: Faults,
}

impl tower::Service<Request<()>> for FaultService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<()>) -> Self::Future {
        let target = request.uri().path_and_query().map_or_else(
            || request.uri().path().to_owned(),
            |p| p.as_str().to_owned(),
        );
        let faults = self.faults.pick(request.method(), &target);
        let inner = self.inner.clone();
        if faults.is_empty() {
            return Box::pin(inner.oneshot(request));
        }
        Box::pin(async move {
            for f in &faults {
                if let Fault::Delay(d) = f {
                    tokio::time::sleep(*d).await;
                }
            }
            if faults.contains(&Fault::IgnoreRange) {
                request.headers_mut().remove(header::RANGE);
                request.headers_mut().remove(header::IF_RANGE);
            }
            let status = faults.iter().find_map(|f| match f {
                Fault::Status(s) => Some(*s),
                _ => None,
            });
            let mut response = match status {
                Some(s) => {
                    let mut r = error(s, code_for(s), format!("injected fault: {s}"));
                    r.headers_mut().insert(
                        crate::response::API_VERSION_HEADER,
                        HeaderValue::from_static(crate::response::API_VERSION),
                    );
                    r
                }
                None => inner.oneshot(request).await?,
            };
            let h = response.headers_mut();
            for f in &faults {
                match f {
                    Fault::RetryAfter(a) => {
                        h.insert(header::RETRY_AFTER, value(&a.header_value()));
                    }
                    Fault::ContentRange(v) => {
                        h.insert(header::CONTENT_RANGE, value(v));
                    }
                    Fault::ContentDigest(v) => {
                        h.insert(CONTENT_DIGEST_HEADER, value(v));
                    }
                    Fault::ContentType(v) => {
                        h.insert(header::CONTENT_TYPE, value(v));
                    }
                    _ => {}
                }
            }
            Ok(response.map(|b| fault_body::wrap(b, &faults)))
        })
    }
}
