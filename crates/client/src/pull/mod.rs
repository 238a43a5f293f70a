//! Pulling to disk: an image, one platform of an index, or a whole index, into an OCI
//! image layout (image-spec "OCI Image Layout Specification").
//!
//! Four steps, each on its own: **plan** (read the manifests, pick the platform, list the
//! blobs), **fetch** (download blobs with bounded concurrency into partial files, verified
//! before they are renamed into `blobs/`), **write** (manifests, then `index.json` with the
//! `org.opencontainers.image.ref.name` annotation), and **report** (events to a callback).
//!
//! An interrupted pull leaves nothing unverified in `blobs/` and `index.json` never names
//! a manifest whose blobs are missing. Partial downloads wait outside `blobs/`; running the
//! same pull again continues each with `Range` from where it stopped.

mod chunked;
mod chunking;
mod convert;
mod events;
mod fetch;
mod plan;

use std::path::Path;
use std::sync::Arc;

use ocipull_spec::layout::{LayoutError, LayoutWriter};
use ocipull_spec::{Descriptor, Digest, Platform, Reference};

pub use chunking::{
    Chunking, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_THRESHOLD, DEFAULT_CHUNKS_PER_BLOB,
    DEFAULT_CHUNKS_PER_PULL, DEFAULT_SINGLE_CONNECTION_ABOVE, PROBE_SAMPLE,
};
pub use convert::Conversion;
pub use events::{EventHandler, PullEvent};

use crate::{Client, Error, ManifestRef};

/// Blobs downloaded at once by default: enough to fill a link with a few large layers
/// while staying polite to the registry (Docker and containerd use 3; skopeo 6 per image).
pub const DEFAULT_JOBS: usize = 4;

/// Small blobs downloaded at once by default, besides the [`DEFAULT_JOBS`]: a blob of at
/// most [`SMALL_BLOB_SIZE`] costs a round trip more than it costs bandwidth, so an image of
/// many small layers far from its registry is bound by latency unless many are in flight.
/// Each is one short request; over HTTP/2 they share one connection.
pub const DEFAULT_SMALL_BLOB_JOBS: usize = 16;

/// The largest blob that counts as small for [`PullOptions::small_blob_jobs`] (1 MiB).
pub const SMALL_BLOB_SIZE: u64 = 1024 * 1024;

/// Which images of an index to pull.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Platforms {
    /// The image for one platform (image-spec platform matching, see
    /// [`Platform::matches`]); an image manifest is pulled whatever its platform.
    One(Platform),
    /// The index with every image it lists.
    All,
}

impl Platforms {
    /// The platform of this machine: `linux` (or `windows`) and the Go name of the CPU
    /// architecture, the convention of image indexes.
    pub fn host() -> Platforms {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        let os = if cfg!(windows) { "windows" } else { "linux" };
        Platforms::One(Platform::new(os, arch))
    }
}

/// Options of [`Client::pull`].
#[derive(Clone)]
pub struct PullOptions {
    platforms: Platforms,
    jobs: usize,
    small_blob_jobs: usize,
    events: Option<EventHandler>,
    verify_existing: bool,
    ref_name: Option<Option<String>>,
    any_platform: bool,
    convert_to_oci: bool,
    chunking: Chunking,
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("platforms", &self.platforms)
            .field("jobs", &self.jobs)
            .field("small_blob_jobs", &self.small_blob_jobs)
            .field("events", &self.events.is_some())
            .field("verify_existing", &self.verify_existing)
            .field("ref_name", &self.ref_name)
            .field("any_platform", &self.any_platform)
            .field("convert_to_oci", &self.convert_to_oci)
            .field("chunking", &self.chunking)
            .finish()
    }
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions::new(Platforms::host())
    }
}

impl PullOptions {
    /// Options pulling `platforms`.
    pub fn new(platforms: Platforms) -> PullOptions {
        PullOptions {
            platforms,
            jobs: DEFAULT_JOBS,
            small_blob_jobs: DEFAULT_SMALL_BLOB_JOBS,
            events: None,
            verify_existing: true,
            ref_name: None,
            any_platform: false,
            convert_to_oci: false,
            chunking: Chunking::default(),
        }
    }

    /// How large blobs are split into parallel `Range` requests. Default is
    /// [`Chunking::new`] (blobs over [`DEFAULT_CHUNK_THRESHOLD`]); [`Chunking::off`]
    /// downloads every blob on one connection.
    pub fn chunking(mut self, chunking: Chunking) -> Self {
        self.chunking = chunking;
        self
    }

    /// Which images of an index to pull. Default is [`Platforms::host`].
    pub fn platforms(mut self, platforms: Platforms) -> Self {
        self.platforms = platforms;
        self
    }

    /// Blobs downloaded at once. Default is [`DEFAULT_JOBS`]; 0 counts as 1.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Small blobs (at most [`SMALL_BLOB_SIZE`]) downloaded at once in addition to
    /// [`PullOptions::jobs`], which also take small blobs when no larger one is left.
    /// Default is [`DEFAULT_SMALL_BLOB_JOBS`]; 0 leaves small blobs to the `jobs` alone.
    pub fn small_blob_jobs(mut self, jobs: usize) -> Self {
        self.small_blob_jobs = jobs;
        self
    }

    /// The events callback. Default is none. It runs on the download tasks: keep it short.
    pub fn events(mut self, handler: impl Fn(&PullEvent) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(handler));
        self
    }

    /// Whether blobs already in the layout are hashed again before being skipped. Default
    /// is yes; without it a blob of the right size is trusted (the layout writer only
    /// ever renames verified blobs into place).
    pub fn verify_existing(mut self, verify: bool) -> Self {
        self.verify_existing = verify;
        self
    }

    /// Whether a single image manifest is pulled whatever platform its config declares.
    /// Default is no: with [`Platforms::One`], the client reads the image's config
    /// (image-spec "Image Configuration": `os`, `architecture`, `variant`) and refuses an
    /// image for another platform with [`Error::PlatformMismatch`], as Docker and podman
    /// do. (An index is always matched by its entries' platforms.)
    pub fn any_platform(mut self, any: bool) -> Self {
        self.any_platform = any;
        self
    }

    /// Whether Docker schema 2 manifests and manifest lists are converted to OCI media
    /// types in the layout. Default is no: the layout holds the registry's manifests byte
    /// for byte, with their digests.
    ///
    /// Converted manifests are new documents with new digests (the
    /// [`PullReport::conversions`] and [`PullEvent::Converted`] say old → new); configs and
    /// layers keep their bytes and digests, their descriptors get the OCI types
    /// (`…rootfs.diff.tar.gzip` → `application/vnd.oci.image.layer.v1.tar+gzip`, foreign
    /// layers → the image-spec's non-distributable type). Use it for tools that read only
    /// OCI types from a layout (skopeo's, podman's and umoci's `oci:` transports). A Docker
    /// type with no OCI counterpart is [`Error::Conversion`].
    pub fn convert_to_oci(mut self, convert: bool) -> Self {
        self.convert_to_oci = convert;
        self
    }

    /// The `org.opencontainers.image.ref.name` of the `index.json` entry (`None`: no
    /// annotation). Default is the reference's tag, or `latest` when the reference names
    /// neither tag nor digest, or none for a digest-only reference.
    pub fn ref_name(mut self, name: Option<String>) -> Self {
        self.ref_name = Some(name);
        self
    }
}

/// What [`Client::pull`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PullReport {
    /// The manifest or index the reference names.
    pub root: Descriptor,
    /// The `index.json` entry written: the root, or the image chosen for a platform.
    pub entry: Descriptor,
    /// Manifests and indexes written.
    pub manifests: usize,
    /// Blobs downloaded.
    pub blobs_downloaded: usize,
    /// Blobs already present and skipped.
    pub blobs_skipped: usize,
    /// Bytes downloaded for blobs (resumed downloads count only the new bytes).
    pub bytes_downloaded: u64,
    /// Which endpoint (`scheme://host`: a mirror or the registry) served each manifest
    /// read, in the order read.
    pub manifest_endpoints: Vec<(Digest, String)>,
    /// Which endpoint served each blob downloaded (blobs already present are not listed).
    pub blob_endpoints: Vec<(Digest, String)>,
    /// The platform the image's config declares, when the pull read it (a single image
    /// pulled with [`Platforms::One`]).
    pub platform: Option<Platform>,
    /// Manifests converted to OCI media types ([`PullOptions::convert_to_oci`]), old →
    /// new, children before the indexes listing them; empty without conversion.
    pub conversions: Vec<Conversion>,
}

impl PullReport {
    /// The digest of the manifest written to `index.json`.
    pub fn digest(&self) -> &Digest {
        &self.entry.digest
    }
}

impl Client {
    /// Pulls `reference` into the OCI image layout at `dir` (created when missing; an
    /// existing layout keeps its other entries).
    ///
    /// The reference must name the client's registry (compared as
    /// [`Reference::api_host`], so `docker.io` is Docker Hub's API host) and repository;
    /// another is [`Error::WrongTarget`] and no request is sent. A reference with neither
    /// tag nor digest pulls `latest`. An image manifest is pulled as is; for an index,
    /// [`PullOptions::platforms`] picks one image or all of them.
    ///
    /// With mirrors, each manifest and blob comes from the first endpoint that serves it
    /// (see [`Client::read`]); a blob a mirror serves wrong (digest or size) is deleted and
    /// fetched from the next endpoint. [`PullReport`] and [`PullEvent::Served`] name the
    /// endpoint of each.
    pub async fn pull(
        &self,
        reference: &Reference,
        dir: impl AsRef<Path>,
        options: &PullOptions,
    ) -> Result<PullReport, Error> {
        let (host, repository) = self.answers_for();
        if !reference.api_host().eq_ignore_ascii_case(host) || reference.repository() != repository
        {
            return Err(Error::WrongTarget {
                client_host: host.to_owned(),
                client_repository: repository.clone(),
                reference: Box::new(reference.clone()),
            });
        }
        let events = events::Events::new(options.events.clone());
        let manifest = ManifestRef::from(reference);
        let tag = manifest.tag().cloned();
        let mut plan = plan::plan(
            self,
            &manifest,
            &options.platforms,
            options.any_platform,
            dir.as_ref(),
            &events,
        )
        .await?;
        let conversions = if options.convert_to_oci {
            convert::convert(self, &mut plan)?
        } else {
            Vec::new()
        };
        for c in &conversions {
            events.emit(PullEvent::Converted {
                from: Box::new(c.from.clone()),
                to: Box::new(c.to.clone()),
            });
        }
        let dir = dir.as_ref().to_owned();
        let writer = Arc::new(blocking(move || LayoutWriter::create(dir)).await?);
        // Blobs read while planning (a single image's config) go in first, as if fetched,
        // so that an interrupted pull keeps them too.
        let inline = std::mem::take(&mut plan.inline);
        let inline_count = inline.len();
        let inline_bytes: u64 = inline.iter().map(|(d, _)| d.size).sum();
        for (d, bytes) in inline {
            events.emit(PullEvent::BlobStarted {
                digest: d.digest.clone(),
                size: d.size,
                offset: 0,
            });
            let w = writer.clone();
            let desc = d.clone();
            blocking(move || w.write_blob_bytes(&desc, &bytes)).await?;
            if events.enabled() {
                events.emit(PullEvent::BlobProgress {
                    digest: d.digest.clone(),
                    bytes: d.size,
                });
            }
            events.emit(PullEvent::BlobDone {
                digest: d.digest,
                size: d.size,
            });
        }
        let fetched = fetch::fetch_all(
            fetch::FetchSettings {
                client: self.clone(),
                writer: writer.clone(),
                events: events.clone(),
                verify_existing: options.verify_existing,
                chunking: options.chunking,
                chunk_permits: Arc::new(tokio::sync::Semaphore::new(
                    options.chunking.get_per_pull(),
                )),
            },
            plan.blobs,
            fetch::Lanes {
                jobs: options.jobs,
                small_jobs: options.small_blob_jobs,
                small_size: SMALL_BLOB_SIZE,
            },
        )
        .await?;
        let ref_name = match &options.ref_name {
            Some(name) => name.clone(),
            None => tag.map(|t| t.to_string()),
        };
        let manifests = plan.manifests.len();
        let entry = plan.entry.clone();
        {
            let entry = entry.clone();
            blocking(move || {
                for m in &plan.manifests {
                    writer.write_blob_bytes(&m.descriptor(), m.bytes())?;
                }
                writer.add_manifest(&entry, ref_name.as_deref())
            })
            .await?;
        }
        let (manifest_endpoints, blob_endpoints) = events.endpoints();
        Ok(PullReport {
            manifest_endpoints,
            blob_endpoints,
            root: plan.root,
            entry,
            manifests,
            blobs_downloaded: fetched.downloaded + inline_count,
            blobs_skipped: fetched.skipped,
            bytes_downloaded: fetched.bytes + inline_bytes,
            platform: plan.platform,
            conversions,
        })
    }
}

/// Runs file-system work that fsyncs off the async worker threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, LayoutError> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Error::from),
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}
