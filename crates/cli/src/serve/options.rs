//! Turning `ocipull serve`'s flags into server settings: users and auth, TLS, rule files,
//! and the ready file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ocipull_server::{Auth, Rules, Tls, TokenAuth, Users};

use super::ServeError;

/// `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AuthMode {
    /// HTTP Basic on every request (RFC 7617).
    Basic,
    /// Docker-style bearer tokens from the registry's own `/token` endpoint.
    Token,
}

/// One entry of a `--users FILE`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserEntry {
    name: String,
    password: String,
    /// The repositories this user may pull; every one when absent.
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

/// The users of `--user NAME:PASSWORD` and `--users FILE`.
pub(crate) fn users(
    flags: &[String],
    file: Option<&Path>,
    anonymous: bool,
) -> Result<Users, ServeError> {
    let mut users = Users::new().anonymous(anonymous);
    for f in flags {
        let Some((name, password)) = f.split_once(':') else {
            return Err(ServeError::Option(format!(
                "--user {f:?}: expected NAME:PASSWORD"
            )));
        };
        users = users.user(name, password);
    }
    if let Some(path) = file {
        let text = read(path, "--users")?;
        let entries: Vec<UserEntry> = super::control::parse(&text)
            .map_err(|e| ServeError::Option(format!("--users {}: {e}", path.display())))?;
        for e in entries {
            users = match e.repositories {
                None => users.user(e.name, e.password),
                Some(r) => users.user_for(e.name, e.password, r),
            };
        }
    }
    Ok(users)
}

/// The auth of `--auth`, or `None`.
pub(crate) fn auth(
    mode: Option<AuthMode>,
    users: Users,
    token_lifetime: Option<u64>,
) -> Option<Auth> {
    match mode? {
        AuthMode::Basic => Some(Auth::BasicUsers(users)),
        AuthMode::Token => {
            let mut t = TokenAuth::anonymous().users(users);
            if let Some(secs) = token_lifetime {
                t = t.expiry(Duration::from_secs(secs));
            }
            Some(Auth::Token(t))
        }
    }
}

/// The rules of `--faults FILE`.
pub(crate) fn rules(path: &Path) -> Result<Rules, ServeError> {
    let text = read(path, "--faults")?;
    Rules::from_json(&text)
        .map_err(|e| ServeError::Option(format!("--faults {}: {e}", path.display())))
}

/// The TLS of `--tls` or `--tls-cert`/`--tls-key`.
pub(crate) fn tls(
    generate: bool,
    cert: Option<&Path>,
    key: Option<&Path>,
    listen: std::net::SocketAddr,
) -> Result<Option<Tls>, ServeError> {
    let bad = |e: ocipull_server::TlsError| ServeError::Option(format!("TLS: {e}"));
    match (generate, cert, key) {
        (false, None, None) => Ok(None),
        (true, None, None) => Tls::generate([listen.ip().to_string()])
            .map(Some)
            .map_err(bad),
        (false, Some(c), Some(k)) => {
            let (c_pem, k_pem) = (read(c, "--tls-cert")?, read(k, "--tls-key")?);
            Tls::from_pem(&c_pem, &k_pem).map(Some).map_err(|e| {
                ServeError::Option(format!(
                    "--tls-cert {} --tls-key {}: {e}",
                    c.display(),
                    k.display()
                ))
            })
        }
        (true, _, _) => Err(ServeError::Option(
            "--tls generates a certificate; it does not go with --tls-cert/--tls-key".into(),
        )),
        _ => Err(ServeError::Option(
            "--tls-cert and --tls-key go together".into(),
        )),
    }
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|e| ServeError::Option(format!("{flag} {}: {e}", path.display())))
}

/// Writes `text` to `path` atomically: a temporary file next to it, renamed over it, so a
/// script polling for the file never reads half of it.
pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = PathBuf::from(path);
    let name = format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    );
    tmp.set_file_name(name);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users.json");
        std::fs::write(
            &file,
            r#"[{"name":"bob","password":"b","repositories":["x"]}]"#,
        )
        .unwrap();
        assert!(users(&["alice:a:b".into()], Some(&file), false).is_ok());
        let e = users(&["alice".into()], None, false).err().unwrap();
        assert!(e.to_string().contains("NAME:PASSWORD"), "{e}");
        std::fs::write(&file, r#"[{"name":"bob"}]"#).unwrap();
        let e = users(&[], Some(&file), false).err().unwrap();
        assert!(e.to_string().contains("password"), "{e}");
    }

    #[test]
    fn ready_files_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ready");
        write_atomically(&f, "a\n").unwrap();
        write_atomically(&f, "127.0.0.1:1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "127.0.0.1:1\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn tls_flags_go_together() {
        let a = "127.0.0.1:0".parse().unwrap();
        assert!(tls(false, None, None, a).unwrap().is_none());
        assert!(tls(true, None, None, a).unwrap().is_some());
        assert!(tls(false, Some(Path::new("c")), None, a).is_err());
        assert!(tls(true, Some(Path::new("c")), Some(Path::new("k")), a).is_err());
    }
}
