//! What the client's end-to-end tests (`client_*.rs`) share: a server on loopback, clients
//! with fast, deterministic retries, and checks of a pulled layout.
//!
//! Images, indexes and referrers come from `ocipull_spec::fixtures`;
//! exact layer sizes, where a test cuts or resumes at an offset, are `layers_raw`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use ocipull_client::backon::ConstantBuilder;
use ocipull_client::{BlobStream, Client, ClientBuilder, Error, PullEvent, Scheme};
use ocipull_server::{RequestRecord, Server, TestServer};
use ocipull_spec::fixtures::Image;
use ocipull_spec::{Descriptor, Digest, Repository};

/// The repository every fixture lives in.
pub const REPO: &str = "test/app";

pub fn repo() -> Repository {
    REPO.parse().unwrap()
}

/// Adds `image` under `tag`.
pub fn add(server: &Server, tag: &str, image: &Image) {
    server
        .add(
            &repo(),
            Some(tag.parse().unwrap()),
            image.manifest().clone(),
            image.blobs(),
        )
        .unwrap();
}

/// Starts a server with the request log on, serving `image` as `v1`.
pub fn logged_server(image: &Image) -> TestServer {
    let server = Server::builder().request_log(true).build();
    add(&server, "v1", image);
    spawn(server)
}

/// Starts `server` on loopback.
pub fn spawn(server: Server) -> TestServer {
    server.spawn().expect("the test server starts")
}

/// Retries quickly (1 ms apart) and deterministically, at most `times` times.
pub fn fast_retries(times: usize) -> ConstantBuilder {
    ConstantBuilder::default()
        .with_delay(Duration::from_millis(1))
        .with_max_times(times)
}

/// A client for [`REPO`] on `running` over plain HTTP, with fast retries.
pub fn client_builder(running: &TestServer) -> ClientBuilder {
    Client::builder(running.host(), repo())
        .scheme(Scheme::Http)
        .backoff_builder(fast_retries(5))
}

pub fn client(running: &TestServer) -> Client {
    client_builder(running).build().unwrap()
}

/// Reads a whole blob stream.
pub async fn collect(mut stream: BlobStream) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// The request log's records for paths containing `part`.
pub fn log(running: &TestServer, part: &str) -> Vec<RequestRecord> {
    running
        .server()
        .request_log()
        .expect("the request log is on")
        .matching(part)
}

/// The digests of the files in `dir/blobs/sha256`.
pub fn blob_files(dir: &Path) -> Vec<Digest> {
    let mut out: Vec<Digest> = std::fs::read_dir(dir.join("blobs").join("sha256"))
        .map(|entries| {
            entries
                .map(|e| {
                    format!("sha256:{}", e.unwrap().file_name().to_string_lossy())
                        .parse()
                        .unwrap()
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every blob file in the layout hashes to its name.
pub fn assert_blobs_verified(dir: &Path) {
    for digest in blob_files(dir) {
        let path: PathBuf = dir.join("blobs").join("sha256").join(digest.encoded());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            Digest::sha256(&bytes),
            digest,
            "{} is not what its name says",
            path.display()
        );
    }
}

/// Collects pull events.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<PullEvent>>>);

impl Recorder {
    pub fn handler(&self) -> impl Fn(&PullEvent) + Send + Sync + 'static {
        let events = self.0.clone();
        move |e: &PullEvent| events.lock().unwrap().push(e.clone())
    }

    pub fn events(&self) -> Vec<PullEvent> {
        self.0.lock().unwrap().clone()
    }
}

/// Sorted digests of descriptors.
pub fn digests<'a>(ds: impl IntoIterator<Item = &'a Descriptor>) -> Vec<Digest> {
    let mut out: Vec<Digest> = ds.into_iter().map(|d| d.digest.clone()).collect();
    out.sort();
    out.dedup();
    out
}

/// The `N` of a `Range: bytes=N-` request header (a test failure for any other form).
///
/// Where a cut lands depends on how much the server flushed before it, which varies with
/// load: tests assert `0 < N <= cut`, not an exact offset.
pub fn range_start(range: Option<&str>) -> u64 {
    let value = range.expect("a Range header");
    value
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an open Range: {value:?}"))
}

/// Asserts a resume continued after some, and at most `cut`, bytes; returns where.
pub fn assert_resumed_within(range: Option<&str>, cut: u64) -> u64 {
    let start = range_start(range);
    assert!(
        start > 0 && start <= cut,
        "resumed at {start}, cut at {cut}"
    );
    start
}
