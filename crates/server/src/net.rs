//! Serving over TCP with hyper-util (HTTP/1.1 and h2c), and the [`TestServer`] helper.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ocipull_spec::{Reference, ReferenceError};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::server::{CdnOrigin, Server};
use crate::testing::{ConnectionInfo, Event, EventSink};

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again, so the
/// loop does not spin.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How long a [`TestServer`] being dropped waits for open connections: not at all. The
/// test's client often runs on the very thread that drops the server, so it could never
/// answer an HTTP/2 GOAWAY, and a test has nothing to gain from a graceful end.
const TEST_SHUTDOWN_GRACE: Duration = Duration::ZERO;

/// Worker threads of a test server's runtime: the machines the tests run on have two cores,
/// and the client under test needs one too.
const TEST_SERVER_THREADS: usize = 2;

/// How connections are served: what `run` needs beyond the service.
#[derive(Clone)]
pub(crate) struct Serving {
    /// How long open connections may finish after shutdown is asked for.
    pub(crate) grace: Duration,
    /// How long a request head (and a TLS handshake) may take.
    pub(crate) header_read_timeout: Duration,
    /// HTTPS, when configured.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// Where failed handshakes and malformed requests are reported.
    pub(crate) sink: Option<EventSink>,
}

impl Serving {
    fn of(server: &Server, grace: Duration) -> Serving {
        Serving {
            grace,
            header_read_timeout: server.header_read_timeout(),
            tls: server.tls().map(|t| t.config.clone()),
            sink: server.sink(),
        }
    }

    fn report(&self, event: Event) {
        if let Some(sink) = &self.sink {
            sink(event);
        }
    }
}

/// Serves `service` on `listener` until `shutdown` completes, then stops accepting and waits
/// up to `grace` for open connections.
///
/// Without TLS, both protocols a client may speak: HTTP/1.1 and h2c with prior knowledge
/// (RFC 9113 §3.3), told apart by the connection preface; with TLS, the protocol ALPN chose
/// (`h2` or `http/1.1`). A failed TLS handshake is logged (`tracing` and the event sink) and
/// the connection closed.
///
/// Header limits are hyper's defaults (a buffer of about 400 KiB): a larger head gets 431 and
/// a closed connection, and the server goes on.
pub(crate) async fn run<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    serving: Serving,
) -> io::Result<()>
where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<crate::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(serving.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let acceptor = serving.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // Every request of the connection carries its `ConnectionInfo` (for per-connection
        // shaping), dropped when the connection ends.
        let info = Arc::new(ConnectionInfo {
            tls: acceptor.is_some(),
            ..ConnectionInfo::default()
        });
        let per_connection = service.clone().map_request(
            move |mut request: http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(info.clone());
                request
            },
        );
        let service = TowerToHyperService::new(per_connection);
        let (builder, watcher, serving) = (builder.clone(), graceful.watcher(), serving.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let result = match acceptor {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(serving.header_read_timeout, acceptor.accept(stream));
                    let stream = match handshake.await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => return handshake_failed(&serving, peer, e.to_string()),
                        Err(_) => {
                            return handshake_failed(&serving, peer, "timed out".to_owned());
                        }
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                let parse = e
                    .downcast_ref::<hyper::Error>()
                    .is_some_and(hyper::Error::is_parse);
                if parse {
                    tracing::warn!(%peer, error = %e, "malformed request");
                    serving.report(Event::MalformedRequest {
                        time: SystemTime::now(),
                        peer,
                        error: e.to_string(),
                    });
                } else {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(serving.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("connections still open after the grace period; dropping them");
    }
    Ok(())
}

fn handshake_failed(serving: &Serving, peer: SocketAddr, error: String) {
    tracing::warn!(%peer, %error, "TLS handshake failed");
    serving.report(Event::TlsHandshakeFailed {
        time: SystemTime::now(),
        peer,
        error,
    });
}

impl Server {
    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Serves on `listener` until `shutdown` completes, then shuts down gracefully (no new
    /// connections; open ones finish their current request, for at most
    /// [`ServerBuilder::shutdown_grace`](crate::ServerBuilder::shutdown_grace)).
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let serving = Serving::of(&self, self.shutdown_grace());
        run(listener, self, shutdown, serving).await
    }

    /// Serves the CDN origin of blob redirects ([`Server::cdn_service`]) on `listener`,
    /// with this server's TLS and event sink, until the task is dropped. Tell the registry
    /// where it is with [`Server::set_cdn_url`].
    pub async fn serve_cdn(&self, listener: TcpListener, origin: CdnOrigin) -> io::Result<()> {
        let serving = Serving::of(self, self.shutdown_grace());
        run(listener, origin, std::future::pending(), serving).await
    }

    /// Starts the server on `127.0.0.1:0` (and, with blob redirects, its CDN origin on a
    /// second port) on a runtime of its own, so it works from sync and async tests alike.
    /// The server stops when the returned [`TestServer`] is dropped, at once: open
    /// connections are dropped, not drained.
    pub fn spawn(self) -> io::Result<TestServer> {
        TestServer::start(self)
    }
}

/// A server running on loopback for a test; stops on drop.
///
/// ```
/// use ocipull_server::Server;
/// let running = Server::new().spawn()?;
/// assert!(running.url().starts_with("http://127.0.0.1:"));
///
/// // A reference a client can pull, naming this server.
/// let r = running.reference("demo/app:v1")?;
/// assert_eq!(r.registry(), running.host());
/// assert_eq!(r.to_string(), format!("{}/demo/app:v1", running.host()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TestServer {
    server: Server,
    addr: SocketAddr,
    cdn_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Binds `127.0.0.1:0` (and a CDN port when blob redirects are on) and starts serving.
    pub fn start(server: Server) -> io::Result<TestServer> {
        let bind = || -> io::Result<std::net::TcpListener> {
            let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
            l.set_nonblocking(true)?;
            Ok(l)
        };
        let registry = bind()?;
        let addr = registry.local_addr()?;
        let cdn = match server.cdn_service() {
            Some(service) => {
                let l = bind()?;
                let cdn_addr = l.local_addr()?;
                server.set_cdn_url(format!("{}://{cdn_addr}", scheme(&server)));
                Some((l, cdn_addr, service))
            }
            None => None,
        };
        let cdn_addr = cdn.as_ref().map(|c| c.1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(TEST_SERVER_THREADS)
            .thread_name("ocipull-test-server")
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = server.clone();
        let serving = Serving::of(&server, TEST_SHUTDOWN_GRACE);
        let thread = std::thread::Builder::new()
            .name("ocipull-test-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
                    let signal = |tx: &tokio::sync::broadcast::Sender<()>| {
                        let mut rx = tx.subscribe();
                        async move {
                            let _ = rx.recv().await;
                        }
                    };
                    let mut tasks = Vec::new();
                    if let Ok(l) = TcpListener::from_std(registry) {
                        tasks.push(tokio::spawn(run(l, served, signal(&tx), serving.clone())));
                    }
                    if let Some((l, _, service)) = cdn {
                        if let Ok(l) = TcpListener::from_std(l) {
                            tasks.push(tokio::spawn(run(l, service, signal(&tx), serving)));
                        }
                    }
                    let _ = stopped.await;
                    let _ = tx.send(());
                    for t in tasks {
                        let _ = t.await;
                    }
                });
                runtime.shutdown_background();
            })?;
        Ok(TestServer {
            server,
            addr,
            cdn_addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` with [`ServerBuilder::tls`]).
    ///
    /// [`ServerBuilder::tls`]: crate::ServerBuilder::tls
    pub fn url(&self) -> String {
        format!("{}://{}", scheme(&self.server), self.addr)
    }

    /// The registry host for image references, `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An image reference to `name` (`repository:tag`, `repository@digest` or
    /// `repository:tag@digest`) on this server: `127.0.0.1:PORT/<name>`.
    ///
    /// The registry part is a loopback address with a port, for which clients use plain
    /// HTTP by default (Docker's and containerd's rule for `localhost` and `127.0.0.0/8`), so
    /// the reference works with a client's default scheme.
    ///
    /// # Errors
    /// [`ReferenceError`] when `name` is not a valid repository with an optional tag and
    /// digest (the error holds the whole reference it rejected).
    pub fn reference(&self, name: &str) -> Result<Reference, ReferenceError> {
        format!("{}/{name}", self.host()).parse()
    }

    /// The CDN origin's base URL, when blob redirects are on.
    pub fn cdn_url(&self) -> Option<String> {
        self.cdn_addr
            .map(|a| format!("{}://{a}", scheme(&self.server)))
    }

    /// The server (for adding content, faults, reading the log).
    pub fn server(&self) -> &Server {
        &self.server
    }
}

/// `https` for a server with TLS, `http` otherwise.
fn scheme(server: &Server) -> &'static str {
    if server.tls().is_some() {
        "https"
    } else {
        "http"
    }
}

impl std::ops::Deref for TestServer {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
