//! The [`Server`] and its [`ServerBuilder`]: a store, the endpoints and the configured test
//! layers (assembled in `stack.rs`), as one `tower::Service`.
//!
//! Longer than the other files because `ServerBuilder` is the one place every setting is
//! named: one documented method each, with its default. The behaviour lives elsewhere.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{Request, Response};
use ocipull_spec::{Manifest, Repository, Tag};

use crate::api::ManifestPolicy;
use crate::body::Body;
use crate::content::Content;
use crate::error::AddError;
use crate::layout::LayoutSummary;
use crate::stack::{Parts, Stack, finish};
use crate::store::Store;
use crate::testing::{
    Auth, AuthState, Cdn, Event, EventSink, FaultHandle, FaultRule, Faults, Origin, RequestLog,
    Shaping, ShapingHandle, ShapingRule,
};
use crate::tls::Tls;

/// How long a connection may take to send a request head (over HTTP/1.1) before it is
/// closed: hyper's own default, long enough for any real client on a slow link, short
/// enough that slowloris-style clients trickling header bytes cannot hold connections open
/// for ever (RFC 9112 §9.5 lets a server close connections it no longer wants to serve).
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a cut or truncated body waits for hyper to flush what was sent before it ends.
/// hyper drops a connection's unflushed output when a body fails, so without the pause a
/// client would see the connection close before the headers and first bytes; 50 ms is ample
/// on loopback and short enough not to slow tests.
const DEFAULT_FLUSH_PAUSE: Duration = Duration::from_millis(50);

/// How long a graceful shutdown waits for open connections before they are dropped: a
/// stalled body may never end, and a server being stopped should stop; five seconds lets
/// any ordinary answer in flight finish.
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Configures a [`Server`]; every test behaviour is off unless set here.
#[derive(Default)]
#[must_use]
pub struct ServerBuilder {
    tls: Option<Tls>,
    sink: Option<EventSink>,
    store: Option<Store>,
    request_log: bool,
    faults: Vec<FaultRule>,
    shaping: Vec<ShapingRule>,
    runtime_shaping: bool,
    strict_accept: bool,
    blob_redirects: bool,
    auth: Option<Auth>,
    header_read_timeout: Option<Duration>,
    flush_pause: Option<Duration>,
    shutdown_grace: Option<Duration>,
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

    /// Serves HTTPS with this configuration (ALPN `h2` and `http/1.1`), on the registry's
    /// listener and the CDN origin's. Default is plain HTTP (HTTP/1.1 and h2c).
    pub fn tls(mut self, tls: Tls) -> ServerBuilder {
        self.tls = Some(tls);
        self
    }

    /// Sends every [`Event`] to `sink`: each request once its body has ended (with the
    /// bytes sent and the duration), failed TLS handshakes, malformed requests. The sink is
    /// called on the serving tasks and must not block: send to a channel and write from
    /// another task, as `ocipull serve --log-file` does. Default is none.
    pub fn on_event(mut self, sink: impl Fn(Event) + Send + Sync + 'static) -> ServerBuilder {
        self.sink = Some(std::sync::Arc::new(sink));
        self
    }

    /// Installs a fault rule from the start (rules can also be added while serving with
    /// [`Server::add_fault`]). Default is no rules.
    pub fn fault(mut self, rule: FaultRule) -> ServerBuilder {
        self.faults.push(rule);
        self
    }

    /// Installs a shaping rule (latency, bandwidth per connection or in total; see
    /// [`ShapingRule`]) from the start. Default is no rules, and no shaping layer at all.
    pub fn shaping(mut self, rule: ShapingRule) -> ServerBuilder {
        self.shaping.push(rule);
        self
    }

    /// Puts the shaping layer in the stack even without rules, so that
    /// [`Server::add_shaping`] can add rules while serving (as the control API of
    /// `ocipull serve` does). Default is off: a server without shaping rules pays nothing
    /// for shaping.
    pub fn runtime_shaping(mut self, on: bool) -> ServerBuilder {
        self.runtime_shaping = on;
        self
    }

    /// Installs every rule of a [`Rules`](crate::Rules) document (faults and shaping).
    pub fn rules(mut self, rules: crate::Rules) -> ServerBuilder {
        self.faults.extend(rules.faults);
        self.shaping.extend(rules.shaping);
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
    /// [`Server::spawn`]) with a signed-looking query, as registries backed by object storage
    /// do (distribution-spec "Pulling blobs"). The URLs stay valid for ten minutes. Default
    /// is off.
    pub fn blob_redirects(mut self, on: bool) -> ServerBuilder {
        self.blob_redirects = on;
        self
    }

    /// Requires authentication; see [`Auth`]. Default is none.
    pub fn auth(mut self, auth: Auth) -> ServerBuilder {
        self.auth = Some(auth);
        self
    }

    /// How long a connection may take to send a whole request head before it is closed
    /// (applies when served over the network, HTTP/1.1; RFC 9112 §9.5). Default is 30
    /// seconds, hyper's own.
    pub fn header_read_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.header_read_timeout = Some(timeout);
        self
    }

    /// How long a body cut or truncated by a fault ([`Fault::CutAfter`],
    /// [`Fault::TruncateAfter`](crate::Fault::TruncateAfter)) waits before it ends, so hyper
    /// has flushed the bytes before the cut to the client: hyper drops unflushed output when
    /// a body fails. Raise it if a loaded machine shows clients fewer bytes than the cut
    /// point. The wait is on tokio's clock, so paused-clock tests do not wait. Default is
    /// 50 ms.
    ///
    /// [`Fault::CutAfter`]: crate::Fault::CutAfter
    pub fn fault_flush_pause(mut self, pause: Duration) -> ServerBuilder {
        self.flush_pause = Some(pause);
        self
    }

    /// How long [`Server::serve_with_shutdown`] waits, once shutdown is asked for, for open
    /// connections to finish before it drops them. Default is 5 seconds. (A [`TestServer`]
    /// does not wait: see [`Server::spawn`].)
    ///
    /// [`TestServer`]: crate::TestServer
    pub fn shutdown_grace(mut self, grace: Duration) -> ServerBuilder {
        self.shutdown_grace = Some(grace);
        self
    }

    /// Builds the server.
    pub fn build(self) -> Server {
        let faults = Faults::default();
        for rule in self.faults {
            faults.add(rule);
        }
        let shaping = (self.runtime_shaping || !self.shaping.is_empty()).then(|| {
            let s = Shaping::default();
            for rule in self.shaping {
                s.add(rule);
            }
            s
        });
        let parts = Parts {
            shaping,
            store: self.store.unwrap_or_default(),
            policy: ManifestPolicy {
                strict_accept: self.strict_accept,
            },
            log: self.request_log.then(RequestLog::default),
            sink: self.sink,
            faults,
            flush_pause: self.flush_pause.unwrap_or(DEFAULT_FLUSH_PAUSE),
            auth: self.auth.map(AuthState::new),
            cdn: self.blob_redirects.then(|| Arc::new(Cdn::new())),
        };
        Server {
            shared: Arc::new(Shared {
                stack: parts.registry(),
                cdn_stack: parts.cdn(),
                parts,
                tls: self.tls,
                header_read_timeout: self
                    .header_read_timeout
                    .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT),
                shutdown_grace: self.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
            }),
        }
    }
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("tls", &self.tls)
            .field("on_event", &self.sink.is_some())
            .field("request_log", &self.request_log)
            .field("faults", &self.faults)
            .field("shaping", &self.shaping)
            .field("strict_accept", &self.strict_accept)
            .field("blob_redirects", &self.blob_redirects)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// [`Server::add_shaping`] on a server built without shaping.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "this server has no shaping layer: build it with ServerBuilder::shaping or \
     ServerBuilder::runtime_shaping(true) to add shaping rules while serving"
)]
#[non_exhaustive]
pub struct ShapingOff;

/// A pull-only OCI registry: a [`Store`] served over the distribution-spec's pull API, plus
/// the test behaviours configured on its [`ServerBuilder`].
///
/// It is a `tower::Service<http::Request<B>>` for any request body `B` (bodies are ignored:
/// every pull request is body-less), so it can be mounted in any hyper or tower stack;
/// clones share the same content, faults and log. Every answer carries
/// `Docker-Distribution-API-Version: registry/2.0` (distribution-spec "Determining Support").
///
/// # Mounting it inside another service
///
/// Route `/v2/…` to the server and anything else elsewhere; `examples/mount.rs` does the
/// same over TCP with hyper-util. (With axum, `Router::route_service("/v2/{*rest}", server)`
/// mounts it the same way.)
///
/// ```
/// use std::convert::Infallible;
/// use ocipull_server::{Body, Server, http::{Request, Response, StatusCode}};
/// use tower::ServiceExt;
///
/// let registry = Server::new();
/// let app = tower::service_fn(move |request: Request<()>| {
///     let registry = registry.clone();
///     async move {
///         if request.uri().path().starts_with("/v2/") {
///             registry.oneshot(request).await
///         } else {
///             Ok::<_, Infallible>(Response::new(Body::full("the application")))
///         }
///     }
/// });
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// # runtime.block_on(async {
/// let get = |path: &str| Request::get(path).body(()).unwrap();
/// let base = app.clone().oneshot(get("/v2/")).await?;
/// assert_eq!(base.status(), StatusCode::OK);
/// assert_eq!(base.headers()["docker-distribution-api-version"], "registry/2.0");
/// let other = app.clone().oneshot(get("/health")).await?;
/// assert_eq!(other.into_body().collect_bytes().await?, "the application");
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).map_err(|e| e as Box<dyn std::error::Error>)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

struct Shared {
    /// What the stacks were built from, kept for the accessors.
    parts: Parts,
    tls: Option<Tls>,
    stack: Stack,
    cdn_stack: Option<Stack>,
    header_read_timeout: Duration,
    shutdown_grace: Duration,
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
        &self.shared.parts.store
    }

    /// Adds an image, or an index with its child manifests; see [`Store::add`].
    pub fn add(
        &self,
        repository: &Repository,
        tag: Option<Tag>,
        manifest: Manifest,
        content: impl IntoIterator<Item = impl Into<Content>>,
    ) -> Result<(), AddError> {
        self.shared
            .parts
            .store
            .add(repository, tag, manifest, content)
    }

    /// Adds every manifest of an OCI image layout; see [`Store::add_layout`].
    pub fn add_layout(
        &self,
        repository: &Repository,
        dir: impl AsRef<std::path::Path>,
    ) -> Result<LayoutSummary, AddError> {
        self.shared.parts.store.add_layout(repository, dir)
    }

    /// Installs a fault rule now; the handle tells how often it fired.
    pub fn add_fault(&self, rule: FaultRule) -> FaultHandle {
        self.shared.parts.faults.add(rule)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.parts.faults.clear();
    }

    /// Removes the fault rule with this [`FaultHandle::id`]; whether there was one.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.shared.parts.faults.remove(id)
    }

    /// The installed fault rules, oldest first.
    pub fn fault_rules(&self) -> Vec<FaultHandle> {
        self.shared.parts.faults.list()
    }

    /// Installs a shaping rule now; the handle tells how often it fired.
    ///
    /// # Errors
    /// [`ShapingOff`] when the server was built without shaping (no
    /// [`ServerBuilder::shaping`] rule and no [`ServerBuilder::runtime_shaping`]), so its
    /// stack has no shaping layer to add the rule to.
    pub fn add_shaping(&self, rule: ShapingRule) -> Result<ShapingHandle, ShapingOff> {
        self.shared
            .parts
            .shaping
            .as_ref()
            .map(|s| s.add(rule))
            .ok_or(ShapingOff)
    }

    /// Removes the shaping rule with this [`ShapingHandle::id`]; whether there was one.
    pub fn remove_shaping(&self, id: u64) -> bool {
        self.shared
            .parts
            .shaping
            .as_ref()
            .is_some_and(|s| s.remove(id))
    }

    /// Removes every shaping rule.
    pub fn clear_shaping(&self) {
        if let Some(s) = &self.shared.parts.shaping {
            s.clear();
        }
    }

    /// The installed shaping rules, oldest first.
    pub fn shaping_rules(&self) -> Vec<ShapingHandle> {
        self.shared
            .parts
            .shaping
            .as_ref()
            .map(Shaping::list)
            .unwrap_or_default()
    }

    /// How long a connection may take to send a request head; see
    /// [`ServerBuilder::header_read_timeout`].
    pub fn header_read_timeout(&self) -> Duration {
        self.shared.header_read_timeout
    }

    /// The request log, when [`ServerBuilder::request_log`] turned it on.
    pub fn request_log(&self) -> Option<&RequestLog> {
        self.shared.parts.log.as_ref()
    }

    /// The token and credential state, when [`ServerBuilder::auth`] configured it.
    pub fn auth(&self) -> Option<&AuthState> {
        self.shared.parts.auth.as_ref()
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
        if let Some(cdn) = &self.shared.parts.cdn {
            cdn.set_base(url.into());
        }
    }

    /// See [`ServerBuilder::shutdown_grace`].
    pub(crate) fn shutdown_grace(&self) -> Duration {
        self.shared.shutdown_grace
    }

    /// The TLS configuration, when [`ServerBuilder::tls`] set one.
    pub fn tls(&self) -> Option<&Tls> {
        self.shared.tls.as_ref()
    }

    /// The event sink, when [`ServerBuilder::on_event`] set one.
    pub(crate) fn sink(&self) -> Option<EventSink> {
        self.shared.parts.sink.clone()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("store", &self.shared.parts.store)
            .field("request_log", &self.shared.parts.log.is_some())
            .field("blob_redirects", &self.shared.parts.cdn.is_some())
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
        finish(
            self.shared.stack.clone(),
            request.map(|_| ()),
            Origin::Registry,
        )
    }
}

/// The CDN origin of a server with blob redirects, as a `tower::Service`.
#[derive(Clone)]
pub struct CdnOrigin(Stack);

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
        finish(self.0.clone(), request.map(|_| ()), Origin::Cdn)
    }
}
