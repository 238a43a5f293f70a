//! A real CNCF Distribution registry (`docker-registry serve CONFIG`) on a
//! free loopback port, in one of three modes (combinable): plain HTTP, token
//! auth backed by a [`TokenIssuer`], and HTTPS with a [`TestCa`]; any of them
//! can be a pull-through cache of another registry
//! ([`DistributionBuilder::pull_through`], Distribution's `proxy.remoteurl`).
//!
//! Everything lives in a temporary directory; the process runs with an empty
//! environment (Distribution reads `REGISTRY_*` variables as configuration
//! overrides) and is killed on drop.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::TempDir;

use crate::http::{RawResponse, raw_get};
use crate::tls::TestCa;
use crate::token_issuer::{TokenIssuer, TokenIssuerConfig};

/// How long Distribution may take to answer `GET /v2/` after starting.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts with a new port when the picked one was taken in the meantime.
const PORT_ATTEMPTS: usize = 3;

/// Where Distribution keeps content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// The `inmemory` driver: fastest, gone when the process ends.
    #[default]
    InMemory,
    /// The `filesystem` driver under the registry's temporary directory
    /// (see [`Distribution::storage_root`]).
    Filesystem,
}

type ConfigEdit = Box<dyn FnOnce(&mut serde_json::Value)>;

/// Chooses a mode and starts a [`Distribution`]; from [`Distribution::builder`].
pub struct DistributionBuilder {
    bin: PathBuf,
    storage: Storage,
    token: Option<TokenIssuerConfig>,
    tls: bool,
    proxy: Option<serde_json::Value>,
    edits: Vec<ConfigEdit>,
}

impl DistributionBuilder {
    /// Make it a pull-through cache of the registry at `remote_url`
    /// (`http://127.0.0.1:5000`, or an `https://` URL it trusts): Distribution's
    /// `proxy: remoteurl:`. It then serves only pulls, fetching from the remote what it
    /// does not hold yet. Default is a plain registry.
    pub fn pull_through(mut self, remote_url: impl Into<String>) -> Self {
        self.proxy = Some(json!({"remoteurl": remote_url.into()}));
        self
    }

    /// The account the pull-through cache uses at its remote (`proxy.username`,
    /// `proxy.password`); needs [`DistributionBuilder::pull_through`] first.
    pub fn pull_through_credentials(mut self, username: &str, password: &str) -> Self {
        if let Some(proxy) = &mut self.proxy {
            proxy["username"] = json!(username);
            proxy["password"] = json!(password);
        }
        self
    }

    /// Storage driver. Default is [`Storage::InMemory`].
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Require bearer tokens from a [`TokenIssuer`] started with `config`.
    /// Default is no authentication.
    pub fn token_auth(mut self, config: TokenIssuerConfig) -> Self {
        self.token = Some(config);
        self
    }

    /// Serve HTTPS with a certificate for `127.0.0.1` and `localhost` from a
    /// fresh [`TestCa`]. Distribution then also offers HTTP/2 through ALPN.
    /// Default is plain HTTP.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Changes the generated configuration (JSON, which Distribution reads as
    /// YAML) before it is written; `http.addr` is set afterwards.
    pub fn edit_config(mut self, edit: impl FnOnce(&mut serde_json::Value) + 'static) -> Self {
        self.edits.push(Box::new(edit));
        self
    }

    /// Starts the registry and waits until `GET /v2/` answers.
    pub fn start(self) -> io::Result<Distribution> {
        let dir = tempfile::Builder::new()
            .prefix("ocipull-distribution-")
            .tempdir()?;
        let mut ca = None;
        let mut server_cert = None;
        if self.tls {
            let mut new_ca = TestCa::new()?;
            server_cert = Some(new_ca.issue_localhost()?);
            ca = Some(new_ca);
        }
        let token_issuer = self.token.map(TokenIssuer::start).transpose()?;
        let storage_root = dir.path().join("storage");

        let mut config = json!({
            "version": "0.1",
            "log": {"level": "info", "formatter": "text"},
            "storage": {
                "delete": {"enabled": true},
                "maintenance": {"uploadpurging": {"enabled": false}},
            },
            "http": {
                "addr": "",
                "secret": crate::token::hex(&rand::random::<[u8; 16]>()),
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
            "health": {"storagedriver": {"enabled": false}},
        });
        match self.storage {
            Storage::InMemory => config["storage"]["inmemory"] = json!({}),
            Storage::Filesystem => {
                std::fs::create_dir(&storage_root)?;
                config["storage"]["filesystem"] = json!({"rootdirectory": storage_root});
            }
        }
        if let Some(cert) = &server_cert {
            config["http"]["tls"] = json!({"certificate": cert.cert_path, "key": cert.key_path});
        }
        if let Some(issuer) = &token_issuer {
            let bundle = dir.path().join("token-root.pem");
            std::fs::write(&bundle, issuer.root_cert_pem())?;
            config["auth"] = json!({"token": {
                "realm": issuer.realm(),
                "service": issuer.config().service,
                "issuer": issuer.config().issuer,
                "rootcertbundle": bundle,
            }});
        }
        if let Some(proxy) = self.proxy {
            config["proxy"] = proxy;
        }
        for edit in self.edits {
            edit(&mut config);
        }

        let client_tls = ca.as_ref().map(TestCa::client_config);
        let config_path = dir.path().join("config.yml");
        let log_path = dir.path().join("registry.log");
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let addr = free_port()?;
            config["http"]["addr"] = json!(addr.to_string());
            std::fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
            let mut child = spawn(&self.bin, &config_path, &log_path, dir.path())?;
            match wait_ready(&mut child, addr, client_tls.clone(), &log_path) {
                Ok(()) => {
                    return Ok(Distribution {
                        child,
                        addr,
                        log_path,
                        config_path,
                        storage_root: (self.storage == Storage::Filesystem).then_some(storage_root),
                        client_tls,
                        ca,
                        token_issuer,
                        _dir: dir,
                    });
                }
                Err(error) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let port_taken = error.kind() == io::ErrorKind::AddrInUse;
                    last_error = Some(error);
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(last_error.expect("at least one attempt ran"))
    }
}

/// A running Distribution registry, killed on drop.
pub struct Distribution {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
    config_path: PathBuf,
    storage_root: Option<PathBuf>,
    client_tls: Option<Arc<rustls::ClientConfig>>,
    ca: Option<TestCa>,
    token_issuer: Option<TokenIssuer>,
    // Last: removed after the process is gone.
    _dir: TempDir,
}

impl Distribution {
    /// A builder for the registry at `bin` (see [`crate::require`]):
    /// in-memory, plain HTTP, no auth until told otherwise.
    pub fn builder(bin: impl Into<PathBuf>) -> DistributionBuilder {
        DistributionBuilder {
            bin: bin.into(),
            storage: Storage::default(),
            token: None,
            tls: false,
            proxy: None,
            edits: Vec::new(),
        }
    }

    /// Plain HTTP, no auth, in-memory storage.
    pub fn plain(bin: impl Into<PathBuf>) -> io::Result<Self> {
        Distribution::builder(bin).start()
    }

    /// Plain HTTP with token auth from a default [`TokenIssuerConfig`].
    pub fn with_token_auth(bin: impl Into<PathBuf>) -> io::Result<Self> {
        Distribution::builder(bin)
            .token_auth(TokenIssuerConfig::default())
            .start()
    }

    /// HTTPS with a fresh test CA, no auth.
    pub fn with_tls(bin: impl Into<PathBuf>) -> io::Result<Self> {
        Distribution::builder(bin).tls().start()
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>`: the registry part of an image reference.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `<host>/<repository_and_tag_or_digest>`, e.g. `127.0.0.1:5001/a/b:v1`.
    pub fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.ca.is_some()
    }

    /// `http://127.0.0.1:<port>` or `https://…`.
    pub fn base_url(&self) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The CA that issued the server certificate, in TLS mode.
    pub fn ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }

    /// Path of the CA certificate PEM that clients must trust, in TLS mode.
    pub fn ca_pem_path(&self) -> Option<PathBuf> {
        self.ca.as_ref().map(TestCa::cert_path)
    }

    /// The token issuer, in token-auth mode.
    pub fn token_issuer(&self) -> Option<&TokenIssuer> {
        self.token_issuer.as_ref()
    }

    /// The account that may push, in token-auth mode with credentials.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        let (user, password) = self.token_issuer.as_ref()?.config().credentials.as_ref()?;
        Some((user, password))
    }

    /// Where filesystem storage keeps content, with [`Storage::Filesystem`].
    pub fn storage_root(&self) -> Option<&Path> {
        self.storage_root.as_deref()
    }

    /// The configuration file it was started with.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// A raw `GET path` (HTTP/1.0, no client under test involved).
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> io::Result<RawResponse> {
        raw_get(self.addr, path, headers, self.client_tls.clone())
    }

    /// Everything the registry logged so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distribution")
            .field("addr", &self.addr)
            .field("tls", &self.is_tls())
            .field("token_issuer", &self.token_issuer)
            .field("storage_root", &self.storage_root)
            .finish_non_exhaustive()
    }
}

/// A loopback port that was free a moment ago. Distribution binds it itself,
/// so another process may take it first; [`DistributionBuilder::start`]
/// retries with a new one then.
fn free_port() -> io::Result<SocketAddr> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

fn spawn(bin: &Path, config: &Path, log: &Path, dir: &Path) -> io::Result<Child> {
    let log = File::create(log)?;
    Command::new(bin)
        .arg("serve")
        .arg(config)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", bin.display())))
}

/// Polls `GET /v2/` until any HTTP response arrives. Fails when the process
/// exits (with `AddrInUse` if the port was taken) or after [`START_TIMEOUT`].
fn wait_ready(
    child: &mut Child,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    log: &Path,
) -> io::Result<()> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let kind = if log.contains("address already in use") {
                io::ErrorKind::AddrInUse
            } else {
                io::ErrorKind::Other
            };
            return Err(io::Error::new(
                kind,
                format!("Distribution exited ({status}) while starting on {addr}; log:\n{log}"),
            ));
        }
        let last = match raw_get(addr, "/v2/", &[], tls.clone()) {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if started.elapsed() > START_TIMEOUT {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "Distribution did not answer GET /v2/ on {addr} within {START_TIMEOUT:?} \
                     (last error: {last}); log:\n{log}"
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
