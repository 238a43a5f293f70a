//! The client stack: the one place the request path is assembled, outermost first.
//!
//! ```text
//! operation          read / head / blob / tags / referrers / pull   (ops/, pull/)
//!  └ retry loop      one backoff per operation, Retry-After, deadline (retry.rs)
//!     └ stall        no response head within the stall timeout → Error::Stalled
//!        └ auth      401 → WWW-Authenticate → Bearer token or Basic → once more
//!           └ redirects        up to 10 hops; Authorization dropped across origins
//!              └ loopback fallback   Scheme::Auto: HTTPS → plain HTTP, once per client
//!                 └ user layers      ClientBuilder::layer, first call outermost
//!                    └ transport     DefaultTransport or ClientBuilder::transport
//! ```
//!
//! The retry loop is not a tower layer: it spans an operation (a blob stream's resumes
//! included), not a request. Everything below it is, built here with `ServiceBuilder`.
//! Token requests of the auth layer go through the layers under it.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, Response, Uri};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceBuilder, ServiceExt as _};

use crate::auth::{AuthConfig, AuthLayer};
use crate::transport::{
    Adapt, BoxTransport, HttpService, RequestBody, ResponseBody, follow_redirects,
};
use crate::{Error, RedactedUrl, Scheme};

/// A user layer, type-erased: wraps the transport (or the layers already around it).
pub(crate) type UserLayer = Arc<dyn Fn(BoxTransport) -> BoxTransport + Send + Sync>;

/// Which scheme the client speaks now; shared by the client's clones and the fallback
/// layer, so the fallback happens once per client.
#[derive(Debug)]
pub(crate) struct SchemeState {
    host: String,
    /// Plain HTTP (from the start, or since the fallback).
    plain: AtomicBool,
    /// Whether an HTTPS request to `host` may fall back to plain HTTP.
    may_fall_back: bool,
}

impl SchemeState {
    pub(crate) fn new(scheme: Scheme, host: &str) -> SchemeState {
        let auto_loopback = scheme == Scheme::Auto && is_loopback_host(host);
        // Without rustls the default transport cannot speak HTTPS at all: a loopback
        // registry under `Auto` is spoken to in plain HTTP from the start.
        let plain = scheme == Scheme::Http || (auto_loopback && !cfg!(feature = "rustls"));
        SchemeState {
            host: host.to_owned(),
            plain: AtomicBool::new(plain),
            may_fall_back: auto_loopback && !plain,
        }
    }

    /// `http` or `https`, as the client speaks now.
    pub(crate) fn current(&self) -> &'static str {
        if self.plain.load(Ordering::Relaxed) {
            "http"
        } else {
            "https"
        }
    }

    /// Whether `uri` is an HTTPS URL of the registry that may be (or was) moved to HTTP.
    fn applies_to(&self, uri: &Uri) -> bool {
        self.may_fall_back
            && uri.scheme_str() == Some("https")
            && uri
                .authority()
                .is_some_and(|a| a.as_str().eq_ignore_ascii_case(&self.host))
    }
}

/// Whether `host` (`host[:port]`) is a loopback name or address: `localhost`,
/// `127.0.0.0/8` or `::1` — the hosts for which Docker and go-containerregistry fall back
/// to plain HTTP. Every other host is spoken to in HTTPS only.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, _)) => inner,
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a connection error says the server answered the TLS handshake in plain HTTP:
/// rustls then finds a record whose content type is not a TLS one (an `HTTP/1.1 …` status
/// line starts with `H`, 0x48), `InvalidMessage(InvalidContentType)`.
pub(crate) fn is_plain_http_answer(error: &Error) -> bool {
    #[cfg(feature = "rustls")]
    if let Error::Connection { source, .. } = error {
        return crate::classify::find_in_chain::<rustls::Error>(source.as_ref()).is_some_and(|e| {
            matches!(
                e,
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
            )
        });
    }
    let _ = error;
    false
}

/// Whether a connection error on a plain-HTTP request says the server answered in TLS:
/// hyper then cannot parse the answer as an HTTP response (a TLS record starts with a
/// content-type byte such as 0x15, not `HTTP/`).
pub(crate) fn is_tls_answer(error: &Error) -> bool {
    #[cfg(feature = "hyper")]
    if let Error::Connection { url, source, .. } = error {
        return url.as_str().starts_with("http://")
            && crate::classify::find_in_chain::<hyper::Error>(source.as_ref())
                .is_some_and(hyper::Error::is_parse);
    }
    let _ = error;
    false
}

/// What the body of a `400` says when an HTTPS server got a plain HTTP request (Go's
/// `net/http`, nginx).
const HTTPS_PORT_ANSWERS: [&str; 2] = [
    "HTTP request to an HTTPS server",
    "plain HTTP request was sent to HTTPS port",
];

/// An error that says the registry speaks the other scheme, rewritten to say so and what
/// to do; any other error unchanged.
pub(crate) fn scheme_hint(error: Error) -> Error {
    if is_plain_http_answer(&error) {
        if let Error::Connection { url, .. } = error {
            return Error::PlainHttpServer { url };
        }
    }
    if is_tls_answer(&error) {
        if let Error::Connection { url, .. } = error {
            return Error::TlsServer { url };
        }
    }
    if let Error::Status(e) = &error {
        let body = String::from_utf8_lossy(&e.body);
        if e.status == http::StatusCode::BAD_REQUEST
            && e.url.as_str().starts_with("http://")
            && HTTPS_PORT_ANSWERS.iter().any(|a| body.contains(a))
        {
            return Error::TlsServer { url: e.url.clone() };
        }
    }
    error
}

/// The loopback fallback layer (see [`SchemeState`]).
#[derive(Clone)]
struct Fallback<S> {
    inner: S,
    state: Arc<SchemeState>,
}

fn with_scheme(request: &Request<RequestBody>, scheme: &str) -> Request<RequestBody> {
    let uri = request.uri();
    let mut parts = uri.clone().into_parts();
    parts.scheme = Some(scheme.parse().expect("http is a scheme"));
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = Uri::from_parts(parts).unwrap_or_else(|_| uri.clone());
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

impl<S> Service<Request<RequestBody>> for Fallback<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>, Error = Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<ResponseBody>;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let inner = self.inner.clone();
        let state = self.state.clone();
        Box::pin(async move {
            if !state.applies_to(request.uri()) {
                return inner.oneshot(request).await;
            }
            if state.plain.load(Ordering::Relaxed) {
                return inner.oneshot(with_scheme(&request, "http")).await;
            }
            let plain = with_scheme(&request, "http");
            match inner.clone().oneshot(request).await {
                Err(error) if is_plain_http_answer(&error) => {
                    tracing::info!(
                        host = %state.host,
                        "the loopback registry answers in plain HTTP; using HTTP from now on"
                    );
                    state.plain.store(true, Ordering::Relaxed);
                    inner.oneshot(plain).await
                }
                other => other,
            }
        })
    }
}

/// The stall layer: the response head must arrive within the stall timeout.
#[derive(Clone)]
struct Stall<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Service<Request<RequestBody>> for Stall<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>, Error = Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<ResponseBody>;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let inner = self.inner.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let method = request.method().clone();
            let url = RedactedUrl::from(request.uri());
            match tokio::time::timeout(timeout, inner.oneshot(request)).await {
                Ok(result) => result,
                Err(_) => Err(Error::Stalled {
                    method,
                    url,
                    timeout,
                }),
            }
        })
    }
}

/// What the stack is built from.
pub(crate) struct StackConfig {
    pub(crate) transport: BoxTransport,
    /// In the order of the `layer` calls: the first is outermost.
    pub(crate) layers: Vec<UserLayer>,
    pub(crate) scheme: Arc<SchemeState>,
    pub(crate) credentials: crate::auth::CredentialSetting,
    pub(crate) pull_scope: String,
    pub(crate) user_agent: HeaderValue,
    pub(crate) token_limit: u64,
    pub(crate) error_body_limit: usize,
    pub(crate) stall: Duration,
}

/// Builds the stack under the retry loop, in the order the module documentation draws.
pub(crate) fn build(config: StackConfig) -> HttpService {
    // The first layer given is the outermost, so the last one wraps the transport first.
    let user = config
        .layers
        .iter()
        .rev()
        .fold(config.transport, |inner, layer| layer(inner));
    let http: HttpService = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer_fn(follow_redirects)
            .layer_fn(|inner| Fallback {
                inner,
                state: config.scheme.clone(),
            })
            .layer_fn(Adapt)
            .service(user),
    );
    let auth = AuthLayer::new(AuthConfig {
        credentials: config.credentials,
        pull_scope: config.pull_scope,
        http: http.clone(),
        user_agent: config.user_agent,
        token_limit: config.token_limit,
        error_body_limit: config.error_body_limit,
        stall: config.stall,
    });
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer_fn(|inner| Stall {
                inner,
                timeout: config.stall,
            })
            .layer(auth)
            .service(http),
    )
}

/// Makes a [`UserLayer`] from a tower layer.
pub(crate) fn user_layer<L, B>(layer: L) -> UserLayer
where
    L: Layer<BoxTransport> + Send + Sync + 'static,
    L::Service:
        Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + Sync + 'static,
    <L::Service as Service<Request<RequestBody>>>::Future: Send,
    <L::Service as Service<Request<RequestBody>>>::Error: Into<crate::BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
    Arc::new(move |inner| crate::transport::boxed(layer.layer(inner)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST:5000",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "ghcr.io",
            "registry.example:5000",
            "10.0.0.1:5000",
            "192.168.1.1",
            "localhost.example.com",
            "[::2]:5000",
            "[::1",
            "128.0.0.1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn only_auto_on_a_loopback_host_may_fall_back() {
        for (scheme, host, falls_back) in [
            (Scheme::Auto, "127.0.0.1:5000", cfg!(feature = "rustls")),
            (Scheme::Auto, "localhost:5000", cfg!(feature = "rustls")),
            (Scheme::Auto, "ghcr.io", false),
            (Scheme::Auto, "10.1.2.3:5000", false),
            (Scheme::Https, "127.0.0.1:5000", false),
            (Scheme::Http, "127.0.0.1:5000", false),
        ] {
            let state = SchemeState::new(scheme, host);
            let uri: Uri = format!("https://{host}/v2/").parse().unwrap();
            assert_eq!(state.applies_to(&uri), falls_back, "{scheme:?} {host}");
        }
        assert_eq!(SchemeState::new(Scheme::Auto, "ghcr.io").current(), "https");
        assert_eq!(SchemeState::new(Scheme::Http, "ghcr.io").current(), "http");
        assert_eq!(
            SchemeState::new(Scheme::Https, "127.0.0.1").current(),
            "https"
        );
        // Another host (a CDN the registry redirects to) is never moved to HTTP.
        let state = SchemeState::new(Scheme::Auto, "127.0.0.1:5000");
        assert!(!state.applies_to(&"https://127.0.0.1:6000/blob".parse().unwrap()));
    }

    #[cfg(feature = "rustls")]
    #[test]
    fn plain_http_answer_is_recognised_through_io_errors() {
        let rustls_error =
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error);
        let error = Error::Connection {
            method: http::Method::GET,
            url: RedactedUrl::new("https://127.0.0.1/v2/"),
            source: Box::new(io),
        };
        assert!(is_plain_http_answer(&error));
        let other = Error::Connection {
            method: http::Method::GET,
            url: RedactedUrl::new("https://127.0.0.1/v2/"),
            source: Box::new(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        };
        assert!(!is_plain_http_answer(&other));
    }
}

#[cfg(test)]
mod stack_tests {
    use ocipull_spec::{Reference, Tag};

    use crate::test_transport::{Reply, Script};
    use crate::transport::RequestBody;
    use crate::{ConfigError, Error, PullOptions};

    fn mark(
        value: &'static str,
    ) -> tower::util::MapRequestLayer<
        impl Fn(http::Request<RequestBody>) -> http::Request<RequestBody> + Clone,
    > {
        tower::util::MapRequestLayer::new(move |mut request: http::Request<RequestBody>| {
            request
                .headers_mut()
                .append("x-layer", http::HeaderValue::from_static(value));
            request
        })
    }

    #[tokio::test]
    async fn user_layers_wrap_the_transport_first_call_outermost() {
        let script = Script::new([Reply::new(404)]);
        let client = script
            .builder()
            .layer(mark("first"))
            .layer(mark("second"))
            .no_retries()
            .build()
            .unwrap();
        let tag: Tag = "v1".parse().unwrap();
        let _ = client.read(&tag).await;
        let seen = script.seen();
        assert_eq!(seen.len(), 1);
        let order: Vec<&str> = seen[0]
            .headers
            .get_all("x-layer")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        // The outermost layer runs first, so its header is appended first.
        assert_eq!(order, ["first", "second"]);
    }

    #[cfg(feature = "rustls")]
    #[test]
    fn tls_settings_with_a_transport_are_refused() {
        let script = Script::new([]);
        let err = script
            .builder()
            .ca_certificate_pem(b"not used".to_vec())
            .native_roots(false)
            .build()
            .unwrap_err();
        match err {
            Error::Config(ConfigError::TlsSettingsIgnored { settings }) => {
                assert_eq!(settings, ["ca_certificate_pem", "native_roots"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_reference_elsewhere_is_refused_without_a_request() {
        let script = Script::new([]);
        let client = script.client();
        let dir = std::env::temp_dir().join("ocipull-wrong-target-never-created");
        for text in [
            "ghcr.io/a/b:v1",
            "registry.test/other/repo:v1",
            "docker.io/a/b:v1",
        ] {
            let reference: Reference = text.parse().unwrap();
            let err = client
                .pull(&reference, &dir, &PullOptions::default())
                .await
                .unwrap_err();
            assert!(
                matches!(&err, Error::WrongTarget { reference: r, client_host, .. }
                    if **r == reference && client_host == "registry.test"),
                "{text}: {err:?}"
            );
        }
        assert!(script.seen().is_empty(), "no request may be sent");
        assert!(!dir.exists());
        // The client's own registry, spelled in another case, is the same registry.
        let same: Reference = "REGISTRY.test/a/b:v1".parse().unwrap();
        let err = client
            .pull(&same, &dir, &PullOptions::default())
            .await
            .unwrap_err();
        assert!(!matches!(err, Error::WrongTarget { .. }), "{err:?}");
    }
}

#[cfg(all(test, feature = "rustls"))]
mod scheme_hint_tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use crate::{Client, Error, Scheme};

    /// A one-connection server on loopback answering whatever arrives with `answer`.
    async fn answering(answer: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer).await;
                let _ = socket.shutdown().await;
            }
        });
        addr.to_string()
    }

    fn client(host: &str, scheme: Scheme) -> Client {
        Client::builder(host, "a/b".parse().unwrap())
            .scheme(scheme)
            .no_retries()
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn https_to_a_plain_http_server_says_so_and_what_to_do() {
        let host = answering(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
        let err = client(&host, Scheme::Https).tags().await.unwrap_err();
        assert!(matches!(err, Error::PlainHttpServer { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("speaks plain HTTP") && text.contains("--insecure-http"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn plain_http_to_a_tls_server_says_so_and_what_to_do() {
        // A TLS alert record (content type 21, TLS 1.2, length 2: fatal, decode_error).
        let host = answering(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]).await;
        let err = client(&host, Scheme::Http).tags().await.unwrap_err();
        assert!(matches!(err, Error::TlsServer { .. }), "{err:?}");
        assert!(err.to_string().contains("drop --insecure-http"), "{err}");
        // Go's and nginx's answer to plain HTTP on an HTTPS port.
        let host = answering(
            b"HTTP/1.0 400 Bad Request\r\ncontent-length: 48\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        )
        .await;
        let err = client(&host, Scheme::Http).tags().await.unwrap_err();
        assert!(matches!(err, Error::TlsServer { .. }), "{err:?}");
    }
}
