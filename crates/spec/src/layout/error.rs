use std::io;
use std::path::PathBuf;

use crate::{Digest, DigestMismatch, ManifestError};

/// What went wrong reading or writing an image layout.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The `oci-layout` file is missing or malformed.
    #[error("{path}: not an OCI image layout: {reason}")]
    NotALayout {
        /// The `oci-layout` file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The layout declares a version this crate does not support.
    #[error("{path}: unsupported image layout version {version:?}")]
    UnsupportedVersion {
        /// The `oci-layout` file.
        path: PathBuf,
        /// The declared version.
        version: String,
    },
    /// `index.json` or a manifest blob does not parse.
    #[error("{path}: {source}")]
    InvalidManifest {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: ManifestError,
    },
    /// A blob the index or a manifest refers to is not there.
    #[error("{path}: blob {digest} is missing")]
    BlobMissing {
        /// The blob.
        digest: Digest,
        /// Where it should be.
        path: PathBuf,
    },
    /// A blob's size differs from its descriptor's.
    #[error("blob {digest}: expected {expected} bytes, found {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// The size found (or written so far).
        actual: u64,
    },
    /// A blob's content does not hash to its digest.
    #[error(transparent)]
    Digest(#[from] DigestMismatch),
    /// A manifest file is larger than [`MAX_LAYOUT_MANIFEST_SIZE`](super::MAX_LAYOUT_MANIFEST_SIZE).
    #[error("{path}: {size} bytes is over the {limit}-byte manifest limit")]
    ManifestTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl LayoutError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> LayoutError {
        let path = path.into();
        move |source| LayoutError::Io { path, source }
    }
}
