//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/`, one after the other.
//!
//! ```text
//! cargo xtask fuzz [--seconds N] [--merge] [--sanitizer S] [TARGET...]
//! cargo xtask fuzz --reproduce TARGET FILE
//! ```
//!
//! `--reproduce` runs one input through the target's body on stable Rust (no fuzzer build),
//! printing the panic and its backtrace.
//!
//! Installs `cargo-fuzz` when it is missing, builds the targets and runs each for `N`
//! seconds (all targets when none is named), then prints one line per target and fails if
//! any crashed, hung or ran out of memory. A run stops at a target's first crash unless
//! `--keep-going` is given (libFuzzer's fork mode, one child at a time). A crash input is left in
//! `fuzz/artifacts/<target>/`; once fixed, it belongs in `fuzz/regressions/<target>/`, where
//! `cargo test -p ocipull-fuzz-targets` replays it on stable Rust.
//!
//! cargo-fuzz passes nightly-only flags to rustc; `RUSTC_BOOTSTRAP=1` makes a stable
//! toolchain accept them, so no nightly toolchain is needed.
//!
//! Inputs the fuzzer finds go to a working corpus under the target directory, never into
//! the source tree; `--merge` then adds to `fuzz/corpus/<target>/` only those that reach
//! code the committed corpus does not (libFuzzer's `-merge=1`), for committing.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::cmd;

/// How long each target runs by default: long enough to get past the seeds, short enough
/// to run every target in a few minutes on a 2-core machine.
const DEFAULT_SECONDS: u64 = 60;

/// The cargo-fuzz release installed when it is missing (the one the harnesses were written
/// against).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Default sanitizer. Every crate of ours is `#![forbid(unsafe_code)]`, so AddressSanitizer
/// would only watch our dependencies, at about half the executions per second; `--sanitizer
/// address` turns it on.
const DEFAULT_SANITIZER: &str = "none";

/// One input running longer than this is reported as a hang (libFuzzer's default is 20
/// minutes, longer than a whole run).
const INPUT_TIMEOUT_SECONDS: u64 = 10;

/// Memory limit of the fuzzing process (libFuzzer's default, stated so it is visible): a
/// target that allocates without bound fails instead of slowing the machine.
const RSS_LIMIT_MB: u64 = 2048;

const USAGE: &str = "\
usage: cargo xtask fuzz [--seconds N] [--merge] [--keep-going] [--sanitizer S] [TARGET...]
       cargo xtask fuzz --reproduce TARGET FILE";

/// What the command line asked for.
#[derive(Debug, PartialEq)]
struct Options {
    seconds: u64,
    merge: bool,
    keep_going: bool,
    sanitizer: String,
    targets: Vec<String>,
    reproduce: Option<(String, PathBuf)>,
}

/// Runs the fuzz targets as `args` say.
pub fn run(args: &[String]) -> crate::Result {
    let options = parse(args)?;
    let fuzz = fuzz_dir();
    let known = known_targets(&fuzz)?;
    if let Some((target, file)) = &options.reproduce {
        // On stable, without the fuzzer: the target's body on the one input, with the panic
        // and its backtrace.
        check_known(&known, std::slice::from_ref(target))?;
        let mut command = cmd::cargo();
        command
            .env("RUST_BACKTRACE", "1")
            .args([
                "run",
                "--package",
                "ocipull-fuzz-targets",
                "--example",
                "run",
                "--",
            ])
            .arg(target)
            .arg(file);
        return cmd::run(command);
    }
    ensure_cargo_fuzz()?;

    let targets = if options.targets.is_empty() {
        known.iter().cloned().collect()
    } else {
        check_known(&known, &options.targets)?;
        options.targets.clone()
    };
    let mut outcomes = Vec::new();
    for target in &targets {
        println!("\n==> xtask fuzz: {target} for {} s", options.seconds);
        let outcome = fuzz_one(&fuzz, target, &options)?;
        if outcome.failure.is_none() && options.merge {
            merge(&fuzz, target, &options.sanitizer)?;
        }
        outcomes.push(outcome);
    }

    println!("\nxtask fuzz summary:");
    for outcome in &outcomes {
        println!("  {}", outcome.describe());
    }
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| o.failure.is_some())
        .map(|o| o.target.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} target(s) failed: {}; fix the cause, then add the input to \
             fuzz/regressions/<target>/",
            failed.len(),
            failed.join(", ")
        )
        .into())
    }
}

fn parse(args: &[String]) -> crate::Result<Options> {
    let mut options = Options {
        seconds: DEFAULT_SECONDS,
        merge: false,
        keep_going: false,
        sanitizer: DEFAULT_SANITIZER.to_owned(),
        targets: Vec::new(),
        reproduce: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--seconds" => {
                let text = value("--seconds")?;
                options.seconds = match text.parse() {
                    Ok(0) | Err(_) => {
                        return Err(
                            format!("--seconds {text:?}: expected a positive number").into()
                        );
                    }
                    Ok(n) => n,
                };
            }
            "--merge" => options.merge = true,
            "--keep-going" => options.keep_going = true,
            "--sanitizer" => options.sanitizer = value("--sanitizer")?,
            "--reproduce" => {
                let target = value("--reproduce")?;
                let file = value("--reproduce")?;
                options.reproduce = Some((target, PathBuf::from(file)));
            }
            "-h" | "--help" => return Err(USAGE.into()),
            flag if flag.starts_with('-') => {
                return Err(format!("unknown option {flag}\n{USAGE}").into());
            }
            target => options.targets.push(target.to_owned()),
        }
    }
    if options.reproduce.is_some() && !options.targets.is_empty() {
        return Err(format!("--reproduce takes exactly one target and one file\n{USAGE}").into());
    }
    Ok(options)
}

/// `fuzz/` of this repository.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository root")
        .join("fuzz")
}

/// Where the fuzz build and the working corpora go: `fuzz/` under the cargo target dir.
fn work_dir(fuzz: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| fuzz.join("../target"));
    target.join("fuzz")
}

/// The targets, from the harness files `fuzz/fuzz_targets/<name>.rs`.
fn known_targets(fuzz: &Path) -> crate::Result<BTreeSet<String>> {
    let dir = fuzz.join("fuzz_targets");
    let entries = std::fs::read_dir(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let mut names = BTreeSet::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.insert(stem.to_owned());
            }
        }
    }
    Ok(names)
}

fn check_known(known: &BTreeSet<String>, wanted: &[String]) -> crate::Result {
    for name in wanted {
        if !known.contains(name) {
            let all: Vec<_> = known.iter().map(String::as_str).collect();
            return Err(format!("no fuzz target `{name}`; targets are: {}", all.join(", ")).into());
        }
    }
    Ok(())
}

/// Installs cargo-fuzz unless `cargo fuzz` already runs.
fn ensure_cargo_fuzz() -> crate::Result {
    let present = cmd::cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    let mut install = cmd::cargo();
    install.args([
        "install",
        "--locked",
        "cargo-fuzz",
        "--version",
        CARGO_FUZZ_VERSION,
    ]);
    cmd::run(install)
}

/// `cargo fuzz <subcommand>` in `fuzz/`, building into the work dir, with the flags that
/// let a stable toolchain build it.
fn cargo_fuzz(fuzz: &Path, subcommand: &str, sanitizer: &str) -> Command {
    let mut command = cmd::cargo();
    command
        .current_dir(fuzz)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", subcommand, "--sanitizer", sanitizer, "--target-dir"])
        .arg(work_dir(fuzz).join("build"));
    command
}

/// How one target's run ended.
struct Outcome {
    target: String,
    seconds: f64,
    executions: Option<u64>,
    failure: Option<String>,
}

impl Outcome {
    fn describe(&self) -> String {
        let runs = self
            .executions
            .map_or_else(|| "? runs".to_owned(), |n| format!("{n} runs"));
        let result = self.failure.as_deref().unwrap_or("ok");
        format!(
            "{:<12} {:>7.0} s  {runs:<14} {result}",
            self.target, self.seconds
        )
    }
}

fn fuzz_one(fuzz: &Path, target: &str, options: &Options) -> crate::Result<Outcome> {
    let corpus = work_dir(fuzz).join("corpus").join(target);
    std::fs::create_dir_all(&corpus).map_err(|error| format!("{}: {error}", corpus.display()))?;
    let artifacts = fuzz.join("artifacts").join(target);
    let before = files(&artifacts);

    let mut command = cargo_fuzz(fuzz, "run", &options.sanitizer);
    // The first corpus directory is the one libFuzzer writes to; the committed ones are read.
    command
        .arg(target)
        .arg(&corpus)
        .arg(fuzz.join("corpus").join(target));
    let regressions = fuzz.join("regressions").join(target);
    if regressions.is_dir() {
        command.arg(regressions);
    }
    command.arg("--").args([
        format!("-max_total_time={}", options.seconds),
        format!("-timeout={INPUT_TIMEOUT_SECONDS}"),
        format!("-rss_limit_mb={RSS_LIMIT_MB}"),
        "-print_final_stats=1".to_owned(),
    ]);
    if options.keep_going {
        // One child process at a time that is restarted after each crash, so a run collects
        // every crash it finds instead of stopping at the first.
        command.args([
            "-fork=1",
            "-ignore_crashes=1",
            "-ignore_timeouts=1",
            "-ignore_ooms=1",
        ]);
    }

    let started = Instant::now();
    let mut executions = None;
    let status = run_filtered(command, |line| {
        if let Some(n) = executions_in(line) {
            executions = Some(n);
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();

    let new_artifacts: Vec<_> = files(&artifacts).difference(&before).cloned().collect();
    let failure = if status.success() && new_artifacts.is_empty() {
        None
    } else if new_artifacts.is_empty() {
        Some(format!("FAILED ({status})"))
    } else {
        let paths: Vec<_> = new_artifacts
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        Some(format!("FAILED ({status}): {}", paths.join(", ")))
    };
    Ok(Outcome {
        target: target.to_owned(),
        seconds,
        executions,
        failure,
    })
}

/// Adds to `fuzz/corpus/<target>/` the working-corpus inputs that reach new code (new edges).
fn merge(fuzz: &Path, target: &str, sanitizer: &str) -> crate::Result {
    let committed = fuzz.join("corpus").join(target);
    let before = files(&committed).len();
    let mut command = cargo_fuzz(fuzz, "run", sanitizer);
    command
        .arg(target)
        .arg(&committed)
        .arg(work_dir(fuzz).join("corpus").join(target))
        // Edges only, not how often each is hit: the committed corpus stays a few hundred
        // small files per target, which the replay test runs in about a second.
        .args(["--", "-merge=1", "-use_counters=0"]);
    cmd::run(command)?;
    let added = files(&committed).len() - before;
    println!("merged {added} new input(s) into {}", committed.display());
    Ok(())
}

/// Runs `command`, echoing its stderr (libFuzzer's output) except the line it prints for
/// every new input, and passing each line to `on_line`.
fn run_filtered(
    mut command: Command,
    mut on_line: impl FnMut(&str),
) -> crate::Result<std::process::ExitStatus> {
    let line = cmd::display(&command);
    println!("$ {line}");
    let mut child = command
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("`{line}` could not start: {error}"))?;
    let stderr = child.stderr.take().expect("stderr is piped");
    for output in BufReader::new(stderr).lines() {
        let output = output.map_err(|error| format!("`{line}`: reading output: {error}"))?;
        if !is_new_input_line(&output) {
            eprintln!("{output}");
        }
        on_line(&output);
    }
    Ok(child
        .wait()
        .map_err(|error| format!("`{line}`: waiting: {error}"))?)
}

/// The execution count a libFuzzer line reports: its final statistics
/// (`stat::number_of_executed_units: N`) or, in fork mode, a progress line (`#N: cov: …`).
fn executions_in(line: &str) -> Option<u64> {
    if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
        return n.trim().parse().ok();
    }
    let (count, rest) = line.strip_prefix('#')?.split_once(':')?;
    rest.starts_with(" cov:").then(|| count.parse().ok())?
}

/// libFuzzer's `#1234\tNEW    cov: …` and `REDUCE` lines, one per corpus change.
fn is_new_input_line(line: &str) -> bool {
    line.starts_with('#') && (line.contains("\tNEW ") || line.contains("\tREDUCE "))
}

/// The files in `dir` (none when it does not exist).
fn files(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_parse() {
        let o = parse(&args("--seconds 600 --merge names layout")).unwrap();
        assert_eq!(o.seconds, 600);
        assert!(o.merge && !o.keep_going);
        assert!(parse(&args("--keep-going")).unwrap().keep_going);
        assert_eq!(o.targets, ["names", "layout"]);
        assert_eq!(o.sanitizer, DEFAULT_SANITIZER);
        let o = parse(&args("--reproduce names crash-1")).unwrap();
        assert_eq!(
            o.reproduce,
            Some(("names".into(), PathBuf::from("crash-1")))
        );
        let o = parse(&[]).unwrap();
        assert_eq!((o.seconds, o.targets.len()), (DEFAULT_SECONDS, 0));
    }

    #[test]
    fn bad_options_are_refused() {
        for bad in [
            "--seconds",
            "--seconds 0",
            "--seconds ten",
            "--jobs 2",
            "--reproduce names",
            "--reproduce names file other",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_harness_is_a_target() {
        let known = known_targets(&fuzz_dir()).unwrap();
        assert!(
            known.contains("names") && known.contains("layout"),
            "{known:?}"
        );
        assert!(check_known(&known, &["nope".into()]).is_err());
    }

    #[test]
    fn execution_counts_are_read_from_both_modes() {
        assert_eq!(
            executions_in("stat::number_of_executed_units: 14695893"),
            Some(14695893)
        );
        assert_eq!(
            executions_in("#3631956: cov: 6353 ft: 14058 corp: 1996 exec/s: 16914"),
            Some(3631956)
        );
        assert_eq!(executions_in("#4096\tpulse  cov: 10 ft: 12"), None);
        assert_eq!(executions_in("INFO: exiting: 0 time: 600s"), None);
    }

    #[test]
    fn new_input_lines_are_recognised() {
        assert!(is_new_input_line(
            "#1024\tNEW    cov: 10 ft: 12 corp: 3/40b"
        ));
        assert!(is_new_input_line(
            "#2048\tREDUCE cov: 10 ft: 12 corp: 3/40b"
        ));
        assert!(!is_new_input_line(
            "#4096\tpulse  cov: 10 ft: 12 corp: 3/40b"
        ));
        assert!(!is_new_input_line("==1== ERROR: libFuzzer: deadly signal"));
    }
}
