//! `ocipull serve`: serve OCI image layout directories as a pull-only registry.
//!
//! ```text
//! ocipull serve --listen 127.0.0.1:5000 --layout ./alpine --layout tools/busybox=./bb
//! ```
//!
//! Each `--layout [NAME=]DIR` is served under repository NAME (default: the directory's
//! name), every `index.json` entry tagged by its `org.opencontainers.image.ref.name`.
//! Requests are logged with `tracing` (filter with `RUST_LOG`, default `info`); Ctrl-C or
//! SIGTERM stops the server gracefully.

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
    /// Address to listen on (HTTP/1.1 and h2c, no TLS).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// An OCI image layout directory to serve, as [NAME=]DIR; repeatable. NAME (a
    /// repository name) defaults to the directory's name.
    #[arg(long = "layout", value_name = "[NAME=]DIR", required = true)]
    layouts: Vec<String>,
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

/// Loads every layout into a new server; fails on the first bad name or layout.
fn load(layouts: &[String]) -> Result<(Server, Vec<LayoutSummary>), ServeError> {
    let server = Server::new();
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

/// What is served, one line per manifest: `repo:tag  digest  media type`.
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let (server, summaries) = load(&args.layouts)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: args.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    print!("{}", describe(&format!("http://{addr}"), &summaries));
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    server
        .serve_with_shutdown(listener, stop_signal())
        .await
        .map_err(ServeError::Serve)?;
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
