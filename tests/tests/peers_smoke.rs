//! Proves the peer harness works: each Distribution mode starts, skopeo pushes
//! fixtures into it, and what comes back is byte for byte what was pushed.

use std::path::{Path, PathBuf};
use std::process::Command;

use ocipull_tests::{
    Access, Distribution, ImageFixture, IndexFixture, MediaTypes, Peer, Skopeo, Storage, require,
};
use serde_json::Value;

/// Distribution and skopeo, or `None` when skipped (never in CI).
fn peers() -> Option<(PathBuf, Skopeo)> {
    let registry = require(Peer::Distribution)?;
    let skopeo = require(Peer::Skopeo)?;
    Some((registry, Skopeo::new(skopeo).expect("skopeo home")))
}

/// Writes `image` as an OCI layout tagged `tag`; returns skopeo's source name.
fn oci_source(dir: &Path, image: &ImageFixture, tag: &str) -> String {
    image.write_oci_layout(dir, tag).expect("write layout");
    format!("oci:{}:{tag}", dir.display())
}

/// Pushes a fresh OCI image to `registry` and checks the digest and bytes
/// skopeo reads back.
fn round_trip_oci_image(registry: &Distribution, skopeo: &Skopeo) {
    let image = ImageFixture::oci();
    let layout = tempfile::tempdir().unwrap();
    let src = oci_source(layout.path(), &image, "v1");
    skopeo
        .push(&src, registry, "smoke/app:v1", &[])
        .unwrap_or_else(|error| panic!("{error}\nregistry log:\n{}", registry.log()));

    let inspected = skopeo.inspect_in(registry, "smoke/app:v1", &[]).unwrap();
    assert_eq!(inspected["Digest"], image.digest());
    assert_eq!(inspected["Architecture"], "amd64");
    let served = skopeo.inspect_raw_in(registry, "smoke/app:v1").unwrap();
    assert_eq!(served, image.manifest.bytes);
}

#[test]
fn plain_registry_round_trips_an_oci_image() {
    let Some((bin, skopeo)) = peers() else { return };
    let registry = Distribution::plain(bin).unwrap();
    let base = registry.get("/v2/", &[]).unwrap();
    assert_eq!(base.status, 200, "{}", base.text());
    assert_eq!(
        base.header("Docker-Distribution-API-Version"),
        Some("registry/2.0")
    );
    round_trip_oci_image(&registry, &skopeo);
}

/// Async on purpose: interop tests of the client run on a current-thread
/// runtime, and the harness (token issuer included) must work under one.
#[tokio::test]
async fn token_registry_challenges_anonymous_clients_and_accepts_issued_tokens() {
    let Some((bin, skopeo)) = peers() else { return };
    let registry = Distribution::with_token_auth(bin).unwrap();
    let issuer = registry.token_issuer().unwrap();

    let anonymous = registry.get("/v2/", &[]).unwrap();
    assert_eq!(anonymous.status, 401);
    let challenge = anonymous.header("WWW-Authenticate").expect("challenge");
    assert!(
        challenge.starts_with(&format!("Bearer realm=\"{}\"", issuer.realm())),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("service=\"{}\"", issuer.config().service)),
        "{challenge}"
    );

    // A token signed by the issuer is accepted as is.
    let token = issuer.mint("", &[], std::time::Duration::from_secs(60));
    let authorized = registry
        .get("/v2/", &[("Authorization", &format!("Bearer {token}"))])
        .unwrap();
    assert_eq!(authorized.status, 200, "{}", registry.log());

    round_trip_oci_image(&registry, &skopeo);
    let requests = issuer.requests();
    let (user, _) = registry.credentials().unwrap();
    assert!(
        requests
            .iter()
            .any(|request| request.username.as_deref() == Some(user)
                && request
                    .granted
                    .contains(&Access::repository("smoke/app", &["pull", "push"]))),
        "{requests:#?}"
    );

    // Anonymous pulls get a pull-only token, which the registry accepts.
    let image = format!("docker://{}", registry.reference("smoke/app:v1"));
    skopeo
        .inspect_raw(&image, &["--tls-verify=false", "--no-creds"])
        .unwrap();
    assert!(
        issuer
            .requests()
            .iter()
            .any(|request| request.username.is_none()
                && request.granted == [Access::repository("smoke/app", &["pull"])]),
        "{:#?}",
        issuer.requests()
    );
}

#[test]
fn tls_registry_serves_with_the_test_ca() {
    let Some((bin, skopeo)) = peers() else { return };
    let registry = Distribution::with_tls(bin).unwrap();
    assert!(registry.base_url().starts_with("https://127.0.0.1:"));
    let pem = std::fs::read_to_string(registry.ca_pem_path().unwrap()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));

    let base = registry.get("/v2/", &[]).unwrap();
    assert_eq!(base.status, 200, "{}", base.text());
    round_trip_oci_image(&registry, &skopeo);
}

#[test]
fn multi_platform_index_round_trips_with_all_images() {
    let Some((bin, skopeo)) = peers() else { return };
    let registry = Distribution::plain(bin).unwrap();
    let index = IndexFixture::multi_platform();
    let layout = tempfile::tempdir().unwrap();
    index.write_oci_layout(layout.path(), "multi").unwrap();
    let src = format!("oci:{}:multi", layout.path().display());
    skopeo
        .push(&src, &registry, "smoke/multi:v1", &["--all"])
        .unwrap();

    let served = skopeo.inspect_raw_in(&registry, "smoke/multi:v1").unwrap();
    assert_eq!(served, index.index.bytes);
    for image in &index.images {
        let name = format!("smoke/multi@{}", image.digest());
        let served = skopeo.inspect_raw_in(&registry, &name).unwrap();
        assert_eq!(served, image.manifest.bytes, "{}", image.platform);
    }
    let arm = skopeo
        .inspect_in(
            &registry,
            "smoke/multi:v1",
            &["--override-arch", "arm64", "--override-variant", "v8"],
        )
        .unwrap();
    // `Digest` is the digest of what the tag names (the index); the rest
    // describes the instance picked for the platform.
    assert_eq!(arm["Digest"], index.digest());
    assert_eq!(arm["Architecture"], "arm64");
    let layers: Vec<&str> = index.images[1].layers.iter().map(|l| l.digest()).collect();
    assert_eq!(arm["Layers"], serde_json::json!(layers));
}

#[test]
fn docker_schema2_image_from_a_dir_copy_keeps_its_media_types() {
    let Some((bin, skopeo)) = peers() else { return };
    let registry = Distribution::builder(bin)
        .storage(Storage::Filesystem)
        .start()
        .unwrap();
    let image = ImageFixture::docker();
    let dir = tempfile::tempdir().unwrap();
    image.write_dir(dir.path()).unwrap();
    let src = format!("dir:{}", dir.path().display());
    skopeo
        .push(&src, &registry, "smoke/docker:v1", &[])
        .unwrap();

    let served = skopeo.inspect_raw_in(&registry, "smoke/docker:v1").unwrap();
    assert_eq!(served, image.manifest.bytes);
    let manifest: Value = serde_json::from_slice(&served).unwrap();
    assert_eq!(manifest["mediaType"], MediaTypes::Docker.manifest());
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        MediaTypes::Docker.layer()
    );
}

#[test]
fn oras_py_is_importable() {
    let Some(python) = require(Peer::Oras) else {
        return;
    };
    let output = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata, oras.client; print(importlib.metadata.version('oras'))",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!String::from_utf8_lossy(&output.stdout).trim().is_empty());
}
