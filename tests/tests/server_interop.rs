//! Real clients pull from `ocipull-server`: skopeo (single image, `--all` on an index, Docker
//! media types, token auth) and oras-py (which does not check digests, so the script hashes
//! what it receives). Pulled digests must equal the served ones.

use std::path::Path;
use std::process::Command;

use ocipull_server::{Auth, Server, TestServer, TokenAuth};
use ocipull_spec::layout::LayoutReader;
use ocipull_spec::{Digest, ManifestKind, Repository};
use ocipull_tests::{ImageFixture, IndexFixture, Peer, Skopeo, require};

/// Serves `layout` (a directory written by a fixture) as `repo`.
fn serve(builder: ocipull_server::ServerBuilder, repo: &str, layout: &Path) -> TestServer {
    let server = builder.request_log(true).build();
    let repo: Repository = repo.parse().unwrap();
    server
        .add_layout(&repo, layout)
        .expect("fixture layout loads");
    server.spawn().expect("binds loopback")
}

/// Every request the clients made was answered without a server-side error; 401s are part
/// of the token flow and 404s of clients probing (e.g. for signatures).
fn assert_no_server_errors(running: &TestServer) {
    for r in running.request_log().unwrap().records() {
        assert!(
            !r.status.is_server_error(),
            "{} {} → {}",
            r.method,
            r.path,
            r.status
        );
    }
}

/// Checks an OCI layout written by a client: `tag` names `want`, and every manifest and
/// blob reachable from it is present and hashes to its digest.
fn verify_pulled_layout(dir: &Path, tag: &str, want: &str) -> usize {
    let layout = LayoutReader::open(dir).unwrap();
    let entry = layout
        .entries()
        .find(|e| e.ref_name.as_deref() == Some(tag))
        .unwrap_or_else(|| panic!("{tag} is in the pulled index.json"));
    assert_eq!(
        entry.descriptor.digest.as_str(),
        want,
        "pulled digest = served digest"
    );
    let mut todo = vec![entry.descriptor];
    let mut checked = 0;
    while let Some(d) = todo.pop() {
        let manifest = layout.read_manifest(&d).expect("manifest verifies");
        for child in manifest.descriptors() {
            match manifest.kind() {
                ManifestKind::Index(_) => todo.push(child.clone()),
                ManifestKind::Image(_) => {
                    let bytes = std::fs::read(layout.blob_path(&child.digest)).unwrap();
                    assert_eq!(Digest::sha256(&bytes), child.digest);
                    checked += 1;
                }
            }
        }
    }
    checked
}

fn skopeo() -> Option<Skopeo> {
    require(Peer::Skopeo).map(|bin| Skopeo::new(bin).unwrap())
}

#[test]
fn skopeo_copies_a_single_image() {
    let Some(skopeo) = skopeo() else { return };
    let image = ImageFixture::oci();
    let src = tempfile::tempdir().unwrap();
    image.write_oci_layout(src.path(), "v1").unwrap();
    let running = serve(Server::builder(), "interop/app", src.path());
    let out = tempfile::tempdir().unwrap();
    let dst = format!("oci:{}:v1", out.path().display());
    let from = format!("docker://{}/interop/app:v1", running.host());
    skopeo
        .copy(&from, &dst, &["--src-tls-verify=false"])
        .unwrap();
    let blobs = verify_pulled_layout(out.path(), "v1", image.digest());
    assert_eq!(blobs, image.layers.len() + 1);
    assert_no_server_errors(&running);
}

#[test]
fn skopeo_copies_a_multi_platform_index_with_all() {
    let Some(skopeo) = skopeo() else { return };
    let index = IndexFixture::multi_platform();
    let src = tempfile::tempdir().unwrap();
    index.write_oci_layout(src.path(), "multi").unwrap();
    let running = serve(Server::builder(), "interop/multi", src.path());
    let out = tempfile::tempdir().unwrap();
    let dst = format!("oci:{}:multi", out.path().display());
    let from = format!("docker://{}/interop/multi:multi", running.host());
    skopeo
        .copy(&from, &dst, &["--src-tls-verify=false", "--all"])
        .unwrap();
    let blobs = verify_pulled_layout(out.path(), "multi", index.digest());
    let want: usize = index.images.iter().map(|i| i.layers.len() + 1).sum();
    assert_eq!(blobs, want);
    assert_no_server_errors(&running);
}

#[test]
fn skopeo_copies_docker_media_types_byte_for_byte() {
    let Some(skopeo) = skopeo() else { return };
    let image = ImageFixture::docker();
    let src = tempfile::tempdir().unwrap();
    image.write_oci_layout(src.path(), "v1").unwrap();
    let running = serve(
        Server::builder().strict_accept(true),
        "interop/docker",
        src.path(),
    );
    let out = tempfile::tempdir().unwrap();
    let dst = format!("dir:{}", out.path().display());
    let from = format!("docker://{}/interop/docker:v1", running.host());
    skopeo
        .copy(&from, &dst, &["--src-tls-verify=false"])
        .unwrap();
    let manifest = std::fs::read(out.path().join("manifest.json")).unwrap();
    assert_eq!(Digest::sha256(&manifest).as_str(), image.digest());
    for blob in image.blobs() {
        let bytes = std::fs::read(out.path().join(blob.hex())).unwrap();
        assert_eq!(Digest::sha256(&bytes).as_str(), blob.digest());
    }
    assert_no_server_errors(&running);
}

#[test]
fn skopeo_pulls_through_token_auth() {
    let Some(skopeo) = skopeo() else { return };
    let image = ImageFixture::oci();
    let src = tempfile::tempdir().unwrap();
    image.write_oci_layout(src.path(), "v1").unwrap();
    for (auth, creds) in [
        (Auth::from(TokenAuth::anonymous()), None),
        (
            TokenAuth::with_credentials("tester", "s3cret").into(),
            Some("tester:s3cret"),
        ),
        (Auth::basic("tester", "s3cret"), Some("tester:s3cret")),
    ] {
        let running = serve(Server::builder().auth(auth), "private/app", src.path());
        let out = tempfile::tempdir().unwrap();
        let dst = format!("oci:{}:v1", out.path().display());
        let from = format!("docker://{}/private/app:v1", running.host());
        let mut args = vec!["--src-tls-verify=false"];
        let creds_arg;
        if let Some(c) = creds {
            creds_arg = format!("--src-creds={c}");
            args.push(&creds_arg);
        }
        skopeo.copy(&from, &dst, &args).unwrap();
        verify_pulled_layout(out.path(), "v1", image.digest());
        let log = running.request_log().unwrap().records();
        assert!(
            log.iter().any(|r| r.status == 401),
            "the client was challenged"
        );
        assert!(
            log.iter()
                .filter(|r| r.path.contains("/blobs/"))
                .all(|r| r.authorization),
            "blob requests were authenticated"
        );
        assert_no_server_errors(&running);
    }
}

/// Pulls `host/repo:tag` with oras-py and prints `{"top", "manifests", "blobs"}`, each
/// digest as claimed mapped to the SHA-256 of what arrived.
const ORAS_PULL: &str = r#"
import hashlib, json, os, sys
import oras.provider

host, repo, tag, out = sys.argv[1:5]
reg = oras.provider.Registry(hostname=host, insecure=True)
accept = ", ".join(oras.defaults.default_manifest_accepted_media_types)
report = {"manifests": {}, "blobs": {}}

def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()

def fetch(ref):
    container = reg.get_container(f"{host}/{repo}{ref}")
    response = reg.do_request(f"{reg.prefix}://{container.manifest_url()}", "GET",
                              headers={"Accept": accept})
    if response.status_code != 200:
        raise SystemExit(f"GET manifest {ref}: {response.status_code} {response.text}")
    return container, response.content

top_container, top = fetch(":" + tag)
# oras's own manifest call must agree with the raw bytes.
assert reg.get_manifest(top_container) == json.loads(top)
report["top"] = sha256(top)
todo = [(report["top"], top_container, top)]
while todo:
    claimed, container, raw = todo.pop()
    report["manifests"][claimed] = sha256(raw)
    doc = json.loads(raw)
    if "manifests" in doc:
        for child in doc["manifests"]:
            c, child_raw = fetch("@" + child["digest"])
            todo.append((child["digest"], c, child_raw))
        continue
    for desc in [doc["config"]] + doc.get("layers", []):
        path = reg.download_blob(container, desc["digest"],
                                 os.path.join(out, desc["digest"].replace(":", "-")))
        with open(path, "rb") as f:
            report["blobs"][desc["digest"]] = sha256(f.read())
print(json.dumps(report))
"#;

fn oras_pull(python: &Path, running: &TestServer, repo: &str, tag: &str) -> serde_json::Value {
    let out = tempfile::tempdir().unwrap();
    let script = out.path().join("pull.py");
    std::fs::write(&script, ORAS_PULL).unwrap();
    let output = Command::new(python)
        .arg(&script)
        .args([&running.host(), repo, tag])
        .arg(out.path())
        .env("HOME", out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "oras pull failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Every claimed digest matches what arrived, and the expected content all arrived.
fn assert_report(report: &serde_json::Value, top: &str, manifests: &[&str], blobs: &[&str]) {
    assert_eq!(report["top"], top);
    for kind in ["manifests", "blobs"] {
        for (claimed, actual) in report[kind].as_object().unwrap() {
            assert_eq!(actual, claimed, "{kind}: received bytes hash to the digest");
        }
    }
    let mut got: Vec<&String> = report["manifests"].as_object().unwrap().keys().collect();
    got.sort();
    let mut want: Vec<String> = manifests.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want.iter().collect::<Vec<_>>());
    let got: Vec<&String> = report["blobs"].as_object().unwrap().keys().collect();
    for b in blobs {
        assert!(got.contains(&&b.to_string()), "blob {b} was pulled");
    }
    assert_eq!(got.len(), blobs.len());
}

#[test]
fn oras_pulls_a_single_image() {
    let Some(python) = require(Peer::Oras) else {
        return;
    };
    let image = ImageFixture::oci();
    let src = tempfile::tempdir().unwrap();
    image.write_oci_layout(src.path(), "v1").unwrap();
    let running = serve(
        Server::builder().strict_accept(true),
        "oras/app",
        src.path(),
    );
    let report = oras_pull(&python, &running, "oras/app", "v1");
    let blobs: Vec<&str> = image.blobs().map(|b| b.digest()).collect();
    assert_report(&report, image.digest(), &[image.digest()], &blobs);
    assert_no_server_errors(&running);
}

#[test]
fn oras_pulls_a_multi_platform_index_through_token_auth() {
    let Some(python) = require(Peer::Oras) else {
        return;
    };
    let index = IndexFixture::multi_platform();
    let src = tempfile::tempdir().unwrap();
    index.write_oci_layout(src.path(), "multi").unwrap();
    let running = serve(
        Server::builder().auth(TokenAuth::anonymous().into()),
        "oras/multi",
        src.path(),
    );
    let report = oras_pull(&python, &running, "oras/multi", "multi");
    let mut manifests = vec![index.digest()];
    manifests.extend(index.images.iter().map(|i| i.digest()));
    let blobs: Vec<&str> = index.blobs().map(|b| b.digest()).collect();
    assert_report(&report, index.digest(), &manifests, &blobs);
    assert!(running.auth().unwrap().tokens_issued() >= 1);
    assert_no_server_errors(&running);
}
