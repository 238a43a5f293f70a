//! The default transport: hyper-util's pooled client, HTTPS through rustls.
//!
//! HTTP/1.1 and HTTP/2 are both offered over TLS by ALPN (Distribution negotiates h2);
//! plain `http` URLs use HTTP/1.1. Connections are pooled and reused across operations.
//! Forward proxies (`HTTPS_PROXY` and the like, or [`ProxyConfig`]) are handled by the
//! connector under TLS and by [`DefaultTransport::call`](tower::Service::call) for
//! plain-HTTP forwarding; see [`super::proxy`].

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower::Service;

use super::ProxyError;
use super::RequestBody;
use super::proxy::{Proxies, ProxyConfig, ProxyConnector};
use crate::{BoxError, Error};

/// How long establishing a TCP connection may take: a registry that has not answered a
/// SYN in this long is unreachable, and the retry loop can try again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an idle pooled connection is kept: long enough to carry a pull's manifest
/// and blob requests, shorter than typical server idle timeouts (Distribution: 60 s+).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// Which certificates the [`DefaultTransport`] trusts for HTTPS.
///
/// The default trusts the compiled-in Mozilla roots (feature `webpki-roots`) and the
/// operating system's roots (feature `native-roots`), and no extra CA.
#[derive(Clone)]
#[cfg_attr(
    not(all(feature = "webpki-roots", feature = "native-roots")),
    allow(dead_code)
)]
pub struct TlsConfig {
    webpki_roots: bool,
    native_roots: bool,
    extra_roots_pem: Vec<Vec<u8>>,
    accept_invalid_certificates: bool,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("webpki_roots", &self.webpki_roots)
            .field("native_roots", &self.native_roots)
            .field("extra_roots", &self.extra_roots_pem.len())
            .field(
                "accept_invalid_certificates",
                &self.accept_invalid_certificates,
            )
            .finish()
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            webpki_roots: true,
            native_roots: true,
            extra_roots_pem: Vec::new(),
            accept_invalid_certificates: false,
        }
    }
}

impl TlsConfig {
    /// The default trust: every root store compiled in, no extra CA.
    pub fn new() -> TlsConfig {
        TlsConfig::default()
    }

    /// Also trusts the CA certificates in `pem` (one or more PEM blocks). Default is no
    /// extra CA; each call adds a bundle.
    #[cfg(feature = "rustls")]
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem.push(pem.into());
        self
    }

    /// Whether the compiled-in Mozilla roots are trusted. Default is yes.
    #[cfg(feature = "webpki-roots")]
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.webpki_roots = enabled;
        self
    }

    /// Whether the operating system's roots are trusted. Default is yes.
    #[cfg(feature = "native-roots")]
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.native_roots = enabled;
        self
    }

    /// Accepts any server certificate: expired, self-signed, for another name. Default is
    /// no. This is containerd's `skip_verify` (hosts.toml), for a registry whose CA cannot
    /// be had; giving the CA with [`TlsConfig::ca_certificate_pem`] is always better.
    ///
    /// The handshake is still checked against the certificate's key, so the traffic is
    /// encrypted — to whoever answered, which may be anyone on the path. Blobs and
    /// manifests pulled by digest stay verified; what a tag resolves to does not.
    #[cfg(feature = "rustls")]
    pub fn danger_accept_invalid_certificates(mut self, accept: bool) -> Self {
        self.accept_invalid_certificates = accept;
        self
    }
}

#[cfg(feature = "rustls")]
type Connector = hyper_rustls::HttpsConnector<ProxyConnector>;
#[cfg(not(feature = "rustls"))]
type Connector = ProxyConnector;

/// The transport a [`Client`](crate::Client) uses unless given another: hyper-util's
/// pooled client, HTTPS through rustls (HTTP/1.1 and HTTP/2 by ALPN), plain HTTP/1.1 for
/// `http` URLs; TCP connects time out after 30 s, idle connections close after 50 s.
/// Forward proxies follow a [`ProxyConfig`], by default the environment's `HTTPS_PROXY`,
/// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`; loopback destinations are always reached
/// directly.
///
/// Build one to wrap it in middleware of your own and pass the result to
/// [`ClientBuilder::transport`](crate::ClientBuilder::transport); to add middleware
/// while keeping this transport, [`ClientBuilder::layer`](crate::ClientBuilder::layer)
/// is shorter. Clones share the connection pool.
#[derive(Clone)]
pub struct DefaultTransport {
    client: HyperClient<Connector, RequestBody>,
    proxies: Arc<Proxies>,
}

impl std::fmt::Debug for DefaultTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultTransport")
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

impl DefaultTransport {
    /// The default transport trusting what `tls` says, with the environment's proxies
    /// ([`ProxyConfig::from_env`]).
    ///
    /// Fails with [`ConfigError::CaCertificate`](crate::ConfigError::CaCertificate) for a CA bundle that is not PEM
    /// certificates, [`ConfigError::Tls`](crate::ConfigError::Tls) when rustls refuses its configuration, or
    /// [`Error::Proxy`] for an unusable `*_PROXY` variable.
    pub fn new(tls: &TlsConfig) -> Result<DefaultTransport, Error> {
        DefaultTransport::with_proxy(tls, &ProxyConfig::from_env())
    }

    /// The default transport trusting what `tls` says, using the proxies `proxy` says
    /// (the environment is read now for [`ProxyConfig::from_env`]).
    ///
    /// Fails like [`DefaultTransport::new`], and with [`Error::Proxy`] for an unusable
    /// proxy URL.
    pub fn with_proxy(tls: &TlsConfig, proxy: &ProxyConfig) -> Result<DefaultTransport, Error> {
        let proxies = Arc::new(proxy.resolve()?);
        let connector = ProxyConnector::new(http_connector(), proxies.clone());
        #[cfg(feature = "rustls")]
        {
            let config = rustls_config(tls)?;
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(connector);
            Ok(DefaultTransport {
                client: client_builder().build(https),
                proxies,
            })
        }
        #[cfg(not(feature = "rustls"))]
        {
            let _ = tls;
            Ok(DefaultTransport {
                client: client_builder().build(connector),
                proxies,
            })
        }
    }
}

/// Errors are hyper-util's, or a [`ProxyError`] when the proxy failed.
impl Service<Request<RequestBody>> for DefaultTransport {
    type Response = Response<hyper::body::Incoming>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::poll_ready(&mut self.client, cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<RequestBody>) -> Self::Future {
        // A plain-HTTP request through a proxy goes to the proxy itself (the connector
        // marks the connection, so hyper-util writes the absolute URI): it carries the
        // proxy's credentials, and a 407 is the proxy's answer (RFC 9110 §15.5.8).
        // Tunnelled HTTPS requests never do: their credentials went on the CONNECT.
        let forwarded = match self.proxies.route(request.uri()) {
            Ok(Some(route)) if request.uri().scheme() == Some(&http::uri::Scheme::HTTP) => {
                if let Some(auth) = route.authorization() {
                    request
                        .headers_mut()
                        .insert(http::header::PROXY_AUTHORIZATION, auth.clone());
                }
                Some((route, super::proxy::target(request.uri())))
            }
            // An unusable proxy fails in the connector, with the same error.
            _ => None,
        };
        let response = Service::call(&mut self.client, request);
        Box::pin(async move {
            match response.await {
                Ok(response) => match forwarded {
                    Some((route, target))
                        if response.status() == StatusCode::PROXY_AUTHENTICATION_REQUIRED =>
                    {
                        Err(route.auth_required(target).into())
                    }
                    _ => Ok(response),
                },
                Err(error) => Err(match crate::classify::find_in_chain::<ProxyError>(&error) {
                    Some(proxy) => proxy.clone().into(),
                    None => error.into(),
                }),
            }
        })
    }
}

fn http_connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http
}

fn client_builder() -> hyper_util::client::legacy::Builder {
    let mut builder = HyperClient::builder(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        // Large layers over HTTP/2: let the flow-control window grow with the bandwidth-
        // delay product instead of capping throughput at the 64 KiB default.
        .http2_adaptive_window(true);
    builder
}

#[cfg(feature = "rustls")]
fn rustls_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, Error> {
    use crate::ConfigError;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    use std::sync::Arc;

    let mut roots = rustls::RootCertStore::empty();
    #[cfg(feature = "webpki-roots")]
    if tls.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    #[cfg(feature = "native-roots")]
    if tls.native_roots {
        // A broken system store should not stop a pull from a registry whose CA is given
        // explicitly or is in the compiled-in roots; unreadable entries are skipped.
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
    }
    for (i, pem) in tls.extra_roots_pem.iter().enumerate() {
        let bad = |reason: String| ConfigError::CaCertificate {
            bundle: i + 1,
            reason,
        };
        let mut any = false;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
            any = true;
        }
        if !any {
            return Err(bad("it holds no PEM certificate".into()).into());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Tls {
            reason: e.to_string(),
        })?;
    let config = if tls.accept_invalid_certificates {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(
                super::no_verify::AcceptAnyCertificate::new(&provider),
            ))
            .with_no_client_auth()
    } else {
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(config)
}
