//! The containers-registries.conf(5) version 2 loader.
//!
//! What is read, per `[[registry]]` table:
//!
//! - `prefix` (defaults to `location`): `host`, `host/path` or `*.domain`; the longest
//!   matching prefix wins.
//! - `location`: where the registry is reached (rewrites the prefix; empty with a
//!   wildcard prefix).
//! - `insecure`: plain HTTP is allowed. This client does not skip certificate checks, so
//!   an insecure location or mirror is spoken to in plain HTTP.
//! - `blocked`: references matching the prefix are refused before any request.
//! - `mirror-by-digest-only`: the mirrors get the `pull` capability only.
//! - `[[registry.mirror]]` tables with `location`, `insecure` and `pull-from-mirror`
//!   (`all`, `digest-only`, `tag-only`).
//!
//! `unqualified-search-registries`, `short-name-mode`, `[aliases]` and
//! `credential-helpers` are about short names and credentials, not mirrors: they are
//! accepted and ignored (references here are always fully qualified). The version 1
//! format (`[registries.search]` …) is refused with a typed error.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Capabilities, Endpoint, MirrorConfig, MirrorError, MirrorSet, Origin};
use crate::Scheme;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    #[serde(default)]
    registry: Vec<Spanned<RegistryTable>>,
    /// The version 1 format's table: refused.
    registries: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RegistryTable {
    prefix: Option<Spanned<String>>,
    location: Option<Spanned<String>>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<Spanned<MirrorTable>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct MirrorTable {
    location: Spanned<String>,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<Spanned<String>>,
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `host[/path]` of a location: the host and the repository path (may be empty).
fn split_location(location: &str) -> (&str, &str) {
    match location.split_once('/') {
        Some((host, path)) => (host, path.trim_end_matches('/')),
        None => (location, ""),
    }
}

impl MirrorConfig {
    /// Reads a containers-registries.conf(5) version 2 file (see the module
    /// documentation for which keys are used).
    pub fn from_registries_conf(path: impl AsRef<Path>) -> Result<MirrorConfig, MirrorError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| MirrorError::Read {
            path: path.to_owned(),
            source,
        })?;
        MirrorConfig::parse_registries_conf(&text, path)
    }

    /// Parses the text of a registries.conf file; `path` names it in errors.
    pub fn parse_registries_conf(text: &str, path: &Path) -> Result<MirrorConfig, MirrorError> {
        let origin = |offset: usize| Origin {
            path: path.to_owned(),
            line: Some(line_of(text, offset)),
        };
        let file: File = toml::from_str(text).map_err(|e| MirrorError::Syntax {
            origin: Some(Origin {
                path: path.to_owned(),
                line: e.span().map(|s| line_of(text, s.start)),
            }),
            message: e.message().trim().to_owned(),
        })?;
        if let Some(v1) = &file.registries {
            return Err(MirrorError::InvalidValue {
                origin: Some(origin(v1.span().start)),
                key: "registries".into(),
                value: "[registries.*]".into(),
                reason: "the version 1 format is not supported; use [[registry]] tables (containers-registries.conf(5) version 2)".into(),
            });
        }
        let mut config = MirrorConfig::new();
        let mut seen: Vec<String> = Vec::new();
        for table in &file.registry {
            let at = origin(table.span().start);
            let table = table.get_ref();
            let invalid =
                |key: &str, value: &str, reason: &str, line: Origin| MirrorError::InvalidValue {
                    origin: Some(line),
                    key: key.to_owned(),
                    value: value.to_owned(),
                    reason: reason.to_owned(),
                };
            let location = table
                .location
                .as_ref()
                .map(|l| (l.get_ref().as_str(), origin(l.span().start)));
            let prefix = match (&table.prefix, &location) {
                (Some(p), _) => (p.get_ref().clone(), origin(p.span().start)),
                (None, Some((l, at))) if !l.is_empty() => (l.to_string(), at.clone()),
                _ => {
                    return Err(invalid(
                        "registry.location",
                        "",
                        "a [[registry]] table needs a prefix or a location",
                        at,
                    ));
                }
            };
            let (prefix, prefix_at) = prefix;
            if prefix.is_empty() {
                return Err(invalid(
                    "registry.prefix",
                    &prefix,
                    "the prefix is empty",
                    prefix_at,
                ));
            }
            if seen.contains(&prefix) {
                return Err(invalid(
                    "registry.prefix",
                    &prefix,
                    "another [[registry]] table has the same prefix",
                    prefix_at,
                ));
            }
            seen.push(prefix.clone());
            let wildcard = prefix.starts_with("*.");
            if wildcard {
                if prefix[2..].is_empty() || prefix[2..].contains(['/', '*']) {
                    return Err(invalid(
                        "registry.prefix",
                        &prefix,
                        "a wildcard prefix is `*.domain`, without a path",
                        prefix_at,
                    ));
                }
                if let Some((l, at)) = &location {
                    if !l.is_empty() {
                        return Err(invalid(
                            "registry.location",
                            l,
                            "a wildcard prefix cannot have a location",
                            at.clone(),
                        ));
                    }
                }
            } else if prefix.contains(['*', '@']) || prefix.contains("://") {
                return Err(invalid(
                    "registry.prefix",
                    &prefix,
                    "a prefix is `host[/path]` or `*.domain`",
                    prefix_at,
                ));
            } else if let Err(reason) = check_location(&prefix) {
                return Err(invalid("registry.prefix", &prefix, &reason, prefix_at));
            }
            let scheme = |insecure: bool| if insecure { Scheme::Http } else { Scheme::Auto };
            let mut set = MirrorSet::new().blocked(table.blocked);
            // The upstream: the location (or the prefix's own registry).
            let upstream = match &location {
                Some((l, at)) if !l.is_empty() => {
                    check_location(l)
                        .map_err(|r| invalid("registry.location", l, &r, at.clone()))?;
                    let (host, path) = split_location(l);
                    Some(
                        Endpoint::new(host)
                            .scheme(scheme(table.insecure))
                            .rewrite_matched_prefix(path),
                    )
                }
                _ if table.insecure && !wildcard => {
                    let (host, path) = split_location(&prefix);
                    Some(
                        Endpoint::new(host)
                            .scheme(Scheme::Http)
                            .rewrite_matched_prefix(path),
                    )
                }
                _ => None,
            };
            set = set.upstream(upstream);
            for mirror in &table.mirror {
                let m_at = origin(mirror.span().start);
                let mirror = mirror.get_ref();
                let loc = mirror.location.get_ref();
                let loc_at = origin(mirror.location.span().start);
                if loc.is_empty() {
                    return Err(invalid(
                        "registry.mirror.location",
                        loc,
                        "the location is empty",
                        loc_at,
                    ));
                }
                check_location(loc)
                    .map_err(|r| invalid("registry.mirror.location", loc, &r, loc_at.clone()))?;
                if wildcard {
                    return Err(invalid(
                        "registry.mirror.location",
                        loc,
                        "a wildcard prefix cannot have mirrors",
                        loc_at,
                    ));
                }
                let (host, path) = split_location(loc);
                let mut endpoint = Endpoint::new(host)
                    .scheme(scheme(mirror.insecure))
                    .rewrite_matched_prefix(path);
                let pull_from = mirror.pull_from_mirror.as_ref();
                let mode = pull_from.map_or("all", |p| p.get_ref().as_str());
                let mode_at = pull_from.map_or(m_at, |p| origin(p.span().start));
                if table.mirror_by_digest_only && mode != "all" {
                    return Err(invalid(
                        "registry.mirror.pull-from-mirror",
                        mode,
                        "cannot be combined with mirror-by-digest-only = true",
                        mode_at,
                    ));
                }
                let digest_only = table.mirror_by_digest_only || mode == "digest-only";
                if digest_only {
                    endpoint = endpoint.capabilities(Capabilities::PULL);
                }
                set = match mode {
                    "all" | "digest-only" => set.mirror(endpoint),
                    "tag-only" => set.tag_only_mirror(endpoint),
                    other => {
                        return Err(invalid(
                            "registry.mirror.pull-from-mirror",
                            other,
                            "expected \"all\", \"digest-only\" or \"tag-only\"",
                            mode_at,
                        ));
                    }
                };
            }
            config = config.add(&prefix, set.with_origin(at));
        }
        Ok(config)
    }
}

/// Checks a `host[/path]` location: a valid host and repository path.
fn check_location(location: &str) -> Result<(), String> {
    if location.contains("://") {
        return Err("a location is `host[/path]`, without a scheme".into());
    }
    let (host, path) = split_location(location);
    if !super::valid_host(host) {
        return Err(format!("{host:?} is not `host[:port]`"));
    }
    if !path.is_empty() && path.parse::<ocipull_spec::Repository>().is_err() {
        return Err(format!("{path:?} is not a repository path"));
    }
    Ok(())
}
