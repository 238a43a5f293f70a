//! The shared vocabulary of the OCI distribution and image specs: names, digests, media
//! types, manifests, indexes and image configs with builders for them, error bodies, and
//! (feature `layout`) the on-disk image layout.
//!
//! Pure data and validation, no networking. Every value type is built only through a
//! validating constructor (`FromStr`, `TryFrom`, or serde going through the same check), so
//! holding a [`Repository`], [`Tag`], [`Digest`] or [`Reference`] means holding a valid one.
//!
//! # Features
//!
//! The default build is the pure types core, with no async runtime and no file I/O.
//!
//! - `layout`: the OCI image layout reader/writer (`layout`) and the `BlobSource` trait
//!   with `FileBlob` and `BlobReader`; pulls in tokio and tempfile.
//! - `fixtures`: deterministic images, indexes and artifacts made from a seed, for tests
//!   (`fixtures`); pulls in tar and flate2, no runtime.
//!
//! ```
//! use ocipull_spec::{
//!     Blob, Digest, ImageConfig, ImageIndex, ImageManifest, Manifest, ManifestFormat,
//!     Reference, media_type,
//! };
//!
//! let reference: Reference = "ghcr.io/acme/app:v1".parse()?;
//! assert_eq!(reference.repository().as_str(), "acme/app");
//!
//! // A manifest keeps the bytes exactly as received; its digest is computed over them.
//! let raw = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
//! let manifest = Manifest::from_bytes(raw.to_vec(), Some(media_type::OCI_IMAGE_INDEX), None)?;
//! assert_eq!(manifest.digest(), &Digest::sha256(raw));
//!
//! // Documents are built without I/O and serialised once into a `Manifest`.
//! let layer = Blob::new(media_type::OCI_LAYER_TAR, vec![0u8; 512]);
//! let config = ImageConfig::new(&"linux/arm64/v8".parse()?)
//!     .with_diff_id(layer.digest().clone())
//!     .to_blob(ManifestFormat::Oci);
//! let image = ImageManifest::builder(config.descriptor.clone())
//!     .layer(layer.descriptor.clone())
//!     .build()
//!     .to_manifest()?;
//! let index = ImageIndex::builder()
//!     .manifest_for(image.descriptor(), "linux/arm64/v8".parse()?)
//!     .build()
//!     .to_manifest()?;
//! assert_eq!(index.select_platform(&"linux/arm64".parse()?).unwrap().digest, *image.digest());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "layout")]
mod blob_source;
mod digest;
mod document;
mod error_body;
#[cfg(feature = "fixtures")]
pub mod fixtures;
#[cfg(feature = "layout")]
pub mod layout;
mod manifest;
pub mod media_type;
mod name;
mod platform;
mod reference;

#[cfg(feature = "layout")]
pub use blob_source::{BlobReader, BlobSource, BoxFuture, FileBlob};
pub use digest::{
    Algorithm, DIGEST_REGEX, Digest, DigestError, DigestMismatch, DigestVerifier, Hasher,
};
pub use document::{
    ArtifactManifestBuilder, Blob, ConfigError, ContainerConfig, Descriptor, EMPTY_JSON, History,
    ImageConfig, ImageIndex, ImageIndexBuilder, ImageManifest, ImageManifestBuilder,
    ManifestFormat, RootFs,
};
pub use error_body::{ErrorBody, ErrorCode, ErrorInfo};
pub use manifest::{Manifest, ManifestError, ManifestKind};
pub use name::{MAX_REPOSITORY_LEN, NameError, REPOSITORY_REGEX, Repository, TAG_REGEX, Tag};
pub use platform::{Platform, PlatformError};
pub use reference::{DOCKER_HUB, DOCKER_HUB_API_HOST, Reference, ReferenceError};

/// Re-exported so users of [`Manifest::bytes`] (and of `BlobSource`) need not depend on it.
pub use bytes::Bytes;
