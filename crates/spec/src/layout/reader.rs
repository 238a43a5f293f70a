use std::io::Read;
use std::path::{Path, PathBuf};

use super::{
    ANNOTATION_REF_NAME, LAYOUT_VERSION, LayoutError, MAX_LAYOUT_MANIFEST_SIZE, blob_path,
};
use crate::{Descriptor, FileBlob, ImageIndex, Manifest, media_type};

/// One entry of a layout's `index.json`.
#[derive(Debug, Clone)]
pub struct LayoutEntry {
    /// The entry's descriptor.
    pub descriptor: Descriptor,
    /// Its `org.opencontainers.image.ref.name` annotation, if any.
    pub ref_name: Option<String>,
}

/// Reads an OCI image layout directory.
///
/// ```no_run
/// use ocipull_spec::layout::LayoutReader;
/// let layout = LayoutReader::open("./my-image")?;
/// for entry in layout.entries() {
///     let manifest = layout.read_manifest(&entry.descriptor)?;
///     println!("{:?} {}", entry.ref_name, manifest.digest());
/// }
/// # Ok::<(), ocipull_spec::layout::LayoutError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LayoutReader {
    dir: PathBuf,
    index: ImageIndex,
}

impl LayoutReader {
    /// Opens the layout at `dir`: checks `oci-layout` and parses `index.json`.
    pub fn open(dir: impl AsRef<Path>) -> Result<LayoutReader, LayoutError> {
        let dir = dir.as_ref().to_path_buf();
        check_layout_file(&dir.join("oci-layout"))?;
        let index_path = dir.join("index.json");
        let bytes = read_limited(&index_path)?;
        let manifest = Manifest::from_bytes(bytes, Some(media_type::OCI_IMAGE_INDEX), None)
            .map_err(|source| LayoutError::InvalidManifest {
                path: index_path.clone(),
                source,
            })?;
        let index = manifest.as_index().expect("parsed as an index").clone();
        Ok(LayoutReader { dir, index })
    }

    /// The layout's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `index.json`.
    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// The entries of `index.json`, in order.
    pub fn entries(&self) -> impl Iterator<Item = LayoutEntry> + '_ {
        self.index.manifests.iter().map(|d| LayoutEntry {
            descriptor: d.clone(),
            ref_name: d.annotation(ANNOTATION_REF_NAME).map(str::to_owned),
        })
    }

    /// The path of the blob with `digest` (which may not exist).
    pub fn blob_path(&self, digest: &crate::Digest) -> PathBuf {
        blob_path(&self.dir, digest)
    }

    /// Reads and verifies the manifest or index that `descriptor` points to.
    pub fn read_manifest(&self, descriptor: &Descriptor) -> Result<Manifest, LayoutError> {
        let path = self.blob_path(&descriptor.digest);
        let bytes = read_limited(&path).map_err(|e| missing(e, descriptor, &path))?;
        if bytes.len() as u64 != descriptor.size {
            return Err(LayoutError::SizeMismatch {
                digest: descriptor.digest.clone(),
                expected: descriptor.size,
                actual: bytes.len() as u64,
            });
        }
        Manifest::from_bytes(
            bytes,
            Some(&descriptor.media_type),
            Some(&descriptor.digest),
        )
        .map_err(|source| LayoutError::InvalidManifest { path, source })
    }

    /// A streaming source for the blob `descriptor` points to, after checking that it exists
    /// with the descriptor's size. The content is verified by whoever reads it.
    pub fn blob(&self, descriptor: &Descriptor) -> Result<FileBlob, LayoutError> {
        let path = self.blob_path(&descriptor.digest);
        let blob = FileBlob::open(&path)
            .map_err(|e| missing(LayoutError::io(&path)(e), descriptor, &path))?;
        if crate::BlobSource::size(&blob) != descriptor.size {
            return Err(LayoutError::SizeMismatch {
                digest: descriptor.digest.clone(),
                expected: descriptor.size,
                actual: crate::BlobSource::size(&blob),
            });
        }
        Ok(blob)
    }
}

fn missing(err: LayoutError, descriptor: &Descriptor, path: &Path) -> LayoutError {
    match err {
        LayoutError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            LayoutError::BlobMissing {
                digest: descriptor.digest.clone(),
                path: path.to_owned(),
            }
        }
        other => other,
    }
}

pub(super) fn check_layout_file(path: &Path) -> Result<(), LayoutError> {
    let not_layout = |reason: String| LayoutError::NotALayout {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| not_layout(e.to_string()))?;
    #[derive(serde::Deserialize)]
    struct OciLayout {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    let parsed: OciLayout =
        serde_json::from_slice(&bytes).map_err(|e| not_layout(e.to_string()))?;
    if parsed.version != LAYOUT_VERSION {
        return Err(LayoutError::UnsupportedVersion {
            path: path.to_owned(),
            version: parsed.version,
        });
    }
    Ok(())
}

/// Reads a small JSON file, refusing one over [`MAX_LAYOUT_MANIFEST_SIZE`] without reading it.
pub(super) fn read_limited(path: &Path) -> Result<Vec<u8>, LayoutError> {
    let file = std::fs::File::open(path).map_err(LayoutError::io(path))?;
    let size = file.metadata().map_err(LayoutError::io(path))?.len();
    if size > MAX_LAYOUT_MANIFEST_SIZE {
        return Err(LayoutError::ManifestTooLarge {
            path: path.to_owned(),
            size,
            limit: MAX_LAYOUT_MANIFEST_SIZE,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_LAYOUT_MANIFEST_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(LayoutError::io(path))?;
    Ok(bytes)
}
