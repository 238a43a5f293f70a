//! Downloading one large blob as parallel `Range` requests (RFC 9110 §14.2), see
//! [`Chunking`](super::Chunking).
//!
//! The chunks still missing (what the partial file's sidecar does not record as complete)
//! are fetched [`Chunking::get_per_blob`](super::Chunking::get_per_blob) at a time, each
//! holding one of the pull's [`Chunking::get_per_pull`](super::Chunking::get_per_pull)
//! permits while its request is open. The first is a probe: only when the registry
//! answers it with `206` are the others requested; a `200` means `Range` is ignored, and
//! the blob is read in order on one connection as without chunking.
//!
//! Each chunk is a range stream of its own (`ops/blob.rs`): its own retries and resumes
//! (`bytes=N-B` after a cut), its own request to the registry's URL, so a redirect to a
//! CDN is followed per chunk and a signed URL that expired is never reused — a resume asks
//! the registry again. Bytes go to disk at their offsets ([`RangeWriter`]); the partial
//! file hashes them in order as the in-order prefix grows (see the layout's `chunks.rs`
//! for why on disk rather than in memory), so memory stays at a few buffers per chunk in
//! flight whatever the blob's size.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use futures_util::StreamExt as _;
use ocipull_spec::Descriptor;
use ocipull_spec::layout::{PartialBlob, RangeWriter};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::events::{Events, PullEvent};
use super::fetch::{FetchSettings, download as download_in_order, drain};
use crate::retry::Observer;
use crate::{BlobStream, Client, Error};

/// What a chunk task hands back: the bytes it wrote (all of its range, or the part before
/// it failed or was stopped), and how it ended.
type ChunkResult = (Range<u64>, Result<(), Error>);

/// Downloads the missing chunks of a blob into `partial`. `Ok(false)` when cancelled (what
/// was written is recorded for the next run).
pub(super) async fn download(
    settings: &FetchSettings,
    descriptor: &Descriptor,
    partial: &mut PartialBlob,
    cancel: &CancellationToken,
    exclude: &[String],
    endpoint: &mut Option<String>,
) -> Result<bool, Error> {
    let mut todo: VecDeque<Range<u64>> = partial
        .missing()
        .into_iter()
        .flat_map(|gap| settings.chunking.split(gap))
        .collect();
    let Some(first) = todo.pop_front() else {
        return Ok(true);
    };
    let observer = settings.events.observer(Some(descriptor.digest.clone()));
    let permits = settings.chunk_permits.clone();
    let permit = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Ok(false),
        permit = permits.clone().acquire_owned() => permit,
    };
    let Ok(permit) = permit else {
        return Ok(false);
    };
    let probe = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Ok(false),
        stream = settings.client.blob_probe_routed(
            descriptor, first.clone(), Some(observer.clone()), exclude,
        ) => stream?,
    };
    *endpoint = Some(probe.endpoint().to_owned());
    if !probe.ranged() {
        drop(permit);
        tracing::debug!(digest = %descriptor.digest, endpoint = %probe.endpoint(),
            "the registry ignores Range: one connection for the blob");
        if probe.delivers().start == 0 && partial.offset() == 0 {
            return drain(settings, descriptor, partial, cancel, probe).await;
        }
        // The answer is the whole blob, but the bytes on disk stand elsewhere: continue
        // in order from the verified prefix.
        drop(probe);
        return download_in_order(settings, descriptor, partial, cancel, exclude, endpoint).await;
    }
    let mut probe = probe;
    let mut writer = partial.range_writer(first.clone()).await?;
    if let Some(limit) = settings.chunking.get_single_connection_above() {
        match sample(
            settings,
            descriptor,
            &mut probe,
            &mut writer,
            first.clone(),
            limit,
        )
        .await
        {
            Sampled::Slow => {}
            sampled => {
                // Fast: the rest of the first chunk and of the blob on this one connection.
                let outcome = match sampled {
                    Sampled::Failed(e) => Err(e),
                    _ => sample_outcome(settings, descriptor, &mut probe, &mut writer).await,
                };
                drop(probe);
                drop(permit);
                let written = writer.finish().await?;
                partial.complete(written).await?;
                outcome?;
                if cancel.is_cancelled() {
                    return Ok(false);
                }
                tracing::debug!(digest = %descriptor.digest,
                    "the first chunk came fast: one connection for the blob");
                return download_in_order(settings, descriptor, partial, cancel, exclude, endpoint)
                    .await;
            }
        }
    }
    let source = probe.source().clone();
    let stop = cancel.child_token();
    let mut tasks: JoinSet<ChunkResult> = JoinSet::new();
    let chunk = Chunk {
        source: source.clone(),
        descriptor: descriptor.clone(),
        events: settings.events.clone(),
        observer: observer.clone(),
        stop: stop.clone(),
    };
    tasks.spawn(chunk.clone().run(first, Some(probe), writer, permit));
    let per_blob = settings.chunking.get_per_blob();
    // When the pull stops, the chunk tasks see `stop` too and hand back what they wrote;
    // this loop only collects them.
    let mut failure: Option<Error> = None;
    loop {
        let may_start = failure.is_none() && !stop.is_cancelled() && !todo.is_empty();
        let can_start = may_start && tasks.len() < per_blob;
        if tasks.is_empty() && !can_start {
            break;
        }
        tokio::select! {
            biased;
            joined = tasks.join_next(), if !tasks.is_empty() => {
                let Some(joined) = joined else { continue };
                let (written, result) = match joined {
                    Ok(done) => done,
                    Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                    Err(_) => continue,
                };
                if !written.is_empty() {
                    let (offset, length) = (written.start, written.end - written.start);
                    if let Err(e) = partial.complete(written).await {
                        failure.get_or_insert(e.into());
                        stop.cancel();
                    } else if result.is_ok() {
                        settings.events.emit(PullEvent::ChunkDone {
                            digest: descriptor.digest.clone(),
                            offset,
                            length,
                        });
                    }
                }
                if let Err(e) = result {
                    failure.get_or_insert(e);
                    stop.cancel();
                }
            }
            permit = permits.clone().acquire_owned(), if can_start => {
                let Ok(permit) = permit else { break };
                let Some(range) = todo.pop_front() else { continue };
                let writer = match partial.range_writer(range.clone()).await {
                    Ok(w) => w,
                    Err(e) => {
                        failure.get_or_insert(e.into());
                        stop.cancel();
                        continue;
                    }
                };
                tasks.spawn(chunk.clone().run(range, None, writer, permit));
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(!cancel.is_cancelled() && todo.is_empty())
}

/// What every chunk task of one blob shares.
#[derive(Clone)]
struct Chunk {
    /// The endpoint that answered the probe.
    source: Client,
    descriptor: Descriptor,
    events: Events,
    observer: Arc<dyn Observer>,
    /// Stops the chunks (the pull stops, or another chunk failed).
    stop: CancellationToken,
}

impl Chunk {
    /// Downloads `range` (continuing `stream` when it is the probe's) into `writer`,
    /// holding `permit` until the last byte is written.
    async fn run(
        self,
        range: Range<u64>,
        stream: Option<BlobStream>,
        mut writer: RangeWriter,
        permit: OwnedSemaphorePermit,
    ) -> ChunkResult {
        let result = self.copy(range, stream, &mut writer).await;
        drop(permit);
        match writer.finish().await {
            Ok(written) => (written, result),
            Err(e) => (0..0, Err(e.into())),
        }
    }

    async fn copy(
        &self,
        range: Range<u64>,
        stream: Option<BlobStream>,
        writer: &mut RangeWriter,
    ) -> Result<(), Error> {
        let mut stream = match stream {
            Some(stream) => stream,
            None => tokio::select! {
                biased;
                _ = self.stop.cancelled() => return Ok(()),
                stream = self.source.blob_range(
                    &self.descriptor, range, Some(self.observer.clone()),
                ) => stream?,
            },
        };
        loop {
            let next = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return Ok(()),
                next = stream.next() => next,
            };
            match next {
                None => return Ok(()),
                Some(Err(e)) => return Err(e),
                Some(Ok(bytes)) => {
                    writer.write(&bytes).await?;
                    if self.events.enabled() {
                        self.events.emit(PullEvent::BlobProgress {
                            digest: self.descriptor.digest.clone(),
                            bytes: bytes.len() as u64,
                        });
                    }
                }
            }
        }
    }
}

/// What timing the first bytes of the probe showed.
enum Sampled {
    /// Slower than the limit: go on in chunks.
    Slow,
    /// At least as fast as the limit.
    Fast,
    /// The probe failed while sampled (the error comes again from the stream's end).
    Failed(Error),
    /// The probe ended before the sample was complete (a short first chunk).
    Ended,
}

/// Reads up to [`PROBE_SAMPLE`](super::chunking::PROBE_SAMPLE) bytes of the probe into
/// `writer`, timing them from the first byte, and compares their rate with `limit`.
async fn sample(
    settings: &FetchSettings,
    descriptor: &Descriptor,
    probe: &mut BlobStream,
    writer: &mut RangeWriter,
    first: Range<u64>,
    limit: u64,
) -> Sampled {
    let want = super::chunking::PROBE_SAMPLE.min(first.end - first.start);
    let mut got = 0u64;
    let mut started = None;
    while got < want {
        match probe.next().await {
            None => return Sampled::Ended,
            Some(Err(e)) => return Sampled::Failed(e),
            Some(Ok(bytes)) => {
                // Timed from the first byte: the round trip says nothing of the rate.
                started.get_or_insert_with(tokio::time::Instant::now);
                if let Err(e) = writer.write(&bytes).await {
                    return Sampled::Failed(e.into());
                }
                got += bytes.len() as u64;
                progress(settings, descriptor, bytes.len());
            }
        }
    }
    let elapsed = started.map_or(std::time::Duration::ZERO, |s| s.elapsed());
    let rate = got as f64 / elapsed.as_secs_f64().max(1e-9);
    if rate >= limit as f64 {
        Sampled::Fast
    } else {
        Sampled::Slow
    }
}

/// Copies what is left of the probe into `writer` (nothing after a failure: its error is
/// returned). Used when the blob goes on on one connection.
async fn sample_outcome(
    settings: &FetchSettings,
    descriptor: &Descriptor,
    probe: &mut BlobStream,
    writer: &mut RangeWriter,
) -> Result<(), Error> {
    while let Some(next) = probe.next().await {
        let bytes = next?;
        writer.write(&bytes).await?;
        progress(settings, descriptor, bytes.len());
    }
    Ok(())
}

fn progress(settings: &FetchSettings, descriptor: &Descriptor, bytes: usize) {
    if settings.events.enabled() {
        settings.events.emit(PullEvent::BlobProgress {
            digest: descriptor.digest.clone(),
            bytes: bytes as u64,
        });
    }
}
