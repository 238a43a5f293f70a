//! Driving skopeo to put test content into registries and read it back.
//!
//! Every run is isolated from the host: an empty environment with a private
//! `HOME`, no auth file but an empty one, an empty `registries.conf` and no
//! signature policy (`--insecure-policy`).
//!
//! skopeo has no plain-HTTP switch: `--tls-verify=false` makes it try HTTPS
//! and fall back to HTTP, which is how it reaches a plain registry. Against a
//! TLS registry the harness passes the test CA with `--cert-dir` and keeps
//! verification on.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::command::{self, CommandError};
use crate::distribution::Distribution;

/// Upper bound on any one skopeo run, so a hang fails the test instead of
/// stalling the suite.
const COMMAND_TIMEOUT: &str = "120s";

/// A skopeo binary plus a private home directory for its runs.
#[derive(Debug)]
pub struct Skopeo {
    bin: PathBuf,
    home: TempDir,
}

impl Skopeo {
    /// Uses the skopeo at `bin` (see [`crate::require`]).
    pub fn new(bin: impl Into<PathBuf>) -> io::Result<Self> {
        let home = tempfile::Builder::new()
            .prefix("ocipull-skopeo-")
            .tempdir()?;
        for dir in ["run", "config", "tmp", "registries.d"] {
            std::fs::create_dir(home.path().join(dir))?;
        }
        std::fs::write(home.path().join("registries.conf"), "")?;
        std::fs::write(home.path().join("auth.json"), "{}")?;
        Ok(Skopeo {
            bin: bin.into(),
            home,
        })
    }

    /// A `skopeo` command with the isolated environment and global options
    /// set; add the subcommand and its arguments.
    pub fn command(&self) -> Command {
        let home = self.home.path();
        let mut command = Command::new(&self.bin);
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", home)
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("TMPDIR", home.join("tmp"))
            .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
            .env("CONTAINERS_REGISTRIES_CONF", home.join("registries.conf"))
            .arg("--insecure-policy")
            .arg("--registries.d")
            .arg(home.join("registries.d"))
            .arg("--command-timeout")
            .arg(COMMAND_TIMEOUT);
        command
    }

    /// Runs `skopeo <args>`; an error carries the command line and output.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<Output, CommandError> {
        command::run(self.command().args(args))
    }

    /// `skopeo copy [extra_args] <src> <dst>`, returning stdout.
    pub fn copy(&self, src: &str, dst: &str, extra_args: &[&str]) -> Result<String, CommandError> {
        let mut args: Vec<&str> = vec!["copy"];
        args.extend_from_slice(extra_args);
        args.extend([src, dst]);
        let output = self.run(&args)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `skopeo inspect [extra_args] <image>`, parsed.
    pub fn inspect(
        &self,
        image: &str,
        extra_args: &[&str],
    ) -> Result<serde_json::Value, CommandError> {
        let mut args: Vec<&str> = vec!["inspect"];
        args.extend_from_slice(extra_args);
        args.push(image);
        let output = self.run(&args)?;
        serde_json::from_slice(&output.stdout).map_err(|error| CommandError {
            command: format!("skopeo {}", args.join(" ")),
            status: Some(output.status),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: format!("output is not JSON: {error}"),
        })
    }

    /// `skopeo inspect --raw [extra_args] <image>`: the manifest bytes exactly
    /// as the source serves them.
    pub fn inspect_raw(&self, image: &str, extra_args: &[&str]) -> Result<Vec<u8>, CommandError> {
        let mut args: Vec<&str> = vec!["inspect", "--raw"];
        args.extend_from_slice(extra_args);
        args.push(image);
        Ok(self.run(&args)?.stdout)
    }

    /// Copies `src` (e.g. `oci:/path:tag` or `dir:/path`) to
    /// `docker://<registry>/<name>` with `--preserve-digests`, the options
    /// `registry`'s mode needs (see [`registry_args`]) and `extra_args`
    /// (e.g. `--all` for an index).
    pub fn push(
        &self,
        src: &str,
        registry: &Distribution,
        name: &str,
        extra_args: &[&str],
    ) -> Result<String, CommandError> {
        let mut args = registry_args(registry, "dest-");
        args.push("--preserve-digests".into());
        args.extend(extra_args.iter().map(|arg| arg.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let dst = format!("docker://{}", registry.reference(name));
        self.copy(src, &dst, &args)
    }

    /// `skopeo inspect [extra_args]` of `docker://<registry>/<name>` with the
    /// options `registry`'s mode needs.
    pub fn inspect_in(
        &self,
        registry: &Distribution,
        name: &str,
        extra_args: &[&str],
    ) -> Result<serde_json::Value, CommandError> {
        let mut args = registry_args(registry, "");
        args.extend(extra_args.iter().map(|arg| arg.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.inspect(&format!("docker://{}", registry.reference(name)), &args)
    }

    /// `skopeo inspect --raw` of `docker://<registry>/<name>`: the manifest
    /// bytes the registry serves.
    pub fn inspect_raw_in(
        &self,
        registry: &Distribution,
        name: &str,
    ) -> Result<Vec<u8>, CommandError> {
        let args = registry_args(registry, "");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.inspect_raw(&format!("docker://{}", registry.reference(name)), &args)
    }
}

/// The options that let skopeo talk to `registry`, each prefixed with
/// `prefix` (`"dest-"`, `"src-"`, or `""` for `inspect`):
/// `--<p>tls-verify=false` for plain HTTP, `--<p>cert-dir=<CA dir>` for TLS,
/// and `--<p>creds=<user>:<password>` when the registry has an account.
///
/// # Security
///
/// The credentials end up on the command line (and in error messages); they
/// are the token issuer's throwaway test account.
pub fn registry_args(registry: &Distribution, prefix: &str) -> Vec<String> {
    let mut args = Vec::new();
    match registry.ca() {
        Some(ca) => args.push(format!("--{prefix}cert-dir={}", ca.cert_dir().display())),
        None => args.push(format!("--{prefix}tls-verify=false")),
    }
    if let Some((user, password)) = registry.credentials() {
        args.push(format!("--{prefix}creds={user}:{password}"));
    }
    args
}
