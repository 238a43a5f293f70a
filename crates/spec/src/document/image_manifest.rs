//! Image manifests (image-spec "Image Manifest"; Docker "Image Manifest V2, Schema 2") and
//! their builder.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Descriptor, ManifestFormat, annotate, schema_version_2};
use crate::{Manifest, ManifestError};

/// An image manifest (image-spec "Image Manifest"; also Docker schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    #[serde(deserialize_with = "schema_version_2")]
    pub schema_version: u32,
    /// The manifest's own media type, when it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, for artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The configuration blob.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (distribution-spec "Listing Referrers").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageManifest {
    /// A builder of a manifest whose configuration blob is `config`.
    ///
    /// ```
    /// use ocipull_spec::{Blob, ImageConfig, ImageManifest, ManifestFormat, media_type};
    /// let layer = Blob::new(media_type::OCI_LAYER_TAR, vec![0u8; 1024]);
    /// let config = ImageConfig::new(&"linux/amd64".parse()?)
    ///     .with_diff_id(layer.digest().clone())
    ///     .to_blob(ManifestFormat::Oci);
    /// let manifest = ImageManifest::builder(config.descriptor.clone())
    ///     .layer(layer.descriptor.clone())
    ///     .annotation("org.opencontainers.image.version", "1.0")
    ///     .build()
    ///     .to_manifest()?;
    /// assert_eq!(manifest.media_type(), media_type::OCI_IMAGE_MANIFEST);
    /// assert_eq!(manifest.descriptors().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(config: Descriptor) -> ImageManifestBuilder {
        ImageManifestBuilder {
            format: ManifestFormat::Oci,
            manifest: ImageManifest {
                schema_version: 2,
                media_type: None,
                artifact_type: None,
                config,
                layers: Vec::new(),
                subject: None,
                annotations: None,
            },
        }
    }

    /// Serialises this manifest once and wraps the bytes, their SHA-256 digest and this
    /// parsed view in a [`Manifest`]; see [`Manifest::from_document`].
    pub fn to_manifest(&self) -> Result<Manifest, ManifestError> {
        Manifest::from_document(self.clone())
    }
}

/// Builds an [`ImageManifest`] (image-spec "Image Manifest"); from
/// [`ImageManifest::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ImageManifestBuilder {
    format: ManifestFormat,
    manifest: ImageManifest,
}

impl ImageManifestBuilder {
    /// Which media type the manifest declares: OCI `application/vnd.oci.image.manifest.v1+json`
    /// or Docker schema 2. Default is [`ManifestFormat::Oci`]. It does not change the media
    /// types of the descriptors given.
    pub fn format(mut self, format: ManifestFormat) -> Self {
        self.format = format;
        self
    }

    /// Appends a layer (layers are listed base first). Default is no layers.
    pub fn layer(mut self, layer: Descriptor) -> Self {
        self.manifest.layers.push(layer);
        self
    }

    /// Appends layers, base first. Default is no layers.
    pub fn layers(mut self, layers: impl IntoIterator<Item = Descriptor>) -> Self {
        self.manifest.layers.extend(layers);
        self
    }

    /// Adds annotation `key = value` (image-spec "Annotations"). Default is none.
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        annotate(&mut self.manifest.annotations, key, value);
        self
    }

    /// Sets the manifest this one refers to (image-spec "Image Manifest" → `subject`).
    /// Default is none.
    pub fn subject(mut self, subject: Descriptor) -> Self {
        self.manifest.subject = Some(subject);
        self
    }

    /// Sets `artifactType` (image-spec "Image Manifest" → `artifactType`; used when the
    /// manifest describes an artifact). Default is none.
    pub fn artifact_type(mut self, artifact_type: impl Into<String>) -> Self {
        self.manifest.artifact_type = Some(artifact_type.into());
        self
    }

    /// The manifest, with `schemaVersion` 2 and the format's `mediaType`.
    pub fn build(self) -> ImageManifest {
        ImageManifest {
            media_type: Some(self.format.manifest_media_type().to_owned()),
            ..self.manifest
        }
    }
}
