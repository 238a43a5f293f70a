//! Runs fuzz inputs through a target's body on stable Rust, one file at a time, with the
//! panic and its backtrace when one fails: the quickest way to reproduce a crash.
//!
//! `cargo run -p ocipull-fuzz-targets --example run -- TARGET FILE...`
//! (also `cargo xtask fuzz --reproduce TARGET FILE`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let names: Vec<_> = ocipull_fuzz_targets::TARGETS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let Some(target) = args.next().and_then(|n| ocipull_fuzz_targets::target(&n)) else {
        eprintln!("usage: run TARGET FILE...\ntargets: {}", names.join(", "));
        return ExitCode::from(2);
    };
    for file in args {
        let data = match std::fs::read(&file) {
            Ok(data) => data,
            Err(error) => {
                eprintln!("{file}: {error}");
                return ExitCode::FAILURE;
            }
        };
        println!("{file}: running {} bytes", data.len());
        target(&data);
        println!("{file}: ok");
    }
    ExitCode::SUCCESS
}
