//! Bodies read from a [`BlobSource`]: one range, or several as `multipart/byteranges`
//! (RFC 9110 §14.6).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use http_body::Frame;
use http_body_util::StreamBody;
use ocipull_spec::BlobSource;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::Body;
use super::file_chunks::file_chunks;
use crate::http_util::range::ByteRange;

/// Bytes read per chunk from a [`BlobSource`] that is not a plain file (files are read in
/// larger chunks, see `file_chunks`). Large reads keep syscalls and frames few; 256 KiB
/// matches the layout writer's buffer.
const READ_BUFFER: usize = 256 * 1024;

type Chunks = BoxStream<'static, std::io::Result<Bytes>>;

/// `len` bytes of `source` from `start`. In-memory content is sliced, never copied.
pub(crate) fn range_body(source: Arc<dyn BlobSource>, start: u64, len: u64) -> Body {
    if let Some(bytes) = source.as_bytes() {
        return Body::full(slice(&bytes, start, len));
    }
    frames(chunks(source, start, len))
}

/// A `multipart/byteranges` body with `boundary`; returns it with its exact length.
pub(crate) fn multipart_body(
    source: Arc<dyn BlobSource>,
    ranges: &[ByteRange],
    boundary: &str,
    content_type: &str,
) -> (Body, u64) {
    let size = source.size();
    let mut parts: Vec<Chunks> = Vec::new();
    let mut total = 0u64;
    for (i, r) in ranges.iter().enumerate() {
        // Each part after the first starts on a new line (RFC 2046 §5.1.1: the CRLF before
        // a boundary belongs to the boundary).
        let head = format!(
            "{}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" },
            r.content_range(size)
        );
        total += head.len() as u64 + r.len();
        parts.push(stream::once(async move { Ok(Bytes::from(head)) }).boxed());
        parts.push(match source.as_bytes() {
            Some(bytes) => {
                let part = slice(&bytes, r.start, r.len());
                stream::once(async move { Ok(part) }).boxed()
            }
            None => chunks(source.clone(), r.start, r.len()),
        });
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    total += tail.len() as u64;
    parts.push(stream::once(async move { Ok(Bytes::from(tail)) }).boxed());
    (frames(stream::iter(parts).flatten().boxed()), total)
}

fn slice(bytes: &Bytes, start: u64, len: u64) -> Bytes {
    let start = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
    bytes.slice(start..end.min(bytes.len()))
}

/// The range's bytes: read straight from the file when the source is one, through the
/// source's reader otherwise.
fn chunks(source: Arc<dyn BlobSource>, start: u64, len: u64) -> Chunks {
    if let Some(path) = source.file_path() {
        return file_chunks(path, start, len).boxed();
    }
    stream::once(async move { source.open(start).await })
        .map_ok(move |reader| ReaderStream::with_capacity(reader.take(len), READ_BUFFER))
        .try_flatten()
        .boxed()
}

fn frames(chunks: Chunks) -> Body {
    Body::new(StreamBody::new(chunks.map_ok(Frame::data)))
}
