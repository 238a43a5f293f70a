//! Fault survival: a pull of a multi-layer image with retries produces a layout
//! byte-identical to a clean pull's while the server (a) cuts every response after a random
//! number of bytes, (b) answers one request in three with 503 and `Retry-After: 0`, (c)
//! restarts (crashes and comes back on the same port) in the middle of the pull.
//!
//! Killing the `ocipull pull` process and running it again is in
//! `crates/cli/tests/kill_resume.rs` (it needs the binary).

mod client_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use client_support::*;
use ocipull_client::backon::ConstantBuilder;
use ocipull_client::{Client, PullOptions, PullReport, Scheme};
use ocipull_server::{FaultRule, RetryAfter, Server};
use ocipull_spec::fixtures::Image;

/// Four layers of a few MiB, random data.
const LAYERS: [usize; 4] = [3 << 20, 2 << 20, 3 << 20, (2 << 20) + 12345];

/// Rules installed per fault pattern: more than the requests any pull here makes.
const RULES: u64 = 300;

fn the_image() -> Image {
    Image::builder(71).layers_raw(LAYERS).build()
}

/// Every file under `dir` (relative path → content).
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(root).unwrap().to_owned(), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The layout at `dir` has exactly the files of `clean` (blobs, index.json, oci-layout),
/// byte for byte, and nothing else (no partial downloads left behind).
fn assert_identical(clean: &Path, dir: &Path) {
    let want = files(clean);
    let got = files(dir);
    assert!(want.keys().any(|p| p.ends_with("index.json")));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, bytes) in &want {
        assert!(got[path] == *bytes, "{} differs", path.display());
    }
    assert_blobs_verified(dir);
}

fn reference(host: &str) -> ocipull_spec::Reference {
    format!("{host}/{REPO}:v1").parse().unwrap()
}

async fn pull_with(client: &Client, host: &str, dir: &Path) -> PullReport {
    client
        .pull(&reference(host), dir, &PullOptions::default().jobs(4))
        .await
        .expect("the pull survives")
}

/// A clean pull of the image, the reference every faulty pull is compared with.
async fn clean_layout(img: &Image) -> tempfile::TempDir {
    let server = Server::new();
    add(&server, "v1", img);
    let running = spawn(server);
    let dir = tempfile::tempdir().unwrap();
    pull_with(&client(&running), &running.host(), dir.path()).await;
    dir
}

/// A seed from the clock, printed so a failure can be replayed.
fn seed() -> u64 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}");
    seed
}

/// xorshift64: numbers for cut points, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_cut_after_a_random_number_of_bytes() {
    let img = the_image();
    let clean = clean_layout(&img).await;
    let mut rng = Rng(seed() | 1);
    let server = Server::builder().request_log(true).build();
    add(&server, "v1", &img);
    let mut handles = Vec::new();
    let manifest_len = img.manifest().bytes().len() as u64;
    for k in 0..RULES {
        // Blob bodies: every response is cut somewhere in its first MiB.
        handles.push(
            server.add_fault(
                FaultRule::path("/blobs/")
                    .skip(k)
                    .times(1)
                    .cut_after(1 + rng.below(1 << 20)),
            ),
        );
        // Manifests cannot resume, so about half of their answers are cut (a cut point
        // past the end does nothing).
        handles.push(
            server.add_fault(
                FaultRule::path("/manifests/")
                    .skip(k)
                    .times(1)
                    .cut_after(rng.below(2 * manifest_len)),
            ),
        );
    }
    let running = spawn(server);
    let client = client_builder(&running)
        .backoff_builder(fast_retries(100))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = pull_with(&client, &running.host(), dir.path()).await;
    assert_eq!(report.blobs_downloaded, 1 + LAYERS.len());
    assert_identical(clean.path(), dir.path());
    // Every layer needed several answers, all resumed with Range.
    let blob_gets = log(&running, "/blobs/");
    assert!(blob_gets.len() > 2 * LAYERS.len(), "{}", blob_gets.len());
    assert!(blob_gets.iter().filter(|r| r.range.is_some()).count() >= LAYERS.len());
    assert!(handles.iter().map(|h| h.fired()).sum::<u64>() as usize >= blob_gets.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_in_three_answered_503_with_retry_after_zero() {
    let img = the_image();
    let clean = clean_layout(&img).await;
    let server = Server::builder().request_log(true).build();
    add(&server, "v1", &img);
    // Rule k fires on the (3k + 3)-th request the server sees, whatever it is.
    let handles: Vec<_> = (0..RULES)
        .map(|k| {
            server.add_fault(
                FaultRule::new()
                    .skip(3 * k + 2)
                    .times(1)
                    .status(http::StatusCode::SERVICE_UNAVAILABLE)
                    .retry_after(RetryAfter::Seconds(0)),
            )
        })
        .collect();
    let running = spawn(server);
    let client = client_builder(&running)
        .backoff_builder(fast_retries(20))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    pull_with(&client, &running.host(), dir.path()).await;
    assert_identical(clean.path(), dir.path());
    let records = running.server().request_log().unwrap().records();
    let unavailable = records.iter().filter(|r| r.status == 503).count();
    assert_eq!(records.len() / 3, unavailable, "{records:?}");
    assert!(unavailable >= 2);
    assert_eq!(
        handles.iter().map(|h| h.fired()).sum::<u64>() as usize,
        unavailable
    );
}

/// A server running on `addr` on a runtime of its own; [`Crashable::crash`] (or dropping
/// it) drops every connection at once, as a killed process would.
struct Crashable {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Crashable {
    fn start(server: Server, addr: SocketAddr) -> Crashable {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (bound, result) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let listen = || {
                let socket = tokio::net::TcpSocket::new_v4()?;
                // The crashed server's connections linger in TIME_WAIT on this port.
                socket.set_reuseaddr(true)?;
                socket.bind(addr)?;
                socket.listen(1024)
            };
            match listen() {
                Ok(listener) => {
                    let _ = bound.send(Ok(()));
                    let _ = server.serve(listener).await;
                }
                Err(e) => {
                    let _ = bound.send(Err(e));
                }
            }
        });
        result.recv().unwrap().expect("binds the port again");
        Crashable {
            runtime: Some(runtime),
        }
    }

    fn crash(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Crashable {
    fn drop(&mut self) {
        self.stop();
    }
}

fn logged(img: &Image) -> Server {
    let server = Server::builder().request_log(true).build();
    add(&server, "v1", img);
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_restarts_in_the_middle_of_the_pull() {
    let img = the_image();
    let clean = clean_layout(&img).await;
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let first = logged(&img);
    // Every blob body pauses after 256 KiB, so the crash finds them all mid-body.
    first.add_fault(FaultRule::path("/blobs/").stall(256 * 1024, Duration::from_secs(60)));
    let running = Crashable::start(first.clone(), addr);

    let client = Client::builder(addr.to_string(), repo())
        .scheme(Scheme::Http)
        // Room to wait out the restart: up to 10 s of refused connections.
        .backoff_builder(
            ConstantBuilder::default()
                .with_delay(Duration::from_millis(50))
                .with_max_times(200),
        )
        .stall_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().to_owned();
    // On a thread of its own: the pull future borrows in ways `tokio::spawn` cannot take.
    let pull = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(pull_with(&client, &addr.to_string(), &target))
    });
    // Wait until every blob is being downloaded (and stalled), then crash.
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while first.request_log().unwrap().matching("/blobs/").len() < 4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the pull reached the blobs");
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.crash();
    let second = logged(&img);
    let restarted = Crashable::start(second.clone(), addr);

    let report = tokio::task::spawn_blocking(move || pull.join())
        .await
        .unwrap()
        .expect("the pull finishes");
    assert_eq!(report.blobs_downloaded, 1 + LAYERS.len());
    assert_identical(clean.path(), dir.path());
    // The blobs cut by the crash were resumed on the new server where they stopped.
    let resumed: Vec<_> = second
        .request_log()
        .unwrap()
        .matching("/blobs/")
        .into_iter()
        .filter(|r| r.range.is_some())
        .collect();
    assert!(resumed.len() >= 3, "{resumed:?}");
    assert!(
        resumed
            .iter()
            .all(|r| r.status == 206 && r.range.as_deref() != Some("bytes=0-")),
        "{resumed:?}"
    );
    restarted.crash();
}
