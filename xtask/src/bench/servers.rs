//! Starting the servers the cases run against, each on a free loopback port,
//! and stopping them: Debian's `docker-registry` (CNCF Distribution),
//! `ocipull serve`, and the bare hyper server of the loopback ceiling.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::measure;

/// How long a server may take to answer its first request: Distribution
/// walks nothing at start, but a loaded machine can be slow to exec.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// A running server process, killed when dropped.
#[derive(Debug)]
pub struct Server {
    name: String,
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Server {
    /// Spawns `command` (stdout and stderr to `log`) and waits until `GET
    /// ready_path` on `addr` answers 200.
    pub fn start(
        name: &str,
        mut command: Command,
        addr: String,
        ready_path: &str,
        log: PathBuf,
    ) -> crate::Result<Server> {
        let line = crate::cmd::display(&command);
        let out = std::fs::File::create(&log)
            .map_err(|error| format!("creating {}: {error}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|error| format!("`{line}` could not start: {error}"))?;
        let mut server = Server {
            name: name.to_owned(),
            child,
            addr,
            log,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                return Err(format!(
                    "{name} (`{line}`) exited at start ({status}): {}",
                    server.log_tail()
                )
                .into());
            }
            if get_status(&server.addr, ready_path).is_ok_and(|status| status == 200) {
                return Ok(server);
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "{name} (`{line}`) did not answer GET {ready_path} with 200 within {START_TIMEOUT:?}: {}",
                    server.log_tail()
                )
                .into());
            }
            std::thread::sleep(PROBE_INTERVAL);
        }
    }

    /// `host:port` it listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The end of its log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        measure::tail(&log, 8)
    }

    /// CPU seconds it has used so far.
    pub fn cpu(&self, ticks_per_sec: f64) -> Option<f64> {
        measure::process_cpu(self.pid(), ticks_per_sec)
    }

    /// Its peak RSS so far, in KiB.
    pub fn peak_rss(&self) -> Option<u64> {
        measure::process_peak_rss(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only the process this harness started, by its own handle.
        if let Err(error) = self.child.kill() {
            eprintln!("stopping {}: {error}", self.name);
        }
        let _ = self.child.wait();
    }
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> crate::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// The status code of `GET path` on `addr` (one request, `Connection: close`).
pub fn get_status(addr: &str, path: &str) -> std::io::Result<u16> {
    let timeout = Duration::from_secs(2);
    let mut stream =
        TcpStream::connect_timeout(&addr.parse().map_err(std::io::Error::other)?, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0; 64];
    let read = stream.read(&mut head)?;
    let head = String::from_utf8_lossy(&head[..read]);
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))
}

/// Debian's `docker-registry` serving `storage` (filesystem driver) on `addr`.
///
/// It reads `REGISTRY_*` variables as configuration overrides, so it starts
/// with an empty environment. Logging is off (level `error`, no access log),
/// as a benchmarked server's should be; the blob descriptor cache is the
/// in-memory one of its default configuration.
pub fn distribution(
    program: &Path,
    storage: &Path,
    addr: String,
    logs: &Path,
) -> crate::Result<Server> {
    std::fs::create_dir_all(storage)?;
    let config = logs.join("distribution.yml");
    std::fs::write(&config, distribution_config(storage, &addr))?;
    let mut command = Command::new(program);
    command
        .arg("serve")
        .arg(&config)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", logs);
    Server::start(
        "docker-registry",
        command,
        addr,
        "/v2/",
        logs.join("distribution.log"),
    )
}

fn distribution_config(storage: &Path, addr: &str) -> String {
    format!(
        "version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  secret: ocipull-bench
",
        storage = storage.display()
    )
}

/// `ocipull serve` serving each `(name, layout dir)` on `addr`, with request
/// logging off (`RUST_LOG=warn`), as Distribution's is.
pub fn ocipull(
    program: &Path,
    layouts: &[(&str, &Path)],
    addr: String,
    logs: &Path,
) -> crate::Result<Server> {
    ocipull_with(program, layouts, addr, logs, None, ServeLog::Off)
}

/// How a benchmarked `ocipull serve` logs its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeLog {
    /// `RUST_LOG=warn`: no line per request.
    Off,
    /// Its default: one line per request on stderr (`info`), through its
    /// non-blocking writer, here into a file as a service manager would.
    Stderr,
    /// `--log-file FILE` (JSON lines, written by a task of its own), stderr off.
    File,
}

/// `ocipull serve` serving each `(name, layout dir)` on `addr`, with the
/// shaping and fault rules of `faults` (`--faults FILE`) if given, logging
/// as `log` says. Its stdout and stderr go to `ocipull-serve.log` in `logs`.
pub fn ocipull_with(
    program: &Path,
    layouts: &[(&str, &Path)],
    addr: String,
    logs: &Path,
    faults: Option<&Path>,
    log: ServeLog,
) -> crate::Result<Server> {
    let mut command = Command::new(program);
    command.arg("serve").arg("--listen").arg(&addr);
    for (name, dir) in layouts {
        command
            .arg("--layout")
            .arg(format!("{name}={}", dir.display()));
    }
    if let Some(faults) = faults {
        command.arg("--faults").arg(faults);
    }
    match log {
        // The default filter, whatever the caller's environment says.
        ServeLog::Stderr => {
            command.env_remove("RUST_LOG");
        }
        ServeLog::Off => {
            command.env("RUST_LOG", "warn");
        }
        ServeLog::File => {
            // A fresh file per server: the log appends, and one run's lines
            // would otherwise pile onto the last's.
            let file = logs.join("ocipull-serve.jsonl");
            if file.exists() {
                std::fs::remove_file(&file)?;
            }
            command.env("RUST_LOG", "warn").arg("--log-file").arg(file);
        }
    }
    Server::start(
        "ocipull serve",
        command,
        addr,
        "/v2/",
        logs.join("ocipull-serve.log"),
    )
}

/// The bare hyper server of the loopback ceiling, sending `size` bytes.
pub fn static_server(
    program: &Path,
    size: u64,
    addr: String,
    logs: &Path,
) -> crate::Result<Server> {
    let mut command = Command::new(program);
    command
        .arg("--listen")
        .arg(&addr)
        .arg("--size")
        .arg(size.to_string());
    Server::start(
        "bare hyper server",
        command,
        addr,
        "/",
        logs.join("static-server.log"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_config_names_storage_and_address_and_silences_logs() {
        let config = distribution_config(Path::new("/data/reg"), "127.0.0.1:5001");
        assert!(config.contains("rootdirectory: /data/reg\n"));
        assert!(config.contains("addr: 127.0.0.1:5001\n"));
        assert!(config.contains("disabled: true"));
    }

    #[test]
    fn status_of_a_tiny_server_and_of_a_closed_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // Read the whole request head first: answering and closing earlier can make the
            // client's own write fail with a broken pipe.
            let mut request = Vec::new();
            let mut buf = [0; 256];
            while !request.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            stream.write_all(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap();
        });
        assert_eq!(get_status(&addr, "/v2/").unwrap(), 404);
        server.join().unwrap();
        assert!(get_status(&addr, "/v2/").is_err());
    }
}
