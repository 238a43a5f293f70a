//! Converting Docker schema 2 manifests to OCI media types, on request
//! ([`PullOptions::convert_to_oci`](crate::PullOptions::convert_to_oci)).
//!
//! Docker's "Image Manifest V2, Schema 2" and the image-spec share one document shape; only
//! the media types differ. A converted manifest is the same JSON with the OCI types
//! (image-spec "Image Manifest", "Image Index", "Image Layer Filesystem Changeset"),
//! serialised once into new bytes, so it has a new digest; an index that lists converted
//! manifests is rewritten to name their new digests. Configs and layers are not touched:
//! their bytes and digests stay, only the descriptors naming them change type.
//!
//! Layer types (image-spec "Image Layer Filesystem Changeset"):
//!
//! | Docker | OCI |
//! | --- | --- |
//! | `…rootfs.diff.tar.gzip` | `application/vnd.oci.image.layer.v1.tar+gzip` |
//! | `…rootfs.diff.tar` | `application/vnd.oci.image.layer.v1.tar` |
//! | `…rootfs.foreign.diff.tar.gzip` | `application/vnd.oci.image.layer.nondistributable.v1.tar+gzip` |
//!
//! Foreign (Windows base) layers become the image-spec's non-distributable type, which
//! v1.1 deprecates but still defines, with their `urls` kept: it is what skopeo writes for
//! them, and what tools reading OCI layouts understand. Any other `application/vnd.docker.`
//! type (plugin configs, schema 1) has no OCI counterpart and fails the pull with
//! [`Error::Conversion`] before anything is written. Types of neither family (artifacts,
//! OCI types already) are kept.

use std::collections::HashMap;

use ocipull_spec::{Descriptor, Digest, Manifest, media_type};
use serde_json::Value;

use super::plan::Plan;
use crate::{Client, Error};

/// The OCI non-distributable gzip layer type (image-spec v1.1, deprecated but defined).
pub(crate) const OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// Docker's foreign (non-distributable) layer type.
pub(crate) const DOCKER_FOREIGN_LAYER: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Docker's uncompressed layer type.
const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// One manifest converted: its descriptor before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Conversion {
    /// The manifest as the registry has it.
    pub from: Descriptor,
    /// The manifest as written to the layout, with OCI media types.
    pub to: Descriptor,
}

/// The OCI type for a config or layer type; `Err` for a Docker type with none.
fn blob_type(t: &str) -> Result<&str, String> {
    Ok(match t {
        media_type::DOCKER_CONFIG => media_type::OCI_IMAGE_CONFIG,
        media_type::DOCKER_LAYER => media_type::OCI_LAYER_TAR_GZIP,
        DOCKER_LAYER_TAR => media_type::OCI_LAYER_TAR,
        DOCKER_FOREIGN_LAYER => OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP,
        other if other.starts_with("application/vnd.docker.") => {
            return Err(format!("{other} has no OCI counterpart"));
        }
        other => other,
    })
}

fn manifest_type(t: &str) -> &str {
    match t {
        media_type::DOCKER_MANIFEST => media_type::OCI_IMAGE_MANIFEST,
        media_type::DOCKER_MANIFEST_LIST => media_type::OCI_IMAGE_INDEX,
        other => other,
    }
}

fn set_type(value: &mut Value, new: &str) {
    if value.get("mediaType").and_then(Value::as_str) != Some(new) {
        value["mediaType"] = Value::String(new.to_owned());
    }
}

/// Converts one manifest, given the conversions of the manifests it lists; `None` when
/// nothing in it changes.
fn convert_one(
    manifest: &Manifest,
    converted: &HashMap<Digest, Descriptor>,
) -> Result<Option<Manifest>, String> {
    let original: Value = serde_json::from_slice(manifest.bytes()).map_err(|e| e.to_string())?;
    let mut value = original.clone();
    let new_type = manifest_type(manifest.media_type()).to_owned();
    if manifest.as_index().is_some() {
        if let Some(entries) = value.get_mut("manifests").and_then(Value::as_array_mut) {
            for entry in entries {
                let digest = entry.get("digest").and_then(Value::as_str).unwrap_or("");
                let to = digest
                    .parse::<Digest>()
                    .ok()
                    .and_then(|d| converted.get(&d));
                if let Some(to) = to {
                    entry["digest"] = Value::String(to.digest.to_string());
                    entry["size"] = Value::from(to.size);
                    entry["mediaType"] = Value::String(to.media_type.clone());
                }
                // A child not pulled (or not changed) keeps its digest, so its type too.
            }
        }
    } else {
        if let Some(config) = value.get_mut("config") {
            convert_blob(config)?;
        }
        if let Some(Value::Array(layers)) = value.get_mut("layers") {
            for layer in layers {
                convert_blob(layer)?;
            }
        }
    }
    if value.get("mediaType").is_some() || new_type != manifest.media_type() {
        set_type(&mut value, &new_type);
    }
    if value == original {
        return Ok(None);
    }
    let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    Manifest::from_bytes(bytes, Some(&new_type), None)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn convert_blob(descriptor: &mut Value) -> Result<(), String> {
    if let Some(t) = descriptor.get("mediaType").and_then(Value::as_str) {
        let new = blob_type(t)?.to_owned();
        if new != t {
            descriptor["mediaType"] = Value::String(new);
        }
    }
    Ok(())
}

/// Converts the plan's manifests (children come before the indexes listing them) and its
/// entry; returns what changed.
pub(crate) fn convert(client: &Client, plan: &mut Plan) -> Result<Vec<Conversion>, Error> {
    let mut converted: HashMap<Digest, Descriptor> = HashMap::new();
    let mut out = Vec::new();
    for m in plan.manifests.iter_mut() {
        let new = convert_one(m, &converted).map_err(|reason| Error::Conversion {
            repository: client.repository().clone(),
            digest: m.digest().clone(),
            reason,
        })?;
        if let Some(new) = new {
            let (from, to) = (m.descriptor(), new.descriptor());
            converted.insert(from.digest.clone(), to.clone());
            out.push(Conversion { from, to });
            *m = new;
        }
    }
    if let Some(to) = converted.get(&plan.entry.digest) {
        plan.entry.digest = to.digest.clone();
        plan.entry.size = to.size;
        plan.entry.media_type = to.media_type.clone();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_types_map_and_others_stay() {
        assert_eq!(
            blob_type(media_type::DOCKER_LAYER),
            Ok(media_type::OCI_LAYER_TAR_GZIP)
        );
        assert_eq!(
            blob_type(DOCKER_FOREIGN_LAYER),
            Ok(OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP)
        );
        assert_eq!(blob_type("application/x-thing"), Ok("application/x-thing"));
        assert!(
            blob_type("application/vnd.docker.plugin.v1+json")
                .unwrap_err()
                .contains("no OCI counterpart")
        );
    }

    #[test]
    fn docker_manifests_change_and_oci_ones_do_not() {
        let layer = Descriptor::of(media_type::DOCKER_LAYER, b"layer");
        let config = Descriptor::of(media_type::DOCKER_CONFIG, b"{}");
        let docker = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::DOCKER_MANIFEST,
            "config": config,
            "layers": [layer],
        });
        let m = Manifest::from_bytes(serde_json::to_vec(&docker).unwrap(), None, None).unwrap();
        let oci = convert_one(&m, &HashMap::new())
            .unwrap()
            .expect("converted");
        assert_eq!(oci.media_type(), media_type::OCI_IMAGE_MANIFEST);
        let image = oci.as_image().unwrap();
        assert_eq!(image.config.media_type, media_type::OCI_IMAGE_CONFIG);
        assert_eq!(image.config.digest, config.digest);
        assert_eq!(image.layers[0].media_type, media_type::OCI_LAYER_TAR_GZIP);
        assert_eq!(image.layers[0].digest, layer.digest);
        assert!(convert_one(&oci, &HashMap::new()).unwrap().is_none());

        // A list naming the converted manifest names its new digest.
        let list = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::DOCKER_MANIFEST_LIST,
            "manifests": [m.descriptor().with_platform("linux/amd64".parse().unwrap())],
        });
        let list = Manifest::from_bytes(serde_json::to_vec(&list).unwrap(), None, None).unwrap();
        let map = HashMap::from([(m.digest().clone(), oci.descriptor())]);
        let index = convert_one(&list, &map).unwrap().expect("converted");
        assert_eq!(index.media_type(), media_type::OCI_IMAGE_INDEX);
        let entry = &index.as_index().unwrap().manifests[0];
        assert_eq!(&entry.digest, oci.digest());
        assert_eq!(entry.media_type, media_type::OCI_IMAGE_MANIFEST);
        assert!(entry.platform.is_some());
    }
}
