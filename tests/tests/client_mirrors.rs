//! Mirrors with in-process registries: which endpoint serves what, when the next one is
//! tried, and that the upstream's credentials stay with the upstream.

mod client_support;

use client_support::*;
use ocipull_client::mirror::{Capabilities, Endpoint, MirrorConfig, MirrorError, MirrorSet};
use ocipull_client::{
    Credentials, Error, PullEvent, PullOptions, Registries, RegistrySettings, Scheme,
};
use ocipull_server::{Auth, FaultRule, Server, TestServer};
use ocipull_spec::fixtures::Image;
use ocipull_spec::{Digest, Reference};

fn serving(image: &Image, auth: Option<Auth>) -> TestServer {
    let mut builder = Server::builder().request_log(true);
    if let Some(auth) = auth {
        builder = builder.auth(auth);
    }
    let server = builder.build();
    add(&server, "v1", image);
    spawn(server)
}

fn empty() -> TestServer {
    spawn(Server::builder().request_log(true).build())
}

fn mirror_of(running: &TestServer) -> Endpoint {
    Endpoint::new(running.host()).scheme(Scheme::Http)
}

fn registries(upstream: &TestServer, set: MirrorSet) -> Registries {
    registries_with(upstream, set, RegistrySettings::new())
}

fn registries_with(
    upstream: &TestServer,
    set: MirrorSet,
    settings: RegistrySettings,
) -> Registries {
    Registries::builder()
        .mirrors(MirrorConfig::new().add(&upstream.host(), set))
        .host(&upstream.host(), settings.scheme(Scheme::Http))
        .configure(|_, builder| builder.backoff_builder(fast_retries(2)))
        .build()
}

fn reference(upstream: &TestServer) -> Reference {
    format!("{}/{REPO}:v1", upstream.host()).parse().unwrap()
}

fn origin(running: &TestServer) -> String {
    format!("http://{}", running.host())
}

/// Every request the server answered, but for the `/v2/` probes.
fn requests(running: &TestServer) -> Vec<ocipull_server::RequestRecord> {
    log(running, &format!("/v2/{REPO}/"))
}

/// The endpoint of every blob and manifest, sorted by digest.
fn sources(pairs: &[(Digest, String)]) -> Vec<String> {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    pairs.into_iter().map(|(_, e)| e).collect()
}

#[tokio::test]
async fn a_mirror_with_the_image_serves_all_of_it_and_the_report_says_so() {
    let img = Image::builder(70).layers_raw([20_000, 3000]).build();
    let upstream = serving(&img, None);
    let mirror = serving(&img, None);
    let registries = registries(&upstream, MirrorSet::new().mirror(mirror_of(&mirror)));
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let report = registries
        .pull(
            &reference(&upstream),
            dir.path(),
            &PullOptions::default().events(recorder.handler()),
        )
        .await
        .unwrap();
    assert_blobs_verified(dir.path());
    assert!(requests(&upstream).is_empty(), "{:?}", requests(&upstream));
    assert_eq!(sources(&report.manifest_endpoints), [origin(&mirror)]);
    assert_eq!(sources(&report.blob_endpoints), vec![origin(&mirror); 3]);
    let served = recorder
        .events()
        .into_iter()
        .filter(|e| matches!(e, PullEvent::Served { endpoint, .. } if *endpoint == origin(&mirror)))
        .count();
    assert_eq!(served, 4);
}

#[tokio::test]
async fn a_mirror_that_is_down_falls_back_to_the_upstream() {
    let img = Image::builder(71).layers_raw([5000]).build();
    let upstream = serving(&img, None);
    // A port nothing listens on: connections are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = closed.local_addr().unwrap().to_string();
    drop(closed);
    let registries = registries(
        &upstream,
        MirrorSet::new().mirror(Endpoint::new(down.clone()).scheme(Scheme::Http)),
    );
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let report = registries
        .pull(
            &reference(&upstream),
            dir.path(),
            &PullOptions::default().events(recorder.handler()),
        )
        .await
        .unwrap();
    assert_blobs_verified(dir.path());
    assert_eq!(sources(&report.manifest_endpoints), [origin(&upstream)]);
    assert_eq!(sources(&report.blob_endpoints), vec![origin(&upstream); 2]);
    let skipped = recorder
        .events()
        .into_iter()
        .filter(|e| matches!(e, PullEvent::EndpointSkipped { endpoint, .. } if *endpoint == format!("http://{down}")))
        .count();
    assert_eq!(
        skipped, 3,
        "the manifest and both blobs passed the mirror over"
    );
}

#[tokio::test]
async fn a_mirror_without_the_image_answers_404_and_the_upstream_serves_it() {
    let img = Image::builder(72).layers_raw([5000]).build();
    let upstream = serving(&img, None);
    let mirror = empty();
    let registries = registries(&upstream, MirrorSet::new().mirror(mirror_of(&mirror)));
    let dir = tempfile::tempdir().unwrap();
    let report = registries
        .pull(&reference(&upstream), dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_blobs_verified(dir.path());
    assert_eq!(sources(&report.blob_endpoints), vec![origin(&upstream); 2]);
    let asked = requests(&mirror);
    assert!(!asked.is_empty());
    assert!(asked.iter().all(|r| r.status == 404), "{asked:?}");
    // 404 is permanent: the mirror is asked once per item, not retried.
    assert_eq!(asked.len(), 3, "{asked:?}");
}

#[tokio::test]
async fn a_corrupted_blob_from_a_mirror_is_refused_and_fetched_from_the_next_endpoint() {
    let img = Image::builder(73).layers_raw([40_000, 2000]).build();
    let upstream = serving(&img, None);
    let bad = serving(&img, None);
    let layer = img.layers()[0].descriptor.clone();
    let corrupt = bad
        .server()
        .add_fault(FaultRule::path(layer.digest.to_string()).corrupt_at(1234));
    let good = serving(&img, None);
    let registries = registries(
        &upstream,
        MirrorSet::new()
            .mirror(mirror_of(&bad))
            .mirror(mirror_of(&good)),
    );
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let report = registries
        .pull(
            &reference(&upstream),
            dir.path(),
            &PullOptions::default().events(recorder.handler()),
        )
        .await
        .unwrap();
    assert!(corrupt.fired() >= 1);
    assert_blobs_verified(dir.path());
    let from = |d: &Digest| {
        report
            .blob_endpoints
            .iter()
            .find(|(digest, _)| digest == d)
            .map(|(_, e)| e.clone())
            .unwrap()
    };
    assert_eq!(from(&layer.digest), origin(&good));
    assert_eq!(from(&img.layers()[1].descriptor.digest), origin(&bad));
    assert!(requests(&upstream).is_empty());
    assert!(recorder.events().iter().any(|e| matches!(
        e,
        PullEvent::EndpointSkipped { digest: Some(d), endpoint, reason }
            if *d == layer.digest && *endpoint == origin(&bad) && reason.contains("hashes to")
    )));
}

#[tokio::test]
async fn tags_are_looked_up_only_on_endpoints_with_resolve() {
    let img = Image::builder(74).layers_raw([5000]).build();
    let upstream = serving(&img, None);
    let mirror = serving(&img, None);
    let registries = registries(
        &upstream,
        MirrorSet::new().mirror(mirror_of(&mirror).capabilities(Capabilities::PULL)),
    );
    let dir = tempfile::tempdir().unwrap();
    let report = registries
        .pull(&reference(&upstream), dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert!(log(&mirror, "/manifests/v1").is_empty());
    assert_eq!(log(&upstream, "/manifests/v1").len(), 1);
    assert_eq!(sources(&report.manifest_endpoints), [origin(&upstream)]);
    assert_eq!(sources(&report.blob_endpoints), vec![origin(&mirror); 2]);
    // By digest, the pull-only mirror answers.
    let client = registries.client(&reference(&upstream)).unwrap();
    client.read(img.manifest().digest()).await.unwrap();
    assert_eq!(
        log(&mirror, &format!("/manifests/{}", img.manifest().digest())).len(),
        1
    );
}

#[tokio::test]
async fn the_upstreams_credentials_are_not_sent_to_a_mirror() {
    let img = Image::builder(75).layers_raw([5000]).build();
    let upstream = serving(&img, Some(Auth::basic("alice", "upstream-secret")));
    let mirror = serving(&img, None);
    let upstream_only =
        RegistrySettings::new().credentials(Credentials::basic("alice", "upstream-secret"));
    let registries = registries_with(
        &upstream,
        MirrorSet::new().mirror(mirror_of(&mirror)),
        upstream_only.clone(),
    );
    let dir = tempfile::tempdir().unwrap();
    registries
        .pull(&reference(&upstream), dir.path(), &PullOptions::default())
        .await
        .unwrap();
    let asked = requests(&mirror);
    assert_eq!(asked.len(), 3);
    assert!(asked.iter().all(|r| !r.authorization), "{asked:?}");

    // A mirror of its own credentials gets those (the upstream's would be refused).
    let guarded = serving(&img, Some(Auth::basic("bob", "mirror-secret")));
    let registries = registries_with(
        &upstream,
        MirrorSet::new()
            .mirror(mirror_of(&guarded).credentials(Credentials::basic("bob", "mirror-secret"))),
        upstream_only,
    );
    let dir = tempfile::tempdir().unwrap();
    let report = registries
        .pull(&reference(&upstream), dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(sources(&report.blob_endpoints), vec![origin(&guarded); 2]);
    assert!(
        requests(&guarded)
            .iter()
            .any(|r| r.authorization && r.status == 200)
    );
}

#[tokio::test]
async fn a_blocked_registry_is_refused_before_any_request() {
    let img = Image::builder(76).layers_raw([100]).build();
    let upstream = serving(&img, None);
    let registries = registries(&upstream, MirrorSet::new().blocked(true));
    let dir = tempfile::tempdir().unwrap();
    let err = registries
        .pull(
            &reference(&upstream),
            dir.path().join("out"),
            &PullOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Mirror(MirrorError::Blocked { .. })),
        "{err:?}"
    );
    assert!(upstream.server().request_log().unwrap().is_empty());
    assert!(!dir.path().join("out").exists());
}

#[tokio::test]
async fn a_shared_mirror_is_told_the_registry_with_ns() {
    let img = Image::builder(77).layers_raw([100]).build();
    let upstream = serving(&img, None);
    let mirror = serving(&img, None);
    let registries = registries(
        &upstream,
        MirrorSet::new().mirror(mirror_of(&mirror).namespace_query(true)),
    );
    let dir = tempfile::tempdir().unwrap();
    registries
        .pull(&reference(&upstream), dir.path(), &PullOptions::default())
        .await
        .unwrap();
    let asked = requests(&mirror);
    assert_eq!(asked.len(), 3);
    let ns = format!("ns={}", upstream.host());
    assert!(asked.iter().all(|r| r.path.ends_with(&ns)), "{asked:?}");
}

#[tokio::test]
async fn each_repository_gets_its_own_client_on_the_same_registry() {
    let img = Image::builder(78).layers_raw([100]).build();
    let upstream = serving(&img, None);
    let registries = registries(&upstream, MirrorSet::new());
    let a = registries.client(&reference(&upstream)).unwrap();
    let other: Reference = format!("{}/other/repo:v1", upstream.host())
        .parse()
        .unwrap();
    let b = registries.client(&other).unwrap();
    assert_eq!(a.repository().as_str(), REPO);
    assert_eq!(b.repository().as_str(), "other/repo");
    assert_eq!(a.host(), b.host());
}

#[tokio::test]
async fn head_read_and_blob_fall_back_like_pull_and_name_the_endpoint() {
    let img = Image::builder(79).layers_raw([3000]).build();
    let upstream = serving(&img, None);
    let mirror = empty();
    let registries = registries(&upstream, MirrorSet::new().mirror(mirror_of(&mirror)));
    let client = registries.client(&reference(&upstream)).unwrap();
    let tag: ocipull_spec::Tag = "v1".parse().unwrap();
    let head = client.head(&tag).await.unwrap();
    assert_eq!(head.digest, *img.manifest().digest());
    let read = client.read(&tag).await.unwrap();
    assert_eq!(read.digest(), img.manifest().digest());
    let stream = client.blob(&img.layers()[0].descriptor).await.unwrap();
    assert_eq!(stream.endpoint(), origin(&upstream));
    assert_eq!(collect(stream).await.unwrap().len(), 3000);
    // Each was asked of the mirror first (404), then of the upstream.
    let asked: Vec<u16> = requests(&mirror)
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(asked, [404, 404, 404]);
    // With the image on the mirror, the stream names the mirror.
    add(mirror.server(), "v1", &img);
    let stream = client.blob(&img.layers()[0].descriptor).await.unwrap();
    assert_eq!(stream.endpoint(), origin(&mirror));
}

#[tokio::test]
async fn a_relocated_upstream_does_not_get_the_registrys_credentials() {
    let img = Image::builder(80).layers_raw([1000]).build();
    // The reference names `named`; the configuration relocates it to `elsewhere`
    // (registries.conf `location`). `elsewhere` asks for exactly `named`'s credentials, so
    // a pull succeeds only if they leak to it.
    let named = empty();
    let elsewhere = serving(&img, Some(Auth::basic("alice", "named-secret")));
    let registries = registries_with(
        &named,
        MirrorSet::new().upstream(mirror_of(&elsewhere)),
        RegistrySettings::new().credentials(Credentials::basic("alice", "named-secret")),
    );
    let dir = tempfile::tempdir().unwrap();
    let err = registries
        .pull(&reference(&named), dir.path(), &PullOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Some(http::StatusCode::UNAUTHORIZED),
        "{err:?}"
    );
    assert!(named.server().request_log().unwrap().is_empty());
    let asked = requests(&elsewhere);
    assert!(
        !asked.is_empty() && asked.iter().all(|r| !r.authorization),
        "{asked:?}"
    );
    // Credentials configured for the location's own host are used there.
    let registries = Registries::builder()
        .mirrors(MirrorConfig::new().add(
            &named.host(),
            MirrorSet::new().upstream(mirror_of(&elsewhere)),
        ))
        .host(
            &elsewhere.host(),
            RegistrySettings::new().credentials(Credentials::basic("alice", "named-secret")),
        )
        .configure(|_, builder| builder.backoff_builder(fast_retries(2)))
        .build();
    let report = registries
        .pull(&reference(&named), dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(sources(&report.blob_endpoints), vec![origin(&elsewhere); 2]);
}

/// A mirror speaking TLS with a certificate nobody here trusts.
fn untrusted_tls(image: &Image) -> TestServer {
    let tls = ocipull_server::Tls::generate(Vec::<String>::new()).unwrap();
    let server = Server::builder().request_log(true).tls(tls).build();
    add(&server, "v1", image);
    spawn(server)
}

#[tokio::test]
async fn skip_verify_accepts_only_that_endpoints_unknown_certificate() {
    let img = Image::builder(79).layers_raw([4000, 700]).build();
    let upstream = serving(&img, None);
    let checked = untrusted_tls(&img);
    let skipping = untrusted_tls(&img);
    let https = |running: &TestServer| Endpoint::new(running.host()).scheme(Scheme::Https);
    let both = registries(
        &upstream,
        MirrorSet::new()
            .mirror(https(&checked))
            .mirror(https(&skipping).skip_verify(true)),
    );
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let report = both
        .pull(
            &reference(&upstream),
            dir.path(),
            &PullOptions::default().events(recorder.handler()),
        )
        .await
        .unwrap();
    assert_blobs_verified(dir.path());
    let skipping_origin = format!("https://{}", skipping.host());
    assert_eq!(
        sources(&report.blob_endpoints),
        vec![skipping_origin.clone(); 3]
    );
    assert_eq!(sources(&report.manifest_endpoints), [skipping_origin]);
    assert!(requests(&upstream).is_empty(), "{:?}", requests(&upstream));
    // The first mirror's certificate was still checked: it failed before any request,
    // and every item passed it over.
    assert!(requests(&checked).is_empty(), "{:?}", requests(&checked));
    let checked_origin = format!("https://{}", checked.host());
    let skipped: Vec<String> = recorder
        .events()
        .into_iter()
        .filter_map(|e| match e {
            PullEvent::EndpointSkipped {
                endpoint, reason, ..
            } if endpoint == checked_origin => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 4, "{skipped:?}");

    // Without skip_verify on any endpoint, the unknown certificate is refused everywhere
    // and the upstream serves the pull.
    let checking = registries(&upstream, MirrorSet::new().mirror(https(&skipping)));
    let dir = tempfile::tempdir().unwrap();
    let report = checking
        .pull(&reference(&upstream), dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(sources(&report.manifest_endpoints), [origin(&upstream)]);
}

#[tokio::test]
async fn a_mirror_answering_503_is_retried_then_passed_over_for_the_upstream() {
    let img = Image::builder(80).layers_raw([6000]).build();
    let upstream = serving(&img, None);
    let failing = serving(&img, None);
    // Every manifest and blob request to the mirror fails with 503 (no Retry-After).
    failing.server().add_fault(
        FaultRule::path(format!("/v2/{REPO}/")).status(http::StatusCode::SERVICE_UNAVAILABLE),
    );
    let registries = registries(&upstream, MirrorSet::new().mirror(mirror_of(&failing)));
    let dir = tempfile::tempdir().unwrap();
    let report = registries
        .pull(&reference(&upstream), dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_blobs_verified(dir.path());
    assert_eq!(sources(&report.manifest_endpoints), [origin(&upstream)]);
    assert_eq!(sources(&report.blob_endpoints), vec![origin(&upstream); 2]);
    let asked = requests(&failing);
    assert!(asked.iter().all(|r| r.status == 503), "{asked:?}");
    // A 5xx is transient: each of the three items was tried 1 + 2 retries times there.
    assert_eq!(asked.len(), 9, "{asked:?}");
}
