//! What the registry subcommands share: connection flags, building a client for a
//! reference, and one-line error messages.

use std::error::Error as StdError;
use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

use ocipull_client::{Client, Credentials, DockerConfig, Scheme};
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

/// The credentials: from the flags, else from the Docker config file for the registry.
fn credentials(args: &ConnectArgs, reference: &Reference) -> Result<Option<Credentials>, Failure> {
    if let Some(username) = &args.username {
        if std::io::stdin().is_terminal() {
            eprintln!("Password for {username} (then Enter, then Ctrl-D):");
        }
        let mut password = String::new();
        std::io::stdin()
            .read_to_string(&mut password)
            .map_err(|e| format!("reading the password from standard input: {e}"))?;
        let password = password.trim_end_matches(['\r', '\n']);
        return Ok(Some(Credentials::basic(username.clone(), password)));
    }
    match DockerConfig::load_default() {
        Ok(Some(config)) => Ok(config.credentials_for(reference.registry())),
        Ok(None) => Ok(None),
        Err(e) => {
            eprintln!("warning: ignoring the Docker config file: {}", one_line(&e));
            Ok(None)
        }
    }
}

/// A client for the reference's registry and repository, reporting retries on stderr when
/// `report_retries` (the pull command reports them through its own events instead).
pub fn client_for(
    args: &ConnectArgs,
    reference: &Reference,
    report_retries: bool,
) -> Result<Client, Failure> {
    let mut builder = Client::builder_for(reference).credentials(credentials(args, reference)?);
    if args.insecure_http {
        builder = builder.scheme(Scheme::Http);
    }
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        builder = builder.ca_certificate_pem(pem);
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
    fn causes_are_not_repeated() {
        let e = Outer(std::io::Error::other("inner\nproblem"));
        assert_eq!(one_line(&e), "outer: inner problem");
    }
}
