//! [`ClientBuilder`]: every setting of a [`Client`], each with a named default.

use std::sync::Arc;
use std::time::Duration;

use backon::{Backoff, BackoffBuilder};
use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body::Body;
use ocipull_spec::{Reference, Repository};
use tower::{Layer, Service};

use crate::client::{Inner, Limits};
use crate::retry::{BackoffFactory, RetryNotify};
use crate::stack::{SchemeState, StackConfig, UserLayer};
use crate::transport::{BoxTransport, RequestBody};
use crate::{BoxError, Client, ConfigError, Credentials, Error, Scheme};

/// The default `User-Agent`: `ocipull/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("ocipull/", env!("CARGO_PKG_VERSION"));

/// The largest manifest or index read: far above real manifests (kilobytes) yet bounded,
/// so a hostile registry cannot make the client hold gigabytes. The distribution-spec
/// suggests registries accept at least 4 MiB; images with thousands of layers approach it.
pub const DEFAULT_MANIFEST_LIMIT: u64 = 50 * 1024 * 1024;

/// The part of an error body kept: enough for the distribution-spec's JSON error body.
pub const DEFAULT_ERROR_BODY_LIMIT: usize = 2 * 1024;

/// The largest token response read: tokens are JWTs of a few kilobytes.
pub const DEFAULT_TOKEN_RESPONSE_LIMIT: u64 = 1024 * 1024;

/// How long a response or body may make no progress before the connection counts as
/// failed (and a blob download resumes on a new one): long enough for a slow CDN to start,
/// short enough that a dead connection does not hang a pull.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds a [`Client`].
///
/// ```no_run
/// use ocipull_client::{Client, Credentials};
/// # async fn demo() -> Result<(), ocipull_client::Error> {
/// let client = Client::builder("ghcr.io", "acme/app".parse().unwrap())
///     .credentials(Credentials::basic("bot", "token"))
///     .build()?;
/// # Ok(()) }
/// ```
pub struct ClientBuilder {
    host: String,
    repository: Repository,
    scheme: Scheme,
    transport: Option<BoxTransport>,
    layers: Vec<UserLayer>,
    #[cfg(feature = "hyper")]
    tls: crate::TlsConfig,
    #[cfg(feature = "hyper")]
    proxy: crate::ProxyConfig,
    /// The TLS settings called, to refuse them next to a transport of the caller's.
    tls_settings: Vec<&'static str>,
    credentials: Option<Credentials>,
    credential_source: Option<Arc<dyn crate::CredentialSource>>,
    backoff: Option<BackoffFactory>,
    notify: Option<RetryNotify>,
    user_agent: String,
    limits: Limits,
    stall: Duration,
    endpoint: crate::mirror::route::EndpointState,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("host", &self.host)
            .field("repository", &self.repository)
            .field("scheme", &self.scheme)
            .field("credentials", &self.credentials)
            .field("credential_source", &self.credential_source.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder for `repository` on the registry at `host` (`host[:port]`).
    pub fn builder(host: impl Into<String>, repository: Repository) -> ClientBuilder {
        ClientBuilder {
            host: host.into(),
            repository,
            scheme: Scheme::default(),
            transport: None,
            layers: Vec::new(),
            #[cfg(feature = "hyper")]
            tls: crate::TlsConfig::default(),
            #[cfg(feature = "hyper")]
            proxy: crate::ProxyConfig::from_env(),
            tls_settings: Vec::new(),
            credentials: None,
            credential_source: None,
            backoff: Some(crate::retry::factory(crate::retry::default_backoff())),
            notify: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            limits: Limits {
                manifest: DEFAULT_MANIFEST_LIMIT,
                error_body: DEFAULT_ERROR_BODY_LIMIT,
                token: DEFAULT_TOKEN_RESPONSE_LIMIT,
            },
            stall: DEFAULT_STALL_TIMEOUT,
            endpoint: Default::default(),
        }
    }

    /// A builder for the registry and repository of `reference` (Docker Hub's API host for
    /// `docker.io`).
    pub fn builder_for(reference: &Reference) -> ClientBuilder {
        Client::builder(reference.api_host(), reference.repository().clone())
    }
}

impl ClientBuilder {
    /// The scheme. Default is [`Scheme::Auto`]: HTTPS, with a fallback to plain HTTP for
    /// a registry on a loopback host that answers in plain HTTP.
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// The transport: any `tower::Service` from `http::Request<RequestBody>` to an
    /// `http::Response` with a `Bytes` body (Go's `http.RoundTripper`, in tower terms).
    /// Default is the [`DefaultTransport`](crate::DefaultTransport) (feature `hyper`),
    /// trusting what [`ClientBuilder::ca_certificate_pem`],
    /// [`ClientBuilder::webpki_roots`] and [`ClientBuilder::native_roots`] say.
    ///
    /// Those TLS settings cannot reach a transport given here: combining them is
    /// [`ConfigError::TlsSettingsIgnored`] at [`ClientBuilder::build`]. To keep the default
    /// transport and add middleware, use [`ClientBuilder::layer`]; to wrap it yourself,
    /// build one with [`DefaultTransport::new`](crate::DefaultTransport::new).
    pub fn transport<S, B>(mut self, transport: S) -> Self
    where
        S: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.transport = Some(crate::transport::boxed(transport));
        self
    }

    /// Adds a tower layer around the transport (the default one or the one given to
    /// [`ClientBuilder::transport`]), e.g. one setting a header or recording requests,
    /// without rebuilding the HTTP client. Default is none.
    ///
    /// The layer wraps a [`BoxTransport`](crate::BoxTransport): it sees every request the
    /// transport sends — each redirect hop and token request, with `Authorization` when
    /// there is one — under the redirect and auth layers. Layers stack in call order: the
    /// first call is the outermost, the last wraps the transport directly.
    pub fn layer<L, B>(mut self, layer: L) -> Self
    where
        L: Layer<BoxTransport> + Send + Sync + 'static,
        L::Service:
            Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request<RequestBody>>>::Future: Send,
        <L::Service as Service<Request<RequestBody>>>::Error: Into<BoxError>,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.layers.push(crate::stack::user_layer(layer));
        self
    }

    /// Credentials for the registry (and its token service): a [`Credentials`], or an
    /// `Option` of one (`None`: anonymous). Default is anonymous.
    pub fn credentials(mut self, credentials: impl Into<Option<Credentials>>) -> Self {
        self.credentials = credentials.into();
        self
    }

    /// Where to look up credentials when [`ClientBuilder::credentials`] gives none: e.g. a
    /// [`CredentialChain`](crate::CredentialChain) of the user's auth files and helpers. It
    /// is asked once, for the client's host and repository, when the registry first asks
    /// for authentication; a failed lookup is [`Error::Credential`]. Default is none.
    pub fn credential_source(mut self, source: impl crate::CredentialSource + 'static) -> Self {
        self.credential_source = Some(Arc::new(source));
        self
    }

    /// The backoff factory: called once per operation for a fresh delay sequence. Default
    /// is [`crate::retry::default_backoff`] (exponential with jitter, five retries).
    pub fn backoff<F, B>(mut self, factory: F) -> Self
    where
        F: Fn() -> B + Send + Sync + 'static,
        B: Backoff + 'static,
    {
        self.backoff = Some(Arc::new(move || Box::new(factory()) as Box<dyn Backoff>));
        self
    }

    /// The backoff, from a backon builder (`ExponentialBuilder`, `ConstantBuilder`, …).
    pub fn backoff_builder<B>(mut self, builder: B) -> Self
    where
        B: BackoffBuilder + Clone + 'static,
    {
        self.backoff = Some(crate::retry::factory(builder));
        self
    }

    /// No retries at all: every failure is returned at once.
    pub fn no_retries(mut self) -> Self {
        self.backoff = None;
        self
    }

    /// Called before each retry with the error and the delay. Default is none.
    ///
    /// # Security
    ///
    /// The error's URLs are redacted; it is safe to log.
    pub fn retry_notify(
        mut self,
        notify: impl Fn(&Error, Duration) + Send + Sync + 'static,
    ) -> Self {
        self.notify = Some(Arc::new(notify));
        self
    }

    /// The `User-Agent`. Default is [`DEFAULT_USER_AGENT`].
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The largest manifest read. Default is [`DEFAULT_MANIFEST_LIMIT`].
    pub fn manifest_limit(mut self, bytes: u64) -> Self {
        self.limits.manifest = bytes;
        self
    }

    /// How much of an error body is kept. Default is [`DEFAULT_ERROR_BODY_LIMIT`].
    pub fn error_body_limit(mut self, bytes: usize) -> Self {
        self.limits.error_body = bytes;
        self
    }

    /// The largest token response read. Default is [`DEFAULT_TOKEN_RESPONSE_LIMIT`].
    pub fn token_response_limit(mut self, bytes: u64) -> Self {
        self.limits.token = bytes;
        self
    }

    /// How long a response may make no progress. Default is [`DEFAULT_STALL_TIMEOUT`].
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall = timeout;
        self
    }

    /// Trusts the CA certificates in `pem` (one or more PEM blocks) in addition to the
    /// roots, for the default transport.
    #[cfg(feature = "rustls")]
    ///
    /// Default is no extra CA. For the default transport only (see
    /// [`ClientBuilder::transport`]).
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls = self.tls.ca_certificate_pem(pem);
        self.tls_settings.push("ca_certificate_pem");
        self
    }

    /// Whether the default transport trusts the compiled-in Mozilla roots. Default is yes.
    #[cfg(feature = "webpki-roots")]
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.tls = self.tls.webpki_roots(enabled);
        self.tls_settings.push("webpki_roots");
        self
    }

    /// Whether the default transport trusts the operating system's roots. Default is yes.
    #[cfg(feature = "native-roots")]
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.tls = self.tls.native_roots(enabled);
        self.tls_settings.push("native_roots");
        self
    }

    /// Accepts any server certificate (see
    /// [`TlsConfig::danger_accept_invalid_certificates`](crate::TlsConfig::danger_accept_invalid_certificates)
    /// for what that gives up). Default is no. For the default transport only.
    #[cfg(feature = "rustls")]
    pub fn danger_accept_invalid_certificates(mut self, accept: bool) -> Self {
        self.tls = self.tls.danger_accept_invalid_certificates(accept);
        self.tls_settings.push("danger_accept_invalid_certificates");
        self
    }

    /// The forward proxy of the default transport: [`ProxyConfig::from_env`]
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, like curl), a
    /// [`ProxyConfig::url`], or [`ProxyConfig::none`]. Default is from the environment,
    /// read at [`ClientBuilder::build`]. Loopback registries are always reached directly;
    /// token services and redirect targets (a CDN) follow the same rules as the registry.
    ///
    /// For the default transport only (see [`ClientBuilder::transport`]).
    ///
    /// [`ProxyConfig::from_env`]: crate::ProxyConfig::from_env
    /// [`ProxyConfig::url`]: crate::ProxyConfig::url
    /// [`ProxyConfig::none`]: crate::ProxyConfig::none
    #[cfg(feature = "hyper")]
    pub fn proxy(mut self, proxy: crate::ProxyConfig) -> Self {
        self.proxy = proxy;
        self.tls_settings.push("proxy");
        self
    }

    /// Mirrors and URL shape of the client, set by [`Registries`](crate::Registries).
    pub(crate) fn endpoint_state(mut self, state: crate::mirror::route::EndpointState) -> Self {
        self.endpoint = state;
        self
    }

    /// Builds the client: validates the settings and assembles the stack the crate
    /// documentation draws.
    ///
    /// Fails with [`Error::Config`]: an invalid host or `User-Agent`, an unusable CA
    /// bundle, TLS or proxy settings next to a transport of the caller's, or no way to
    /// speak the scheme with the features built; with [`Error::Proxy`] for an unusable
    /// proxy URL (given, or in a `*_PROXY` variable).
    pub fn build(self) -> Result<Client, Error> {
        // The same host rule as references: `host[:port]` or a bracketed IPv6 address.
        Reference::new(self.host.clone(), self.repository.clone(), None, None).map_err(|_| {
            ConfigError::InvalidHost {
                host: self.host.clone(),
            }
        })?;
        let user_agent =
            HeaderValue::from_str(&self.user_agent).map_err(|_| ConfigError::InvalidUserAgent {
                user_agent: self.user_agent.clone(),
            })?;
        if self.transport.is_some() && !self.tls_settings.is_empty() {
            let mut settings = self.tls_settings.clone();
            settings.dedup();
            return Err(ConfigError::TlsSettingsIgnored { settings }.into());
        }
        let scheme = Arc::new(SchemeState::new(self.scheme, &self.host));
        let transport = match self.transport {
            Some(t) => t,
            None => self.default_transport(&scheme)?,
        };
        let service = crate::stack::build(StackConfig {
            transport,
            layers: self.layers,
            scheme: scheme.clone(),
            credentials: crate::auth::CredentialSetting {
                explicit: self.credentials,
                source: self.credential_source,
                registry: self.host.clone(),
                repository: Some(self.repository.clone()),
            },
            pull_scope: format!("repository:{}:pull", self.repository),
            user_agent: user_agent.clone(),
            token_limit: self.limits.token,
            error_body_limit: self.limits.error_body,
            stall: self.stall,
        });
        Ok(Client {
            inner: Arc::new(Inner {
                scheme: self.scheme,
                scheme_state: scheme,
                host: self.host,
                repository: self.repository,
                service,
                user_agent,
                backoff: self.backoff,
                notify: self.notify,
                limits: self.limits,
                stall: self.stall,
                endpoint: self.endpoint,
            }),
            deadline: None,
        })
    }

    #[cfg(feature = "hyper")]
    fn default_transport(&self, scheme: &SchemeState) -> Result<BoxTransport, Error> {
        #[cfg(not(feature = "rustls"))]
        if scheme.current() == "https" {
            return Err(ConfigError::HttpsUnavailable {
                host: self.host.clone(),
            }
            .into());
        }
        let _ = scheme;
        Ok(crate::transport::boxed(
            crate::DefaultTransport::with_proxy(&self.tls, &self.proxy)?,
        ))
    }

    #[cfg(not(feature = "hyper"))]
    fn default_transport(&self, _scheme: &SchemeState) -> Result<BoxTransport, Error> {
        Err(ConfigError::NoTransport.into())
    }
}
