//! [`ManifestRef`]: what names a manifest in a `read` or `head` — a tag, a digest, or a
//! tag checked against a digest. It cannot name nothing.

use ocipull_spec::{Digest, Reference, Tag};

/// How [`Client::read`](crate::Client::read) and [`Client::head`](crate::Client::head)
/// name a manifest (distribution-spec "Pulling manifests": `<reference>` is a tag or a
/// digest).
///
/// ```
/// use ocipull_client::ManifestRef;
/// use ocipull_spec::{Digest, Reference, Tag};
///
/// let tag: Tag = "v1".parse().unwrap();
/// assert_eq!(ManifestRef::from(&tag), ManifestRef::Tag(tag.clone()));
/// let digest = Digest::sha256(b"{}");
/// let pinned: Reference = format!("ghcr.io/acme/app:v1@{digest}").parse().unwrap();
/// assert_eq!(ManifestRef::from(&pinned), ManifestRef::TagAt(tag, digest));
/// let bare: Reference = "ghcr.io/acme/app".parse().unwrap();
/// assert_eq!(ManifestRef::from(&bare), ManifestRef::Tag(Tag::latest()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManifestRef {
    /// By tag: the registry is trusted to name the right content.
    Tag(Tag),
    /// By digest: the bytes must hash to it.
    Digest(Digest),
    /// By tag, verified by digest: the tag is requested and the answer must hash to the
    /// digest (what `name:tag@digest` means to Docker and containerd).
    TagAt(Tag, Digest),
}

impl ManifestRef {
    /// The tag, when the manifest is named by one.
    pub fn tag(&self) -> Option<&Tag> {
        match self {
            ManifestRef::Tag(tag) | ManifestRef::TagAt(tag, _) => Some(tag),
            ManifestRef::Digest(_) => None,
        }
    }

    /// The digest the content must hash to, when there is one.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            ManifestRef::Digest(digest) | ManifestRef::TagAt(_, digest) => Some(digest),
            ManifestRef::Tag(_) => None,
        }
    }

    /// What goes into the manifest URL: the tag when there is one, else the digest.
    pub(crate) fn path_segment(&self) -> &str {
        match self {
            ManifestRef::Tag(tag) | ManifestRef::TagAt(tag, _) => tag.as_str(),
            ManifestRef::Digest(digest) => digest.as_str(),
        }
    }
}

impl std::fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestRef::Tag(tag) => write!(f, "{tag}"),
            ManifestRef::Digest(digest) => write!(f, "{digest}"),
            ManifestRef::TagAt(tag, digest) => write!(f, "{tag}@{digest}"),
        }
    }
}

impl From<Tag> for ManifestRef {
    fn from(tag: Tag) -> ManifestRef {
        ManifestRef::Tag(tag)
    }
}

impl From<&Tag> for ManifestRef {
    fn from(tag: &Tag) -> ManifestRef {
        ManifestRef::Tag(tag.clone())
    }
}

impl From<Digest> for ManifestRef {
    fn from(digest: Digest) -> ManifestRef {
        ManifestRef::Digest(digest)
    }
}

impl From<&Digest> for ManifestRef {
    fn from(digest: &Digest) -> ManifestRef {
        ManifestRef::Digest(digest.clone())
    }
}

/// The manifest part of a reference: its tag and digest, or `latest` when it names
/// neither (Docker's convention). The registry and repository are the client's business:
/// [`Client::pull`](crate::Client::pull) checks them.
impl From<&Reference> for ManifestRef {
    fn from(reference: &Reference) -> ManifestRef {
        match (reference.tag(), reference.digest()) {
            (Some(tag), Some(digest)) => ManifestRef::TagAt(tag.clone(), digest.clone()),
            (None, Some(digest)) => ManifestRef::Digest(digest.clone()),
            (tag, None) => ManifestRef::Tag(tag.cloned().unwrap_or_else(Tag::latest)),
        }
    }
}

impl From<Reference> for ManifestRef {
    fn from(reference: Reference) -> ManifestRef {
        ManifestRef::from(&reference)
    }
}
