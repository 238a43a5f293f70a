//! Mirrors: endpoints tried before a registry itself, and the loaders that read them from
//! configuration files.
//!
//! A registry's [`MirrorSet`] is an ordered list of [`Endpoint`]s, each with its own
//! scheme, TLS trust, extra headers and credentials, and with the
//! [`Capabilities`] containerd's "registry host configuration" (`hosts.toml`) names:
//! `pull` (may serve blobs and manifests by digest) and `resolve` (may also answer tag
//! lookups). The registry itself — the *upstream* — is always tried last.
//!
//! A [`MirrorConfig`] maps references to mirror sets by prefix, longest first, the way
//! containers-registries.conf(5) version 2 matches `[[registry]]` tables. It is built in
//! code or by a loader: [`MirrorConfig::from_registries_conf`] (containers-registries.conf
//! version 2) and [`MirrorConfig::from_hosts_dir`] (containerd's `hosts.toml` directory).
//! The [`Client`](crate::Client) never reads these files: it only sees endpoints.
//!
//! ## registries.conf
//!
//! Per `[[registry]]` table: `prefix` (defaults to `location`; `host`, `host/path` or
//! `*.domain`), `location` (where the registry is reached; it replaces the prefix in the
//! repository name), `insecure`, `blocked` ([`MirrorError::Blocked`] before any request),
//! `mirror-by-digest-only` (mirrors get only `pull`), and `[[registry.mirror]]` tables with
//! `location`, `insecure` and `pull-from-mirror` (`all`, `digest-only`, `tag-only`).
//! This client never skips certificate checks, so `insecure = true` means plain HTTP.
//! `unqualified-search-registries`, `short-name-mode`, `[aliases]` and
//! `credential-helpers` concern short names and credentials, not mirrors: they are
//! accepted and ignored (references here are always fully qualified). Unknown keys in a
//! `[[registry]]` or `[[registry.mirror]]` table are errors; the version 1 format
//! (`[registries.search]`) is refused.
//!
//! ## hosts.toml
//!
//! `<dir>/<host>/hosts.toml` (`_default` for every other registry): `server` is the
//! upstream (default: the registry itself), with the top-level `capabilities`, `ca`,
//! `skip_verify`, `header` and `override_path` applying to it; `[host."<url>"]` tables are
//! the mirrors, tried in file order, each with `capabilities` (`"pull"`, `"resolve"`;
//! default both), `ca` (a path or list of paths, relative ones from the host's
//! directory), `skip_verify` ([`Endpoint::skip_verify`]: the certificate is not checked), `header`
//! (names to a string or list of strings) and `override_path` (the URL's path replaces
//! `/v2`). Requests to those mirrors carry `ns=<registry>`, as containerd sends them.
//! `client` (TLS client certificates) is refused with a typed error; `dial_timeout` is
//! accepted and not used.
//!
//! # Fallback
//!
//! An operation tries the endpoints in order and moves to the next one when an endpoint
//! fails with a connection error (TLS included), a stall, `404`, or a `5xx` — each after
//! that endpoint's own retries — or when what it served does not match its digest. Any
//! other error (`401`, `403`, an invalid manifest from the upstream, …) is returned. Digests
//! are verified whoever served the bytes.
//!
//! # Security
//!
//! Each endpoint has its own credentials: the upstream's are never sent to a mirror unless
//! they are configured for the mirror's host too (see `SECURITY.md`).

mod error;
mod hosts;
mod registries_conf;
pub(crate) mod route;

use std::fmt;

use http::{HeaderName, HeaderValue};
use ocipull_spec::{Reference, Repository};

pub use error::{MirrorError, Origin};

use crate::{Credentials, Scheme};

/// What an endpoint may be asked (containerd "registry host configuration",
/// `capabilities`): `pull` fetches blobs and manifests by digest, `resolve` also turns
/// tags into digests.
///
/// A mirror that is not trusted with tags (registries.conf `mirror-by-digest-only`) has
/// only `pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities {
    pull: bool,
    resolve: bool,
}

impl Default for Capabilities {
    /// `pull` and `resolve`, containerd's default.
    fn default() -> Self {
        Capabilities::ALL
    }
}

impl Capabilities {
    /// `pull` and `resolve`.
    pub const ALL: Capabilities = Capabilities {
        pull: true,
        resolve: true,
    };
    /// `pull` only: blobs and manifests by digest.
    pub const PULL: Capabilities = Capabilities {
        pull: true,
        resolve: false,
    };
    /// Neither (an endpoint listed but never used).
    pub const NONE: Capabilities = Capabilities {
        pull: false,
        resolve: false,
    };

    /// Capabilities from containerd's flags. `resolve` without `pull` is kept as given:
    /// such an endpoint answers tag lookups only.
    pub fn new(pull: bool, resolve: bool) -> Capabilities {
        Capabilities { pull, resolve }
    }

    /// Whether blobs and manifests by digest may come from the endpoint.
    pub fn pull(&self) -> bool {
        self.pull
    }

    /// Whether tags may be looked up at the endpoint.
    pub fn resolve(&self) -> bool {
        self.resolve
    }
}

/// How an endpoint's repositories are named: what a reference's repository becomes there.
///
/// containers-registries.conf(5) rewrites the matched prefix to the mirror's `location`
/// (prefix `example.com/foo` and location `mirror.local/bar` turn
/// `example.com/foo/app` into `mirror.local/bar/app`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rewrite {
    /// Leading path segments of the repository that are replaced (may be empty); `None`:
    /// the repository part of the prefix the reference matched.
    from: Option<String>,
    /// What they are replaced with (may be empty).
    to: String,
}

/// One place a registry's content can be fetched from: a mirror or the registry itself.
///
/// Built with [`Endpoint::new`] and its setters, or by a [`MirrorConfig`] loader.
#[derive(Clone)]
#[non_exhaustive]
pub struct Endpoint {
    host: String,
    scheme: Scheme,
    capabilities: Capabilities,
    ca_certificates: Vec<Vec<u8>>,
    skip_verify: bool,
    headers: Vec<(HeaderName, HeaderValue)>,
    credentials: Option<Credentials>,
    namespace_query: bool,
    api_root: Option<String>,
    rewrite: Option<Rewrite>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("scheme", &self.scheme)
            .field("capabilities", &self.capabilities)
            .field("ca_certificates", &self.ca_certificates.len())
            .field("skip_verify", &self.skip_verify)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("credentials", &self.credentials)
            .field("namespace_query", &self.namespace_query)
            .field("api_root", &self.api_root)
            .finish()
    }
}

impl PartialEq for Endpoint {
    fn eq(&self, other: &Endpoint) -> bool {
        self.host == other.host
            && self.scheme == other.scheme
            && self.capabilities == other.capabilities
            && self.ca_certificates == other.ca_certificates
            && self.skip_verify == other.skip_verify
            && self.headers == other.headers
            && self.credentials == other.credentials
            && self.namespace_query == other.namespace_query
            && self.api_root == other.api_root
            && self.rewrite == other.rewrite
    }
}

impl Endpoint {
    /// An endpoint at `host` (`host[:port]`): HTTPS ([`Scheme::Auto`]), both capabilities,
    /// the default trust, no credentials.
    pub fn new(host: impl Into<String>) -> Endpoint {
        Endpoint {
            host: host.into(),
            scheme: Scheme::Auto,
            capabilities: Capabilities::ALL,
            ca_certificates: Vec::new(),
            skip_verify: false,
            headers: Vec::new(),
            credentials: None,
            namespace_query: false,
            api_root: None,
            rewrite: None,
        }
    }

    /// An endpoint from a URL or a bare `host[:port]`: `http://` gives [`Scheme::Http`],
    /// `https://` [`Scheme::Https`], a bare host [`Scheme::Auto`]. A path other than `/` or
    /// `/v2` is [`MirrorError::InvalidEndpoint`] unless `override_path` (containerd: the
    /// path replaces `/v2`).
    pub fn parse(text: &str, override_path: bool) -> Result<Endpoint, MirrorError> {
        let invalid = |reason: &str| MirrorError::InvalidEndpoint {
            value: text.to_owned(),
            reason: reason.to_owned(),
            origin: None,
        };
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if text.contains("://") {
            return Err(invalid("the scheme must be http or https"));
        } else {
            (Scheme::Auto, text)
        };
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        if !valid_host(host) {
            return Err(invalid("the host must be `host[:port]`"));
        }
        if path.contains(['?', '#']) {
            return Err(invalid("a query or fragment is not allowed"));
        }
        let path = path.trim_end_matches('/');
        let api_root = if override_path {
            Some(path.to_owned())
        } else if path.is_empty() || path == "/v2" {
            None
        } else {
            return Err(invalid("a path other than /v2 needs override_path = true"));
        };
        let mut endpoint = Endpoint::new(host).scheme(scheme);
        endpoint.api_root = api_root;
        Ok(endpoint)
    }

    /// The scheme. Default is [`Scheme::Auto`].
    pub fn scheme(mut self, scheme: Scheme) -> Endpoint {
        self.scheme = scheme;
        self
    }

    /// What the endpoint may be asked. Default is [`Capabilities::ALL`].
    pub fn capabilities(mut self, capabilities: Capabilities) -> Endpoint {
        self.capabilities = capabilities;
        self
    }

    /// Also trusts the CA certificates in `pem` for this endpoint. Default is none.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Endpoint {
        self.ca_certificates.push(pem.into());
        self
    }

    /// containerd's `skip_verify`: this endpoint's TLS certificate is not checked (see
    /// [`TlsConfig::danger_accept_invalid_certificates`](crate::TlsConfig::danger_accept_invalid_certificates)
    /// for what that gives up). Default is no; using such an endpoint logs a warning.
    /// Digests are verified as always, so a blob or manifest pulled by digest is still
    /// exactly the one named. Giving the endpoint's CA with
    /// [`Endpoint::ca_certificate_pem`] is better wherever it can be had.
    ///
    /// Only the default transport honours it: with
    /// [`RegistriesBuilder::transport`](crate::RegistriesBuilder::transport), the given
    /// transport decides.
    pub fn skip_verify(mut self, skip: bool) -> Endpoint {
        self.skip_verify = skip;
        self
    }

    /// Adds a header to every request sent to this endpoint (containerd's `header`).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Endpoint {
        self.headers.push((name, value));
        self
    }

    /// Credentials for this endpoint only. Default is none (anonymous): the upstream's
    /// credentials are never used for another host.
    pub fn credentials(mut self, credentials: impl Into<Option<Credentials>>) -> Endpoint {
        self.credentials = credentials.into();
        self
    }

    /// Whether requests carry containerd's `ns=<registry>` query parameter, for a mirror
    /// shared by several registries that tells them apart by it. Default is no.
    pub fn namespace_query(mut self, on: bool) -> Endpoint {
        self.namespace_query = on;
        self
    }

    /// The API root instead of `/v2` (containerd's `override_path`), e.g.
    /// `/v2/proxy/docker.io`; `None` for `/v2`.
    pub fn api_root(mut self, root: Option<String>) -> Endpoint {
        self.api_root = root.map(|r| r.trim_end_matches('/').to_owned());
        self
    }

    /// Repositories starting with the path segments `from` are named with `to` instead at
    /// this endpoint (registries.conf: the `prefix` is replaced by the `location`).
    pub fn rewrite_repository(
        mut self,
        from: impl Into<String>,
        to: impl Into<String>,
    ) -> Endpoint {
        self.rewrite = Some(Rewrite {
            from: Some(from.into()),
            to: to.into(),
        });
        self
    }

    /// The matched prefix's repository part is named `to` at this endpoint (what a
    /// registries.conf `location` with a path does).
    pub(crate) fn rewrite_matched_prefix(mut self, to: impl Into<String>) -> Endpoint {
        self.rewrite = Some(Rewrite {
            from: None,
            to: to.into(),
        });
        self
    }

    /// The `host[:port]`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The scheme set.
    pub fn scheme_setting(&self) -> Scheme {
        self.scheme
    }

    /// What the endpoint may be asked.
    pub fn capability(&self) -> Capabilities {
        self.capabilities
    }

    /// Whether `skip_verify` was asked for ([`Endpoint::skip_verify`]).
    pub fn skip_verify_requested(&self) -> bool {
        self.skip_verify
    }

    /// The CA bundles trusted for this endpoint, in PEM.
    pub fn ca_certificates(&self) -> &[Vec<u8>] {
        &self.ca_certificates
    }

    /// The extra request headers.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// The endpoint's own credentials.
    pub fn endpoint_credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Whether the `ns` query is sent.
    pub fn sends_namespace_query(&self) -> bool {
        self.namespace_query
    }

    /// The API root, when not `/v2`.
    pub fn api_root_path(&self) -> Option<&str> {
        self.api_root.as_deref()
    }

    /// The name `repository` has at this endpoint.
    pub fn repository_for(&self, repository: &Repository) -> Result<Repository, MirrorError> {
        let Some(Rewrite { from, to }) = &self.rewrite else {
            return Ok(repository.clone());
        };
        let from = from.as_deref().unwrap_or("");
        let name = repository.as_str();
        let rest = if from.is_empty() {
            Some(name)
        } else if name == from {
            Some("")
        } else {
            name.strip_prefix(from).and_then(|r| r.strip_prefix('/'))
        };
        let joined = match rest {
            None => return Ok(repository.clone()),
            Some("") => to.clone(),
            Some(r) if to.is_empty() => r.to_owned(),
            Some(r) => format!("{to}/{r}"),
        };
        joined
            .parse::<Repository>()
            .map_err(|e| MirrorError::InvalidEndpoint {
                value: joined.clone(),
                reason: format!("the rewritten repository is not valid: {e}"),
                origin: None,
            })
    }
}

/// Whether `host` is `host[:port]` or a bracketed IPv6 address with an optional port.
fn valid_host(host: &str) -> bool {
    let probe = format!("{host}/probe");
    probe
        .parse::<Reference>()
        .is_ok_and(|r| r.registry().eq_ignore_ascii_case(host))
}

/// The endpoints of one registry: mirrors in order, then the upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorSet {
    mirrors: Vec<Endpoint>,
    upstream: Option<Endpoint>,
    /// Mirrors used only for references by tag (registries.conf `pull-from-mirror =
    /// "tag-only"`), by index into `mirrors`.
    tag_only: Vec<bool>,
    blocked: bool,
    origin: Option<Origin>,
}

impl Default for MirrorSet {
    fn default() -> Self {
        MirrorSet::new()
    }
}

impl MirrorSet {
    /// No mirrors; the upstream is the reference's registry.
    pub fn new() -> MirrorSet {
        MirrorSet {
            mirrors: Vec::new(),
            upstream: None,
            tag_only: Vec::new(),
            blocked: false,
            origin: None,
        }
    }

    /// Adds a mirror, tried after those added before it.
    pub fn mirror(mut self, endpoint: Endpoint) -> MirrorSet {
        self.mirrors.push(endpoint);
        self.tag_only.push(false);
        self
    }

    /// Adds a mirror used only when the reference names a tag (registries.conf
    /// `pull-from-mirror = "tag-only"`).
    pub fn tag_only_mirror(mut self, endpoint: Endpoint) -> MirrorSet {
        self.mirrors.push(endpoint);
        self.tag_only.push(true);
        self
    }

    /// The upstream: where the registry itself is reached. Default (`None`) is the
    /// reference's registry ([`Reference::api_host`]) with the registry's settings.
    pub fn upstream(mut self, endpoint: impl Into<Option<Endpoint>>) -> MirrorSet {
        self.upstream = endpoint.into();
        self
    }

    /// Refuses every reference the set applies to (registries.conf `blocked = true`):
    /// [`MirrorError::Blocked`] before any request.
    pub fn blocked(mut self, blocked: bool) -> MirrorSet {
        self.blocked = blocked;
        self
    }

    /// The mirrors, in order.
    pub fn mirrors(&self) -> &[Endpoint] {
        &self.mirrors
    }

    /// The upstream, when set.
    pub fn upstream_endpoint(&self) -> Option<&Endpoint> {
        self.upstream.as_ref()
    }

    /// Whether the set refuses its references.
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// The mirrors to use for `reference`: a tag-only mirror is left out for a reference by
    /// digest only.
    pub(crate) fn mirrors_for(&self, reference: &Reference) -> Vec<Endpoint> {
        let by_tag = reference.digest().is_none() || reference.tag().is_some();
        self.mirrors
            .iter()
            .zip(&self.tag_only)
            .filter(|(_, tag_only)| by_tag || !**tag_only)
            .map(|(e, _)| e.clone())
            .collect()
    }

    fn with_origin(mut self, origin: Origin) -> MirrorSet {
        self.origin = Some(origin);
        self
    }
}

/// Which references a [`MirrorSet`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Prefix {
    /// `host[/path]`: the reference's `registry/repository` starts with it, at a `/`.
    Name(String),
    /// `*.example.com`: the registry is a subdomain of `example.com`.
    Wildcard(String),
}

impl Prefix {
    fn parse(text: &str) -> Prefix {
        match text.strip_prefix("*.") {
            Some(domain) => Prefix::Wildcard(domain.to_ascii_lowercase()),
            None => Prefix::Name(text.to_owned()),
        }
    }

    /// How specific a match is (longer wins), or `None` when it does not match.
    fn matches(&self, reference: &Reference) -> Option<usize> {
        let registry = reference.registry().to_ascii_lowercase();
        match self {
            Prefix::Wildcard(domain) => {
                let sub = registry.strip_suffix(domain.as_str())?;
                (sub.ends_with('.') && sub.len() > 1).then_some(domain.len() + 2)
            }
            Prefix::Name(name) => {
                let (host, path) = match name.split_once('/') {
                    Some((h, p)) => (h, Some(p)),
                    None => (name.as_str(), None),
                };
                if !host.eq_ignore_ascii_case(&registry) {
                    return None;
                }
                match path {
                    None => Some(name.len()),
                    Some(path) => {
                        let repo = reference.repository().as_str();
                        let rest = repo.strip_prefix(path)?;
                        (rest.is_empty() || rest.starts_with('/')).then_some(name.len())
                    }
                }
            }
        }
    }

    /// The repository part of the prefix (what a mirror's location replaces).
    fn repository_part(&self) -> &str {
        match self {
            Prefix::Name(name) => name.split_once('/').map_or("", |(_, p)| p),
            Prefix::Wildcard(_) => "",
        }
    }
}

/// Mirror sets by reference prefix: what [`Registries`](crate::Registries) consults for
/// every reference.
///
/// Matching follows containers-registries.conf(5) version 2: the longest matching prefix
/// wins; a prefix is `host`, `host/path` (matching at a `/`), or `*.domain` (any
/// subdomain of `domain`, less specific than a full name of the same length). A default set
/// applies when nothing matches (containerd's `_default` directory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MirrorConfig {
    rules: Vec<(Prefix, MirrorSet)>,
    default: Option<MirrorSet>,
}

/// An endpoint chosen for a reference, with the repository named there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Route {
    pub(crate) endpoint: Endpoint,
    pub(crate) repository: Repository,
}

/// The endpoints for one reference, as [`MirrorConfig::resolve`] finds them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) mirrors: Vec<Route>,
    /// `None`: the reference's registry with the registry's own settings.
    pub(crate) upstream: Option<Route>,
}

impl MirrorConfig {
    /// No mirrors at all.
    pub fn new() -> MirrorConfig {
        MirrorConfig::default()
    }

    /// Uses `set` for references starting with `prefix` (`host`, `host/path` or
    /// `*.domain`). A later call for the same prefix replaces the earlier set.
    pub fn add(mut self, prefix: &str, set: MirrorSet) -> MirrorConfig {
        let prefix = Prefix::parse(prefix);
        self.rules.retain(|(p, _)| *p != prefix);
        self.rules.push((prefix, set));
        self
    }

    /// Uses `set` for references no prefix matches.
    pub fn default_set(mut self, set: MirrorSet) -> MirrorConfig {
        self.default = Some(set);
        self
    }

    /// Adds `mirror` first in the set of `registry` (creating the set), as a command-line
    /// `--mirror` does.
    pub fn prepend_mirror(mut self, registry: &str, mirror: Endpoint) -> MirrorConfig {
        let prefix = Prefix::parse(registry);
        let position = self.rules.iter().position(|(p, _)| *p == prefix);
        let set = match position {
            Some(i) => &mut self.rules[i].1,
            None => {
                self.rules.push((prefix, MirrorSet::new()));
                let last = self.rules.len() - 1;
                &mut self.rules[last].1
            }
        };
        set.mirrors.insert(0, mirror);
        set.tag_only.insert(0, false);
        self
    }

    /// This configuration with `other`'s sets added; where both have a set for the same
    /// prefix (or a default set), `other`'s wins.
    pub fn merge(mut self, other: MirrorConfig) -> MirrorConfig {
        for (prefix, set) in other.rules {
            self.rules.retain(|(p, _)| *p != prefix);
            self.rules.push((prefix, set));
        }
        if other.default.is_some() {
            self.default = other.default;
        }
        self
    }

    /// Whether the configuration has no rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.default.is_none()
    }

    /// The set that applies to `reference`, if any.
    pub fn set_for(&self, reference: &Reference) -> Option<&MirrorSet> {
        self.rules
            .iter()
            .filter_map(|(p, s)| p.matches(reference).map(|n| (n, p, s)))
            // Longest first; between equal lengths a full name beats a wildcard.
            .max_by_key(|(n, p, _)| (*n, matches!(p, Prefix::Name(_))))
            .map(|(_, _, s)| s)
            .or(self.default.as_ref())
    }

    /// The endpoints for `reference`; [`MirrorError::Blocked`] when its set is blocked.
    pub(crate) fn resolve(&self, reference: &Reference) -> Result<Resolved, MirrorError> {
        let rule = self
            .rules
            .iter()
            .filter_map(|(p, s)| p.matches(reference).map(|n| (n, p, s)))
            .max_by_key(|(n, p, _)| (*n, matches!(p, Prefix::Name(_))))
            .map(|(_, p, s)| (Some(p), s))
            .or(self.default.as_ref().map(|s| (None, s)));
        let Some((prefix, set)) = rule else {
            return Ok(Resolved {
                mirrors: Vec::new(),
                upstream: None,
            });
        };
        if set.blocked {
            return Err(MirrorError::Blocked {
                reference: Box::new(reference.clone()),
                origin: set.origin.clone(),
            });
        }
        let strip = prefix.map_or("", Prefix::repository_part);
        let route = |endpoint: &Endpoint| -> Result<Route, MirrorError> {
            let mut endpoint = endpoint.clone();
            // A loader's location rewrites relative to the matched prefix.
            if let Some(rewrite) = &mut endpoint.rewrite {
                rewrite.from.get_or_insert_with(|| strip.to_owned());
            }
            let repository = endpoint.repository_for(reference.repository())?;
            Ok(Route {
                endpoint,
                repository,
            })
        };
        Ok(Resolved {
            mirrors: set
                .mirrors_for(reference)
                .iter()
                .map(route)
                .collect::<Result<_, _>>()?,
            upstream: set.upstream.as_ref().map(route).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests;
