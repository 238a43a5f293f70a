//! Blob redirects to a second origin, as registries backed by object storage do
//! (distribution-spec "Pulling blobs": a registry may answer 307 with a `Location`).
//!
//! The registry answers a blob `GET` with 307 to `<cdn>/blobs/<name>/<digest>?…` carrying a
//! signed-looking query (`X-Amz-Signature`, `expires`). The CDN origin checks the signature
//! and expiry, never looks at `Authorization` (it only records whether one arrived, so tests
//! can assert that clients strip credentials across origins), and serves the blob with the
//! same range and conditional support as the registry.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::{BoxFuture, Either};
use http::header;
use http::{Method, Request, Response, StatusCode};
use ocipull_spec::{Algorithm, Digest, ErrorCode, Hasher, Repository};
use tower::ServiceExt;

use crate::api::{blob_target, serve_blob};
use crate::body::Body;
use crate::http_util::query::param;
use crate::http_util::response::{error, method_not_allowed, value};
use crate::store::{Lookup, Store};

/// How long a redirect URL stays valid. Object stores commonly sign for minutes; ten is long
/// enough for any test pull and short enough that an expired URL is a plausible case.
const REDIRECT_TTL: Duration = Duration::from_secs(600);

/// The signing state shared by the registry (which signs) and the CDN (which checks).
pub(crate) struct Cdn {
    secret: [u8; 32],
    base: RwLock<Option<String>>,
}

impl Cdn {
    pub(crate) fn new() -> Cdn {
        Cdn {
            secret: rand::random(),
            base: RwLock::new(None),
        }
    }

    pub(crate) fn set_base(&self, url: String) {
        *self.base.write().unwrap_or_else(|p| p.into_inner()) = Some(url);
    }

    pub(crate) fn base(&self) -> Option<String> {
        self.base.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The redirect target for a blob, when the CDN has an address.
    pub(crate) fn location(&self, repository: &Repository, digest: &Digest) -> Option<String> {
        let base = self.base()?;
        let expires = now() + REDIRECT_TTL.as_secs();
        let sig = self.sign(repository.as_str(), digest.as_str(), expires);
        Some(format!(
            "{base}/blobs/{repository}/{digest}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={}&X-Amz-Signature={sig}&expires={expires}",
            REDIRECT_TTL.as_secs()
        ))
    }

    fn sign(&self, repository: &str, digest: &str, expires: u64) -> String {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(&self.secret);
        h.update(format!("\n{repository}\n{digest}\n{expires}").as_bytes());
        h.finish().encoded().to_owned()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Answers a request to the CDN origin.
fn serve_cdn(cdn: &Cdn, store: &Store, request: &Request<()>) -> Response<Body> {
    let head = request.method() == Method::HEAD;
    if !head && request.method() != Method::GET {
        return method_not_allowed();
    }
    let denied = |why: &str| error(StatusCode::FORBIDDEN, ErrorCode::Denied, why.to_owned());
    let Some(rest) = request.uri().path().strip_prefix("/blobs/") else {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::BlobUnknown,
            "unknown path",
        );
    };
    let Some((name, digest)) = rest.rsplit_once('/') else {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::BlobUnknown,
            "unknown path",
        );
    };
    let query = request.uri().query();
    let expires = param(query, "expires").and_then(|e| e.parse::<u64>().ok());
    let signature = param(query, "X-Amz-Signature");
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return denied("missing signature");
    };
    if signature != cdn.sign(name, digest, expires) {
        return denied("signature does not match");
    }
    if expires < now() {
        return denied("request has expired");
    }
    let (Ok(repository), Ok(digest)) = (name.parse::<Repository>(), digest.parse::<Digest>())
    else {
        return denied("signature does not match");
    };
    match store.lookup_blob(&repository, &digest) {
        Lookup::Found(source) => serve_blob(request.headers(), head, &digest, source),
        _ => error(
            StatusCode::NOT_FOUND,
            ErrorCode::BlobUnknown,
            format!("blob unknown: {digest}"),
        ),
    }
}

/// The CDN origin's handler: serves signed blob URLs from the store (the innermost service
/// of the CDN stack, as the router is of the registry's).
#[derive(Clone)]
pub(crate) struct CdnHandler {
    pub(crate) cdn: Arc<Cdn>,
    pub(crate) store: Store,
}

impl tower::Service<Request<()>> for CdnHandler {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        ready(Ok(serve_cdn(&self.cdn, &self.store, &request)))
    }
}

/// Blob redirects as a layer: answers a `GET` of a blob the store holds with 307 to the CDN
/// origin, once the CDN has an address. In the registry stack only when blob redirects are
/// on, just above the handlers, so auth and faults apply to the redirecting request as
/// they would on a registry that redirects.
#[derive(Clone)]
pub(crate) struct RedirectLayer {
    pub(crate) cdn: Arc<Cdn>,
    pub(crate) store: Store,
}

impl<S> tower::Layer<S> for RedirectLayer {
    type Service = RedirectService<S>;
    fn layer(&self, inner: S) -> RedirectService<S> {
        RedirectService {
            inner,
            cdn: self.cdn.clone(),
            store: self.store.clone(),
        }
    }
}

/// The service [`RedirectLayer`] wraps around the handlers.
#[derive(Clone)]
pub(crate) struct RedirectService<S> {
    inner: S,
    cdn: Arc<Cdn>,
    store: Store,
}

impl<S> RedirectService<S> {
    /// Where to send `request`, when it is a `GET` of a stored blob. A blob that is not
    /// there (or a repository that is not) is left to the handler's 404.
    fn location(&self, request: &Request<()>) -> Option<String> {
        if request.method() != Method::GET {
            return None;
        }
        let (repository, digest) = blob_target(request.uri().path())?;
        match self.store.lookup_blob(&repository, &digest) {
            Lookup::Found(_) => self.cdn.location(&repository, &digest),
            _ => None,
        }
    }
}

impl<S> tower::Service<Request<()>> for RedirectService<S>
where
    S: tower::Service<Request<()>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<
        Ready<Result<Response<Body>, Infallible>>,
        BoxFuture<'static, Result<Response<Body>, Infallible>>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        match self.location(&request) {
            Some(location) => {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                r.headers_mut().insert(header::LOCATION, value(&location));
                Either::Left(ready(Ok(r)))
            }
            None => Either::Right(Box::pin(self.inner.clone().oneshot(request))),
        }
    }
}
