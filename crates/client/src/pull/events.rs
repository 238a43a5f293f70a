//! What a pull reports while it runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use ocipull_spec::{Descriptor, Digest};

use crate::Error;
use crate::retry::Observer;

/// Something that happened during a pull, passed to the [`PullOptions::events`]
/// callback.
///
/// [`PullOptions::events`]: crate::PullOptions::events
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullEvent {
    /// A manifest or index was fetched and verified.
    Manifest {
        /// Its descriptor.
        descriptor: Box<Descriptor>,
    },
    /// A blob is already in the layout (and valid), so it is not downloaded.
    BlobSkipped {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// A blob download starts; `offset` is above zero when a partial download kept from an
    /// earlier run continues.
    BlobStarted {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// Where the download starts.
        offset: u64,
    },
    /// Bytes of a blob arrived.
    BlobProgress {
        /// The blob.
        digest: Digest,
        /// How many bytes arrived in this chunk.
        bytes: u64,
    },
    /// One chunk of a blob downloaded in parallel ranges
    /// ([`PullOptions::chunking`](crate::PullOptions::chunking)) is on disk; its bytes were
    /// reported as [`PullEvent::BlobProgress`] as they arrived.
    ChunkDone {
        /// The blob.
        digest: Digest,
        /// The chunk's first byte in the blob.
        offset: u64,
        /// Its length.
        length: u64,
    },
    /// A request failed and is retried after `delay`.
    Retry {
        /// The blob, when a blob download is retried (none for manifests).
        digest: Option<Digest>,
        /// The retry's number, from 1.
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// Why (the error, URLs redacted).
        reason: String,
        /// The `Retry-After` the registry asked for, if any.
        retry_after: Option<Duration>,
    },
    /// A blob download continues from `offset` with a `Range` request.
    BlobResumed {
        /// The blob.
        digest: Digest,
        /// The first byte asked for.
        offset: u64,
    },
    /// A blob is verified and in the layout.
    BlobDone {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// A manifest or blob came from this endpoint (`scheme://host`: a mirror or the
    /// registry), sent after [`PullEvent::Manifest`] and [`PullEvent::BlobDone`].
    Served {
        /// The manifest or blob.
        digest: Digest,
        /// Which endpoint served it.
        endpoint: String,
        /// Whether it is a blob (else a manifest or index).
        blob: bool,
    },
    /// A mirror failed (after its retries) or served content that did not match its digest,
    /// and the next endpoint is tried.
    EndpointSkipped {
        /// The blob, for a blob download (none for manifests).
        digest: Option<Digest>,
        /// The endpoint passed over (`scheme://host`).
        endpoint: String,
        /// Why (the error, URLs redacted).
        reason: String,
    },
    /// A manifest was converted to OCI media types
    /// ([`PullOptions::convert_to_oci`](crate::PullOptions::convert_to_oci)): the layout
    /// holds `to` instead of `from`.
    Converted {
        /// The manifest as the registry has it.
        from: Box<Descriptor>,
        /// The manifest as written, with its new digest.
        to: Box<Descriptor>,
    },
    /// The registry's rate-limit headers (`ratelimit-limit`, `ratelimit-remaining`, as
    /// Docker Hub sends them), reported when they change.
    RateLimit {
        /// `ratelimit-limit`, e.g. `100;w=21600`.
        limit: String,
        /// `ratelimit-remaining`, e.g. `76;w=21600`.
        remaining: String,
    },
}

/// (digest, endpoint) pairs for the report.
pub(crate) type Served = Vec<(Digest, String)>;

/// The events callback.
pub type EventHandler = Arc<dyn Fn(&PullEvent) + Send + Sync>;

/// Sends events to the callback, if there is one.
#[derive(Clone, Default)]
pub(crate) struct Events {
    handler: Option<EventHandler>,
    last_rate_limit: Arc<Mutex<Option<(String, String)>>>,
    /// Which endpoint served each manifest and blob, for the report.
    served: Arc<Mutex<Vec<(Digest, String, bool)>>>,
}

impl Events {
    pub(crate) fn new(handler: Option<EventHandler>) -> Events {
        Events {
            handler,
            last_rate_limit: Default::default(),
            served: Default::default(),
        }
    }

    /// Records and reports where a manifest (`blob` false) or blob came from.
    pub(crate) fn served(&self, digest: &Digest, endpoint: String, blob: bool) {
        self.served.lock().unwrap_or_else(|p| p.into_inner()).push((
            digest.clone(),
            endpoint.clone(),
            blob,
        ));
        self.emit(PullEvent::Served {
            digest: digest.clone(),
            endpoint,
            blob,
        });
    }

    /// The endpoints recorded, as (manifests, blobs).
    pub(crate) fn endpoints(&self) -> (Served, Served) {
        let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        let pick = |blob: bool| {
            served
                .iter()
                .filter(|s| s.2 == blob)
                .map(|(d, e, _)| (d.clone(), e.clone()))
                .collect()
        };
        (pick(false), pick(true))
    }

    pub(crate) fn emit(&self, event: PullEvent) {
        if let Some(handler) = &self.handler {
            handler(&event);
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.handler.is_some()
    }

    fn rate_limit(&self, headers: &HeaderMap) {
        let get = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (Some(limit), Some(remaining)) = (get("ratelimit-limit"), get("ratelimit-remaining"))
        else {
            return;
        };
        let current = (limit, remaining);
        {
            let mut last = self
                .last_rate_limit
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.as_ref() == Some(&current) {
                return;
            }
            *last = Some(current.clone());
        }
        self.emit(PullEvent::RateLimit {
            limit: current.0,
            remaining: current.1,
        });
    }

    /// An observer for the request path, tagging retries with `digest`.
    pub(crate) fn observer(&self, digest: Option<Digest>) -> Arc<dyn Observer> {
        Arc::new(EventObserver {
            events: self.clone(),
            digest,
        })
    }
}

struct EventObserver {
    events: Events,
    digest: Option<Digest>,
}

impl Observer for EventObserver {
    fn retry(&self, attempt: u32, delay: Duration, error: &Error) {
        self.events.emit(PullEvent::Retry {
            digest: self.digest.clone(),
            attempt,
            delay,
            reason: error.to_string(),
            retry_after: error.retry_after(),
        });
    }

    fn resumed(&self, offset: u64) {
        if let Some(digest) = &self.digest {
            self.events.emit(PullEvent::BlobResumed {
                digest: digest.clone(),
                offset,
            });
        }
    }

    fn response(&self, headers: &HeaderMap) {
        self.events.rate_limit(headers);
    }

    fn endpoint_skipped(&self, endpoint: &str, error: &Error) {
        self.events.emit(PullEvent::EndpointSkipped {
            digest: self.digest.clone(),
            endpoint: endpoint.to_owned(),
            reason: error.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_reported_when_it_changes() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let events = Events::new(Some(Arc::new(move |e: &PullEvent| {
            s.lock().unwrap().push(e.clone())
        })));
        let observer = events.observer(None);
        let mut headers = HeaderMap::new();
        observer.response(&headers);
        headers.insert("ratelimit-limit", "100;w=21600".parse().unwrap());
        headers.insert("ratelimit-remaining", "76;w=21600".parse().unwrap());
        observer.response(&headers);
        observer.response(&headers);
        headers.insert("ratelimit-remaining", "75;w=21600".parse().unwrap());
        observer.response(&headers);
        let seen = seen.lock().unwrap();
        assert_eq!(
            *seen,
            vec![
                PullEvent::RateLimit {
                    limit: "100;w=21600".into(),
                    remaining: "76;w=21600".into()
                },
                PullEvent::RateLimit {
                    limit: "100;w=21600".into(),
                    remaining: "75;w=21600".into()
                },
            ]
        );
    }
}
