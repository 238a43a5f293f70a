//! Loader and matching tests: good files, and bad ones naming the file, line, key and value.

use std::path::Path;

use ocipull_spec::Reference;

use super::*;

fn reference(text: &str) -> Reference {
    text.parse().unwrap()
}

fn conf(text: &str) -> Result<MirrorConfig, MirrorError> {
    MirrorConfig::parse_registries_conf(text, Path::new("/etc/containers/registries.conf"))
}

fn hosts(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

/// (host, repository) of each mirror, then of the upstream.
fn routes(config: &MirrorConfig, text: &str) -> (Vec<String>, Option<String>) {
    let resolved = config.resolve(&reference(text)).unwrap();
    let name = |r: &Route| format!("{}/{}", r.endpoint.host(), r.repository);
    (
        resolved.mirrors.iter().map(name).collect(),
        resolved.upstream.as_ref().map(name),
    )
}

const GOOD: &str = r#"
unqualified-search-registries = ["docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "example.com/foo"
location = "internal.example/bar"

[[registry.mirror]]
location = "mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "mirror-1.local:5000"
insecure = true
pull-from-mirror = "digest-only"

[[registry]]
prefix = "example.com"
mirror-by-digest-only = true
[[registry.mirror]]
location = "digests.local"

[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "tags.local"
pull-from-mirror = "tag-only"

[[registry]]
prefix = "*.blocked.example"
blocked = true

[[registry]]
prefix = "quay.io"
location = "plain.local:5000"
insecure = true
"#;

#[test]
fn registries_conf_longest_prefix_rewrites_locations() {
    let config = conf(GOOD).unwrap();
    let (mirrors, upstream) = routes(&config, "example.com/foo/app:v1");
    assert_eq!(
        hosts(&mirrors),
        [
            "mirror-0.local/mirror-for-foo/app",
            "mirror-1.local:5000/app"
        ]
    );
    assert_eq!(upstream.as_deref(), Some("internal.example/bar/app"));
    // `example.com/foobar` is not under `example.com/foo`: the shorter prefix applies.
    let (mirrors, upstream) = routes(&config, "example.com/foobar:v1");
    assert_eq!(hosts(&mirrors), ["digests.local/foobar"]);
    assert_eq!(upstream, None);
    // Nothing matches: no mirrors.
    assert_eq!(routes(&config, "ghcr.io/a/b:v1"), (vec![], None));
}

#[test]
fn registries_conf_capabilities_and_schemes() {
    let config = conf(GOOD).unwrap();
    let resolved = config
        .resolve(&reference("example.com/foo/app:v1"))
        .unwrap();
    assert_eq!(resolved.mirrors[0].endpoint.capability(), Capabilities::ALL);
    assert_eq!(resolved.mirrors[0].endpoint.scheme_setting(), Scheme::Auto);
    assert_eq!(
        resolved.mirrors[1].endpoint.capability(),
        Capabilities::PULL
    );
    assert_eq!(resolved.mirrors[1].endpoint.scheme_setting(), Scheme::Http);
    let resolved = config.resolve(&reference("example.com/x:v1")).unwrap();
    assert_eq!(
        resolved.mirrors[0].endpoint.capability(),
        Capabilities::PULL
    );
    // insecure on the registry itself: plain HTTP to its location.
    let resolved = config.resolve(&reference("quay.io/a/b:v1")).unwrap();
    let upstream = resolved.upstream.unwrap();
    assert_eq!(upstream.endpoint.host(), "plain.local:5000");
    assert_eq!(upstream.endpoint.scheme_setting(), Scheme::Http);
}

#[test]
fn registries_conf_tag_only_mirror_is_left_out_for_digests() {
    let config = conf(GOOD).unwrap();
    let digest = ocipull_spec::Digest::sha256(b"x");
    let (by_tag, _) = routes(&config, "docker.io/library/alpine:3");
    assert_eq!(hosts(&by_tag), ["tags.local/library/alpine"]);
    let (by_digest, _) = routes(&config, &format!("docker.io/library/alpine@{digest}"));
    assert!(by_digest.is_empty());
}

#[test]
fn registries_conf_blocked_names_the_table() {
    let config = conf(GOOD).unwrap();
    let err = config
        .resolve(&reference("registry.blocked.example/a:v1"))
        .unwrap_err();
    match &err {
        MirrorError::Blocked { reference, origin } => {
            assert_eq!(reference.registry(), "registry.blocked.example");
            let origin = origin.as_ref().unwrap();
            assert_eq!(origin.line, Some(29), "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("registries.conf:29"), "{err}");
    // The wildcard needs a subdomain.
    assert!(config.resolve(&reference("blocked.example/a:v1")).is_ok());
}

/// The error's key, value and line.
fn invalid(err: MirrorError) -> (String, String, Option<usize>) {
    match err {
        MirrorError::InvalidValue {
            key, value, origin, ..
        } => (key, value, origin.and_then(|o| o.line)),
        MirrorError::InvalidEndpoint { value, origin, .. } => {
            ("endpoint".into(), value, origin.and_then(|o| o.line))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn registries_conf_bad_values_name_key_value_and_line() {
    let cases: &[(&str, (&str, &str, usize))] = &[
        (
            "[[registry]]\nprefix = \"a.example\"\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"sometimes\"\n",
            ("registry.mirror.pull-from-mirror", "sometimes", 5),
        ),
        (
            "[[registry]]\nprefix = \"*.example.com\"\nlocation = \"x.example\"\n",
            ("registry.location", "x.example", 3),
        ),
        (
            "[[registry]]\nprefix = \"a.example\"\n\n[[registry.mirror]]\nlocation = \"https://m.example\"\n",
            ("registry.mirror.location", "https://m.example", 5),
        ),
        (
            "[[registry]]\nprefix = \"a.example\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"tag-only\"\n",
            ("registry.mirror.pull-from-mirror", "tag-only", 6),
        ),
        (
            "[[registry]]\ninsecure = true\n",
            ("registry.location", "", 1),
        ),
        (
            "[[registry]]\nprefix = \"a.example\"\n[[registry]]\nprefix = \"a.example\"\n",
            ("registry.prefix", "a.example", 4),
        ),
        (
            "[registries.search]\nregistries = [\"docker.io\"]\n",
            ("registries", "[registries.*]", 1),
        ),
    ];
    for (text, (key, value, line)) in cases {
        let err = conf(text).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("registries.conf:"), "{shown}");
        assert_eq!(
            invalid(err),
            ((*key).into(), (*value).into(), Some(*line)),
            "{text}"
        );
    }
}

#[test]
fn registries_conf_syntax_and_type_errors_have_lines() {
    for (text, line, needle) in [
        ("[[registry]\nprefix = 1\n", 1, ""),
        (
            "[[registry]]\nprefix = \"a.example\"\ninsecure = \"yes\"\n",
            3,
            "",
        ),
        (
            "[[registry]]\nprefix = \"a.example\"\nmirrors = []\n",
            3,
            "mirrors",
        ),
    ] {
        match conf(text).unwrap_err() {
            MirrorError::Syntax { origin, message } => {
                assert_eq!(origin.unwrap().line, Some(line), "{text}: {message}");
                assert!(message.contains(needle), "{message}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn registries_conf_empty_and_search_only_files_have_no_mirrors() {
    assert!(conf("").unwrap().is_empty());
    assert!(
        conf("unqualified-search-registries = [\"docker.io\"]\n")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn prefix_matching_prefers_the_longest_and_full_names_over_wildcards() {
    let set = |host: &str| MirrorSet::new().mirror(Endpoint::new(host));
    let config = MirrorConfig::new()
        .add("*.example.com", set("wild.local"))
        .add("a.example.com", set("exact.local"))
        .add("a.example.com/team", set("team.local"))
        .default_set(set("default.local"));
    let first = |r: &str| routes(&config, r).0[0].clone();
    assert_eq!(first("a.example.com/team/app:v1"), "team.local/team/app");
    assert_eq!(first("a.example.com/teams:v1"), "exact.local/teams");
    assert_eq!(first("b.example.com/x:v1"), "wild.local/x");
    assert_eq!(first("ghcr.io/x/y:v1"), "default.local/x/y");
}

#[test]
fn endpoint_urls() {
    let e = Endpoint::parse("http://10.0.0.1:5000", false).unwrap();
    assert_eq!(
        (e.host(), e.scheme_setting()),
        ("10.0.0.1:5000", Scheme::Http)
    );
    let e = Endpoint::parse("https://mirror.example/v2/", false).unwrap();
    assert_eq!(
        (e.host(), e.scheme_setting(), e.api_root_path()),
        ("mirror.example", Scheme::Https, None)
    );
    let e = Endpoint::parse("https://mirror.example/proxy/v2", true).unwrap();
    assert_eq!(e.api_root_path(), Some("/proxy/v2"));
    for bad in [
        "ftp://x.example",
        "https://",
        "https://x.example/other",
        "https://x.example/v2?a=b",
        "https://bad host",
    ] {
        assert!(
            matches!(Endpoint::parse(bad, false), Err(MirrorError::InvalidEndpoint { ref value, .. }) if value == bad),
            "{bad}"
        );
    }
}

fn hosts_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

const CA: &str = "-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n";

#[test]
fn hosts_dir_mirrors_in_file_order_with_their_settings() {
    let dir = hosts_dir(&[
        (
            "docker.io/hosts.toml",
            r#"
server = "https://registry-1.docker.io"

[host."https://zeta.mirror"]
  capabilities = ["pull"]
  ca = "zeta.pem"
  [host."https://zeta.mirror".header]
    x-mirror-token = "abc"
    x-many = ["1", "2"]

[host."http://alpha.mirror:5000"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
  dial_timeout = "3s"

[host."https://prefixed.mirror/v2/proxy/docker.io"]
  override_path = true
"#,
        ),
        ("docker.io/zeta.pem", CA),
        ("_default/hosts.toml", "[host.\"https://default.mirror\"]\n"),
        ("empty-dir/README", "no hosts.toml here"),
    ]);
    let config = MirrorConfig::from_hosts_dir(dir.path()).unwrap();
    let resolved = config
        .resolve(&reference("docker.io/library/alpine:3"))
        .unwrap();
    let mirrors: Vec<&Endpoint> = resolved.mirrors.iter().map(|r| &r.endpoint).collect();
    assert_eq!(
        mirrors.iter().map(|e| e.host()).collect::<Vec<_>>(),
        ["zeta.mirror", "alpha.mirror:5000", "prefixed.mirror"]
    );
    assert_eq!(mirrors[0].capability(), Capabilities::PULL);
    assert_eq!(mirrors[0].ca_certificates(), [CA.as_bytes().to_vec()]);
    let headers: Vec<(&str, &str)> = mirrors[0]
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(
        headers,
        [("x-mirror-token", "abc"), ("x-many", "1"), ("x-many", "2")]
    );
    assert_eq!(mirrors[1].scheme_setting(), Scheme::Http);
    assert!(mirrors[1].skip_verify_requested());
    assert_eq!(mirrors[2].api_root_path(), Some("/v2/proxy/docker.io"));
    assert!(mirrors.iter().all(|e| e.sends_namespace_query()));
    assert_eq!(
        resolved.upstream.unwrap().endpoint.host(),
        "registry-1.docker.io"
    );
    // Another registry gets the default set.
    let other = config.resolve(&reference("ghcr.io/a/b:v1")).unwrap();
    assert_eq!(other.mirrors[0].endpoint.host(), "default.mirror");
    assert!(other.upstream.is_none());
}

#[test]
fn hosts_toml_bad_values_name_key_value_and_line() {
    let path = Path::new("/etc/containerd/certs.d/docker.io/hosts.toml");
    let cases: &[(&str, (&str, &str, usize))] = &[
        (
            "[host.\"https://m.example\"]\ncapabilities = [\"pull\", \"fly\"]\n",
            ("capabilities", "fly", 2),
        ),
        (
            "\n[host.\"https://m.example\"]\nca = \"missing.pem\"\n",
            ("ca", "missing.pem", 3),
        ),
        (
            "[host.\"https://m.example\"]\nclient = \"cert.pem\"\n",
            ("client", "string", 2),
        ),
        (
            "[host.\"https://m.example\"]\n[host.\"https://m.example\".header]\n\"bad header\" = \"x\"\n",
            ("header", "bad header", 2),
        ),
        (
            "\n\n[host.\"https://m.example/elsewhere\"]\n",
            ("endpoint", "https://m.example/elsewhere", 3),
        ),
        (
            "server = \"gopher://old.example\"\n",
            ("endpoint", "gopher://old.example", 1),
        ),
    ];
    for (text, (key, value, line)) in cases {
        let err = MirrorConfig::parse_hosts_toml(text, "docker.io", path).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("hosts.toml:"), "{shown}");
        assert_eq!(
            invalid(err),
            ((*key).into(), (*value).into(), Some(*line)),
            "{text}"
        );
    }
    match MirrorConfig::parse_hosts_toml(
        "[host.\"https://m\"]\nskip_verify = \"no\"\n",
        "docker.io",
        path,
    )
    .unwrap_err()
    {
        MirrorError::Syntax { origin, .. } => assert_eq!(origin.unwrap().line, Some(2)),
        other => panic!("{other:?}"),
    }
    match MirrorConfig::from_hosts_dir("/nonexistent/hosts/dir").unwrap_err() {
        MirrorError::Read { path, .. } => assert_eq!(path, Path::new("/nonexistent/hosts/dir")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn command_line_mirrors_come_first() {
    let config = conf(GOOD)
        .unwrap()
        .prepend_mirror("example.com", Endpoint::new("cli.local"));
    let (mirrors, _) = routes(&config, "example.com/x:v1");
    assert_eq!(hosts(&mirrors), ["cli.local/x", "digests.local/x"]);
}
