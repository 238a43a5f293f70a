//! A pull client for OCI registries: manifests, blobs, tags, referrers, and pull into an
//! OCI image layout — robust against the failures real registries produce.
//!
//! A [`Client`] talks to one repository of one registry. Every operation goes down the same
//! path, readable top to bottom:
//!
//! ```text
//! operation      read / head / blob / tags / referrers / pull
//!  └ retry loop  backoff per operation, Retry-After, deadline; blobs resume with Range
//!     └ auth     401 → WWW-Authenticate → Bearer token (cached) or Basic → retry once
//!        └ redirects   up to 10; Authorization never crosses to another origin
//!           └ transport   any tower::Service<http::Request> (default: hyper-util + rustls)
//! ```
//!
//! The example serves one manifest from an in-memory transport (any `tower::Service`
//! works) and reads it back, verified against its digest:
//!
//! ```
//! use ocipull_client::{Client, RequestBody, Scheme};
//! use ocipull_spec::{Bytes, Digest, media_type};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manifest = Bytes::from_static(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#);
//! let digest = Digest::sha256(&manifest);
//! let body = manifest.clone();
//! let registry = tower::service_fn(move |request: http::Request<RequestBody>| {
//!     let body = body.clone();
//!     async move {
//!         assert_eq!(request.uri().path(), "/v2/team/app/manifests/v1");
//!         http::Response::builder()
//!             .header("content-type", media_type::OCI_IMAGE_INDEX)
//!             .body(http_body_util::Full::new(body))
//!     }
//! });
//! let client = Client::builder("registry.example", "team/app".parse()?)
//!     .scheme(Scheme::Http)
//!     .transport(registry)
//!     .build()?;
//! let read = client.read(Some(&"v1".parse()?), Some(&digest)).await?;
//! assert_eq!(read.digest(), &digest);
//! assert_eq!(read.media_type(), media_type::OCI_IMAGE_INDEX);
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

pub mod auth;
mod body;
mod builder;
mod classify;
mod client;
mod error;
mod ops;
mod pull;
mod redact;
pub mod retry;
#[cfg(test)]
mod test_transport;
mod transport;

pub use auth::{Credentials, DockerConfig};
pub use builder::{
    ClientBuilder, DEFAULT_ERROR_BODY_LIMIT, DEFAULT_MANIFEST_LIMIT, DEFAULT_STALL_TIMEOUT,
    DEFAULT_TOKEN_RESPONSE_LIMIT, DEFAULT_USER_AGENT,
};
pub use classify::{Class, classify, classify_status};
pub use client::{Client, Scheme};
pub use error::{BoxError, Error, HttpError};
pub use ops::{BlobStream, MAX_PAGES, RANGE_IGNORED_BUDGET_FACTOR, RANGE_IGNORED_BUDGET_FLOOR};
pub use pull::{
    DEFAULT_JOBS, EventHandler, MAX_INDEX_DEPTH, Platforms, PullEvent, PullOptions, PullReport,
};
pub use redact::RedactedUrl;
pub use transport::{MAX_REDIRECTS, RequestBody, ResponseBody};

/// Re-exported so callers can name backoffs without depending on `backon`.
pub use backon;
