//! The settings of parallel chunked downloads, and their defaults in one place.

/// Blobs larger than this are downloaded in chunks, by default (64 MiB).
///
/// A blob must be several chunks long before parallel requests pay for their extra round
/// trips, and a chunk must be long enough that each connection spends most of its time
/// streaming: on a link of 50 MB/s per connection 20 ms away, 16 MiB chunks beat 4 MiB and
/// 64 MiB ones (README, "Large blobs in parallel chunks", has the figures). A
/// CDN or object store that caps each connection (commonly 10–100 MB/s) then sees at most
/// [`DEFAULT_CHUNKS_PER_BLOB`] range requests in flight for one blob and
/// [`DEFAULT_CHUNKS_PER_PULL`] for one pull.
pub const DEFAULT_CHUNK_THRESHOLD: u64 = 64 * 1024 * 1024;

/// Bytes asked for in one `Range` request, by default (16 MiB).
pub const DEFAULT_CHUNK_SIZE: u64 = 16 * 1024 * 1024;

/// Chunks of one blob downloaded at once, by default.
pub const DEFAULT_CHUNKS_PER_BLOB: usize = 8;

/// Chunks downloaded at once across all the blobs of one pull, by default.
pub const DEFAULT_CHUNKS_PER_PULL: usize = 16;

/// A connection this fast needs no chunks, by default (200 MB/s): the first chunk's first
/// [`PROBE_SAMPLE`] bytes are timed, and a blob that comes faster on one connection is read
/// on that connection to its end. Chunks are for links that cap each connection (CDNs and
/// object stores commonly give 10–100 MB/s); above this rate the client's own work — the
/// chunked path writes each chunk at its offset and reads it back to hash the blob in
/// order — costs more than parallel connections bring: on loopback a 128 MiB layer took
/// 368 MB/s chunked against 482 MB/s on one connection.
pub const DEFAULT_SINGLE_CONNECTION_ABOVE: u64 = 200_000_000;

/// Bytes of the first chunk timed to tell a fast connection (4 MiB, or the chunk if shorter).
pub const PROBE_SAMPLE: u64 = 4 * 1024 * 1024;

/// How [`Client::pull`](crate::Client::pull) splits a large blob into parallel `Range`
/// requests (RFC 9110 §14.2), set with
/// [`PullOptions::chunking`](crate::PullOptions::chunking).
///
/// A blob larger than [`Chunking::threshold`] (and than one chunk) starts with a request
/// for its first chunk. Only when the registry answers `206 Partial Content` are the other
/// chunks requested, [`Chunking::per_blob`] at a time (and [`Chunking::per_pull`] at a time
/// over the whole pull); a registry that answers `200` gets the whole blob read on that one
/// connection, as without chunking. Each chunk retries and resumes on its own, follows the
/// registry's redirect anew (so a CDN's signed URL is fresh for each), and is recorded on
/// disk when complete, so an interrupted pull fetches only the chunks it lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunking {
    threshold: u64,
    chunk_size: u64,
    per_blob: usize,
    per_pull: usize,
    single_connection_above: Option<u64>,
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking {
            threshold: DEFAULT_CHUNK_THRESHOLD,
            chunk_size: DEFAULT_CHUNK_SIZE,
            per_blob: DEFAULT_CHUNKS_PER_BLOB,
            per_pull: DEFAULT_CHUNKS_PER_PULL,
            single_connection_above: Some(DEFAULT_SINGLE_CONNECTION_ABOVE),
        }
    }
}

impl Chunking {
    /// The defaults: [`DEFAULT_CHUNK_THRESHOLD`], [`DEFAULT_CHUNK_SIZE`],
    /// [`DEFAULT_CHUNKS_PER_BLOB`], [`DEFAULT_CHUNKS_PER_PULL`].
    pub fn new() -> Chunking {
        Chunking::default()
    }

    /// No chunking: every blob is one request (resumed with `Range` after a failure).
    pub fn off() -> Chunking {
        Chunking {
            threshold: u64::MAX,
            ..Chunking::default()
        }
    }

    /// Blobs larger than this many bytes are chunked.
    pub fn threshold(mut self, bytes: u64) -> Chunking {
        self.threshold = bytes;
        self
    }

    /// Bytes per chunk; 0 counts as 1.
    pub fn chunk_size(mut self, bytes: u64) -> Chunking {
        self.chunk_size = bytes.max(1);
        self
    }

    /// Chunks of one blob in flight at once; 0 counts as 1.
    pub fn per_blob(mut self, n: usize) -> Chunking {
        self.per_blob = n.max(1);
        self
    }

    /// Chunks in flight at once over a whole pull; 0 counts as 1.
    pub fn per_pull(mut self, n: usize) -> Chunking {
        self.per_pull = n.max(1);
        self
    }

    /// When the first chunk arrives at this many bytes per second or faster, the blob is
    /// read on that one connection instead of in chunks; `None` always chunks. Default is
    /// [`DEFAULT_SINGLE_CONNECTION_ABOVE`].
    pub fn single_connection_above(mut self, bytes_per_second: Option<u64>) -> Chunking {
        self.single_connection_above = bytes_per_second;
        self
    }

    /// See [`Chunking::single_connection_above`].
    pub fn get_single_connection_above(&self) -> Option<u64> {
        self.single_connection_above
    }

    /// The size above which blobs are chunked.
    pub fn get_threshold(&self) -> u64 {
        self.threshold
    }

    /// Bytes per chunk.
    pub fn get_chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// Chunks of one blob in flight at once.
    pub fn get_per_blob(&self) -> usize {
        self.per_blob
    }

    /// Chunks in flight at once over a whole pull.
    pub fn get_per_pull(&self) -> usize {
        self.per_pull
    }

    /// Whether a blob of `size` bytes is downloaded in chunks.
    pub fn applies_to(&self, size: u64) -> bool {
        size > self.threshold && size > self.chunk_size
    }

    /// `range` cut into chunks of at most [`Chunking::get_chunk_size`] bytes.
    pub(crate) fn split(&self, range: std::ops::Range<u64>) -> Vec<std::ops::Range<u64>> {
        let mut out = Vec::new();
        let mut at = range.start;
        while at < range.end {
            let end = range.end.min(at.saturating_add(self.chunk_size));
            out.push(at..end);
            at = end;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_cut_into_chunks_and_small_blobs_are_not_chunked() {
        let c = Chunking::new().threshold(10).chunk_size(4);
        assert_eq!(c.split(3..13), vec![3..7, 7..11, 11..13]);
        assert!(c.applies_to(11));
        assert!(!c.applies_to(10));
        assert!(!Chunking::off().applies_to(u64::MAX));
        // A blob of one chunk is one request whatever the threshold.
        assert!(!Chunking::new().threshold(0).chunk_size(100).applies_to(100));
        assert_eq!(Chunking::new().per_blob(0).get_per_blob(), 1);
    }
}
