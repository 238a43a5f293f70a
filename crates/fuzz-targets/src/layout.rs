//! `layout`: reading an OCI image layout whose files come from the input.
//!
//! The input is split at [`SEPARATOR`]: the first part is `index.json`, every other part is
//! stored as a blob under its SHA-256 digest (so that `index.json` can refer to it), except
//! that a part starting with [`LAYOUT_FILE_PREFIX`] is, after the prefix, the `oci-layout`
//! file (without one, a valid `oci-layout` is written). The layout lives in a directory of its own inside a parent
//! directory that holds a sentinel file.
//!
//! Properties:
//! - opening the layout, listing its entries, reading every manifest they name (and, one
//!   level down, the manifests of an index and the blobs of an image) never panics, and
//!   every error formats;
//! - every path the reader hands out is inside the layout directory (image-spec "Image
//!   Layout": blobs live at `blobs/<alg>/<encoded>`), and nothing outside it is created,
//!   changed or removed.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use ocipull_spec::layout::{LayoutReader, blob_path};
use ocipull_spec::{Descriptor, Digest};

/// What separates the files of one input.
pub const SEPARATOR: &[u8] = b"\n--8<--\n";

/// Marks the part of an input that is the `oci-layout` file.
pub const LAYOUT_FILE_PREFIX: &[u8] = b"oci-layout=";

/// A valid `oci-layout` file (image-spec "oci-layout file").
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// How many manifests one input may make the reader open (an index listing itself must not
/// make the target loop).
const MAX_MANIFESTS: usize = 64;

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let parts = split(data);
    let parent = tempfile::tempdir().expect("a temporary directory");
    let sentinel = parent.path().join("outside");
    std::fs::write(&sentinel, b"sentinel").expect("the sentinel is written");
    let dir = parent.path().join("layout");
    std::fs::create_dir(&dir).expect("the layout directory is created");

    std::fs::write(dir.join("index.json"), parts[0]).expect("index.json is written");
    let mut layout_file = OCI_LAYOUT;
    for blob in &parts[1..] {
        if let Some(custom) = blob.strip_prefix(LAYOUT_FILE_PREFIX) {
            layout_file = custom;
            continue;
        }
        let path = blob_path(&dir, &Digest::sha256(blob));
        std::fs::create_dir_all(path.parent().expect("a blob path has a parent"))
            .expect("the blob directory is created");
        std::fs::write(&path, blob).expect("the blob is written");
    }
    std::fs::write(dir.join("oci-layout"), layout_file).expect("oci-layout is written");
    let before = snapshot(parent.path());

    read_everything(&dir);

    let after = snapshot(parent.path());
    assert_eq!(before, after, "the reader changed files");
    assert_eq!(
        std::fs::read(&sentinel).expect("the sentinel is there"),
        b"sentinel"
    );
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = find(rest, SEPARATOR) {
        parts.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    parts.push(rest);
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn read_everything(dir: &Path) {
    let reader = match LayoutReader::open(dir) {
        Ok(reader) => reader,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    assert_eq!(reader.dir(), dir);
    let mut pending: Vec<Descriptor> = reader.entries().map(|e| e.descriptor).collect();
    let mut opened = 0;
    while let Some(descriptor) = pending.pop() {
        inside(dir, &reader.blob_path(&descriptor.digest));
        match reader.blob(&descriptor) {
            Ok(blob) => inside(dir, blob.path()),
            Err(error) => {
                let _ = error.to_string();
            }
        }
        if opened == MAX_MANIFESTS {
            continue;
        }
        opened += 1;
        match reader.read_manifest(&descriptor) {
            Ok(manifest) => {
                assert_eq!(manifest.digest(), &descriptor.digest);
                assert_eq!(manifest.bytes().len() as u64, descriptor.size);
                pending.extend(manifest.descriptors().into_iter().cloned());
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }
}

/// Asserts that `path` is below `dir` and climbs nowhere.
fn inside(dir: &Path, path: &Path) {
    let rest = path
        .strip_prefix(dir)
        .unwrap_or_else(|_| panic!("{} is outside {}", path.display(), dir.display()));
    assert!(
        rest.components().all(|c| matches!(c, Component::Normal(_))),
        "{} leaves {}",
        path.display(),
        dir.display()
    );
}

/// Every file and directory below `root`, with its content (files) or `None` (directories).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut seen = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a directory lists") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                seen.insert(path.clone(), None);
                stack.push(path);
            } else {
                let content = std::fs::read(&path).expect("a file reads");
                seen.insert(path, Some(content));
            }
        }
    }
    seen
}
