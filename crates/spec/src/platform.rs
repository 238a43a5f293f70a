//! Platforms and the image-spec's rules for matching them.
//!
//! Source: OCI image-spec v1.1 "Image Index" → `platform`, whose `variant` values follow the
//! Go `GOARM`/`GOAMD64` convention; an `arm64` entry without a variant is `v8`, an `arm` one
//! is `v7` (the normalisation containerd and Docker apply when selecting from an index).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The platform an image runs on.
///
/// ```
/// use ocipull_spec::Platform;
/// let wanted: Platform = "linux/arm64".parse()?;
/// let entry: Platform = "linux/arm64/v8".parse()?;
/// assert!(wanted.matches(&entry));
/// assert!(!wanted.matches(&"linux/amd64".parse()?));
/// # Ok::<(), ocipull_spec::PlatformError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, …, Go's `GOARCH` values).
    pub architecture: String,
    /// Operating system (`linux`, `windows`, …, Go's `GOOS` values).
    pub os: String,
    /// Operating system version (Windows builds use it).
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
    /// CPU variant (`v7`, `v8`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Reserved by the image-spec for future use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
}

/// Why a string is not `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: expected os/arch[/variant], e.g. linux/arm64/v8")]
pub struct PlatformError {
    /// The rejected input.
    pub input: String,
}

impl Platform {
    /// A platform from os and architecture.
    pub fn new(os: impl Into<String>, architecture: impl Into<String>) -> Platform {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            ..Platform::default()
        }
    }

    /// The variant with the defaults the image-spec's ecosystem applies (`arm64` → `v8`,
    /// `arm` → `v7`).
    pub fn normalized_variant(&self) -> Option<&str> {
        match (self.architecture.as_str(), self.variant.as_deref()) {
            (_, Some(v)) => Some(v),
            ("arm64", None) => Some("v8"),
            ("arm", None) => Some("v7"),
            _ => None,
        }
    }

    /// Whether an index entry for `candidate` satisfies a request for `self`.
    ///
    /// OS and architecture must be equal. Variants are compared after normalisation; when
    /// the request has no variant and its architecture has no default, any variant matches.
    /// `os.version` is compared only when the request names one.
    pub fn matches(&self, candidate: &Platform) -> bool {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return false;
        }
        if let Some(v) = &self.os_version {
            if candidate.os_version.as_ref() != Some(v) {
                return false;
            }
        }
        match self.normalized_variant() {
            None => true,
            Some(v) => candidate.normalized_variant() == Some(v),
        }
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PlatformError {
            input: s.to_owned(),
        };
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty()).ok_or_else(err)?;
        let arch = parts.next().filter(|p| !p.is_empty()).ok_or_else(err)?;
        let variant = match parts.next() {
            Some(v) if !v.is_empty() => Some(v.to_owned()),
            Some(_) => return Err(err()),
            None => None,
        };
        if parts.next().is_some() {
            return Err(err());
        }
        let valid = |p: &str| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        };
        if !valid(os) || !valid(arch) || !variant.as_deref().is_none_or(valid) {
            return Err(err());
        }
        Ok(Platform {
            variant,
            ..Platform::new(os, arch)
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn variant_defaults() {
        assert!(p("linux/arm64").matches(&p("linux/arm64/v8")));
        assert!(p("linux/arm64/v8").matches(&p("linux/arm64")));
        assert!(!p("linux/arm64/v9").matches(&p("linux/arm64")));
        assert!(p("linux/arm").matches(&p("linux/arm/v7")));
        assert!(!p("linux/arm").matches(&p("linux/arm/v6")));
        assert!(p("linux/arm/v6").matches(&p("linux/arm/v6")));
        assert!(p("linux/amd64").matches(&p("linux/amd64/v3")));
        assert!(!p("linux/amd64").matches(&p("windows/amd64")));
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/arm/v7/x",
            "linux/arm/",
            "li nux/amd64",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
    }

    #[test]
    fn json_field_names() {
        let pl: Platform = serde_json::from_str(
            r#"{"architecture":"amd64","os":"windows","os.version":"10.0.1","os.features":["win32k"]}"#,
        )
        .unwrap();
        assert_eq!(pl.os_version.as_deref(), Some("10.0.1"));
        assert_eq!(pl.os_features, Some(vec!["win32k".to_owned()]));
        let back = serde_json::to_value(&pl).unwrap();
        assert_eq!(back["os.version"], "10.0.1");
    }
}
