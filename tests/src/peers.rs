//! Finding the peer programs the interop tests run against.
//!
//! Locally a missing peer skips the test with a line on stderr; when `CI` is
//! set a missing peer fails the test, so a broken install can never pass as
//! a run of skipped tests.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A program the interop tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// CNCF Distribution, the reference registry (`docker-registry` in Debian).
    /// Override the path with `OCIPULL_DISTRIBUTION`.
    Distribution,
    /// `skopeo`, used to push test content into registries.
    /// Override the path with `OCIPULL_SKOPEO`.
    Skopeo,
    /// oras-py: a Python interpreter that can `import oras`. The located path
    /// is the interpreter. Override it with `OCIPULL_PYTHON`.
    Oras,
    /// The containerd daemon (Debian package containerd).
    /// Override the path with `OCIPULL_CONTAINERD`.
    Containerd,
    /// `ctr`, containerd's client (same package). Override with `OCIPULL_CTR`.
    Ctr,
    /// `podman` (Debian package podman). Override with `OCIPULL_PODMAN`.
    Podman,
    /// `buildah` (Debian package buildah). Override with `OCIPULL_BUILDAH`.
    Buildah,
    /// `dockerd`, the Docker daemon (Debian package docker.io).
    /// Override with `OCIPULL_DOCKERD`.
    Dockerd,
    /// The `docker` CLI that comes with [`Peer::Dockerd`]: `/usr/bin/docker`
    /// is preferred over any other on `PATH`. Override with `OCIPULL_DOCKER`.
    Docker,
    /// `umoci` (Debian package umoci). Override with `OCIPULL_UMOCI`.
    Umoci,
    /// `tinyproxy` (Debian package tinyproxy), the forward proxy of the proxy
    /// tests. Override with `OCIPULL_TINYPROXY`.
    Tinyproxy,
}

impl Peer {
    /// Every peer, for listing and for tests that need them all.
    pub const ALL: [Peer; 11] = [
        Peer::Distribution,
        Peer::Skopeo,
        Peer::Oras,
        Peer::Containerd,
        Peer::Ctr,
        Peer::Podman,
        Peer::Buildah,
        Peer::Dockerd,
        Peer::Docker,
        Peer::Umoci,
        Peer::Tinyproxy,
    ];

    /// Short name used in skip and failure messages.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Distribution => "docker-registry",
            Peer::Skopeo => "skopeo",
            Peer::Oras => "oras",
            Peer::Containerd => "containerd",
            Peer::Ctr => "ctr",
            Peer::Podman => "podman",
            Peer::Buildah => "buildah",
            Peer::Dockerd => "dockerd",
            Peer::Docker => "docker",
            Peer::Umoci => "umoci",
            Peer::Tinyproxy => "tinyproxy",
        }
    }

    /// The environment variable that overrides where the program is.
    pub fn env_override(self) -> &'static str {
        match self {
            Peer::Distribution => "OCIPULL_DISTRIBUTION",
            Peer::Skopeo => "OCIPULL_SKOPEO",
            Peer::Oras => "OCIPULL_PYTHON",
            Peer::Containerd => "OCIPULL_CONTAINERD",
            Peer::Ctr => "OCIPULL_CTR",
            Peer::Podman => "OCIPULL_PODMAN",
            Peer::Buildah => "OCIPULL_BUILDAH",
            Peer::Dockerd => "OCIPULL_DOCKERD",
            Peer::Docker => "OCIPULL_DOCKER",
            Peer::Umoci => "OCIPULL_UMOCI",
            Peer::Tinyproxy => "OCIPULL_TINYPROXY",
        }
    }

    /// The executable searched for on `PATH`.
    fn program(self) -> &'static str {
        match self {
            Peer::Distribution => "docker-registry",
            Peer::Skopeo => "skopeo",
            Peer::Oras => "python3",
            Peer::Containerd => "containerd",
            Peer::Ctr => "ctr",
            Peer::Podman => "podman",
            Peer::Buildah => "buildah",
            Peer::Dockerd => "dockerd",
            Peer::Docker => "docker",
            Peer::Umoci => "umoci",
            Peer::Tinyproxy => "tinyproxy",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether this is a CI run: `CI` is set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false"))
}

/// Where `peer` is, or why it cannot be used. Looked up once per process.
pub fn locate(peer: Peer) -> Result<PathBuf, String> {
    static FOUND: [OnceLock<Result<PathBuf, String>>; Peer::ALL.len()] =
        [const { OnceLock::new() }; Peer::ALL.len()];
    FOUND[peer.index()].get_or_init(|| find(peer)).clone()
}

/// The path of `peer`, or `None` (after printing `skipped: … not installed`)
/// when it is missing and this is not CI.
///
/// # Panics
///
/// When `peer` is missing and [`in_ci`] is true: CI must never pass by
/// skipping interop tests.
#[track_caller]
pub fn require(peer: Peer) -> Option<PathBuf> {
    match locate(peer) {
        Ok(path) => Some(path),
        Err(why) if in_ci() => panic!(
            "{peer} is required because CI is set, but {why}; \
             install the peers with scripts/install-peers.sh"
        ),
        Err(why) => {
            // Straight to the stderr handle: libtest captures `eprintln!`
            // of passing tests, and a skip should be visible.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {peer} not installed ({why}); run scripts/install-peers.sh"
            );
            None
        }
    }
}

fn find(peer: Peer) -> Result<PathBuf, String> {
    let path = match std::env::var_os(peer.env_override()) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(format!(
                    "{}={} is not a file",
                    peer.env_override(),
                    path.display()
                ));
            }
            path
        }
        // The CLI that talks to the daemon the tests start is Debian's, the
        // one of the same release, not another docker on PATH.
        _ if peer == Peer::Docker && is_executable(Path::new("/usr/bin/docker")) => {
            PathBuf::from("/usr/bin/docker")
        }
        _ => search_path(peer.program())
            .ok_or_else(|| format!("`{}` is not on PATH", peer.program()))?,
    };
    if peer == Peer::Oras {
        check_oras_importable(&path)?;
    }
    Ok(path)
}

fn search_path(program: &str) -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .chain(["/usr/bin", "/usr/local/bin", "/usr/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn check_oras_importable(python: &Path) -> Result<(), String> {
    let output = Command::new(python)
        .args(["-c", "import oras.client"])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("{} could not run: {error}", python.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} cannot import oras: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
