//! Replays every fuzz corpus and every crash ever found through the targets' bodies, on
//! stable Rust, so a regression fails `cargo test` (and so `cargo xtask test`) without a
//! fuzzer or a nightly toolchain.
//!
//! Layout of `fuzz/`: `fuzz_targets/<name>.rs` (the harness, one line), `corpus/<name>/`
//! (seeds and interesting inputs), `regressions/<name>/` (inputs that once crashed, all
//! passing now) and `open-crashes/<name>/` (crashes found in code whose fix is pending: each
//! must still fail, so the fix has to move it to `regressions/`).

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ocipull_fuzz_targets::{TARGETS, target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The names of the subdirectories of `dir` (or of its `.rs` files, when `rs` is set).
fn names_in(dir: &Path, rs: bool) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .map(|e| e.expect("a directory entry").path())
        .filter_map(|p| {
            if rs {
                (p.extension()? == "rs").then(|| p.file_stem()?.to_str().map(str::to_owned))?
            } else if p.is_dir() {
                p.file_name()?.to_str().map(str::to_owned)
            } else {
                None
            }
        })
        .collect()
}

/// Runs `name` on every file in `dirs`; returns how many ran and the ones that panicked.
fn replay(run: fn(&[u8]), dirs: &[PathBuf]) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut failures = Vec::new();
    for file in dirs.iter().flat_map(|d| inputs(d)) {
        count += 1;
        if replay_file(run, &file).1 {
            failures.push(file.display().to_string());
        }
    }
    (count, failures)
}

/// Runs `run` on the content of `file`; says whether it panicked.
fn replay_file(run: fn(&[u8]), file: &Path) -> (usize, bool) {
    let data = std::fs::read(file).expect("a corpus file reads");
    (
        data.len(),
        catch_unwind(AssertUnwindSafe(|| run(&data))).is_err(),
    )
}

#[test]
fn every_corpus_and_regression_input_passes() {
    let fuzz = fuzz_dir();
    let mut failures = Vec::new();
    for (name, _) in TARGETS {
        let corpus = fuzz.join("corpus").join(name);
        let regressions = fuzz.join("regressions").join(name);
        assert!(
            !inputs(&corpus).is_empty(),
            "target `{name}` has no seed corpus in {}",
            corpus.display()
        );
        let run = target(name).expect("a known target");
        let (count, failed) = replay(run, &[corpus, regressions]);
        println!("{name}: replayed {count} inputs, {} failed", failed.len());
        failures.extend(failed);
    }
    let mut fixed = Vec::new();
    for (name, run) in TARGETS {
        // Crashes found in code someone else is fixing: each must still fail, so that the fix
        // moves it to regressions/ (and the replay keeps it fixed).
        let open = fuzz.join("open-crashes").join(name);
        for file in inputs(&open) {
            let (_, failed) = replay_file(*run, &file);
            if !failed {
                fixed.push(file.display().to_string());
            }
        }
    }
    assert!(
        fixed.is_empty(),
        "open crashes that no longer fail: move each to fuzz/regressions/<target>/:\n{}",
        fixed.join("\n")
    );
    assert!(
        failures.is_empty(),
        "inputs that fail (the panic of each is printed above; `cargo xtask fuzz --reproduce \
         TARGET FILE` runs one under the fuzzer's build):\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_harness_corpus_and_regression_dir_names_a_target() {
    let fuzz = fuzz_dir();
    let known: BTreeSet<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(
        names_in(&fuzz.join("fuzz_targets"), true),
        known,
        "fuzz/fuzz_targets/*.rs and TARGETS differ"
    );
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for name in &known {
        // The harness is compiled only by `cargo xtask fuzz`; at least make sure it calls the
        // body this test replays.
        let harness = std::fs::read_to_string(fuzz.join(format!("fuzz_targets/{name}.rs")))
            .expect("the harness reads");
        assert!(
            harness.contains(&format!("ocipull_fuzz_targets::{name}::run(data)")),
            "fuzz/fuzz_targets/{name}.rs does not call ocipull_fuzz_targets::{name}::run"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml declares no [[bin]] `{name}`"
        );
    }
    for dir in ["corpus", "regressions", "open-crashes"] {
        let stray: Vec<_> = names_in(&fuzz.join(dir), false)
            .difference(&known)
            .cloned()
            .collect();
        assert!(
            stray.is_empty(),
            "fuzz/{dir}/ has inputs for unknown targets: {stray:?}"
        );
    }
}

#[test]
fn a_failing_input_is_reported_by_file() {
    // The replay must not swallow failures: every panicking input is named, and the others
    // still run.
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (file, content) in [
        ("a-good", &b"ok"[..]),
        ("b-bad", b"boom"),
        ("c-good", b"fine"),
    ] {
        std::fs::write(dir.path().join(file), content).expect("an input is written");
    }
    let target: fn(&[u8]) = |data| assert_ne!(data, b"boom", "the planted failure");
    let (count, failed) = replay(target, &[dir.path().to_path_buf(), dir.path().join("none")]);
    assert_eq!(count, 3);
    assert_eq!(failed, [dir.path().join("b-bad").display().to_string()]);
}
