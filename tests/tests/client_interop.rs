//! The client against a real registry: Debian's `docker-registry` (CNCF Distribution),
//! filled by `skopeo copy`, in its three modes (plain HTTP, token auth, HTTPS with a test
//! CA). Each pulled layout is checked by `skopeo inspect oci:DIR` and its digests must be
//! the pushed ones. Locally a missing peer skips a test; with `CI` set it fails it.

use std::path::{Path, PathBuf};

use ocipull_client::{Client, ClientBuilder, Credentials, Platforms, PullOptions, Scheme};
use ocipull_spec::Reference;
use ocipull_tests::{
    Distribution, ImageFixture, ImageSpec, IndexFixture, MediaTypes, Peer, Skopeo, Storage, require,
};

/// Distribution and skopeo, or `None` when skipped (never in CI).
fn peers() -> Option<(PathBuf, Skopeo)> {
    let registry = require(Peer::Distribution)?;
    let skopeo = require(Peer::Skopeo)?;
    Some((registry, Skopeo::new(skopeo).expect("skopeo home")))
}

/// Pushes `image` to `registry` as `name` from an OCI layout.
fn push_image(skopeo: &Skopeo, registry: &Distribution, image: &ImageFixture, name: &str) {
    let layout = tempfile::tempdir().unwrap();
    image.write_oci_layout(layout.path(), "src").unwrap();
    let src = format!("oci:{}:src", layout.path().display());
    skopeo
        .push(&src, registry, name, &[])
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", registry.log()));
}

/// A client builder for `name` on `registry`: HTTP or HTTPS trusting the test CA.
fn builder(registry: &Distribution, name: &str) -> (Reference, ClientBuilder) {
    let reference: Reference = registry.reference(name).parse().unwrap();
    let mut builder = Client::builder_for(&reference);
    match registry.ca_pem_path() {
        Some(pem) => {
            builder = builder
                .ca_certificate_pem(std::fs::read(pem).unwrap())
                .native_roots(false)
        }
        None => builder = builder.scheme(Scheme::Http),
    }
    (reference, builder)
}

/// The `sha256:` digests of the files in `dir/blobs/sha256`, sorted.
fn layout_blobs(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    out.sort();
    out
}

fn sorted<'a>(digests: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = digests.into_iter().map(str::to_owned).collect();
    out.sort();
    out.dedup();
    out
}

/// `skopeo inspect oci:DIR:TAG` must read the layout and name `digest`; `--raw` must give
/// back `manifest` byte for byte.
fn skopeo_reads_layout(skopeo: &Skopeo, dir: &Path, tag: &str, digest: &str, manifest: &[u8]) {
    let name = format!("oci:{}:{tag}", dir.display());
    let inspected = skopeo
        .inspect(&name, &[])
        .unwrap_or_else(|e| panic!("skopeo cannot read the pulled layout: {e}"));
    assert_eq!(inspected["Digest"], digest, "{inspected:#}");
    assert_eq!(skopeo.inspect_raw(&name, &[]).unwrap(), manifest);
}

/// Pulls `image` (pushed as `interop/app:v1`) and checks the layout.
async fn pull_image_and_check(
    registry: &Distribution,
    skopeo: &Skopeo,
    credentials: Option<Credentials>,
) {
    let image = ImageFixture::new(&ImageSpec {
        layers: 3,
        layer_size: 300_000,
        ..ImageSpec::default()
    });
    push_image(skopeo, registry, &image, "interop/app:v1");
    let (reference, builder) = builder(registry, "interop/app:v1");
    let client = builder.credentials(credentials).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = client
        .pull(&reference, dir.path(), &PullOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}\nregistry log:\n{}", registry.log()));
    assert_eq!(report.digest().as_str(), image.digest());
    let mut want = sorted(image.blobs().map(|b| b.digest()));
    want.push(image.digest().to_owned());
    want.sort();
    assert_eq!(layout_blobs(dir.path()), want);
    skopeo_reads_layout(
        skopeo,
        dir.path(),
        "v1",
        image.digest(),
        &image.manifest.bytes,
    );

    // The other operations against the same registry.
    assert_eq!(
        client
            .tags()
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["v1"]
    );
    let head = client
        .head("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap();
    assert_eq!(head.digest.as_str(), image.digest());
    assert_eq!(head.size, image.manifest.bytes.len() as u64);
}

#[tokio::test]
async fn pulls_from_a_plain_http_distribution() {
    let Some((bin, skopeo)) = peers() else { return };
    let registry = Distribution::plain(bin).unwrap();
    pull_image_and_check(&registry, &skopeo, None).await;
}

#[tokio::test]
async fn pulls_from_a_token_auth_distribution_anonymously_and_with_credentials() {
    let Some((bin, skopeo)) = peers() else { return };
    let registry = Distribution::with_token_auth(bin).unwrap();
    pull_image_and_check(&registry, &skopeo, None).await;
    let issuer = registry.token_issuer().unwrap();
    assert!(
        issuer.requests().iter().any(|r| r.username.is_none()
            && r.status == 200
            && r.scopes.iter().any(|s| s == "repository:interop/app:pull")),
        "{:#?}",
        issuer.requests()
    );

    let (user, password) = registry.credentials().unwrap();
    let credentials = Credentials::basic(user, password);
    let (reference, builder) = builder(&registry, "interop/app:v1");
    let client = builder.credentials(credentials).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    client
        .pull(&reference, dir.path(), &PullOptions::default())
        .await
        .unwrap();
    assert!(
        issuer
            .requests()
            .iter()
            .any(|r| r.username.as_deref() == Some(user) && r.status == 200),
        "{:#?}",
        issuer.requests()
    );

    // Wrong credentials: the token service refuses; the password is not in the error.
    let (_, builder) = self::builder(&registry, "interop/app:v1");
    let wrong = builder
        .credentials(Credentials::basic(user, "not-the-password-xyz"))
        .build()
        .unwrap();
    let err = wrong
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401), "{err}");
    assert!(!err.to_string().contains("not-the-password-xyz"));
}

#[tokio::test]
async fn pulls_over_https_with_a_test_ca() {
    let Some((bin, skopeo)) = peers() else { return };
    let registry = Distribution::with_tls(bin).unwrap();
    pull_image_and_check(&registry, &skopeo, None).await;

    // Without the CA the certificate is refused, at once (not retried).
    let reference: Reference = registry.reference("interop/app:v1").parse().unwrap();
    let untrusting = Client::builder_for(&reference)
        .native_roots(false)
        .build()
        .unwrap();
    let err = untrusting
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ocipull_client::Error::Connection { .. }),
        "{err:?}"
    );
    assert!(!err.is_transient(), "{err}");
}

#[tokio::test]
async fn a_multi_platform_index_by_platform_or_whole() {
    let Some((bin, skopeo)) = peers() else { return };
    let registry = Distribution::plain(bin).unwrap();
    let index = IndexFixture::multi_platform();
    let layout = tempfile::tempdir().unwrap();
    index.write_oci_layout(layout.path(), "multi").unwrap();
    let src = format!("oci:{}:multi", layout.path().display());
    skopeo
        .push(&src, &registry, "interop/multi:v1", &["--all"])
        .unwrap();
    let (reference, builder) = builder(&registry, "interop/multi:v1");
    let client = builder.build().unwrap();

    let arm = &index.images[1];
    let one = tempfile::tempdir().unwrap();
    let options = PullOptions::new(Platforms::One("linux/arm64".parse().unwrap()));
    let report = client.pull(&reference, one.path(), &options).await.unwrap();
    assert_eq!(report.digest().as_str(), arm.digest());
    let mut want = sorted(arm.blobs().map(|b| b.digest()));
    want.push(arm.digest().to_owned());
    want.sort();
    assert_eq!(layout_blobs(one.path()), want);
    skopeo_reads_layout(&skopeo, one.path(), "v1", arm.digest(), &arm.manifest.bytes);

    let all = tempfile::tempdir().unwrap();
    let report = client
        .pull(&reference, all.path(), &PullOptions::new(Platforms::All))
        .await
        .unwrap();
    assert_eq!(report.digest().as_str(), index.digest());
    let mut want = sorted(
        index
            .blobs()
            .map(|b| b.digest())
            .chain(index.manifests().into_iter().map(|m| m.digest()))
            .chain([index.digest()]),
    );
    want.sort();
    assert_eq!(layout_blobs(all.path()), want);
    // skopeo reads an index layout by picking its own platform (amd64 here).
    let name = format!("oci:{}:v1", all.path().display());
    assert_eq!(skopeo.inspect_raw(&name, &[]).unwrap(), index.index.bytes);
    let amd = skopeo
        .inspect(
            &name,
            &["--override-arch", "amd64", "--override-os", "linux"],
        )
        .unwrap();
    assert_eq!(amd["Architecture"], "amd64", "{amd:#}");
}

#[tokio::test]
async fn a_docker_schema2_image_keeps_its_digest() {
    let Some((bin, skopeo)) = peers() else { return };
    let registry = Distribution::builder(bin)
        .storage(Storage::Filesystem)
        .start()
        .unwrap();
    let image = ImageFixture::new(&ImageSpec {
        media_types: MediaTypes::Docker,
        ..ImageSpec::default()
    });
    let dir = tempfile::tempdir().unwrap();
    image.write_dir(dir.path()).unwrap();
    skopeo
        .push(
            &format!("dir:{}", dir.path().display()),
            &registry,
            "interop/docker:v1",
            &[],
        )
        .unwrap();
    let (reference, builder) = builder(&registry, "interop/docker:v1");
    let client = builder.build().unwrap();
    let manifest = client
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap();
    assert_eq!(
        manifest.digest().as_str(),
        image.digest(),
        "no schema 1 conversion"
    );
    assert_eq!(manifest.media_type(), MediaTypes::Docker.manifest());
    let out = tempfile::tempdir().unwrap();
    let report = client
        .pull(&reference, out.path(), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(report.digest().as_str(), image.digest());
    let mut want = sorted(image.blobs().map(|b| b.digest()));
    want.push(image.digest().to_owned());
    want.sort();
    assert_eq!(layout_blobs(out.path()), want);
}
