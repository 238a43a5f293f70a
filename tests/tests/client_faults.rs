//! The client against the server's fault injection: retries, Retry-After, resume with
//! Range, registries that ignore Range, truncated and corrupted bodies, stalls, limits.

mod client_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use client_support::*;
use http::{Method, StatusCode};
use ocipull_client::{Client, DigestSubject, Error, ManifestRef, Scheme};
use ocipull_server::{FaultRule, RetryAfter, Server};
use ocipull_spec::fixtures::Image;
use ocipull_spec::{Digest, ManifestError};

/// Records what the retry-notify callback sees: (status, Retry-After, delay).
type Seen = Arc<Mutex<Vec<(Option<StatusCode>, Option<Duration>, Duration)>>>;

fn notified(builder: ocipull_client::ClientBuilder) -> (Client, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let client = builder
        .retry_notify(move |e: &Error, delay| {
            s.lock().unwrap().push((e.status(), e.retry_after(), delay))
        })
        .build()
        .unwrap();
    (client, seen)
}

#[tokio::test]
async fn manifest_503_with_retry_after_seconds_waits_that_long() {
    let img = Image::builder(1).layers_raw([100]).build();
    let running = logged_server(&img);
    running.server().add_fault(
        FaultRule::path("/manifests/")
            .nth(1)
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .retry_after(RetryAfter::Seconds(1)),
    );
    let (client, seen) = notified(client_builder(&running));
    let m = client
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap();
    assert_eq!(m.digest(), img.manifest().digest());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (status, retry_after, delay) = seen[0];
    assert_eq!(status, Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(retry_after, Some(Duration::from_secs(1)));
    // The backoff alone would wait 1 ms; Retry-After raised it.
    assert_eq!(delay, Duration::from_secs(1));
    let statuses: Vec<u16> = log(&running, "/manifests/")
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(statuses, vec![503, 200]);
}

#[tokio::test]
async fn blob_429_with_retry_after_date_is_retried() {
    let img = Image::builder(2).layers_raw([5000]).build();
    let running = logged_server(&img);
    let at = SystemTime::now() + Duration::from_secs(2);
    running.server().add_fault(
        FaultRule::path("/blobs/")
            .nth(1)
            .status(StatusCode::TOO_MANY_REQUESTS)
            .retry_after(RetryAfter::Date(at)),
    );
    let (client, seen) = notified(client_builder(&running));
    let blob = collect(client.blob(&img.layers()[0].descriptor).await.unwrap())
        .await
        .unwrap();
    assert_eq!(blob, img.layers()[0].bytes);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (status, retry_after, delay) = seen[0];
    assert_eq!(status, Some(StatusCode::TOO_MANY_REQUESTS));
    let retry_after = retry_after.expect("the date was parsed");
    assert!(retry_after <= Duration::from_secs(2), "{retry_after:?}");
    assert_eq!(delay, retry_after.max(Duration::from_millis(1)));
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_is_returned_not_slept() {
    let img = Image::builder(3).layers_raw([10]).build();
    let running = logged_server(&img);
    running.server().add_fault(
        FaultRule::path("/manifests/")
            .status(StatusCode::TOO_MANY_REQUESTS)
            .retry_after(RetryAfter::Seconds(6 * 3600)),
    );
    let err = client(&running)
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(6 * 3600)));
    assert!(err.is_transient());
    assert_eq!(log(&running, "/manifests/").len(), 1);
}

#[tokio::test]
async fn transient_statuses_exhaust_the_backoff_and_permanent_ones_fail_at_once() {
    let img = Image::builder(4).layers_raw([10]).build();
    let running = logged_server(&img);
    running
        .server()
        .add_fault(FaultRule::path("/manifests/v1").status(StatusCode::BAD_GATEWAY));
    let client = client_builder(&running)
        .backoff_builder(fast_retries(3))
        .build()
        .unwrap();
    let err = client
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
    assert_eq!(
        log(&running, "/manifests/v1").len(),
        4,
        "one try and three retries"
    );

    let err = client
        .read("nope".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    let http = err.http().unwrap();
    assert_eq!(
        http.error_body.as_ref().unwrap().errors[0].code,
        ocipull_spec::ErrorCode::ManifestUnknown
    );
    assert_eq!(log(&running, "/manifests/nope").len(), 1);
}

#[tokio::test]
async fn a_cut_connection_resumes_with_range_from_the_last_byte() {
    let img = Image::builder(5).layers_raw([300_000]).build();
    let running = logged_server(&img);
    let cut = running
        .server()
        .add_fault(FaultRule::path("/blobs/").nth(1).cut_after(100_000));
    let client = client(&running);
    let blob = collect(client.blob(&img.layers()[0].descriptor).await.unwrap())
        .await
        .unwrap();
    assert_eq!(cut.fired(), 1);
    assert_eq!(blob, img.layers()[0].bytes);
    let records = log(&running, "/blobs/");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].range, None);
    // The bytes that arrived before the cut are not fetched again: the resume starts
    // after some of them and no later than the cut.
    assert_resumed_within(records[1].range.as_deref(), 100_000);
    assert_eq!(records[1].status, StatusCode::PARTIAL_CONTENT);
}

#[tokio::test]
async fn without_a_backoff_a_cut_is_an_error() {
    let img = Image::builder(6).layers_raw([300_000]).build();
    let running = logged_server(&img);
    running
        .server()
        .add_fault(FaultRule::path("/blobs/").cut_after(100_000));
    let client = client_builder(&running).no_retries().build().unwrap();
    let err = collect(client.blob(&img.layers()[0].descriptor).await.unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    assert_eq!(log(&running, "/blobs/").len(), 1);
}

#[tokio::test]
async fn a_registry_ignoring_range_is_skipped_ahead() {
    let img = Image::builder(7).layers_raw([300_000]).build();
    let running = logged_server(&img);
    running
        .server()
        .add_fault(FaultRule::path("/blobs/").nth(1).cut_after(100_000));
    running
        .server()
        .add_fault(FaultRule::path("/blobs/").nth(2).ignore_range());
    let blob = collect(
        client(&running)
            .blob(&img.layers()[0].descriptor)
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(blob, img.layers()[0].bytes);
    let records = log(&running, "/blobs/");
    assert_eq!(records.len(), 2);
    assert_resumed_within(records[1].range.as_deref(), 100_000);
    assert_eq!(records[1].status, StatusCode::OK);
}

#[tokio::test]
async fn a_registry_always_ignoring_range_hits_the_budget() {
    // Cut after 1 MiB every time and never honour Range: the second response skips 1 MiB
    // (within the 1.5 MiB budget) and is cut at the same place; the third would skip past
    // the budget, so the client gives up instead of downloading the blob again and again.
    let size = 1024 * 1024 * 3 / 2;
    let img = Image::builder(8).layers_raw([size]).build();
    let running = logged_server(&img);
    running.server().add_fault(
        FaultRule::path("/blobs/")
            .cut_after(1024 * 1024)
            .ignore_range(),
    );
    let client = client_builder(&running)
        .backoff_builder(fast_retries(10))
        .build()
        .unwrap();
    let err = collect(client.blob(&img.layers()[0].descriptor).await.unwrap())
        .await
        .unwrap_err();
    match &err {
        Error::RangeIgnored { budget, digest, .. } => {
            assert_eq!(*budget, (size as u64) - 1024 * 1024);
            assert_eq!(digest, &img.layers()[0].descriptor.digest);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log(&running, "/blobs/").len(), 3);
}

#[tokio::test]
async fn a_wrong_content_range_is_an_error() {
    let img = Image::builder(9).layers_raw([300_000]).build();
    let running = logged_server(&img);
    running
        .server()
        .add_fault(FaultRule::path("/blobs/").nth(1).cut_after(100_000));
    running.server().add_fault(
        FaultRule::path("/blobs/")
            .nth(2)
            .content_range("bytes 0-299999/300000"),
    );
    let err = collect(
        client(&running)
            .blob(&img.layers()[0].descriptor)
            .await
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Range { offset, .. } if offset > 0 && offset <= 100_000),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_truncated_body_is_resumed_or_reported() {
    let img = Image::builder(10).layers_raw([200_000]).build();
    let running = logged_server(&img);
    // Once: the client notices the short body and continues where it ended.
    running
        .server()
        .add_fault(FaultRule::path("/blobs/").nth(1).truncate_after(50_000));
    let blob = collect(
        client(&running)
            .blob(&img.layers()[0].descriptor)
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(blob, img.layers()[0].bytes);
    let records = log(&running, "/blobs/");
    assert_eq!(records.len(), 2);
    assert_resumed_within(records[1].range.as_deref(), 50_000);
    // Every time, without retries: an error, never a clean end of a short blob.
    running
        .server()
        .add_fault(FaultRule::path("/blobs/").truncate_after(50_000));
    let client = client_builder(&running).no_retries().build().unwrap();
    let err = collect(client.blob(&img.layers()[0].descriptor).await.unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
}

#[tokio::test]
async fn a_corrupted_body_is_a_digest_error_not_a_clean_end() {
    let img = Image::builder(11).layers_raw([100_000]).build();
    let running = logged_server(&img);
    running
        .server()
        .add_fault(FaultRule::path("/blobs/").corrupt_at(77_777));
    let mut stream = client(&running)
        .blob(&img.layers()[0].descriptor)
        .await
        .unwrap();
    let mut received = 0;
    let err = loop {
        use futures_util::StreamExt as _;
        match stream.next().await {
            Some(Ok(chunk)) => received += chunk.len(),
            Some(Err(e)) => break e,
            None => panic!("a corrupted blob ended cleanly"),
        }
    };
    match err {
        Error::DigestMismatch {
            subject: DigestSubject::Blob,
            mismatch,
            ..
        } => {
            assert_eq!(mismatch.expected, img.layers()[0].descriptor.digest);
            assert_ne!(mismatch.actual, mismatch.expected);
        }
        other => panic!("{other:?}"),
    }
    // The last chunk was withheld: the digest is checked before it is handed out.
    assert!(received < 100_000);
    // A permanent error: no retry.
    assert_eq!(log(&running, "/blobs/").len(), 1);
}

#[tokio::test]
async fn a_stalled_body_is_resumed_after_the_stall_timeout() {
    let img = Image::builder(12).layers_raw([200_000]).build();
    let running = logged_server(&img);
    running.server().add_fault(
        FaultRule::path("/blobs/")
            .nth(1)
            .stall(60_000, Duration::from_secs(30)),
    );
    let client = client_builder(&running)
        .stall_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let blob = collect(client.blob(&img.layers()[0].descriptor).await.unwrap())
        .await
        .unwrap();
    assert_eq!(blob, img.layers()[0].bytes);
    let records = log(&running, "/blobs/");
    assert_eq!(records.len(), 2);
    assert_resumed_within(records[1].range.as_deref(), 60_000);
}

#[tokio::test]
async fn a_manifest_over_the_limit_is_refused() {
    let img = Image::builder(13).layers_raw([10]).build();
    let running = logged_server(&img);
    let size = img.manifest().bytes().len() as u64;
    let client = client_builder(&running)
        .manifest_limit(size - 1)
        .build()
        .unwrap();
    let err = client
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { limit, what: "manifest", .. } if limit == size - 1),
        "{err:?}"
    );
    let client = client_builder(&running)
        .manifest_limit(size)
        .build()
        .unwrap();
    client
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn manifest_headers_are_checked_against_the_body() {
    let img = Image::builder(14).layers_raw([10]).build();
    let running = logged_server(&img);
    let tag: ocipull_spec::Tag = "v1".parse().unwrap();
    let wrong = Digest::sha256(b"something else");
    running.server().add_fault(
        FaultRule::path("/manifests/")
            .nth(1)
            .content_digest(wrong.to_string()),
    );
    let err = client(&running).read(&tag).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::DigestMismatch {
                subject: DigestSubject::ContentDigestHeader,
                mismatch,
                ..
            } if mismatch.expected == wrong
        ),
        "{err:?}"
    );

    running.server().add_fault(
        FaultRule::path("/manifests/")
            .nth(1)
            .content_type(ocipull_spec::media_type::OCI_IMAGE_INDEX),
    );
    let err = client(&running).read(&tag).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Manifest {
                source: ManifestError::MediaTypeMismatch { .. },
                ..
            }
        ),
        "{err:?}"
    );

    // A tag that names other content than the digest asked for.
    let err = client(&running)
        .read(ManifestRef::TagAt(tag.clone(), wrong.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::DigestMismatch {
                subject: DigestSubject::Manifest,
                mismatch,
                ..
            } if mismatch.expected == wrong
        ),
        "{err:?}"
    );
    // Both right: the tag is requested and the digest verifies it.
    let ok = client(&running)
        .read(ManifestRef::TagAt(
            tag.clone(),
            img.manifest().digest().clone(),
        ))
        .await
        .unwrap();
    assert_eq!(ok.bytes(), img.manifest().bytes());
    assert!(
        log(&running, "/manifests/")
            .iter()
            .all(|r| r.path.ends_with("/manifests/v1"))
    );
}

#[tokio::test]
async fn accept_lists_oci_and_docker_types() {
    let img = Image::builder(15).layers_raw([10]).build();
    let server = Server::builder()
        .request_log(true)
        .strict_accept(true)
        .build();
    add(&server, "v1", &img);
    let running = spawn(server);
    client(&running)
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap();
    let accept = log(&running, "/manifests/")[0].accept.clone().unwrap();
    for t in ocipull_spec::media_type::MANIFEST_ACCEPT {
        assert!(accept.contains(t), "{accept}");
    }
}

#[tokio::test]
async fn connection_refused_is_transient_and_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    drop(listener);
    let attempts = Arc::new(Mutex::new(0));
    let a = attempts.clone();
    let client = Client::builder(host, repo())
        .scheme(Scheme::Http)
        .backoff_builder(fast_retries(2))
        .retry_notify(move |_, _| *a.lock().unwrap() += 1)
        .build()
        .unwrap();
    let err = client
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Connection { ref method, .. } if *method == Method::GET),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(*attempts.lock().unwrap(), 2);
}
