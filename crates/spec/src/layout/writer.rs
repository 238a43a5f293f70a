use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::{
    ANNOTATION_REF_NAME, LAYOUT_VERSION, LOCK_FILE, LayoutError, MAX_LAYOUT_MANIFEST_SIZE,
    blob_path,
};
use crate::{Descriptor, DigestVerifier, ImageIndex, Manifest, media_type};

/// Where partially downloaded blobs wait, relative to the layout directory. It is outside
/// `blobs/` so that nothing unverified is ever visible as a blob.
const PARTIAL_DIR: &str = ".ocipull-partial";

/// Size of the write buffer in front of a blob file: large writes keep the number of
/// blocking-pool hops per megabyte low.
const WRITE_BUFFER: usize = 1 << 20;

/// How long a writer waits before trying again for a partial file another writer holds.
const PARTIAL_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Writes an OCI image layout (image-spec "OCI Image Layout Specification"): verified
/// blobs, then `index.json`.
///
/// Every file appears atomically: content goes to a temporary file in the layout, is
/// verified against its descriptor, flushed to disk (`fsync`), and only then renamed into
/// place. A failed or interrupted write leaves no unverified blob behind.
///
/// # File modes
///
/// Every file gets the mode any program's new file would get: `0666` less the process's
/// umask (`0644` under the usual umask 022), and directories `0777` less the umask. The
/// temporary files are opened with mode `0666`, which the kernel narrows by the umask as
/// it does for every `open`; the mode survives the rename. So the umask is never read (and
/// never changed), and a layout pulled by one user can be read by another, as skopeo,
/// podman or umoci run as a different user expect.
///
/// # Sharing a layout
///
/// Several writers (threads or processes) may write one layout at once. `index.json` is
/// changed only under an exclusive OS file lock on [`LOCK_FILE`](super::LOCK_FILE) in the
/// layout: each change re-reads the file under the lock, merges its entry, and writes the
/// result atomically, so no writer's entry is lost. The OS releases the lock when the
/// process exits, even when it is killed. A partial download is locked the same way, so
/// only one writer appends to it; another waits, then finds the blob in place.
///
/// ```
/// use ocipull_spec::{Descriptor, Digest, layout::{LayoutReader, LayoutWriter}};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let writer = LayoutWriter::create(dir.path())?;
/// let data = b"hello";
/// let desc = Descriptor::new("application/octet-stream", Digest::sha256(data), 5);
/// writer.write_blob_bytes(&desc, data)?;
/// assert!(writer.has_blob(&desc));
/// let bad = Descriptor::new("application/octet-stream", Digest::sha256(b"other"), 5);
/// assert!(writer.write_blob_bytes(&bad, data).is_err());
/// assert!(!writer.has_blob(&bad));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LayoutWriter {
    dir: PathBuf,
    index: Mutex<ImageIndex>,
}

impl LayoutWriter {
    /// Opens the layout at `dir` for writing, creating the directory, `oci-layout` and an
    /// empty index when they do not exist. An existing layout keeps its `index.json` entries.
    ///
    /// The check and the creation happen under the layout's lock, so two writers creating
    /// one layout at once never overwrite each other's `index.json`.
    pub fn create(dir: impl AsRef<Path>) -> Result<LayoutWriter, LayoutError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(dir.join("blobs")).map_err(LayoutError::io(&dir))?;
        let _lock = lock_layout(&dir)?;
        if !dir.join("oci-layout").exists() {
            let layout = format!("{{\"imageLayoutVersion\":\"{LAYOUT_VERSION}\"}}");
            write_atomically(&dir, "oci-layout", layout.as_bytes())?;
        }
        super::reader::check_layout_file(&dir.join("oci-layout"))?;
        let index = match read_index(&dir)? {
            Some(index) => index,
            None => {
                let index = ImageIndex::empty();
                write_index_file(&dir, &index)?;
                index
            }
        };
        Ok(LayoutWriter {
            dir,
            index: Mutex::new(index),
        })
    }

    /// The layout's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the blob with `digest`.
    pub fn blob_path(&self, digest: &crate::Digest) -> PathBuf {
        blob_path(&self.dir, digest)
    }

    /// Whether the blob is present with the descriptor's size. Blobs only appear after
    /// verification, so a present blob of the right size was verified when it was written;
    /// use [`LayoutWriter::verify_blob`] to hash it again.
    pub fn has_blob(&self, descriptor: &Descriptor) -> bool {
        std::fs::metadata(self.blob_path(&descriptor.digest))
            .is_ok_and(|m| m.is_file() && m.len() == descriptor.size)
    }

    /// Hashes a present blob again and checks it against its descriptor.
    pub async fn verify_blob(&self, descriptor: &Descriptor) -> Result<(), LayoutError> {
        let path = self.blob_path(&descriptor.digest);
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(LayoutError::io(&path))?;
        let mut verifier = descriptor.digest.verifier();
        hash_into(&mut file, &mut verifier, &path).await?;
        check_size(descriptor, verifier.len())?;
        Ok(verifier.finish()?)
    }

    /// Writes a blob that is already in memory (a manifest, a config).
    pub fn write_blob_bytes(
        &self,
        descriptor: &Descriptor,
        bytes: &[u8],
    ) -> Result<(), LayoutError> {
        check_size(descriptor, bytes.len() as u64)?;
        let mut verifier = descriptor.digest.verifier();
        verifier.update(bytes);
        verifier.finish()?;
        let path = self.blob_path(&descriptor.digest);
        let parent = path.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(parent).map_err(LayoutError::io(parent))?;
        write_atomically(parent, descriptor.digest.encoded(), bytes)
    }

    /// Streams a blob from `reader`, verifying size and digest before it appears.
    pub async fn write_blob<R: AsyncRead + Unpin>(
        &self,
        descriptor: &Descriptor,
        mut reader: R,
    ) -> Result<(), LayoutError> {
        let mut partial = self.partial(descriptor).await?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .map_err(LayoutError::io(&partial.path))?;
            if n == 0 {
                break;
            }
            partial.write(&buf[..n]).await?;
        }
        partial.commit().await
    }

    /// Opens (or resumes) the partial download of a blob.
    ///
    /// Bytes kept from an earlier, interrupted download are hashed again, so
    /// [`PartialBlob::offset`] says where to resume (e.g. with an HTTP `Range`).
    ///
    /// The partial file of a digest belongs to one writer at a time: it is held with an
    /// exclusive OS file lock until the [`PartialBlob`] is committed, discarded or dropped.
    /// While another writer (in this process or another) holds it, this waits; the blob
    /// may then be in place already (see [`LayoutWriter::has_blob`]), and the partial file
    /// returned is a fresh, empty one.
    pub async fn partial(&self, descriptor: &Descriptor) -> Result<PartialBlob, LayoutError> {
        let dir = self.dir.join(PARTIAL_DIR);
        let d = &descriptor.digest;
        let path = dir.join(format!("{}-{}", d.algorithm(), d.encoded()));
        let mut file = loop {
            if let Some(file) = open_partial(&dir, &path)? {
                break tokio::fs::File::from_std(file);
            }
            tokio::time::sleep(PARTIAL_POLL).await;
        };
        let mut verifier = d.verifier();
        let len = file.metadata().await.map_err(LayoutError::io(&path))?.len();
        // A download in ranges left a sidecar naming what is complete; without one, the
        // file is a prefix of the blob (appended in order).
        let ranges = match super::ranges::read_sidecar(&path, descriptor.size, len) {
            Ok(ranges) => ranges,
            Err(()) => {
                // A sidecar that cannot be trusted: nothing in the file can be either.
                file.set_len(0).await.map_err(LayoutError::io(&path))?;
                super::ranges::remove_sidecar(&path);
                None
            }
        };
        let kept = match &ranges {
            Some(ranges) => ranges.prefix(),
            None => len,
        };
        if kept > descriptor.size {
            // Longer than the blob can be: not a prefix of it.
            file.set_len(0).await.map_err(LayoutError::io(&path))?;
        } else if kept > 0 {
            hash_range(&mut file, &mut verifier, kept, &path).await?;
        }
        file.seek(std::io::SeekFrom::Start(verifier.len()))
            .await
            .map_err(LayoutError::io(&path))?;
        Ok(PartialBlob {
            descriptor: descriptor.clone(),
            final_path: self.blob_path(d),
            path,
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            verifier,
            ranges,
        })
    }

    /// Adds `descriptor` to `index.json`, named `ref_name` when given, and writes the index.
    /// An entry with the same name is replaced (the name moves, as a tag does); an unnamed
    /// entry replaces an unnamed one with the same digest.
    pub fn add_manifest(
        &self,
        descriptor: &Descriptor,
        ref_name: Option<&str>,
    ) -> Result<(), LayoutError> {
        let _lock = lock_layout(&self.dir)?;
        // Another writer may have changed the file since: merge into what is there now.
        let mut index = read_index(&self.dir)?.unwrap_or_else(ImageIndex::empty);
        {
            let mut entry = descriptor.clone();
            if let Some(name) = ref_name {
                entry
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(ANNOTATION_REF_NAME.to_owned(), name.to_owned());
            }
            index
                .manifests
                .retain(|d| match (ref_name, d.annotation(ANNOTATION_REF_NAME)) {
                    (Some(name), Some(existing)) => name != existing,
                    (None, None) => d.digest != descriptor.digest,
                    _ => true,
                });
            index.manifests.push(entry);
        }
        write_index_file(&self.dir, &index)?;
        *self.index.lock().unwrap_or_else(|p| p.into_inner()) = index;
        // The partial directory is only scaffolding; drop it once it is empty.
        let _ = std::fs::remove_dir(self.dir.join(PARTIAL_DIR));
        Ok(())
    }

    /// A copy of the index as this writer last read or wrote it (other writers of the
    /// layout may have added entries since).
    pub fn index(&self) -> ImageIndex {
        self.index.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Takes the layout's exclusive lock, waiting for other writers; released when the
/// returned file is dropped (or the process exits).
fn lock_layout(dir: &Path) -> Result<std::fs::File, LayoutError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(LayoutError::io(&path))?;
    fs4::FileExt::lock(&file).map_err(LayoutError::io(&path))?;
    Ok(file)
}

/// `index.json` as it is on disk now, or `None` when there is none.
fn read_index(dir: &Path) -> Result<Option<ImageIndex>, LayoutError> {
    let path = dir.join("index.json");
    if !path.exists() {
        return Ok(None);
    }
    let bytes = super::reader::read_limited(&path)?;
    let manifest =
        Manifest::from_bytes(bytes, Some(media_type::OCI_IMAGE_INDEX), None).map_err(|source| {
            LayoutError::InvalidManifest {
                path: path.clone(),
                source,
            }
        })?;
    match manifest.as_index() {
        Some(index) => Ok(Some(index.clone())),
        None => Err(LayoutError::NotALayout {
            path,
            reason: "index.json is not an image index".to_owned(),
        }),
    }
}

fn write_index_file(dir: &Path, index: &ImageIndex) -> Result<(), LayoutError> {
    // An ImageIndex is plain data with string keys: serialising it cannot fail.
    let json = serde_json::to_vec(index).map_err(|e| LayoutError::Io {
        path: dir.join("index.json"),
        source: std::io::Error::other(e),
    })?;
    debug_assert!(json.len() as u64 <= MAX_LAYOUT_MANIFEST_SIZE);
    write_atomically(dir, "index.json", &json)
}

/// Opens and locks the partial file at `path`: `None` while another writer holds it.
///
/// After the lock is taken, the file must still be the one at `path`: a writer that held
/// it may have renamed it into `blobs/` (or deleted it) meanwhile, and bytes appended to
/// that file would go to a finished blob. Then the file is opened anew.
fn open_partial(dir: &Path, path: &Path) -> Result<Option<std::fs::File>, LayoutError> {
    for _ in 0..8 {
        // Another writer drops the (empty) partial directory when it finishes a pull.
        std::fs::create_dir_all(dir).map_err(LayoutError::io(dir))?;
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(LayoutError::io(path)(e)),
        };
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => return Ok(None),
            Err(fs4::TryLockError::Error(e)) => return Err(LayoutError::io(path)(e)),
        }
        if same_file(&file, path) {
            return Ok(Some(file));
        }
    }
    // Renamed away eight times in a row: let the caller wait and try again.
    Ok(None)
}

/// Whether `file` is still the file at `path`.
#[cfg(unix)]
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `file` is still the file at `path` (elsewhere a file that is open cannot be
/// renamed, so it always is).
#[cfg(not(unix))]
fn same_file(_file: &std::fs::File, path: &Path) -> bool {
    path.exists()
}

/// A blob being downloaded into a layout; see [`LayoutWriter::partial`].
#[derive(Debug)]
pub struct PartialBlob {
    pub(super) descriptor: Descriptor,
    final_path: PathBuf,
    pub(super) path: PathBuf,
    pub(super) file: BufWriter<tokio::fs::File>,
    /// Hashes the in-order prefix: its length is the prefix's.
    pub(super) verifier: DigestVerifier,
    /// The complete ranges, once the download went by ranges (see `chunks.rs`); `None`
    /// while the file is a prefix written in order.
    pub(super) ranges: Option<super::RangeSet>,
}

impl PartialBlob {
    /// How many bytes are already there: where the download continues.
    pub fn offset(&self) -> u64 {
        self.verifier.len()
    }

    /// The descriptor being written.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// Appends the next bytes. More bytes than the descriptor's size is an error, and the
    /// partial file is discarded.
    ///
    /// After a download by ranges ([`PartialBlob::range_writer`]), the first write goes
    /// back to writing in order: the bytes past the in-order prefix are dropped.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), LayoutError> {
        if self.ranges.is_some() {
            self.keep_prefix_only().await?;
        }
        let after = self.verifier.len() + bytes.len() as u64;
        if after > self.descriptor.size {
            let err = LayoutError::SizeMismatch {
                digest: self.descriptor.digest.clone(),
                expected: self.descriptor.size,
                actual: after,
            };
            let _ = tokio::fs::remove_file(&self.path).await;
            super::ranges::remove_sidecar(&self.path);
            return Err(err);
        }
        self.verifier.update(bytes);
        self.file
            .write_all(bytes)
            .await
            .map_err(LayoutError::io(&self.path))
    }

    /// Flushes what was written, keeping it for a later resume.
    pub async fn flush(&mut self) -> Result<(), LayoutError> {
        self.file.flush().await.map_err(LayoutError::io(&self.path))
    }

    /// Verifies size and digest, flushes the file to disk and renames it into `blobs/`.
    ///
    /// Too few bytes keeps the partial file for a later resume; a digest mismatch deletes it.
    pub async fn commit(mut self) -> Result<(), LayoutError> {
        self.flush().await?;
        check_size(&self.descriptor, self.verifier.len())?;
        if let Err(mismatch) = self.verifier.finish() {
            let _ = tokio::fs::remove_file(&self.path).await;
            super::ranges::remove_sidecar(&self.path);
            return Err(mismatch.into());
        }
        // The sidecar goes first: a complete partial file without one is still read
        // correctly (as a prefix), a sidecar without its file would not be.
        if self.ranges.is_some() {
            super::ranges::remove_sidecar(&self.path);
        }
        let file = self.file.into_inner();
        file.sync_all().await.map_err(LayoutError::io(&self.path))?;
        // The file stays open (and locked) until it is renamed: a writer waiting for the
        // lock must not find it still at the partial path.
        let parent = self
            .final_path
            .parent()
            .expect("blob paths have a parent")
            .to_owned();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(LayoutError::io(&parent))?;
        tokio::fs::rename(&self.path, &self.final_path)
            .await
            .map_err(LayoutError::io(&self.final_path))?;
        drop(file);
        sync_dir(&parent)
    }

    /// Deletes the partial file.
    pub async fn discard(self) {
        super::ranges::remove_sidecar(&self.path);
        let _ = tokio::fs::remove_file(&self.path).await;
        drop(self.file);
    }
}

fn check_size(descriptor: &Descriptor, actual: u64) -> Result<(), LayoutError> {
    if actual != descriptor.size {
        return Err(LayoutError::SizeMismatch {
            digest: descriptor.digest.clone(),
            expected: descriptor.size,
            actual,
        });
    }
    Ok(())
}

async fn hash_into(
    file: &mut tokio::fs::File,
    verifier: &mut DigestVerifier,
    path: &Path,
) -> Result<(), LayoutError> {
    hash_range(file, verifier, u64::MAX, path).await
}

/// Hashes the next `limit` bytes of `file` (or up to its end) from where it stands.
pub(super) async fn hash_range(
    file: &mut tokio::fs::File,
    verifier: &mut DigestVerifier,
    limit: u64,
    path: &Path,
) -> Result<(), LayoutError> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = limit;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file
            .read(&mut buf[..want])
            .await
            .map_err(LayoutError::io(path))?;
        if n == 0 {
            return Ok(());
        }
        verifier.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

/// Writes `dir/name` through a temporary file in `dir`, fsynced before the rename.
pub(super) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LayoutError> {
    let target = dir.join(name);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    // The mode of any new file: 0666 narrowed by the umask (see "File modes" above);
    // tempfile's own default is 0600, which the rename would keep.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(LayoutError::io(dir))?;
    tmp.write_all(bytes).map_err(LayoutError::io(tmp.path()))?;
    tmp.as_file()
        .sync_all()
        .map_err(LayoutError::io(tmp.path()))?;
    tmp.persist(&target).map_err(|e| LayoutError::Io {
        path: target.clone(),
        source: e.error,
    })?;
    sync_dir(dir)
}

/// Makes a rename durable by syncing the directory that holds it.
fn sync_dir(dir: &Path) -> Result<(), LayoutError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LayoutError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;
    use crate::layout::LayoutReader;

    fn desc(data: &[u8]) -> Descriptor {
        Descriptor::new(
            "application/octet-stream",
            Digest::sha256(data),
            data.len() as u64,
        )
    }

    #[tokio::test]
    async fn wrong_content_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let w = LayoutWriter::create(dir.path()).unwrap();
        let d = desc(b"expected content");
        let err = w
            .write_blob(&d, &b"corrupt content!"[..])
            .await
            .unwrap_err();
        assert!(matches!(err, LayoutError::Digest(_)), "{err:?}");
        assert!(!w.blob_path(&d.digest).exists());
        assert!(
            !dir.path()
                .join(PARTIAL_DIR)
                .join(format!("sha256-{}", d.digest.encoded()))
                .exists()
        );
        let err = w
            .write_blob(&d, &b"too long content here"[..])
            .await
            .unwrap_err();
        assert!(matches!(err, LayoutError::SizeMismatch { .. }), "{err:?}");
        assert!(!w.blob_path(&d.digest).exists());
    }

    #[tokio::test]
    async fn partial_download_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let w = LayoutWriter::create(dir.path()).unwrap();
        let data = b"0123456789abcdef";
        let d = desc(data);
        let mut p = w.partial(&d).await.unwrap();
        p.write(&data[..6]).await.unwrap();
        // Interrupted: too few bytes keep the partial file.
        assert!(matches!(
            p.commit().await,
            Err(LayoutError::SizeMismatch { actual: 6, .. })
        ));
        assert!(!w.has_blob(&d));
        let mut p = w.partial(&d).await.unwrap();
        assert_eq!(p.offset(), 6);
        p.write(&data[6..]).await.unwrap();
        p.commit().await.unwrap();
        assert!(w.has_blob(&d));
        w.verify_blob(&d).await.unwrap();
        assert_eq!(std::fs::read(w.blob_path(&d.digest)).unwrap(), data);
    }

    #[tokio::test]
    async fn index_round_trips_through_reader() {
        let dir = tempfile::tempdir().unwrap();
        let w = LayoutWriter::create(dir.path()).unwrap();
        let d = desc(b"m");
        w.add_manifest(&d, Some("v1")).unwrap();
        w.add_manifest(&desc(b"n"), Some("v1")).unwrap();
        w.add_manifest(&d, Some("v2")).unwrap();
        let r = LayoutReader::open(dir.path()).unwrap();
        let names: Vec<_> = r
            .entries()
            .map(|e| (e.ref_name.unwrap(), e.descriptor.digest))
            .collect();
        assert_eq!(
            names,
            vec![
                ("v1".into(), Digest::sha256(b"n")),
                ("v2".into(), d.digest.clone())
            ]
        );
        // Reopening keeps the entries.
        let again = LayoutWriter::create(dir.path()).unwrap();
        assert_eq!(again.index().manifests.len(), 2);
    }
}
