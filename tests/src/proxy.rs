//! A real forward proxy (tinyproxy) for the proxy tests, and a non-loopback address for
//! a loopback registry.
//!
//! The client never proxies loopback destinations (Go's rule), so a test registry on
//! `127.0.0.1` is reached directly even with a proxy set. [`Forward`] gives it an address
//! the client does proxy: it listens on this machine's own non-loopback IPv4 address (the
//! source address of the default route, see [`external_ip`]) and relays every connection
//! to the registry, optionally terminating TLS first. tinyproxy connects to that address
//! like to any other host, so nothing global (`/etc/hosts`, DNS) is changed. A CI machine
//! with a network interface has such an address; `OCIPULL_PROXY_TEST_ADDR` names another.
//!
//! [`Tinyproxy`] runs in the foreground (`-d`) with a config file, log file and PID file
//! in a temporary directory, listening on a free loopback port; it is stopped by its PID
//! when dropped (or by [`Tinyproxy::kill`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::IssuedCert;

/// How long tinyproxy may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Overrides the address [`external_ip`] finds.
pub const PROXY_TEST_ADDR_ENV: &str = "OCIPULL_PROXY_TEST_ADDR";

/// This machine's non-loopback IPv4 address: `OCIPULL_PROXY_TEST_ADDR`, else the source
/// address the kernel picks for the default route (a UDP socket "connected" to a
/// documentation address; no packet is sent).
pub fn external_ip() -> io::Result<IpAddr> {
    if let Ok(addr) = std::env::var(PROXY_TEST_ADDR_ENV) {
        return addr.parse().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{PROXY_TEST_ADDR_ENV}={addr}: {e}"),
            )
        });
    }
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.connect((Ipv4Addr::new(198, 51, 100, 1), 9)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("no default route to find a non-loopback address ({e}); set {PROXY_TEST_ADDR_ENV}"),
        )
    })?;
    let ip = socket.local_addr()?.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        return Err(io::Error::other(format!(
            "the default route's source address is {ip}; set {PROXY_TEST_ADDR_ENV}"
        )));
    }
    Ok(ip)
}

/// A relay from this machine's non-loopback address to a loopback service.
pub struct Forward {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Forward {
    /// Relays `external_ip():0` to `target` as is.
    pub fn plain(target: SocketAddr) -> io::Result<Forward> {
        Forward::start(target, None)
    }

    /// Terminates TLS with `cert` on `external_ip():0`, relaying the plaintext to `target`.
    pub fn tls(target: SocketAddr, cert: &IssuedCert) -> io::Result<Forward> {
        use rustls_pki_types::pem::PemObject as _;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(io::Error::other)?;
        let key =
            PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).map_err(io::Error::other)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(io::Error::other)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Forward::start(target, Some(Arc::new(config)))
    }

    fn start(target: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) -> io::Result<Forward> {
        let listener = StdListener::bind((external_ip()?, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("proxy-test-forward".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
                    loop {
                        let accepted = tokio::select! {
                            _ = &mut stopped => break,
                            accepted = listener.accept() => accepted,
                        };
                        let Ok((inbound, _)) = accepted else { continue };
                        counted.fetch_add(1, Ordering::SeqCst);
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await
                            else {
                                return;
                            };
                            match acceptor {
                                Some(acceptor) => {
                                    if let Ok(mut tls) = acceptor.accept(inbound).await {
                                        let _ =
                                            tokio::io::copy_bidirectional(&mut tls, &mut outbound)
                                                .await;
                                    }
                                }
                                None => {
                                    let mut inbound = inbound;
                                    let _ =
                                        tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                            .await;
                                }
                            }
                        });
                    }
                });
                runtime.shutdown_background();
            })?;
        Ok(Forward {
            addr,
            connections,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The relay's address (non-loopback).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ip:port`, the registry host to give a client.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Connections accepted so far (from tinyproxy or, bypassing it, from the client).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Settings for a [`Tinyproxy`].
pub struct TinyproxyBuilder {
    bin: PathBuf,
    basic_auth: Option<(String, String)>,
    connect_ports: Vec<u16>,
}

impl TinyproxyBuilder {
    /// Requires Basic proxy credentials (`BasicAuth user password`).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic_auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Allows `CONNECT` to `port` (tinyproxy allows every port when none is listed).
    pub fn connect_port(mut self, port: u16) -> Self {
        self.connect_ports.push(port);
        self
    }

    /// Starts tinyproxy on a free loopback port and waits until it accepts connections.
    pub fn start(self) -> io::Result<Tinyproxy> {
        let dir = tempfile::Builder::new()
            .prefix("ocipull-tinyproxy")
            .tempdir()?;
        // A port freed just before tinyproxy binds it; another process may take it in
        // between, so a failed start is tried again on a new port.
        let mut last = None;
        for _ in 0..3 {
            let port = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            match self.start_on(&dir, port) {
                Ok(child) => {
                    return Ok(Tinyproxy {
                        child: Some(child),
                        port,
                        dir,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("tinyproxy did not start")))
    }

    fn start_on(&self, dir: &TempDir, port: u16) -> io::Result<Child> {
        let log = dir.path().join("tinyproxy.log");
        let _ = std::fs::remove_file(&log);
        let mut config = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 64\nLogLevel Info\n\
             LogFile \"{}\"\nPidFile \"{}\"\n",
            log.display(),
            dir.path().join("tinyproxy.pid").display()
        );
        for p in &self.connect_ports {
            config.push_str(&format!("ConnectPort {p}\n"));
        }
        if let Some((user, password)) = &self.basic_auth {
            config.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        let config_path = dir.path().join("tinyproxy.conf");
        std::fs::write(&config_path, config)?;
        let mut child = Command::new(&self.bin)
            .arg("-d")
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "tinyproxy exited with {status}: {}",
                    read(&log)
                )));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(child);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other(format!(
                    "tinyproxy did not listen on {port} within {START_TIMEOUT:?}: {}",
                    read(&log)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A running tinyproxy; killed by PID on drop.
pub struct Tinyproxy {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl Tinyproxy {
    /// A builder for the tinyproxy at `bin`.
    pub fn builder(bin: impl Into<PathBuf>) -> TinyproxyBuilder {
        TinyproxyBuilder {
            bin: bin.into(),
            basic_auth: None,
            connect_ports: Vec::new(),
        }
    }

    /// The listening address, on loopback.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://user:password@127.0.0.1:PORT`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr())
    }

    /// The whole log.
    pub fn log(&self) -> String {
        read(&self.dir.path().join("tinyproxy.log"))
    }

    /// The request lines tinyproxy logged (`GET http://… HTTP/1.1`, `CONNECT host:port
    /// HTTP/1.1`), in order.
    pub fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| {
                line.split_once("): ")
                    .filter(|_| line.contains("Request ("))
            })
            .map(|(_, request)| request.to_owned())
            .collect()
    }

    /// Kills tinyproxy (by its PID) and waits for it; its port then refuses connections.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        self.kill();
    }
}
