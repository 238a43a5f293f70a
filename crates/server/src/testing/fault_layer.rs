//! The fault injector as a layer: applies the faults of the rules that fire on a request.
//!
//! Always in the stack, unlike the other test layers: rules can be added while serving
//! ([`Server::add_fault`](crate::Server::add_fault)), so whether any will apply is not known
//! when the stack is built. With no rules it costs one uncontended lock per request.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::header;
use http::{Request, Response};
use tower::ServiceExt;

use super::faults::{Fault, Faults};
use crate::body::{Body, wrap_faults};
use crate::http_util::response::{CONTENT_DIGEST_HEADER, code_for, error, value};

/// Wraps a service in a [`FaultService`].
#[derive(Clone)]
pub(crate) struct FaultLayer {
    pub(crate) faults: Faults,
    /// See `ServerBuilder::fault_flush_pause`.
    pub(crate) flush_pause: Duration,
}

impl<S> tower::Layer<S> for FaultLayer {
    type Service = FaultService<S>;
    fn layer(&self, inner: S) -> FaultService<S> {
        FaultService {
            inner,
            faults: self.faults.clone(),
            flush_pause: self.flush_pause,
        }
    }
}

/// Applies the faults of the rules that fire on a request.
#[derive(Clone)]
pub(crate) struct FaultService<S> {
    inner: S,
    faults: Faults,
    flush_pause: Duration,
}

impl<S> tower::Service<Request<()>> for FaultService<S>
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
        let flush_pause = self.flush_pause;
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
                Some(s) => error(s, code_for(s), format!("injected fault: {s}")),
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
            Ok(response.map(|b| wrap_faults(b, &faults, flush_pause)))
        })
    }
}
