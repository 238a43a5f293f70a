//! Errors of adding content and of serving.

use std::path::PathBuf;

use ocipull_spec::layout::LayoutError;
use ocipull_spec::{Digest, ManifestError, Repository};

/// Why content could not be added to the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// A manifest refers to a blob or child manifest that was neither given nor stored.
    #[error("repository {repository}: {digest} (referenced by {referenced_by}) was not given")]
    MissingContent {
        /// The repository being added to.
        repository: Repository,
        /// The missing content.
        digest: Digest,
        /// The manifest that refers to it.
        referenced_by: Digest,
    },
    /// A blob's size differs from the size its descriptor declares.
    #[error(
        "repository {repository}: blob {digest} has {actual} bytes, its descriptor says {expected}"
    )]
    SizeMismatch {
        /// The repository being added to.
        repository: Repository,
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// The blob's size.
        actual: u64,
    },
    /// A child of an index was given as bytes that are not a valid manifest.
    #[error("repository {repository}: child manifest {digest} is not a valid manifest")]
    ChildManifest {
        /// The repository being added to.
        repository: Repository,
        /// The child's digest.
        digest: Digest,
        /// What is wrong with it.
        source: ManifestError,
    },
    /// An image layout could not be read.
    #[error("repository {repository}: cannot load the image layout")]
    Layout {
        /// The repository being added to.
        repository: Repository,
        /// What is wrong with the layout (names the file).
        source: LayoutError,
    },
    /// An `index.json` entry's `org.opencontainers.image.ref.name` is not a usable tag.
    #[error("{path}: reference name {name:?} is neither a tag nor a reference with a tag")]
    InvalidRefName {
        /// The layout's `index.json`.
        path: PathBuf,
        /// The rejected name.
        name: String,
    },
}
