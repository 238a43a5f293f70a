//! A byte range of a file as a stream of large [`Bytes`] chunks, read on tokio's blocking
//! pool one chunk ahead of the one being sent.
//!
//! Blob answers are where a registry spends its time. Going through `tokio::fs::File` and a
//! `ReaderStream` costs two copies per byte before the socket (page cache into tokio's buffer,
//! that buffer into the stream's) and one blocking-pool hop per 256 KiB. Here each chunk is
//! read from the page cache straight into the buffer that becomes the body frame (one copy;
//! hyper writes the frame to the socket as it is), and a hop moves [`FILE_CHUNK`] bytes.
//! While hyper writes one chunk, the next is being read, so file and socket work overlap.
//! Each response reuses a few buffers ([`POOL_BUFFERS`]) instead of allocating one per
//! chunk: fresh memory costs a page fault per 4 KiB, more than the copy itself.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::task::JoinHandle;

/// Bytes read per blocking-pool job and sent as one body frame. Large enough that the hop
/// to the blocking pool and the frame's bookkeeping are negligible next to copying the bytes;
/// small enough that eight concurrent downloads, each holding [`POOL_BUFFERS`] of them, stay
/// far below the server's 64 MiB memory budget (issue 5).
const FILE_CHUNK: usize = 1 << 20;

/// Buffers one response keeps for reuse: the chunk hyper is writing, the one being read, and
/// one spare for a chunk hyper has not dropped yet. More would only be memory.
const POOL_BUFFERS: usize = 3;

/// `len` bytes of the file at `path` from `start`, as chunks of at most [`FILE_CHUNK`].
///
/// The file is opened on the blocking pool when the body is first polled. A file shorter
/// than the range ends the stream with [`io::ErrorKind::UnexpectedEof`], which makes hyper
/// abort the connection instead of sending fewer bytes than `Content-Length` promised.
pub(crate) fn file_chunks(path: &Path, start: u64, len: u64) -> FileChunks {
    FileChunks {
        start,
        len,
        requested: 0,
        reader: Some(Reader {
            path: Arc::from(path),
            file: None,
            pool: Vec::new(),
        }),
        job: None,
        failed: false,
    }
}

/// The stream [`file_chunks`] returns.
pub(crate) struct FileChunks {
    /// Offset in the file of the range's first byte.
    start: u64,
    /// The range's length.
    len: u64,
    /// Range bytes asked of jobs so far.
    requested: u64,
    /// The reader, between jobs.
    reader: Option<Reader>,
    /// The read in flight, if any.
    job: Option<Job>,
    /// Set after an error: the stream is over.
    failed: bool,
}

/// What a read job hands back: the reader (for the next chunk) and the chunk.
type Job = JoinHandle<(Reader, io::Result<Bytes>)>;

/// The state a read job needs, moved into the job and back out.
struct Reader {
    path: Arc<Path>,
    /// The file, once opened.
    file: Option<File>,
    /// Buffers of earlier chunks, read into again once hyper has dropped their chunk.
    pool: Vec<BytesMut>,
}

impl Reader {
    /// Reads `n` bytes at `offset` of the file, opening it first if need be.
    fn read(&mut self, offset: u64, n: usize) -> io::Result<Bytes> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(File::open(&self.path)?),
        };
        let mut buf = match self.pool.iter_mut().position(|b| b.try_reclaim(n)) {
            Some(i) => self.pool.swap_remove(i),
            None => BytesMut::with_capacity(n),
        };
        // Zeroing a reused buffer is cheap next to the copy; safe code cannot read into
        // uninitialised memory.
        buf.resize(n, 0);
        let read = file.read_exact_at(&mut buf, offset);
        let chunk = buf.split().freeze();
        if self.pool.len() < POOL_BUFFERS {
            self.pool.push(buf);
        }
        read.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "reading bytes {offset}..{} of {}: {e}",
                    offset + n as u64,
                    self.path.display()
                ),
            )
        })?;
        Ok(chunk)
    }
}

impl FileChunks {
    /// Starts the job reading the next chunk, unless the whole range has been asked for.
    fn start_next(&mut self) {
        let want = self.len - self.requested;
        if want == 0 {
            return;
        }
        let Some(mut reader) = self.reader.take() else {
            return;
        };
        let n = usize::try_from(want).map_or(FILE_CHUNK, |w| w.min(FILE_CHUNK));
        let offset = self.start + self.requested;
        self.requested += n as u64;
        self.job = Some(tokio::task::spawn_blocking(move || {
            let chunk = reader.read(offset, n);
            (reader, chunk)
        }));
    }
}

impl Stream for FileChunks {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        if this.job.is_none() {
            this.start_next();
        }
        let Some(job) = this.job.as_mut() else {
            return Poll::Ready(None);
        };
        let done = ready!(Pin::new(job).poll(cx));
        this.job = None;
        let chunk = done.map_err(io::Error::other).and_then(|(reader, chunk)| {
            this.reader = Some(reader);
            chunk
        });
        match chunk {
            Ok(chunk) => {
                // Read ahead: the next chunk is read while hyper sends this one.
                this.start_next();
                Poll::Ready(Some(Ok(chunk)))
            }
            Err(e) => {
                this.failed = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

impl std::fmt::Debug for FileChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileChunks")
            .field("start", &self.start)
            .field("len", &self.len)
            .field("requested", &self.requested)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    async fn collect(path: &Path, start: u64, len: u64) -> io::Result<Vec<Bytes>> {
        file_chunks(path, start, len).try_collect().await
    }

    #[tokio::test]
    async fn ranges_across_chunks_read_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data = pattern(2 * FILE_CHUNK + 1000);
        std::fs::write(&path, &data).unwrap();

        let chunks = collect(&path, 0, data.len() as u64).await.unwrap();
        assert_eq!(
            chunks.iter().map(Bytes::len).collect::<Vec<_>>(),
            [FILE_CHUNK, FILE_CHUNK, 1000]
        );
        assert_eq!(chunks.concat(), data);

        let start = FILE_CHUNK - 10;
        let chunks = collect(&path, start as u64, FILE_CHUNK as u64 + 20)
            .await
            .unwrap();
        assert_eq!(chunks.concat(), &data[start..start + FILE_CHUNK + 20]);

        assert!(collect(&path, 5, 0).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_short_or_missing_file_ends_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, pattern(FILE_CHUNK + 10)).unwrap();
        let mut stream = file_chunks(&path, 0, FILE_CHUNK as u64 + 20);
        assert_eq!(stream.try_next().await.unwrap().unwrap().len(), FILE_CHUNK);
        let err = stream.try_next().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("blob"), "{err}");
        assert!(stream.try_next().await.unwrap().is_none());

        let missing = collect(&dir.path().join("gone"), 0, 1).await.unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
