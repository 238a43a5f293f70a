//! Project automation, run as `cargo xtask <subcommand>` (see `.cargo/config.toml`).
//!
//! One module per subcommand; this file only dispatches. Standard library only.

#![forbid(unsafe_code)]

mod bench;
mod cmd;
mod demo;
mod fuzz;
mod test;

use std::process::ExitCode;

/// The repository's root: xtask lives in `<root>/xtask`.
fn root() -> std::path::PathBuf {
    let xtask = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_owned()
}

/// What every subcommand returns; the message says which step failed.
type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const USAGE: &str = "\
usage: cargo xtask <subcommand> [args]

subcommands:
  test [STEP...]   run the checks CI runs: fmt, clippy, doc, features, test,
                   fuzz-corpora (all when no STEP)
  demo             pull from a registry and show what happened
  bench            run the benchmarks
  fuzz [--seconds N] [--merge] [--keep-going] [TARGET...]
                   run the cargo-fuzz targets for N seconds each (stable Rust is enough)
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(subcommand) = args.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest: Vec<String> = args.collect();
    let result = match subcommand.as_str() {
        "test" => test::run(&rest),
        "demo" => demo::run(&rest),
        "bench" => bench::run(&rest),
        "fuzz" => fuzz::run(&rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("xtask: unknown subcommand `{other}`\n");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nxtask {subcommand} FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
