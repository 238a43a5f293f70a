//! Repository names and tags, validated with the distribution-spec's expressions.
//!
//! Source: OCI distribution-spec v1.1, "Pulling manifests": `<name>` MUST match
//! [`REPOSITORY_REGEX`] and `<reference>` as a tag MUST match [`TAG_REGEX`]. Many clients and
//! registries limit the name (with hostname) to 255 characters, so the spec asks us to keep
//! names within that limit ([`MAX_REPOSITORY_LEN`]).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The longest repository name accepted (distribution-spec, "Pulling manifests" note on 255
/// characters).
pub const MAX_REPOSITORY_LEN: usize = 255;

/// The anchored repository-name expression of the distribution-spec ("Pulling manifests").
pub static REPOSITORY_REGEX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
        .expect("repository expression compiles")
});

/// The anchored tag expression of the distribution-spec ("Pulling manifests").
pub static TAG_REGEX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").expect("tag expression compiles")
});

/// Why a repository name or tag was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The repository name does not match [`REPOSITORY_REGEX`].
    #[error("invalid repository name {name:?}: it must match {}", REPOSITORY_REGEX.as_str())]
    InvalidRepository {
        /// The rejected input.
        name: String,
    },
    /// The repository name is longer than [`MAX_REPOSITORY_LEN`].
    #[error("repository name is {len} characters long, the limit is {limit}")]
    RepositoryTooLong {
        /// Length of the rejected input.
        len: usize,
        /// The limit, [`MAX_REPOSITORY_LEN`].
        limit: usize,
    },
    /// The tag does not match [`TAG_REGEX`] (which also limits it to 128 characters).
    #[error("invalid tag {tag:?}: it must match {}", TAG_REGEX.as_str())]
    InvalidTag {
        /// The rejected input.
        tag: String,
    },
}

/// A repository name such as `library/alpine`: one or more path components, lowercase.
///
/// Constructible only through [`FromStr`] / [`TryFrom`], so every value is valid.
///
/// ```
/// use ocipull_spec::Repository;
/// let repo: Repository = "library/alpine".parse()?;
/// assert_eq!(repo.as_str(), "library/alpine");
/// assert!("a___b".parse::<Repository>().is_err());
/// # Ok::<(), ocipull_spec::NameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Repository(String);

impl Repository {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path components (`library`, `alpine`).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last path component, used as a short display name.
    pub fn basename(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    fn validate(s: &str) -> Result<(), NameError> {
        if s.len() > MAX_REPOSITORY_LEN {
            return Err(NameError::RepositoryTooLong {
                len: s.len(),
                limit: MAX_REPOSITORY_LEN,
            });
        }
        if !REPOSITORY_REGEX.is_match(s) {
            return Err(NameError::InvalidRepository { name: s.to_owned() });
        }
        Ok(())
    }
}

/// A tag such as `latest` or `v1.2.3`.
///
/// ```
/// use ocipull_spec::Tag;
/// let tag: Tag = "v1.0".parse()?;
/// assert_eq!(tag.to_string(), "v1.0");
/// assert!("x".repeat(129).parse::<Tag>().is_err());
/// # Ok::<(), ocipull_spec::NameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// The tag `latest`, which Docker-style references imply when they name neither a tag nor
    /// a digest.
    pub fn latest() -> Tag {
        Tag("latest".to_owned())
    }

    /// The tag as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn validate(s: &str) -> Result<(), NameError> {
        if !TAG_REGEX.is_match(s) {
            return Err(NameError::InvalidTag { tag: s.to_owned() });
        }
        Ok(())
    }
}

macro_rules! string_newtype {
    ($ty:ident) => {
        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::validate(s)?;
                Ok(Self(s.to_owned()))
            }
        }
        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::validate(&s)?;
                Ok(Self(s))
            }
        }
        impl TryFrom<&str> for $ty {
            type Error = NameError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_newtype!(Repository);
string_newtype!(Tag);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_separators() {
        for ok in [
            "a",
            "a__b",
            "a_b",
            "a.b",
            "a-b",
            "a---b",
            "a/b/c",
            "library/alpine",
            "0",
        ] {
            assert!(ok.parse::<Repository>().is_ok(), "{ok}");
        }
        for bad in [
            "", "a___b", "A", "a/", "/a", "a//b", "a..b", "-a", "a-", "a_", "a b",
        ] {
            assert!(
                matches!(
                    bad.parse::<Repository>(),
                    Err(NameError::InvalidRepository { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn repository_length_limit() {
        let ok = "a".repeat(MAX_REPOSITORY_LEN);
        assert!(ok.parse::<Repository>().is_ok());
        let long = "a".repeat(MAX_REPOSITORY_LEN + 1);
        assert_eq!(
            long.parse::<Repository>(),
            Err(NameError::RepositoryTooLong {
                len: 256,
                limit: 255
            })
        );
    }

    #[test]
    fn tag_rules() {
        assert!("x".repeat(128).parse::<Tag>().is_ok());
        assert!(matches!(
            "x".repeat(129).parse::<Tag>(),
            Err(NameError::InvalidTag { .. })
        ));
        for ok in ["latest", "_x", "V1.0-rc_1", "0"] {
            assert!(ok.parse::<Tag>().is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a:b", "a/b", ".INVALID_MANIFEST_NAME"] {
            assert!(bad.parse::<Tag>().is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_goes_through_validation() {
        assert!(serde_json::from_str::<Repository>("\"a___b\"").is_err());
        let t: Tag = serde_json::from_str("\"v1\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"v1\"");
    }
}
