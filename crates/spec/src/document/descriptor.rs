//! Descriptors (image-spec "Descriptors") and the empty descriptor (image-spec "Guidelines
//! for Artifact Usage" → "Guidance for an Empty Descriptor").

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{Digest, Platform, media_type};

/// The content of the empty JSON blob, `{}` (image-spec "Guidance for an Empty
/// Descriptor"): two bytes, media type [`media_type::OCI_EMPTY_JSON`].
pub const EMPTY_JSON: &[u8] = b"{}";

/// A reference to content: its media type, digest and size (image-spec "Descriptors").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size of the referenced content in bytes (never negative).
    pub size: u64,
    /// Other places the content may be downloaded from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The content itself, base64-encoded, when embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The artifact type, for manifests of artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The platform, for index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor with only the required fields.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: None,
            annotations: None,
            data: None,
            artifact_type: None,
            platform: None,
        }
    }

    /// A descriptor of `content`: its SHA-256 digest and length.
    pub fn of(media_type: impl Into<String>, content: &[u8]) -> Descriptor {
        Descriptor::new(media_type, Digest::sha256(content), content.len() as u64)
    }

    /// The empty descriptor: [`EMPTY_JSON`] (`{}`, size 2) with media type
    /// `application/vnd.oci.empty.v1+json` (image-spec "Guidance for an Empty
    /// Descriptor"), used as the config of an artifact without one, or as its only layer.
    pub fn empty() -> Descriptor {
        Descriptor::of(media_type::OCI_EMPTY_JSON, EMPTY_JSON)
    }

    /// The value of annotation `key`.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// Adds annotation `key = value`. Default is no annotations.
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        super::annotate(&mut self.annotations, key, value);
        self
    }

    /// Sets the platform (image-spec "Image Index" → `manifests[].platform`). Default is
    /// none.
    pub fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
        self
    }

    /// Sets the artifact type. Default is none.
    pub fn with_artifact_type(mut self, artifact_type: impl Into<String>) -> Self {
        self.artifact_type = Some(artifact_type.into());
        self
    }
}

/// Content and its descriptor together, as made by a builder or fixture: push
/// [`Blob::bytes`] to a registry under [`Blob::descriptor`]'s digest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Blob {
    /// The descriptor of [`Blob::bytes`] (SHA-256 digest, exact size).
    pub descriptor: Descriptor,
    /// The content.
    pub bytes: Bytes,
}

impl Blob {
    /// `bytes` with a descriptor of media type `media_type`.
    pub fn new(media_type: impl Into<String>, bytes: impl Into<Bytes>) -> Blob {
        let bytes = bytes.into();
        Blob {
            descriptor: Descriptor::of(media_type, &bytes),
            bytes,
        }
    }

    /// The empty JSON blob `{}` and [`Descriptor::empty`].
    pub fn empty() -> Blob {
        Blob::new(media_type::OCI_EMPTY_JSON, Bytes::from_static(EMPTY_JSON))
    }

    /// The digest of the content.
    pub fn digest(&self) -> &Digest {
        &self.descriptor.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored() {
        let d = Digest::sha256(b"");
        let json = format!(r#"{{"mediaType":"x","digest":"{d}","size":0,"future":{{"a":1}}}}"#);
        let desc: Descriptor = serde_json::from_str(&json).unwrap();
        assert_eq!(desc, Descriptor::new("x", d, 0));
    }

    #[test]
    fn negative_size_is_rejected() {
        let d = Digest::sha256(b"");
        let json = format!(r#"{{"mediaType":"x","digest":"{d}","size":-1}}"#);
        assert!(serde_json::from_str::<Descriptor>(&json).is_err());
    }

    #[test]
    fn empty_descriptor_is_the_spec_one() {
        let e = Descriptor::empty();
        assert_eq!(e.size, 2);
        assert_eq!(
            e.digest.as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(e.media_type, "application/vnd.oci.empty.v1+json");
        assert_eq!(Blob::empty().descriptor, e);
    }
}
