//! Image references: `[registry[:port]/]repository[:tag][@digest]`.
//!
//! The grammar follows what Docker and skopeo accept (the `docker://` transport): the first
//! path component is a registry only when it contains `.` or `:` or is `localhost`; without
//! one the registry is Docker Hub (`docker.io`), and a single-component name there lives
//! under `library/`. A tag and a digest may both be given: the tag is what a client asks for,
//! the digest what the answer must hash to.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

use crate::{Digest, DigestError, NameError, Repository, Tag};

/// The registry Docker-style references imply when they name none.
pub const DOCKER_HUB: &str = "docker.io";

/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

// A host name (letters, digits, inner hyphens, dot-separated) or a bracketed IPv6 literal,
// optionally followed by a port.
static REGISTRY_REGEX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(:[0-9]{1,5})?$",
    )
    .expect("registry expression compiles")
});

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The reference is empty.
    #[error("empty image reference")]
    Empty,
    /// The registry part is not a host name or address with an optional port.
    #[error("invalid registry {registry:?} in image reference {reference:?}")]
    InvalidRegistry {
        /// The registry part.
        registry: String,
        /// The whole reference.
        reference: String,
    },
    /// The repository or tag part is invalid.
    #[error("invalid image reference {reference:?}: {source}")]
    Name {
        /// The whole reference.
        reference: String,
        /// What was wrong with the name.
        source: NameError,
    },
    /// The digest part is invalid.
    #[error("invalid image reference {reference:?}: {source}")]
    Digest {
        /// The whole reference.
        reference: String,
        /// What was wrong with the digest.
        source: DigestError,
    },
}

/// A parsed image reference.
///
/// ```
/// use ocipull_spec::Reference;
/// let r: Reference = "alpine".parse()?;
/// assert_eq!(r.registry(), "docker.io");
/// assert_eq!(r.api_host(), "registry-1.docker.io");
/// assert_eq!(r.repository().as_str(), "library/alpine");
/// assert_eq!(r.tag_or_latest().map(|t| t.to_string()).as_deref(), Some("latest"));
///
/// let r: Reference = "localhost:5000/team/app:v1".parse()?;
/// assert_eq!(r.registry(), "localhost:5000");
/// assert_eq!(r.tag().map(|t| t.as_str()), Some("v1"));
/// # Ok::<(), ocipull_spec::ReferenceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: Repository,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl Reference {
    /// A reference from its parts.
    pub fn new(
        registry: impl Into<String>,
        repository: Repository,
        tag: Option<Tag>,
        digest: Option<Digest>,
    ) -> Result<Reference, ReferenceError> {
        let registry = registry.into();
        if !REGISTRY_REGEX.is_match(&registry) {
            return Err(ReferenceError::InvalidRegistry {
                reference: registry.clone(),
                registry,
            });
        }
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry as written (`docker.io`, `ghcr.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The `host[:port]` that serves the registry API: the registry itself, except Docker
    /// Hub's, which is served from [`DOCKER_HUB_API_HOST`].
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// The digest, if one was given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag, or `latest` when the reference names neither tag nor digest (Docker's
    /// convention); `None` when only a digest was given (`repo@sha256:…` names no tag, and
    /// inventing `latest` for it would tag content the user never asked to tag).
    pub fn tag_or_latest(&self) -> Option<Tag> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag.clone()),
            (None, None) => Some(Tag::latest()),
            (None, Some(_)) => None,
        }
    }

    /// What to put in a manifest URL: the tag when there is one, else the digest, else
    /// `latest`.
    pub fn request_reference(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => t.to_string(),
            (None, Some(d)) => d.to_string(),
            (None, None) => "latest".to_owned(),
        }
    }

    fn parse(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let name_err = |source| ReferenceError::Name {
            reference: input.to_owned(),
            source,
        };
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = d
                    .parse::<Digest>()
                    .map_err(|source| ReferenceError::Digest {
                        reference: input.to_owned(),
                        source,
                    })?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        // The registry is the first component when it looks like a host.
        let (registry, path) = match rest.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), path)
            }
            _ => (DOCKER_HUB.to_owned(), rest),
        };
        if !REGISTRY_REGEX.is_match(&registry) {
            return Err(ReferenceError::InvalidRegistry {
                registry,
                reference: input.to_owned(),
            });
        }
        // A tag follows the last colon of the last path component.
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match path[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (
                    &path[..at],
                    Some(path[at + 1..].parse::<Tag>().map_err(name_err)?),
                )
            }
            None => (path, None),
        };
        let name = if registry == DOCKER_HUB && !name.contains('/') {
            format!("library/{name}")
        } else {
            name.to_owned()
        };
        let repository = name.parse::<Repository>().map_err(name_err)?;
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form: `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (String, String, Option<String>, Option<String>) {
        let r: Reference = s.parse().unwrap();
        (
            r.registry().to_owned(),
            r.repository().to_string(),
            r.tag().map(|t| t.to_string()),
            r.digest().map(|d| d.to_string()),
        )
    }

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(
            parts("alpine"),
            ("docker.io".into(), "library/alpine".into(), None, None)
        );
        assert_eq!(parts("alpine:3").2.as_deref(), Some("3"));
        assert_eq!(parts("user/app").1, "user/app");
        assert_eq!(parts("docker.io/alpine").1, "library/alpine");
        let r: Reference = "alpine".parse().unwrap();
        assert_eq!(r.api_host(), DOCKER_HUB_API_HOST);
        assert_eq!(r.to_string(), "docker.io/library/alpine");
    }

    #[test]
    fn registry_detection() {
        assert_eq!(parts("localhost/app").0, "localhost");
        assert_eq!(parts("localhost:5000/app:v1").0, "localhost:5000");
        assert_eq!(parts("ghcr.io/o/r").0, "ghcr.io");
        assert_eq!(parts("127.0.0.1:5000/a/b").0, "127.0.0.1:5000");
        assert_eq!(parts("[::1]:5000/a").0, "[::1]:5000");
        // No dot, colon or localhost: a path component on Docker Hub.
        assert_eq!(parts("myhost/app").0, "docker.io");
        assert_eq!(parts("myhost/app").1, "myhost/app");
    }

    #[test]
    fn tag_and_digest_together() {
        let d = Digest::sha256(b"x");
        let (_, repo, tag, digest) = parts(&format!("ghcr.io/a/b:v1@{d}"));
        assert_eq!((repo.as_str(), tag.as_deref()), ("a/b", Some("v1")));
        assert_eq!(digest, Some(d.to_string()));
        let r: Reference = format!("ghcr.io/a/b@{d}").parse().unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.request_reference(), d.to_string());
    }

    #[test]
    fn tag_or_latest_follows_its_doc() {
        let d = Digest::sha256(b"x");
        let tag = |text: &str| {
            let r: Reference = text.parse().unwrap();
            r.tag_or_latest().map(|t| t.to_string())
        };
        assert_eq!(tag("ghcr.io/a/b:v1").as_deref(), Some("v1"));
        assert_eq!(tag(&format!("ghcr.io/a/b:v1@{d}")).as_deref(), Some("v1"));
        assert_eq!(tag("ghcr.io/a/b").as_deref(), Some("latest"));
        assert_eq!(tag(&format!("ghcr.io/a/b@{d}")), None);
    }

    #[test]
    fn rejections() {
        assert_eq!("".parse::<Reference>(), Err(ReferenceError::Empty));
        assert!(matches!(
            "UPPER/app".parse::<Reference>(),
            Err(ReferenceError::Name { .. })
        ));
        assert!(matches!(
            "a:b:c".parse::<Reference>(),
            Err(ReferenceError::Name { .. })
        ));
        assert!(matches!(
            "ghcr.io/a@sha256:xyz".parse::<Reference>(),
            Err(ReferenceError::Digest { .. })
        ));
        assert!(matches!(
            "-bad.io/a".parse::<Reference>(),
            Err(ReferenceError::InvalidRegistry { .. })
        ));
        assert!(matches!(
            "ghcr.io/".parse::<Reference>(),
            Err(ReferenceError::Name { .. })
        ));
    }
}
