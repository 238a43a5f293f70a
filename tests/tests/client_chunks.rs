//! Parallel chunked download of one large blob: the `Range` requests a pull sends, checked
//! on the server's request log; a registry that ignores `Range`; a cut chunk, a 503 on one
//! range and a refused CDN URL, each handled by that chunk alone; and a failed pull whose
//! re-run fetches only the ranges its sidecar does not record.

mod client_support;

use std::collections::BTreeSet;
use std::path::Path;

use client_support::*;
use http::{Method, StatusCode};
use ocipull_client::{Chunking, Error, PullEvent, PullOptions, PullReport};
use ocipull_server::{FaultRule, Origin, RequestRecord, Server, TestServer};
use ocipull_spec::Digest;
use ocipull_spec::fixtures::Image;

/// Bytes per chunk in these tests.
const CHUNK: u64 = 256 * 1024;
/// The large layer: four whole chunks and a short one.
const LAYER: usize = 4 * CHUNK as usize + 123;

/// The chunk ranges of the layer, as `Range` header values: the last, which ends with the
/// blob, is asked for open-ended.
fn chunk_ranges() -> Vec<String> {
    (0..5)
        .map(|i| {
            let start = i * CHUNK;
            let end = start + CHUNK;
            if end < LAYER as u64 {
                format!("bytes={start}-{}", end - 1)
            } else {
                format!("bytes={start}-")
            }
        })
        .collect()
}

/// Chunks always: an in-process registry is faster than any link chunks are for.
fn chunking() -> Chunking {
    Chunking::new()
        .single_connection_above(None)
        .threshold(CHUNK)
        .chunk_size(CHUNK)
        .per_blob(3)
        .per_pull(4)
}

fn image(seed: u64) -> Image {
    Image::builder(seed).layers_raw([LAYER]).build()
}

fn layer_digest(image: &Image) -> Digest {
    image.layers()[0].descriptor.digest.clone()
}

async fn pull(running: &TestServer, dir: &Path, recorder: &Recorder) -> Result<PullReport, Error> {
    let reference = format!("{}/{REPO}:v1", running.host()).parse().unwrap();
    let options = PullOptions::default()
        .chunking(chunking())
        .events(recorder.handler());
    client(running).pull(&reference, dir, &options).await
}

/// The GETs of `digest` that `origin` answered.
fn gets(running: &TestServer, digest: &Digest, origin: Origin) -> Vec<RequestRecord> {
    log(running, digest.as_ref())
        .into_iter()
        .filter(|r| r.method == Method::GET && r.origin == origin)
        .collect()
}

fn ranges(records: &[RequestRecord]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| r.range.clone().expect("every chunk asks for a Range"))
        .collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// `bytes=A-B` as `A..B+1`, `bytes=A-` as `A..` the layer's end.
fn parse_range(value: &str) -> std::ops::Range<u64> {
    let (a, b) = value
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .unwrap_or_else(|| panic!("not a byte range: {value}"));
    let end = match b {
        "" => LAYER as u64,
        b => b.parse::<u64>().unwrap() + 1,
    };
    a.parse().unwrap()..end
}

fn assert_layer_in_place(dir: &Path, image: &Image) {
    assert_blobs_verified(dir);
    assert!(blob_files(dir).contains(&layer_digest(image)));
    assert!(
        !dir.join(".ocipull-partial").exists(),
        "no partial file or sidecar left"
    );
}

#[tokio::test]
async fn a_large_blob_comes_in_parallel_ranges_and_verifies() {
    let img = image(1);
    let running = logged_server(&img);
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let report = pull(&running, dir.path(), &recorder).await.unwrap();
    assert_eq!(
        report.bytes_downloaded,
        img.blob_list()
            .iter()
            .map(|b| b.bytes.len() as u64)
            .sum::<u64>()
    );
    assert_layer_in_place(dir.path(), &img);

    let layer = gets(&running, &layer_digest(&img), Origin::Registry);
    assert_eq!(ranges(&layer), sorted(chunk_ranges()), "each chunk once");
    assert!(
        layer
            .iter()
            .all(|r| r.status == StatusCode::PARTIAL_CONTENT)
    );
    // The small config is one plain request.
    let config = gets(
        &running,
        &img.config_blob().descriptor.digest,
        Origin::Registry,
    );
    assert_eq!(config.len(), 1);
    assert_eq!(config[0].range, None);

    let digest = layer_digest(&img);
    let events = recorder.events();
    let mut chunks: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            PullEvent::ChunkDone {
                digest: d,
                offset,
                length,
            } if *d == digest => Some((*offset, *length)),
            _ => None,
        })
        .collect();
    chunks.sort();
    let want: Vec<(u64, u64)> = chunk_ranges()
        .iter()
        .map(|r| parse_range(r))
        .map(|r| (r.start, r.end - r.start))
        .collect();
    assert_eq!(chunks, want);
    let progress: u64 = events
        .iter()
        .filter_map(|e| match e {
            PullEvent::BlobProgress { digest: d, bytes } if *d == digest => Some(*bytes),
            _ => None,
        })
        .sum();
    assert_eq!(progress, LAYER as u64, "progress covers every byte once");
}

#[tokio::test]
async fn a_registry_that_ignores_range_gets_one_connection() {
    let img = image(2);
    let running = logged_server(&img);
    let digest = layer_digest(&img);
    running
        .server()
        .add_fault(FaultRule::path(digest.to_string()).ignore_range());
    let dir = tempfile::tempdir().unwrap();
    pull(&running, dir.path(), &Recorder::default())
        .await
        .unwrap();
    assert_layer_in_place(dir.path(), &img);
    let layer = gets(&running, &digest, Origin::Registry);
    assert_eq!(layer.len(), 1, "one request for the whole blob: {layer:?}");
    assert_eq!(layer[0].status, StatusCode::OK);
    assert_eq!(layer[0].range, Some(chunk_ranges()[0].clone()));
}

#[tokio::test]
async fn a_cut_chunk_resumes_on_its_own() {
    let img = image(3);
    let running = logged_server(&img);
    let digest = layer_digest(&img);
    const CUT: u64 = 100_000;
    running.server().add_fault(
        FaultRule::path(digest.to_string())
            .method(Method::GET)
            .nth(3)
            .cut_after(CUT),
    );
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    pull(&running, dir.path(), &recorder).await.unwrap();
    assert_layer_in_place(dir.path(), &img);
    let layer = gets(&running, &digest, Origin::Registry);
    assert_eq!(layer.len(), 6, "five chunks and one resume: {layer:?}");
    let chunks = chunk_ranges();
    let resumes: Vec<_> = ranges(&layer)
        .into_iter()
        .filter(|r| !chunks.contains(r))
        .collect();
    assert_eq!(resumes.len(), 1, "{layer:?}");
    // The resume continues the cut chunk, up to that chunk's end only.
    let resumed = parse_range(&resumes[0]);
    let chunk = chunks
        .iter()
        .map(|c| parse_range(c))
        .find(|c| c.end == resumed.end)
        .expect("the resume ends where a chunk ends");
    assert!(
        resumed.start > chunk.start && resumed.start <= chunk.start + CUT,
        "{resumed:?} in {chunk:?}"
    );
    let mut asked: Vec<_> = ranges(&layer);
    asked.dedup();
    assert_eq!(asked.len(), 6, "no chunk asked for twice");
    assert!(recorder.events().iter().any(
        |e| matches!(e, PullEvent::BlobResumed { digest: d, offset } if *d == digest && *offset == resumed.start)
    ));
}

#[tokio::test]
async fn a_503_on_one_range_is_retried_for_that_range_only() {
    let img = image(4);
    let running = logged_server(&img);
    let digest = layer_digest(&img);
    running.server().add_fault(
        FaultRule::path(digest.to_string())
            .method(Method::GET)
            .nth(2)
            .status(StatusCode::SERVICE_UNAVAILABLE),
    );
    let dir = tempfile::tempdir().unwrap();
    pull(&running, dir.path(), &Recorder::default())
        .await
        .unwrap();
    assert_layer_in_place(dir.path(), &img);
    let layer = gets(&running, &digest, Origin::Registry);
    assert_eq!(layer.len(), 6, "{layer:?}");
    let refused: Vec<_> = layer
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(refused.len(), 1);
    let again: Vec<_> = layer
        .iter()
        .filter(|r| r.range == refused[0].range)
        .collect();
    assert_eq!(again.len(), 2, "the refused range is asked for again");
    assert_eq!(again[1].status, StatusCode::PARTIAL_CONTENT);
    let distinct: BTreeSet<_> = layer.iter().map(|r| r.range.clone().unwrap()).collect();
    assert_eq!(distinct, chunk_ranges().into_iter().collect());
}

#[tokio::test]
async fn chunks_follow_the_cdn_redirect_each_and_a_refused_url_is_asked_for_again() {
    let img = image(5);
    let server = Server::builder()
        .request_log(true)
        .blob_redirects(true)
        .build();
    add(&server, "v1", &img);
    let running = spawn(server);
    let digest = layer_digest(&img);
    // The CDN refuses the second signed URL of the layer, as an object store refuses an
    // expired one.
    running.server().add_fault(
        FaultRule::path(format!("{digest}?"))
            .method(Method::GET)
            .nth(2)
            .status(StatusCode::FORBIDDEN),
    );
    let dir = tempfile::tempdir().unwrap();
    pull(&running, dir.path(), &Recorder::default())
        .await
        .unwrap();
    assert_layer_in_place(dir.path(), &img);
    let registry = gets(&running, &digest, Origin::Registry);
    assert_eq!(
        registry.len(),
        6,
        "five chunks and one fresh URL: {registry:?}"
    );
    assert!(
        registry
            .iter()
            .all(|r| r.status == StatusCode::TEMPORARY_REDIRECT)
    );
    let cdn = gets(&running, &digest, Origin::Cdn);
    assert_eq!(cdn.len(), 6, "{cdn:?}");
    let served: Vec<_> = cdn
        .iter()
        .filter(|r| r.status == StatusCode::PARTIAL_CONTENT)
        .cloned()
        .collect();
    assert_eq!(ranges(&served), sorted(chunk_ranges()));
    assert_eq!(
        cdn.iter()
            .filter(|r| r.status == StatusCode::FORBIDDEN)
            .count(),
        1
    );
}

/// The ranges the sidecar of `digest`'s partial download records.
fn sidecar(dir: &Path, digest: &Digest) -> Vec<std::ops::Range<u64>> {
    let path = dir
        .join(".ocipull-partial")
        .join(format!("sha256-{}.ranges", digest.encoded()));
    let text = std::fs::read_to_string(&path).expect("the sidecar is there");
    text.lines()
        .skip(1)
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            a.parse().unwrap()..b.parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_failed_pull_keeps_its_chunks_and_the_next_fetches_only_the_rest() {
    let img = image(6);
    let running = logged_server(&img);
    let digest = layer_digest(&img);
    // The fourth chunk request is refused for good: the pull fails.
    running.server().add_fault(
        FaultRule::path(digest.to_string())
            .method(Method::GET)
            .nth(4)
            .status(StatusCode::FORBIDDEN),
    );
    let dir = tempfile::tempdir().unwrap();
    let err = pull(&running, dir.path(), &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN), "{err}");
    let kept = sidecar(dir.path(), &digest);
    assert!(!kept.is_empty(), "the chunks done are recorded");
    running.request_log().unwrap().clear();

    let recorder = Recorder::default();
    let report = pull(&running, dir.path(), &recorder).await.unwrap();
    assert_layer_in_place(dir.path(), &img);
    let again = gets(&running, &digest, Origin::Registry);
    let mut fetched: Vec<std::ops::Range<u64>> = Vec::new();
    for r in &again {
        let range = parse_range(r.range.as_deref().unwrap());
        for k in &kept {
            assert!(
                range.end <= k.start || range.start >= k.end,
                "{range:?} was on disk already ({kept:?})"
            );
        }
        fetched.push(range);
    }
    // What was kept and what was fetched make the whole layer.
    let total: u64 = kept.iter().chain(&fetched).map(|r| r.end - r.start).sum();
    assert_eq!(total, LAYER as u64);
    let kept_bytes: u64 = kept.iter().map(|r| r.end - r.start).sum();
    assert!(recorder.events().iter().any(|e| matches!(
        e,
        PullEvent::BlobStarted { digest: d, offset, .. } if *d == digest && *offset == kept_bytes
    )));
    assert!(
        report.bytes_downloaded
            < img
                .blob_list()
                .iter()
                .map(|b| b.bytes.len() as u64)
                .sum::<u64>()
    );
}

/// Pulls `image` with `chunking` through an in-process server (no sockets, so the paused
/// clock cannot fire a stall timeout); the layer's `Range` headers as the server got them.
async fn ranges_asked(image: &Image, chunking: Chunking) -> Vec<Option<String>> {
    ranges_asked_from(Server::builder().request_log(true).build(), image, chunking).await
}

/// [`ranges_asked`] from a given server.
async fn ranges_asked_from(
    server: Server,
    image: &Image,
    chunking: Chunking,
) -> Vec<Option<String>> {
    add(&server, "v1", image);
    let client = ocipull_client::Client::builder("registry.test", repo())
        .transport(server.clone())
        .build()
        .unwrap();
    let reference = format!("registry.test/{REPO}:v1").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = PullOptions::default().chunking(chunking);
    client.pull(&reference, dir.path(), &options).await.unwrap();
    assert_blobs_verified(dir.path());
    let path = format!("/blobs/{}", layer_digest(image));
    server
        .request_log()
        .unwrap()
        .records()
        .into_iter()
        .filter(|r| r.method == http::Method::GET && r.path.ends_with(&path))
        .map(|r| r.range)
        .collect()
}

/// A first chunk that comes fast (here instantly: the clock is paused, so no time passes
/// while it streams) means a fast connection: the rest of the blob follows on one request
/// from the end of that chunk. With the switch off, the same blob comes in chunks.
#[tokio::test(start_paused = true)]
async fn a_fast_first_chunk_keeps_the_blob_on_one_connection() {
    let img = image(97);
    let fast = chunking().single_connection_above(Some(1_000_000));
    let asked = ranges_asked(&img, fast).await;
    assert_eq!(
        asked,
        [
            Some(format!("bytes=0-{}", CHUNK - 1)),
            Some(format!("bytes={CHUNK}-")),
        ]
    );
    let mut chunked = ranges_asked(&img, chunking()).await;
    chunked.sort();
    let mut want: Vec<_> = chunk_ranges().into_iter().map(Some).collect();
    want.sort();
    assert_eq!(chunked, want);
}

/// A first chunk slower than the limit (the server paces it at 1 MB/s, on the paused clock)
/// is a capped link: the sampled start of the first chunk is kept, the probe's connection
/// finishes that chunk, and the others come in parallel, each asked for once.
#[tokio::test(start_paused = true)]
async fn a_slow_first_chunk_goes_on_in_chunks() {
    let img = image(98);
    let server = Server::builder()
        .request_log(true)
        .shaping(ocipull_server::ShapingRule::path("/blobs/").connection_rate(1_000_000))
        .build();
    let limited = chunking().single_connection_above(Some(200_000_000));
    let mut asked = ranges_asked_from(server, &img, limited).await;
    asked.sort();
    let mut want: Vec<_> = chunk_ranges().into_iter().map(Some).collect();
    want.sort();
    assert_eq!(asked, want);
}
