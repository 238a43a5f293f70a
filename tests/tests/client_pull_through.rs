//! A real mirror: Distribution as a pull-through cache (`proxy.remoteurl`) of an
//! in-process upstream. The client pulls through it; then, with one cached layer corrupted
//! on the cache's disk, refuses that layer from the cache and fetches it from the upstream;
//! then, with the cache stopped, falls back to the upstream. Both registries' logs say
//! where each request went. Locally a
//! missing Distribution skips the test; with `CI` set it fails it.

mod client_support;

use client_support::*;
use ocipull_client::mirror::{Endpoint, MirrorConfig, MirrorSet};
use ocipull_client::{PullOptions, Registries, RegistrySettings, Scheme};
use ocipull_server::Server;
use ocipull_spec::Reference;
use ocipull_spec::fixtures::Image;
use ocipull_tests::{Distribution, Peer, Storage, require};

#[tokio::test]
async fn pull_through_a_distribution_cache_then_fall_back_when_it_is_down() {
    let Some(bin) = require(Peer::Distribution) else {
        return;
    };
    let img = Image::builder(90).layers_raw([60_000, 700]).build();
    let upstream = Server::builder().request_log(true).build();
    add(&upstream, "v1", &img);
    let upstream = spawn(upstream);
    let cache = Distribution::builder(bin)
        .pull_through(format!("http://{}", upstream.host()))
        .storage(Storage::Filesystem)
        .start()
        .unwrap();
    let registries = Registries::builder()
        .mirrors(MirrorConfig::new().add(
            &upstream.host(),
            MirrorSet::new().mirror(Endpoint::new(cache.host()).scheme(Scheme::Http)),
        ))
        .host(
            &upstream.host(),
            RegistrySettings::new().scheme(Scheme::Http),
        )
        .configure(|_, builder| builder.backoff_builder(fast_retries(2)))
        .build();
    let reference: Reference = format!("{}/{REPO}:v1", upstream.host()).parse().unwrap();
    let upstream_log = upstream.server().request_log().unwrap();

    // 1. Through the cache: every manifest and blob comes from it.
    let first = tempfile::tempdir().unwrap();
    let report = registries
        .pull(&reference, first.path(), &PullOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}\ncache log:\n{}", cache.log()));
    assert_blobs_verified(first.path());
    let cache_origin = format!("http://{}", cache.host());
    assert!(
        report
            .manifest_endpoints
            .iter()
            .chain(&report.blob_endpoints)
            .all(|(_, e)| *e == cache_origin),
        "{report:?}"
    );
    assert_eq!(report.blob_endpoints.len(), 3);
    // The cache asked the upstream for what it did not hold; the client asked the cache.
    let cache_log = cache.log();
    for path in [
        format!("/v2/{REPO}/manifests/v1"),
        format!("/v2/{REPO}/blobs/{}", img.layers()[0].descriptor.digest),
    ] {
        assert!(
            cache_log.contains(&path),
            "{path} not in the cache log:\n{cache_log}"
        );
        assert!(
            !upstream_log.matching(&path).is_empty(),
            "the cache fetched {path}"
        );
    }

    // 2. One layer rots on the cache's disk (same size, other bytes): the cache serves it
    // as it is, the client refuses it and takes that layer, and only it, from the upstream.
    let layer = &img.layers()[0].descriptor;
    let hex = layer.digest.encoded();
    let data = cache
        .storage_root()
        .expect("filesystem storage")
        .join(format!(
            "docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ));
    let mut bytes = std::fs::read(&data).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
    for b in bytes.iter_mut().take(64) {
        *b ^= 0xff;
    }
    std::fs::write(&data, &bytes).unwrap();
    let upstream_before = upstream_log.len();
    let rotten = tempfile::tempdir().unwrap();
    let report = registries
        .pull(&reference, rotten.path(), &PullOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}\ncache log:\n{}", cache.log()));
    assert_blobs_verified(rotten.path());
    let upstream_origin = format!("http://{}", upstream.host());
    for (digest, endpoint) in &report.blob_endpoints {
        let want = if *digest == layer.digest {
            &upstream_origin
        } else {
            &cache_origin
        };
        assert_eq!(endpoint, want, "{digest}: {report:?}");
    }
    let blob_path = format!("/v2/{REPO}/blobs/{}", layer.digest);
    let blob_gets: Vec<_> = upstream_log.records()[upstream_before..]
        .iter()
        .filter(|r| r.method == http::Method::GET && r.path.contains("/blobs/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        blob_gets,
        [blob_path],
        "only the rotten layer, from the upstream"
    );
    let upstream_before = upstream_log.len();

    // 3. The cache is down: everything comes from the upstream, each item once more.
    drop(cache);
    let second = tempfile::tempdir().unwrap();
    let report = registries
        .pull(&reference, second.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_blobs_verified(second.path());
    assert!(
        report
            .manifest_endpoints
            .iter()
            .chain(&report.blob_endpoints)
            .all(|(_, e)| *e == upstream_origin),
        "{report:?}"
    );
    let direct: Vec<_> = upstream_log.records()[upstream_before..]
        .iter()
        .filter(|r| r.path.starts_with(&format!("/v2/{REPO}/")))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(direct.len(), 4, "one manifest and three blobs: {direct:?}");
}
