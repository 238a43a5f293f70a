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
    // Nothing but the layout's own files (and the writers' lock file) is left behind.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ocipull_spec::layout::LOCK_FILE,
            "blobs",
            "index.json",
            "oci-layout"
        ]
    );
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

/// Writes a small layout into `$OCIPULL_MODES_DIR` when that is set; run by
/// [`files_get_the_mode_the_umask_gives`] in a child process with a chosen umask.
#[tokio::test]
#[ignore = "run by files_get_the_mode_the_umask_gives in a child process"]
async fn modes_child() {
    let Some(dir) = std::env::var_os("OCIPULL_MODES_DIR") else {
        return;
    };
    let w = LayoutWriter::create(std::path::Path::new(&dir).join("layout")).unwrap();
    write_image(&w);
    let layer = b"streamed layer";
    let d = Descriptor::new(
        media_type::OCI_LAYER_TAR,
        Digest::sha256(layer),
        layer.len() as u64,
    );
    w.write_blob(&d, &layer[..]).await.unwrap();
}

#[cfg(unix)]
#[test]
fn files_get_the_mode_the_umask_gives() {
    use std::os::unix::fs::PermissionsExt as _;
    let exe = std::env::current_exe().unwrap();
    for (umask, file_mode, dir_mode) in [("022", 0o644, 0o755), ("027", 0o640, 0o750)] {
        let tmp = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask}; exec \"$0\" modes_child --exact --ignored --quiet"
            ))
            .arg(&exe)
            .env("OCIPULL_MODES_DIR", tmp.path())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "the child under umask {umask} failed");
        let layout = tmp.path().join("layout");
        let mut checked = 0;
        let mut todo = vec![layout.clone()];
        while let Some(dir) = todo.pop() {
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, dir_mode, "umask {umask}: {}", dir.display());
            for e in std::fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                let meta = e.metadata().unwrap();
                if meta.is_dir() {
                    todo.push(e.path());
                } else {
                    let mode = meta.permissions().mode() & 0o777;
                    assert_eq!(
                        mode,
                        file_mode,
                        "umask {umask}: {} is {mode:o}",
                        e.path().display()
                    );
                    checked += 1;
                }
            }
        }
        // oci-layout, index.json, the lock file, config, layer, manifest, streamed layer.
        assert_eq!(checked, 7, "umask {umask}");
    }
}

/// Writers in many threads adding entries at once (each with its own `LayoutWriter`, as
/// separate processes would have) lose none of them, and the lock is free afterwards.
#[test]
fn concurrent_writers_keep_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let path = dir.path().to_owned();
            std::thread::spawn(move || {
                let w = LayoutWriter::create(&path).unwrap();
                for j in 0..5 {
                    let body = format!("manifest {i} {j}");
                    let d = Descriptor::new(
                        media_type::OCI_IMAGE_MANIFEST,
                        Digest::sha256(body.as_bytes()),
                        body.len() as u64,
                    );
                    w.add_manifest(&d, Some(&format!("t{i}-{j}"))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let r = LayoutReader::open(dir.path()).unwrap();
    assert_eq!(r.entries().count(), 40);
    let lock = std::fs::File::open(dir.path().join(ocipull_spec::layout::LOCK_FILE)).unwrap();
    fs4::FileExt::try_lock(&lock).expect("no writer holds the lock any more");
}

/// Two writers of one blob at once: the second waits for the first's partial file, then
/// finds the blob in place; nothing is corrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_file_has_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let w = std::sync::Arc::new(LayoutWriter::create(dir.path()).unwrap());
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let d = Descriptor::new(
        media_type::OCI_LAYER_TAR,
        Digest::sha256(&data),
        data.len() as u64,
    );
    let mut first = w.partial(&d).await.unwrap();
    first.write(&data[..1000]).await.unwrap();
    first.flush().await.unwrap();
    let (w2, d2) = (w.clone(), d.clone());
    let second = tokio::spawn(async move {
        let p = w2.partial(&d2).await.unwrap();
        (p.offset(), w2.has_blob(&d2), p)
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!second.is_finished(), "the second writer must wait");
    first.write(&data[1000..]).await.unwrap();
    first.commit().await.unwrap();
    let (offset, present, p) = second.await.unwrap();
    assert_eq!(offset, 0, "a fresh partial file, not the committed blob");
    assert!(present);
    p.discard().await;
    w.verify_blob(&d).await.unwrap();
}
