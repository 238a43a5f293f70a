//! Stress: at least 200 concurrent connections and 10,000 requests with zero errors, then
//! clients that disconnect mid-body, send oversized headers or garbage, and the server
//! goes on serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use ocipull_server::{Server, TestServer};
use ocipull_spec::fixtures::Image;
use ocipull_spec::{Digest, FileBlob, Manifest, Repository};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Concurrent client connections, all open at once before any request is sent.
const CONNECTIONS: usize = 200;
/// Requests per connection: 200 × 50 = 10,000.
const REQUESTS_PER_CONNECTION: usize = 50;
/// The big blob that clients abandon mid-body.
const BIG_BLOB: usize = 8 * 1024 * 1024;

struct Fixture {
    running: TestServer,
    manifest: Manifest,
    small: Bytes,
    big_digest: Digest,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    // A small layer served from memory and a big one served from a file.
    let image = Image::builder(90).layers_raw([65_536, BIG_BLOB]).build();
    let [small, big] = image.layers() else {
        panic!("two layers")
    };
    let (small, big_digest) = (small.bytes.clone(), big.digest().clone());
    let dir = tempfile::tempdir().unwrap();
    let big_path = dir.path().join("big");
    std::fs::write(&big_path, &big.bytes).unwrap();
    let manifest = image.manifest().clone();
    let server = Server::new();
    let repo: Repository = "stress/app".parse().unwrap();
    server
        .add(
            &repo,
            Some("v1".parse().unwrap()),
            manifest.clone(),
            [
                ocipull_server::Content::bytes(image.config_blob().bytes.clone()),
                ocipull_server::Content::bytes(small.clone()),
                ocipull_server::Content::blob(
                    big_digest.clone(),
                    FileBlob::open(&big_path).unwrap(),
                ),
            ],
        )
        .unwrap();
    Fixture {
        running: server.spawn().unwrap(),
        manifest,
        small,
        big_digest,
        _dir: dir,
    }
}

/// A request (method, path, headers) and the status and body (when checked) it must get.
type Exchange = (
    Method,
    String,
    Vec<(&'static str, String)>,
    StatusCode,
    Option<Bytes>,
);

/// The request a connection sends as its `i`-th, and what must come back.
fn request(f: &Fixture, i: usize) -> Exchange {
    let small = format!("/v2/stress/app/blobs/{}", Digest::sha256(&f.small));
    match i % 6 {
        0 => (
            Method::GET,
            "/v2/stress/app/manifests/v1".into(),
            vec![],
            StatusCode::OK,
            Some(f.manifest.bytes().clone()),
        ),
        1 => (
            Method::GET,
            small,
            vec![],
            StatusCode::OK,
            Some(f.small.clone()),
        ),
        2 => (
            Method::GET,
            small,
            vec![("range", format!("bytes={}-", i * 7))],
            StatusCode::PARTIAL_CONTENT,
            Some(f.small.slice(i * 7..)),
        ),
        3 => (
            Method::HEAD,
            format!("/v2/stress/app/manifests/{}", f.manifest.digest()),
            vec![],
            StatusCode::OK,
            Some(Bytes::new()),
        ),
        4 => (
            Method::GET,
            "/v2/stress/app/tags/list".into(),
            vec![],
            StatusCode::OK,
            Some(Bytes::from_static(
                br#"{"name":"stress/app","tags":["v1"]}"#,
            )),
        ),
        _ => (
            Method::GET,
            "/v2/stress/app/manifests/missing".into(),
            vec![],
            StatusCode::NOT_FOUND,
            None,
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_connections_ten_thousand_requests_then_abuse() {
    let f = Arc::new(fixture());
    let addr = f.running.addr();
    let errors = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let all_open = Arc::new(tokio::sync::Barrier::new(CONNECTIONS));
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (f, errors, done, all_open) =
            (f.clone(), errors.clone(), done.clone(), all_open.clone());
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.expect("connects");
            stream.set_nodelay(true).expect("sets TCP_NODELAY");
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(conn);
            all_open.wait().await;
            for i in 0..REQUESTS_PER_CONNECTION {
                let (method, path, headers, status, body) = request(&f, c + i);
                let mut b = Request::builder()
                    .method(method)
                    .uri(&path)
                    .header("host", "stress");
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                let ok = match sender.send_request(b.body(Empty::new()).unwrap()).await {
                    Ok(response) => {
                        let got_status = response.status();
                        match response.into_body().collect().await {
                            Ok(got) => {
                                got_status == status && body.is_none_or(|b| got.to_bytes() == b)
                            }
                            Err(_) => false,
                        }
                    }
                    Err(_) => false,
                };
                if !ok {
                    errors.fetch_add(1, Ordering::SeqCst);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    assert_eq!(
        done.load(Ordering::SeqCst),
        CONNECTIONS * REQUESTS_PER_CONNECTION
    );
    assert_eq!(errors.load(Ordering::SeqCst), 0, "requests that failed");

    // Clients that hang up mid-body, on a blob streamed from disk.
    let big = format!("/v2/stress/app/blobs/{}", f.big_digest);
    let mut quitters = Vec::new();
    for _ in 0..20 {
        let big = big.clone();
        quitters.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {big} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            drop(s);
        }));
    }
    for q in quitters {
        q.await.unwrap();
    }

    // Oversized headers: refused (431) or the connection closed, never a crash.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let huge = "x".repeat(1024 * 1024);
    let _ = s
        .write_all(format!("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n").as_bytes())
        .await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{:.80}",
        text
    );

    // Garbage, a TLS hello (as skopeo sends first) and a request cut off mid-head.
    for junk in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"NOT HTTP\r\n\r\n",
        b"GET /v2/ HTT",
    ] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(junk).await.unwrap();
        let _ = s.shutdown().await;
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;
    }

    // The server still serves, the big blob whole and intact.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {big} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).await.unwrap();
    let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(all.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(Digest::sha256(&all[head_end..]), f.big_digest);
}
