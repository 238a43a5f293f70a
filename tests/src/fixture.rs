//! Small, valid, random images to push into registries: a single-platform
//! image and a multi-platform index, with OCI or Docker media types, written
//! as an OCI image layout or as skopeo's `dir:` format.
//!
//! This is the one builder of images in the repository that deliberately does
//! not use `ocipull_spec::fixtures`, and it must stay that way: the tests that
//! check the ocipull crates against real peer programs (Distribution, skopeo,
//! oras) must not trust the code under test. A fixture built by `ocipull-spec`
//! would share any mistake in its digests, descriptors or JSON with the client
//! and server it is meant to check, and the peers' verdict on it would prove
//! nothing. So this module writes its own JSON, tar and gzip from serde_json
//! and sha2 only (see `archive` and `layout`). Every other test and example
//! uses `ocipull_spec::fixtures`.
//!
//! Layers are real `tar+gzip` (stored deflate blocks): tools that check
//! compression leave them alone, so digests survive a push.

mod archive;
mod layout;

use rand::RngCore as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// Which family of media types a fixture uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTypes {
    /// `application/vnd.oci.image.*`.
    Oci,
    /// Docker schema 2 (`application/vnd.docker.*`). skopeo 1.9's `oci:`
    /// transport rewrites these, so push Docker fixtures from a `dir:` copy
    /// ([`ImageFixture::write_dir`]).
    Docker,
}

impl MediaTypes {
    /// Media type of an image manifest.
    pub fn manifest(self) -> &'static str {
        match self {
            MediaTypes::Oci => "application/vnd.oci.image.manifest.v1+json",
            MediaTypes::Docker => "application/vnd.docker.distribution.manifest.v2+json",
        }
    }

    /// Media type of an index / manifest list.
    pub fn index(self) -> &'static str {
        match self {
            MediaTypes::Oci => "application/vnd.oci.image.index.v1+json",
            MediaTypes::Docker => "application/vnd.docker.distribution.manifest.list.v2+json",
        }
    }

    /// Media type of an image configuration.
    pub fn config(self) -> &'static str {
        match self {
            MediaTypes::Oci => "application/vnd.oci.image.config.v1+json",
            MediaTypes::Docker => "application/vnd.docker.container.image.v1+json",
        }
    }

    /// Media type of a gzip-compressed layer.
    pub fn layer(self) -> &'static str {
        match self {
            MediaTypes::Oci => "application/vnd.oci.image.layer.v1.tar+gzip",
            MediaTypes::Docker => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        }
    }
}

/// The platform an image is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `os`, e.g. `linux`.
    pub os: String,
    /// `architecture`, e.g. `amd64`.
    pub architecture: String,
    /// `variant`, e.g. `v8` for `arm64`.
    pub variant: Option<String>,
}

impl Platform {
    /// A platform without a variant.
    pub fn new(os: &str, architecture: &str) -> Self {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// `linux/amd64`.
    pub fn linux_amd64() -> Self {
        Platform::new("linux", "amd64")
    }

    /// `linux/arm64/v8`.
    pub fn linux_arm64_v8() -> Self {
        Platform {
            variant: Some("v8".into()),
            ..Platform::new("linux", "arm64")
        }
    }

    /// The `platform` object of a descriptor.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = json!({"os": self.os, "architecture": self.architecture});
        if let Some(variant) = &self.variant {
            value["variant"] = json!(variant);
        }
        value
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(variant) => write!(f, "/{variant}"),
            None => Ok(()),
        }
    }
}

/// Content with its media type; the digest is computed once from the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// The media type a descriptor of this blob carries.
    pub media_type: String,
    /// The exact bytes; the digest is over these.
    pub bytes: Vec<u8>,
    digest: String,
}

impl Blob {
    /// A blob of `bytes` described as `media_type`.
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        Blob {
            media_type: media_type.into(),
            bytes,
            digest,
        }
    }

    /// `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The hex part of the digest.
    pub fn hex(&self) -> &str {
        &self.digest["sha256:".len()..]
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// `{mediaType, digest, size}`.
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size()})
    }
}

/// What [`ImageFixture::new`] builds.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Media type family. Default is [`MediaTypes::Oci`].
    pub media_types: MediaTypes,
    /// Default is `linux/amd64`.
    pub platform: Platform,
    /// Number of layers. Default is 2.
    pub layers: usize,
    /// Random bytes in each layer's one file. Default is 1024.
    pub layer_size: usize,
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec {
            media_types: MediaTypes::Oci,
            platform: Platform::linux_amd64(),
            layers: 2,
            layer_size: 1024,
        }
    }
}

/// A single-platform image: manifest, config and layers, all in memory.
#[derive(Debug, Clone)]
pub struct ImageFixture {
    /// The platform the config names.
    pub platform: Platform,
    /// The image manifest.
    pub manifest: Blob,
    /// The image configuration.
    pub config: Blob,
    /// The layers, base first.
    pub layers: Vec<Blob>,
}

impl ImageFixture {
    /// A new image with random layer contents.
    pub fn new(spec: &ImageSpec) -> Self {
        let types = spec.media_types;
        let mut rng = rand::rng();
        let mut diff_ids = Vec::new();
        let layers: Vec<Blob> = (0..spec.layers)
            .map(|n| {
                let mut contents = vec![0u8; spec.layer_size];
                rng.fill_bytes(&mut contents);
                let path = format!("layer-{n}/data.bin");
                let tar = archive::tar(&[(path.as_str(), contents.as_slice())]);
                diff_ids.push(format!("sha256:{}", sha256_hex(&tar)));
                Blob::new(types.layer(), archive::gzip_stored(&tar))
            })
            .collect();
        let mut config = json!({
            "created": "1970-01-01T00:00:00Z",
            "architecture": spec.platform.architecture,
            "os": spec.platform.os,
            "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": (0..spec.layers)
                .map(|n| json!({"created_by": format!("ocipull fixture layer {n}")}))
                .collect::<Vec<_>>(),
        });
        if let Some(variant) = &spec.platform.variant {
            config["variant"] = json!(variant);
        }
        let config = Blob::new(types.config(), to_bytes(&config));
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": types.manifest(),
            "config": config.descriptor(),
            "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        });
        ImageFixture {
            platform: spec.platform.clone(),
            manifest: Blob::new(types.manifest(), to_bytes(&manifest)),
            config,
            layers,
        }
    }

    /// An OCI image for `linux/amd64` with two 1 KiB layers.
    pub fn oci() -> Self {
        ImageFixture::new(&ImageSpec::default())
    }

    /// A Docker schema 2 image for `linux/amd64` with two 1 KiB layers.
    pub fn docker() -> Self {
        ImageFixture::new(&ImageSpec {
            media_types: MediaTypes::Docker,
            ..ImageSpec::default()
        })
    }

    /// The manifest digest, `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        self.manifest.digest()
    }

    /// Config and layers: the blobs the manifest references.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }

    /// Writes (or adds to) an OCI image layout at `dir`, naming the manifest
    /// `tag` through `org.opencontainers.image.ref.name`. Push it with
    /// `skopeo copy oci:<dir>:<tag> …`.
    pub fn write_oci_layout(&self, dir: &std::path::Path, tag: &str) -> std::io::Result<()> {
        layout::write_oci(dir, &self.manifest, &[], self.blobs(), tag)
    }

    /// Writes skopeo's `dir:` format at `dir` (which must be new or empty).
    /// Push it with `skopeo copy dir:<dir> …`.
    pub fn write_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        layout::write_dir(dir, &self.manifest, &[], self.blobs())
    }
}

/// A multi-platform index (or Docker manifest list) and its images.
#[derive(Debug, Clone)]
pub struct IndexFixture {
    /// The index / manifest list.
    pub index: Blob,
    /// The images it lists, in order.
    pub images: Vec<ImageFixture>,
}

impl IndexFixture {
    /// An index of one image per platform, each built from `spec` with the
    /// platform replaced.
    pub fn new(spec: &ImageSpec, platforms: &[Platform]) -> Self {
        let images: Vec<ImageFixture> = platforms
            .iter()
            .map(|platform| {
                ImageFixture::new(&ImageSpec {
                    platform: platform.clone(),
                    ..spec.clone()
                })
            })
            .collect();
        let manifests: Vec<_> = images
            .iter()
            .map(|image| {
                let mut descriptor = image.manifest.descriptor();
                descriptor["platform"] = image.platform.to_json();
                descriptor
            })
            .collect();
        let types = spec.media_types;
        let index = json!({
            "schemaVersion": 2,
            "mediaType": types.index(),
            "manifests": manifests,
        });
        IndexFixture {
            index: Blob::new(types.index(), to_bytes(&index)),
            images,
        }
    }

    /// An OCI index of `linux/amd64` and `linux/arm64/v8` images.
    pub fn multi_platform() -> Self {
        IndexFixture::new(
            &ImageSpec::default(),
            &[Platform::linux_amd64(), Platform::linux_arm64_v8()],
        )
    }

    /// The index digest, `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        self.index.digest()
    }

    /// The image manifests the index lists.
    pub fn manifests(&self) -> Vec<&Blob> {
        self.images.iter().map(|image| &image.manifest).collect()
    }

    /// Every config and layer of every image.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.images.iter().flat_map(ImageFixture::blobs)
    }

    /// Writes (or adds to) an OCI image layout, naming the index `tag`.
    /// Push it with `skopeo copy --all oci:<dir>:<tag> …`.
    pub fn write_oci_layout(&self, dir: &std::path::Path, tag: &str) -> std::io::Result<()> {
        layout::write_oci(dir, &self.index, &self.manifests(), self.blobs(), tag)
    }

    /// Writes skopeo's `dir:` format. Push it with `skopeo copy --all dir:<dir> …`.
    pub fn write_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        layout::write_dir(dir, &self.index, &self.manifests(), self.blobs())
    }
}

/// Compact JSON; the bytes are what gets digested and pushed.
fn to_bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value serialises")
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    crate::token::hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_references_config_and_layers_by_digest() {
        let image = ImageFixture::oci();
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
        assert_eq!(manifest["config"]["digest"], image.config.digest());
        assert_eq!(manifest["layers"][1]["digest"], image.layers[1].digest());
        assert_eq!(manifest["layers"][1]["size"], image.layers[1].size());
        assert_eq!(image.layers[0].bytes[..2], [0x1f, 0x8b], "gzip magic");
        let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn index_lists_each_platform() {
        let index = IndexFixture::multi_platform();
        let value: serde_json::Value = serde_json::from_slice(&index.index.bytes).unwrap();
        assert_eq!(value["manifests"][0]["platform"]["architecture"], "amd64");
        assert_eq!(value["manifests"][1]["platform"]["variant"], "v8");
        assert_eq!(value["manifests"][1]["digest"], index.images[1].digest());
        assert_eq!(index.images[1].platform.to_string(), "linux/arm64/v8");
    }

    #[test]
    fn two_fixtures_differ() {
        assert_ne!(ImageFixture::oci().digest(), ImageFixture::oci().digest());
    }
}
