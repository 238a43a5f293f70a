//! The shared vocabulary of the OCI distribution and image specs: names, digests, media
//! types, manifests and indexes, error bodies, and the on-disk image layout.
//!
//! Pure data and validation, no networking. Every value type is built only through a
//! validating constructor (`FromStr`, `TryFrom`, or serde going through the same check), so
//! holding a [`Repository`], [`Tag`], [`Digest`] or [`Reference`] means holding a valid one.
//!
//! ```
//! use ocipull_spec::{Digest, Manifest, Reference, media_type};
//!
//! let reference: Reference = "ghcr.io/acme/app:v1".parse()?;
//! assert_eq!(reference.repository().as_str(), "acme/app");
//!
//! // A manifest keeps the bytes exactly as received; its digest is computed over them.
//! let raw = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
//! let manifest = Manifest::from_bytes(raw.to_vec(), Some(media_type::OCI_IMAGE_INDEX), None)?;
//! assert_eq!(manifest.digest(), &Digest::sha256(raw));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod blob_source;
mod digest;
mod document;
mod error_body;
pub mod layout;
mod manifest;
pub mod media_type;
mod name;
mod platform;
mod reference;

pub use blob_source::{BlobReader, BlobSource, BoxFuture, FileBlob};
pub use digest::{
    Algorithm, DIGEST_REGEX, Digest, DigestError, DigestMismatch, DigestVerifier, Hasher,
};
pub use document::{Descriptor, ImageIndex, ImageManifest};
pub use error_body::{ErrorBody, ErrorCode, ErrorInfo};
pub use manifest::{Manifest, ManifestError, ManifestKind};
pub use name::{MAX_REPOSITORY_LEN, NameError, REPOSITORY_REGEX, Repository, TAG_REGEX, Tag};
pub use platform::{Platform, PlatformError};
pub use reference::{DOCKER_HUB, DOCKER_HUB_API_HOST, Reference, ReferenceError};

/// Re-exported so users of [`Manifest::bytes`] and [`BlobSource`] need not depend on it.
pub use bytes::Bytes;
