//! `cargo xtask test`: every check CI runs, in order, stopping at the first failure.
//!
//! Each check is one function listed in [`STEPS`]; adding a check (for example
//! replaying the fuzz corpora) means writing one function and adding one line.

use std::time::{Duration, Instant};

use crate::cmd;

/// One check: the name it is selected by and the function that runs it.
struct Step {
    name: &'static str,
    run: fn(&mut Tally) -> crate::Result,
}

/// Every check, in the order it runs.
const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        run: fmt,
    },
    Step {
        name: "clippy",
        run: clippy,
    },
    Step {
        name: "doc",
        run: doc,
    },
    Step {
        name: "features",
        run: features,
    },
    Step {
        name: "test",
        run: test,
    },
    Step {
        name: "fuzz-corpora",
        run: fuzz_corpora,
    },
];

/// Runs the steps named in `args`, or all of them when `args` is empty.
pub fn run(args: &[String]) -> crate::Result {
    let selected = select(args)?;
    let mut tally = Tally::default();
    let mut timings = Vec::new();
    for step in selected {
        println!("\n==> xtask test: {}", step.name);
        let started = Instant::now();
        (step.run)(&mut tally).map_err(|error| format!("step `{}`: {error}", step.name))?;
        timings.push((step.name, started.elapsed()));
    }
    println!("\nxtask test: all steps passed: {}", describe(&timings));
    if tally.binaries > 0 {
        // Alone on the last line, so the totals are what a reader sees last.
        println!(
            "tests: {} passed, {} failed, {} skipped",
            tally.passed, tally.failed, tally.ignored
        );
    }
    Ok(())
}

fn select(args: &[String]) -> crate::Result<Vec<&'static Step>> {
    if args.is_empty() {
        return Ok(STEPS.iter().collect());
    }
    args.iter()
        .map(|name| {
            STEPS.iter().find(|step| step.name == name).ok_or_else(|| {
                let names: Vec<_> = STEPS.iter().map(|step| step.name).collect();
                format!("no step `{name}`; steps are: {}", names.join(", ")).into()
            })
        })
        .collect()
}

fn describe(timings: &[(&str, Duration)]) -> String {
    let parts: Vec<_> = timings
        .iter()
        .map(|(name, took)| format!("{name} ({:.1}s)", took.as_secs_f64()))
        .collect();
    parts.join(", ")
}

/// `cargo fmt --all --check`: formatting is part of the build.
fn fmt(_: &mut Tally) -> crate::Result {
    let mut command = cmd::cargo();
    command.args(["fmt", "--all", "--check"]);
    cmd::run(command)
}

/// `cargo clippy` on every target of every crate, warnings denied.
fn clippy(_: &mut Tally) -> crate::Result {
    let mut command = cmd::cargo();
    command.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    cmd::run(command)
}

/// `cargo doc` for every crate with rustdoc warnings denied: a broken intra-doc link
/// renders as plain text, so only a failing build catches it.
fn doc(_: &mut Tally) -> crate::Result {
    let mut command = cmd::cargo();
    command
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    cmd::run(command)
}

/// The library crates whose optional features must each build alone.
const LIBRARIES: &[&str] = &["ocipull-spec", "ocipull-client", "ocipull-server"];

/// Each library crate with `--no-default-features`, then with `--all-features`: the
/// minimal build (for `ocipull-spec`, pure types without tokio) must not rot behind the
/// defaults.
fn features(_: &mut Tally) -> crate::Result {
    for package in LIBRARIES {
        for flag in ["--no-default-features", "--all-features"] {
            let mut command = cmd::cargo();
            command.args(["check", "--package", package, "--lib", flag]);
            cmd::run(command)?;
        }
    }
    Ok(())
}

/// `cargo test --workspace`: unit, integration (including the interop tests
/// against real peers in `tests/`) and doc tests. `--no-fail-fast` so one run
/// shows every failing test binary.
fn test(tally: &mut Tally) -> crate::Result {
    let mut command = cmd::cargo();
    command.args(["test", "--workspace", "--no-fail-fast"]);
    // `cargo test` builds every test binary, and the `ocipull` binary for the CLI's own
    // tests, before it runs any; the peer tests in `tests/` use that same binary instead
    // of building one with other features (a second, slower build of the dependencies).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"));
    command.env("OCIPULL_BIN", target.join("debug").join("ocipull"));
    cmd::run_observed(command, |line| tally.observe(line))
}

/// Replays every fuzz corpus and regression input (`fuzz/corpus`, `fuzz/regressions`)
/// through the fuzz targets' bodies, on stable Rust. `test` runs the same replay among the
/// workspace's tests; this step runs it alone (`cargo xtask test fuzz-corpora`) and prints
/// how many inputs each target replayed. Its tests are not added to the totals again.
fn fuzz_corpora(_: &mut Tally) -> crate::Result {
    let mut command = cmd::cargo();
    command.args([
        "test",
        "--package",
        "ocipull-fuzz-targets",
        "--test",
        "replay",
        "--",
        "--nocapture",
        // The replay alone: the replay machinery's own tests (one plants a panic, whose
        // message would read like a failure here) run in the `test` step.
        "every_corpus_and_regression_input_passes",
    ]);
    cmd::run(command)
}

/// Totals over every libtest `test result:` line seen.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    binaries: u32,
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Tally {
    /// Adds the counts of a line like
    /// `test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s`.
    fn observe(&mut self, line: &str) {
        let Some(rest) = line.trim_start().strip_prefix("test result: ") else {
            return;
        };
        self.binaries += 1;
        for part in rest.split([';', '.']) {
            let Some((count, word)) = part.trim().split_once(' ') else {
                continue;
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match word {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_sums_result_lines_and_ignores_others() {
        let mut tally = Tally::default();
        for line in [
            "running 6 tests",
            "test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
            "test foo ... ok",
            "test result: FAILED. 2 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.50s",
        ] {
            tally.observe(line);
        }
        assert_eq!(
            tally,
            Tally {
                binaries: 2,
                passed: 7,
                failed: 3,
                ignored: 1
            }
        );
    }

    #[test]
    fn unknown_step_is_an_error_naming_the_steps() {
        let error = select(&["lint".to_string()]).err().expect("unknown step");
        assert!(
            error
                .to_string()
                .contains("fmt, clippy, doc, features, test"),
            "{error}"
        );
    }
}
