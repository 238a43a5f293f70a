//! The OCI image layout: a directory holding `oci-layout`, `index.json` and `blobs/`
//! (feature `layout`).
//!
//! Source: OCI image-spec v1.1 "OCI Image Layout Specification". Blob paths are always
//! built from a validated [`Digest`] (`blobs/<algorithm>/<encoded>`), whose
//! characters cannot form `..` or a separator, so nothing is read or written outside the
//! layout.

mod chunks;
mod error;
mod ranges;
mod reader;
mod writer;

pub use chunks::RangeWriter;
pub use error::LayoutError;
pub use ranges::RangeSet;
pub use reader::{LayoutEntry, LayoutReader};
pub use writer::{LayoutWriter, PartialBlob};

use std::path::{Path, PathBuf};

use crate::Digest;

/// The annotation that names an `index.json` entry (image-spec "Pre-Defined Annotation
/// Keys").
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The lock file [`LayoutWriter`] keeps in a layout it writes: an empty file that writers
/// hold an exclusive OS lock on while they change `index.json`. Readers need not know it:
/// the image-spec defines only `oci-layout`, `index.json` and `blobs/`, and tools that read
/// layouts (skopeo, umoci, containerd) ignore other files at the top.
pub const LOCK_FILE: &str = ".ocipull.lock";

/// The layout version this crate reads and writes.
pub const LAYOUT_VERSION: &str = "1.0.0";

/// The largest `index.json` or manifest file read from a layout (the distribution-spec's
/// suggested manifest limit is 4 MiB; layouts are local, so this is more generous).
pub const MAX_LAYOUT_MANIFEST_SIZE: u64 = 64 * 1024 * 1024;

/// `blobs/<algorithm>/<encoded>` under `dir`.
pub fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs")
        .join(digest.algorithm().as_str())
        .join(digest.encoded())
}
