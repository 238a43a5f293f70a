//! Killing `ocipull pull` (the real process) while it downloads a large blob in parallel
//! chunks, then running it again: the re-run asks for none of the ranges the sidecar of the
//! partial download recorded as complete, and the blob verifies in the end.

use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ocipull_server::{FaultRule, Server, TestServer};
use ocipull_spec::Digest;
use ocipull_spec::fixtures::Image;

const REPO: &str = "kill/chunks";
/// Bytes per chunk, as `--chunk-size` gives it.
const CHUNK: u64 = 512 * 1024;
/// The layer: twelve chunks and a short one.
const LAYER: usize = 12 * CHUNK as usize + 4321;
/// Where each chunk's body pauses, and for how long: the window the kills aim at.
const PAUSE_AT: u64 = 256 * 1024;
const PAUSE: Duration = Duration::from_millis(400);
/// Kill-and-rerun rounds before the last, uninterrupted run.
const KILLS: usize = 2;
/// Generous bound for one run of the binary on a busy two-core machine.
const PATIENCE: Duration = Duration::from_secs(60);

fn pull_command(running: &TestServer, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ocipull"));
    c.args([
        "pull",
        "--insecure-http",
        "--chunk-size",
        "512K",
        "--chunk-threshold",
        "1M",
        "--chunks-per-blob",
        "3",
        // Loopback is fast: without this the blob would go on one connection.
        "--single-connection-above",
        "0",
    ])
    .arg(format!("{}/{REPO}:v1", running.host()))
    .arg(dir)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

/// The ranges the sidecar of `digest` records (none when there is no sidecar).
fn sidecar(dir: &Path, digest: &Digest) -> Vec<Range<u64>> {
    let path = dir
        .join(".ocipull-partial")
        .join(format!("sha256-{}.ranges", digest.encoded()));
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .map(|l| {
            let (a, b) = l.split_once(' ').expect("a `start end` line");
            a.parse().unwrap()..b.parse().unwrap()
        })
        .collect()
}

/// The byte ranges of the GETs of `digest` in this run's request log.
fn asked(running: &TestServer, digest: &Digest) -> Vec<Range<u64>> {
    running
        .request_log()
        .unwrap()
        .matching(&format!("/blobs/{digest}"))
        .into_iter()
        .filter(|r| r.method == ocipull_server::http::Method::GET)
        .map(|r| {
            let value = r
                .range
                .expect("every request of a chunked blob has a Range");
            let (a, b) = value
                .strip_prefix("bytes=")
                .and_then(|v| v.split_once('-'))
                .expect("a byte range");
            let end = if b.is_empty() {
                LAYER as u64
            } else {
                b.parse::<u64>().unwrap() + 1
            };
            a.parse().unwrap()..end
        })
        .collect()
}

/// Asserts that no range asked for in this run overlaps one recorded before it.
fn assert_nothing_fetched_twice(asked: &[Range<u64>], kept: &[Range<u64>]) {
    for a in asked {
        for k in kept {
            assert!(
                a.end <= k.start || a.start >= k.end,
                "{a:?} was fetched again though {k:?} was on disk"
            );
        }
    }
}

#[test]
fn a_killed_chunked_pull_fetches_only_the_missing_ranges_when_run_again() {
    let image = Image::builder(91).layers_raw([LAYER]).build();
    let layer = image.layers()[0].descriptor.digest.clone();
    let server = Server::builder().request_log(true).build();
    server
        .add(
            &REPO.parse().unwrap(),
            Some("v1".parse().unwrap()),
            image.manifest().clone(),
            image.blobs(),
        )
        .unwrap();
    server.add_fault(FaultRule::path(layer.to_string()).stall(PAUSE_AT, PAUSE));
    let running = server.spawn().unwrap();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("layout");
    let mut kept_total = 0;
    for round in 0..KILLS {
        let kept = sidecar(&dir, &layer);
        running.request_log().unwrap().clear();
        let mut child = pull_command(&running, &dir).spawn().unwrap();
        // Kill once some chunk of this run is complete (the sidecar grew), or after a
        // while: a kill before that still must not cost a recorded range.
        let start = Instant::now();
        let before: u64 = kept.iter().map(|r| r.end - r.start).sum();
        while child.try_wait().unwrap().is_none() && start.elapsed() < PATIENCE {
            let now: u64 = sidecar(&dir, &layer).iter().map(|r| r.end - r.start).sum();
            if now > before {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        eprintln!("round {round}: {status}");
        assert_nothing_fetched_twice(&asked(&running, &layer), &kept);
        kept_total = sidecar(&dir, &layer).iter().map(|r| r.end - r.start).sum();
    }
    assert!(kept_total > 0, "the kills left chunks on disk");
    let kept = sidecar(&dir, &layer);
    running.request_log().unwrap().clear();
    let mut child = pull_command(&running, &dir).spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("the last run did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let last = asked(&running, &layer);
    assert_nothing_fetched_twice(&last, &kept);
    let fetched: u64 = last.iter().map(|r| r.end - r.start).sum();
    let kept_bytes: u64 = kept.iter().map(|r| r.end - r.start).sum();
    assert_eq!(
        fetched + kept_bytes,
        LAYER as u64,
        "kept and fetched make the blob"
    );

    let path = dir.join("blobs").join("sha256").join(layer.encoded());
    let bytes = std::fs::read(&path).expect("the layer is in place");
    assert_eq!(Digest::sha256(&bytes), layer);
    assert!(
        !dir.join(".ocipull-partial").exists(),
        "no partial file or sidecar left"
    );
}
