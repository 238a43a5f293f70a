//! Mirror flags and the [`Registries`] handle `ocipull pull` pulls through.
//!
//! Mirrors come from containers-registries.conf(5) version 2, found where skopeo and
//! podman look (`$CONTAINERS_REGISTRIES_CONF` when set, alone; else
//! `$XDG_CONFIG_HOME/containers/registries.conf` or
//! `~/.config/containers/registries.conf`, then `/etc/containers/registries.conf`: the
//! first that exists; none existing means no mirrors), or from `--registries-conf`; from a containerd hosts directory
//! (`--hosts-dir`, whose sets win over registries.conf's for the same registry); and from
//! `--mirror`, tried first. `--no-mirrors` turns them all off. The drop-in directories
//! (`registries.conf.d`) are not read.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use ocipull_client::mirror::{Endpoint, MirrorConfig};
use ocipull_client::{CredentialChain, HelperSettings, Registries, RegistrySettings, Scheme};
use ocipull_spec::Reference;

use crate::connect::{ConnectArgs, Failure, fail, flag_credentials, one_line, proxy_setting};

/// Flags choosing mirrors.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MirrorArgs {
    /// Read mirrors from this containers-registries.conf(5) (version 2) file instead of
    /// the standard places.
    #[arg(long, value_name = "PATH", conflicts_with = "no_mirrors")]
    pub registries_conf: Option<PathBuf>,
    /// Read mirrors from this containerd hosts directory (`DIR/<registry>/hosts.toml`,
    /// `DIR/_default/hosts.toml`).
    #[arg(long, value_name = "DIR", conflicts_with = "no_mirrors")]
    pub hosts_dir: Option<PathBuf>,
    /// A mirror of the reference's registry, tried before those of the files
    /// (`https://host`, `http://host:port` or `host[:port]`); repeat for more, tried in
    /// order.
    #[arg(long, value_name = "URL", conflicts_with = "no_mirrors")]
    pub mirror: Vec<String>,
    /// Use no mirrors, not even those of the standard registries.conf files.
    #[arg(long)]
    pub no_mirrors: bool,
}

/// The standard places of registries.conf, in the order they are tried.
fn standard_registries_confs() -> Vec<PathBuf> {
    standard_places(
        std::env::var_os("CONTAINERS_REGISTRIES_CONF"),
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// [`standard_registries_confs`] from the variables' values.
fn standard_places(
    variable: Option<OsString>,
    config_home: Option<OsString>,
    home: Option<OsString>,
) -> Vec<PathBuf> {
    // containers/image: the variable, when set, is the only place looked at.
    if let Some(path) = variable {
        return vec![PathBuf::from(path)];
    }
    let mut places = Vec::new();
    let config_home = config_home
        .map(PathBuf::from)
        .or_else(|| home.map(|h| Path::new(&h).join(".config")));
    if let Some(dir) = config_home {
        places.push(dir.join("containers/registries.conf"));
    }
    places.push(PathBuf::from("/etc/containers/registries.conf"));
    places
}

/// The mirror configuration the flags ask for, for `references`.
pub fn mirror_config(args: &MirrorArgs, references: &[Reference]) -> Result<MirrorConfig, Failure> {
    if args.no_mirrors {
        return Ok(MirrorConfig::new());
    }
    let mut config = match &args.registries_conf {
        Some(path) => MirrorConfig::from_registries_conf(path).map_err(fail)?,
        None => match standard_registries_confs()
            .into_iter()
            .find(|p| p.is_file())
        {
            Some(path) => MirrorConfig::from_registries_conf(&path).map_err(fail)?,
            None => MirrorConfig::new(),
        },
    };
    if let Some(dir) = &args.hosts_dir {
        config = config.merge(MirrorConfig::from_hosts_dir(dir).map_err(fail)?);
    }
    let mut registries: Vec<&str> = references.iter().map(Reference::registry).collect();
    registries.dedup();
    for url in args.mirror.iter().rev() {
        let endpoint =
            Endpoint::parse(url, false).map_err(|e| format!("--mirror: {}", one_line(&e)))?;
        for registry in &registries {
            config = config.prepend_mirror(registry, endpoint.clone());
        }
    }
    Ok(config)
}

/// The handle for `references`: their registries get the connection flags (scheme, CA,
/// credentials); mirrors get only the CA and their own settings.
pub fn registries_for(
    connect: &ConnectArgs,
    mirrors: &MirrorArgs,
    references: &[Reference],
) -> Result<Registries, Failure> {
    let config = mirror_config(mirrors, references)?;
    let ca = match &connect.ca_cert {
        Some(path) => Some(std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?),
        None => None,
    };
    // The flags first; else podman's lookup order, asked for each endpoint's own host when
    // it asks (a mirror is never given the registry's credentials).
    let mut builder = Registries::builder()
        .mirrors(config)
        .credential_source(CredentialChain::from_environment(HelperSettings::default()));
    if let Some(proxy) = proxy_setting(connect) {
        builder = builder.proxy(proxy);
    }
    // With --username the password is read from standard input once, for every registry.
    let from_flags = flag_credentials(connect)?;
    let mut done: Vec<String> = Vec::new();
    for reference in references {
        let host = reference.api_host().to_ascii_lowercase();
        if done.contains(&host) {
            continue;
        }
        done.push(host.clone());
        let creds = from_flags.clone();
        let mut settings = RegistrySettings::new().credentials(creds);
        if connect.insecure_http {
            settings = settings.scheme(Scheme::Http);
        }
        if let Some(pem) = &ca {
            settings = settings.ca_certificate_pem(pem.clone());
        }
        builder = builder.host(&host, settings);
    }
    if let Some(pem) = &ca {
        for url in &mirrors.mirror {
            if let Ok(endpoint) = Endpoint::parse(url, false) {
                let host = endpoint.host().to_ascii_lowercase();
                if !done.contains(&host) {
                    builder = builder.host(
                        &host,
                        RegistrySettings::new().ca_certificate_pem(pem.clone()),
                    );
                }
            }
        }
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_places_like_containers_image() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            standard_places(os("/custom.conf"), os("/xdg"), os("/home/u")),
            [PathBuf::from("/custom.conf")]
        );
        assert_eq!(
            standard_places(None, os("/xdg"), os("/home/u")),
            [
                PathBuf::from("/xdg/containers/registries.conf"),
                PathBuf::from("/etc/containers/registries.conf")
            ]
        );
        assert_eq!(
            standard_places(None, None, os("/home/u")),
            [
                PathBuf::from("/home/u/.config/containers/registries.conf"),
                PathBuf::from("/etc/containers/registries.conf")
            ]
        );
    }

    #[test]
    fn mirror_flags_come_first_and_no_mirrors_means_none() {
        let reference: Reference = "registry.example/team/app:v1".parse().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let conf = tmp.path().join("registries.conf");
        std::fs::write(
            &conf,
            "[[registry]]\nprefix = \"registry.example\"\n[[registry.mirror]]\nlocation = \"file.example\"\n",
        )
        .unwrap();
        let args = MirrorArgs {
            registries_conf: Some(conf.clone()),
            mirror: vec![
                "https://one.example".into(),
                "http://two.example:5000".into(),
            ],
            ..MirrorArgs::default()
        };
        let config = mirror_config(&args, std::slice::from_ref(&reference)).unwrap();
        let hosts: Vec<&str> = config
            .set_for(&reference)
            .unwrap()
            .mirrors()
            .iter()
            .map(|e| e.host())
            .collect();
        assert_eq!(hosts, ["one.example", "two.example:5000", "file.example"]);
        let none = MirrorArgs {
            no_mirrors: true,
            ..MirrorArgs::default()
        };
        assert!(
            mirror_config(&none, std::slice::from_ref(&reference))
                .unwrap()
                .is_empty()
        );
        let bad = MirrorArgs {
            mirror: vec!["ftp://x.example".into()],
            no_mirrors: false,
            registries_conf: Some(conf),
            hosts_dir: None,
        };
        let err = mirror_config(&bad, &[reference]).unwrap_err().to_string();
        assert!(
            err.starts_with("--mirror: ") && err.contains("ftp://x.example"),
            "{err}"
        );
    }
}
