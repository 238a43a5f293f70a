//! The hashing ceiling: single-core SHA-256 throughput of the `sha2` crate
//! (the version ocipull uses), over a 1 MiB buffer fed repeatedly.
//!
//! ```text
//! bench-sha256 --bytes N
//! ```

use std::time::Instant;

use ocipull_bench_tools::args::Args;
use ocipull_bench_tools::{CHUNK, Result, exit_on_error, report};
use ocipull_spec::fixtures::data;
use sha2::{Digest as _, Sha256};

fn main() {
    exit_on_error("bench-sha256", run);
}

fn run() -> Result {
    let args = Args::from_env()?;
    let bytes: u64 = args.required("bytes")?;
    let buf = data(2, CHUNK);
    let started = Instant::now();
    let mut hasher = Sha256::new();
    let mut left = bytes;
    while left > 0 {
        let len = usize::try_from(left.min(CHUNK as u64))?;
        hasher.update(&buf[..len]);
        left -= len as u64;
    }
    let digest = hasher.finalize();
    let secs = started.elapsed().as_secs_f64();
    // Printing the digest keeps the work observable.
    report("digest", format!("{digest:x}"));
    report("bytes", bytes);
    report("secs", format!("{secs:.6}"));
    report("mbps", format!("{:.1}", bytes as f64 / secs / 1e6));
    Ok(())
}
