//! Image indexes (image-spec "Image Index"; Docker manifest lists) and their builder.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Descriptor, ManifestFormat, annotate, schema_version_2};
use crate::{Manifest, ManifestError, Platform};

/// An image index (image-spec "Image Index"; also a Docker manifest list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    #[serde(deserialize_with = "schema_version_2")]
    pub schema_version: u32,
    /// The index's own media type, when it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, for artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests this index lists.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageIndex {
    /// An empty OCI index, e.g. the answer to a referrers query with no referrers.
    pub fn empty() -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(crate::media_type::OCI_IMAGE_INDEX.to_owned()),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: None,
        }
    }

    /// A builder of an index (image-spec "Image Index").
    ///
    /// ```
    /// use ocipull_spec::{Descriptor, ImageIndex, ManifestFormat, media_type};
    /// let amd64 = Descriptor::of(media_type::DOCKER_MANIFEST, b"amd64 manifest");
    /// let index = ImageIndex::builder()
    ///     .format(ManifestFormat::Docker)
    ///     .manifest_for(amd64, "linux/amd64".parse()?)
    ///     .build()
    ///     .to_manifest()?;
    /// assert_eq!(index.media_type(), media_type::DOCKER_MANIFEST_LIST);
    /// assert!(index.select_platform(&"linux/amd64".parse()?).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> ImageIndexBuilder {
        ImageIndexBuilder {
            format: ManifestFormat::Oci,
            index: ImageIndex {
                media_type: None,
                ..ImageIndex::empty()
            },
        }
    }

    /// Serialises this index once and wraps the bytes, their SHA-256 digest and this parsed
    /// view in a [`Manifest`]; see [`Manifest::from_document`].
    pub fn to_manifest(&self) -> Result<Manifest, ManifestError> {
        Manifest::from_document(self.clone())
    }
}

/// Builds an [`ImageIndex`] (image-spec "Image Index"); from [`ImageIndex::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ImageIndexBuilder {
    format: ManifestFormat,
    index: ImageIndex,
}

impl ImageIndexBuilder {
    /// Which media type the index declares: OCI image index or Docker manifest list.
    /// Default is [`ManifestFormat::Oci`].
    pub fn format(mut self, format: ManifestFormat) -> Self {
        self.format = format;
        self
    }

    /// Appends an entry as given. Default is no entries.
    pub fn manifest(mut self, entry: Descriptor) -> Self {
        self.index.manifests.push(entry);
        self
    }

    /// Appends an entry for the manifest `entry` describes, running on `platform`
    /// (image-spec "Image Index" → `manifests[].platform`).
    pub fn manifest_for(self, entry: Descriptor, platform: Platform) -> Self {
        self.manifest(entry.with_platform(platform))
    }

    /// Adds annotation `key = value`. Default is none.
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        annotate(&mut self.index.annotations, key, value);
        self
    }

    /// Sets the manifest this index refers to (image-spec "Image Index" → `subject`).
    /// Default is none.
    pub fn subject(mut self, subject: Descriptor) -> Self {
        self.index.subject = Some(subject);
        self
    }

    /// Sets `artifactType` (image-spec "Image Index" → `artifactType`). Default is none.
    pub fn artifact_type(mut self, artifact_type: impl Into<String>) -> Self {
        self.index.artifact_type = Some(artifact_type.into());
        self
    }

    /// The index, with `schemaVersion` 2 and the format's `mediaType`.
    pub fn build(self) -> ImageIndex {
        ImageIndex {
            media_type: Some(self.format.index_media_type().to_owned()),
            ..self.index
        }
    }
}
