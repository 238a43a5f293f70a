//! `cargo xtask bench`: benchmarks, never part of `cargo xtask test`.

/// Runs the benchmarks.
///
/// Placeholder: the benchmarks need the client and server and are written with them.
pub fn run(_args: &[String]) -> crate::Result {
    Err("bench arrives with the client and server".into())
}
