//! Measuring one run: wall time, CPU time (user + system) and peak RSS of a
//! child process, or of a server process while it is under load.
//!
//! A client's CPU time and peak RSS come from GNU time (`/usr/bin/time`,
//! `wait4` underneath), since the standard library does not expose a child's
//! resource usage. A server's come from `/proc/<pid>/stat` and `VmHWM` in
//! `/proc/<pid>/status`, read while it runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// What one run of one contender measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Wall time in seconds.
    pub wall: f64,
    /// CPU time (user + system) in seconds, of the client or of the server.
    pub cpu: Option<f64>,
    /// Peak resident set size in KiB, of the client or of the server.
    pub rss_kib: Option<u64>,
    /// Work per second: MB/s (10^6 bytes), requests/s or manifests/s.
    pub rate: Option<f64>,
    /// 99th percentile latency in milliseconds (server cases).
    pub p99_ms: Option<f64>,
}

/// A finished child process run under GNU time.
#[derive(Debug)]
pub struct Finished {
    /// What it printed on stdout.
    pub stdout: String,
    /// Wall time from spawn to exit, in seconds.
    pub wall: f64,
    /// User + system CPU seconds.
    pub cpu: f64,
    /// Peak RSS in KiB.
    pub rss_kib: u64,
}

impl Finished {
    /// A sample doing `work` units (bytes as MB, requests, manifests) per run.
    pub fn sample(&self, work: f64) -> Sample {
        Sample {
            wall: self.wall,
            cpu: Some(self.cpu),
            rss_kib: Some(self.rss_kib),
            rate: Some(work / self.wall),
            p99_ms: None,
        }
    }
}

/// Runs `command` to completion under GNU `time` and measures it. Fails,
/// with the end of its stderr, unless it exits successfully.
pub fn timed(time: &Path, command: &Command, scratch: &Path) -> crate::Result<Finished> {
    let report = scratch.join("time.out");
    let mut wrapped = Command::new(time);
    wrapped
        .arg("-o")
        .arg(&report)
        .arg("-f")
        .arg("%U %S %M")
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    let line = crate::cmd::display(command);
    let started = Instant::now();
    let output = wrapped
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("`{line}` could not start: {error}"))?;
    let wall = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "`{line}` failed ({}): {}",
            output.status,
            tail(&String::from_utf8_lossy(&output.stderr), 6)
        )
        .into());
    }
    let usage = std::fs::read_to_string(&report)
        .map_err(|error| format!("reading {}: {error}", report.display()))?;
    let (cpu, rss_kib) = parse_time(&usage)
        .ok_or_else(|| format!("`{line}`: cannot read GNU time's report {usage:?}"))?;
    Ok(Finished {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        wall,
        cpu,
        rss_kib,
    })
}

/// Parses the last line of `%U %S %M`: (user + system seconds, max RSS KiB).
fn parse_time(report: &str) -> Option<(f64, u64)> {
    let line = report.lines().rev().find(|line| !line.trim().is_empty())?;
    let mut fields = line.split_whitespace();
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    let rss: u64 = fields.next()?.parse().ok()?;
    Some((user + system, rss))
}

/// The value of the first `key=value` line of `output`.
pub fn value<'o>(output: &'o str, key: &str) -> Option<&'o str> {
    output
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

/// Runs one of the bench tools that print `secs=` and `mbps=` lines, as a sample with a wall
/// time and a rate; a failed run is an error quoting the command and its stderr.
pub fn rate_probe(mut command: Command) -> crate::Result<Sample> {
    let line = crate::cmd::display(&command);
    let output = command.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "`{line}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(Sample {
        wall: parsed(&stdout, "secs")?,
        rate: Some(parsed(&stdout, "mbps")?),
        ..Sample::default()
    })
}

/// The value of `key=` in `output`, parsed.
pub fn parsed<T: std::str::FromStr>(output: &str, key: &str) -> crate::Result<T> {
    value(output, key)
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| format!("no `{key}=` number in the output:\n{}", tail(output, 6)).into())
}

/// The last `n` lines of `text`, for error messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A process's CPU time (user + system) so far, in seconds, from `/proc`.
pub fn process_cpu(pid: u32, ticks_per_sec: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&stat).map(|ticks| ticks as f64 / ticks_per_sec)
}

/// utime + stime (fields 14 and 15 of proc(5) `stat`), in clock ticks.
fn parse_stat_cpu(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A process's peak RSS so far (`VmHWM`), in KiB, from `/proc`.
pub fn process_peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_hwm(&status)
}

fn parse_status_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Clock ticks per second for `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on
/// every Linux port when `getconf` is missing).
pub fn ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Flushes dirty pages machine-wide, so one run's writes are not paid for by
/// the next run's fsync.
pub fn sync() {
    let _ = Command::new("sync").status();
}

/// A fresh, empty scratch directory for one run.
pub fn fresh_dir(path: PathBuf) -> crate::Result<PathBuf> {
    if path.exists() {
        std::fs::remove_dir_all(&path)
            .map_err(|error| format!("removing {}: {error}", path.display()))?;
    }
    std::fs::create_dir_all(&path)
        .map_err(|error| format!("creating {}: {error}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_time_report_with_and_without_an_exit_note() {
        assert_eq!(parse_time("1.25 0.50 4096\n"), Some((1.75, 4096)));
        assert_eq!(
            parse_time("Command exited with non-zero status 1\n0.01 0.02 300\n"),
            Some((0.03, 300))
        );
        assert_eq!(parse_time("garbage"), None);
    }

    #[test]
    fn proc_stat_cpu_with_a_name_containing_spaces_and_parens() {
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100";
        assert_eq!(parse_stat_cpu(stat), Some(300));
        assert_eq!(parse_stat_cpu("42 (x) S 1"), None);
    }

    #[test]
    fn proc_status_high_water_mark() {
        let status = "Name:\tx\nVmPeak:\t 9 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_status_hwm(status), Some(2048));
        assert_eq!(parse_status_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn key_values_from_output() {
        let output = "noise\nbytes=123\nsecs=0.5\n";
        assert_eq!(value(output, "bytes"), Some("123"));
        assert_eq!(parsed::<f64>(output, "secs").unwrap(), 0.5);
        assert!(parsed::<u64>(output, "mbps").is_err());
        assert_eq!(value("bytesx=1", "bytes"), None);
    }
}
