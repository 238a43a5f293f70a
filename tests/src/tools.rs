//! Helpers the container-tool tests share: the `ocipull` binary and a
//! running `ocipull serve`, the unprivileged user, unpacking tar archives.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::command::{self, CommandError};

/// The system user (created by `scripts/install-peers.sh`) as which the
/// tests run programs that read what ocipull wrote.
pub const UNPRIVILEGED_USER: &str = "ocipull-ci";

/// How long `ocipull serve` may take to write its ready file, and a log record to arrive.
const SERVE_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `ocipull` binary of this workspace, built once per test process with
/// `cargo build -p ocipull` (the test crate cannot name another package's
/// binary with `CARGO_BIN_EXE_…`). `OCIPULL_BIN` overrides it.
///
/// # Panics
///
/// When the build fails.
pub fn ocipull_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(build_ocipull)
        .clone()
        .unwrap_or_else(|why| panic!("cannot build ocipull: {why}"))
}

fn build_ocipull() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("OCIPULL_BIN").filter(|b| !b.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let output = Command::new(cargo)
        .args(["build", "--quiet", "-p", "ocipull", "--bin", "ocipull"])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo did not start: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo build -p ocipull failed ({})", output.status));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "ocipull")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo reported no ocipull executable".to_owned())
}

/// `ocipull serve --listen 127.0.0.1:0 --layout NAME=DIR… --log-file … --ready-file …`, the
/// real binary, on a port it picks (read from its ready file); killed (by PID) on drop.
#[derive(Debug)]
pub struct OcipullServe {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    requests: PathBuf,
    _dir: tempfile::TempDir,
}

impl OcipullServe {
    /// Serves each `(name, dir)` layout and waits until it accepts connections.
    pub fn start(layouts: &[(&str, &Path)]) -> io::Result<OcipullServe> {
        OcipullServe::start_with(layouts, &[])
    }

    /// [`OcipullServe::start`] with more flags, e.g. `--tls --tls-ca-out FILE`, `--auth
    /// token --user NAME:PASSWORD` or `--faults FILE`.
    pub fn start_with(layouts: &[(&str, &Path)], extra: &[&str]) -> io::Result<OcipullServe> {
        let dir = tempfile::Builder::new()
            .prefix("ocipull-serve-")
            .tempdir()?;
        let log = dir.path().join("serve.log");
        let requests = dir.path().join("requests.jsonl");
        let ready = dir.path().join("ready");
        let mut command = Command::new(ocipull_bin());
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-file"])
            .arg(&requests)
            .arg("--ready-file")
            .arg(&ready)
            .args(extra);
        for (name, layout) in layouts {
            let mut arg = std::ffi::OsString::from(format!("{name}="));
            arg.push(layout);
            command.arg("--layout").arg(arg);
        }
        let log_file = std::fs::File::create(&log)?;
        let mut child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()?;
        let started = Instant::now();
        // The ready file appears (whole: it is renamed into place) once the server accepts
        // connections.
        let addr = loop {
            if let Some(status) = child.try_wait()? {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "ocipull serve exited ({status}):\n{text}"
                )));
            }
            if let Ok(text) = std::fs::read_to_string(&ready) {
                break text.trim().parse::<SocketAddr>().map_err(|e| {
                    io::Error::other(format!("ready file {text:?} is not an address: {e}"))
                })?;
            }
            if started.elapsed() > SERVE_START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("ocipull serve wrote no ready file within {SERVE_START_TIMEOUT:?}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        Ok(OcipullServe {
            child,
            addr,
            log,
            requests,
            _dir: dir,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `127.0.0.1:PORT/<name>`.
    pub fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }

    /// What the server printed and logged (one line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Request log lines answered with a 5xx status.
    pub fn server_errors(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(" status=5"))
            .map(str::to_owned)
            .collect()
    }

    /// The `--log-file` records so far (requests, failed TLS handshakes, malformed
    /// requests), oldest first.
    pub fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.requests)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The `--log-file` records once `done` holds for them or 30 seconds have passed.
    pub fn records_until(
        &self,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let started = Instant::now();
        loop {
            let records = self.records();
            if done(&records) || started.elapsed() > SERVE_START_TIMEOUT {
                return records;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `(method, status, authorization)` of each request record whose path contains
    /// `path`, once `done` holds for them or 30 seconds have passed (the
    /// writer flushes soon after each request; a client may finish first).
    pub fn requests_for(
        &self,
        path: &str,
        done: impl Fn(&[(String, u16, bool)]) -> bool,
    ) -> Vec<(String, u16, bool)> {
        let started = Instant::now();
        loop {
            let found: Vec<_> = self
                .records()
                .iter()
                .filter(|r| r["event"] == "request")
                .filter(|r| r["path"].as_str().is_some_and(|p| p.contains(path)))
                .map(|r| {
                    (
                        r["method"].as_str().unwrap_or_default().to_owned(),
                        r["status"].as_u64().unwrap_or_default() as u16,
                        r["authorization"] == true,
                    )
                })
                .collect();
            if done(&found) || started.elapsed() > SERVE_START_TIMEOUT {
                return found;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for OcipullServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ocipull pull [extra] <reference> <dir>` with the real binary, returning
/// its stdout.
pub fn ocipull_pull(reference: &str, dir: &Path, extra: &[&str]) -> Result<String, CommandError> {
    let output = command::run(
        Command::new(ocipull_bin())
            .arg("pull")
            .args(extra)
            .arg(reference)
            .arg(dir),
    )?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Extracts the tar archive `tar` into the directory `dir` (created).
pub fn untar(tar: &Path, dir: &Path) -> Result<(), CommandError> {
    std::fs::create_dir_all(dir).map_err(|e| CommandError {
        command: format!("mkdir {}", dir.display()),
        status: None,
        stdout: String::new(),
        stderr: e.to_string(),
    })?;
    command::run(Command::new("tar").arg("-xf").arg(tar).arg("-C").arg(dir)).map(drop)
}

/// A temporary directory that [`UNPRIVILEGED_USER`] can enter and list (and,
/// with `writable`, write in): for layouts it reads and bundles it writes.
/// Its path is all lowercase, since some tools (podman pulling `oci:DIR`)
/// derive an image name from it. Removed on drop.
pub fn shared_tempdir(writable: bool) -> io::Result<SharedDir> {
    use std::os::unix::fs::PermissionsExt as _;
    let base = std::env::temp_dir();
    let mut attempts = 0;
    let path = loop {
        let path = base.join(format!("ocipull-shared-{:016x}", rand::random::<u64>()));
        match std::fs::create_dir(&path) {
            Ok(()) => break path,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
            Err(e) => return Err(e),
        }
    };
    let dir = SharedDir { path };
    let mode = if writable { 0o1777 } else { 0o755 };
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(mode))?;
    Ok(dir)
}

/// A directory from [`shared_tempdir`], removed (with its contents) on drop.
#[derive(Debug)]
pub struct SharedDir {
    path: PathBuf,
}

impl SharedDir {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The `PATH` for commands run through `runuser` (which is in `/usr/sbin`).
pub(crate) const SBIN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Whether [`UNPRIVILEGED_USER`] exists, with a reason when not.
pub fn unprivileged_user() -> Result<&'static str, String> {
    let output = Command::new("getent")
        .args(["passwd", UNPRIVILEGED_USER])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("getent: {e}"))?;
    if output.status.success() {
        Ok(UNPRIVILEGED_USER)
    } else {
        Err(format!(
            "user {UNPRIVILEGED_USER} does not exist (scripts/install-peers.sh creates it)"
        ))
    }
}
