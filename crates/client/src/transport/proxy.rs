//! Forward proxies for the default transport: which destinations go through one, and the
//! connector that reaches them.
//!
//! Which proxy a destination uses is decided by hyper-util's [`Matcher`] (the `*_PROXY`
//! conventions of curl, with Go's precedence of the upper-case names), with one rule of
//! this crate before it: loopback destinations never use a proxy (Go's `net/http` rule).
//!
//! - An `https` destination goes through a tunnel: an HTTP `CONNECT` to the proxy (RFC 9110
//!   §9.3.6), `Proxy-Authorization` on the `CONNECT` only, then TLS with the registry over
//!   the tunnel, so the proxy sees neither the requests nor the registry credentials.
//! - An `http` destination is forwarded: the request goes to the proxy in absolute form
//!   (RFC 9112 §3.2.2) with `Proxy-Authorization` (RFC 9110 §11.7.1 and §7.3: a client
//!   configured with a proxy sends it every request for the origin).

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::{HeaderValue, Uri};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::{Service, ServiceExt as _};

use super::ProxyError;
use crate::{BoxError, RedactedUrl};

/// The environment variables read, in the order of precedence within each pair (Go's
/// `httpproxy.FromEnvironment` and hyper-util read the upper-case name first).
const HTTPS_PROXY: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
const HTTP_PROXY: [&str; 2] = ["HTTP_PROXY", "http_proxy"];
const ALL_PROXY: [&str; 2] = ["ALL_PROXY", "all_proxy"];
const NO_PROXY: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// Which forward proxy the [`DefaultTransport`](crate::DefaultTransport) uses.
///
/// The default, [`ProxyConfig::from_env`], follows the environment like curl does:
///
/// - `HTTPS_PROXY` for `https` destinations, `HTTP_PROXY` for `http` ones, `ALL_PROXY`
///   for either when the specific one is unset; each in upper or lower case, the upper
///   case winning when both are set (Go's order). A value without a scheme means `http://`.
///   Only `http://` proxies are supported; `https://` and SOCKS proxies are refused with
///   [`ProxyError::UnsupportedScheme`] rather than ignored.
/// - `NO_PROXY`: comma-separated host names (each matching itself and its subdomains, a
///   leading dot allowed), IP addresses, CIDR blocks, or `*` for everything (curl's rules).
/// - When `REQUEST_METHOD` is set (the program runs as CGI), `HTTP_PROXY` is ignored: in
///   CGI it can come from a request's `Proxy` header ("httpoxy"; Go does the same).
///
/// **Loopback destinations never use a proxy**, whatever the settings: `localhost`, names
/// under `.localhost` (RFC 6761 §6.3), 127.0.0.0/8 and `::1`. That is Go's `net/http` rule
/// (curl would proxy them unless `NO_PROXY` lists them); a proxy elsewhere cannot reach
/// this machine's loopback anyway, and a registry on `127.0.0.1` — a test registry, a
/// local mirror — keeps working when `HTTPS_PROXY` is set for the outside world.
///
/// Proxy credentials come from the proxy URL's user information
/// (`http://user:password@proxy:3128`, percent-encoded), are sent as Basic
/// `Proxy-Authorization` to the proxy only, and are never printed: `Debug`, errors and
/// logs show the proxy URL with the user information replaced.
///
/// The environment is read when the transport is built
/// ([`ClientBuilder::build`](crate::ClientBuilder::build) or
/// [`DefaultTransport::with_proxy`](crate::DefaultTransport::with_proxy)), not per request.
///
/// ```
/// use ocipull_client::ProxyConfig;
/// let proxy = ProxyConfig::url("http://user:secret@proxy.internal:3128")
///     .no_proxy("registry.internal, 10.0.0.0/8");
/// assert!(!format!("{proxy:?}").contains("secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    source: Source,
    no_proxy: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
enum Source {
    Env,
    None,
    Url(String),
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig::from_env()
    }
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ProxyConfig");
        match &self.source {
            Source::Env => d.field("source", &"environment"),
            Source::None => d.field("source", &"none"),
            Source::Url(url) => d.field("url", &RedactedUrl::new(url)),
        };
        d.field("no_proxy", &self.no_proxy).finish()
    }
}

impl ProxyConfig {
    /// The proxies the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
    /// `NO_PROXY`, either case; see the type's documentation). The default.
    pub fn from_env() -> ProxyConfig {
        ProxyConfig {
            source: Source::Env,
            no_proxy: None,
        }
    }

    /// No proxy for any destination, whatever the environment says.
    pub fn none() -> ProxyConfig {
        ProxyConfig {
            source: Source::None,
            no_proxy: None,
        }
    }

    /// The proxy at `url` (`http://[user:password@]host[:port]`; port 80 when left out;
    /// `host:port` means `http://host:port`) for every destination, `http` and `https`
    /// alike, except loopback ones and those [`ProxyConfig::no_proxy`] lists. The
    /// environment is not read. An unusable URL fails the build with [`ProxyError`].
    pub fn url(url: impl Into<String>) -> ProxyConfig {
        ProxyConfig {
            source: Source::Url(url.into()),
            no_proxy: None,
        }
    }

    /// The destinations that bypass the proxy, in `NO_PROXY` syntax: comma-separated host
    /// names (matching subdomains too), IP addresses, CIDR blocks, or `*`. Replaces
    /// `NO_PROXY` for [`ProxyConfig::from_env`]; no effect with [`ProxyConfig::none`].
    pub fn no_proxy(mut self, list: impl Into<String>) -> ProxyConfig {
        self.no_proxy = Some(list.into());
        self
    }

    /// The rules this configuration stands for, with the environment read now.
    pub(crate) fn resolve(&self) -> Result<Proxies, ProxyError> {
        let matcher = match &self.source {
            Source::None => None,
            Source::Url(url) => {
                check_proxy_url(None, url)?;
                Some(
                    Matcher::builder()
                        .all(url.as_str())
                        .no(self.no_proxy.clone().unwrap_or_default())
                        .build(),
                )
            }
            Source::Env => {
                let cgi = std::env::var_os("REQUEST_METHOD").is_some();
                let (https_name, https) = first_env(&HTTPS_PROXY);
                let (http_name, http) = if cgi {
                    ("", String::new())
                } else {
                    first_env(&HTTP_PROXY)
                };
                let (all_name, all) = first_env(&ALL_PROXY);
                check_proxy_url(Some(https_name), &https)?;
                check_proxy_url(Some(http_name), &http)?;
                check_proxy_url(Some(all_name), &all)?;
                let no = match &self.no_proxy {
                    Some(list) => list.clone(),
                    None => first_env(&NO_PROXY).1,
                };
                if https.is_empty() && http.is_empty() && all.is_empty() {
                    None
                } else {
                    Some(
                        Matcher::builder()
                            .https(https)
                            .http(http)
                            .all(all)
                            .no(no)
                            .build(),
                    )
                }
            }
        };
        Ok(Proxies { matcher })
    }
}

/// The first of `names` set (to anything, even empty), and its value.
fn first_env(names: &[&'static str; 2]) -> (&'static str, String) {
    for name in names {
        if let Ok(value) = std::env::var(name) {
            return (name, value);
        }
    }
    (names[0], String::new())
}

/// Refuses a proxy URL the matcher would drop silently (so the destination would be
/// reached directly) or that the connector cannot speak to: not a URI, no host, or a
/// scheme other than `http`. An empty value means no proxy.
fn check_proxy_url(variable: Option<&'static str>, url: &str) -> Result<(), ProxyError> {
    if url.is_empty() {
        return Ok(());
    }
    let invalid = |reason: &'static str| ProxyError::InvalidUrl {
        variable,
        url: RedactedUrl::new(url),
        reason,
    };
    let uri: Uri = url.parse().map_err(|_| invalid("it is not a URL"))?;
    match uri.scheme_str() {
        None | Some("http") => {}
        Some(scheme) => {
            return Err(ProxyError::UnsupportedScheme {
                variable,
                proxy: RedactedUrl::new(url),
                scheme: scheme.to_owned(),
            });
        }
    }
    let host = uri.authority().map(|a| a.host()).unwrap_or_default();
    if host.is_empty() {
        return Err(invalid("it names no host"));
    }
    Ok(())
}

/// Whether `host` (from a URI, IPv6 in brackets) is this machine's loopback: `localhost`,
/// a name under `.localhost`, 127.0.0.0/8, `::1` (also as `::ffff:127.x.y.z`).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return ip.to_canonical().is_loopback();
    }
    let lower = host.to_ascii_lowercase();
    lower == "localhost" || lower.ends_with(".localhost")
}

/// The resolved proxy rules of one transport.
pub(crate) struct Proxies {
    matcher: Option<Matcher>,
}

impl fmt::Debug for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // hyper-util's Debug shows the proxy URIs without their credentials.
        f.debug_struct("Proxies")
            .field("matcher", &self.matcher)
            .finish()
    }
}

/// The proxy a destination goes through.
#[derive(Clone)]
pub(crate) struct Route {
    /// The proxy's URI, without user information.
    uri: Uri,
    /// Basic `Proxy-Authorization`, marked sensitive.
    auth: Option<HeaderValue>,
}

impl Route {
    fn name(&self) -> RedactedUrl {
        RedactedUrl::from(&self.uri)
    }

    /// The `Proxy-Authorization` to send with a forwarded (plain HTTP) request.
    pub(crate) fn authorization(&self) -> Option<&HeaderValue> {
        self.auth.as_ref()
    }

    /// The error for a `407` answer.
    pub(crate) fn auth_required(&self, target: String) -> ProxyError {
        ProxyError::AuthenticationRequired {
            proxy: self.name(),
            target,
            credentials_sent: self.auth.is_some(),
        }
    }
}

impl Proxies {
    /// The proxy for `dst`, `None` to connect directly, or an error for a proxy the
    /// connector cannot speak to.
    pub(crate) fn route(&self, dst: &Uri) -> Result<Option<Route>, ProxyError> {
        let Some(matcher) = &self.matcher else {
            return Ok(None);
        };
        let Some(host) = dst.host() else {
            return Ok(None);
        };
        if is_loopback_host(host) {
            return Ok(None);
        }
        let Some(intercept) = matcher.intercept(dst) else {
            return Ok(None);
        };
        let uri = intercept.uri().clone();
        if uri.scheme_str() != Some("http") {
            return Err(ProxyError::UnsupportedScheme {
                variable: None,
                proxy: RedactedUrl::from(&uri),
                scheme: uri.scheme_str().unwrap_or_default().to_owned(),
            });
        }
        let auth = intercept.basic_auth().cloned().map(|mut value| {
            value.set_sensitive(true);
            value
        });
        Ok(Some(Route { uri, auth }))
    }
}

/// `scheme://host[:port]` of a destination, for errors (a connector sees no path).
pub(crate) fn target(dst: &Uri) -> String {
    RedactedUrl::new(&format!(
        "{}://{}",
        dst.scheme_str().unwrap_or("http"),
        dst.authority().map_or("", |a| a.as_str())
    ))
    .as_str()
    .to_owned()
}

/// An error and its sources on one line.
fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl ProxyError {
    /// Maps hyper-util's tunnel error, which it does not export by name: its variants are
    /// told apart by their messages (each pinned by a test below).
    fn from_tunnel(
        route: &Route,
        target: String,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> ProxyError {
        let message = error.to_string();
        let proxy = route.name();
        if message.contains("failed to create underlying connection") {
            // The connector's error is only lent by the tunnel's; keep its text.
            let source: Arc<dyn std::error::Error + Send + Sync> = match error.source() {
                Some(inner) => Arc::from(BoxError::from(chain_text(inner))),
                None => Arc::new(error),
            };
            ProxyError::Connect {
                proxy,
                target,
                source,
            }
        } else if message.contains("proxy authorization required") {
            route.auth_required(target)
        } else if message.contains("unsuccessful") {
            ProxyError::TunnelRefused { proxy, target }
        } else {
            let reason = chain_text(&error);
            let reason = reason.trim_start_matches("tunnel error: ").to_owned();
            ProxyError::Tunnel {
                proxy,
                target,
                reason,
            }
        }
    }
}

/// A TCP connection, directly to the destination or to a proxy; marked
/// [`Connected::proxy`] when requests on it go to a forwarding proxy, so hyper-util's
/// client sends them in absolute form.
pub(crate) struct ProxyStream {
    io: TokioIo<TcpStream>,
    forwarding: bool,
}

impl Connection for ProxyStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forwarding)
    }
}

impl Read for ProxyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for ProxyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

/// The connector under TLS: per destination, a direct TCP connection, a `CONNECT`
/// tunnel through the proxy (hyper-util's [`Tunnel`]) for `https`, or a connection to
/// the proxy for `http`.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    http: HttpConnector,
    proxies: Arc<Proxies>,
}

impl ProxyConnector {
    pub(crate) fn new(http: HttpConnector, proxies: Arc<Proxies>) -> ProxyConnector {
        ProxyConnector { http, proxies }
    }
}

impl Service<Uri> for ProxyConnector {
    type Response = ProxyStream;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<ProxyStream, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // HttpConnector is always ready; each call uses a clone of it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let route = self.proxies.route(&dst);
        let http = self.http.clone();
        Box::pin(async move {
            let Some(route) = route? else {
                let io = http.oneshot(dst).await?;
                return Ok(ProxyStream {
                    io,
                    forwarding: false,
                });
            };
            let target = target(&dst);
            tracing::debug!(proxy = %route.name(), %target, "connecting through a proxy");
            if dst.scheme() == Some(&http::uri::Scheme::HTTPS) {
                let mut tunnel = Tunnel::new(route.uri.clone(), http);
                if let Some(auth) = route.auth.clone() {
                    tunnel = tunnel.with_auth(auth);
                }
                let io = tunnel
                    .oneshot(dst)
                    .await
                    .map_err(|e| ProxyError::from_tunnel(&route, target, e))?;
                Ok(ProxyStream {
                    io,
                    forwarding: false,
                })
            } else {
                let io =
                    http.oneshot(route.uri.clone())
                        .await
                        .map_err(|e| ProxyError::Connect {
                            proxy: route.name(),
                            target,
                            source: Arc::new(e),
                        })?;
                Ok(ProxyStream {
                    io,
                    forwarding: true,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn route_of(config: &ProxyConfig, dst: &str) -> Option<Route> {
        config
            .resolve()
            .unwrap()
            .route(&dst.parse().unwrap())
            .unwrap()
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "registry.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "192.0.2.2",
            "localhost.example",
            "[::2]",
            "mylocalhost",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn loopback_destinations_never_use_the_proxy() {
        let config = ProxyConfig::url("http://proxy.test:3128");
        for dst in [
            "http://127.0.0.1:5000/v2/",
            "https://localhost:5000/v2/",
            "https://[::1]:5000/v2/",
        ] {
            assert!(route_of(&config, dst).is_none(), "{dst}");
        }
        let route = route_of(&config, "https://registry.test/v2/").unwrap();
        assert_eq!(route.uri, "http://proxy.test:3128/");
        assert!(route.auth.is_none());
    }

    #[test]
    fn no_proxy_and_none() {
        let config = ProxyConfig::url("proxy.test:3128").no_proxy("internal.test, 10.0.0.0/8");
        assert!(route_of(&config, "https://registry.internal.test/v2/").is_none());
        assert!(route_of(&config, "http://10.1.2.3/v2/").is_none());
        assert!(route_of(&config, "http://192.0.2.2/v2/").is_some());
        assert!(route_of(&ProxyConfig::none(), "https://registry.test/").is_none());
    }

    #[test]
    fn credentials_become_a_sensitive_basic_header_and_are_never_shown() {
        let config = ProxyConfig::url("http://us%40er:s3cr%3At@proxy.test:3128");
        let route = route_of(&config, "https://registry.test/").unwrap();
        let auth = route.auth.clone().unwrap();
        assert!(auth.is_sensitive());
        // base64("us@er:s3cr:t")
        assert_eq!(auth, "Basic dXNAZXI6czNjcjp0");
        assert_eq!(route.uri, "http://proxy.test:3128/");
        let shown = format!(
            "{config:?} {:?} {}",
            config.resolve().unwrap(),
            route.auth_required("https://registry.test".into())
        );
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(!shown.contains("dXNAZXI6"), "{shown}");
    }

    #[test]
    fn unusable_urls_are_refused_not_ignored() {
        for (url, want) in [
            ("https://proxy.test:3128", "scheme \"https\""),
            ("socks5://u:secret@proxy.test:1080", "scheme \"socks5\""),
            ("http://", "not a URL"),
            ("http://u:secret@ bad", "not a URL"),
        ] {
            let err = ProxyConfig::url(url).resolve().unwrap_err();
            let text = err.to_string();
            assert!(text.contains(want), "{url}: {text}");
            assert!(!text.contains("secret"), "{text}");
            assert!(!err.is_transient());
        }
    }

    /// A one-shot fake proxy on loopback answering the first request with `answer`; returns
    /// its URL and what it received.
    async fn fake_proxy(answer: &'static [u8]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://u:pw@{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            socket.write_all(answer).await.unwrap();
            got
        });
        (url, task)
    }

    async fn tunnel_error(answer: &'static [u8]) -> (ProxyError, String) {
        let (url, seen) = fake_proxy(answer).await;
        let proxies = Arc::new(ProxyConfig::url(url).resolve().unwrap());
        let mut connector = ProxyConnector::new(HttpConnector::new(), proxies);
        let err = match connector
            .call("https://registry.test:8443/".parse().unwrap())
            .await
        {
            Ok(_) => panic!("the tunnel opened"),
            Err(e) => e,
        };
        let seen = String::from_utf8(seen.await.unwrap()).unwrap();
        (*err.downcast::<ProxyError>().unwrap(), seen)
    }

    #[tokio::test]
    async fn connect_carries_the_credentials_and_407_is_typed() {
        let (err, seen) = tunnel_error(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        assert!(
            seen.starts_with("CONNECT registry.test:8443 HTTP/1.1\r\n"),
            "{seen}"
        );
        assert!(
            seen.contains("Proxy-Authorization: Basic dTpwdw==\r\n"),
            "{seen}"
        );
        assert!(
            matches!(
                err,
                ProxyError::AuthenticationRequired {
                    credentials_sent: true,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.to_string().contains("u:pw"), "{err}");
        assert!(!err.is_transient());
    }

    #[tokio::test]
    async fn forwarded_requests_are_absolute_with_credentials_and_407_is_typed() {
        use tower::ServiceExt as _;
        let (url, seen) =
            fake_proxy(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                .await;
        let transport = crate::DefaultTransport::with_proxy(
            &crate::TlsConfig::default(),
            &ProxyConfig::url(url),
        )
        .unwrap();
        let request = http::Request::get("http://registry.test:5000/v2/")
            .body(crate::RequestBody::default())
            .unwrap();
        let err = transport.oneshot(request).await.unwrap_err();
        let err = *err.downcast::<ProxyError>().unwrap();
        let seen = String::from_utf8(seen.await.unwrap()).unwrap();
        assert!(
            seen.starts_with("GET http://registry.test:5000/v2/ HTTP/1.1\r\n"),
            "{seen}"
        );
        assert!(
            seen.to_ascii_lowercase()
                .contains("proxy-authorization: basic dtpwdw==\r\n"),
            "{seen}"
        );
        assert!(
            matches!(
                &err,
                ProxyError::AuthenticationRequired { credentials_sent: true, target, .. }
                    if target == "http://registry.test:5000"
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn refused_and_broken_tunnels() {
        let (err, _) = tunnel_error(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
        assert!(matches!(err, ProxyError::TunnelRefused { .. }), "{err:?}");
        assert!(
            err.to_string().contains("https://registry.test:8443"),
            "{err}"
        );
        let (err, _) = tunnel_error(b"").await;
        assert!(matches!(err, ProxyError::Tunnel { .. }), "{err:?}");
        assert!(err.is_transient());
    }

    #[tokio::test]
    async fn a_proxy_that_refuses_connections_is_named() {
        // A port nothing listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let proxies = Arc::new(
            ProxyConfig::url(format!("http://u:secret@127.0.0.1:{port}"))
                .resolve()
                .unwrap(),
        );
        for dst in ["https://registry.test/", "http://registry.test/"] {
            let mut connector = ProxyConnector::new(HttpConnector::new(), proxies.clone());
            let err = match connector.call(dst.parse().unwrap()).await {
                Ok(_) => panic!("connected"),
                Err(e) => *e.downcast::<ProxyError>().unwrap(),
            };
            assert!(matches!(err, ProxyError::Connect { .. }), "{err:?}");
            let text = err.to_string();
            assert!(
                text.contains(&format!("the proxy http://127.0.0.1:{port}/")),
                "{text}"
            );
            assert!(!text.contains("secret"), "{text}");
            assert!(err.is_transient());
        }
    }
}
