//! Writing and reading OCI image layouts (image-spec `image-layout.md`), just
//! enough for fixtures: blobs under `blobs/sha256/`, `oci-layout`, `index.json`.
//!
//! Deliberately independent of ocipull's own layout code: a benchmark's
//! fixtures must not be produced by the code it measures.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::rng::Rng;

/// image-spec `manifest.md`: the OCI image manifest media type.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// image-spec `config.md`: the OCI image config media type.
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// image-spec `layer.md`: an uncompressed layer (the data is random, so
/// compressing it would gain nothing).
pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// image-spec `annotations.md`: the tag of a manifest in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor: what a manifest says about a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl Descriptor {
    /// The descriptor as image-spec JSON.
    pub fn to_json(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.size })
    }

    /// Parses a descriptor object.
    pub fn from_json(value: &Value) -> crate::Result<Descriptor> {
        let field = |name: &str| {
            value
                .get(name)
                .ok_or_else(|| format!("descriptor without {name}: {value}"))
        };
        Ok(Descriptor {
            media_type: field("mediaType")?.as_str().unwrap_or_default().to_owned(),
            digest: field("digest")?
                .as_str()
                .ok_or("digest is not a string")?
                .to_owned(),
            size: field("size")?.as_u64().ok_or("size is not a number")?,
        })
    }

    /// The hex part of the digest.
    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }
}

/// Where a blob lives in a layout.
pub fn blob_path(dir: &Path, descriptor: &Descriptor) -> PathBuf {
    dir.join("blobs/sha256").join(descriptor.hex())
}

/// Creates a layout in a new directory, one blob at a time.
#[derive(Debug)]
pub struct LayoutWriter {
    dir: PathBuf,
}

impl LayoutWriter {
    /// Creates `dir` (which must not exist yet) with `oci-layout` and `blobs/sha256/`.
    pub fn create(dir: &Path) -> crate::Result<LayoutWriter> {
        fs::create_dir_all(dir.join("blobs/sha256"))
            .map_err(|error| format!("creating {}: {error}", dir.display()))?;
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(LayoutWriter {
            dir: dir.to_owned(),
        })
    }

    /// Stores `bytes` as a blob.
    pub fn write_bytes(&self, media_type: &str, bytes: &[u8]) -> crate::Result<Descriptor> {
        let descriptor = Descriptor {
            media_type: media_type.to_owned(),
            digest: format!("sha256:{}", hex(&Sha256::digest(bytes))),
            size: bytes.len() as u64,
        };
        fs::write(blob_path(&self.dir, &descriptor), bytes)?;
        Ok(descriptor)
    }

    /// Stores `size` random bytes from `rng` as a blob, streaming: never more
    /// than [`crate::CHUNK`] bytes in memory.
    pub fn write_random(
        &self,
        media_type: &str,
        rng: &mut Rng,
        size: u64,
    ) -> crate::Result<Descriptor> {
        let partial = self.dir.join("blobs/sha256/partial");
        let mut file = fs::File::create(&partial)?;
        let mut hasher = Sha256::new();
        let mut chunk = vec![0; crate::CHUNK];
        let mut left = size;
        while left > 0 {
            let len = usize::try_from(left.min(crate::CHUNK as u64))?;
            rng.fill(&mut chunk[..len]);
            hasher.update(&chunk[..len]);
            file.write_all(&chunk[..len])?;
            left -= len as u64;
        }
        drop(file);
        let descriptor = Descriptor {
            media_type: media_type.to_owned(),
            digest: format!("sha256:{}", hex(&hasher.finalize())),
            size,
        };
        fs::rename(&partial, blob_path(&self.dir, &descriptor))?;
        Ok(descriptor)
    }

    /// Writes `index.json` listing `manifests`, each tagged when a tag is given.
    pub fn finish(self, manifests: &[(Descriptor, Option<String>)]) -> crate::Result {
        let entries: Vec<Value> = manifests
            .iter()
            .map(|(descriptor, tag)| {
                let mut entry = descriptor.to_json();
                if let Some(tag) = tag {
                    entry["annotations"] = json!({ REF_NAME: tag });
                }
                entry
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        });
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec_pretty(&index)?,
        )?;
        Ok(())
    }
}

/// An image manifest (image-spec `manifest.md`) for `config` and `layers`.
pub fn image_manifest(
    config: &Descriptor,
    layers: &[Descriptor],
    annotations: Option<Value>,
) -> Vec<u8> {
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config.to_json(),
        "layers": layers.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
    });
    if let Some(annotations) = annotations {
        manifest["annotations"] = annotations;
    }
    serde_json::to_vec(&manifest).expect("a JSON value always serialises")
}

/// The manifests listed in a layout's `index.json`, with their tags.
pub fn read_index(dir: &Path) -> crate::Result<Vec<(Descriptor, Option<String>)>> {
    let path = dir.join("index.json");
    let index: Value = serde_json::from_slice(
        &fs::read(&path).map_err(|error| format!("reading {}: {error}", path.display()))?,
    )?;
    let manifests = index["manifests"]
        .as_array()
        .ok_or_else(|| format!("{}: no manifests array", path.display()))?;
    manifests
        .iter()
        .map(|entry| {
            let tag = entry["annotations"][REF_NAME].as_str().map(str::to_owned);
            Ok((Descriptor::from_json(entry)?, tag))
        })
        .collect()
}

/// The blobs an image manifest refers to: its config, then its layers.
pub fn manifest_blobs(manifest: &[u8]) -> crate::Result<Vec<Descriptor>> {
    let manifest: Value = serde_json::from_slice(manifest)?;
    let mut blobs = vec![Descriptor::from_json(&manifest["config"])?];
    for layer in manifest["layers"]
        .as_array()
        .ok_or("manifest without layers")?
    {
        blobs.push(Descriptor::from_json(layer)?);
    }
    Ok(blobs)
}

/// Lowercase hex, as digests are written.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_layout_reads_back_and_hashes_match() {
        let dir = std::env::temp_dir().join(format!("bench-layout-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let writer = LayoutWriter::create(&dir).unwrap();
        let layer = writer
            .write_random(LAYER, &mut Rng::new(1), 3 * crate::CHUNK as u64 + 5)
            .unwrap();
        let config = writer.write_bytes(CONFIG, b"{}").unwrap();
        let manifest = image_manifest(&config, std::slice::from_ref(&layer), None);
        let manifest = writer.write_bytes(MANIFEST, &manifest).unwrap();
        writer
            .finish(&[(manifest.clone(), Some("latest".into()))])
            .unwrap();

        let index = read_index(&dir).unwrap();
        assert_eq!(index, [(manifest.clone(), Some("latest".to_owned()))]);
        let blobs = manifest_blobs(&fs::read(blob_path(&dir, &manifest)).unwrap()).unwrap();
        assert_eq!(blobs, [config, layer.clone()]);
        let data = fs::read(blob_path(&dir, &layer)).unwrap();
        assert_eq!(data.len() as u64, layer.size);
        assert_eq!(
            format!("sha256:{}", hex(&Sha256::digest(&data))),
            layer.digest
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
