//! The image configuration (image-spec "Image Configuration"; Docker's container config,
//! which has the same shape).
//!
//! Unknown fields are kept: every record here has an `extra` map that holds the members it
//! does not name (`Healthcheck`, `Shell`, `ArgsEscaped`, a future field …) and writes them
//! back, so parsing and serialising loses no member. The bytes themselves are not kept:
//! members come back in a canonical order and `null`s of known fields are dropped, so a
//! re-serialised config has a new digest. Keep the fetched bytes when their digest matters.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{Blob, ManifestFormat};
use crate::{Digest, Platform};

/// Why bytes are not an acceptable image configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The JSON is malformed, or a field is missing or invalid; `path` names the field
    /// (`rootfs.diff_ids[0]`).
    #[error("invalid image config: field `{path}`: {message}")]
    Invalid {
        /// Path of the offending field, `.` for the document itself.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// `rootfs.type` is not `layers`, the only value the image-spec defines ("Image
    /// Configuration" → `rootfs.type`).
    #[error("unsupported rootfs type {found:?} in image config (expected \"layers\")")]
    RootfsType {
        /// The rejected value.
        found: String,
    },
}

/// An image configuration (image-spec "Image Configuration").
///
/// ```
/// use ocipull_spec::{ImageConfig, ManifestFormat, Platform};
/// let raw = br#"{"architecture":"arm64","variant":"v8","os":"linux",
///   "rootfs":{"type":"layers","diff_ids":[]},"config":{"Env":["PATH=/bin"]},
///   "moby.extension":{"kept":true}}"#;
/// let config = ImageConfig::from_bytes(raw)?;
/// assert_eq!(config.platform(), "linux/arm64/v8".parse::<Platform>()?);
/// assert_eq!(config.config.as_ref().unwrap().env, Some(vec!["PATH=/bin".to_owned()]));
/// let blob = config.to_blob(ManifestFormat::Oci);
/// assert_eq!(ImageConfig::from_bytes(&blob.bytes)?, config); // the unknown member survives
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageConfig {
    /// When the image was created, RFC 3339 (`2015-10-31T22:22:56.015925234Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who created the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture (Go's `GOARCH`). Required.
    pub architecture: String,
    /// Operating system (Go's `GOOS`). Required.
    pub os: String,
    /// Operating system version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required operating system features.
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The defaults for a container started from the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// The layers' uncompressed digests. Required.
    pub rootfs: RootFs,
    /// How each layer was made, base first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<History>>,
    /// Members this type does not name, kept as found.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Execution defaults (image-spec "Image Configuration" → `config`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct ContainerConfig {
    /// `user`, `uid`, `user:group` …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Ports to expose, `port/tcp`, `port/udp` or `port` (a set; the JSON is an object of
    /// empty objects).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_set",
        deserialize_with = "de_set"
    )]
    pub exposed_ports: Option<BTreeSet<String>>,
    /// Environment, `NAME=value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// The command's first words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Directories that are volumes (a set, like `exposed_ports`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_set",
        deserialize_with = "de_set"
    )]
    pub volumes: Option<BTreeSet<String>>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// The signal that stops the container (`SIGTERM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Members this type does not name, kept as found.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The layers' uncompressed digests (image-spec "Image Configuration" → `rootfs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The digest of each layer's uncompressed tar, base first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    /// Type `layers`, no layers.
    fn default() -> RootFs {
        RootFs {
            kind: "layers".to_owned(),
            diff_ids: Vec::new(),
        }
    }
}

/// How one layer was made (image-spec "Image Configuration" → `history`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct History {
    /// When, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether this step made no layer (then it has no `diff_ids` entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    /// Members this type does not name, kept as found.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl History {
    /// A history entry for a step run as `created_by`.
    pub fn new(created_by: impl Into<String>) -> History {
        History {
            created_by: Some(created_by.into()),
            ..History::default()
        }
    }
}

impl ImageConfig {
    /// A config for `platform` (architecture, os, variant, `os.version`, `os.features`)
    /// with no layers, no history and no container defaults.
    pub fn new(platform: &Platform) -> ImageConfig {
        ImageConfig {
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            os_version: platform.os_version.clone(),
            os_features: platform.os_features.clone(),
            variant: platform.variant.clone(),
            ..ImageConfig::default()
        }
    }

    /// Parses a config; unknown members are kept in the `extra` maps.
    pub fn from_bytes(bytes: &[u8]) -> Result<ImageConfig, ConfigError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let config: ImageConfig =
            serde_path_to_error::deserialize(de).map_err(|e| ConfigError::Invalid {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        if config.rootfs.kind != "layers" {
            return Err(ConfigError::RootfsType {
                found: config.rootfs.kind,
            });
        }
        Ok(config)
    }

    /// The platform the config declares.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            variant: self.variant.clone(),
            features: None,
        }
    }

    /// Serialises the config once: the bytes and their descriptor, with the config media
    /// type of `format` (image-spec "Image Configuration" media type, or Docker's).
    pub fn to_blob(&self, format: ManifestFormat) -> Blob {
        Blob::new(format.config_media_type(), self.to_bytes())
    }

    /// The config as compact JSON.
    pub fn to_bytes(&self) -> Bytes {
        // Every map here has string keys and every value is plain data, which serde_json
        // always serialises; the empty object is a fallback that cannot be reached.
        Bytes::from(serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec()))
    }

    /// Appends `diff_id` to `rootfs.diff_ids` (the uncompressed digest of the next layer).
    /// Default is no layers.
    pub fn with_diff_id(mut self, diff_id: Digest) -> Self {
        self.rootfs.diff_ids.push(diff_id);
        self
    }

    /// Appends a `history` entry. Default is no history.
    pub fn with_history(mut self, entry: History) -> Self {
        self.history.get_or_insert_with(Vec::new).push(entry);
        self
    }

    /// Sets `created` (RFC 3339). Default is none.
    pub fn with_created(mut self, created: impl Into<String>) -> Self {
        self.created = Some(created.into());
        self
    }

    /// Sets `author`. Default is none.
    pub fn with_author(mut self, author: impl Into<String>) -> Self {
        self.author = Some(author.into());
        self
    }

    /// Sets the container defaults (`config`). Default is none.
    pub fn with_container_config(mut self, config: ContainerConfig) -> Self {
        self.config = Some(config);
        self
    }
}

impl ContainerConfig {
    /// Sets `Env`. Default is none.
    pub fn with_env(mut self, env: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.env = Some(env.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `Cmd`. Default is none.
    pub fn with_cmd(mut self, cmd: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.cmd = Some(cmd.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `Entrypoint`. Default is none.
    pub fn with_entrypoint(mut self, ep: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.entrypoint = Some(ep.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `WorkingDir`. Default is none.
    pub fn with_working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Sets `User`. Default is none.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Adds label `key = value`. Default is none.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        super::annotate(&mut self.labels, key, value);
        self
    }

    /// Adds an exposed port (`8080/tcp`). Default is none.
    pub fn with_exposed_port(mut self, port: impl Into<String>) -> Self {
        self.exposed_ports
            .get_or_insert_with(BTreeSet::new)
            .insert(port.into());
        self
    }

    /// Adds a volume (`/data`). Default is none.
    pub fn with_volume(mut self, path: impl Into<String>) -> Self {
        self.volumes
            .get_or_insert_with(BTreeSet::new)
            .insert(path.into());
        self
    }

    /// Sets `StopSignal`. Default is none.
    pub fn with_stop_signal(mut self, signal: impl Into<String>) -> Self {
        self.stop_signal = Some(signal.into());
        self
    }
}

/// `{"80/tcp": {}, …}` as a set of keys.
fn ser_set<S: Serializer>(set: &Option<BTreeSet<String>>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(set.as_ref().map(BTreeSet::len))?;
    for key in set.iter().flatten() {
        map.serialize_entry(key, &serde_json::Map::new())?;
    }
    map.end()
}

/// The keys of an object whose values are ignored (`{}` by the spec), or `null`.
fn de_set<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeSet<String>>, D::Error> {
    let map = Option::<BTreeMap<String, serde::de::IgnoredAny>>::deserialize(d)?;
    Ok(map.map(|m| m.into_keys().collect()))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
