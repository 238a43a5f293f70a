//! The programs the bench runs: ocipull's, built in release mode; the bench
//! tools and the `oci-client` peer (their own workspace under `bench/`);
//! and the installed peers.

use std::path::{Path, PathBuf};

use crate::cmd;

/// Installed programs the bench needs, with the Debian package providing each.
const PEERS: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("wrk", "wrk"),
    ("time", "time"),
];

/// The library-level fetch + verify program of ocipull-client (an example of
/// that crate): see [`Programs::fetch_discard`].
const FETCH_DISCARD: &str = "fetch_discard";

/// Every program a case runs.
#[derive(Debug)]
pub struct Programs {
    /// GNU time, measuring clients' CPU time and peak RSS.
    pub time: PathBuf,
    /// CNCF Distribution.
    pub docker_registry: PathBuf,
    /// skopeo.
    pub skopeo: PathBuf,
    /// wrk, the HTTP load generator.
    pub wrk: PathBuf,
    /// The `ocipull` CLI, or why it could not be built.
    pub ocipull: Result<PathBuf, String>,
    /// `ocipull-client`'s `fetch_discard` example, or why it is missing.
    pub fetch_discard: Result<PathBuf, String>,
    /// The `oci-client` peer program.
    pub oci_client: PathBuf,
    tools: PathBuf,
}

impl Programs {
    /// A program of the bench tools (`bench/tools/src/bin/NAME.rs`).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.tools.join(name)
    }
}

/// Locates the peers and builds everything else. Fails if a peer is missing
/// or the bench tools do not build; a failing ocipull build is recorded, so
/// its rows say why and the peers are still measured.
pub fn prepare(root: &Path) -> crate::Result<Programs> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for (program, package) in PEERS {
        match search_path(program) {
            Some(path) => found.push(path),
            None => missing.push(format!("`{program}` (Debian package {package})")),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "missing peers: {}; install them with scripts/install-bench-peers.sh",
            missing.join(", ")
        )
        .into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let release = target.join("release");

    let mut bench = cmd::cargo();
    bench
        .current_dir(root)
        .args(["build", "--release", "--manifest-path", "bench/Cargo.toml"])
        .arg("--target-dir")
        .arg(&target);
    cmd::run(bench).map_err(|error| format!("building the bench tools: {error}"))?;

    let mut cli = cmd::cargo();
    cli.current_dir(root)
        .args(["build", "--release", "-p", "ocipull"])
        .arg("--target-dir")
        .arg(&target);
    let ocipull = cmd::run(cli)
        .map(|()| release.join("ocipull"))
        .map_err(|error| format!("ocipull did not build: {error}"));

    let example = root
        .join("crates/client/examples")
        .join(format!("{FETCH_DISCARD}.rs"));
    let fetch_discard = if example.is_file() {
        let mut build = cmd::cargo();
        build
            .current_dir(root)
            .args([
                "build",
                "--release",
                "-p",
                "ocipull-client",
                "--example",
                FETCH_DISCARD,
            ])
            .arg("--target-dir")
            .arg(&target);
        cmd::run(build)
            .map(|()| release.join("examples").join(FETCH_DISCARD))
            .map_err(|error| format!("{FETCH_DISCARD} did not build: {error}"))
    } else {
        Err(format!("{} does not exist yet", example.display()))
    };

    let [docker_registry, skopeo, wrk, time] =
        <[PathBuf; 4]>::try_from(found).map_err(|_| "peer list and PEERS disagree")?;
    Ok(Programs {
        time,
        docker_registry,
        skopeo,
        wrk,
        ocipull,
        fetch_discard,
        oci_client: release.join("oci-client-pull"),
        tools: release,
    })
}

/// `program` in `PATH` (or `/usr/bin`), if it is there.
pub fn search_path(program: &str) -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
