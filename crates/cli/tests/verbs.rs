//! The `ocipull` binary against an in-process test registry: the read verbs (`digest`,
//! `config`, `blob`, `referrers`, `catalog`, `tags`, `inspect`, `completions`), `--json`
//! output, concurrent pulls into one layout, `--convert-to-oci`, and platform errors.

use std::path::Path;
use std::process::{Command, Output};

use ocipull_server::{Server, TestServer};
use ocipull_spec::fixtures::{Artifact, Image, Index};
use ocipull_spec::layout::{LOCK_FILE, LayoutReader};
use ocipull_spec::{Digest, ManifestFormat, Platform, media_type};

fn ocipull(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ocipull"))
        .args(args)
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("the binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = ocipull(args);
    assert!(
        out.status.success(),
        "ocipull {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The last stderr line of a failed run, which must be one line.
fn fails(args: &[&str]) -> String {
    let out = ocipull(args);
    assert!(!out.status.success(), "ocipull {args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let last = err.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("ocipull: "), "{err}");
    last
}

fn platform(p: &str) -> Platform {
    p.parse().unwrap()
}

fn server() -> Server {
    Server::builder().request_log(true).build()
}

/// Every manifest and blob the layout names (from each index.json entry down) is there
/// and hashes to its digest.
fn verify_layout(dir: &Path) -> LayoutReader {
    let layout = LayoutReader::open(dir).unwrap();
    let mut todo: Vec<_> = layout.entries().map(|e| e.descriptor).collect();
    while let Some(d) = todo.pop() {
        let m = layout.read_manifest(&d).unwrap();
        for child in m.descriptors() {
            if media_type::is_manifest(&child.media_type) {
                todo.push(child.clone());
            } else {
                let bytes = std::fs::read(layout.blob_path(&child.digest)).unwrap();
                assert_eq!(Digest::sha256(&bytes), child.digest);
            }
        }
    }
    layout
}

#[test]
fn eight_concurrent_pulls_share_one_layout() {
    let s = server();
    let repo = "team/app".parse().unwrap();
    // Eight images sharing a base layer byte for byte: the pulls race for that blob's
    // partial file as well as for index.json.
    const PLATFORMS: [&str; 8] = [
        "linux/amd64",
        "linux/arm64",
        "linux/386",
        "linux/ppc64le",
        "linux/s390x",
        "linux/riscv64",
        "linux/mips64le",
        "linux/arm/v7",
    ];
    let index = Index::builder(7)
        .platforms(PLATFORMS.map(platform))
        .shared_layer(ocipull_spec::fixtures::LayerSpec::raw(3 << 20))
        .build();
    for (i, image) in index.images().iter().enumerate() {
        let tag = format!("t{i}").parse().unwrap();
        s.add(&repo, Some(tag), image.manifest().clone(), image.blobs())
            .unwrap();
    }
    let running = s.spawn().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (host, layout) = (running.host(), layout.clone());
            std::thread::spawn(move || {
                Command::new(env!("CARGO_BIN_EXE_ocipull"))
                    .args(["pull", "--jobs", "2", "--platform", PLATFORMS[i]])
                    .arg(format!("{host}/team/app:t{i}"))
                    .arg(&layout)
                    .env("HOME", env!("CARGO_TARGET_TMPDIR"))
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let reader = verify_layout(&layout);
    let mut names: Vec<String> = reader.entries().filter_map(|e| e.ref_name).collect();
    names.sort();
    assert_eq!(names, (0..8).map(|i| format!("t{i}")).collect::<Vec<_>>());
    assert!(!layout.join(".ocipull-partial").exists());
    // A final lock attempt succeeds at once: no pull left the lock held.
    let lock = std::fs::File::open(layout.join(LOCK_FILE)).unwrap();
    fs4::FileExt::try_lock(&lock).expect("the layout lock is free");
}

fn docker_image() -> (TestServer, Image) {
    let s = server();
    let image = Image::builder(5)
        .layers_raw([1000, 2000])
        .platform(platform("linux/amd64"))
        .format(ManifestFormat::Docker)
        .build();
    s.add(
        &"dock/img".parse().unwrap(),
        Some("v1".parse().unwrap()),
        image.manifest().clone(),
        image.blobs(),
    )
    .unwrap();
    (s.spawn().unwrap(), image)
}

#[test]
fn convert_to_oci_rewrites_manifests_and_reports_old_to_new() {
    let (running, image) = docker_image();
    let dir = tempfile::tempdir().unwrap();
    let reference = format!("{}/dock/img:v1", running.host());
    let layout = dir.path().to_str().unwrap();
    let report: serde_json::Value = serde_json::from_str(&ok(&[
        "pull",
        "--platform",
        "linux/amd64",
        "--convert-to-oci",
        "--json",
        &reference,
        layout,
    ]))
    .unwrap();
    let conversions = report["conversions"].as_array().unwrap();
    assert_eq!(conversions.len(), 1, "{report}");
    assert_eq!(
        conversions[0]["from"]["digest"],
        image.manifest().digest().as_str()
    );
    assert_eq!(
        conversions[0]["from"]["mediaType"],
        media_type::DOCKER_MANIFEST
    );
    assert_eq!(
        conversions[0]["to"]["mediaType"],
        media_type::OCI_IMAGE_MANIFEST
    );
    assert_eq!(report["digest"], conversions[0]["to"]["digest"]);
    assert_eq!(report["root"]["digest"], image.manifest().digest().as_str());

    let reader = verify_layout(dir.path());
    let entry = reader.entries().next().unwrap();
    assert_eq!(entry.descriptor.media_type, media_type::OCI_IMAGE_MANIFEST);
    let manifest = reader.read_manifest(&entry.descriptor).unwrap();
    let oci = manifest.as_image().unwrap();
    assert_eq!(oci.config.media_type, media_type::OCI_IMAGE_CONFIG);
    assert!(
        oci.layers
            .iter()
            .all(|l| l.media_type == media_type::OCI_LAYER_TAR_GZIP)
    );
    // Blobs keep their bytes and digests.
    let want: Vec<&Digest> = image.blob_list().iter().map(|b| b.digest()).collect();
    let got: Vec<&Digest> = manifest.descriptors().iter().map(|d| &d.digest).collect();
    assert_eq!(got, want);

    // Without the flag the Docker manifest is kept byte for byte.
    let plain = tempfile::tempdir().unwrap();
    ok(&[
        "pull",
        "--platform",
        "linux/amd64",
        &reference,
        plain.path().to_str().unwrap(),
    ]);
    let reader = verify_layout(plain.path());
    let entry = reader.entries().next().unwrap();
    assert_eq!(&entry.descriptor.digest, image.manifest().digest());
}

#[test]
fn a_single_image_for_another_platform_is_refused_unless_any_platform() {
    let (running, _) = docker_image();
    let dir = tempfile::tempdir().unwrap();
    let reference = format!("{}/dock/img:v1", running.host());
    let layout = dir.path().to_str().unwrap();
    let err = fails(&["pull", "--platform", "linux/arm64", &reference, layout]);
    assert!(
        err.contains("linux/amd64")
            && err.contains("linux/arm64")
            && err.contains("--any-platform"),
        "{err}"
    );
    // Refused before anything is written.
    assert!(!dir.path().join("index.json").exists());
    ok(&[
        "pull",
        "--platform",
        "linux/arm64",
        "--any-platform",
        &reference,
        layout,
    ]);
    verify_layout(dir.path());
}

#[test]
fn read_verbs() {
    let s = server();
    let repo = "read/verbs".parse().unwrap();
    let index = Index::builder(9)
        .platforms([platform("linux/amd64"), platform("linux/arm64")])
        .build();
    for (m, blobs) in index.push_order() {
        s.add(&repo, None, m, blobs).unwrap();
    }
    s.store()
        .tag(&repo, "multi".parse().unwrap(), index.manifest().digest());
    let sig = Artifact::builder(1, "application/vnd.example.sig")
        .subject(index.descriptor())
        .blob("application/octet-stream", 64)
        .build();
    s.add(&repo, None, sig.manifest().clone(), sig.blobs())
        .unwrap();
    let running = s.spawn().unwrap();
    let r = format!("{}/read/verbs", running.host());

    // digest: the index's, from a HEAD.
    assert_eq!(
        ok(&["digest", &format!("{r}:multi")]).trim(),
        index.manifest().digest().as_str()
    );

    // config: the chosen platform's config bytes.
    let arm = index.image_for(&platform("linux/arm64")).unwrap();
    let config = ok(&["config", "--platform", "linux/arm64", &format!("{r}:multi")]);
    assert_eq!(config.trim_end().as_bytes(), &arm.config_blob().bytes[..]);

    // blob: to stdout and to a file, verified.
    let layer = &arm.layers()[0];
    let out = ocipull(&["blob", &format!("{r}@{}", layer.digest())]);
    assert!(out.status.success());
    assert_eq!(out.stdout, layer.bytes[..]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("layer.tgz");
    ok(&[
        "blob",
        &format!("{r}@{}", layer.digest()),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&file).unwrap(), layer.bytes[..]);
    let missing = Digest::sha256(b"nothing");
    let err = fails(&["blob", &format!("{r}@{missing}")]);
    assert!(
        err.contains(&format!("read/verbs@{missing}")) && err.contains("not found"),
        "{err}"
    );
    let err = fails(&["inspect", &format!("{r}@{missing}")]);
    assert!(err.contains(&format!("read/verbs@{missing}")), "{err}");
    assert!(!err.contains(&format!("verbs:{missing}")), "{err}");

    // referrers: lines and JSON, filtered by artifact type.
    let lines = ok(&["referrers", &format!("{r}:multi")]);
    assert!(
        lines.starts_with(sig.manifest().digest().as_str()),
        "{lines}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "referrers",
        "--json",
        "--artifact-type",
        "application/vnd.example.other",
        &format!("{r}@{}", index.manifest().digest()),
    ]))
    .unwrap();
    assert_eq!(json["manifests"].as_array().unwrap().len(), 0);

    // tags and inspect --json.
    let tags: serde_json::Value = serde_json::from_str(&ok(&["tags", "--json", &r])).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["multi"]));
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(&["inspect", "--json", &format!("{r}:multi")])).unwrap();
    assert_eq!(inspect["digest"], index.manifest().digest().as_str());
    assert_eq!(inspect["mediaType"], media_type::OCI_IMAGE_INDEX);
    assert_eq!(
        inspect["manifest"]["manifests"].as_array().unwrap().len(),
        2
    );

    // catalog: the repositories, or a one-line answer if the test registry has no catalog.
    let out = ocipull(&["catalog", "--json", &running.host()]);
    if out.status.success() {
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["repositories"], serde_json::json!(["read/verbs"]));
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("catalog") && err.trim().lines().count() == 1,
            "{err}"
        );
    }
}

#[test]
fn completions_and_usage_errors() {
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&["completions", shell]);
        assert!(
            script.contains("ocipull") && script.contains("referrers"),
            "{shell}"
        );
    }
    let err = fails(&["inspect", "Not A Reference"]);
    assert!(err.contains("[registry/]repository"), "{err}");
    let err = fails(&["blob", "localhost:1/x:tag"]);
    assert!(err.contains("no digest"), "{err}");
    let err = fails(&["catalog", "not a host"]);
    assert!(err.contains("host[:port]"), "{err}");
}
