//! The bottom of the request path: the redirect layer over a pluggable transport.
//!
//! A transport is any `tower::Service<http::Request<RequestBody>>` answering with an
//! `http::Response` whose body yields [`Bytes`] (Go's `http.RoundTripper`, in tower terms).
//! Its errors become [`Error::Connection`], which the retry loop treats as transient.

#[cfg(feature = "hyper")]
mod hyper;
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
pub(crate) use self::hyper::{TlsSettings, default_transport};
pub use redirect::MAX_REDIRECTS;
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

/// Adapts a user transport: boxes its body and turns its errors into [`Error::Connection`]
/// naming the (redacted) request.
#[derive(Clone)]
pub(crate) struct Adapt<S>(pub(crate) S);

impl<S, B> Service<Request<RequestBody>> for Adapt<S>
where
    S: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
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
            let response = transport
                .oneshot(request)
                .await
                .map_err(|e| fail(e.into()))?;
            Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
        })
    }
}

/// Boxes `transport` under the redirect layer.
pub(crate) fn stack<S, B>(transport: S) -> HttpService
where
    S: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(follow_redirects(Adapt(transport)))
}
