//! Shared pieces of the bench-only programs run by `cargo xtask bench`.
//!
//! Each program prints its results as `key=value` lines on stdout, which the
//! xtask parses; everything else goes to stderr.

#![forbid(unsafe_code)]

pub mod args;
pub mod http1;
pub mod layout;

/// The error type of every bench program: a message that says what failed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What every bench program's `run` returns.
pub type Result<T = ()> = std::result::Result<T, Error>;

/// Size of the buffers the programs read, write and hash in: large enough that
/// per-call overhead is negligible, small enough to stay in the L2 cache.
pub const CHUNK: usize = 1 << 20;

/// Prints one `key=value` result line for the xtask.
pub fn report(key: &str, value: impl std::fmt::Display) {
    println!("{key}={value}");
}

/// Runs `main`, printing its error and exiting with status 1 on failure.
pub fn exit_on_error(program: &str, main: impl FnOnce() -> Result) {
    if let Err(error) = main() {
        eprintln!("{program}: {error}");
        std::process::exit(1);
    }
}
