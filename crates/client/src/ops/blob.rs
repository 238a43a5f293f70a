//! `blob`: a verified, resumable stream of one blob (distribution-spec "Pulling blobs").
//!
//! The stream checks the size and digest as bytes pass and ends with an error, not a clean
//! end, when they do not match. When the connection fails or stalls mid-body and the client
//! has a backoff, the stream continues on a new request with `Range: bytes=N-` (RFC 9110
//! §14.2) from the last byte it delivered: a `206` must carry a `Content-Range` starting at
//! N (§14.4); a `200` means the registry ignored the range, and the first N bytes are
//! skipped — within a budget, so a registry that always ignores `Range` cannot make the
//! client download a blob over and over.
//!
//! A download of one range `bytes=A-B` (a chunk of a blob fetched in parallel, see
//! `pull/chunked.rs`) works the same way: it resumes with `bytes=N-B`, and a `206` must
//! carry `bytes N-B/size`. Its first answer tells whether the registry honours `Range`.

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http::{Method, StatusCode, Uri, header};
use http_body_util::BodyExt as _;
use ocipull_spec::{Descriptor, DigestVerifier};

use crate::body::content_length;
use crate::retry::{Observer, Retrier};
use crate::transport::{RequestBody, ResponseBody, final_url};
use crate::{Client, DigestSubject, Error, RedactedUrl};

/// Bytes a blob download may discard in total because the registry ignored `Range`, as a
/// multiple of the blob's size: one extra download of the blob at most, so the total stays
/// linear in the size however often the connection drops.
const RANGE_IGNORED_BUDGET_FACTOR: u64 = 1;

/// The budget is at least this much, so small blobs always survive a few dropped
/// connections: re-reading a megabyte costs nothing worth refusing.
const RANGE_IGNORED_BUDGET_FLOOR: u64 = 1024 * 1024;

/// A blob's content as a stream of verified chunks.
///
/// Implements [`Stream`] of `Result<Bytes, Error>`; [`BlobStream::into_reader`] gives an
/// `AsyncRead`. The last chunk is only yielded once the whole content matched its digest;
/// a mismatch is yielded as [`Error::DigestMismatch`] instead.
pub struct BlobStream {
    descriptor: Descriptor,
    endpoint: String,
    /// The endpoint's client, for more requests of the same blob (its other ranges).
    source: Client,
    /// The bytes of the blob the stream delivers.
    delivers: Range<u64>,
    /// Whether the first answer was a `206`: the registry honours `Range`.
    ranged: bool,
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("descriptor", &self.descriptor)
            .finish_non_exhaustive()
    }
}

impl BlobStream {
    /// The blob's descriptor.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The endpoint serving the blob (`scheme://host`): a mirror or the registry.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The stream as an `AsyncRead` (and `AsyncBufRead`); errors become `io::Error`s whose
    /// inner error is the [`Error`].
    pub fn into_reader(self) -> tokio_util::io::StreamReader<BlobStream, Bytes> {
        tokio_util::io::StreamReader::new(self)
    }

    /// The client of the endpoint serving the stream.
    pub(crate) fn source(&self) -> &Client {
        &self.source
    }

    /// The bytes of the blob this stream delivers: what was asked for, or the whole blob
    /// when a registry ignoring `Range` answered a first range request with all of it.
    pub(crate) fn delivers(&self) -> Range<u64> {
        self.delivers.clone()
    }

    /// Whether the registry answered the first request with `206 Partial Content`.
    pub(crate) fn ranged(&self) -> bool {
        self.ranged
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Client {
    /// Streams the blob `descriptor` names, verifying its size and digest.
    ///
    /// The first request (with its retries) happens before this returns, so a missing blob
    /// is an error here; later failures come out of the stream.
    ///
    /// With mirrors, the first endpoint with `pull` that answers serves the whole stream
    /// ([`BlobStream::endpoint`] names it); a mismatch found at the end of the stream is
    /// returned, not retried elsewhere, since the bytes were delivered already.
    /// [`Client::pull`] does move on to the next endpoint then.
    pub async fn blob(&self, descriptor: &Descriptor) -> Result<BlobStream, Error> {
        self.blob_inner(descriptor, 0, true, None).await
    }

    /// The descriptor of the blob `digest` names, from a `HEAD` request (distribution-spec
    /// "Checking if content exists in the registry"): its size from `Content-Length`, its
    /// media type from `Content-Type` (`application/octet-stream` when there is none).
    /// Pass it to [`Client::blob`], which verifies size and digest as it streams.
    pub async fn blob_head(&self, digest: &ocipull_spec::Digest) -> Result<Descriptor, Error> {
        let uri = self.url(&format!("blobs/{digest}"))?;
        self.retrier(None)
            .run(|| async {
                let request = self
                    .request(Method::HEAD, uri.clone())
                    .body(RequestBody::default())
                    .map_err(|e| self.bad_request(e))?;
                let response = self.send(request, None).await?;
                let url = final_url(&response, &uri);
                let headers = response.headers();
                let size = content_length(headers).ok_or_else(|| Error::InvalidResponse {
                    url: url.clone(),
                    reason: "the blob HEAD answer has no Content-Length".to_owned(),
                })?;
                let media_type = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/octet-stream");
                Ok(Descriptor::new(media_type, digest.clone(), size))
            })
            .await
    }

    /// Streams the blob from byte `offset` on, e.g. to continue a download kept on disk.
    ///
    /// Only the size is checked: the digest covers bytes this stream never sees, so the
    /// caller verifies it (as [`ocipull_spec::layout::PartialBlob`] does).
    pub async fn blob_from(
        &self,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream, Error> {
        self.blob_inner(descriptor, offset, false, None).await
    }

    pub(crate) async fn blob_inner(
        &self,
        descriptor: &Descriptor,
        offset: u64,
        verify: bool,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<BlobStream, Error> {
        self.blob_routed(descriptor, offset, verify, observer, &[])
            .await
    }

    /// Opens the blob at the first endpoint with `pull` that serves it, passing over the
    /// mirrors named in `exclude` (they served this blob wrong before).
    pub(crate) async fn blob_routed(
        &self,
        descriptor: &Descriptor,
        offset: u64,
        verify: bool,
        observer: Option<Arc<dyn Observer>>,
        exclude: &[String],
    ) -> Result<BlobStream, Error> {
        let get = Get {
            range: offset..descriptor.size,
            verify,
            probe: false,
            chunk: false,
        };
        self.blob_get_routed(descriptor, get, observer, exclude)
            .await
    }

    /// Opens bytes `range` of the blob at the first endpoint with `pull` that serves it
    /// (passing over `exclude`), as the probe of a download in ranges: a `200` answer
    /// (the registry ignores `Range`) to a range starting at 0 is read as the whole blob,
    /// which [`BlobStream::ranged`] and [`BlobStream::delivers`] then say.
    pub(crate) async fn blob_probe_routed(
        &self,
        descriptor: &Descriptor,
        range: Range<u64>,
        observer: Option<Arc<dyn Observer>>,
        exclude: &[String],
    ) -> Result<BlobStream, Error> {
        let get = Get {
            range,
            verify: false,
            probe: true,
            chunk: true,
        };
        self.blob_get_routed(descriptor, get, observer, exclude)
            .await
    }

    /// Streams bytes `range` of the blob from this endpoint, checking only sizes (the
    /// caller hashes the blob in order), resuming and retrying on its own.
    pub(crate) async fn blob_range(
        &self,
        descriptor: &Descriptor,
        range: Range<u64>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<BlobStream, Error> {
        let get = Get {
            range,
            verify: false,
            probe: false,
            chunk: true,
        };
        self.blob_single(descriptor, get, observer).await
    }

    async fn blob_get_routed(
        &self,
        descriptor: &Descriptor,
        get: Get,
        observer: Option<Arc<dyn Observer>>,
        exclude: &[String],
    ) -> Result<BlobStream, Error> {
        if get.range.start > descriptor.size {
            return Err(Error::OffsetPastEnd {
                digest: descriptor.digest.clone(),
                offset: get.range.start,
                size: descriptor.size,
            });
        }
        for mirror in self.mirrors_for(crate::mirror::route::Need::Pull) {
            if exclude.contains(&mirror.endpoint_name()) {
                continue;
            }
            match mirror
                .blob_single(descriptor, get.clone(), observer.clone())
                .await
            {
                Ok(stream) => return Ok(stream),
                Err(e) if crate::mirror::route::falls_back(&e) => {
                    crate::mirror::route::skipped(&mirror, &e, observer.as_deref())
                }
                Err(e) => return Err(e),
            }
        }
        self.blob_single(descriptor, get, observer).await
    }

    async fn blob_single(
        &self,
        descriptor: &Descriptor,
        get: Get,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<BlobStream, Error> {
        let Get {
            range,
            verify,
            probe,
            chunk,
        } = get;
        let offset = range.start;
        if offset > descriptor.size || range.end > descriptor.size || range.end < offset {
            return Err(Error::OffsetPastEnd {
                digest: descriptor.digest.clone(),
                offset,
                size: descriptor.size,
            });
        }
        let uri = self.url(&format!("blobs/{}", descriptor.digest))?;
        // A range discards at most its own length (or the floor) to a registry that
        // stopped honouring `Range`; the whole blob, at most its size.
        let basis = if range.end < descriptor.size {
            range.end - range.start
        } else {
            descriptor.size
        };
        let budget =
            (basis.saturating_mul(RANGE_IGNORED_BUDGET_FACTOR)).max(RANGE_IGNORED_BUDGET_FLOOR);
        let mut fetch = Fetch {
            transfer: Transfer {
                client: self.clone(),
                descriptor: descriptor.clone(),
                url: RedactedUrl::from(&uri),
                uri,
                // A download continuing bytes kept from before resumes at its first request.
                start: if chunk { offset } else { 0 },
                offset,
                end: range.end,
                probe,
                ranged: None,
                whole_body: false,
                verifier: verify.then(|| descriptor.digest.verifier()),
                body: None,
                skip: 0,
                skip_budget: budget,
                observer: observer.clone(),
                finished: false,
            },
            retrier: self.retrier(observer),
        };
        if offset == range.end {
            // Nothing to download (an empty blob, or a download already complete).
            fetch.transfer.complete()?;
        } else {
            fetch.open().await?;
        }
        let delivers = offset..fetch.transfer.end;
        let ranged = fetch.transfer.ranged.unwrap_or(false);
        let inner = futures_util::stream::try_unfold(fetch, |mut fetch| async move {
            Ok(fetch.next_chunk().await?.map(|chunk| (chunk, fetch)))
        });
        Ok(BlobStream {
            descriptor: descriptor.clone(),
            endpoint: self.endpoint_name(),
            source: self.clone(),
            delivers,
            ranged,
            inner: Box::pin(inner),
        })
    }
}

/// What one blob request asks for.
#[derive(Debug, Clone)]
struct Get {
    /// The bytes wanted (the whole blob from an offset, or one range of it).
    range: Range<u64>,
    /// Whether the stream checks the digest (only when it covers the whole blob).
    verify: bool,
    /// Whether a `200` to a range from 0 is taken as the whole blob (see
    /// [`Client::blob_probe_routed`]).
    probe: bool,
    /// Whether this is one chunk of a blob: its first request is no resume, whatever
    /// its offset.
    chunk: bool,
}

/// One blob download: the transfer and the retry loop of its operation, which covers the
/// first request and every resume (the same loop, from retry.rs, as every operation).
struct Fetch {
    transfer: Transfer,
    retrier: Retrier,
}

impl Fetch {
    /// Opens the first response, retrying as the backoff allows.
    async fn open(&mut self) -> Result<(), Error> {
        self.retrier
            .run_with(&mut self.transfer, |t| Box::pin(t.open_once()))
            .await
    }

    /// The next chunk, resuming on a new request (with `Range`) after a failure as the
    /// backoff allows; `None` once the whole blob was delivered and verified.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        self.retrier
            .run_with(&mut self.transfer, |t| Box::pin(t.next_chunk_once()))
            .await
    }
}

/// Where a blob download stands: what the next attempt continues from.
struct Transfer {
    client: Client,
    descriptor: Descriptor,
    uri: Uri,
    /// The URL that answered last (after redirects).
    url: RedactedUrl,
    /// A request from beyond this byte is a resume (reported to the observer): a chunk's
    /// first byte, or 0 for a download of the rest of a blob.
    start: u64,
    /// The next byte of the blob to deliver.
    offset: u64,
    /// The byte after the last one to deliver (the blob's size, or a range's end).
    end: u64,
    /// Whether a first `200` to a range from 0 extends `end` to the whole blob.
    probe: bool,
    /// Whether the first answer was a `206` (none yet: `None`).
    ranged: Option<bool>,
    /// Whether the current body is the whole blob (a `200`), read only up to `end`.
    whole_body: bool,
    verifier: Option<DigestVerifier>,
    body: Option<ResponseBody>,
    /// Bytes still to discard from a `200` that ignored `Range`.
    skip: u64,
    /// Bytes that may still be discarded that way.
    skip_budget: u64,
    observer: Option<Arc<dyn Observer>>,
    finished: bool,
}

impl Transfer {
    /// Sends the `GET` for the next bytes. A `401` or `403` from another origin than the
    /// registry's is a redirect target refusing its signed URL (expired, most often: object
    /// stores sign for minutes): the request goes to the registry once more, whose
    /// redirect carries a fresh URL, before the refusal is returned.
    async fn send_get(&mut self) -> Result<http::Response<ResponseBody>, Error> {
        let registry = format!("{}/", self.client.origin());
        let mut asked_again = false;
        loop {
            let request = self.get_request()?;
            match self.client.send(request, self.observer.as_deref()).await {
                Err(Error::Status(e))
                    if !asked_again
                        && matches!(e.status.as_u16(), 401 | 403)
                        && !e.url.as_str().starts_with(&registry) =>
                {
                    tracing::info!(url = %e.url, status = %e.status,
                        "the redirect target refused its URL; asking the registry again");
                    asked_again = true;
                }
                other => return other,
            }
        }
    }

    fn get_request(&self) -> Result<http::Request<RequestBody>, Error> {
        let mut request = self.client.request(Method::GET, self.uri.clone());
        let size = self.descriptor.size;
        if self.end < size {
            // RFC 9110 §14.1.2: `last-pos` is inclusive.
            request = request.header(
                header::RANGE,
                format!("bytes={}-{}", self.offset, self.end - 1),
            );
        } else if self.offset > 0 {
            request = request.header(header::RANGE, format!("bytes={}-", self.offset));
        }
        if self.offset > self.start {
            if let Some(observer) = &self.observer {
                observer.resumed(self.offset);
            }
        }
        request
            .body(RequestBody::default())
            .map_err(|e| self.client.bad_request(e))
    }

    async fn open_once(&mut self) -> Result<(), Error> {
        let size = self.descriptor.size;
        let response = self.send_get().await?;
        self.url = final_url(&response, &self.uri);
        let remaining = self.end - self.offset;
        let length = content_length(response.headers());
        let status = response.status();
        if status == StatusCode::PARTIAL_CONTENT || status == StatusCode::OK {
            self.ranged
                .get_or_insert(status == StatusCode::PARTIAL_CONTENT);
        }
        match status {
            StatusCode::PARTIAL_CONTENT => {
                let range = response
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                check_content_range(range.as_deref(), self.offset, self.end, size)
                    .map_err(|reason| self.range_error(reason))?;
                if length.is_some_and(|n| n != remaining) {
                    return Err(self.range_error(format!(
                        "the 206 response has Content-Length {}, not {remaining}",
                        length.unwrap_or_default()
                    )));
                }
                self.skip = 0;
                self.whole_body = false;
            }
            StatusCode::OK => {
                self.whole_body = true;
                if self.probe && self.offset == 0 {
                    // The registry ignores `Range`: read the whole blob on this connection.
                    self.end = size;
                }
                if let Some(length) = length.filter(|&n| n != self.descriptor.size) {
                    return Err(Error::BlobSize {
                        url: self.url.clone(),
                        digest: self.descriptor.digest.clone(),
                        expected: self.descriptor.size,
                        actual: length,
                    });
                }
                if self.offset > 0 {
                    if self.offset > self.skip_budget {
                        return Err(Error::RangeIgnored {
                            url: self.url.clone(),
                            digest: self.descriptor.digest.clone(),
                            budget: self.skip_budget,
                        });
                    }
                    tracing::debug!(url = %self.url, offset = self.offset, "Range ignored, skipping");
                    self.skip_budget -= self.offset;
                    self.skip = self.offset;
                }
            }
            other => {
                return Err(Error::InvalidResponse {
                    url: self.url.clone(),
                    reason: format!("unexpected status {other} for a blob"),
                });
            }
        }
        self.body = Some(response.into_body());
        Ok(())
    }

    fn range_error(&self, reason: String) -> Error {
        Error::Range {
            url: self.url.clone(),
            offset: self.offset,
            reason,
        }
    }

    /// One attempt at the next chunk: opens a response continuing at the offset when
    /// there is none, then reads until a chunk to deliver. A failure drops the response, so
    /// the next attempt resumes from the offset.
    async fn next_chunk_once(&mut self) -> Result<Option<Bytes>, Error> {
        let stall = self.client.inner.stall;
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.body.is_none() {
                self.open_once().await?;
            }
            let Some(body) = self.body.as_mut() else {
                continue;
            };
            let failure = match tokio::time::timeout(stall, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if let Some(chunk) = self.accept(data)? {
                            return Ok(Some(chunk));
                        }
                    }
                    continue;
                }
                // A clean end before the end asked for: the registry sent a short body
                // on purpose, which another request will not fix (permanent).
                Ok(None) => Error::BlobSize {
                    url: self.url.clone(),
                    digest: self.descriptor.digest.clone(),
                    expected: self.descriptor.size,
                    actual: self.offset,
                },
                Ok(Some(Err(source))) => Error::Connection {
                    method: Method::GET,
                    url: self.url.clone(),
                    source,
                },
                Err(_) => Error::Stalled {
                    method: Method::GET,
                    url: self.url.clone(),
                    timeout: stall,
                },
            };
            self.body = None;
            return Err(failure);
        }
    }

    /// Takes a chunk from the body: drops skipped bytes, checks the size, feeds the digest.
    fn accept(&mut self, mut data: Bytes) -> Result<Option<Bytes>, Error> {
        if self.skip > 0 {
            let n = self.skip.min(data.len() as u64) as usize;
            self.skip -= n as u64;
            let _ = data.split_to(n);
        }
        if data.is_empty() {
            return Ok(None);
        }
        let remaining = self.end - self.offset;
        if data.len() as u64 > remaining && self.whole_body && self.end < self.descriptor.size {
            // The whole blob answered a range: its end is not wanted here.
            data.truncate(remaining as usize);
        } else if data.len() as u64 > remaining {
            self.body = None;
            return Err(Error::BlobSize {
                url: self.url.clone(),
                digest: self.descriptor.digest.clone(),
                expected: self.descriptor.size,
                actual: self.offset + data.len() as u64,
            });
        }
        if let Some(v) = &mut self.verifier {
            v.update(&data);
        }
        self.offset += data.len() as u64;
        if self.offset == self.end {
            self.complete()?;
        }
        Ok(Some(data))
    }

    /// The whole blob went by: check the digest before the last chunk is handed out.
    fn complete(&mut self) -> Result<(), Error> {
        self.finished = true;
        self.body = None;
        if let Some(verifier) = self.verifier.take() {
            verifier
                .finish()
                .map_err(|mismatch| Error::DigestMismatch {
                    url: self.url.clone(),
                    subject: DigestSubject::Blob,
                    mismatch,
                })?;
        }
        Ok(())
    }
}

/// Checks a `Content-Range` (RFC 9110 §14.4) answering `bytes=offset-(end-1)` (or
/// `bytes=offset-` when `end` is `size`) for a blob of `size` bytes: `bytes
/// offset-(end-1)/size` (or `/*`).
fn check_content_range(
    value: Option<&str>,
    offset: u64,
    end: u64,
    size: u64,
) -> Result<(), String> {
    let value = value.ok_or("the 206 response has no Content-Range")?;
    let bad = || format!("the 206 response has Content-Range {value:?}");
    let rest = value.trim().strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, total) = rest.split_once('/').ok_or_else(bad)?;
    let (first, last) = range.split_once('-').ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last: u64 = last.trim().parse().map_err(|_| bad())?;
    let total_ok = match total.trim() {
        "*" => true,
        t => t.parse::<u64>().map_err(|_| bad())? == size,
    };
    if first != offset || last.checked_add(1) != Some(end) || !total_ok {
        return Err(format!(
            "{} instead of bytes {offset}-{}/{size}",
            bad(),
            end.saturating_sub(1)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_content_range;

    #[test]
    fn content_range_must_continue_at_the_offset() {
        assert_eq!(
            check_content_range(Some("bytes 10-99/100"), 10, 100, 100),
            Ok(())
        );
        assert_eq!(
            check_content_range(Some("bytes 10-99/*"), 10, 100, 100),
            Ok(())
        );
        assert_eq!(
            check_content_range(Some("bytes 10-19/100"), 10, 20, 100),
            Ok(())
        );
        assert!(check_content_range(Some("bytes 10-99/100"), 10, 20, 100).is_err());
        for bad in [
            None,
            Some("bytes 0-99/100"),
            Some("bytes 10-98/100"),
            Some("bytes 10-99/101"),
            Some("bytes 10-99"),
            Some("items 10-99/100"),
            Some("bytes x-99/100"),
            Some("bytes 10-18446744073709551615/100"),
            Some("bytes */100"),
        ] {
            assert!(check_content_range(bad, 10, 100, 100).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod transport_tests {
    use futures_util::StreamExt as _;
    use ocipull_spec::{Descriptor, Digest};

    use crate::Error;
    use crate::test_transport::{Reply, Script};

    const DATA: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

    fn blob() -> Descriptor {
        Descriptor::new(
            "application/octet-stream",
            Digest::sha256(DATA),
            DATA.len() as u64,
        )
    }

    fn len() -> String {
        DATA.len().to_string()
    }

    async fn read(script: &Script, descriptor: &Descriptor) -> Result<Vec<u8>, Error> {
        let mut stream = script.client().blob(descriptor).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn a_206_from_the_offset_continues_the_blob() {
        let script = Script::new([
            Reply::new(200)
                .header("content-length", len())
                .data(&DATA[..10])
                .broken(),
            Reply::new(206)
                .header("content-range", "bytes 10-35/36")
                .header("content-length", "26")
                .data(&DATA[10..20])
                .data(&DATA[20..]),
        ]);
        assert_eq!(read(&script, &blob()).await.unwrap(), DATA);
        let seen = script.seen();
        assert_eq!(seen[0].header("range"), None);
        assert_eq!(seen[1].header("range"), Some("bytes=10-"));
    }

    #[tokio::test]
    async fn a_206_elsewhere_is_an_error() {
        for range in [
            "bytes 0-35/36",
            "bytes 10-34/36",
            "bytes 10-35/37",
            "nonsense",
        ] {
            let script = Script::new([
                Reply::new(200).data(&DATA[..10]).broken(),
                Reply::new(206)
                    .header("content-range", range)
                    .data(&DATA[10..]),
            ]);
            let err = read(&script, &blob()).await.unwrap_err();
            assert!(
                matches!(err, Error::Range { offset: 10, .. }),
                "{range}: {err:?}"
            );
            assert_eq!(script.seen().len(), 2, "a bad range is not retried");
        }
    }

    #[tokio::test]
    async fn a_200_to_a_range_request_is_skipped_ahead() {
        let script = Script::new([
            Reply::new(200).data(&DATA[..4]).data(&DATA[4..10]).broken(),
            Reply::new(200).data(&DATA[..7]).data(&DATA[7..]),
        ]);
        assert_eq!(read(&script, &blob()).await.unwrap(), DATA);
    }

    #[tokio::test]
    async fn sizes_are_checked_before_and_while_reading() {
        let script = Script::new([Reply::new(200).header("content-length", "37").data(DATA)]);
        let err = read(&script, &blob()).await.unwrap_err();
        assert!(matches!(err, Error::BlobSize { actual: 37, .. }), "{err:?}");

        let script = Script::new([Reply::new(200).data(DATA).data("extra")]);
        let err = read(&script, &blob()).await;
        // The digest is complete at the descriptor's size; the extra bytes are never read.
        assert_eq!(err.unwrap(), DATA);

        let script = Script::new([Reply::new(200).data(&DATA[..30]).data("too long!")]);
        let err = read(&script, &blob()).await.unwrap_err();
        assert!(matches!(err, Error::BlobSize { actual: 39, .. }), "{err:?}");

        // A clean end before the size is the registry's doing: not retried.
        let script = Script::new([Reply::new(200).data(&DATA[..30])]);
        let err = read(&script, &blob()).await.unwrap_err();
        assert!(matches!(err, Error::BlobSize { actual: 30, .. }), "{err:?}");
        assert_eq!(script.seen().len(), 1);
    }

    #[tokio::test]
    async fn digest_mismatch_replaces_the_last_chunk() {
        let mut wrong = DATA.to_vec();
        wrong[35] = b'!';
        let script = Script::new([Reply::new(200)
            .data(wrong[..20].to_vec())
            .data(wrong[20..].to_vec())]);
        let mut stream = script.client().blob(&blob()).await.unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap().len(), 20);
        assert!(matches!(
            stream.next().await,
            Some(Err(Error::DigestMismatch {
                subject: crate::DigestSubject::Blob,
                ..
            }))
        ));
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn nothing_to_fetch_sends_no_request() {
        let empty = Descriptor::new("application/octet-stream", Digest::sha256(b""), 0);
        let script = Script::new([]);
        assert!(read(&script, &empty).await.unwrap().is_empty());
        let stream = script.client().blob_from(&blob(), 36).await.unwrap();
        assert_eq!(stream.count().await, 0);
        assert!(script.seen().is_empty());
        let err = script.client().blob_from(&blob(), 37).await.unwrap_err();
        assert!(matches!(
            err,
            Error::OffsetPastEnd {
                offset: 37,
                size: 36,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_range_asks_for_its_end_and_resumes_within_it() {
        let script = Script::new([
            Reply::new(206)
                .header("content-range", "bytes 10-19/36")
                .data(&DATA[10..14])
                .broken(),
            Reply::new(206)
                .header("content-range", "bytes 14-19/36")
                .data(&DATA[14..20]),
        ]);
        let stream = script
            .client()
            .blob_range(&blob(), 10..20, None)
            .await
            .unwrap();
        assert!(stream.ranged());
        let got: Vec<u8> = stream.map(|c| c.unwrap().to_vec()).concat().await;
        assert_eq!(got, &DATA[10..20]);
        let seen = script.seen();
        assert_eq!(seen[0].header("range"), Some("bytes=10-19"));
        assert_eq!(seen[1].header("range"), Some("bytes=14-19"));
    }

    #[tokio::test]
    async fn a_probe_answered_200_reads_the_whole_blob() {
        let script = Script::new([Reply::new(200).data(&DATA[..30]).data(&DATA[30..])]);
        let stream = script
            .client()
            .blob_probe_routed(&blob(), 0..10, None, &[])
            .await
            .unwrap();
        assert!(!stream.ranged());
        assert_eq!(stream.delivers(), 0..36);
        let got: Vec<u8> = stream.map(|c| c.unwrap().to_vec()).concat().await;
        assert_eq!(got, DATA);
        assert_eq!(script.seen()[0].header("range"), Some("bytes=0-9"));
    }

    #[tokio::test]
    async fn a_range_answered_200_skips_to_it_and_stops_at_its_end() {
        let script = Script::new([Reply::new(200).data(DATA)]);
        let stream = script
            .client()
            .blob_range(&blob(), 5..9, None)
            .await
            .unwrap();
        assert!(!stream.ranged());
        let got: Vec<u8> = stream.map(|c| c.unwrap().to_vec()).concat().await;
        assert_eq!(got, &DATA[5..9]);
    }

    #[tokio::test]
    async fn blob_from_asks_for_the_rest_and_checks_only_the_size() {
        let script = Script::new([Reply::new(206)
            .header("content-range", "bytes 30-35/36")
            .data(&DATA[30..])]);
        let mut stream = script.client().blob_from(&blob(), 30).await.unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), &DATA[30..]);
        assert!(stream.next().await.is_none());
        assert_eq!(script.seen()[0].header("range"), Some("bytes=30-"));
    }
}
