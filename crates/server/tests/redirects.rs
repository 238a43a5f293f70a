//! Blob redirects to the CDN origin, and what the request log records there.

mod common;

use common::{fetch, image};
use http::Method;
use ocipull_server::{FaultRule, Origin, Server};
use ocipull_spec::{Digest, Repository};

fn setup() -> (ocipull_server::TestServer, String, Vec<u8>) {
    let server = Server::builder()
        .blob_redirects(true)
        .request_log(true)
        .build();
    let img = image(1, [25]);
    let data = img.layers()[0].bytes.to_vec();
    let repo: Repository = "r/app".parse().unwrap();
    server
        .add(
            &repo,
            Some("v1".parse().unwrap()),
            img.manifest().clone(),
            img.blobs(),
        )
        .unwrap();
    let path = format!("/v2/r/app/blobs/{}", Digest::sha256(&data));
    (server.spawn().unwrap(), path, data)
}

#[tokio::test]
async fn blob_get_redirects_to_a_signed_cdn_url() {
    let (running, path, data) = setup();
    let cdn = running.cdn_url().expect("a cdn listener");
    assert_ne!(cdn, running.url(), "a different origin");
    let a = fetch(
        &format!("{}{path}", running.url()),
        Method::GET,
        &[("authorization", "Bearer t")],
        false,
    )
    .await;
    assert_eq!(a.status, 307);
    let location = a.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{cdn}/blobs/r/app/sha256:")),
        "{location}"
    );
    assert!(location.contains("X-Amz-Signature="), "{location}");
    assert!(location.contains("expires="), "{location}");
    // HEAD and manifests are answered by the registry itself.
    let head = fetch(
        &format!("{}{path}", running.url()),
        Method::HEAD,
        &[],
        false,
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(data.len().to_string().as_str())
    );
    let m = fetch(
        &format!("{}/v2/r/app/manifests/v1", running.url()),
        Method::GET,
        &[],
        false,
    )
    .await;
    assert_eq!(m.status, 200);

    // The CDN serves the blob, with ranges, and records that no Authorization arrived.
    let got = fetch(&location, Method::GET, &[], false).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, data);
    assert_eq!(
        got.header("docker-content-digest"),
        Some(Digest::sha256(&data).as_str())
    );
    let ranged = fetch(&location, Method::GET, &[("range", "bytes=6-")], true).await;
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body, data[6..]);
    // A client that leaks credentials across origins shows up in the log.
    fetch(
        &location,
        Method::GET,
        &[("authorization", "Bearer leaked")],
        false,
    )
    .await;

    let log = running.request_log().unwrap().records();
    let cdn_requests: Vec<_> = log.iter().filter(|r| r.origin == Origin::Cdn).collect();
    assert_eq!(cdn_requests.len(), 3);
    assert_eq!(
        cdn_requests
            .iter()
            .map(|r| r.authorization)
            .collect::<Vec<_>>(),
        vec![false, false, true]
    );
    assert_eq!(cdn_requests[1].range.as_deref(), Some("bytes=6-"));
    let first = &log[0];
    assert_eq!(
        (first.origin, first.status.as_u16(), first.authorization),
        (Origin::Registry, 307, true)
    );
    assert_eq!(first.path, path);
}

#[tokio::test]
async fn tampered_or_unsigned_cdn_urls_are_refused() {
    let (running, path, _) = setup();
    let a = fetch(&format!("{}{path}", running.url()), Method::GET, &[], false).await;
    let location = a.header("location").unwrap().to_owned();
    let sig_at = location.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = location.clone();
    let c = if &location[sig_at..sig_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    tampered.replace_range(sig_at..sig_at + 1, c);
    let unsigned = location.split('?').next().unwrap().to_owned();
    let other_blob = location.replace(
        &location[location.find("sha256:").unwrap()..location.find('?').unwrap()],
        Digest::sha256(b"x").as_str(),
    );
    for url in [tampered, unsigned, other_blob] {
        let r = fetch(&url, Method::GET, &[], false).await;
        assert_eq!(r.status, 403, "{url}");
    }
    let post = fetch(&location, Method::POST, &[], false).await;
    assert_eq!(post.status, 405);
}

#[tokio::test]
async fn faults_apply_on_the_cdn_too() {
    let (running, path, data) = setup();
    let rule = running.add_fault(FaultRule::path("/blobs/r/app/").times(1).cut_after(5));
    let a = fetch(&format!("{}{path}", running.url()), Method::GET, &[], false).await;
    assert_eq!(a.status, 307, "the registry path does not match the rule");
    let location = a.header("location").unwrap().to_owned();
    let cut = fetch(&location, Method::GET, &[], false).await;
    assert!(cut.body_error);
    assert_eq!(cut.body, data[..5]);
    assert_eq!(rule.fired(), 1);
}

#[tokio::test]
async fn without_a_cdn_address_blobs_are_served_directly() {
    let server = Server::builder().blob_redirects(true).build();
    let img = image(2, [6]);
    server
        .add(
            &"d".parse().unwrap(),
            None,
            img.manifest().clone(),
            img.blobs(),
        )
        .unwrap();
    let a = common::get(
        &server,
        &format!("/v2/d/blobs/{}", img.layers()[0].digest()),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, img.layers()[0].bytes);
}
