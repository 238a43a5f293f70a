//! Artifact manifests (image-spec "Guidelines for Artifact Usage").

use std::collections::BTreeMap;

use super::{Descriptor, ImageManifest, annotate};
use crate::media_type;

/// Builds the [`ImageManifest`] of an artifact, following image-spec "Guidelines for
/// Artifact Usage": `artifactType` is set, the config is the empty descriptor unless one is
/// given, and an artifact without blobs gets the empty descriptor as its only layer.
///
/// Remember to store the `{}` blob ([`Blob::empty`](crate::Blob::empty)) with an artifact
/// that uses the empty descriptor.
///
/// ```
/// use ocipull_spec::{ArtifactManifestBuilder, Blob, Descriptor, media_type};
/// let sbom = Blob::new("application/spdx+json", br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec());
/// let subject = Descriptor::of(media_type::OCI_IMAGE_MANIFEST, b"the image's manifest");
/// let manifest = ArtifactManifestBuilder::new("application/spdx+json")
///     .subject(subject.clone())
///     .blob(sbom.descriptor.clone())
///     .build()
///     .to_manifest()?;
/// assert_eq!(manifest.subject(), Some(&subject));
/// assert_eq!(manifest.as_image().unwrap().config, Descriptor::empty());
/// # Ok::<(), ocipull_spec::ManifestError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ArtifactManifestBuilder {
    artifact_type: String,
    config: Option<Descriptor>,
    blobs: Vec<Descriptor>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

impl ArtifactManifestBuilder {
    /// A builder of an artifact of type `artifact_type` (an IANA-style media type such as
    /// `application/spdx+json`).
    pub fn new(artifact_type: impl Into<String>) -> ArtifactManifestBuilder {
        ArtifactManifestBuilder {
            artifact_type: artifact_type.into(),
            config: None,
            blobs: Vec::new(),
            subject: None,
            annotations: None,
        }
    }

    /// Sets a config blob. Default is the empty descriptor ([`Descriptor::empty`]).
    pub fn config(mut self, config: Descriptor) -> Self {
        self.config = Some(config);
        self
    }

    /// Appends a blob (listed in `layers`). Default is none, which lists the empty
    /// descriptor as the only layer.
    pub fn blob(mut self, blob: Descriptor) -> Self {
        self.blobs.push(blob);
        self
    }

    /// Appends blobs. Default is none.
    pub fn blobs(mut self, blobs: impl IntoIterator<Item = Descriptor>) -> Self {
        self.blobs.extend(blobs);
        self
    }

    /// Sets the manifest this artifact refers to (a referrer of `subject`, distribution-spec
    /// "Listing Referrers"). Default is none.
    pub fn subject(mut self, subject: Descriptor) -> Self {
        self.subject = Some(subject);
        self
    }

    /// Adds annotation `key = value`. Default is none.
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        annotate(&mut self.annotations, key, value);
        self
    }

    /// The artifact's manifest (always OCI: Docker schema 2 has no artifacts).
    pub fn build(self) -> ImageManifest {
        let layers = if self.blobs.is_empty() {
            vec![Descriptor::empty()]
        } else {
            self.blobs
        };
        ImageManifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_IMAGE_MANIFEST.to_owned()),
            artifact_type: Some(self.artifact_type),
            config: self.config.unwrap_or_else(Descriptor::empty),
            layers,
            subject: self.subject,
            annotations: self.annotations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_artifact_has_the_empty_layer() {
        let m = ArtifactManifestBuilder::new("application/x-note")
            .annotation("k", "v")
            .build();
        assert_eq!(m.layers, vec![Descriptor::empty()]);
        assert_eq!(m.artifact_type.as_deref(), Some("application/x-note"));
        let manifest = m.to_manifest().unwrap();
        assert_eq!(
            manifest.descriptor().artifact_type.as_deref(),
            Some("application/x-note")
        );
    }
}
