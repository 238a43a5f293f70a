//! What [`Server::add`](crate::Server::add) accepts: blobs and child manifests.

use std::sync::Arc;

use bytes::Bytes;
use ocipull_spec::{BlobSource, Digest, Manifest};

/// One piece of content given to [`Store::add`](crate::Store::add): a blob (from any
/// [`BlobSource`]) or a child manifest of an index.
///
/// ```
/// use ocipull_server::Content;
/// use ocipull_spec::{Bytes, Digest};
/// let layer = Content::from(Bytes::from_static(b"layer"));
/// assert_eq!(layer.digest(), &Digest::sha256(b"layer"));
/// ```
#[derive(Clone)]
pub struct Content {
    pub(crate) kind: ContentKind,
}

#[derive(Clone)]
pub(crate) enum ContentKind {
    Blob {
        digest: Digest,
        source: Arc<dyn BlobSource>,
    },
    Manifest(Box<Manifest>),
}

impl Content {
    /// A blob whose content is `source` and whose digest the caller vouches for. A wrong digest
    /// is served as given, which is a way to test clients' verification.
    pub fn blob(digest: Digest, source: impl BlobSource) -> Content {
        Content::shared_blob(digest, Arc::new(source))
    }

    /// Like [`Content::blob`], for a source that is already shared.
    pub fn shared_blob(digest: Digest, source: Arc<dyn BlobSource>) -> Content {
        Content {
            kind: ContentKind::Blob { digest, source },
        }
    }

    /// An in-memory blob; its SHA-256 digest is computed here.
    pub fn bytes(bytes: impl Into<Bytes>) -> Content {
        let bytes = bytes.into();
        Content::blob(Digest::sha256(&bytes), bytes)
    }

    /// A child manifest of an index.
    pub fn manifest(manifest: Manifest) -> Content {
        Content {
            kind: ContentKind::Manifest(Box::new(manifest)),
        }
    }

    /// The content's digest.
    pub fn digest(&self) -> &Digest {
        match &self.kind {
            ContentKind::Blob { digest, .. } => digest,
            ContentKind::Manifest(m) => m.digest(),
        }
    }
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ContentKind::Blob { digest, source } => f
                .debug_struct("Blob")
                .field("digest", digest)
                .field("size", &source.size())
                .finish(),
            ContentKind::Manifest(m) => f.debug_tuple("Manifest").field(m.digest()).finish(),
        }
    }
}

impl From<Bytes> for Content {
    fn from(bytes: Bytes) -> Content {
        Content::bytes(bytes)
    }
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Content {
        Content::bytes(bytes)
    }
}

impl From<&'static [u8]> for Content {
    fn from(bytes: &'static [u8]) -> Content {
        Content::bytes(Bytes::from_static(bytes))
    }
}

impl From<Manifest> for Content {
    fn from(manifest: Manifest) -> Content {
        Content::manifest(manifest)
    }
}
