//! The server against hostile clients over real connections: slowloris heads and bodies,
//! oversized URIs and heads, path traversal against a layout served from disk, and a
//! thousand concurrent connections with bounded memory.
//!
//! Malformed paths and headers sent straight to the service (no disk) are in
//! `crates/server/tests/http_behaviour.rs`; 200 connections × 50 requests, clients hanging up
//! mid-body and garbage on the wire are in `server_stress.rs`.

mod client_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use client_support::REPO;
use http_body_util::{BodyExt as _, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use ocipull_server::{Server, TestServer};
use ocipull_spec::Digest;
use ocipull_spec::fixtures::Image;
use ocipull_spec::layout::LayoutWriter;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Generous bound for anything that should happen "promptly" on a busy two-core machine.
const PATIENCE: Duration = Duration::from_secs(20);

/// Sends `request` on a fresh connection and reads until the server closes it.
async fn exchange(server: &TestServer, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    let _ = s.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, s.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes");
    answer
}

fn status_of(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {:.80}", text))
}

/// Whether a normal request on a new connection is answered 200.
async fn serves_normally(server: &TestServer) -> bool {
    let answer = exchange(
        server,
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    status_of(&answer) == 200
}

/// Keeps a connection busy by sending one byte of `tail` every `every`; returns when the
/// server closes the connection (a write or read fails, or the read sees the end), with
/// what the server sent.
async fn trickle(mut s: TcpStream, tail: &[u8], every: Duration) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    for b in tail.iter().cycle() {
        tokio::select! {
            read = s.read(&mut buf) => match read {
                Ok(0) | Err(_) => return answer,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(every) => {
                if s.write_all(&[*b]).await.is_err() {
                    return answer;
                }
            }
        }
    }
    unreachable!("the tail cycles")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_heads_are_timed_out_without_blocking_others() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    let server = Server::builder().header_read_timeout(TIMEOUT).build();
    assert_eq!(server.header_read_timeout(), TIMEOUT);
    let running = server.spawn().unwrap();
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(running.addr()).await.unwrap();
        s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(tokio::spawn(trickle(
            s,
            b"X-Slow: still coming\r\n",
            Duration::from_millis(100),
        )));
    }
    // Others are served while the slow heads trickle in.
    for _ in 0..5 {
        assert!(serves_normally(&running).await);
    }
    // Each slow connection is closed (hyper may say 408 first), never answered 200.
    for s in slow {
        let answer = tokio::time::timeout(PATIENCE, s)
            .await
            .expect("the header read timeout closes the connection")
            .unwrap();
        assert!(
            answer.is_empty() || status_of(&answer) == 408,
            "{:.80}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert!(serves_normally(&running).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_and_slow_readers_do_not_block_others() {
    let img = Image::builder(61).layers_raw([4 * 1024 * 1024]).build();
    let server = Server::new();
    client_support::add(&server, "v1", &img);
    let running = server.spawn().unwrap();
    // Bodies nobody asked for, trickled: the pull-only server answers without waiting for
    // them and closes the connection rather than drain a body that never ends.
    let mut slow = Vec::new();
    for method in ["POST", "PUT", "GET"] {
        let mut s = TcpStream::connect(running.addr()).await.unwrap();
        s.write_all(
            format!(
                "{method} /v2/{REPO}/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        slow.push(tokio::spawn(trickle(s, b"z", Duration::from_millis(50))));
    }
    // Slow readers: a big blob requested and never read.
    let blob = format!(
        "GET /v2/{REPO}/blobs/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        img.layers()[0].descriptor.digest
    );
    let mut idle = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(running.addr()).await.unwrap();
        s.write_all(blob.as_bytes()).await.unwrap();
        idle.push(s);
    }
    for _ in 0..5 {
        assert!(serves_normally(&running).await);
    }
    for s in slow {
        let answer = tokio::time::timeout(PATIENCE, s)
            .await
            .expect("the connection with an endless body is closed")
            .unwrap();
        let status = status_of(&answer);
        assert!(status == 405 || status == 404, "{status}");
    }
    drop(idle);
    assert!(serves_normally(&running).await);
}

#[tokio::test]
async fn oversized_uris_get_414_and_oversized_heads_431() {
    let running = Server::new().spawn().unwrap();
    // Long but within limits: routed as usual (a name this long is invalid).
    let long = format!("/v2/{}/manifests/v1", "a/".repeat(4000) + "b");
    let answer = exchange(
        &running,
        format!("GET {long} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    let status = status_of(&answer);
    assert!(status == 400 || status == 404, "{status}");
    assert!(
        String::from_utf8_lossy(&answer).contains(r#"{"errors":"#),
        "the router answered with a spec error body"
    );
    // Past hyper's URI limit (64 KiB).
    let too_long = format!("/v2/{}/manifests/v1", "a".repeat(70_000));
    let answer = exchange(
        &running,
        format!("GET {too_long} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 414);
    // A head past hyper's buffer (about 400 KiB): one header or many.
    for headers in [
        format!("X-Big: {}\r\n", "x".repeat(600_000)),
        (0..20_000).map(|i| format!("X-{i}: {i}\r\n")).collect(),
    ] {
        let answer = exchange(
            &running,
            format!("GET /v2/ HTTP/1.1\r\nHost: x\r\n{headers}\r\n").as_bytes(),
        )
        .await;
        assert_eq!(status_of(&answer), 431);
    }
    assert!(serves_normally(&running).await);
}

#[tokio::test]
async fn traversal_paths_never_reach_files_outside_the_layout() {
    let parent = tempfile::tempdir().unwrap();
    let img = Image::builder(62).layers_raw([1000]).build();
    // The layout, and next to it a secret whose name is its own sha256 (so a server that
    // joined an unchecked digest onto the layout's blob directory would find it).
    let layout = parent.path().join("layout");
    let writer = LayoutWriter::create(&layout).unwrap();
    for blob in img.blob_list() {
        writer
            .write_blob_bytes(&blob.descriptor, &blob.bytes)
            .unwrap();
    }
    let md = img.manifest().descriptor();
    writer
        .write_blob_bytes(&md, img.manifest().bytes())
        .unwrap();
    writer.add_manifest(&md, Some("v1")).unwrap();
    let secret = b"TOP-SECRET-CONTENT".to_vec();
    let hex = Digest::sha256(&secret).encoded().to_owned();
    std::fs::write(parent.path().join(&hex), &secret).unwrap();
    std::fs::write(parent.path().join("secret"), &secret).unwrap();
    std::fs::create_dir_all(parent.path().join("sha256")).unwrap();
    std::fs::write(parent.path().join("sha256").join(&hex), &secret).unwrap();

    let server = Server::new();
    server.add_layout(&REPO.parse().unwrap(), &layout).unwrap();
    let running = server.spawn().unwrap();
    let good = format!("/v2/{REPO}/blobs/{}", img.layers()[0].descriptor.digest);
    let answer = exchange(
        &running,
        format!("GET {good} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "the layout's own blobs are served");

    let b = format!("/v2/{REPO}/blobs");
    let m = format!("/v2/{REPO}/manifests");
    let attempts = [
        format!("{b}/sha256:../../{hex}"),
        format!("{b}/sha256:..%2F..%2F..%2F{hex}"),
        format!("{b}/sha256:..%2f..%2f..%2fsecret"),
        format!("{b}/..%2F..%2F..%2Fsha256%2F{hex}"),
        format!("{b}/../../../sha256/{hex}"),
        format!("{b}/sha256%3A..%2F..%2F..%2Fsha256%2F{hex}"),
        format!("{b}/sha256:{hex}%00"),
        format!("{b}/sha256:{hex}%00.json"),
        format!("{b}/sha256:%00../../{hex}"),
        format!("{b}/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret"),
        format!("{m}/..%2F..%2F..%2Fsecret"),
        format!("{m}/../../../secret"),
        format!("{m}/v1%00"),
        format!("{m}/v1%2F..%2F..%2Fsecret"),
        format!("/v2/{REPO}%2F..%2F..%2F/blobs/sha256:{hex}"),
        format!("/v2/..%2F..%2F/blobs/sha256:{hex}"),
        "/v2/../../secret".to_owned(),
        "/../../secret".to_owned(),
        "/v2/%00/manifests/v1".to_owned(),
    ];
    for path in &attempts {
        let answer = exchange(
            &running,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        let status = status_of(&answer);
        assert!(status == 400 || status == 404, "{path}: {status}");
        assert!(
            !answer.windows(secret.len()).any(|w| w == secret),
            "{path} leaked the secret"
        );
    }
    // The same paths through the router's percent-decoding as a plain client sends them.
    for path in &attempts {
        let answer = exchange(
            &running,
            format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        let status = status_of(&answer);
        assert!(status == 400 || status == 404, "HEAD {path}: {status}");
    }
}

/// Resident and peak resident memory of this process, in KiB (Linux `/proc/self/status`).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Concurrent connections, all open before any request is sent.
const CONNECTIONS: usize = 1000;
/// Requests per connection (manifest, blob, tag list, ...).
const REQUESTS_PER_CONNECTION: usize = 4;
/// How much the process may grow serving them: a few hundred KiB per connection pair
/// (client and server buffers on both ends, in this one process) would be far less; a
/// server buffering whole blobs per connection or leaking per request would be far more.
const MEMORY_GROWTH_BOUND_KIB: u64 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_are_served_with_bounded_memory() {
    let img = Image::builder(63).layers_raw([64 * 1024, 1000]).build();
    let server = Server::new();
    client_support::add(&server, "v1", &img);
    let running = Arc::new(server.spawn().unwrap());
    let (rss_before, _) = memory_kib();
    let manifest = format!("/v2/{REPO}/manifests/v1");
    let blobs: Vec<(String, Bytes)> = img
        .blob_list()
        .iter()
        .map(|b| (format!("/v2/{REPO}/blobs/{}", b.digest()), b.bytes.clone()))
        .collect();
    let expected: Arc<Vec<(String, Bytes)>> = Arc::new(
        std::iter::once((manifest, Bytes::from(img.manifest().bytes().to_vec())))
            .chain(blobs)
            .collect(),
    );
    let errors = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let all_open = Arc::new(tokio::sync::Barrier::new(CONNECTIONS));
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (running, expected, errors, served, all_open) = (
            running.clone(),
            expected.clone(),
            errors.clone(),
            served.clone(),
            all_open.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(running.addr()).await.expect("connects");
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(conn);
            all_open.wait().await;
            for i in 0..REQUESTS_PER_CONNECTION {
                let (path, want) = &expected[(c + i) % expected.len()];
                let request = Request::get(path.as_str())
                    .header("host", "load")
                    .body(Empty::new())
                    .unwrap();
                let ok = match sender.send_request(request).await {
                    Ok(r) if r.status() == 200 => match r.into_body().collect().await {
                        Ok(body) => body.to_bytes() == *want,
                        Err(_) => false,
                    },
                    _ => false,
                };
                if ok {
                    served.fetch_add(1, Ordering::SeqCst);
                } else {
                    errors.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    let all = async {
        for t in tasks {
            t.await.expect("load task");
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("the load finishes");
    assert_eq!(errors.load(Ordering::SeqCst), 0, "failed requests");
    assert_eq!(
        served.load(Ordering::SeqCst),
        CONNECTIONS * REQUESTS_PER_CONNECTION
    );
    let (rss_after, peak) = memory_kib();
    eprintln!("VmRSS before {rss_before} KiB, after {rss_after} KiB, peak {peak} KiB");
    assert!(
        peak.saturating_sub(rss_before) < MEMORY_GROWTH_BOUND_KIB,
        "peak {peak} KiB from {rss_before} KiB"
    );
    assert!(
        rss_after.saturating_sub(rss_before) < MEMORY_GROWTH_BOUND_KIB,
        "after {rss_after} KiB from {rss_before} KiB"
    );
}
