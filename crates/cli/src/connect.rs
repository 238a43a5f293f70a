//! What the registry subcommands share: connection flags, building a client for a
//! reference, and one-line error messages.

use std::error::Error as StdError;
use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

use ocipull_client::{Client, CredentialChain, Credentials, HelperSettings, ProxyConfig, Scheme};
use ocipull_spec::Reference;

/// Flags for reaching a registry.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Speak plain HTTP to the registry instead of HTTPS. Without it, HTTPS is spoken,
    /// falling back to plain HTTP only for a registry on a loopback host (`localhost`,
    /// 127.0.0.0/8, ::1) that answers in plain HTTP.
    #[arg(long)]
    pub insecure_http: bool,
    /// Also trust the CA certificate(s) in this PEM file.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// The user name (the password is read from standard input, see --password-stdin).
    #[arg(long, value_name = "U", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the password (or token) from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Reach the registry (and its token service and blob redirects) through the HTTP
    /// proxy at this URL, `http://[user:password@]host:port`, instead of the one
    /// HTTPS_PROXY / HTTP_PROXY / ALL_PROXY name. NO_PROXY still applies; loopback
    /// registries are always reached directly.
    #[arg(long, value_name = "URL", conflicts_with = "no_proxy")]
    pub proxy: Option<ProxyUrl>,
    /// Use no proxy, whatever HTTPS_PROXY, HTTP_PROXY and ALL_PROXY say.
    #[arg(long)]
    pub no_proxy: bool,
}

/// A `--proxy` URL; its `Debug` hides credentials, like the client's errors do.
#[derive(Clone)]
pub struct ProxyUrl(pub String);

impl std::str::FromStr for ProxyUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ProxyUrl(s.to_owned()))
    }
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&ocipull_client::RedactedUrl::new(&self.0), f)
    }
}

/// The error type of the subcommands: a message already on one line.
pub type Failure = Box<dyn StdError + Send + Sync>;

/// `error: cause: cause`, each cause added only when the message does not already say it.
pub fn one_line(error: &(dyn StdError + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = s.source();
    }
    line.replace('\n', " ")
}

/// Turns any error into a [`Failure`] holding its one-line message.
pub fn fail(error: impl StdError + 'static) -> Failure {
    one_line(&error).into()
}

/// Like [`fail`], for an error about `what` (the reference as the user gave it): a 404
/// says what was not found, as `registry/repository@digest` or `…:tag`, and what to do,
/// instead of the registry's own wording.
pub fn fail_for(what: &str, error: ocipull_client::Error) -> Failure {
    if error.status().map(|s| s.as_u16()) == Some(404) {
        let url = error.http().map(|e| e.url.to_string()).unwrap_or_default();
        return format!(
            "{what}: not found (404 from {url}); check the name, tag and digest (`ocipull tags` lists the tags)"
        )
        .into();
    }
    fail(error)
}

/// Writes `value` as one line of JSON to stdout.
pub fn print_json(value: &serde_json::Value) -> crate::CmdResult {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Parses an image reference.
pub fn parse_reference(text: &str) -> Result<Reference, Failure> {
    text.parse::<Reference>().map_err(|e| {
        format!(
            "{}; write it as [registry/]repository[:tag][@digest]",
            one_line(&e)
        )
        .into()
    })
}

/// The credentials given on the command line: `--username` with the password read from
/// standard input.
pub fn flag_credentials(args: &ConnectArgs) -> Result<Option<Credentials>, Failure> {
    let Some(username) = &args.username else {
        return Ok(None);
    };
    if std::io::stdin().is_terminal() {
        eprintln!("Password for {username} (then Enter, then Ctrl-D):");
    }
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    let password = password.trim_end_matches(['\r', '\n']);
    Ok(Some(Credentials::basic(username.clone(), password)))
}

/// The proxy the flags ask for: `--proxy URL` (`NO_PROXY` still applies), `--no-proxy`, or
/// `None` for the default (the `*_PROXY` variables).
pub fn proxy_setting(args: &ConnectArgs) -> Option<ProxyConfig> {
    if let Some(url) = &args.proxy {
        let mut proxy = ProxyConfig::url(url.0.clone());
        if let Ok(list) = std::env::var("NO_PROXY").or_else(|_| std::env::var("no_proxy")) {
            proxy = proxy.no_proxy(list);
        }
        Some(proxy)
    } else if args.no_proxy {
        Some(ProxyConfig::none())
    } else {
        None
    }
}

/// A client for the reference's registry and repository, reporting retries on stderr when
/// `report_retries` (the pull command reports them through its own events instead).
pub fn client_for(
    args: &ConnectArgs,
    reference: &Reference,
    report_retries: bool,
) -> Result<Client, Failure> {
    // The flags first; else podman's lookup order: $REGISTRY_AUTH_FILE (else
    // $XDG_RUNTIME_DIR/containers/auth.json), ~/.config/containers/auth.json, then Docker's
    // config with its credHelpers and credsStore. Asked only when the registry asks.
    let mut builder = Client::builder_for(reference)
        .credentials(flag_credentials(args)?)
        .credential_source(CredentialChain::from_environment(HelperSettings::default()));
    if args.insecure_http {
        builder = builder.scheme(Scheme::Http);
    }
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        builder = builder.ca_certificate_pem(pem);
    }
    if let Some(proxy) = proxy_setting(args) {
        builder = builder.proxy(proxy);
    }
    if report_retries {
        builder = builder.retry_notify(|error, delay| {
            eprintln!(
                "retrying in {:.1}s: {}",
                delay.as_secs_f64(),
                one_line(error)
            );
        });
    }
    builder.build().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "outer: {}", self.0)
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn proxy_credentials_are_not_in_debug_output() {
        let url: ProxyUrl = "http://user:hunter2@proxy.test:3128".parse().unwrap();
        let shown = format!("{url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("proxy.test:3128"), "{shown}");
    }

    #[test]
    fn causes_are_not_repeated() {
        let e = Outer(std::io::Error::other("inner\nproblem"));
        assert_eq!(one_line(&e), "outer: inner problem");
    }
}
