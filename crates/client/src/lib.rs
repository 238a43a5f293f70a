//! A pull client for OCI registries: manifests, blobs, tags, referrers, and pull into an
//! OCI image layout — robust against the failures real registries produce.
//!
//! A [`Client`] talks to one repository of one registry. Every operation goes down the same
//! path, readable top to bottom (assembled in one place, `src/stack.rs`):
//!
//! ```text
//! operation          read / head / blob / tags / referrers / pull
//!  └ retry loop      backoff per operation, Retry-After, deadline; blobs resume with Range
//!     └ stall        no response head within the stall timeout → Error::Stalled
//!        └ auth      401 → WWW-Authenticate → Bearer token (cached) or Basic → retry once
//!           └ redirects        up to 10; Authorization never crosses to another origin
//!              └ loopback fallback   Scheme::Auto: HTTPS → plain HTTP once per client
//!                 └ user layers      ClientBuilder::layer (first call outermost)
//!                    └ transport     DefaultTransport (hyper-util + rustls) or any
//!                                    tower::Service<http::Request> (ClientBuilder::transport)
//! ```
//!
//! The example serves one image manifest (made with `ocipull_spec`'s builders) from an
//! in-memory transport (any `tower::Service` works) and reads it back, verified against
//! its digest:
//!
//! ```
//! use ocipull_client::{Client, ManifestRef, RequestBody};
//! use ocipull_spec::{Descriptor, ImageManifest, Tag, media_type};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manifest = ImageManifest::builder(Descriptor::empty())
//!     .layer(Descriptor::of(media_type::OCI_LAYER_TAR, b"a layer"))
//!     .build()
//!     .to_manifest()?;
//! let body = manifest.bytes().clone();
//! let registry = tower::service_fn(move |request: http::Request<RequestBody>| {
//!     let body = body.clone();
//!     async move {
//!         assert_eq!(request.uri().path(), "/v2/team/app/manifests/v1");
//!         http::Response::builder()
//!             .header("content-type", media_type::OCI_IMAGE_MANIFEST)
//!             .body(http_body_util::Full::new(body))
//!     }
//! });
//! let client = Client::builder("registry.example", "team/app".parse()?)
//!     .transport(registry)
//!     .build()?;
//! let tag: Tag = "v1".parse()?;
//! let read = client.read(ManifestRef::TagAt(tag, manifest.digest().clone())).await?;
//! assert_eq!(read.digest(), manifest.digest());
//! assert_eq!(read.descriptors(), manifest.descriptors());
//! # Ok(()) }
//! ```
//!
//! Pulling to disk is [`Client::pull`]; [`BlobStream`] is the verified, resumable stream
//! under it.
//!
//! # Security
//!
//! URLs in errors and logs are [`RedactedUrl`]s (query values other than `scope` and
//! `service` removed). Credentials and tokens never appear in errors, logs or `Debug`
//! output.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod auth;
mod body;
mod builder;
mod classify;
mod client;
mod error;
mod manifest_ref;
pub mod mirror;
mod ops;
mod pull;
mod redact;
mod registries;
pub mod retry;
mod stack;
#[cfg(test)]
mod test_transport;
mod transport;

pub use auth::{
    ContainersAuthFile, CredentialChain, CredentialError, CredentialHelper, CredentialSource,
    Credentials, DockerConfig, HelperSettings,
};
pub use builder::{
    ClientBuilder, DEFAULT_ERROR_BODY_LIMIT, DEFAULT_MANIFEST_LIMIT, DEFAULT_STALL_TIMEOUT,
    DEFAULT_TOKEN_RESPONSE_LIMIT, DEFAULT_USER_AGENT,
};
pub use classify::{Class, classify, classify_status};
pub use client::{Client, Scheme};
pub use error::{BoxError, ConfigError, DigestSubject, Error, HttpError};
pub use manifest_ref::ManifestRef;
pub use ops::{BlobStream, CatalogPage, NextPage, TagPage};
pub use pull::{
    Chunking, Conversion, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_THRESHOLD, DEFAULT_CHUNKS_PER_BLOB,
    DEFAULT_CHUNKS_PER_PULL, DEFAULT_JOBS, DEFAULT_SINGLE_CONNECTION_ABOVE,
    DEFAULT_SMALL_BLOB_JOBS, EventHandler, PROBE_SAMPLE, Platforms, PullEvent, PullOptions,
    PullReport, SMALL_BLOB_SIZE,
};
pub use redact::RedactedUrl;
pub use registries::{Registries, RegistriesBuilder, RegistrySettings};
pub use transport::{BoxTransport, ProxyError, RequestBody, ResponseBody};
#[cfg(feature = "hyper")]
pub use transport::{DefaultTransport, ProxyConfig, TlsConfig};

/// Re-exported so callers can name backoffs without depending on `backon`.
pub use backon;
