//! The image layout reader and writer, including the ways a layout can be broken.

use ocipull_spec::layout::{LayoutError, LayoutReader, LayoutWriter, MAX_LAYOUT_MANIFEST_SIZE};
use ocipull_spec::{Descriptor, Digest, media_type};

fn write_image(w: &LayoutWriter) -> Descriptor {
    let config = b"{}";
    let layer = b"layer bytes";
    let cd = Descriptor::new(media_type::OCI_IMAGE_CONFIG, Digest::sha256(config), 2);
    let ld = Descriptor::new(
        media_type::OCI_LAYER_TAR,
        Digest::sha256(layer),
        layer.len() as u64,
    );
    w.write_blob_bytes(&cd, config).unwrap();
    w.write_blob_bytes(&ld, layer).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_MANIFEST,
        "config": cd,
        "layers": [ld],
    });
    let raw = serde_json::to_vec(&manifest).unwrap();
    let md = Descriptor::new(
        media_type::OCI_IMAGE_MANIFEST,
        Digest::sha256(&raw),
        raw.len() as u64,
    );
    w.write_blob_bytes(&md, &raw).unwrap();
    w.add_manifest(&md, Some("v1")).unwrap();
    md
}

#[test]
fn written_layout_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::create(dir.path()).unwrap();
    let md = write_image(&w);
    let r = LayoutReader::open(dir.path()).unwrap();
    let entries: Vec<_> = r.entries().collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].ref_name.as_deref(), Some("v1"));
    let m = r.read_manifest(&entries[0].descriptor).unwrap();
    assert_eq!(m.digest(), &md.digest);
    for d in m.descriptors() {
        r.blob(d).unwrap();
    }
    // Nothing but the layout's own files is left behind.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["blobs", "index.json", "oci-layout"]);
}

#[test]
fn broken_layouts_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        LayoutReader::open(dir.path()),
        Err(LayoutError::NotALayout { .. })
    ));

    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    assert!(matches!(
        LayoutReader::open(dir.path()),
        Err(LayoutError::UnsupportedVersion { version, .. }) if version == "2.0.0"
    ));

    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("index.json"),
        r#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:../../etc/passwd","size":1}]}"#,
    )
    .unwrap();
    match LayoutReader::open(dir.path()) {
        Err(LayoutError::InvalidManifest { source, .. }) => {
            assert!(
                source.to_string().contains("manifests[0].digest"),
                "{source}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_and_wrong_sized_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::create(dir.path()).unwrap();
    let md = write_image(&w);
    let r = LayoutReader::open(dir.path()).unwrap();
    let absent = Descriptor::new("x", Digest::sha256(b"absent"), 6);
    assert!(matches!(
        r.blob(&absent),
        Err(LayoutError::BlobMissing { .. })
    ));
    assert!(matches!(
        r.read_manifest(&absent),
        Err(LayoutError::BlobMissing { .. })
    ));
    let mut wrong = md.clone();
    wrong.size += 1;
    assert!(matches!(
        r.read_manifest(&wrong),
        Err(LayoutError::SizeMismatch { .. })
    ));
    assert!(matches!(
        r.blob(&wrong),
        Err(LayoutError::SizeMismatch { .. })
    ));
    // Content swapped on disk: the digest check catches it.
    std::fs::write(r.blob_path(&md.digest), vec![b' '; md.size as usize]).unwrap();
    assert!(matches!(
        r.read_manifest(&md),
        Err(LayoutError::InvalidManifest { .. })
    ));
}

#[test]
fn oversized_manifest_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::create(dir.path()).unwrap();
    let huge = Descriptor::new(
        media_type::OCI_IMAGE_MANIFEST,
        Digest::sha256(b"huge"),
        MAX_LAYOUT_MANIFEST_SIZE + 1,
    );
    let path = w.blob_path(&huge.digest);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(&path)
        .unwrap()
        .set_len(MAX_LAYOUT_MANIFEST_SIZE + 1)
        .unwrap();
    let r = LayoutReader::open(dir.path()).unwrap();
    assert!(matches!(
        r.read_manifest(&huge),
        Err(LayoutError::ManifestTooLarge { .. })
    ));
}
