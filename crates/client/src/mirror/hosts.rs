//! The containerd hosts directory loader (containerd "registry host configuration",
//! `config_path`): `<dir>/<host>/hosts.toml`, and `<dir>/_default/hosts.toml` for
//! registries without a directory of their own.
//!
//! What is read:
//!
//! - `server`: the upstream (default: the registry itself), with the top-level
//!   `capabilities`, `ca`, `skip_verify`, `header` and `override_path` applying to it;
//! - `[host."<url>"]` tables, tried in file order before the upstream, each with
//!   `capabilities` (`"pull"`, `"resolve"`; default both), `ca` (a path or a list of
//!   paths, relative ones from the host's directory), `skip_verify`, `header` (a table of
//!   names to a string or a list of strings) and `override_path`.
//!
//! Requests to a mirror carry `ns=<registry>`, as containerd sends them. `client`
//! (TLS client certificates) is refused with a typed error: this client does not present
//! client certificates. `dial_timeout` is accepted and not used. `skip_verify = true`
//! turns off the certificate check for that endpoint ([`Endpoint::skip_verify`]).

use std::path::Path;

use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use toml::Spanned;

use super::registries_conf::line_of;
use super::{Capabilities, Endpoint, MirrorConfig, MirrorError, MirrorSet, Origin};

/// A string or a list of strings (`ca`, header values).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostTable {
    capabilities: Option<Spanned<Vec<String>>>,
    ca: Option<Spanned<OneOrMany>>,
    client: Option<Spanned<toml::Value>>,
    #[serde(default)]
    skip_verify: bool,
    header: Option<Spanned<Headers>>,
    #[serde(default)]
    override_path: bool,
    /// containerd's connect timeout: accepted, not used (the transport has its own).
    #[allow(dead_code)]
    dial_timeout: Option<toml::Value>,
}

/// `header` as a table, in file order.
struct Headers(Vec<(String, OneOrMany)>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Headers, D::Error> {
        d.deserialize_map(Ordered(std::marker::PhantomData))
            .map(Headers)
    }
}

/// `[host."…"]` tables, in file order (containerd tries them in that order).
struct Hosts(Vec<(String, Spanned<HostTable>)>);

impl<'de> Deserialize<'de> for Hosts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hosts, D::Error> {
        d.deserialize_map(Ordered(std::marker::PhantomData))
            .map(Hosts)
    }
}

struct Ordered<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for Ordered<T> {
    type Value = Vec<(String, T)>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a table")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, T>()? {
            out.push((key, value));
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostsFile {
    server: Option<Spanned<String>>,
    host: Option<Hosts>,
    // The top-level settings for `server` (the same keys as a host table).
    capabilities: Option<Spanned<Vec<String>>>,
    ca: Option<Spanned<OneOrMany>>,
    client: Option<Spanned<toml::Value>>,
    #[serde(default)]
    skip_verify: bool,
    header: Option<Spanned<Headers>>,
    #[serde(default)]
    override_path: bool,
    dial_timeout: Option<toml::Value>,
}

impl HostsFile {
    fn top(&mut self) -> HostTable {
        HostTable {
            capabilities: self.capabilities.take(),
            ca: self.ca.take(),
            client: self.client.take(),
            skip_verify: self.skip_verify,
            header: self.header.take(),
            override_path: self.override_path,
            dial_timeout: self.dial_timeout.take(),
        }
    }
}

/// The name containerd gives the directory of `host[:port]`.
const DEFAULT_DIR: &str = "_default";

impl MirrorConfig {
    /// Reads a containerd hosts directory: each `<dir>/<host>/hosts.toml` becomes the
    /// mirror set of `<host>`, `<dir>/_default/hosts.toml` the default set. Directories
    /// without a `hosts.toml` are skipped; a missing `dir` is [`MirrorError::Read`].
    pub fn from_hosts_dir(dir: impl AsRef<Path>) -> Result<MirrorConfig, MirrorError> {
        let dir = dir.as_ref();
        let read_error = |path: &Path, source| MirrorError::Read {
            path: path.to_owned(),
            source,
        };
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| read_error(dir, e))?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        names.sort();
        let mut config = MirrorConfig::new();
        for name in names {
            let host_dir = dir.join(&name);
            let file = host_dir.join("hosts.toml");
            if !file.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&file).map_err(|e| read_error(&file, e))?;
            let set = MirrorConfig::parse_hosts_toml(&text, &name, &file)?;
            config = if name == DEFAULT_DIR {
                config.default_set(set)
            } else {
                config.add(&name, set)
            };
        }
        Ok(config)
    }

    /// Parses the text of `<dir>/<host>/hosts.toml` for `host` (`_default` for the default
    /// set); `path` names the file in errors and relative `ca` paths are read from its
    /// directory.
    pub fn parse_hosts_toml(text: &str, host: &str, path: &Path) -> Result<MirrorSet, MirrorError> {
        let origin = |offset: usize| Origin {
            path: path.to_owned(),
            line: Some(line_of(text, offset)),
        };
        let mut file: HostsFile = toml::from_str(text).map_err(|e| MirrorError::Syntax {
            origin: Some(Origin {
                path: path.to_owned(),
                line: e.span().map(|s| line_of(text, s.start)),
            }),
            message: e.message().trim().to_owned(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut set = MirrorSet::new();
        for (url, table) in file.host.take().map(|h| h.0).unwrap_or_default() {
            let at = origin(table.span().start);
            let endpoint = endpoint(&url, table.into_inner(), base, &origin, at.clone())?;
            set = set.mirror(endpoint.namespace_query(true));
        }
        if let Some(server) = file.server.take() {
            let at = origin(server.span().start);
            let endpoint = endpoint(server.get_ref(), file.top(), base, &origin, at)?;
            set = set.upstream(endpoint);
        } else if host != DEFAULT_DIR {
            // The top-level settings apply to the registry itself.
            let top = file.top();
            let plain = top.capabilities.is_none()
                && top.ca.is_none()
                && top.client.is_none()
                && !top.skip_verify
                && top.header.is_none()
                && !top.override_path;
            if !plain {
                let at = origin(0);
                let endpoint = endpoint(&format!("https://{host}"), top, base, &origin, at)?;
                set = set.upstream(endpoint);
            }
        }
        Ok(set)
    }
}

/// One endpoint from a host table (or the top level, for `server`).
fn endpoint(
    url: &str,
    table: HostTable,
    base: &Path,
    origin: &dyn Fn(usize) -> Origin,
    at: Origin,
) -> Result<Endpoint, MirrorError> {
    let invalid = |key: &str, value: &str, reason: &str, at: Origin| MirrorError::InvalidValue {
        origin: Some(at),
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let mut endpoint =
        Endpoint::parse(url, table.override_path).map_err(|e| e.at_origin(at.clone()))?;
    if let Some(caps) = &table.capabilities {
        let (mut pull, mut resolve) = (false, false);
        for c in caps.get_ref() {
            match c.as_str() {
                "pull" => pull = true,
                "resolve" => resolve = true,
                // Pushing is not something a pull client does.
                "push" => {}
                other => {
                    return Err(invalid(
                        "capabilities",
                        other,
                        "expected \"pull\", \"resolve\" or \"push\"",
                        origin(caps.span().start),
                    ));
                }
            }
        }
        endpoint = endpoint.capabilities(Capabilities::new(pull, resolve));
    }
    if let Some(ca) = table.ca {
        let ca_at = origin(ca.span().start);
        for file in ca.into_inner().into_vec() {
            let path = base.join(&file);
            let pem = std::fs::read(&path).map_err(|e| {
                invalid(
                    "ca",
                    &file,
                    &format!("cannot read {}: {e}", path.display()),
                    ca_at.clone(),
                )
            })?;
            endpoint = endpoint.ca_certificate_pem(pem);
        }
    }
    if let Some(client) = &table.client {
        return Err(invalid(
            "client",
            client.get_ref().type_str(),
            "TLS client certificates are not supported",
            origin(client.span().start),
        ));
    }
    endpoint = endpoint.skip_verify(table.skip_verify);
    if let Some(headers) = table.header {
        let h_at = origin(headers.span().start);
        for (name, values) in headers.into_inner().0 {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid("header", &name, "not a valid header name", h_at.clone()))?;
            for value in values.into_vec() {
                let value = HeaderValue::from_str(&value).map_err(|_| {
                    invalid(
                        &format!("header.{name}"),
                        &value,
                        "not valid header text",
                        h_at.clone(),
                    )
                })?;
                endpoint = endpoint.header(header.clone(), value);
            }
        }
    }
    Ok(endpoint)
}
