//! Credentials files: Docker's client configuration (`~/.docker/config.json`) and the
//! containers auth file (`auth.json`, containers-auth.json(5)).
//!
//! Both hold `auths`, a map from a registry to an entry with `auth` (base64 of
//! `user:password`), `username`/`password`, or `identitytoken`, and `credHelpers`, a map
//! from a registry to the name of a credential helper. Docker's also has `credsStore`, the
//! helper for every registry `credHelpers` does not name.
//!
//! Keys: `https://host/…`, `http://host/…` and `host` all mean `host` (a scheme makes the
//! key a legacy URL whose path is not a namespace); Docker Hub's legacy
//! `https://index.docker.io/v1/` means `docker.io` and its API host
//! `registry-1.docker.io`. In a containers auth file a key without a scheme may also name a
//! namespace or repository (`quay.io/org`, `quay.io/org/app`): the most specific key that
//! contains the repository wins.
//!
//! # Security
//!
//! Errors name the file and what is wrong, never its content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use futures_util::future::BoxFuture;
use ocipull_spec::Repository;

use super::error::CredentialError;
use super::helper::{CredentialHelper, HelperSettings};
use super::source::CredentialSource;
use crate::Credentials;

/// The largest file read: these files are a few kilobytes.
const MAX_CONFIG_SIZE: u64 = 4 * 1024 * 1024;

/// The key every Docker Hub name is kept under.
const DOCKER_HUB_KEY: &str = "docker.io";

/// Registry names that all mean Docker Hub.
const DOCKER_HUB_NAMES: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Whether `host` (lowercase) is a Docker Hub name.
pub(crate) fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_NAMES.contains(&host)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// Keys are registries only (Docker's `ConvertToHostname`).
    Docker,
    /// Keys may name a namespace or repository (containers-auth.json(5)).
    Containers,
}

/// What both files hold, parsed.
#[derive(Clone)]
struct Parsed {
    path: PathBuf,
    flavor: Flavor,
    auths: BTreeMap<String, Credentials>,
    helpers: BTreeMap<String, String>,
    store: Option<String>,
    settings: HelperSettings,
}

#[derive(serde::Deserialize)]
struct File {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
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

fn read(path: &Path) -> Result<Vec<u8>, CredentialError> {
    let fail = |reason: String| CredentialError::File {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if meta.len() > MAX_CONFIG_SIZE {
        return Err(fail(format!("larger than {MAX_CONFIG_SIZE} bytes")));
    }
    std::fs::read(path).map_err(|e| fail(e.to_string()))
}

impl Parsed {
    fn parse(path: &Path, bytes: &[u8], flavor: Flavor) -> Result<Parsed, CredentialError> {
        let fail = |reason: String| CredentialError::File {
            path: path.to_owned(),
            reason,
        };
        // serde_json messages can quote values; report only where the JSON breaks.
        let file: File = serde_json::from_slice(bytes).map_err(|e| {
            fail(format!(
                "not a credentials file ({:?} error at line {}, column {})",
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
            auths.insert(normalize(&key, flavor), credentials);
        }
        let helpers = file
            .cred_helpers
            .into_iter()
            .map(|(key, name)| (normalize(&key, Flavor::Docker), name))
            .collect();
        Ok(Parsed {
            path: path.to_owned(),
            flavor,
            auths,
            helpers,
            store: file.creds_store.filter(|s| !s.is_empty()),
            settings: HelperSettings::default(),
        })
    }

    /// The `auths` entry for `repository` on `registry`: the most specific key.
    fn stored(&self, registry: &str, repository: Option<&str>) -> Option<Credentials> {
        let host = normalize(registry, Flavor::Docker);
        if self.flavor == Flavor::Containers {
            if let Some(repository) = repository {
                let mut key = format!("{host}/{repository}");
                loop {
                    if let Some(c) = self.auths.get(&key) {
                        return Some(c.clone());
                    }
                    match key.rfind('/') {
                        Some(i) if i > host.len() => key.truncate(i),
                        _ => break,
                    }
                }
            }
        }
        self.auths.get(&host).cloned()
    }

    /// The helper `credHelpers` names for `registry`, else `credsStore`.
    fn helper(&self, registry: &str) -> Option<CredentialHelper> {
        let host = normalize(registry, Flavor::Docker);
        self.helpers
            .get(&host)
            .or(self.store.as_ref())
            .map(|name| CredentialHelper::new(name.clone()).settings(self.settings.clone()))
    }

    async fn lookup(
        &self,
        registry: &str,
        repository: &Repository,
    ) -> Result<Option<Credentials>, CredentialError> {
        let repository = repository.to_string();
        if let Some(helper) = self.helper(registry) {
            if let Some(found) = helper.get(registry).await? {
                return Ok(Some(found));
            }
        }
        Ok(self.stored(registry, Some(&repository)))
    }

    fn fmt(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("path", &self.path)
            .field("registries", &self.auths.keys().collect::<Vec<_>>())
            .field("cred_helpers", &self.helpers)
            .field("creds_store", &self.store)
            .finish()
    }
}

/// A Docker client configuration file: `auths`, `credHelpers` and `credsStore`.
///
/// As a [`CredentialSource`], Docker's order: the `credHelpers` helper for the registry,
/// else the `credsStore` helper, else (or when the helper has nothing) the `auths` entry.
#[derive(Clone)]
pub struct DockerConfig(Parsed);

impl DockerConfig {
    /// The default file: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker").join("config.json"))
    }

    /// Loads the default file; `Ok(None)` when it does not exist.
    pub fn load_default() -> Result<Option<DockerConfig>, CredentialError> {
        match Self::default_path() {
            Some(path) if path.exists() => Self::load(&path).map(Some),
            _ => Ok(None),
        }
    }

    /// Loads and parses `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<DockerConfig, CredentialError> {
        let path = path.as_ref();
        Self::parse(path, &read(path)?)
    }

    /// Parses the content of a config file; `path` is only used in errors.
    pub fn parse(path: impl AsRef<Path>, bytes: &[u8]) -> Result<DockerConfig, CredentialError> {
        Parsed::parse(path.as_ref(), bytes, Flavor::Docker).map(DockerConfig)
    }

    /// How the helpers this file names are run. Default is [`HelperSettings::default`].
    pub fn helper_settings(mut self, settings: HelperSettings) -> Self {
        self.0.settings = settings;
        self
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// The `auths` entry for `registry` (as in a reference: `ghcr.io`, `localhost:5000`,
    /// `docker.io`); helpers are not run.
    pub fn credentials_for(&self, registry: &str) -> Option<Credentials> {
        self.0.stored(registry, None)
    }

    /// The helper for `registry`: its `credHelpers` entry, else `credsStore`.
    pub fn helper_for(&self, registry: &str) -> Option<CredentialHelper> {
        self.0.helper(registry)
    }
}

impl std::fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt("DockerConfig", f)
    }
}

impl CredentialSource for DockerConfig {
    fn credentials<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a Repository,
    ) -> BoxFuture<'a, Result<Option<Credentials>, CredentialError>> {
        Box::pin(self.0.lookup(registry, repository))
    }
}

/// A containers auth file (containers-auth.json(5)), as podman, buildah and skopeo write
/// it: `auths` with keys that may name a namespace or repository, and `credHelpers`.
///
/// As a [`CredentialSource`]: the `credHelpers` helper for the registry, else (or when the
/// helper has nothing) the most specific `auths` key for the repository.
#[derive(Clone)]
pub struct ContainersAuthFile(Parsed);

impl ContainersAuthFile {
    /// The files podman reads, in its order, before Docker's config:
    /// `$REGISTRY_AUTH_FILE` when set, else `$XDG_RUNTIME_DIR/containers/auth.json`; then
    /// `$XDG_CONFIG_HOME/containers/auth.json` (`$HOME/.config/containers/auth.json`).
    pub fn default_paths() -> Vec<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let mut paths = Vec::new();
        if let Some(file) = var("REGISTRY_AUTH_FILE") {
            paths.push(PathBuf::from(file));
        } else if let Some(dir) = var("XDG_RUNTIME_DIR") {
            paths.push(PathBuf::from(dir).join("containers").join("auth.json"));
        }
        let config = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")));
        if let Some(dir) = config {
            paths.push(dir.join("containers").join("auth.json"));
        }
        paths
    }

    /// Loads and parses `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<ContainersAuthFile, CredentialError> {
        let path = path.as_ref();
        Self::parse(path, &read(path)?)
    }

    /// Parses the content of an auth file; `path` is only used in errors.
    pub fn parse(
        path: impl AsRef<Path>,
        bytes: &[u8],
    ) -> Result<ContainersAuthFile, CredentialError> {
        Parsed::parse(path.as_ref(), bytes, Flavor::Containers).map(ContainersAuthFile)
    }

    /// How the helpers this file names are run. Default is [`HelperSettings::default`].
    pub fn helper_settings(mut self, settings: HelperSettings) -> Self {
        self.0.settings = settings;
        self
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// The `auths` entry for `repository` on `registry`: the most specific key among
    /// `registry/repository`, its namespaces, and `registry`. Helpers are not run.
    pub fn credentials_for(&self, registry: &str, repository: &Repository) -> Option<Credentials> {
        self.0.stored(registry, Some(repository.as_ref()))
    }
}

impl std::fmt::Debug for ContainersAuthFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt("ContainersAuthFile", f)
    }
}

impl CredentialSource for ContainersAuthFile {
    fn credentials<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a Repository,
    ) -> BoxFuture<'a, Result<Option<Credentials>, CredentialError>> {
        Box::pin(self.0.lookup(registry, repository))
    }
}

/// `https://Host:5000/v2/` → `host:5000`; every Docker Hub name → `docker.io`; for
/// containers keys without a scheme, `Quay.io/org/app/` → `quay.io/org/app`.
fn normalize(key: &str, flavor: Flavor) -> String {
    let (rest, url) = match key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        Some(rest) => (rest, true),
        None => (key, false),
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut host = host.to_ascii_lowercase();
    if is_docker_hub(&host) {
        DOCKER_HUB_KEY.clone_into(&mut host);
    }
    let path = path.trim_matches('/');
    if url || flavor == Flavor::Docker || path.is_empty() {
        host
    } else {
        format!("{host}/{path}")
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
      "credsStore": "desktop",
      "credHelpers": {"https://gcr.io": "gcloud"}
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
        assert_eq!(
            c.helper_for("gcr.io").unwrap().program(),
            "docker-credential-gcloud"
        );
        assert_eq!(
            c.helper_for("quay.io").unwrap().program(),
            "docker-credential-desktop"
        );
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2")
                && !shown.contains("pat_secret")
                && !shown.contains("refresh-secret"),
            "{shown}"
        );
    }

    #[test]
    fn keys_are_normalised() {
        for key in [
            "https://host.example/",
            "host.example",
            "http://host.example",
            "HOST.example/v2/",
        ] {
            assert_eq!(normalize(key, Flavor::Docker), "host.example", "{key}");
        }
        assert_eq!(
            normalize("https://quay.io/org", Flavor::Containers),
            "quay.io"
        );
        assert_eq!(
            normalize("Quay.io/org/app/", Flavor::Containers),
            "quay.io/org/app"
        );
        assert_eq!(
            normalize("index.docker.io/library", Flavor::Containers),
            "docker.io/library"
        );
    }

    #[test]
    fn the_most_specific_containers_key_wins() {
        let file = r#"{"auths": {
            "quay.io": {"auth": "cmVnOnI="},
            "quay.io/org": {"auth": "b3JnOm8="},
            "quay.io/org/app": {"auth": "YXBwOmE="},
            "docker.io/library": {"auth": "bGliOmw="}
        }}"#;
        let f = ContainersAuthFile::parse("auth.json", file.as_bytes()).unwrap();
        let at = |reg: &str, repo: &str| {
            f.credentials_for(reg, &repo.parse().unwrap())
                .and_then(|c| c.username().map(str::to_owned))
        };
        assert_eq!(at("quay.io", "org/app").as_deref(), Some("app"));
        assert_eq!(at("quay.io", "org/app/sub").as_deref(), Some("app"));
        assert_eq!(at("quay.io", "org/other").as_deref(), Some("org"));
        assert_eq!(at("quay.io", "org2/app").as_deref(), Some("reg"));
        assert_eq!(at("quay.io", "organ").as_deref(), Some("reg"));
        assert_eq!(
            at("registry-1.docker.io", "library/alpine").as_deref(),
            Some("lib")
        );
        assert_eq!(at("docker.io", "me/alpine"), None);
    }

    #[test]
    fn broken_files_are_errors_without_their_content() {
        let bad = r#"{"auths": {"x.io": {"auth": "!!not-base64-secret!!"}}}"#;
        let err = DockerConfig::parse("c.json", bad.as_bytes()).unwrap_err();
        assert!(matches!(err, CredentialError::File { .. }));
        assert!(!err.to_string().contains("not-base64-secret"), "{err}");
        let not_json = r#"{"auths": {"x.io": {"auth": 42, "password": "topsecret"}}}"#;
        let err = ContainersAuthFile::parse("c.json", not_json.as_bytes()).unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
        assert!(!format!("{err:?}").contains("topsecret"), "{err:?}");
        let err = DockerConfig::load("/nonexistent/ocipull/config.json").unwrap_err();
        assert!(matches!(err, CredentialError::File { .. }));
    }
}
