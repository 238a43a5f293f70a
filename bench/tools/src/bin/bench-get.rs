//! Downloads one URL over N concurrent connections at once, discarding the
//! bytes: the load driver of the blob-serving case and of the loopback ceiling.
//!
//! ```text
//! bench-get --addr 127.0.0.1:5000 --path /v2/big/blobs/sha256:… --connections 8 [--header 'K: V']…
//! ```
//!
//! One blocking thread per connection reading into a 1 MiB buffer, so the
//! client costs as little CPU as a download can. Prints `bytes`, `secs`
//! (from the common start to the last byte) and `mbps` (10^6 bytes/s).

use std::sync::{Arc, Barrier};
use std::time::Instant;

use ocipull_bench_tools::args::Args;
use ocipull_bench_tools::{CHUNK, Result, exit_on_error, http1, report};

fn main() {
    exit_on_error("bench-get", run);
}

fn run() -> Result {
    let args = Args::from_env()?;
    let addr: String = args.required("addr")?;
    let path: String = args.required("path")?;
    let connections: usize = args.get("connections")?.unwrap_or(1);
    let headers: Vec<(String, String)> = args
        .all("header")
        .iter()
        .map(|header| {
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| format!("--header {header:?}: expected `Name: value`"))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<Result<_>>()?;
    let start = Arc::new(Barrier::new(connections + 1));
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let (addr, path, headers, start) =
                (addr.clone(), path.clone(), headers.clone(), start.clone());
            std::thread::spawn(move || -> Result<u64> {
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str()))
                    .collect();
                let mut buf = vec![0; CHUNK];
                start.wait();
                http1::get_discard(&addr, &path, &headers, &mut buf)
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    let mut bytes = 0;
    for thread in threads {
        bytes += thread.join().map_err(|_| "a download thread panicked")??;
    }
    let secs = started.elapsed().as_secs_f64();
    report("bytes", bytes);
    report("secs", format!("{secs:.6}"));
    report("mbps", format!("{:.1}", bytes as f64 / secs / 1e6));
    Ok(())
}
