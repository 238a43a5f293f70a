//! The client against a hostile registry (a raw HTTP/1.1 server that sends whatever a test
//! scripts): bodies over the limits or never ending, `Content-Length` lies, stalls, token
//! services answering garbage or gigabytes, redirect loops and non-http(s) redirects, realms
//! that are files, digests that try path traversal, and secrets kept out of errors, logs,
//! `Debug` output and other origins.
//!
//! Faults a well-behaved server can inject (cuts, truncation, stalls in blobs, Retry-After,
//! manifests just over the limit) are in `client_faults.rs`.

mod client_support;
mod hostile_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_support::{fast_retries, repo};
use hostile_support::{RawServer, Reply, full, head};
use ocipull_client::{
    Client, ClientBuilder, Credentials, DEFAULT_ERROR_BODY_LIMIT, DEFAULT_TOKEN_RESPONSE_LIMIT,
    Error, PullOptions, Scheme,
};
use ocipull_spec::fixtures::Image;
use ocipull_spec::media_type;

/// Filler a well-behaved client reads before giving up on an endless body: the limit plus
/// what loopback socket buffers hold (a few MiB). An implementation that reads on would
/// take gigabytes.
const ENDLESS_BOUND: u64 = 64 * 1024 * 1024;

fn builder(raw: &RawServer) -> ClientBuilder {
    Client::builder(raw.host(), repo())
        .scheme(Scheme::Http)
        .backoff_builder(fast_retries(2))
}

async fn read_v1(client: &Client) -> Result<ocipull_spec::Manifest, Error> {
    client
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
}

fn a_manifest() -> Vec<u8> {
    Image::builder(1)
        .layers_raw([10])
        .build()
        .manifest()
        .bytes()
        .to_vec()
}

#[tokio::test]
async fn endless_and_oversized_manifests_stop_at_the_limit() {
    const LIMIT: u64 = 1024 * 1024;
    for declared in [None, Some("2147483648")] {
        let raw = RawServer::start(move |_| {
            let mut h = vec![("content-type", media_type::OCI_IMAGE_MANIFEST)];
            if let Some(len) = declared {
                h.push(("content-length", len));
            }
            Reply::Endless(head("200 OK", &h))
        })
        .await;
        let client = builder(&raw).manifest_limit(LIMIT).build().unwrap();
        let err = read_v1(&client).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    what: "manifest",
                    limit: LIMIT,
                    ..
                }
            ),
            "{declared:?}: {err:?}"
        );
        assert!(!err.is_transient());
        assert_eq!(raw.requests().len(), 1, "a refused size is not retried");
        assert!(raw.endless_bytes_sent() < ENDLESS_BOUND);
    }
}

#[tokio::test]
async fn endless_error_bodies_are_cut_at_the_error_body_limit() {
    for declared in [None, Some("2147483648")] {
        let raw = RawServer::start(move |_| {
            let h: Vec<(&str, &str)> = declared
                .map(|n| ("content-length", n))
                .into_iter()
                .collect();
            Reply::Endless(head("404 Not Found", &h))
        })
        .await;
        let err = read_v1(&builder(&raw).build().unwrap()).await.unwrap_err();
        let http = err.http().expect("a status error");
        assert_eq!(http.status, 404);
        assert_eq!(http.body.len(), DEFAULT_ERROR_BODY_LIMIT, "{declared:?}");
        assert!(http.error_body.is_none());
        assert!(raw.endless_bytes_sent() < ENDLESS_BOUND);
    }
}

#[tokio::test]
async fn blob_content_length_lies_never_yield_a_blob() {
    let img = Image::builder(3).layers_raw([50_000]).build();
    let layer = img.layers()[0].bytes.clone();
    for (declared, sent) in [
        // Shorter than the blob: the body ends early.
        (layer.len() - 100, layer.len()),
        // Longer than what is sent before the connection closes.
        (layer.len() + 100, layer.len()),
        // Longer than the descriptor says, with as much content.
        (layer.len() + 100, layer.len() + 100),
    ] {
        let l = layer.clone();
        let raw = RawServer::start(move |_| {
            let len = declared.to_string();
            let mut out = head("200 OK", &[("content-length", &len)]).into_bytes();
            out.extend_from_slice(&l);
            out.resize(out.len() - l.len() + sent, b'!');
            Reply::Bytes(out)
        })
        .await;
        let client = builder(&raw).build().unwrap();
        let result = match client.blob(&img.layers()[0].descriptor).await {
            Ok(stream) => client_support::collect(stream).await,
            Err(e) => Err(e),
        };
        let err = result.expect_err("a lying Content-Length is never a blob");
        assert!(
            matches!(
                err,
                Error::BlobSize { .. } | Error::Connection { .. } | Error::DigestMismatch { .. }
            ),
            "{declared}/{sent}: {err:?}"
        );
    }
}

#[tokio::test]
async fn content_length_lies_are_errors_not_manifests() {
    let manifest = a_manifest();
    // Shorter: the client reads what Content-Length says, which is not valid content.
    let m = manifest.clone();
    let raw = RawServer::start(move |_| {
        let len = (m.len() - 10).to_string();
        let mut out = head(
            "200 OK",
            &[
                ("content-type", media_type::OCI_IMAGE_MANIFEST),
                ("content-length", &len),
            ],
        )
        .into_bytes();
        out.extend_from_slice(&m);
        Reply::Bytes(out)
    })
    .await;
    let err = read_v1(&builder(&raw).build().unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::Manifest { .. }), "{err:?}");

    // Longer: the connection closes before the promised bytes; a transient failure,
    // retried, then reported.
    let m = manifest.clone();
    let raw = RawServer::start(move |_| {
        let len = (m.len() + 100).to_string();
        let mut out = head(
            "200 OK",
            &[
                ("content-type", media_type::OCI_IMAGE_MANIFEST),
                ("content-length", &len),
            ],
        )
        .into_bytes();
        out.extend_from_slice(&m);
        Reply::Bytes(out)
    })
    .await;
    let err = read_v1(&builder(&raw).build().unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    assert_eq!(raw.requests().len(), 3, "one try and two retries");

    // The honest answer from the same script works (the test can tell the difference).
    let m = manifest.clone();
    let raw = RawServer::start(move |_| {
        full(
            "200 OK",
            &[("content-type", media_type::OCI_IMAGE_MANIFEST)],
            &m,
        )
    })
    .await;
    let ok = read_v1(&builder(&raw).build().unwrap()).await.unwrap();
    assert_eq!(ok.bytes(), &manifest[..]);
}

#[tokio::test]
async fn a_manifest_stalled_mid_body_times_out_and_fails_cleanly() {
    let manifest = a_manifest();
    let raw = RawServer::start(move |_| {
        let len = manifest.len().to_string();
        Reply::Stall(
            head(
                "200 OK",
                &[
                    ("content-type", media_type::OCI_IMAGE_MANIFEST),
                    ("content-length", &len),
                ],
            ),
            manifest[..manifest.len() / 2].to_vec(),
        )
    })
    .await;
    let client = builder(&raw)
        .backoff_builder(fast_retries(1))
        .stall_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), read_v1(&client))
        .await
        .expect("the stall timeout fires")
        .unwrap_err();
    assert!(
        matches!(err, Error::Stalled { timeout, .. } if timeout == Duration::from_millis(300)),
        "{err:?}"
    );
    assert_eq!(
        raw.requests().len(),
        2,
        "a stall is transient: retried once"
    );
}

/// A registry that demands a Bearer token from `realm` and answers the token request with
/// `token`.
async fn token_registry(token: impl Fn() -> Reply + Send + Sync + 'static) -> RawServer {
    let realm = Arc::new(Mutex::new(String::new()));
    let r = realm.clone();
    let raw = RawServer::start(move |req| {
        if req.target.starts_with("/token") {
            return token();
        }
        let challenge = format!(
            r#"Bearer realm="{}",service="raw""#,
            r.lock().unwrap().as_str()
        );
        full(
            "401 Unauthorized",
            &[("www-authenticate", &challenge)],
            b"{}",
        )
    })
    .await;
    *realm.lock().unwrap() = format!("http://{}/token", raw.host());
    raw
}

#[tokio::test]
async fn token_services_answering_garbage_or_gigabytes_are_refused() {
    let raw = token_registry(|| {
        full(
            "200 OK",
            &[("content-type", "text/html")],
            b"<html>not a token</html>",
        )
    })
    .await;
    let err = read_v1(&builder(&raw).build().unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::Token { .. }), "{err:?}");

    for declared in [None, Some("2147483648")] {
        let raw = token_registry(move || {
            let mut h = vec![("content-type", "application/json")];
            if let Some(len) = declared {
                h.push(("content-length", len));
            }
            Reply::Endless(head("200 OK", &h))
        })
        .await;
        let err = read_v1(&builder(&raw).build().unwrap()).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    what: "token response",
                    limit: DEFAULT_TOKEN_RESPONSE_LIMIT,
                    ..
                }
            ),
            "{declared:?}: {err:?}"
        );
        assert!(raw.endless_bytes_sent() < ENDLESS_BOUND);
    }
}

#[tokio::test]
async fn redirect_loops_stop_after_ten_hops() {
    let raw = RawServer::start(|req| {
        let next = format!("/hop{}", req.target.len());
        full("307 Temporary Redirect", &[("location", &next)], b"")
    })
    .await;
    let client = builder(&raw).no_retries().build().unwrap();
    let err = read_v1(&client).await.unwrap_err();
    assert!(
        matches!(err, Error::Redirect { status, .. } if status == 307),
        "{err:?}"
    );
    assert_eq!(
        raw.requests().len(),
        // The client documents following up to 10 redirects per request.
        1 + 10,
        "the first request and ten hops"
    );
}

#[tokio::test]
async fn redirects_to_other_schemes_are_not_followed() {
    for location in [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:1/x",
        "unix:///var/run/docker.sock",
        "data:text/plain,hello",
    ] {
        let raw = RawServer::start(move |_| {
            full("307 Temporary Redirect", &[("location", location)], b"")
        })
        .await;
        let client = builder(&raw).no_retries().build().unwrap();
        let err = read_v1(&client).await.unwrap_err();
        assert!(
            matches!(err, Error::Redirect { status, .. } if status == 307),
            "{location}: {err:?}"
        );
        assert!(!err.is_transient(), "{location}");
        assert_eq!(raw.requests().len(), 1, "{location}");
        // Permanent: even with retries on, nothing more is asked.
        let client = builder(&raw).build().unwrap();
        read_v1(&client).await.unwrap_err();
        assert_eq!(raw.requests().len(), 2, "{location}");
    }
}

#[tokio::test]
async fn a_realm_that_is_a_file_or_not_http_is_refused() {
    for realm in [
        "file:///etc/passwd",
        "/token",
        "unix:///var/run/docker.sock",
    ] {
        let challenge = format!(r#"Bearer realm="{realm}",service="raw""#);
        let raw = RawServer::start(move |_| {
            full("401 Unauthorized", &[("www-authenticate", &challenge)], b"")
        })
        .await;
        let client = builder(&raw)
            .credentials(Credentials::basic("alice", "pw-never-sent"))
            .build()
            .unwrap();
        let err = read_v1(&client).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidRealm { .. }),
            "{realm}: {err:?}"
        );
        assert_eq!(raw.requests().len(), 1, "{realm}: nothing else was asked");
    }
}

#[tokio::test]
async fn digests_that_try_path_traversal_are_refused_and_nothing_is_written_outside() {
    let good = Image::builder(2).layers_raw([10]).build();
    let good_json: serde_json::Value = serde_json::from_slice(good.manifest().bytes()).unwrap();
    for evil in [
        "sha256:../../x",
        "sha256:../../../../../../tmp/evil",
        "sha256:/etc/passwd",
        "../../sha256:aaaa",
        "sha256:aa/../../x",
        "sha256:..%2F..%2Fx",
        "sha256:aaaa\u{0}x",
    ] {
        let mut json = good_json.clone();
        json["layers"][0]["digest"] = serde_json::Value::from(evil);
        let body = serde_json::to_vec(&json).unwrap();
        let b = body.clone();
        let raw = RawServer::start(move |_| {
            full(
                "200 OK",
                &[("content-type", media_type::OCI_IMAGE_MANIFEST)],
                &b,
            )
        })
        .await;
        let client = builder(&raw).build().unwrap();
        let err = read_v1(&client).await.unwrap_err();
        assert!(matches!(err, Error::Manifest { .. }), "{evil}: {err:?}");

        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("layout");
        let reference = format!("{}/test/app:v1", raw.host()).parse().unwrap();
        let err = client
            .pull(&reference, &dir, &PullOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Manifest { .. }), "{evil}: {err:?}");
        let outside: Vec<_> = std::fs::read_dir(parent.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "layout")
            .collect();
        assert!(outside.is_empty(), "{evil}: {outside:?}");
        assert!(
            raw.requests()
                .iter()
                .all(|r| r.target.contains("/manifests/")),
            "{evil}: no blob was requested"
        );
    }
}

/// Captures everything `tracing` logs (every level) while `f` runs on this thread.
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn credentials_and_tokens_stay_out_of_errors_logs_debug_and_other_origins() {
    const PASSWORD: &str = "pw-Sup3rSecret";
    const TOKEN: &str = "tok-9f8e7d6c5b4a";
    // The other origin: whatever arrives there is kept for inspection.
    let other = RawServer::start(|_| {
        full(
            "403 Forbidden",
            &[],
            br#"{"errors":[{"code":"DENIED","message":"no"}]}"#,
        )
    })
    .await;
    let other_url = format!("http://{}/elsewhere?X-Amz-Signature=sig", other.host());
    let realm = Arc::new(Mutex::new(String::new()));
    let r = realm.clone();
    let registry = RawServer::start(move |req| {
        if req.target.starts_with("/token") {
            let body = format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#);
            return full("200 OK", &[], body.as_bytes());
        }
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            let c = format!(r#"Bearer realm="{}",service="raw""#, r.lock().unwrap());
            return full("401 Unauthorized", &[("www-authenticate", &c)], b"");
        }
        full("307 Temporary Redirect", &[("location", &other_url)], b"")
    })
    .await;
    *realm.lock().unwrap() = format!("http://{}/token", registry.host());

    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || Captured(sink.clone()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let builder = builder(&registry).credentials(Credentials::basic("alice", PASSWORD));
    let builder_debug = format!("{builder:?}");
    let client = builder.build().unwrap();
    let err = read_v1(&client).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403), "{err:?}");

    // The credentials went to the token service, the token to the registry, neither
    // further.
    let sent = registry.requests();
    assert!(
        sent.iter()
            .any(|r| r.target.starts_with("/token") && r.header("authorization").is_some())
    );
    assert!(
        sent.iter()
            .any(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")))
    );
    let elsewhere = other.requests();
    assert!(!elsewhere.is_empty(), "the redirect was followed");
    assert!(
        elsewhere
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "{elsewhere:?}"
    );

    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"))
    };
    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("request"), "the client logged: {logged}");
    for (what, text) in [
        ("Display", err.to_string()),
        ("Debug", format!("{err:?}")),
        ("client Debug", format!("{client:?}")),
        ("builder Debug", builder_debug),
        (
            "credentials Debug",
            format!("{:?}", Credentials::basic("alice", PASSWORD)),
        ),
        ("logs", logged),
    ] {
        for secret in [PASSWORD, TOKEN, basic.as_str(), "X-Amz-Signature=sig"] {
            assert!(!text.contains(secret), "{what} shows {secret}: {text}");
        }
    }
}
