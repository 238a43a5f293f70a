//! A private Docker daemon (`dockerd`) and the `docker` CLI pointed at it.
//!
//! Everything the daemon keeps is under one temporary directory: data root,
//! exec root (where it starts its own containerd), pid file, the API socket
//! and an empty `daemon.json`. No bridge, no iptables, the `vfs` storage
//! driver: all it does here is pull. Docker treats registries on
//! `127.0.0.0/8` as insecure by default, so plain HTTP on any loopback port
//! works without `--insecure-registry`, and one daemon can serve every test
//! of a binary (see [`Dockerd::shared`]).
//!
//! For HTTPS, dockerd 20.10 reads CAs only from
//! `/etc/docker/certs.d/HOST:PORT/ca.crt` (no flag moves it; the rootless
//! path under `$XDG_CONFIG_HOME` is used only when run under RootlessKit):
//! [`Dockerd::trust_ca`] writes that file and removes it again on drop.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use crate::command::{self, CommandError};
use crate::daemon::Supervised;
use crate::peers::{Peer, require};

/// How long dockerd may take to answer `docker version` after starting.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Where dockerd looks for per-registry CA certificates.
const CERTS_D: &str = "/etc/docker/certs.d";

/// A running dockerd with its own data and exec roots.
#[derive(Debug)]
pub struct Dockerd {
    docker: PathBuf,
    socket: PathBuf,
    config_dir: PathBuf,
    daemon: Supervised,
}

impl Dockerd {
    /// Starts `dockerd` and waits until `docker -H unix://SOCK version`
    /// answers (see [`crate::require`] for both paths).
    pub fn start(dockerd: impl AsRef<Path>, docker: impl Into<PathBuf>) -> io::Result<Dockerd> {
        let dir = tempfile::Builder::new()
            .prefix("ocipull-dockerd-")
            .tempdir()?;
        let root = dir.path();
        let socket = root.join("docker.sock");
        let config_dir = root.join("client");
        std::fs::create_dir(&config_dir)?;
        std::fs::write(root.join("daemon.json"), "{}")?;
        std::fs::write(config_dir.join("config.json"), "{}")?;
        let mut args: Vec<OsString> = Vec::new();
        for (flag, value) in [
            ("--config-file", root.join("daemon.json")),
            ("--data-root", root.join("data")),
            ("--exec-root", root.join("exec")),
            ("--pidfile", root.join("docker.pid")),
        ] {
            args.push(flag.into());
            args.push(value.into());
        }
        let mut host = OsString::from("unix://");
        host.push(&socket);
        args.extend(
            [
                "--host".into(),
                host,
                "--iptables=false".into(),
                "--ip6tables=false".into(),
                "--bridge=none".into(),
                "--storage-driver=vfs".into(),
            ]
            .into_iter()
            .collect::<Vec<OsString>>(),
        );
        let envs = [("DOCKER_CONFIG", config_dir.clone().into_os_string())];
        let daemon = Supervised::start("dockerd", dockerd.as_ref(), &args, &envs, dir)?;
        let dockerd = Dockerd {
            docker: docker.into(),
            socket,
            config_dir,
            daemon,
        };
        dockerd.daemon.wait_until("dockerd", START_TIMEOUT, || {
            dockerd.run(&["version"]).map(drop)
        })?;
        Ok(dockerd)
    }

    /// One daemon for the whole test binary, started on first use; `None`
    /// when dockerd or docker is missing and this is not CI (see
    /// [`crate::require`]). Tests sharing it must use distinct image names.
    ///
    /// It is stopped (by its supervisor) when the test process exits.
    ///
    /// # Panics
    ///
    /// When it cannot start, in every test that asks for it.
    #[track_caller]
    pub fn shared() -> Option<&'static Dockerd> {
        static SHARED: OnceLock<Result<Dockerd, String>> = OnceLock::new();
        let dockerd = require(Peer::Dockerd)?;
        let docker = require(Peer::Docker)?;
        match SHARED.get_or_init(|| Dockerd::start(dockerd, docker).map_err(|e| e.to_string())) {
            Ok(daemon) => Some(daemon),
            Err(why) => panic!("dockerd did not start: {why}"),
        }
    }

    /// The API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Everything dockerd logged so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// A `docker -H unix://SOCK` command with a private client config
    /// directory and no other environment; add the subcommand.
    pub fn docker(&self) -> Command {
        let mut command = Command::new(&self.docker);
        let mut host = OsString::from("unix://");
        host.push(&self.socket);
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.config_dir)
            .env("DOCKER_CONFIG", &self.config_dir)
            .arg("-H")
            .arg(host);
        command
    }

    /// Runs `docker <args>`; an error carries the command line and output.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<Output, CommandError> {
        command::run(self.docker().args(args))
    }

    /// Runs `docker <args>` with the client configuration in `config_dir` (a
    /// `DOCKER_CONFIG` of the test's own, so that `docker login` in one test never
    /// rewrites another's `config.json`).
    pub fn run_with_config<S: AsRef<std::ffi::OsStr>>(
        &self,
        config_dir: &Path,
        args: &[S],
    ) -> Result<Output, CommandError> {
        command::run(self.docker().env("DOCKER_CONFIG", config_dir).args(args))
    }

    /// `docker pull <reference>`.
    pub fn pull(&self, reference: &str) -> Result<Output, CommandError> {
        self.run(&["pull", reference])
    }

    /// The image's `RepoDigests` (`name@sha256:…`), from `docker inspect`.
    pub fn repo_digests(&self, reference: &str) -> Result<Vec<String>, CommandError> {
        let output = self.run(&[
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            reference,
        ])?;
        serde_json::from_slice(&output.stdout).map_err(|error| CommandError {
            command: format!("docker image inspect {reference}"),
            status: Some(output.status),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: format!("RepoDigests is not a JSON list of strings: {error}"),
        })
    }

    /// `docker image rm <reference>`, so that a shared daemon does not keep
    /// what a test pulled.
    pub fn remove_image(&self, reference: &str) -> Result<Output, CommandError> {
        self.run(&["image", "rm", "--force", reference])
    }

    /// Makes dockerd trust `ca_pem` for `host` (`127.0.0.1:PORT`) by writing
    /// `/etc/docker/certs.d/<host>/ca.crt`; removed when the guard drops.
    pub fn trust_ca(&self, host: &str, ca_pem: &Path) -> io::Result<TrustedCa> {
        let dir = Path::new(CERTS_D).join(host);
        if dir.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists: another test trusts a CA for {host}",
                    dir.display()
                ),
            ));
        }
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(ca_pem, dir.join("ca.crt"))?;
        Ok(TrustedCa { dir })
    }
}

/// A CA certificate dockerd trusts for one registry; removed on drop.
#[derive(Debug)]
pub struct TrustedCa {
    dir: PathBuf,
}

impl Drop for TrustedCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
