//! A partial image layout (as `ctr images export --platform` writes: an index naming
//! manifests and blobs that are not there) is served as far as it goes: what is present
//! answers 200, what is missing 404, and each missing item is reported once by name.

mod common;

use common::get;
use ocipull_server::{AddError, Server};
use ocipull_spec::layout::{LayoutError, LayoutWriter};
use ocipull_spec::{Descriptor, Digest, Manifest, Repository, media_type};

fn desc(media_type: &str, data: &[u8]) -> Descriptor {
    Descriptor::new(media_type, Digest::sha256(data), data.len() as u64)
}

fn image(config: &[u8], layers: &[&[u8]]) -> Manifest {
    let json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_MANIFEST,
        "config": desc(media_type::OCI_IMAGE_CONFIG, config),
        "layers": layers.iter().map(|l| desc(media_type::OCI_LAYER_TAR, l)).collect::<Vec<_>>(),
    });
    Manifest::from_bytes(serde_json::to_vec(&json).unwrap(), None, None).unwrap()
}

#[tokio::test]
async fn present_content_is_served_and_missing_content_reported() {
    // amd64: manifest present, one of its two layers missing; arm64: manifest missing.
    let amd_config = br#"{"architecture":"amd64","os":"linux"}"#;
    let (kept, lost) = (&b"kept layer"[..], &b"lost layer"[..]);
    let amd = image(amd_config, &[kept, lost]);
    let arm = image(br#"{"architecture":"arm64","os":"linux"}"#, &[b"arm layer"]);
    let entry = |m: &Manifest, p: &str| m.descriptor().with_platform(p.parse().unwrap());
    let index_json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_INDEX,
        "manifests": [entry(&amd, "linux/amd64"), entry(&arm, "linux/arm64")],
    });
    let index = Manifest::from_bytes(serde_json::to_vec(&index_json).unwrap(), None, None).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::create(dir.path()).unwrap();
    for (t, b) in [
        (media_type::OCI_IMAGE_CONFIG, &amd_config[..]),
        (media_type::OCI_LAYER_TAR, kept),
    ] {
        w.write_blob_bytes(&desc(t, b), b).unwrap();
    }
    for m in [&amd, &index] {
        w.write_blob_bytes(&m.descriptor(), m.bytes()).unwrap();
    }
    w.add_manifest(&index.descriptor(), Some("multi")).unwrap();
    // The same missing blob named twice is reported once.
    w.add_manifest(&amd.descriptor(), Some("amd")).unwrap();

    let server = Server::new();
    let repo: Repository = "ctr/export".parse().unwrap();
    let summary = server.add_layout(&repo, dir.path()).unwrap();
    let tags: Vec<String> = summary
        .entries
        .iter()
        .map(|(t, _)| t.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(tags, ["multi", "amd"]);
    let missing: Vec<(Digest, Option<Digest>)> = summary
        .missing
        .iter()
        .map(|m| (m.digest.clone(), m.referenced_by.clone()))
        .collect();
    assert_eq!(
        missing,
        [
            (arm.digest().clone(), Some(index.digest().clone())),
            (Digest::sha256(lost), Some(amd.digest().clone())),
        ]
    );
    for m in &summary.missing {
        let text = m.to_string();
        assert!(
            text.contains(m.digest.as_str()) && text.contains("blobs"),
            "{text}"
        );
        assert!(m.path.starts_with(dir.path().join("blobs")));
    }

    let path = |what: &str| format!("/v2/ctr/export/{what}");
    assert_eq!(
        get(&server, &path("manifests/multi")).await.body,
        index.bytes()[..]
    );
    assert_eq!(get(&server, &path("manifests/amd")).await.status, 200);
    let child = get(&server, &path(&format!("manifests/{}", amd.digest()))).await;
    assert_eq!(child.body, amd.bytes()[..]);
    let present = get(&server, &path(&format!("blobs/{}", Digest::sha256(kept)))).await;
    assert_eq!(present.body, kept);
    let arm_answer = get(&server, &path(&format!("manifests/{}", arm.digest()))).await;
    assert_eq!(arm_answer.status, 404);
    let lost_answer = get(&server, &path(&format!("blobs/{}", Digest::sha256(lost)))).await;
    assert_eq!(lost_answer.status, 404);
}

#[test]
fn a_broken_index_still_fails_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    LayoutWriter::create(dir.path()).unwrap();
    std::fs::write(dir.path().join("index.json"), b"{not json").unwrap();
    let err = Server::new()
        .add_layout(&"x".parse().unwrap(), dir.path())
        .unwrap_err();
    match &err {
        AddError::Layout {
            source: LayoutError::InvalidManifest { path, .. },
            ..
        } => assert!(path.ends_with("index.json"), "{err}"),
        other => panic!("{other:?}"),
    }
}
