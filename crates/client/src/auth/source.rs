//! [`CredentialSource`]: where a client finds its credentials, and [`CredentialChain`], the
//! lookup order docker and podman use.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use ocipull_spec::Repository;

use super::docker_config::{ContainersAuthFile, DockerConfig};
use super::error::CredentialError;
use super::helper::HelperSettings;
use crate::Credentials;

/// Something that knows the credentials for a repository of a registry: a static
/// [`Credentials`], a [`DockerConfig`], a [`ContainersAuthFile`], a
/// [`CredentialHelper`](super::CredentialHelper), or a [`CredentialChain`] of them.
///
/// A client asks its source once, when the registry first asks for authentication (a
/// `401`), and keeps the answer; a failed lookup is asked again on the next challenge.
pub trait CredentialSource: Send + Sync {
    /// The credentials for `repository` on `registry` (`host[:port]` as the client speaks
    /// to it, e.g. `registry-1.docker.io` for Docker Hub); `Ok(None)` when this source has
    /// none.
    fn credentials<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a Repository,
    ) -> BoxFuture<'a, Result<Option<Credentials>, CredentialError>>;
}

impl CredentialSource for Credentials {
    fn credentials<'a>(
        &'a self,
        _registry: &'a str,
        _repository: &'a Repository,
    ) -> BoxFuture<'a, Result<Option<Credentials>, CredentialError>> {
        Box::pin(std::future::ready(Ok(Some(self.clone()))))
    }
}

impl<T: CredentialSource + ?Sized> CredentialSource for Arc<T> {
    fn credentials<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a Repository,
    ) -> BoxFuture<'a, Result<Option<Credentials>, CredentialError>> {
        (**self).credentials(registry, repository)
    }
}

/// A file read at each lookup; a missing file has nothing.
struct LazyFile {
    path: PathBuf,
    docker: bool,
    settings: HelperSettings,
}

impl CredentialSource for LazyFile {
    fn credentials<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a Repository,
    ) -> BoxFuture<'a, Result<Option<Credentials>, CredentialError>> {
        Box::pin(async move {
            if !self.path.exists() {
                return Ok(None);
            }
            if self.docker {
                let file = DockerConfig::load(&self.path)?.helper_settings(self.settings.clone());
                file.credentials(registry, repository).await
            } else {
                let file =
                    ContainersAuthFile::load(&self.path)?.helper_settings(self.settings.clone());
                file.credentials(registry, repository).await
            }
        })
    }
}

/// Sources asked in order: the first that has credentials wins; an error stops the lookup.
#[derive(Clone, Default)]
pub struct CredentialChain {
    sources: Vec<(String, Arc<dyn CredentialSource>)>,
}

impl CredentialChain {
    /// An empty chain (it has no credentials).
    pub fn new() -> CredentialChain {
        CredentialChain::default()
    }

    /// Adds `source` after those already in the chain; `name` is what `Debug` shows.
    pub fn with(
        mut self,
        name: impl Into<String>,
        source: impl CredentialSource + 'static,
    ) -> Self {
        self.sources.push((name.into(), Arc::new(source)));
        self
    }

    /// podman's order (containers-auth.json(5)): each of `containers_files`, then
    /// `docker_config` with its `credHelpers` and `credsStore`. The files are read at each
    /// lookup; a missing one has nothing, a broken one is a [`CredentialError::File`].
    pub fn auth_files(
        containers_files: impl IntoIterator<Item = PathBuf>,
        docker_config: Option<PathBuf>,
        settings: HelperSettings,
    ) -> CredentialChain {
        let mut chain = CredentialChain::new();
        for path in containers_files {
            chain = chain.with(
                path.display().to_string(),
                LazyFile {
                    path,
                    docker: false,
                    settings: settings.clone(),
                },
            );
        }
        if let Some(path) = docker_config {
            chain = chain.with(
                path.display().to_string(),
                LazyFile {
                    path,
                    docker: true,
                    settings,
                },
            );
        }
        chain
    }

    /// [`CredentialChain::auth_files`] with the files of this environment:
    /// [`ContainersAuthFile::default_paths`], then [`DockerConfig::default_path`].
    pub fn from_environment(settings: HelperSettings) -> CredentialChain {
        Self::auth_files(
            ContainersAuthFile::default_paths(),
            DockerConfig::default_path(),
            settings,
        )
    }
}

impl std::fmt::Debug for CredentialChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.sources.iter().map(|(name, _)| name))
            .finish()
    }
}

impl CredentialSource for CredentialChain {
    fn credentials<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a Repository,
    ) -> BoxFuture<'a, Result<Option<Credentials>, CredentialError>> {
        Box::pin(async move {
            for (_, source) in &self.sources {
                if let Some(found) = source.credentials(registry, repository).await? {
                    return Ok(Some(found));
                }
            }
            Ok(None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_file_with_credentials_wins_in_podmans_order() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let runtime = write(
            "runtime.json",
            r#"{"auths": {"quay.io/org": {"auth": "cnVudGltZTpy"}}}"#,
        );
        let config = write(
            "config.json",
            r#"{"auths": {"quay.io": {"auth": "Y29uZmlnOmM="}, "ghcr.io": {"auth": "Y29uZmlnOmM="}}}"#,
        );
        let docker = write(
            "docker.json",
            r#"{"auths": {"https://index.docker.io/v1/": {"auth": "ZG9ja2VyOmQ="}, "ghcr.io": {"auth": "ZG9ja2VyOmQ="}}}"#,
        );
        let chain = CredentialChain::auth_files(
            [runtime, dir.path().join("missing.json"), config],
            Some(docker),
            HelperSettings::default(),
        );
        let user = async |registry: &str, repository: &str| {
            chain
                .credentials(registry, &repository.parse().unwrap())
                .await
                .unwrap()
                .and_then(|c| c.username().map(str::to_owned))
        };
        assert_eq!(user("quay.io", "org/app").await.as_deref(), Some("runtime"));
        assert_eq!(
            user("quay.io", "other/app").await.as_deref(),
            Some("config")
        );
        assert_eq!(user("ghcr.io", "a/b").await.as_deref(), Some("config"));
        assert_eq!(
            user("registry-1.docker.io", "library/x").await.as_deref(),
            Some("docker")
        );
        assert_eq!(user("gcr.io", "a/b").await, None);
        assert!(format!("{chain:?}").contains("missing.json"));

        let broken = write("broken.json", "{");
        let chain = CredentialChain::auth_files([broken], None, HelperSettings::default());
        let err = chain
            .credentials("quay.io", &"a/b".parse().unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, CredentialError::File { .. }), "{err:?}");
    }
}
