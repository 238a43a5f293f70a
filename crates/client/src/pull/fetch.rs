//! Fetching blobs into the layout: bounded concurrency, resumable partial files; large
//! blobs in parallel chunks (`chunked.rs`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt as _;
use ocipull_spec::Descriptor;
use ocipull_spec::layout::{LayoutError, LayoutWriter, PartialBlob};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::Chunking;

use super::events::{Events, PullEvent};
use crate::mirror::route::falls_back;
use crate::{Client, DigestSubject, Error, RedactedUrl};

/// What the fetch step did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Fetched {
    pub(crate) downloaded: usize,
    pub(crate) skipped: usize,
    pub(crate) bytes: u64,
}

impl Fetched {
    fn add(&mut self, other: Fetched) {
        self.downloaded += other.downloaded;
        self.skipped += other.skipped;
        self.bytes += other.bytes;
    }
}

/// Settings of the fetch step.
#[derive(Clone)]
pub(crate) struct FetchSettings {
    pub(crate) client: Client,
    pub(crate) writer: Arc<LayoutWriter>,
    pub(crate) events: Events,
    pub(crate) verify_existing: bool,
    pub(crate) chunking: Chunking,
    /// Chunk requests in flight over the whole pull ([`Chunking::get_per_pull`]).
    pub(crate) chunk_permits: Arc<Semaphore>,
}

/// How many downloads run at once: `jobs` workers take the largest blobs first, then
/// small ones; `small_jobs` more take only blobs of at most `small_size` bytes, so that
/// many small layers far away overlap their round trips while large layers still get at
/// most `jobs` connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lanes {
    pub(crate) jobs: usize,
    pub(crate) small_jobs: usize,
    pub(crate) small_size: u64,
}

/// The blobs still to fetch: large ones (in plan order) and small ones.
struct Queue {
    large: VecDeque<Descriptor>,
    small: VecDeque<Descriptor>,
}

impl Queue {
    fn next(&mut self, small_only: bool) -> Option<Descriptor> {
        if small_only {
            self.small.pop_front()
        } else {
            self.large.pop_front().or_else(|| self.small.pop_front())
        }
    }
}

/// Fetches `blobs` with the concurrency `lanes` says. The first failure stops the others
/// (each keeps what it wrote for the next run) and is returned.
pub(crate) async fn fetch_all(
    settings: FetchSettings,
    blobs: Vec<Descriptor>,
    lanes: Lanes,
) -> Result<Fetched, Error> {
    let (small, large): (VecDeque<_>, VecDeque<_>) = blobs
        .into_iter()
        .partition(|d| lanes.small_jobs > 0 && d.size <= lanes.small_size);
    // No more small-blob workers than small blobs: each would only find the queue empty.
    let small_workers = lanes.small_jobs.min(small.len());
    let queue = Arc::new(Mutex::new(Queue { large, small }));
    let cancel = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    let lane = std::iter::repeat_n(false, lanes.jobs.max(1))
        .chain(std::iter::repeat_n(true, small_workers));
    for small_only in lane {
        let (settings, queue, cancel) = (settings.clone(), queue.clone(), cancel.clone());
        workers.spawn(async move {
            let mut total = Fetched::default();
            loop {
                let next = queue
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .next(small_only);
                let Some(descriptor) = next else {
                    return Ok(total);
                };
                if cancel.is_cancelled() {
                    return Ok(total);
                }
                match fetch_one(&settings, &descriptor, &cancel).await {
                    Ok(done) => total.add(done),
                    Err(e) => {
                        cancel.cancel();
                        return Err(e);
                    }
                }
            }
        });
    }
    let mut total = Fetched::default();
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(Ok(done)) => total.add(done),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

fn blob_url(client: &Client, descriptor: &Descriptor) -> RedactedUrl {
    RedactedUrl::new(&format!(
        "{}/v2/{}/blobs/{}",
        client.origin(),
        client.repository(),
        descriptor.digest
    ))
}

/// Fetches one blob unless it is already there.
async fn fetch_one(
    settings: &FetchSettings,
    descriptor: &Descriptor,
    cancel: &CancellationToken,
) -> Result<Fetched, Error> {
    let writer = &settings.writer;
    let present = writer.has_blob(descriptor);
    if present && (!settings.verify_existing || writer.verify_blob(descriptor).await.is_ok()) {
        settings.events.emit(PullEvent::BlobSkipped {
            digest: descriptor.digest.clone(),
            size: descriptor.size,
        });
        return Ok(Fetched {
            skipped: 1,
            ..Fetched::default()
        });
    }
    let mut started_over = false;
    // Mirrors that served this blob wrong or failed: the next attempt passes them over.
    let mut exclude: Vec<String> = Vec::new();
    let upstream = settings.client.endpoint_name();
    let skip = |exclude: &mut Vec<String>, endpoint: String, error: &Error| {
        settings.events.emit(PullEvent::EndpointSkipped {
            digest: Some(descriptor.digest.clone()),
            endpoint: endpoint.clone(),
            reason: error.to_string(),
        });
        exclude.push(endpoint);
    };
    loop {
        let mut partial = writer.partial(descriptor).await?;
        if !present && writer.has_blob(descriptor) {
            // Another pull into this layout held the partial file and finished the blob.
            partial.discard().await;
            settings.events.emit(PullEvent::BlobSkipped {
                digest: descriptor.digest.clone(),
                size: descriptor.size,
            });
            return Ok(Fetched {
                skipped: 1,
                ..Fetched::default()
            });
        }
        // Bytes on disk already: the in-order prefix, and the chunks a download in
        // ranges completed.
        let offset = partial.completed().total();
        settings.events.emit(PullEvent::BlobStarted {
            digest: descriptor.digest.clone(),
            size: descriptor.size,
            offset,
        });
        let mut endpoint = None;
        let downloaded = if settings.chunking.applies_to(descriptor.size) {
            super::chunked::download(
                settings,
                descriptor,
                &mut partial,
                cancel,
                &exclude,
                &mut endpoint,
            )
            .await
        } else {
            download(
                settings,
                descriptor,
                &mut partial,
                cancel,
                &exclude,
                &mut endpoint,
            )
            .await
        };
        match downloaded {
            Ok(true) => {}
            Ok(false) => {
                // Stopped because another download failed: keep what is here for next time.
                partial.flush().await?;
                return Ok(Fetched::default());
            }
            Err(e) => {
                let _ = partial.flush().await;
                match endpoint {
                    // A mirror failed mid-body: what it delivered is kept, and the next
                    // endpoint continues (the whole file is verified at the end).
                    Some(mirror) if mirror != upstream && falls_back(&e) => {
                        skip(&mut exclude, mirror, &e);
                        continue;
                    }
                    _ => return Err(e),
                }
            }
        }
        let endpoint = endpoint.unwrap_or_else(|| upstream.clone());
        let bytes = descriptor.size - offset;
        let error = match partial.commit().await {
            Ok(()) => {
                settings.events.emit(PullEvent::BlobDone {
                    digest: descriptor.digest.clone(),
                    size: descriptor.size,
                });
                settings.events.served(&descriptor.digest, endpoint, true);
                return Ok(Fetched {
                    downloaded: 1,
                    bytes,
                    ..Fetched::default()
                });
            }
            // The bytes kept from an earlier run were not a prefix of this blob (the commit
            // deleted them): download it once more from the start.
            Err(LayoutError::Digest(_)) if offset > 0 && !started_over => {
                started_over = true;
                continue;
            }
            Err(LayoutError::Digest(m)) => Error::DigestMismatch {
                url: blob_url(&settings.client, descriptor),
                subject: DigestSubject::Blob,
                mismatch: m,
            },
            Err(LayoutError::SizeMismatch {
                expected, actual, ..
            }) => Error::BlobSize {
                url: blob_url(&settings.client, descriptor),
                digest: descriptor.digest.clone(),
                expected,
                actual,
            },
            Err(e) => return Err(e.into()),
        };
        // The commit deleted what did not verify; a mirror that served it is passed over.
        if endpoint != upstream {
            skip(&mut exclude, endpoint, &error);
            continue;
        }
        return Err(error);
    }
}

/// Streams the rest of a blob into its partial file. `Ok(false)` when cancelled.
pub(super) async fn download(
    settings: &FetchSettings,
    descriptor: &Descriptor,
    partial: &mut PartialBlob,
    cancel: &CancellationToken,
    exclude: &[String],
    endpoint: &mut Option<String>,
) -> Result<bool, Error> {
    let observer = settings.events.observer(Some(descriptor.digest.clone()));
    let offset = partial.offset();
    // The partial file hashes everything written to it (including bytes kept from an
    // earlier run), so the stream only checks sizes: each byte is hashed once.
    let stream = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Ok(false),
        stream = settings.client.blob_routed(descriptor, offset, false, Some(observer), exclude) => stream?,
    };
    *endpoint = Some(stream.endpoint().to_owned());
    drain(settings, descriptor, partial, cancel, stream).await
}

/// Writes what `stream` delivers to the end of the partial file. `Ok(false)` when
/// cancelled.
pub(super) async fn drain(
    settings: &FetchSettings,
    descriptor: &Descriptor,
    partial: &mut PartialBlob,
    cancel: &CancellationToken,
    mut stream: crate::BlobStream,
) -> Result<bool, Error> {
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(false),
            next = stream.next() => next,
        };
        match next {
            None => return Ok(true),
            Some(Err(e)) => return Err(e),
            Some(Ok(chunk)) => {
                partial.write(&chunk).await?;
                if settings.events.enabled() {
                    settings.events.emit(PullEvent::BlobProgress {
                        digest: descriptor.digest.clone(),
                        bytes: chunk.len() as u64,
                    });
                }
            }
        }
    }
}
