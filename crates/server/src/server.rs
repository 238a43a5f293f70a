//! The [`Server`]: a store, a router and the configured test layers, as one
//! `tower::Service`.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{Request, Response};
use ocipull_spec::{Manifest, Repository, Tag};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::body::Body;
use crate::cdn::Cdn;
use crate::content::Content;
use crate::error::AddError;
use crate::fault::{FaultHandle, FaultRule, Faults};
use crate::layers::{FaultService, Inner, LogService};
use crate::layout::LayoutSummary;
use crate::log::{Origin, RequestLog};
use crate::manifests::ManifestPolicy;
use crate::router::{CdnService, Router, RouterService};
use crate::store::Store;

/// How long a connection may take to send a request head (over HTTP/1.1) before it is
/// closed: hyper's own default, long enough for any real client on a slow link, short
/// enough that slowloris-style clients trickling header bytes cannot hold connections open
/// for ever (RFC 9112 §9.5 lets a server close connections it no longer wants to serve).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Configures a [`Server`]; every test behaviour is off unless set here.
#[derive(Debug, Default)]
#[must_use]
pub struct ServerBuilder {
    store: Option<Store>,
    request_log: bool,
    faults: Vec<FaultRule>,
    strict_accept: bool,
    blob_redirects: bool,
    auth: Option<crate::auth::Auth>,
    header_read_timeout: Option<Duration>,
}

impl ServerBuilder {
    /// Serves this store (shared with whoever else holds it). Default is a new, empty store.
    pub fn store(mut self, store: Store) -> ServerBuilder {
        self.store = Some(store);
        self
    }

    /// Records every request in a [`RequestLog`] (see [`Server::request_log`]). Default is
    /// off, so a long-running server does not grow without bound.
    pub fn request_log(mut self, on: bool) -> ServerBuilder {
        self.request_log = on;
        self
    }

    /// Installs a fault rule from the start (rules can also be added while serving with
    /// [`Server::add_fault`]). Default is no rules.
    pub fn fault(mut self, rule: FaultRule) -> ServerBuilder {
        self.faults.push(rule);
        self
    }

    /// Refuses (404 `MANIFEST_UNKNOWN`, as Distribution does) a manifest whose media type the
    /// request's `Accept` does not list by name. Default is off: every manifest is served
    /// whatever the `Accept`.
    pub fn strict_accept(mut self, on: bool) -> ServerBuilder {
        self.strict_accept = on;
        self
    }

    /// Answers blob `GET`s with 307 to a second listener (the "CDN" origin, started by
    /// [`Server::spawn`]) with a signed-looking query. Default is off.
    pub fn blob_redirects(mut self, on: bool) -> ServerBuilder {
        self.blob_redirects = on;
        self
    }

    /// Requires authentication; see [`Auth`](crate::Auth). Default is none.
    pub fn auth(mut self, auth: crate::auth::Auth) -> ServerBuilder {
        self.auth = Some(auth);
        self
    }

    /// How long a connection may take to send a whole request head before it is closed
    /// (applies when served over the network, HTTP/1.1). Default is
    /// [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.header_read_timeout = Some(timeout);
        self
    }

    /// Builds the server.
    pub fn build(self) -> Server {
        let store = self.store.unwrap_or_default();
        let cdn = self.blob_redirects.then(|| Arc::new(Cdn::new()));
        let faults = Faults::default();
        for rule in self.faults {
            faults.add(rule);
        }
        let log = self.request_log.then(RequestLog::default);
        let router = Router {
            store: store.clone(),
            policy: ManifestPolicy {
                strict_accept: self.strict_accept,
            },
            cdn: cdn.clone(),
        };
        let mut stack: Inner = BoxCloneSyncService::new(RouterService(Arc::new(router)));
        let auth = self.auth.map(crate::auth::AuthState::new);
        if let Some(auth) = &auth {
            stack = BoxCloneSyncService::new(crate::auth::AuthService {
                inner: stack,
                auth: auth.clone(),
            });
        }
        let wrap = |inner: Inner, origin| {
            let inner: Inner = BoxCloneSyncService::new(FaultService {
                inner,
                faults: faults.clone(),
            });
            match &log {
                Some(log) => BoxCloneSyncService::new(LogService {
                    inner,
                    log: log.clone(),
                    origin,
                }),
                None => inner,
            }
        };
        let cdn_stack = cdn.as_ref().map(|cdn| {
            wrap(
                BoxCloneSyncService::new(CdnService {
                    cdn: cdn.clone(),
                    store: store.clone(),
                }),
                Origin::Cdn,
            )
        });
        let stack = wrap(stack, Origin::Registry);
        Server {
            shared: Arc::new(Shared {
                store,
                faults,
                log,
                cdn,
                stack,
                cdn_stack,
                auth,
                header_read_timeout: self
                    .header_read_timeout
                    .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT),
            }),
        }
    }
}

/// A pull-only OCI registry: a [`Store`] served over the distribution-spec's pull API, plus
/// the test behaviours configured on its [`ServerBuilder`].
///
/// It is a `tower::Service<http::Request<B>>` for any request body `B` (bodies are ignored:
/// every pull request is body-less), so it can be mounted in any hyper or axum stack; clones
/// share the same content, faults and log.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

struct Shared {
    store: Store,
    faults: Faults,
    log: Option<RequestLog>,
    cdn: Option<Arc<Cdn>>,
    stack: Inner,
    cdn_stack: Option<Inner>,
    auth: Option<crate::auth::AuthState>,
    header_read_timeout: Duration,
}

impl Default for Server {
    fn default() -> Server {
        Server::new()
    }
}

impl Server {
    /// A server with an empty store and no test behaviours.
    pub fn new() -> Server {
        Server::builder().build()
    }

    /// A builder to configure test behaviours.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The content this server serves; content added to it is served at once.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Adds an image, or an index with its child manifests; see [`Store::add`].
    pub fn add(
        &self,
        repository: &Repository,
        tag: Option<Tag>,
        manifest: Manifest,
        content: impl IntoIterator<Item = impl Into<Content>>,
    ) -> Result<(), AddError> {
        self.shared.store.add(repository, tag, manifest, content)
    }

    /// Adds every manifest of an OCI image layout; see [`Store::add_layout`].
    pub fn add_layout(
        &self,
        repository: &Repository,
        dir: impl AsRef<std::path::Path>,
    ) -> Result<LayoutSummary, AddError> {
        self.shared.store.add_layout(repository, dir)
    }

    /// Installs a fault rule now; the handle tells how often it fired.
    pub fn add_fault(&self, rule: FaultRule) -> FaultHandle {
        self.shared.faults.add(rule)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// How long a connection may take to send a request head; see
    /// [`ServerBuilder::header_read_timeout`].
    pub fn header_read_timeout(&self) -> Duration {
        self.shared.header_read_timeout
    }

    /// The request log, when [`ServerBuilder::request_log`] turned it on.
    pub fn request_log(&self) -> Option<&RequestLog> {
        self.shared.log.as_ref()
    }

    /// The token and credential state, when [`ServerBuilder::auth`] configured it.
    pub fn auth(&self) -> Option<&crate::auth::AuthState> {
        self.shared.auth.as_ref()
    }

    /// The CDN origin's service, when blob redirects are on. Serve it on a second listener
    /// and tell the registry its address with [`Server::set_cdn_url`] ([`Server::spawn`]
    /// does both).
    pub fn cdn_service(&self) -> Option<CdnOrigin> {
        self.shared.cdn_stack.clone().map(CdnOrigin)
    }

    /// Sets the base URL (`http://host:port`) that blob redirects point to. Until it is set,
    /// blobs are served directly even with redirects on.
    pub fn set_cdn_url(&self, url: impl Into<String>) {
        if let Some(cdn) = &self.shared.cdn {
            cdn.set_base(url.into());
        }
    }

    pub(crate) fn stack(&self) -> Inner {
        self.shared.stack.clone()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("store", &self.shared.store)
            .field("request_log", &self.shared.log.is_some())
            .field("blob_redirects", &self.shared.cdn.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> tower::Service<Request<B>> for Server {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        traced(self.stack(), request.map(|_| ()), Origin::Registry)
    }
}

/// The CDN origin of a server with blob redirects, as a `tower::Service`.
#[derive(Clone)]
pub struct CdnOrigin(Inner);

impl std::fmt::Debug for CdnOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CdnOrigin")
    }
}

impl<B> tower::Service<Request<B>> for CdnOrigin {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        traced(self.0.clone(), request.map(|_| ()), Origin::Cdn)
    }
}

/// Runs a request through `stack`, logging it with `tracing` (the path without its query,
/// which may hold signatures).
fn traced(
    stack: Inner,
    request: Request<()>,
    origin: Origin,
) -> BoxFuture<'static, Result<Response<Body>, Infallible>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    Box::pin(async move {
        let mut response = stack.oneshot(request).await?;
        tracing::info!(?origin, %method, %path, status = response.status().as_u16(), "request");
        // RFC 9110 §9.3.2: a HEAD answer has the headers of the GET answer and no content,
        // whichever layer produced it (an error, a 401 challenge, a fault).
        if method == http::Method::HEAD {
            *response.body_mut() = Body::empty();
        }
        Ok(response)
    })
}
