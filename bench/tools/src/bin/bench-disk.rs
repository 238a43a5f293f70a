//! The disk ceiling: sequential write of random data in 1 MiB writes, then one
//! fsync, into a new file in DIR (the disk the pulled layouts go to). The file
//! is removed afterwards.
//!
//! ```text
//! bench-disk --dir DIR --bytes N
//! ```

use std::fs::{self, File};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use ocipull_bench_tools::args::Args;
use ocipull_bench_tools::{CHUNK, Result, exit_on_error, report};
use ocipull_spec::fixtures::data;

/// Distinct chunks cycled through, so no two neighbouring writes are equal.
const POOL_CHUNKS: usize = 8;

fn main() {
    exit_on_error("bench-disk", run);
}

fn run() -> Result {
    let args = Args::from_env()?;
    let dir: PathBuf = args.required("dir")?;
    let bytes: u64 = args.required("bytes")?;
    let pool = data(3, CHUNK * POOL_CHUNKS);
    let path = dir.join(format!("bench-disk-{}", std::process::id()));
    let started = Instant::now();
    let mut file = File::create(&path)?;
    let mut left = bytes;
    let mut n = 0;
    while left > 0 {
        let len = usize::try_from(left.min(CHUNK as u64))?;
        let start = (n % POOL_CHUNKS) * CHUNK;
        file.write_all(&pool[start..start + len])?;
        left -= len as u64;
        n += 1;
    }
    file.sync_all()?;
    let secs = started.elapsed().as_secs_f64();
    drop(file);
    fs::remove_file(&path)?;
    report("bytes", bytes);
    report("secs", format!("{secs:.6}"));
    report("mbps", format!("{:.1}", bytes as f64 / secs / 1e6));
    Ok(())
}
