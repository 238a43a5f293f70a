//! Where blob content comes from: memory or a file, read as a stream from any offset.
//!
//! Everything here is behind the feature `layout` (it needs tokio).

use std::future::Future;
use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncSeekExt};

/// A boxed stream of blob bytes (feature `layout`).
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// A boxed future, as returned by [`BlobSource::open`] (feature `layout`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Content of one blob, readable from any offset, any number of times, concurrently
/// (feature `layout`).
///
/// Implementations must return exactly [`BlobSource::size`] bytes in total; a server uses
/// the size for `Content-Length` before reading.
pub trait BlobSource: Send + Sync + 'static {
    /// The blob's size in bytes.
    fn size(&self) -> u64;

    /// A stream of the content from `offset` to the end.
    fn open(&self, offset: u64) -> BoxFuture<'_, io::Result<BlobReader>>;

    /// The whole content, when it is already in memory, so callers can skip the stream.
    fn as_bytes(&self) -> Option<Bytes> {
        None
    }

    /// The file whose bytes `0..size` are exactly this content, when there is one, so
    /// callers that stream much of it (a server sending a layer) can read the file directly
    /// in large chunks instead of going through [`BlobSource::open`]'s reader.
    fn file_path(&self) -> Option<&Path> {
        None
    }
}

impl BlobSource for Bytes {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn open(&self, offset: u64) -> BoxFuture<'_, io::Result<BlobReader>> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let rest = self.slice(start..);
        Box::pin(async move { Ok(Box::pin(io::Cursor::new(rest)) as BlobReader) })
    }

    fn as_bytes(&self) -> Option<Bytes> {
        Some(self.clone())
    }
}

/// A blob stored in a file, streamed from disk and never read whole (feature `layout`).
#[derive(Debug, Clone)]
pub struct FileBlob {
    path: PathBuf,
    size: u64,
}

impl FileBlob {
    /// A blob for the file at `path`, whose size is read now.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<FileBlob> {
        let path = path.into();
        let size = std::fs::metadata(&path)?.len();
        Ok(FileBlob { path, size })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl BlobSource for FileBlob {
    fn size(&self) -> u64 {
        self.size
    }

    fn open(&self, offset: u64) -> BoxFuture<'_, io::Result<BlobReader>> {
        Box::pin(async move {
            let mut file = tokio::fs::File::open(&self.path).await?;
            if offset > 0 {
                file.seek(SeekFrom::Start(offset)).await?;
            }
            Ok(Box::pin(tokio::io::AsyncReadExt::take(
                file,
                self.size.saturating_sub(offset),
            )) as BlobReader)
        })
    }

    fn file_path(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn read_all(src: &dyn BlobSource, offset: u64) -> Vec<u8> {
        let mut out = Vec::new();
        src.open(offset)
            .await
            .unwrap()
            .read_to_end(&mut out)
            .await
            .unwrap();
        out
    }

    #[tokio::test]
    async fn memory_and_file_read_from_offsets() {
        let data = Bytes::from_static(b"0123456789");
        assert_eq!(read_all(&data, 4).await, b"456789");
        assert_eq!(read_all(&data, 99).await, b"");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = FileBlob::open(&path).unwrap();
        assert_eq!(file.size(), 10);
        assert_eq!(read_all(&file, 0).await, b"0123456789");
        assert_eq!(read_all(&file, 7).await, b"789");
        assert!(file.as_bytes().is_none());
        assert_eq!(file.file_path(), Some(path.as_path()));
        assert_eq!(data.file_path(), None);
    }
}
