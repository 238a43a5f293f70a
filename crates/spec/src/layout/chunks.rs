//! Writing a partial blob by ranges, out of order: each range through its own
//! [`RangeWriter`] at its offset in the partial file, recorded in the sidecar when it is
//! complete (see `ranges.rs`), and hashed once the in-order prefix reaches it.
//!
//! Why bytes go to disk at their offsets rather than wait in memory for their turn: the
//! memory a download needs then does not depend on how far ahead the other ranges are (a
//! slow first range would otherwise hold back every byte behind it), the ranges done are
//! on disk for a later run to keep, and the cost is reading the bytes back once to hash
//! them, which the page cache makes cheap next to the network. The digest is still computed
//! over the bytes in order, and [`PartialBlob::commit`] still renames only a verified blob.

use std::ops::Range;

use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _, BufWriter};

use super::writer::hash_range;
use super::{LayoutError, PartialBlob, RangeSet};

/// The write buffer of one range: small, since many ranges are written at once.
const RANGE_WRITE_BUFFER: usize = 256 * 1024;

impl PartialBlob {
    /// The byte ranges already on disk: the in-order prefix and, after a download by
    /// ranges, the ranges its sidecar records.
    pub fn completed(&self) -> RangeSet {
        match &self.ranges {
            Some(set) => set.clone(),
            None => {
                let mut set = RangeSet::new();
                set.insert(0..self.offset());
                set
            }
        }
    }

    /// The byte ranges still to download, in order.
    pub fn missing(&self) -> Vec<Range<u64>> {
        self.completed().missing(self.descriptor.size)
    }

    /// A writer for `range` of the blob, at its offset in the partial file. Several may be
    /// open at once; each reports what it wrote with [`RangeWriter::finish`], and
    /// [`PartialBlob::complete`] records it.
    pub async fn range_writer(&mut self, range: Range<u64>) -> Result<RangeWriter, LayoutError> {
        if range.end > self.descriptor.size || range.start > range.end {
            return Err(LayoutError::SizeMismatch {
                digest: self.descriptor.digest.clone(),
                expected: self.descriptor.size,
                actual: range.end,
            });
        }
        if self.ranges.is_none() {
            self.file
                .flush()
                .await
                .map_err(LayoutError::io(&self.path))?;
            self.ranges = Some(self.completed());
        }
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .await
            .map_err(LayoutError::io(&self.path))?;
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(LayoutError::io(&self.path))?;
        Ok(RangeWriter {
            path: self.path.clone(),
            digest: self.descriptor.digest.clone(),
            file: BufWriter::with_capacity(RANGE_WRITE_BUFFER, file),
            start: range.start,
            at: range.start,
            end: range.end,
        })
    }

    /// Records `range` as on disk (the range a [`RangeWriter`] wrote): the sidecar is
    /// rewritten atomically, and the bytes the in-order prefix now reaches are hashed.
    pub async fn complete(&mut self, range: Range<u64>) -> Result<(), LayoutError> {
        let size = self.descriptor.size;
        let set = self.ranges.get_or_insert_with(RangeSet::new);
        set.insert(range);
        let prefix = set.prefix();
        let snapshot = set.clone();
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || {
            super::ranges::write_sidecar(&path, size, &snapshot)
        })
        .await
        {
            Ok(result) => result?,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
        let hashed = self.verifier.len();
        if prefix > hashed {
            let file = self.file.get_mut();
            file.seek(std::io::SeekFrom::Start(hashed))
                .await
                .map_err(LayoutError::io(&self.path))?;
            hash_range(file, &mut self.verifier, prefix - hashed, &self.path).await?;
            if self.verifier.len() != prefix {
                // The file is shorter than the ranges recorded: someone truncated it.
                return Err(LayoutError::SizeMismatch {
                    digest: self.descriptor.digest.clone(),
                    expected: prefix,
                    actual: self.verifier.len(),
                });
            }
        }
        Ok(())
    }

    /// Goes back to writing in order: drops the bytes past the in-order prefix and the
    /// sidecar.
    pub(super) async fn keep_prefix_only(&mut self) -> Result<(), LayoutError> {
        let prefix = self.verifier.len();
        let io = LayoutError::io(&self.path);
        self.file.flush().await.map_err(io)?;
        let file = self.file.get_mut();
        file.set_len(prefix)
            .await
            .map_err(LayoutError::io(&self.path))?;
        file.seek(std::io::SeekFrom::Start(prefix))
            .await
            .map_err(LayoutError::io(&self.path))?;
        super::ranges::remove_sidecar(&self.path);
        self.ranges = None;
        Ok(())
    }
}

/// Writes one range of a partial blob at its offset; see [`PartialBlob::range_writer`].
#[derive(Debug)]
pub struct RangeWriter {
    path: std::path::PathBuf,
    digest: crate::Digest,
    file: BufWriter<tokio::fs::File>,
    start: u64,
    at: u64,
    end: u64,
}

impl RangeWriter {
    /// The next offset written.
    pub fn position(&self) -> u64 {
        self.at
    }

    /// Writes the next bytes of the range; more than the range holds is an error.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), LayoutError> {
        let after = self.at + bytes.len() as u64;
        if after > self.end {
            return Err(LayoutError::SizeMismatch {
                digest: self.digest.clone(),
                expected: self.end - self.start,
                actual: after - self.start,
            });
        }
        self.file
            .write_all(bytes)
            .await
            .map_err(LayoutError::io(&self.path))?;
        self.at = after;
        Ok(())
    }

    /// Flushes what was written and returns its range (all of the range asked for, or the
    /// part before a failure), for [`PartialBlob::complete`].
    pub async fn finish(mut self) -> Result<Range<u64>, LayoutError> {
        self.file
            .flush()
            .await
            .map_err(LayoutError::io(&self.path))?;
        Ok(self.start..self.at)
    }
}

#[cfg(test)]
mod tests {
    use crate::layout::{LayoutError, LayoutWriter};
    use crate::{Descriptor, Digest};

    const DATA: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

    fn desc() -> Descriptor {
        Descriptor::new(
            "application/octet-stream",
            Digest::sha256(DATA),
            DATA.len() as u64,
        )
    }

    async fn write(p: &mut crate::layout::PartialBlob, r: std::ops::Range<usize>) {
        let mut w = p.range_writer(r.start as u64..r.end as u64).await.unwrap();
        w.write(&DATA[r]).await.unwrap();
        let done = w.finish().await.unwrap();
        p.complete(done).await.unwrap();
    }

    #[tokio::test]
    async fn ranges_out_of_order_survive_a_restart_and_verify_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let w = LayoutWriter::create(dir.path()).unwrap();
        let d = desc();
        let mut p = w.partial(&d).await.unwrap();
        write(&mut p, 20..30).await;
        write(&mut p, 0..10).await;
        assert_eq!(p.offset(), 10, "hashed up to the first gap");
        drop(p); // a kill: the sidecar says what is there
        let mut p = w.partial(&d).await.unwrap();
        assert_eq!(p.offset(), 10);
        assert_eq!(p.missing(), vec![10..20, 30..36]);
        write(&mut p, 30..36).await;
        write(&mut p, 10..20).await;
        assert_eq!(p.offset(), 36);
        p.commit().await.unwrap();
        assert_eq!(std::fs::read(w.blob_path(&d.digest)).unwrap(), DATA);
        assert!(
            std::fs::read_dir(dir.path().join(".ocipull-partial"))
                .unwrap()
                .next()
                .is_none(),
            "neither partial file nor sidecar is left"
        );
    }

    #[tokio::test]
    async fn writing_in_order_after_ranges_keeps_only_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let w = LayoutWriter::create(dir.path()).unwrap();
        let d = desc();
        let mut p = w.partial(&d).await.unwrap();
        write(&mut p, 0..5).await;
        write(&mut p, 20..30).await;
        p.write(&DATA[5..]).await.unwrap();
        p.commit().await.unwrap();
        w.verify_blob(&d).await.unwrap();
    }

    #[tokio::test]
    async fn a_sidecar_that_cannot_be_trusted_starts_the_blob_over() {
        let dir = tempfile::tempdir().unwrap();
        let w = LayoutWriter::create(dir.path()).unwrap();
        let d = desc();
        let mut p = w.partial(&d).await.unwrap();
        write(&mut p, 0..10).await;
        drop(p);
        let partial = dir
            .path()
            .join(".ocipull-partial")
            .join(format!("sha256-{}", d.digest.encoded()));
        let sidecar = partial.with_file_name(format!("sha256-{}.ranges", d.digest.encoded()));
        // Claims bytes the file does not hold.
        std::fs::write(&sidecar, "ocipull-ranges 1 36\n0 30\n").unwrap();
        let p = w.partial(&d).await.unwrap();
        assert_eq!(p.offset(), 0);
        assert_eq!(p.missing(), vec![0..36]);
        assert!(!sidecar.exists());
        assert_eq!(std::fs::metadata(&partial).unwrap().len(), 0);
    }

    #[tokio::test]
    async fn a_range_writer_stays_within_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let w = LayoutWriter::create(dir.path()).unwrap();
        let mut p = w.partial(&desc()).await.unwrap();
        let mut rw = p.range_writer(0..4).await.unwrap();
        let err = rw.write(b"12345").await.unwrap_err();
        assert!(matches!(err, LayoutError::SizeMismatch { .. }), "{err:?}");
        assert!(p.range_writer(30..40).await.is_err());
    }
}
