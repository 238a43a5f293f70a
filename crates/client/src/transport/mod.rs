//! The bottom of the request path: the transport, pluggable, and the redirect layer.
//!
//! A transport is any `tower::Service<http::Request<RequestBody>>` answering with an
//! `http::Response` whose body yields [`Bytes`] (Go's `http.RoundTripper`, in tower terms).
//! Its errors become [`Error::Connection`], which the retry loop treats as transient, or
//! [`Error::Proxy`] when the default transport's proxy failed.

#[cfg(feature = "hyper")]
mod hyper;
#[cfg(feature = "rustls")]
mod no_verify;
#[cfg(feature = "hyper")]
mod proxy;
mod proxy_error;
mod redirect;

use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt as _};

#[cfg(feature = "hyper")]
pub use self::hyper::{DefaultTransport, TlsConfig};
#[cfg(feature = "hyper")]
pub use self::proxy::ProxyConfig;
pub use self::proxy_error::ProxyError;
pub(crate) use redirect::{final_url, follow_redirects};

use crate::{BoxError, Error, RedactedUrl};

/// The body of every request the client sends (GET and HEAD have an empty one; a token
/// request may have a form).
pub type RequestBody = http_body_util::Full<Bytes>;

/// The body of a response, as the client sees it after the transport.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// A transport or a stack of layers over one, with the client's error type.
pub(crate) type HttpService =
    BoxCloneSyncService<Request<RequestBody>, Response<ResponseBody>, Error>;

/// A transport with its body and error boxed: what the layers given to
/// [`ClientBuilder::layer`](crate::ClientBuilder::layer) wrap.
pub type BoxTransport = BoxCloneSyncService<Request<RequestBody>, Response<ResponseBody>, BoxError>;

/// Boxes any transport into a [`BoxTransport`].
pub(crate) fn boxed<S, B>(transport: S) -> BoxTransport
where
    S: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(
        tower::ServiceBuilder::new()
            .map_err(Into::into)
            .map_response(|r: Response<B>| r.map(|body| body.map_err(Into::into).boxed_unsync()))
            .service(transport),
    )
}

/// The default transport's proxy error, unboxed into [`Error::Proxy`].
fn proxy_error(source: BoxError) -> Result<Error, BoxError> {
    source
        .downcast::<ProxyError>()
        .map(|proxy| Error::Proxy(*proxy))
}

/// Turns the transport's errors into [`Error::Connection`] naming the (redacted) request,
/// or [`Error::Proxy`] for the default transport's proxy errors.
#[derive(Clone)]
pub(crate) struct Adapt<S>(pub(crate) S);

impl<S> Service<Request<RequestBody>> for Adapt<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<ResponseBody>;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Readiness is awaited per call on a clone, where the request is known for errors.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let transport = self.0.clone();
        Box::pin(async move {
            let method = request.method().clone();
            let url = RedactedUrl::from(request.uri());
            let fail = |source: BoxError| Error::Connection {
                method: method.clone(),
                url: url.clone(),
                source,
            };
            transport
                .oneshot(request)
                .await
                .map_err(|source| match proxy_error(source) {
                    Ok(proxy) => proxy,
                    Err(source) => fail(source),
                })
        })
    }
}
