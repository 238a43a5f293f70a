//! Credentials from a Docker client configuration (`~/.docker/config.json`).
//!
//! Only the `auths` map is read: each key names a registry (`ghcr.io`,
//! `https://index.docker.io/v1/` for Docker Hub, sometimes with a scheme or path) and each
//! value holds `auth` (base64 of `user:password`), `username`/`password`, or
//! `identitytoken`. Credential helpers (`credsStore`, `credHelpers`) are not run.
//!
//! # Security
//!
//! Errors name the file and what is wrong, never its content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::{Credentials, Error};

/// The largest config file read: these files are a few kilobytes.
const MAX_CONFIG_SIZE: u64 = 4 * 1024 * 1024;

/// The `auths` key Docker uses for Docker Hub.
const DOCKER_HUB_KEY: &str = "index.docker.io";

/// Registry names that all mean Docker Hub.
const DOCKER_HUB_NAMES: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The parsed `auths` of a Docker config file.
#[derive(Clone, Default)]
pub struct DockerConfig {
    path: PathBuf,
    auths: BTreeMap<String, Credentials>,
}

#[derive(serde::Deserialize)]
struct File {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl DockerConfig {
    /// The default file: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker").join("config.json"))
    }

    /// Loads the default file; `Ok(None)` when it does not exist.
    pub fn load_default() -> Result<Option<DockerConfig>, Error> {
        match Self::default_path() {
            Some(path) if path.exists() => Self::load(&path).map(Some),
            _ => Ok(None),
        }
    }

    /// Loads and parses `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<DockerConfig, Error> {
        let path = path.as_ref();
        let fail = |reason: String| Error::Credentials {
            path: path.to_owned(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
        if meta.len() > MAX_CONFIG_SIZE {
            return Err(fail(format!("larger than {MAX_CONFIG_SIZE} bytes")));
        }
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        Self::parse(path, &bytes)
    }

    /// Parses the content of a config file; `path` is only used in errors.
    pub fn parse(path: impl AsRef<Path>, bytes: &[u8]) -> Result<DockerConfig, Error> {
        let path = path.as_ref();
        let fail = |reason: String| Error::Credentials {
            path: path.to_owned(),
            reason,
        };
        // serde_json messages can quote values; report only where the JSON breaks.
        let file: File = serde_json::from_slice(bytes).map_err(|e| {
            fail(format!(
                "not a Docker config file ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let mut auths = BTreeMap::new();
        for (key, entry) in file.auths {
            let credentials = if let Some(token) = entry.identitytoken.filter(|t| !t.is_empty()) {
                Credentials::identity_token(token)
            } else if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .ok()
                    .and_then(|d| String::from_utf8(d).ok())
                    .ok_or_else(|| {
                        fail(format!(
                            "the `auth` of {key:?} is not base64 of user:password"
                        ))
                    })?;
                let (user, password) = decoded
                    .split_once(':')
                    .ok_or_else(|| fail(format!("the `auth` of {key:?} has no ':'")))?;
                Credentials::basic(user, password)
            } else if let (Some(u), Some(p)) = (entry.username, entry.password) {
                Credentials::basic(u, p)
            } else {
                continue;
            };
            auths.insert(normalize(&key), credentials);
        }
        Ok(DockerConfig {
            path: path.to_owned(),
            auths,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credentials for `registry` (as in a reference: `ghcr.io`, `localhost:5000`,
    /// `docker.io`).
    pub fn credentials_for(&self, registry: &str) -> Option<Credentials> {
        self.auths.get(&normalize(registry)).cloned()
    }
}

impl std::fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerConfig")
            .field("path", &self.path)
            .field("registries", &self.auths.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `https://Host:5000/v2/` → `host:5000`; every Docker Hub name → `index.docker.io`.
fn normalize(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    if DOCKER_HUB_NAMES.contains(&host.as_str()) {
        DOCKER_HUB_KEY.to_owned()
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{
      "auths": {
        "https://index.docker.io/v1/": {"auth": "Ym9iOmh1bnRlcjI="},
        "ghcr.io": {"username": "alice", "password": "pat_secret"},
        "http://localhost:5000/v2/": {"identitytoken": "refresh-secret"},
        "empty.example": {}
      },
      "credsStore": "desktop"
    }"#;

    #[test]
    fn entries_by_registry() {
        let c = DockerConfig::parse("config.json", CONFIG.as_bytes()).unwrap();
        for hub in ["docker.io", "registry-1.docker.io", "index.docker.io"] {
            assert_eq!(
                c.credentials_for(hub),
                Some(Credentials::basic("bob", "hunter2")),
                "{hub}"
            );
        }
        assert_eq!(
            c.credentials_for("ghcr.io"),
            Some(Credentials::basic("alice", "pat_secret"))
        );
        assert_eq!(
            c.credentials_for("localhost:5000"),
            Some(Credentials::identity_token("refresh-secret"))
        );
        assert_eq!(c.credentials_for("empty.example"), None);
        assert_eq!(c.credentials_for("quay.io"), None);
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2")
                && !shown.contains("pat_secret")
                && !shown.contains("refresh-secret")
        );
    }

    #[test]
    fn broken_files_are_errors_without_their_content() {
        let bad = r#"{"auths": {"x.io": {"auth": "!!not-base64-secret!!"}}}"#;
        let err = DockerConfig::parse("c.json", bad.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::Credentials { .. }));
        assert!(!err.to_string().contains("not-base64-secret"), "{err}");
        let not_json = r#"{"auths": {"x.io": {"auth": 42, "password": "topsecret"}}}"#;
        let err = DockerConfig::parse("c.json", not_json.as_bytes()).unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
        let err = DockerConfig::load("/nonexistent/ocipull/config.json").unwrap_err();
        assert!(matches!(err, Error::Credentials { .. }));
    }
}
