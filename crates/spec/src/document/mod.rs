//! The JSON documents: descriptors, image manifests, image indexes and image configs, with
//! builders that make them without I/O.
//!
//! Sources: OCI image-spec v1.1 "Descriptors", "Image Manifest", "Image Index", "Image
//! Configuration", "Guidelines for Artifact Usage"; Docker's "Image Manifest V2, Schema 2"
//! (whose manifests and manifest lists have the same shape). Unknown fields are ignored by
//! manifests and indexes, as the image-spec requires of consumers ("Extensibility"); an
//! [`ImageConfig`] keeps them.

mod artifact;
mod config;
mod descriptor;
mod image_manifest;
mod index;

pub use artifact::ArtifactManifestBuilder;
pub use config::{ConfigError, ContainerConfig, History, ImageConfig, RootFs};
pub use descriptor::{Blob, Descriptor, EMPTY_JSON};
pub use image_manifest::{ImageManifest, ImageManifestBuilder};
pub use index::{ImageIndex, ImageIndexBuilder};

use serde::{Deserialize, Deserializer};

use crate::media_type;

/// Which family of media types a built document uses.
///
/// The OCI image-spec and Docker's schema 2 share one document shape but name the
/// manifest, index, config and layer types differently ("Image Manifest V2, Schema 2").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ManifestFormat {
    /// The OCI image-spec types (`application/vnd.oci.…`). The default.
    #[default]
    Oci,
    /// Docker schema 2 types (`application/vnd.docker.…`).
    Docker,
}

impl ManifestFormat {
    /// The image manifest media type of this format.
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => media_type::OCI_IMAGE_MANIFEST,
            ManifestFormat::Docker => media_type::DOCKER_MANIFEST,
        }
    }

    /// The index (Docker: manifest list) media type of this format.
    pub fn index_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => media_type::OCI_IMAGE_INDEX,
            ManifestFormat::Docker => media_type::DOCKER_MANIFEST_LIST,
        }
    }

    /// The image configuration media type of this format.
    pub fn config_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => media_type::OCI_IMAGE_CONFIG,
            ManifestFormat::Docker => media_type::DOCKER_CONFIG,
        }
    }

    /// The gzip-compressed tar layer media type of this format (Docker schema 2 registers
    /// only this layer type).
    pub fn layer_tar_gzip_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => media_type::OCI_LAYER_TAR_GZIP,
            ManifestFormat::Docker => media_type::DOCKER_LAYER,
        }
    }
}

pub(crate) fn schema_version_2<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v == 2 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format_args!(
            "schemaVersion must be 2, found {v}"
        )))
    }
}

/// Adds `key = value` to an optional annotation map.
pub(crate) fn annotate(
    map: &mut Option<std::collections::BTreeMap<String, String>>,
    key: impl Into<String>,
    value: impl Into<String>,
) {
    map.get_or_insert_with(Default::default)
        .insert(key.into(), value.into());
}
