//! The one router of the registry's endpoints (distribution-spec "Endpoints", pull
//! category): which endpoint a path names, and the handler that answers it.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use http::{Method, Request, Response, StatusCode};
use ocipull_spec::{Digest, ErrorCode, Repository};

use super::blobs::serve_blob;
use super::manifests::{ManifestPolicy, name_unknown, serve_manifest};
use super::referrers::serve_referrers;
use super::tags::{serve_catalog, serve_tags};
use crate::body::Body;
use crate::http_util::query::decode;
use crate::http_util::response::{JSON, error, json, method_not_allowed};
use crate::store::{Lookup, Store};

/// An endpoint, with the path parts still as text (validated by the handlers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `/v2/`.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/manifests/<reference>`.
    Manifest {
        /// Repository name.
        name: &'a str,
        /// Tag or digest.
        reference: &'a str,
    },
    /// `/v2/<name>/blobs/<digest>`.
    Blob {
        /// Repository name.
        name: &'a str,
        /// Digest.
        digest: &'a str,
    },
    /// `/v2/<name>/blobs/uploads/…` (push only).
    Upload,
    /// `/v2/<name>/tags/list`.
    Tags {
        /// Repository name.
        name: &'a str,
    },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers {
        /// Repository name.
        name: &'a str,
        /// Digest of the subject.
        digest: &'a str,
    },
    /// Anything else.
    Unknown,
}

/// Maps a request path to its endpoint. `<name>` may hold slashes, so the endpoint is found
/// from the end of the path.
pub(crate) fn route(path: &str) -> Route<'_> {
    if path == "/v2" || path == "/v2/" {
        return Route::Base;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::Unknown;
    };
    if rest == "_catalog" {
        return Route::Catalog;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return non_empty(name).map_or(Route::Unknown, |name| Route::Tags { name });
    }
    if rest.contains("/blobs/uploads") {
        return Route::Upload;
    }
    let Some((head, last)) = rest.rsplit_once('/') else {
        return Route::Unknown;
    };
    let Some((name, kind)) = head.rsplit_once('/') else {
        return Route::Unknown;
    };
    let (Some(name), Some(last)) = (non_empty(name), non_empty(last)) else {
        return Route::Unknown;
    };
    match kind {
        "manifests" => Route::Manifest {
            name,
            reference: last,
        },
        "blobs" => Route::Blob { name, digest: last },
        "referrers" => Route::Referrers { name, digest: last },
        _ => Route::Unknown,
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// The repository and digest of a request for a blob, when its path names one validly
/// (for the layers that act on blob requests before the router, such as redirects).
pub(crate) fn blob_target(path: &str) -> Option<(Repository, Digest)> {
    match route(path) {
        Route::Blob { name, digest } => Some((name.parse().ok()?, decode(digest).parse().ok()?)),
        _ => None,
    }
}

/// The registry endpoints over a [`Store`], as a service: the innermost layer of the stack.
#[derive(Clone)]
pub(crate) struct Router {
    pub(crate) store: Store,
    pub(crate) policy: ManifestPolicy,
}

impl Router {
    /// Answers one request; never fails and never panics on any path or header.
    fn handle(&self, request: &Request<()>) -> Response<Body> {
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
            // distribution-spec "Determining Support": 200 on `/v2/`; the body is an empty
            // JSON object, as Distribution sends.
            Route::Base => return json(JSON, b"{}".to_vec(), head),
            Route::Catalog => return serve_catalog(&self.store, query, head),
            Route::Upload => {
                return error(
                    StatusCode::NOT_FOUND,
                    ErrorCode::BlobUploadUnknown,
                    "this registry is pull-only: there are no uploads",
                );
            }
            Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::Tags { name }
            | Route::Referrers { name, .. } => name,
            Route::Unknown => return error(StatusCode::NOT_FOUND, ErrorCode::Unsupported, ""),
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
            // Answered above; repeated rather than `unreachable!` so no path can panic.
            Route::Base | Route::Catalog | Route::Upload | Route::Unknown => method_not_allowed(),
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
        match self.store.lookup_blob(repository, &digest) {
            Lookup::Found(source) => serve_blob(request.headers(), head, &digest, source),
            Lookup::Missing => error(
                StatusCode::NOT_FOUND,
                ErrorCode::BlobUnknown,
                format!("blob unknown to registry: {digest}"),
            ),
            Lookup::NoRepository => name_unknown(repository),
        }
    }
}

impl tower::Service<Request<()>> for Router {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        ready(Ok(self.handle(&request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("/v2/", Route::Base),
            ("/v2/_catalog", Route::Catalog),
            ("/v2/_catalog/tags/list", Route::Tags { name: "_catalog" }),
            ("/v2", Route::Base),
            (
                "/v2/a/manifests/v1",
                Route::Manifest {
                    name: "a",
                    reference: "v1",
                },
            ),
            (
                "/v2/a/b/manifests/manifests/sha256:x",
                Route::Manifest {
                    name: "a/b/manifests",
                    reference: "sha256:x",
                },
            ),
            (
                "/v2/a/blobs/sha256:x",
                Route::Blob {
                    name: "a",
                    digest: "sha256:x",
                },
            ),
            ("/v2/a/tags/list", Route::Tags { name: "a" }),
            (
                "/v2/a/b/referrers/d",
                Route::Referrers {
                    name: "a/b",
                    digest: "d",
                },
            ),
            ("/v2/a/blobs/uploads/", Route::Upload),
            ("/v2/a/blobs/uploads/123", Route::Upload),
            ("/v2/a/manifests/", Route::Unknown),
            ("/v2//manifests/x", Route::Unknown),
            ("/v2/tags/list", Route::Unknown),
            ("/v2/a/other/x", Route::Unknown),
            ("/v2/a", Route::Unknown),
            ("/", Route::Unknown),
            ("/v3/a/manifests/x", Route::Unknown),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), want, "{path}");
        }
    }
}
