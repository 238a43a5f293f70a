//! Running a daemon (containerd, dockerd) so that it never outlives the test
//! process, even when it is kept in a `static` for the whole test binary.
//!
//! The daemon is started by a small `sh` supervisor whose standard input is a
//! pipe from the test process. When that pipe closes — the handle is dropped,
//! or the test process exits in any way, a panic or a kill included — the
//! supervisor sends the daemon `SIGTERM` (by its PID), waits a bounded time,
//! sends `SIGKILL` if it is still there, and removes the daemon's directory.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a daemon may take to stop after `SIGTERM` before it is killed.
const STOP_GRACE_TENTHS: u32 = 100;
/// How long dropping a [`Supervised`] waits for the supervisor to finish.
const DROP_WAIT: Duration = Duration::from_secs(20);

/// `sh -c` script: `$1` the directory to remove at the end, `$2` the log,
/// the rest the daemon's command line.
const SUPERVISOR: &str = r#"
dir=$1; log=$2; shift 2
"$@" >>"$log" 2>&1 </dev/null &
pid=$!
echo "$pid"
alive() { [ -r "/proc/$1/stat" ] && read -r _ _ state _ <"/proc/$1/stat" && [ "$state" != Z ]; }
# Until the test process closes our stdin (drop or exit).
while read -r _; do :; done
kill -TERM "$pid" 2>/dev/null
i=0
while alive "$pid" && [ "$i" -lt "$GRACE" ]; do sleep 0.1; i=$((i + 1)); done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$dir"
"#;

/// A daemon under a supervisor; stopped (and its directory removed) when
/// dropped or when the test process ends.
pub(crate) struct Supervised {
    supervisor: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
    dir: PathBuf,
    log: PathBuf,
}

impl Supervised {
    /// Starts `program args…` with `envs` (on top of a minimal environment),
    /// logging to `dir/<name>.log`. `dir` is handed to the supervisor, which
    /// removes it after the daemon has stopped.
    pub(crate) fn start(
        name: &str,
        program: &Path,
        args: &[OsString],
        envs: &[(&str, OsString)],
        dir: TempDir,
    ) -> io::Result<Supervised> {
        let dir = dir.keep();
        let log = dir.join(format!("{name}.log"));
        File::create(&log)?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("ocipull-supervisor")
            .arg(&dir)
            .arg(&log)
            .arg(program)
            .args(args)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("GRACE", STOP_GRACE_TENTHS.to_string())
            .env("HOME", &dir)
            .env("TMPDIR", &dir)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut supervisor = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(io::Error::new(
                    error.kind(),
                    format!("sh (supervising {}): {error}", program.display()),
                ));
            }
        };
        let stdin = supervisor.stdin.take();
        let mut line = String::new();
        let stdout = supervisor.stdout.take().expect("piped");
        BufReader::new(stdout).read_line(&mut line)?;
        let pid = line.trim().parse().map_err(|_| {
            io::Error::other(format!(
                "the supervisor of {} printed no PID ({line:?})",
                program.display()
            ))
        })?;
        Ok(Supervised {
            supervisor,
            stdin,
            pid,
            dir,
            log,
        })
    }

    /// The daemon's PID.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The daemon's directory (removed once it has stopped).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the daemon process is still running (not exited, not a zombie).
    pub(crate) fn is_running(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) => stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z"),
            Err(_) => false,
        }
    }

    /// Everything the daemon printed so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `ready` every 50 ms until it returns `Ok`, the daemon exits, or
    /// `timeout` passes; the error then carries the last failure and the log.
    pub(crate) fn wait_until<E: std::fmt::Display>(
        &self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> Result<(), E>,
    ) -> io::Result<()> {
        let started = Instant::now();
        loop {
            let last = match ready() {
                Ok(()) => return Ok(()),
                Err(error) => error.to_string(),
            };
            if !self.is_running() {
                return Err(io::Error::other(format!(
                    "{what}: the daemon exited while starting (last check: {last}); log:\n{}",
                    self.log()
                )));
            }
            if started.elapsed() > timeout {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{what}: not ready within {timeout:?} (last check: {last}); log:\n{}",
                        self.log()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Closing the pipe tells the supervisor to stop the daemon.
        drop(self.stdin.take());
        let started = Instant::now();
        while started.elapsed() < DROP_WAIT {
            match self.supervisor.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                _ => return,
            }
        }
        let _ = self.supervisor.kill();
        let _ = self.supervisor.wait();
    }
}

impl std::fmt::Debug for Supervised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervised")
            .field("pid", &self.pid)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}
