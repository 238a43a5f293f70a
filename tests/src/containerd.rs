//! A private containerd daemon and its `ctr` client.
//!
//! The daemon runs with a configuration written to a temporary directory:
//! root, state and the gRPC socket all live there, the CRI plugin is
//! disabled, and `ctr` is pointed at the socket with `--address`. Images are
//! unpacked with the `native` snapshotter, which needs no mounts. The daemon
//! is stopped by PID when the [`Containerd`] is dropped, or when the test
//! process exits (see the supervisor in `daemon.rs`).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::command::{self, CommandError};
use crate::daemon::Supervised;

/// How long containerd may take to answer `ctr version` after starting.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The containerd namespace every `ctr` command uses.
pub const CTR_NAMESPACE: &str = "ocipull-tests";

/// A running containerd with its own root, state and socket.
#[derive(Debug)]
pub struct Containerd {
    ctr: PathBuf,
    socket: PathBuf,
    daemon: Supervised,
}

impl Containerd {
    /// Starts `containerd` and waits until `ctr --address SOCK version`
    /// answers (see [`crate::require`] for both paths).
    pub fn start(containerd: impl AsRef<Path>, ctr: impl Into<PathBuf>) -> io::Result<Containerd> {
        let dir = tempfile::Builder::new()
            .prefix("ocipull-containerd-")
            .tempdir()?;
        let socket = dir.path().join("containerd.sock");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_toml(dir.path(), &socket))?;
        let args: Vec<OsString> = vec!["--config".into(), config.into()];
        let daemon = Supervised::start("containerd", containerd.as_ref(), &args, &[], dir)?;
        let containerd = Containerd {
            ctr: ctr.into(),
            socket,
            daemon,
        };
        containerd
            .daemon
            .wait_until("containerd", START_TIMEOUT, || {
                containerd.run(&["version"]).map(drop)
            })?;
        Ok(containerd)
    }

    /// The gRPC socket `ctr --address` is given.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Everything containerd logged so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// A `ctr --address SOCK --namespace ocipull-tests` command with an empty
    /// environment but `PATH` and the native snapshotter; add the subcommand.
    pub fn ctr(&self) -> Command {
        let mut command = Command::new(&self.ctr);
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.daemon.dir())
            .env("CONTAINERD_SNAPSHOTTER", "native")
            .arg("--address")
            .arg(&self.socket)
            .arg("--namespace")
            .arg(CTR_NAMESPACE);
        command
    }

    /// Runs `ctr <args>`; an error carries the command line and output.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<Output, CommandError> {
        command::run(self.ctr().args(args))
    }

    /// `ctr images pull --plain-http [extra] <reference>`, e.g. with
    /// `--platform linux/arm64` or `--all-platforms`. For HTTPS later,
    /// pass `--hosts-dir DIR` in `extra` and leave `plain_http` false.
    pub fn pull(
        &self,
        reference: &str,
        plain_http: bool,
        extra: &[&str],
    ) -> Result<Output, CommandError> {
        let mut args = vec!["images", "pull"];
        if plain_http {
            args.push("--plain-http");
        }
        args.extend_from_slice(extra);
        args.push(reference);
        self.run(&args)
    }

    /// The digest `ctr images ls` lists for `reference`: what the name
    /// resolved to when it was pulled (the index or manifest digest).
    pub fn image_digest(&self, reference: &str) -> Result<Option<String>, CommandError> {
        let output = self.run(&["images", "ls"])?;
        let listing = String::from_utf8_lossy(&output.stdout);
        Ok(listing.lines().skip(1).find_map(|line| {
            let mut columns = line.split_whitespace();
            (columns.next() == Some(reference))
                .then(|| columns.nth(1).map(str::to_owned))
                .flatten()
        }))
    }

    /// `ctr images export [extra] <tar> <reference>`: an OCI layout as a tar
    /// archive, e.g. with `--platform linux/amd64` for one platform of an
    /// index (whose other manifests are then missing from the archive).
    pub fn export(
        &self,
        tar: &Path,
        reference: &str,
        extra: &[&str],
    ) -> Result<Output, CommandError> {
        let mut args: Vec<OsString> = vec!["images".into(), "export".into()];
        args.extend(extra.iter().map(OsString::from));
        args.push(tar.into());
        args.push(reference.into());
        self.run(&args)
    }
}

fn config_toml(dir: &Path, socket: &Path) -> String {
    let path = |p: &Path| {
        let s = p.display().to_string();
        assert!(!s.contains(['"', '\\']), "a plain temporary path: {s}");
        s
    };
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""
"#,
        root = path(&dir.join("root")),
        state = path(&dir.join("state")),
        socket = path(socket),
    )
}
