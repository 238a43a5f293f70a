//! The registry's router: maps each request to its handler.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use ocipull_spec::{Digest, ErrorCode, Repository};

use crate::blobs::serve_blob;
use crate::body::Body;
use crate::cdn::{Cdn, serve_cdn};
use crate::manifests::{ManifestPolicy, name_unknown, serve_manifest};
use crate::query::decode;
use crate::referrers::serve_referrers;
use crate::response::{API_VERSION, API_VERSION_HEADER, JSON, error, method_not_allowed};
use crate::route::{Route, route};
use crate::store::{Lookup, Store};
use crate::tags::serve_tags;

/// The registry endpoints over a [`Store`].
#[derive(Clone)]
pub(crate) struct Router {
    pub(crate) store: Store,
    pub(crate) policy: ManifestPolicy,
    pub(crate) cdn: Option<Arc<Cdn>>,
}

impl Router {
    /// Answers one request; never fails and never panics on any path or header.
    pub(crate) fn handle(&self, request: &Request<()>) -> Response<Body> {
        let mut response = self.dispatch(request);
        response
            .headers_mut()
            .insert(API_VERSION_HEADER, HeaderValue::from_static(API_VERSION));
        response
    }

    fn dispatch(&self, request: &Request<()>) -> Response<Body> {
        let path = request.uri().path();
        let route = route(path);
        if route == Route::Unknown {
            return error(
                StatusCode::NOT_FOUND,
                ErrorCode::Unsupported,
                "no such endpoint in the pull API",
            );
        }
        let head = request.method() == Method::HEAD;
        if !head && request.method() != Method::GET {
            return method_not_allowed();
        }
        let headers = request.headers();
        let query = request.uri().query();
        let name = match route {
            Route::Base => {
                let mut r = Response::new(if head {
                    Body::empty()
                } else {
                    Body::full("{}")
                });
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(2));
                return r;
            }
            Route::Upload => {
                return error(
                    StatusCode::NOT_FOUND,
                    ErrorCode::BlobUploadUnknown,
                    "this registry is pull-only: there are no uploads",
                );
            }
            Route::Unknown => unreachable!("handled above"),
            Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::Tags { name }
            | Route::Referrers { name, .. } => name,
        };
        let repo = match name.parse::<Repository>() {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::NameInvalid,
                    e.to_string(),
                );
            }
        };
        match route {
            Route::Manifest { reference, .. } => serve_manifest(
                &self.store,
                self.policy,
                headers,
                head,
                &repo,
                &decode(reference),
            ),
            Route::Blob { digest, .. } => self.blob(request, head, &repo, &decode(digest)),
            Route::Tags { .. } => serve_tags(&self.store, &repo, query, head),
            Route::Referrers { digest, .. } => {
                serve_referrers(&self.store, &repo, &decode(digest), query, head)
            }
            Route::Base | Route::Upload | Route::Unknown => unreachable!("handled above"),
        }
    }

    fn blob(
        &self,
        request: &Request<()>,
        head: bool,
        repository: &Repository,
        digest: &str,
    ) -> Response<Body> {
        let digest: Digest = match digest.parse() {
            Ok(d) => d,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::DigestInvalid,
                    e.to_string(),
                );
            }
        };
        let source = match self.store.lookup_blob(repository, &digest) {
            Lookup::Found(s) => s,
            Lookup::Missing => {
                return error(
                    StatusCode::NOT_FOUND,
                    ErrorCode::BlobUnknown,
                    format!("blob unknown to registry: {digest}"),
                );
            }
            Lookup::NoRepository => return name_unknown(repository),
        };
        if !head {
            if let Some(location) = self
                .cdn
                .as_ref()
                .and_then(|c| c.location(repository, &digest))
            {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                r.headers_mut()
                    .insert(header::LOCATION, crate::response::value(&location));
                return r;
            }
        }
        serve_blob(request.headers(), head, &digest, source)
    }
}

/// The router as a service (the innermost layer of the stack).
#[derive(Clone)]
pub(crate) struct RouterService(pub(crate) Arc<Router>);

impl tower::Service<Request<()>> for RouterService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        ready(Ok(self.0.handle(&request)))
    }
}

/// The CDN origin as a service.
#[derive(Clone)]
pub(crate) struct CdnService {
    pub(crate) cdn: Arc<Cdn>,
    pub(crate) store: Store,
}

impl tower::Service<Request<()>> for CdnService {
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
