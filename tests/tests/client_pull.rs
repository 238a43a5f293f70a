//! Pulling to an OCI image layout: platforms, resume of interrupted pulls, skipping blobs
//! already present, nothing unverified left behind, events; and the read-side operations
//! (head, tags with pagination, referrers).

mod client_support;

use std::path::Path;

use client_support::*;
use http::StatusCode;
use ocipull_client::{Error, Platforms, PullEvent, PullOptions};
use ocipull_server::{FaultRule, Server};
use ocipull_spec::fixtures::{Artifact, Image, Index, LayerSpec};
use ocipull_spec::layout::{ANNOTATION_REF_NAME, LayoutReader};
use ocipull_spec::{Reference, Tag};

fn reference(running: &ocipull_server::TestServer, tail: &str) -> Reference {
    format!("{}/{REPO}{tail}", running.host()).parse().unwrap()
}

/// Two images (amd64, arm64) under one index tagged `multi`, sharing a base layer.
fn multi_platform() -> (
    Image,
    Image,
    ocipull_spec::Manifest,
    ocipull_server::TestServer,
) {
    let index = Index::builder(30)
        .platforms([
            "linux/amd64".parse().unwrap(),
            "linux/arm64/v8".parse().unwrap(),
        ])
        .shared_layer(LayerSpec::raw(40_000))
        .layers([LayerSpec::raw(1000)])
        .build();
    let server = Server::builder().request_log(true).build();
    for (manifest, blobs) in index.push_order() {
        let tag = (manifest == *index.manifest()).then(|| "multi".parse().unwrap());
        server.add(&repo(), tag, manifest, blobs).unwrap();
    }
    let [amd, arm] = index.images() else {
        panic!("two platforms")
    };
    (
        amd.clone(),
        arm.clone(),
        index.manifest().clone(),
        spawn(server),
    )
}

fn index_entries(dir: &Path) -> Vec<(Option<String>, ocipull_spec::Descriptor)> {
    LayoutReader::open(dir)
        .unwrap()
        .entries()
        .map(|e| (e.ref_name, e.descriptor))
        .collect()
}

#[tokio::test]
async fn one_platform_writes_only_its_blobs_and_all_writes_everything() {
    let (amd, arm, idx, running) = multi_platform();
    let client = client(&running);
    let r = reference(&running, ":multi");

    let one = tempfile::tempdir().unwrap();
    let options = PullOptions::new(Platforms::One("linux/arm64".parse().unwrap()));
    let report = client.pull(&r, one.path(), &options).await.unwrap();
    assert_eq!(report.root.digest, *idx.digest());
    assert_eq!(report.digest(), arm.manifest().digest());
    let mut want = digests(arm.manifest().descriptors());
    want.push(arm.manifest().digest().clone());
    want.sort();
    assert_eq!(blob_files(one.path()), want);
    let entries = index_entries(one.path());
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0.as_deref(), Some("multi"));
    assert_eq!(entries[0].1.digest, *arm.manifest().digest());
    assert_eq!(
        entries[0]
            .1
            .platform
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("linux/arm64/v8")
    );
    assert_blobs_verified(one.path());

    let all = tempfile::tempdir().unwrap();
    let report = client
        .pull(&r, all.path(), &PullOptions::new(Platforms::All))
        .await
        .unwrap();
    assert_eq!(report.digest(), idx.digest());
    let mut want = digests(
        amd.manifest()
            .descriptors()
            .into_iter()
            .chain(arm.manifest().descriptors()),
    );
    want.extend([
        amd.manifest().digest().clone(),
        arm.manifest().digest().clone(),
        idx.digest().clone(),
    ]);
    want.sort();
    assert_eq!(blob_files(all.path()), want);
    let entries = index_entries(all.path());
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1.digest, *idx.digest());
    assert_eq!(entries[0].1.annotation(ANNOTATION_REF_NAME), Some("multi"));
    assert_blobs_verified(all.path());
    // The layout reads back: the index and both images.
    let layout = LayoutReader::open(all.path()).unwrap();
    let root = layout.read_manifest(&entries[0].1).unwrap();
    assert_eq!(root.descriptors().len(), 2);
}

#[tokio::test]
async fn a_missing_platform_names_the_available_ones() {
    let (_, _, _, running) = multi_platform();
    let dir = tempfile::tempdir().unwrap();
    let options = PullOptions::new(Platforms::One("linux/s390x".parse().unwrap()));
    let err = client(&running)
        .pull(&reference(&running, ":multi"), dir.path(), &options)
        .await
        .unwrap_err();
    match &err {
        Error::PlatformNotFound { available, .. } => assert_eq!(available.len(), 2),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("linux/arm64/v8"), "{err}");
    assert!(blob_files(dir.path()).is_empty());
}

#[tokio::test]
async fn an_interrupted_pull_resumes_its_partial_blob_with_range() {
    let img = Image::builder(32).layers_raw([400_000]).build();
    let running = logged_server(&img);
    let layer = &img.layers()[0].descriptor;
    running.server().add_fault(
        FaultRule::path(layer.digest.as_str())
            .nth(1)
            .cut_after(150_000),
    );
    let dir = tempfile::tempdir().unwrap();
    let r = reference(&running, ":v1");
    let no_retries = client_builder(&running).no_retries().build().unwrap();
    let err = no_retries
        .pull(&r, dir.path(), &PullOptions::default().jobs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    // Nothing unverified is in blobs/, and index.json names nothing yet.
    assert!(!blob_files(dir.path()).contains(&layer.digest));
    assert_blobs_verified(dir.path());
    assert!(index_entries(dir.path()).is_empty());

    let recorder = Recorder::default();
    let report = client(&running)
        .pull(
            &r,
            dir.path(),
            &PullOptions::default().events(recorder.handler()),
        )
        .await
        .unwrap();
    assert_eq!(report.digest(), img.manifest().digest());
    let layer_requests = log(&running, layer.digest.as_str());
    assert_eq!(layer_requests.len(), 2);
    // The partial file kept what arrived before the cut; the second run asks for the rest.
    let kept = assert_resumed_within(layer_requests[1].range.as_deref(), 150_000);
    assert_eq!(layer_requests[1].status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(report.bytes_downloaded, 400_000 - kept);
    // The config blob was already there from the first run and was skipped.
    assert_eq!(report.blobs_skipped, 1);
    assert_eq!(report.blobs_downloaded, 1);
    let events = recorder.events();
    assert!(events.contains(&PullEvent::BlobStarted {
        digest: layer.digest.clone(),
        size: 400_000,
        offset: kept,
    }));
    assert!(events.contains(&PullEvent::BlobResumed {
        digest: layer.digest.clone(),
        offset: kept,
    }));
    assert!(events.contains(&PullEvent::BlobDone {
        digest: layer.digest.clone(),
        size: 400_000,
    }));
    assert_blobs_verified(dir.path());
    // No partial files are left.
    assert!(!dir.path().join(".ocipull-partial").exists());
}

#[tokio::test]
async fn a_second_pull_skips_what_is_there() {
    let img = Image::builder(33).layers_raw([10_000, 20_000]).build();
    let running = logged_server(&img);
    let dir = tempfile::tempdir().unwrap();
    let r = reference(&running, ":v1");
    let client = client(&running);
    let first = client
        .pull(&r, dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!((first.blobs_downloaded, first.blobs_skipped), (3, 0));
    running.server().request_log().unwrap().clear();
    let second = client
        .pull(&r, dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!((second.blobs_downloaded, second.blobs_skipped), (0, 3));
    assert!(log(&running, "/blobs/").is_empty());
    // A blob damaged on disk is not "present and valid": it is downloaded again.
    let victim = &img.layers()[1].descriptor;
    let path = dir
        .path()
        .join("blobs/sha256")
        .join(victim.digest.encoded());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let third = client
        .pull(&r, dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!((third.blobs_downloaded, third.blobs_skipped), (1, 2));
    assert_blobs_verified(dir.path());
}

#[tokio::test]
async fn corrupted_and_truncated_blobs_leave_nothing_behind() {
    let img = Image::builder(34).layers_raw([60_000]).build();
    let running = logged_server(&img);
    let layer = &img.layers()[0].descriptor;
    let r = reference(&running, ":v1");

    running
        .server()
        .add_fault(FaultRule::path(layer.digest.as_str()).corrupt_at(1234));
    let dir = tempfile::tempdir().unwrap();
    let err = client(&running)
        .pull(&r, dir.path(), &PullOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::DigestMismatch { mismatch, .. } if mismatch.expected == layer.digest),
        "{err:?}"
    );
    assert!(!blob_files(dir.path()).contains(&layer.digest));
    assert!(index_entries(dir.path()).is_empty());
    // The corrupt bytes were not kept for a resume either.
    let partial = dir
        .path()
        .join(".ocipull-partial")
        .join(format!("sha256-{}", layer.digest.encoded()));
    assert!(!partial.exists());

    running.server().clear_faults();
    running
        .server()
        .add_fault(FaultRule::path(layer.digest.as_str()).truncate_after(20_000));
    let dir = tempfile::tempdir().unwrap();
    let err = client_builder(&running)
        .no_retries()
        .build()
        .unwrap()
        .pull(&r, dir.path(), &PullOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    assert!(!blob_files(dir.path()).contains(&layer.digest));
    assert!(index_entries(dir.path()).is_empty());
    assert_blobs_verified(dir.path());
}

#[tokio::test]
async fn pull_events_report_progress_and_retries() {
    let img = Image::builder(35).layers_raw([80_000]).build();
    let running = logged_server(&img);
    let layer = &img.layers()[0].descriptor;
    running.server().add_fault(
        FaultRule::path(layer.digest.as_str())
            .nth(1)
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .retry_after(ocipull_server::RetryAfter::Seconds(0)),
    );
    let recorder = Recorder::default();
    let dir = tempfile::tempdir().unwrap();
    client(&running)
        .pull(
            &reference(&running, ":v1"),
            dir.path(),
            &PullOptions::default().events(recorder.handler()),
        )
        .await
        .unwrap();
    let events = recorder.events();
    let bytes: u64 = events
        .iter()
        .filter_map(|e| match e {
            PullEvent::BlobProgress { digest, bytes } if *digest == layer.digest => Some(*bytes),
            _ => None,
        })
        .sum();
    assert_eq!(bytes, 80_000);
    let retry = events
        .iter()
        .find_map(|e| match e {
            PullEvent::Retry {
                digest,
                attempt,
                reason,
                retry_after,
                ..
            } => Some((digest.clone(), *attempt, reason.clone(), *retry_after)),
            _ => None,
        })
        .expect("a retry event");
    assert_eq!(retry.0.as_ref(), Some(&layer.digest));
    assert_eq!(retry.1, 1);
    assert!(retry.2.contains("503"), "{}", retry.2);
    assert_eq!(retry.3, Some(std::time::Duration::ZERO));
    assert!(matches!(events[0], PullEvent::Manifest { .. }));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, PullEvent::BlobDone { .. }))
            .count(),
        2
    );
}

#[tokio::test]
async fn a_reference_by_digest_and_one_for_another_repository() {
    let img = Image::builder(36).layers_raw([100]).build();
    let server = Server::builder().build();
    add(&server, "v1", &img);
    let running = spawn(server);
    let dir = tempfile::tempdir().unwrap();
    let by_digest = reference(&running, &format!("@{}", img.manifest().digest()));
    let report = client(&running)
        .pull(&by_digest, dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(report.digest(), img.manifest().digest());
    assert_eq!(index_entries(dir.path())[0].0, None);
    let other: Reference = format!("{}/other/repo:v1", running.host()).parse().unwrap();
    let err = client(&running)
        .pull(&other, dir.path(), &PullOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WrongTarget { reference, .. } if **reference == other),
        "{err:?}"
    );
    // Same repository, another registry: refused too, not pulled from this one.
    let elsewhere: Reference = format!("ghcr.io/{}:v1", repo()).parse().unwrap();
    let err = client(&running)
        .pull(&elsewhere, dir.path(), &PullOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WrongTarget { reference, .. } if **reference == elsewhere),
        "{err:?}"
    );
}

#[tokio::test]
async fn head_tags_and_referrers() {
    let img = Image::builder(37).layers_raw([100]).build();
    let server = Server::builder().build();
    for t in ["a", "b", "c", "d", "e"] {
        add(&server, t, &img);
    }
    let sig = Artifact::builder(38, "application/example.signature")
        .subject(img.descriptor())
        .blob("application/example.signature", 10)
        .build();
    let referrer = sig.manifest().clone();
    server
        .add(&repo(), None, referrer.clone(), sig.blobs())
        .unwrap();
    let running = spawn(server);
    let client = client(&running);

    let d = client
        .head("a".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap();
    assert_eq!(d, img.manifest().descriptor());
    let d = client.head(img.manifest().digest()).await.unwrap();
    assert_eq!(d.digest, *img.manifest().digest());

    let all: Vec<String> = client
        .tags()
        .await
        .unwrap()
        .iter()
        .map(Tag::to_string)
        .collect();
    assert_eq!(all, ["a", "b", "c", "d", "e"]);
    // Page by page: pages of at most two, linked until the last.
    let mut page = client.tags_page(2).await.unwrap();
    let mut pages = vec![page.tags.clone()];
    while let Some(next) = page.next.clone() {
        page = client.tags_next_page(&next).await.unwrap();
        pages.push(page.tags.clone());
    }
    assert!(pages.len() >= 3, "{pages:?}");
    assert!(pages.iter().all(|p| p.len() <= 2), "{pages:?}");
    let paged: Vec<String> = pages.iter().flatten().map(Tag::to_string).collect();
    assert_eq!(paged, all);

    let found = client
        .referrers(img.manifest().digest(), None)
        .await
        .unwrap();
    assert_eq!(found.manifests.len(), 1);
    assert_eq!(found.manifests[0].digest, *referrer.digest());
    let none = client
        .referrers(img.manifest().digest(), Some("application/other"))
        .await
        .unwrap();
    assert!(none.manifests.is_empty());
}

/// A pull of `image` through `server` as the transport, where every layer GET waits until
/// `together` of them wait at once; `None` when it could not gather them (the paused clock
/// runs to the bound instead of the test hanging).
async fn pull_needing_layers_in_flight(
    image: &Image,
    together: usize,
    options: PullOptions,
) -> Option<Result<ocipull_client::PullReport, Error>> {
    use tower::ServiceExt as _;
    let server = Server::new();
    add(&server, "v1", image);
    let layers: Vec<String> = image
        .layers()
        .iter()
        .map(|l| format!("/blobs/{}", l.descriptor.digest))
        .collect();
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(together));
    let transport =
        tower::service_fn(move |request: http::Request<ocipull_client::RequestBody>| {
            let (server, gate) = (server.clone(), gate.clone());
            let is_layer = layers.iter().any(|l| request.uri().path().ends_with(l));
            async move {
                if is_layer {
                    gate.wait().await;
                }
                server.oneshot(request).await
            }
        });
    let client = ocipull_client::Client::builder("registry.test", repo())
        .transport(transport)
        .backoff_builder(fast_retries(1))
        .build()
        .unwrap();
    let r: Reference = format!("registry.test/{REPO}:v1").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pull = client.pull(&r, dir.path(), &options);
    tokio::time::timeout(std::time::Duration::from_secs(3600), pull)
        .await
        .ok()
}

/// Small layers are fetched many at once (the small-blob lane) even with one job, so a far
/// registry's round trips overlap; without the lane, one job fetches one at a time.
#[tokio::test(start_paused = true)]
async fn small_blobs_are_fetched_many_at_once_besides_the_jobs() {
    let image = Image::builder(78).layers_raw([900; 12]).build();
    let lane = PullOptions::default().jobs(1).small_blob_jobs(16);
    let report = pull_needing_layers_in_flight(&image, 12, lane)
        .await
        .expect("twelve layer requests were in flight together")
        .unwrap();
    assert_eq!(report.blobs_downloaded, 13);

    let no_lane = PullOptions::default().jobs(1).small_blob_jobs(0);
    let outcome = pull_needing_layers_in_flight(&image, 12, no_lane).await;
    assert!(
        !matches!(outcome, Some(Ok(_))),
        "one job cannot have twelve requests in flight"
    );
}
