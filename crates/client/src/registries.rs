//! [`Registries`]: one handle for many registries and repositories, with per-registry
//! settings and mirrors, handing out a [`Client`] per repository.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use ocipull_spec::{Reference, Repository};
use tower::Service;

use crate::mirror::route::{EndpointState, Mirror};
use crate::mirror::{Endpoint, MirrorConfig, Route};
use crate::transport::{BoxTransport, RequestBody};
use crate::{
    BoxError, Client, ClientBuilder, CredentialSource, Credentials, Error, PullOptions, PullReport,
    Scheme,
};

/// A hook run on the builder of every endpoint client, with the endpoint's `host[:port]`.
type Configure = Arc<dyn Fn(&str, ClientBuilder) -> ClientBuilder + Send + Sync>;

/// Settings of one registry host (the registry itself or a mirror), applied to every
/// endpoint at that host.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RegistrySettings {
    scheme: Option<Scheme>,
    credentials: Option<Credentials>,
    ca_certificates: Vec<Vec<u8>>,
}

impl std::fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("scheme", &self.scheme)
            .field("credentials", &self.credentials)
            .field("ca_certificates", &self.ca_certificates.len())
            .finish()
    }
}

impl RegistrySettings {
    /// No settings: the defaults of [`ClientBuilder`].
    pub fn new() -> RegistrySettings {
        RegistrySettings::default()
    }

    /// The scheme, unless an endpoint says otherwise (an `http://` or `https://` URL).
    pub fn scheme(mut self, scheme: Scheme) -> RegistrySettings {
        self.scheme = Some(scheme);
        self
    }

    /// Credentials for this host only.
    pub fn credentials(mut self, credentials: impl Into<Option<Credentials>>) -> RegistrySettings {
        self.credentials = credentials.into();
        self
    }

    /// Also trusts the CA certificates in `pem` for this host.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> RegistrySettings {
        self.ca_certificates.push(pem.into());
        self
    }
}

/// Builds [`Registries`].
#[derive(Default)]
pub struct RegistriesBuilder {
    mirrors: MirrorConfig,
    hosts: HashMap<String, RegistrySettings>,
    configure: Option<Configure>,
    transport: Option<BoxTransport>,
    #[cfg(feature = "hyper")]
    proxy: crate::ProxyConfig,
    credential_source: Option<Arc<dyn CredentialSource>>,
}

impl std::fmt::Debug for RegistriesBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistriesBuilder")
            .field("mirrors", &self.mirrors)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl RegistriesBuilder {
    /// The mirror configuration (from code, or a loader such as
    /// [`MirrorConfig::from_registries_conf`]). Default is none.
    pub fn mirrors(mut self, mirrors: MirrorConfig) -> Self {
        self.mirrors = mirrors;
        self
    }

    /// Settings for the host `host[:port]` — a registry (as its API host, e.g.
    /// `registry-1.docker.io` for Docker Hub) or a mirror. A later call replaces them.
    pub fn host(mut self, host: &str, settings: RegistrySettings) -> Self {
        self.hosts.insert(host.to_ascii_lowercase(), settings);
        self
    }

    /// The forward proxy of the default transports (see [`ClientBuilder::proxy`]). Default
    /// is from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
    #[cfg(feature = "hyper")]
    pub fn proxy(mut self, proxy: crate::ProxyConfig) -> Self {
        self.proxy = proxy;
        self
    }

    /// Where every endpoint client looks credentials up when its host asks for them and
    /// neither the endpoint nor its host's [`RegistrySettings`] has explicit ones (see
    /// [`ClientBuilder::credential_source`]). The source is asked for the endpoint's own
    /// host, so a mirror gets a mirror's credentials, never the upstream's. Default is none.
    pub fn credential_source(mut self, source: impl CredentialSource + 'static) -> Self {
        self.credential_source = Some(Arc::new(source));
        self
    }

    /// Runs `configure` on the builder of every endpoint client, with the endpoint's
    /// `host[:port]`: retry notifications, the `User-Agent`, layers, and — until they have
    /// settings of their own here — credential sources and proxies.
    pub fn configure(
        mut self,
        configure: impl Fn(&str, ClientBuilder) -> ClientBuilder + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Arc::new(configure));
        self
    }

    /// One transport for every endpoint (see [`ClientBuilder::transport`]). Default is one
    /// [`DefaultTransport`](crate::DefaultTransport) per set of trusted CAs, shared by
    /// every client using that set (one connection pool).
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

    /// The handle.
    pub fn build(self) -> Registries {
        Registries {
            inner: Arc::new(Inner {
                mirrors: self.mirrors,
                hosts: self.hosts,
                configure: self.configure,
                transport: self.transport,
                #[cfg(feature = "hyper")]
                proxy: self.proxy,
                credential_source: self.credential_source,
                transports: Mutex::default(),
                clients: Mutex::default(),
            }),
        }
    }
}

/// What tells default transports apart: the CA bundles trusted, and `skip_verify`.
type TransportKey = (Vec<Vec<u8>>, bool);

struct Inner {
    mirrors: MirrorConfig,
    hosts: HashMap<String, RegistrySettings>,
    configure: Option<Configure>,
    transport: Option<BoxTransport>,
    #[cfg(feature = "hyper")]
    proxy: crate::ProxyConfig,
    credential_source: Option<Arc<dyn CredentialSource>>,
    /// Default transports by the CA bundles they trust and whether they check
    /// certificates at all.
    transports: Mutex<HashMap<TransportKey, BoxTransport>>,
    /// Clients by (registry, repository, by tag): their token caches live on.
    clients: Mutex<HashMap<(String, Repository, bool), Client>>,
}

/// Many registries and repositories behind one handle: per-host settings, mirrors, one
/// connection pool.
///
/// [`Registries::client`] takes any [`Reference`], normalises its registry
/// ([`Reference::api_host`]: Docker Hub's API host for `docker.io`), applies the mirror
/// set and host settings, and hands out a [`Client`] for its repository. Its operations try
/// the mirrors, then the registry (see [`crate::mirror`]). Clients for the same repository
/// are reused, keeping their Bearer tokens (which are scoped to a repository); all of them
/// share the transport.
///
/// ```
/// use ocipull_client::mirror::{Endpoint, MirrorConfig, MirrorSet};
/// use ocipull_client::{Credentials, Registries, RegistrySettings};
///
/// let mirrors = MirrorConfig::new().add(
///     "docker.io",
///     MirrorSet::new().mirror(Endpoint::parse("https://mirror.example", false)?),
/// );
/// let registries = Registries::builder()
///     .mirrors(mirrors)
///     // Docker Hub's credentials go to Docker Hub only, never to the mirror.
///     .host("registry-1.docker.io", RegistrySettings::new().credentials(Credentials::basic("me", "secret")))
///     .build();
/// let client = registries.client(&"docker.io/library/alpine:3".parse()?)?;
/// assert_eq!(client.host(), "registry-1.docker.io");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Registries {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registries")
            .field("mirrors", &self.inner.mirrors)
            .field("hosts", &self.inner.hosts)
            .finish_non_exhaustive()
    }
}

impl Default for Registries {
    fn default() -> Self {
        Registries::builder().build()
    }
}

impl Registries {
    /// A builder: no mirrors, no host settings.
    pub fn builder() -> RegistriesBuilder {
        RegistriesBuilder::default()
    }

    /// The mirror configuration.
    pub fn mirrors(&self) -> &MirrorConfig {
        &self.inner.mirrors
    }

    /// A client for the repository of `reference`, with its registry's mirrors.
    ///
    /// Fails with [`Error::Mirror`] when the reference is blocked or a mirror's location
    /// cannot name the repository, and with [`Error::Config`] for unusable settings; no
    /// request is sent.
    pub fn client(&self, reference: &Reference) -> Result<Client, Error> {
        let by_tag = reference.digest().is_none() || reference.tag().is_some();
        let key = (
            reference.registry().to_ascii_lowercase(),
            reference.repository().clone(),
            by_tag,
        );
        if let Some(client) = self.lock_clients().get(&key) {
            return Ok(client.clone());
        }
        let resolved = self.inner.mirrors.resolve(reference)?;
        let namespace = format!("ns={}", reference.registry());
        let mut mirrors = Vec::new();
        for route in &resolved.mirrors {
            let client =
                self.endpoint_client(route, None, Some(&namespace), EndpointState::default())?;
            mirrors.push(Mirror {
                client,
                capabilities: route.endpoint.capability(),
            });
        }
        let upstream = resolved.upstream.unwrap_or_else(|| Route {
            endpoint: Endpoint::new(reference.api_host()).scheme(Scheme::Auto),
            repository: reference.repository().clone(),
        });
        let answers_for = (!upstream
            .endpoint
            .host()
            .eq_ignore_ascii_case(reference.api_host())
            || upstream.repository != *reference.repository())
        .then(|| {
            (
                reference.api_host().to_owned(),
                reference.repository().clone(),
            )
        });
        let state = EndpointState {
            mirrors: mirrors.into(),
            answers_for,
            ..EndpointState::default()
        };
        // The registry's settings under its name (`docker.io`) apply to its API host only:
        // a location elsewhere (registries.conf `location`) is another host.
        let name = upstream
            .endpoint
            .host()
            .eq_ignore_ascii_case(reference.api_host())
            .then(|| reference.registry());
        let client = self.endpoint_client(&upstream, name, None, state)?;
        self.lock_clients().insert(key, client.clone());
        Ok(client)
    }

    /// Pulls `reference` into the layout at `dir` with a client from
    /// [`Registries::client`] (see [`Client::pull`]).
    pub async fn pull(
        &self,
        reference: &Reference,
        dir: impl AsRef<Path>,
        options: &PullOptions,
    ) -> Result<PullReport, Error> {
        self.client(reference)?.pull(reference, dir, options).await
    }

    fn lock_clients(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, Repository, bool), Client>> {
        self.inner.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The client of one endpoint. `registry` is the reference's registry name, whose
    /// settings also apply to the upstream (Docker Hub: `docker.io` and its API host).
    fn endpoint_client(
        &self,
        route: &Route,
        registry: Option<&str>,
        namespace: Option<&str>,
        mut state: EndpointState,
    ) -> Result<Client, Error> {
        let endpoint = &route.endpoint;
        let host = endpoint.host();
        let settings = self
            .inner
            .hosts
            .get(&host.to_ascii_lowercase())
            .or_else(|| registry.and_then(|r| self.inner.hosts.get(&r.to_ascii_lowercase())))
            .cloned()
            .unwrap_or_default();
        let scheme = match endpoint.scheme_setting() {
            Scheme::Auto => settings.scheme.unwrap_or(Scheme::Auto),
            explicit => explicit,
        };
        // An endpoint's own credentials, else those of its host: never another host's. The
        // credential source, when neither has any, is asked for this endpoint's host (the
        // client asks it with its own host), so a mirror never gets the registry's.
        let credentials = endpoint
            .endpoint_credentials()
            .cloned()
            .or(settings.credentials.clone());
        let skip_verify = endpoint.skip_verify_requested();
        if skip_verify {
            tracing::warn!(
                %host,
                "skip_verify: this endpoint's TLS certificate is not checked"
            );
        }
        state.api_root = endpoint.api_root_path().map(str::to_owned);
        if endpoint.sends_namespace_query() {
            state.query = namespace.map(str::to_owned);
        }
        let mut builder = Client::builder(host, route.repository.clone())
            .scheme(scheme)
            .credentials(credentials)
            .endpoint_state(state);
        if let Some(source) = &self.inner.credential_source {
            builder = builder.credential_source(source.clone());
        }
        let mut cas: Vec<Vec<u8>> = endpoint.ca_certificates().to_vec();
        cas.extend(settings.ca_certificates.iter().cloned());
        builder = match &self.inner.transport {
            Some(transport) => builder.transport(transport.clone()),
            None => builder.transport(self.default_transport(cas, skip_verify)?),
        };
        if !endpoint.headers().is_empty() {
            let headers = endpoint.headers().to_vec();
            builder = builder.layer(tower::util::MapRequestLayer::new(
                move |mut request: Request<RequestBody>| {
                    for (name, value) in &headers {
                        request.headers_mut().append(name.clone(), value.clone());
                    }
                    request
                },
            ));
        }
        if let Some(configure) = &self.inner.configure {
            builder = configure(host, builder);
        }
        builder.build()
    }

    /// The shared default transport trusting `cas` in addition to the roots, or any
    /// certificate with `skip_verify`.
    ///
    /// Every default transport uses the one proxy setting of the builder, so the CA set
    /// and `skip_verify` alone key the cache.
    #[cfg(feature = "hyper")]
    fn default_transport(
        &self,
        cas: Vec<Vec<u8>>,
        skip_verify: bool,
    ) -> Result<BoxTransport, Error> {
        let mut transports = self
            .inner
            .transports
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let key = (cas, skip_verify);
        if let Some(t) = transports.get(&key) {
            return Ok(t.clone());
        }
        #[cfg_attr(not(feature = "rustls"), allow(unused_mut))]
        let mut tls = crate::TlsConfig::new();
        #[cfg(feature = "rustls")]
        {
            for pem in &key.0 {
                tls = tls.ca_certificate_pem(pem.clone());
            }
            tls = tls.danger_accept_invalid_certificates(skip_verify);
        }
        #[cfg(not(feature = "rustls"))]
        let _ = skip_verify;
        let transport = crate::transport::boxed(crate::DefaultTransport::with_proxy(
            &tls,
            &self.inner.proxy,
        )?);
        transports.insert(key, transport.clone());
        Ok(transport)
    }

    #[cfg(not(feature = "hyper"))]
    fn default_transport(
        &self,
        _cas: Vec<Vec<u8>>,
        _skip_verify: bool,
    ) -> Result<BoxTransport, Error> {
        Err(crate::ConfigError::NoTransport.into())
    }
}

#[cfg(all(test, feature = "hyper"))]
mod tests {
    use super::*;
    use crate::mirror::MirrorSet;

    #[test]
    fn one_default_transport_is_shared_by_every_client_with_the_same_trust() {
        let mirrors = MirrorConfig::new().add(
            "registry.example",
            MirrorSet::new().mirror(Endpoint::new("mirror.example")),
        );
        let registries = Registries::builder().mirrors(mirrors).build();
        for text in [
            "registry.example/a/b:v1",
            "registry.example/c:v1",
            "ghcr.io/x/y:v1",
        ] {
            registries.client(&text.parse().unwrap()).unwrap();
        }
        let transports = registries.inner.transports.lock().unwrap().len();
        assert_eq!(transports, 1);
        // The same repository is one client (one token cache), by tag or by digest apart.
        let again = registries.client(&"registry.example/a/b:v2".parse().unwrap());
        assert!(again.is_ok());
        assert_eq!(registries.inner.clients.lock().unwrap().len(), 3);
    }
}
