//! The read-only fixture for the OCI distribution-spec conformance suite.
//!
//! The suite can test a registry that has no push API when the content is preloaded and named
//! in the environment (main branch: `OCI_API_PUSH=false` with `OCI_RO_DATA_TAGS`,
//! `OCI_RO_DATA_MANIFESTS`, `OCI_RO_DATA_BLOBS`, `OCI_RO_DATA_REFERRERS`; v1.1.1:
//! `OCI_TAG_NAME`, `OCI_MANIFEST_DIGEST`, `OCI_BLOB_DIGEST`). This test builds that content
//! deterministically as an OCI image layout, checks that the copy committed under
//! `tests/fixtures/conformance/` is current (set `OCIPULL_UPDATE_FIXTURES=1` to rewrite it),
//! and replays the suite's read-only requests against `ocipull-server` serving it, as
//! `ocipull serve --layout conformance/repo1=tests/fixtures/conformance/layout` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ocipull_server::{Server, TestServer};
use ocipull_spec::layout::LayoutWriter;
use ocipull_spec::{Descriptor, Digest, Manifest, Platform, Repository, media_type};
use serde_json::json;

/// The repository the suite reads (its default `OCI_REPO1`).
const REPO: &str = "conformance/repo1";
/// The artifact type of the referrer in the fixture.
const ARTIFACT_TYPE: &str = "application/vnd.ocipull.conformance.signature";
/// Error codes the suite accepts in a 400 body (distribution-spec "Error Codes").
const SPEC_CODES: &[&str] = &[
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/conformance")
}

/// What the fixture holds, for the environment files and the replay.
struct Content {
    tags: BTreeMap<&'static str, Digest>,
    manifests: Vec<Manifest>,
    blobs: Vec<(Digest, Bytes)>,
    referrer_subjects: Vec<Digest>,
}

fn desc(media_type: &str, digest: &Digest, bytes: &[u8]) -> Descriptor {
    Descriptor::new(media_type, digest.clone(), bytes.len() as u64)
}

fn manifest(json: serde_json::Value) -> Manifest {
    Manifest::from_bytes(serde_json::to_vec_pretty(&json).unwrap(), None, None).unwrap()
}

/// Writes the layout into `dir` and describes it. Everything is fixed, so the bytes (and
/// digests) are the same on every run.
fn build(dir: &Path) -> Content {
    let writer = LayoutWriter::create(dir).unwrap();
    let mut blobs: Vec<(Digest, Bytes)> = Vec::new();
    let mut put = |digest: Digest, bytes: Bytes| {
        writer
            .write_blob_bytes(
                &Descriptor::new("", digest.clone(), bytes.len() as u64),
                &bytes,
            )
            .unwrap();
        if !blobs.iter().any(|(d, _)| d == &digest) {
            blobs.push((digest.clone(), bytes));
        }
        digest
    };
    // A 2 KiB layer (the suite's range tests use 2048 bytes), a zero-byte layer, a layer
    // addressed by SHA-512, two configs and the empty JSON config of artifacts.
    let layer: Bytes = (0..2048u32)
        .map(|i| b"ocipull conformance\n"[(i % 20) as usize])
        .collect();
    let empty = Bytes::new();
    let sha512_layer = Bytes::from_static(b"a layer addressed by sha512\n");
    let config_amd64 = Bytes::from(serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256(&layer), Digest::sha256(&empty)]},
    })).unwrap());
    let config_arm64 = Bytes::from(
        serde_json::to_vec(&json!({
            "architecture": "arm64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [Digest::sha512(&sha512_layer)]},
        }))
        .unwrap(),
    );
    let empty_json = Bytes::from_static(b"{}");
    let signature = Bytes::from_static(b"not really a signature\n");
    let d_layer = put(Digest::sha256(&layer), layer.clone());
    let d_empty = put(Digest::sha256(&empty), empty.clone());
    let d_512 = put(Digest::sha512(&sha512_layer), sha512_layer.clone());
    let d_cfg_amd64 = put(Digest::sha256(&config_amd64), config_amd64.clone());
    let d_cfg_arm64 = put(Digest::sha256(&config_arm64), config_arm64.clone());
    let d_empty_json = put(Digest::sha256(&empty_json), empty_json.clone());
    let d_sig = put(Digest::sha256(&signature), signature.clone());

    let amd64 = manifest(json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_MANIFEST,
        "config": desc(media_type::OCI_IMAGE_CONFIG, &d_cfg_amd64, &config_amd64),
        "layers": [
            desc(media_type::OCI_LAYER_TAR, &d_layer, &layer),
            desc(media_type::OCI_LAYER_TAR, &d_empty, &empty),
        ],
    }));
    let arm64 = manifest(json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_MANIFEST,
        "config": desc(media_type::OCI_IMAGE_CONFIG, &d_cfg_arm64, &config_arm64),
        "layers": [desc(media_type::OCI_LAYER_TAR, &d_512, &sha512_layer)],
    }));
    let platform = |m: &Manifest, arch: &str| {
        let mut d = m.descriptor();
        d.platform = Some(Platform::new("linux", arch));
        d
    };
    let index = manifest(json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_INDEX,
        "manifests": [platform(&amd64, "amd64"), platform(&arm64, "arm64")],
    }));
    let artifact = manifest(json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": desc(media_type::OCI_EMPTY_JSON, &d_empty_json, &empty_json),
        "layers": [desc("application/octet-stream", &d_sig, &signature)],
        "subject": amd64.descriptor(),
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }));
    for m in [&amd64, &arm64, &index, &artifact] {
        writer.write_blob_bytes(&m.descriptor(), m.bytes()).unwrap();
    }
    writer
        .add_manifest(&amd64.descriptor(), Some("image"))
        .unwrap();
    writer
        .add_manifest(&amd64.descriptor(), Some("v1"))
        .unwrap();
    writer
        .add_manifest(&index.descriptor(), Some("index"))
        .unwrap();
    writer.add_manifest(&artifact.descriptor(), None).unwrap();
    // The writers' lock file is no part of the committed layout.
    std::fs::remove_file(dir.join(ocipull_spec::layout::LOCK_FILE)).unwrap();
    Content {
        tags: BTreeMap::from([
            ("image", amd64.digest().clone()),
            ("index", index.digest().clone()),
            ("v1", amd64.digest().clone()),
        ]),
        referrer_subjects: vec![amd64.digest().clone()],
        manifests: vec![amd64, arm64, index, artifact],
        blobs,
    }
}

fn join<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().collect::<Vec<_>>().join(" ")
}

/// Environment for the suite's main branch (`conformance/`, Go 1.24+).
fn main_env(c: &Content) -> String {
    format!(
        "# OCI distribution-spec conformance suite (main branch), read-only against\n\
         #   ocipull serve --listen 127.0.0.1:5000 --layout conformance/repo1=tests/fixtures/conformance/layout\n\
         # Generated by tests/tests/conformance_fixture.rs; do not edit.\n\
         OCI_REGISTRY=127.0.0.1:5000\n\
         OCI_TLS=disabled\n\
         OCI_REPO1={REPO}\n\
         OCI_REPO2=conformance/repo2\n\
         OCI_API_PULL=true\n\
         OCI_API_PUSH=false\n\
         OCI_API_BLOBS_DELETE=false\n\
         OCI_API_MANIFESTS_DELETE=false\n\
         OCI_API_TAGS_DELETE=false\n\
         OCI_API_BLOBS_DIGEST_HEADER=true\n\
         OCI_API_MANIFESTS_DIGEST_HEADER=true\n\
         OCI_API_TAGS_LIST=true\n\
         OCI_API_REFERRER=true\n\
         OCI_RO_DATA_TAGS=\"{}\"\n\
         OCI_RO_DATA_MANIFESTS=\"{}\"\n\
         OCI_RO_DATA_BLOBS=\"{}\"\n\
         OCI_RO_DATA_REFERRERS=\"{}\"\n",
        join(c.tags.keys().copied()),
        join(c.manifests.iter().map(|m| m.digest().as_str())),
        join(c.blobs.iter().map(|(d, _)| d.as_str())),
        join(c.referrer_subjects.iter().map(Digest::as_str)),
    )
}

/// Environment for the v1.1.1 release's suite (its pull workflow).
fn v1_1_1_env(c: &Content) -> String {
    format!(
        "# OCI distribution-spec conformance suite v1.1.1, pull workflow, read-only against\n\
         #   ocipull serve --listen 127.0.0.1:5000 --layout conformance/repo1=tests/fixtures/conformance/layout\n\
         # Generated by tests/tests/conformance_fixture.rs; do not edit.\n\
         OCI_ROOT_URL=http://127.0.0.1:5000\n\
         OCI_NAMESPACE={REPO}\n\
         OCI_TEST_PULL=1\n\
         OCI_TEST_PUSH=0\n\
         OCI_TEST_CONTENT_DISCOVERY=0\n\
         OCI_TEST_CONTENT_MANAGEMENT=0\n\
         OCI_HIDE_SKIPPED_WORKFLOWS=1\n\
         OCI_TAG_NAME=image\n\
         OCI_MANIFEST_DIGEST={}\n\
         OCI_BLOB_DIGEST={}\n",
        c.tags["image"],
        c.manifests[0].descriptors()[0].digest,
    )
}

/// Relative path → bytes of every file under `dir`.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn committed_fixture_is_current() {
    let fresh = tempfile::tempdir().unwrap();
    let layout = fresh.path().join("layout");
    let content = build(&layout);
    std::fs::write(fresh.path().join("main.env"), main_env(&content)).unwrap();
    std::fs::write(fresh.path().join("v1.1.1.env"), v1_1_1_env(&content)).unwrap();
    let committed = fixture_dir();
    if std::env::var_os("OCIPULL_UPDATE_FIXTURES").is_some() {
        let _ = std::fs::remove_dir_all(committed.join("layout"));
        for (rel, bytes) in files(fresh.path()) {
            let path = committed.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }
    let want = files(fresh.path());
    let mut have = files(&committed);
    have.retain(|rel, _| rel.starts_with("layout/") || rel.ends_with(".env"));
    assert_eq!(
        have.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "tests/fixtures/conformance is stale: rerun with OCIPULL_UPDATE_FIXTURES=1"
    );
    for (rel, bytes) in &want {
        assert!(
            have[rel] == *bytes,
            "{rel} differs: rerun with OCIPULL_UPDATE_FIXTURES=1"
        );
    }
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(running: &TestServer, method: Method, path: &str, accept: &[&str]) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut b = Request::builder()
        .method(method)
        .uri(format!("{}{path}", running.url()));
    for a in accept {
        b = b.header("accept", *a);
    }
    let response = client.request(b.body(Empty::new()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// The requests both suite versions make in read-only mode, with their checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocipull_serves_what_the_suite_reads() {
    let dir = tempfile::tempdir().unwrap();
    let content = build(dir.path());
    // Serve the committed copy when it is there (what `ocipull serve` would serve).
    let committed = fixture_dir().join("layout");
    let layout = if committed.join("index.json").exists() {
        committed
    } else {
        dir.path().to_path_buf()
    };
    let server = Server::builder().request_log(true).build();
    let repo: Repository = REPO.parse().unwrap();
    server.add_layout(&repo, &layout).unwrap();
    let running = server.spawn().unwrap();
    let accept = [media_type::OCI_IMAGE_INDEX, media_type::OCI_IMAGE_MANIFEST];
    let base = format!("/v2/{REPO}");

    assert_eq!(
        send(&running, Method::GET, "/v2/", &[]).await.status,
        200,
        "ping"
    );
    // Tags: HEAD and GET by tag give the tagged manifest.
    for (tag, digest) in &content.tags {
        for method in [Method::HEAD, Method::GET] {
            let a = send(
                &running,
                method.clone(),
                &format!("{base}/manifests/{tag}"),
                &accept,
            )
            .await;
            assert_eq!(a.status, 200, "{method} tag {tag}");
            assert_eq!(a.header("docker-content-digest"), Some(digest.as_str()));
            if method == Method::GET {
                assert_eq!(&Digest::sha256(&a.body), digest);
            }
        }
    }
    // Manifests by digest: body, Content-Type from the body's mediaType, Content-Length.
    for m in &content.manifests {
        for method in [Method::HEAD, Method::GET] {
            let a = send(
                &running,
                method.clone(),
                &format!("{base}/manifests/{}", m.digest()),
                &accept,
            )
            .await;
            assert_eq!(a.status, 200, "{method} {}", m.digest());
            assert_eq!(a.header("content-type"), Some(m.media_type()));
            assert_eq!(
                a.header("content-length"),
                Some(m.bytes().len().to_string().as_str())
            );
            assert_eq!(a.header("docker-content-digest"), Some(m.digest().as_str()));
            let want: &[u8] = if method == Method::GET {
                m.bytes()
            } else {
                b""
            };
            assert_eq!(&a.body[..], want);
        }
    }
    // Blobs, the zero-byte one and the SHA-512 one included.
    for (digest, bytes) in &content.blobs {
        let get = send(
            &running,
            Method::GET,
            &format!("{base}/blobs/{digest}"),
            &[],
        )
        .await;
        assert_eq!(get.status, 200, "GET {digest}");
        assert_eq!(&get.body, bytes);
        assert_eq!(get.header("docker-content-digest"), Some(digest.as_str()));
        assert_eq!(
            get.header("content-length"),
            Some(bytes.len().to_string().as_str())
        );
        let head = send(
            &running,
            Method::HEAD,
            &format!("{base}/blobs/{digest}"),
            &[],
        )
        .await;
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
    }
    // Referrers: an OCI index holding the artifact, filterable by artifactType.
    let subject = &content.referrer_subjects[0];
    let a = send(
        &running,
        Method::GET,
        &format!("{base}/referrers/{subject}"),
        &[],
    )
    .await;
    assert_eq!(a.header("content-type"), Some(media_type::OCI_IMAGE_INDEX));
    let index: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(
        (index["schemaVersion"].as_u64(), index["mediaType"].as_str()),
        (Some(2), Some(media_type::OCI_IMAGE_INDEX))
    );
    assert_eq!(
        index["manifests"][0]["digest"],
        content.manifests[3].digest().as_str()
    );
    assert_eq!(index["manifests"][0]["artifactType"], ARTIFACT_TYPE);
    let filtered = send(
        &running,
        Method::GET,
        &format!("{base}/referrers/{subject}?artifactType={ARTIFACT_TYPE}"),
        &[],
    )
    .await;
    assert_eq!(filtered.header("oci-filters-applied"), Some("artifactType"));
    let empty = send(
        &running,
        Method::GET,
        &format!("{base}/referrers/{}", Digest::sha256(b"random")),
        &[],
    )
    .await;
    assert_eq!(empty.status, 200);
    // Tag list, and `last` as the suite uses it.
    let list = send(&running, Method::GET, &format!("{base}/tags/list"), &[]).await;
    let tags: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(tags["tags"], json!(["image", "index", "v1"]));
    let after = send(
        &running,
        Method::GET,
        &format!("{base}/tags/list?last=image"),
        &[],
    )
    .await;
    let after: serde_json::Value = serde_json::from_slice(&after.body).unwrap();
    assert_eq!(after["tags"], json!(["index", "v1"]));
    // Errors: missing content, malformed digests.
    let missing = Digest::sha256(b"missing");
    for (method, path) in [
        (Method::HEAD, format!("{base}/blobs/{missing}")),
        (Method::GET, format!("{base}/blobs/{missing}")),
        (
            Method::HEAD,
            format!("{base}/manifests/.INVALID_MANIFEST_NAME"),
        ),
        (
            Method::GET,
            format!("{base}/manifests/.INVALID_MANIFEST_NAME"),
        ),
        (Method::GET, format!("{base}/manifests/missing-tag")),
        (Method::GET, format!("{base}/manifests/{missing}")),
    ] {
        assert_eq!(
            send(&running, method.clone(), &path, &accept).await.status,
            404,
            "{method} {path}"
        );
    }
    for bad in ["sha256:totallywrong", "sha256:baddigeststring"] {
        let a = send(
            &running,
            Method::GET,
            &format!("{base}/manifests/{bad}"),
            &accept,
        )
        .await;
        assert_eq!(a.status, 400);
        let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        let code = body["errors"][0]["code"].as_str().unwrap();
        assert!(SPEC_CODES.contains(&code), "{code}");
    }
    // The read-only suite's cleanup tries deletes: they must be refused, not served.
    let del = send(
        &running,
        Method::DELETE,
        &format!("{base}/manifests/{}", content.tags["image"]),
        &[],
    )
    .await;
    assert_eq!(del.status, 405);
    for r in running.request_log().unwrap().records() {
        assert!(
            !r.status.is_server_error(),
            "{} {}: {}",
            r.method,
            r.path,
            r.status
        );
    }
}
