//! Fault injection, over real connections (HTTP/1.1 and h2c) and, for delays and stalls,
//! through the service on a paused clock.

mod common;

use std::time::{Duration, SystemTime};

use common::{call, fetch, image};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use ocipull_server::{ConnectionCut, Fault, FaultRule, RetryAfter, Server, TestServer};
use ocipull_spec::{Digest, Repository};
use tower::ServiceExt;

const LAYER_LEN: usize = 300_000;

/// The content of the image's one layer.
fn layer() -> Vec<u8> {
    image(1, [LAYER_LEN]).layers()[0].bytes.to_vec()
}

fn server_with_image(builder: ocipull_server::ServerBuilder) -> (Server, String, String) {
    let server = builder.request_log(true).build();
    let img = image(1, [LAYER_LEN]);
    let repo: Repository = "f/app".parse().unwrap();
    server
        .add(
            &repo,
            Some("v1".parse().unwrap()),
            img.manifest().clone(),
            img.blobs(),
        )
        .unwrap();
    let blob = format!("/v2/f/app/blobs/{}", img.layers()[0].digest());
    (server, blob, "/v2/f/app/manifests/v1".to_owned())
}

fn spawn(server: &Server) -> TestServer {
    server.clone().spawn().expect("binds loopback")
}

#[tokio::test]
async fn status_with_retry_after_fires_a_limited_number_of_times() {
    let (server, _, manifest) = server_with_image(Server::builder());
    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let rule = server.add_fault(
        FaultRule::path("/manifests/")
            .times(2)
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .retry_after(RetryAfter::Seconds(7)),
    );
    let limited = server.add_fault(
        FaultRule::path("/tags/list")
            .status(StatusCode::TOO_MANY_REQUESTS)
            .retry_after(RetryAfter::Date(date)),
    );
    let running = spawn(&server);
    let url = format!("{}{manifest}", running.url());
    for _ in 0..2 {
        let a = fetch(&url, Method::GET, &[], false).await;
        assert_eq!(a.status, 503);
        assert_eq!(a.header("retry-after"), Some("7"));
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["errors"][0]["code"], "UNAVAILABLE");
    }
    let a = fetch(&url, Method::GET, &[], false).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("retry-after"), None);
    assert_eq!((rule.matched(), rule.fired()), (3, 2));

    let a = fetch(
        &format!("{}/v2/f/app/tags/list", running.url()),
        Method::GET,
        &[],
        false,
    )
    .await;
    assert_eq!(a.status, 429);
    assert_eq!(
        a.header("retry-after"),
        Some("Wed, 18 May 2033 03:33:20 GMT")
    );
    assert!(String::from_utf8_lossy(&a.body).contains("TOOMANYREQUESTS"));
    assert_eq!(limited.fired(), 1);

    let statuses: Vec<u16> = running
        .request_log()
        .unwrap()
        .records()
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(statuses, vec![503, 503, 200, 429]);
}

#[tokio::test]
async fn nth_request_and_method_matching() {
    let (server, blob, _) = server_with_image(Server::builder());
    server.add_fault(
        FaultRule::path("/blobs/")
            .method(Method::GET)
            .nth(2)
            .status(StatusCode::BAD_GATEWAY),
    );
    let statuses = [
        call(&server, Method::HEAD, &blob, &[]).await.status,
        call(&server, Method::GET, &blob, &[]).await.status,
        call(&server, Method::GET, &blob, &[]).await.status,
        call(&server, Method::GET, &blob, &[]).await.status,
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [200, 200, 502, 200]);
}

/// Reads a body frame by frame: the data before the end, and the error it ended with.
async fn drain(mut body: ocipull_server::Body) -> (Vec<u8>, Option<ocipull_server::BoxError>) {
    let mut got = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => got.extend_from_slice(&f.into_data().unwrap_or_default()),
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

// Through the service, on a paused clock: exactly the bytes before the cut, then the
// error, after the flush pause on tokio's clock (so the test waits for nothing).
#[tokio::test(start_paused = true)]
async fn cut_after_sends_the_bytes_before_the_cut_then_fails() {
    for (builder, pause) in [
        (Server::builder(), Duration::from_millis(50)),
        (
            Server::builder().fault_flush_pause(Duration::from_secs(2)),
            Duration::from_secs(2),
        ),
    ] {
        let (server, blob, _) = server_with_image(builder);
        let rule = server.add_fault(FaultRule::path("/blobs/").times(1).cut_after(1000));
        let request = http::Request::get(&blob).body(()).unwrap();
        let response = server.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-length"],
            LAYER_LEN.to_string().as_str()
        );
        let start = tokio::time::Instant::now();
        let (got, err) = drain(response.into_body()).await;
        assert_eq!(got, layer()[..1000]);
        let err = err.expect("the body ends in an error");
        let cut = err
            .downcast_ref::<ConnectionCut>()
            .expect("a ConnectionCut");
        assert_eq!(cut.after, 1000);
        assert!(
            start.elapsed() >= pause,
            "{:?} < {pause:?}",
            start.elapsed()
        );
        assert_eq!(rule.fired(), 1);
    }
}

// Over the network the client cannot get more than the bytes before the cut, and the
// body must fail; how many of them arrive before the connection dies depends on
// scheduling (the flush pause is what makes it all of them), so only the bound is asserted.
#[tokio::test]
async fn cut_after_aborts_the_connection_mid_body_on_http1_and_h2c() {
    let (server, blob, _) = server_with_image(Server::builder());
    let running = spawn(&server);
    let url = format!("{}{blob}", running.url());
    for http2 in [false, true] {
        let rule = server.add_fault(FaultRule::path("/blobs/").times(1).cut_after(1000));
        let a = fetch(&url, Method::GET, &[], http2).await;
        assert_eq!(a.status, 200, "http2={http2}");
        assert_eq!(
            a.header("content-length"),
            Some(LAYER_LEN.to_string().as_str())
        );
        assert!(a.body_error, "http2={http2}: the body must end in an error");
        assert!(a.body.len() <= 1000, "http2={http2}: {}", a.body.len());
        assert_eq!(a.body, layer()[..a.body.len()], "http2={http2}");
        assert_eq!(rule.fired(), 1);
        // The server goes on serving.
        let again = fetch(&url, Method::GET, &[], http2).await;
        assert!(!again.body_error);
        assert_eq!(again.body, layer());
    }
}

#[tokio::test(start_paused = true)]
async fn truncate_ends_the_body_short_of_its_content_length() {
    let (server, blob, _) = server_with_image(Server::builder());
    server.add_fault(FaultRule::path("/blobs/").times(1).truncate_after(4096));
    // Through the service: the body ends cleanly after 4096 bytes, headers unchanged.
    let a = call(&server, Method::GET, &blob, &[]).await;
    assert_eq!(
        a.header("content-length"),
        Some(LAYER_LEN.to_string().as_str())
    );
    assert_eq!(a.body, layer()[..4096]);
}

#[tokio::test]
async fn a_truncated_body_closes_the_connection_short_over_http1() {
    let (server, blob, _) = server_with_image(Server::builder());
    server.add_fault(FaultRule::path("/blobs/").times(1).truncate_after(4096));
    let running = spawn(&server);
    let n = fetch(&format!("{}{blob}", running.url()), Method::GET, &[], false).await;
    assert!(n.body_error);
    // As with cuts, at most the bytes before the truncation (see above).
    assert!(n.body.len() <= 4096, "{}", n.body.len());
    assert_eq!(n.body, layer()[..n.body.len()]);
}

#[tokio::test]
async fn corrupt_flips_exactly_one_byte() {
    let (server, blob, _) = server_with_image(Server::builder());
    server.add_fault(FaultRule::path("/blobs/").times(1).corrupt_at(262_145));
    let running = spawn(&server);
    let a = fetch(&format!("{}{blob}", running.url()), Method::GET, &[], false).await;
    assert!(!a.body_error);
    let want = layer();
    assert_eq!(a.body.len(), want.len());
    let diffs: Vec<usize> = (0..want.len()).filter(|&i| a.body[i] != want[i]).collect();
    assert_eq!(diffs, vec![262_145]);
    assert_eq!(a.body[262_145], !want[262_145]);
}

#[tokio::test]
async fn corrupt_applies_to_ranged_bodies_by_body_offset() {
    let (server, blob, _) = server_with_image(Server::builder());
    server.add_fault(FaultRule::path("/blobs/").corrupt_at(0));
    let a = call(&server, Method::GET, &blob, &[("range", "bytes=10-19")]).await;
    assert_eq!(a.status, 206);
    assert_eq!(a.body[0], !layer()[10]);
    assert_eq!(a.body[1..], layer()[11..20]);
}

#[tokio::test(start_paused = true)]
async fn delay_and_stall_hold_the_answer_on_a_paused_clock() {
    let (server, blob, manifest) = server_with_image(Server::builder());
    server.add_fault(FaultRule::path("/manifests/").delay(Duration::from_secs(30)));
    let start = tokio::time::Instant::now();
    let a = call(&server, Method::GET, &manifest, &[]).await;
    assert_eq!(a.status, 200);
    assert!(start.elapsed() >= Duration::from_secs(30));

    server.add_fault(FaultRule::path("/blobs/").stall(5000, Duration::from_secs(3600)));
    let request = http::Request::get(&blob).body(()).unwrap();
    let response = server.clone().oneshot(request).await.unwrap();
    let mut body = response.into_body();
    let mut got = Vec::new();
    let mut stall_seen_at = None;
    while let Some(frame) = body.frame().await {
        let before = tokio::time::Instant::now();
        let data = frame.unwrap().into_data().unwrap();
        if before.duration_since(start) < Duration::from_secs(3600) && got.len() + data.len() > 5000
        {
            unreachable!("bytes past the stall point arrived before the stall");
        }
        if stall_seen_at.is_none() && got.len() == 5000 {
            stall_seen_at = Some(tokio::time::Instant::now());
        }
        got.extend_from_slice(&data);
    }
    assert_eq!(got, layer());
    assert!(start.elapsed() >= Duration::from_secs(3630));
}

#[tokio::test]
async fn ignore_range_answers_200_with_the_whole_body() {
    let (server, blob, _) = server_with_image(Server::builder());
    server.add_fault(FaultRule::path("/blobs/").times(1).ignore_range());
    let a = call(&server, Method::GET, &blob, &[("range", "bytes=100-")]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-range"), None);
    assert_eq!(a.body.len(), LAYER_LEN);
    let b = call(&server, Method::GET, &blob, &[("range", "bytes=100-")]).await;
    assert_eq!(b.status, 206);
}

#[tokio::test]
async fn wrong_headers() {
    let (server, blob, manifest) = server_with_image(Server::builder());
    let bogus = Digest::sha256(b"bogus").to_string();
    server.add_fault(FaultRule::path("/blobs/").content_range("bytes 0-9/10"));
    server.add_fault(FaultRule::path("/blobs/").content_digest(bogus.clone()));
    server.add_fault(FaultRule::path("/manifests/").fault(Fault::ContentType(
        ocipull_spec::media_type::DOCKER_MANIFEST.into(),
    )));
    let a = call(&server, Method::GET, &blob, &[("range", "bytes=100-199")]).await;
    assert_eq!(a.header("content-range"), Some("bytes 0-9/10"));
    assert_eq!(a.header("docker-content-digest"), Some(bogus.as_str()));
    assert_eq!(a.body, layer()[100..200], "the body itself is right");
    let m = call(&server, Method::GET, &manifest, &[]).await;
    assert_eq!(
        m.header("content-type"),
        Some(ocipull_spec::media_type::DOCKER_MANIFEST)
    );
    assert!(
        String::from_utf8_lossy(&m.body).contains(ocipull_spec::media_type::OCI_IMAGE_MANIFEST)
    );
}

#[tokio::test]
async fn rules_from_the_builder_and_clearing() {
    let (server, _, manifest) = server_with_image(
        Server::builder().fault(FaultRule::new().status(StatusCode::INTERNAL_SERVER_ERROR)),
    );
    assert_eq!(call(&server, Method::GET, &manifest, &[]).await.status, 500);
    assert_eq!(call(&server, Method::GET, "/v2/", &[]).await.status, 500);
    server.clear_faults();
    assert_eq!(call(&server, Method::GET, &manifest, &[]).await.status, 200);
}
