//! `ocipull serve`: serve OCI image layout directories as a pull-only registry — and, with
//! the test behaviours of `ocipull-server`, a test registry for clients in any language.
//!
//! ```text
//! ocipull serve --listen 127.0.0.1:0 --layout ./alpine --layout tools/busybox=./bb \
//!     --faults faults.json --control 127.0.0.1:0 --log-file requests.jsonl --ready-file addr
//! ```
//!
//! Each `--layout [NAME=]DIR` is served under repository NAME (default: the directory's
//! name), every `index.json` entry tagged by its `org.opencontainers.image.ref.name`.
//!
//! Start-up for scripts: the first line of stdout is the bound registry address
//! (`127.0.0.1:PORT`, also with `--listen …:0`), printed once the server accepts
//! connections; `--ready-file FILE` gets the same line, written atomically (a temporary file
//! renamed). With `--control`, the second line is `control 127.0.0.1:PORT`. A description of
//! what is served follows, then each item a layout names but lacks (also warned about once
//! on stderr; requests for it are answered 404).
//!
//! Requests are logged to stderr with `tracing` (filter with `RUST_LOG`, default `info`)
//! through a non-blocking writer, in batches (a line is written within about 20 ms, see
//! [`paced`]); `--log-file` adds JSON lines (see [`log_file`]). Ctrl-C
//! or SIGTERM stops the server gracefully.

mod control;
mod log_file;
mod options;
mod paced;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ocipull_server::{LayoutSummary, Server};
use ocipull_spec::Repository;

/// Where `ocipull serve` listens unless `--listen` says otherwise: loopback, on the port
/// registries conventionally use.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5000";

/// The log filter when `RUST_LOG` is not set: one line per request.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// Arguments of `ocipull serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (the first line of stdout says which).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// An OCI image layout directory to serve, as [NAME=]DIR; repeatable. NAME (a
    /// repository name) defaults to the directory's name. (More can be added while serving
    /// through the control API.)
    #[arg(long = "layout", value_name = "[NAME=]DIR")]
    layouts: Vec<String>,
    /// Serve HTTPS with a certificate from a CA generated at start-up, for the listen
    /// address, localhost, 127.0.0.1 and ::1 (ALPN h2 and http/1.1).
    #[arg(long)]
    tls: bool,
    /// With --tls: write the generated CA certificate (PEM) here, for clients to trust.
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_ca_out: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM; needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require authentication: HTTP Basic, or Docker-style tokens from /token.
    #[arg(long, value_enum, value_name = "basic|token")]
    auth: Option<options::AuthMode>,
    /// A user, as NAME:PASSWORD, who may pull every repository; repeatable.
    #[arg(long = "user", value_name = "NAME:PASSWORD", requires = "auth")]
    users: Vec<String>,
    /// Users from a JSON file: `[{"name": "bob", "password": "…", "repositories": ["team/app"]}]`
    /// (`repositories` limits what the user may pull; every repository when absent).
    #[arg(long = "users", value_name = "FILE", requires = "auth")]
    users_file: Option<PathBuf>,
    /// With --auth: let requests without credentials pull every repository.
    #[arg(long, requires = "auth")]
    anonymous: bool,
    /// With --auth token: tokens expire this many seconds after they are issued. Default is
    /// never.
    #[arg(long, value_name = "SECONDS", requires = "auth")]
    token_lifetime: Option<u64>,
    /// Fault and shaping rules from a JSON file (the format of `ocipull_server::Rules`:
    /// `{"faults": [...], "shaping": [...]}`; see the README).
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Refuse (404) manifests whose media type the request's Accept does not list.
    #[arg(long)]
    strict_accept: bool,
    /// Answer blob GETs with 307 to a second listener (a "CDN" origin on another port).
    #[arg(long)]
    blob_redirects: bool,
    /// Once accepting connections, write the registry address (`127.0.0.1:PORT`) to FILE,
    /// atomically.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// Log every request (and failed TLS handshakes, malformed requests) as JSON lines.
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Serve the control API (JSON over HTTP: rules, the request log, layouts, tags) on
    /// ADDR. Off by default; give a loopback address (e.g. 127.0.0.1:0) unless every host
    /// that can reach ADDR may reconfigure the registry. Never the registry's port.
    #[arg(long, value_name = "ADDR")]
    control: Option<SocketAddr>,
}

/// Why `ocipull serve` could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A `--layout` NAME (given or taken from the directory) is not a repository name.
    #[error(
        "--layout {arg:?}: {name:?} is not a valid repository name (use NAME=DIR to choose one)"
    )]
    InvalidName {
        /// The argument as given.
        arg: String,
        /// The rejected name.
        name: String,
        /// Why it is invalid.
        source: ocipull_spec::NameError,
    },
    /// Two layouts would be served under one name.
    #[error("--layout {arg:?}: repository {name} is already served by another --layout")]
    DuplicateName {
        /// The argument as given.
        arg: String,
        /// The repeated name.
        name: Repository,
    },
    /// A layout could not be loaded (the message names the file).
    #[error("--layout {arg:?}")]
    Layout {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        source: Box<ocipull_server::AddError>,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving failed")]
    Serve(#[source] std::io::Error),
    /// An option's value (or a file it names) is wrong; the message says which and why.
    #[error("{0}")]
    Option(String),
    /// A file could not be written (the CA certificate, the ready file, the log file).
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Splits `[NAME=]DIR` and validates NAME (or the directory's name).
fn parse_layout(arg: &str) -> Result<(Repository, PathBuf), ServeError> {
    let (name, dir) = match arg.split_once('=') {
        Some((name, dir)) => (name.to_owned(), PathBuf::from(dir)),
        None => {
            let dir = PathBuf::from(arg);
            (directory_name(&dir), dir)
        }
    };
    let repo = name
        .parse::<Repository>()
        .map_err(|source| ServeError::InvalidName {
            arg: arg.to_owned(),
            name,
            source,
        })?;
    Ok((repo, dir))
}

/// The last component of `dir`, resolving `.` and `..` through the file system.
fn directory_name(dir: &Path) -> String {
    let resolved = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Loads every layout into `server`; fails on the first bad name or layout.
fn load_into(
    server: Server,
    layouts: &[String],
) -> Result<(Server, Vec<LayoutSummary>), ServeError> {
    let mut seen = BTreeSet::new();
    let mut summaries = Vec::new();
    for arg in layouts {
        let (repo, dir) = parse_layout(arg)?;
        if !seen.insert(repo.clone()) {
            return Err(ServeError::DuplicateName {
                arg: arg.clone(),
                name: repo,
            });
        }
        let summary = server
            .add_layout(&repo, &dir)
            .map_err(|source| ServeError::Layout {
                arg: arg.clone(),
                source: Box::new(source),
            })?;
        summaries.push(summary);
    }
    Ok((server, summaries))
}

/// Loads every layout into a new plain server.
#[cfg(test)]
fn load(layouts: &[String]) -> Result<(Server, Vec<LayoutSummary>), ServeError> {
    load_into(Server::new(), layouts)
}

/// What is served, one line per manifest (`repo:tag  digest  media type`), then one per
/// item a layout names but lacks.
fn describe(url: &str, summaries: &[LayoutSummary]) -> String {
    let mut out = format!("Serving on {url}\n");
    for s in summaries {
        for (tag, d) in &s.entries {
            let reference = match tag {
                Some(t) => format!("{}:{t}", s.repository),
                None => format!("{}@{}", s.repository, d.digest),
            };
            out.push_str(&format!("  {reference}  {}  {}\n", d.digest, d.media_type));
        }
        if s.entries.is_empty() {
            out.push_str(&format!("  {} (empty layout)\n", s.repository));
        }
        // Also warned about on stderr while loading; listed here so that what is served
        // and what will answer 404 are in one place.
        for m in &s.missing {
            out.push_str(&format!("  {}: {m}\n", s.repository));
        }
    }
    out
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Runs `ocipull serve`.
pub async fn run(args: Args) -> crate::CmdResult {
    // stderr through a non-blocking writer: a slow terminal never stalls a request. The
    // guard flushes what is queued when `run` returns. Its thread writes in paced batches
    // (see `paced`): one wake-up and one `write` per batch, not per request.
    let (stderr, _guard) = tracing_appender::non_blocking(paced::Paced::new(std::io::stderr()));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();

    if let Some(c) = args.control {
        control::check_address(c, args.listen).map_err(ServeError::Option)?;
        if !c.ip().is_loopback() {
            tracing::warn!(%c, "the control API listens on a non-loopback address: anyone who can reach it can change the registry");
        }
    }
    let users = options::users(&args.users, args.users_file.as_deref(), args.anonymous)?;
    let tls = options::tls(
        args.tls,
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        args.listen,
    )?;
    if let (Some(path), Some(pem)) = (&args.tls_ca_out, tls.as_ref().and_then(|t| t.ca_pem())) {
        options::write_atomically(path, pem).map_err(|source| ServeError::Write {
            path: path.clone(),
            source,
        })?;
    }
    let log_file = match &args.log_file {
        Some(path) => Some(log_file::open(path).map_err(|source| ServeError::Write {
            path: path.clone(),
            source,
        })?),
        None => None,
    };
    let records = args.control.map(|_| control::Records::default());

    let mut builder = Server::builder()
        .strict_accept(args.strict_accept)
        .blob_redirects(args.blob_redirects)
        .runtime_shaping(args.control.is_some());
    if let Some(path) = &args.faults {
        builder = builder.rules(options::rules(path)?);
    }
    if let Some(auth) = options::auth(args.auth, users, args.token_lifetime) {
        builder = builder.auth(auth);
    }
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    let mut writer = None;
    if log_file.is_some() || records.is_some() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        builder = builder.on_event(move |e| {
            let _ = tx.send(e);
        });
        writer =
            Some(log_file::spawn_writer(rx, log_file, records.clone()).map_err(ServeError::Serve)?);
    }
    let (server, summaries) = load_into(builder.build(), &args.layouts)?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: args.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    let scheme = if server.tls().is_some() {
        "https"
    } else {
        "http"
    };
    // The CDN origin of blob redirects: a second port on the same address.
    if let Some(cdn) = server.cdn_service() {
        let cdn_addr = SocketAddr::new(addr.ip(), 0);
        let l = tokio::net::TcpListener::bind(cdn_addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: cdn_addr,
                source,
            })?;
        let bound = l.local_addr().map_err(ServeError::Serve)?;
        server.set_cdn_url(format!("{scheme}://{bound}"));
        let origin = server.clone();
        tokio::spawn(async move {
            if let Err(e) = origin.serve_cdn(l, cdn).await {
                tracing::warn!(error = %e, "the CDN origin stopped");
            }
        });
    }
    let control_addr = match args.control {
        Some(c) => {
            let l = tokio::net::TcpListener::bind(c)
                .await
                .map_err(|source| ServeError::Bind { addr: c, source })?;
            let bound = l.local_addr().map_err(ServeError::Serve)?;
            let state = control::Control {
                server: server.clone(),
                records: records.clone().unwrap_or_default(),
            };
            tokio::spawn(control::serve(l, state));
            Some(bound)
        }
        None => None,
    };
    let serving = tokio::spawn(server.serve_with_shutdown(listener, stop_signal()));

    // The listener is bound and served: connections are accepted from here on.
    let mut out = format!("{addr}\n");
    if let Some(c) = control_addr {
        out.push_str(&format!("control {c}\n"));
    }
    out.push_str(&describe(&format!("{scheme}://{addr}"), &summaries));
    print!("{out}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    if let Some(path) = &args.ready_file {
        options::write_atomically(path, &format!("{addr}\n")).map_err(|source| {
            ServeError::Write {
                path: path.clone(),
                source,
            }
        })?;
    }
    match serving.await {
        Ok(result) => result.map_err(ServeError::Serve)?,
        Err(e) => return Err(ServeError::Serve(std::io::Error::other(e)).into()),
    }
    drop(writer);
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_arguments() {
        let (r, d) = parse_layout("tools/bb=./some/dir").unwrap();
        assert_eq!((r.as_str(), d), ("tools/bb", PathBuf::from("./some/dir")));
        let (r, d) = parse_layout("/tmp/alpine").unwrap();
        assert_eq!((r.as_str(), d), ("alpine", PathBuf::from("/tmp/alpine")));
        let (r, _) = parse_layout("a=b=c").unwrap();
        assert_eq!(r.as_str(), "a");
        for bad in ["/tmp/Alpine", "UP=dir", "=dir", "/"] {
            match parse_layout(bad) {
                Err(ServeError::InvalidName { arg, .. }) => assert_eq!(arg, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        ocipull_spec::layout::LayoutWriter::create(dir.path()).unwrap();
        let d = dir.path().display();
        let err = load(&[format!("x={d}"), format!("x={d}")]).unwrap_err();
        assert!(matches!(err, ServeError::DuplicateName { .. }), "{err}");
        let (_, summaries) = load(&[format!("x={d}"), format!("y={d}")]).unwrap();
        assert_eq!(summaries.len(), 2);
        assert!(describe("http://h", &summaries).contains("x (empty layout)"));
    }

    #[test]
    fn missing_layouts_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let arg = format!("x={}", dir.path().join("nope").display());
        let err = load(std::slice::from_ref(&arg)).unwrap_err();
        // The whole chain, as `main` prints it.
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        assert!(text.contains("oci-layout"), "{text}");
        assert!(text.contains(&arg), "{text}");
    }
}
