//! Docker credential helpers: `docker-credential-<name> get` (the docker-credential-helpers
//! protocol).
//!
//! The protocol: the program is run with the single argument `get`, the server URL on
//! standard input, and prints `{"ServerURL": …, "Username": …, "Secret": …}` on standard
//! output. When it has nothing for the server it exits non-zero printing
//! `credentials not found in native keychain`. A `Username` of `<token>` means `Secret` is an
//! identity token (an OAuth2 refresh token), not a password.
//!
//! # Security
//!
//! Only a program named `docker-credential-<name>` found in a directory of the search path
//! is run, with no shell; a name holding `/` is refused. It runs at most
//! [`DEFAULT_HELPER_TIMEOUT`] (then it is killed) and at most
//! [`DEFAULT_HELPER_OUTPUT_LIMIT`] bytes of its output are read; its standard error is
//! discarded. Its output is never quoted in an error or a log.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::future::BoxFuture;
use ocipull_spec::Repository;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::error::CredentialError;
use super::source::CredentialSource;
use crate::Credentials;

/// How long a helper may run before it is killed: keychains answer in milliseconds, and a
/// helper that waits for a passphrase would otherwise hang the pull.
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(10);

/// The most a helper may print: its answer is a few hundred bytes of JSON.
pub const DEFAULT_HELPER_OUTPUT_LIMIT: usize = 64 * 1024;

/// The program name prefix of the protocol.
const PREFIX: &str = "docker-credential-";

/// The `Username` that marks `Secret` as an identity token.
pub(crate) const TOKEN_USERNAME: &str = "<token>";

/// The server URL Docker stores Docker Hub's credentials under.
const DOCKER_HUB_SERVER_URL: &str = "https://index.docker.io/v1/";

/// How helpers are run; shared by every helper a configuration names.
#[derive(Clone, Debug)]
pub struct HelperSettings {
    search_path: Option<Vec<PathBuf>>,
    timeout: Duration,
    output_limit: usize,
    env: Vec<(OsString, OsString)>,
}

impl Default for HelperSettings {
    fn default() -> Self {
        HelperSettings {
            search_path: None,
            timeout: DEFAULT_HELPER_TIMEOUT,
            output_limit: DEFAULT_HELPER_OUTPUT_LIMIT,
            env: Vec::new(),
        }
    }
}

impl HelperSettings {
    /// The directories searched for `docker-credential-<name>`, in order. Default is the
    /// directories of `PATH`.
    pub fn search_path(mut self, dirs: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        self.search_path = Some(dirs.into_iter().map(Into::into).collect());
        self
    }

    /// How long a helper may run. Default is [`DEFAULT_HELPER_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most bytes a helper may print. Default is [`DEFAULT_HELPER_OUTPUT_LIMIT`].
    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.output_limit = bytes;
        self
    }

    /// Sets an environment variable for the helpers (e.g. `PASSWORD_STORE_DIR` for
    /// `docker-credential-pass`). Default is the environment of this process, unchanged.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    fn dirs(&self) -> Vec<PathBuf> {
        match &self.search_path {
            Some(dirs) => dirs.clone(),
            None => std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
        }
    }
}

/// One credential helper, `docker-credential-<name>`, as `credsStore` or `credHelpers`
/// name it (docker-credential-helpers protocol, the `get` command).
#[derive(Clone, Debug)]
pub struct CredentialHelper {
    name: String,
    settings: HelperSettings,
}

#[derive(serde::Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl CredentialHelper {
    /// The helper `docker-credential-<name>` (`name` as in `"credsStore": "pass"`), run with
    /// the default [`HelperSettings`].
    pub fn new(name: impl Into<String>) -> CredentialHelper {
        CredentialHelper {
            name: name.into(),
            settings: HelperSettings::default(),
        }
    }

    /// How the helper is run.
    pub fn settings(mut self, settings: HelperSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The program name, `docker-credential-<name>`.
    pub fn program(&self) -> String {
        format!("{PREFIX}{}", self.name)
    }

    /// The server URL asked for `registry`: Docker Hub's legacy
    /// `https://index.docker.io/v1/` for any Docker Hub name (where `docker login` stores
    /// it), else the registry `host[:port]` itself.
    pub fn server_url(registry: &str) -> String {
        let host = registry.to_ascii_lowercase();
        if super::docker_config::is_docker_hub(&host) {
            DOCKER_HUB_SERVER_URL.to_owned()
        } else {
            registry.to_owned()
        }
    }

    /// Runs `docker-credential-<name> get` for `registry`: `Ok(None)` when the helper has no
    /// credentials for it.
    pub async fn get(&self, registry: &str) -> Result<Option<Credentials>, CredentialError> {
        let program = self.locate(registry)?;
        let helper = self.program();
        let io = |source| CredentialError::HelperIo {
            helper: helper.clone(),
            registry: registry.to_owned(),
            source,
        };
        let mut child = tokio::process::Command::new(&program)
            .arg("get")
            .envs(self.settings.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(io)?;
        let mut stdin = child.stdin.take();
        let mut stdout = child.stdout.take();
        let limit = self.settings.output_limit;
        let run = async {
            if let Some(mut stdin) = stdin.take() {
                // A helper may exit without reading: a closed pipe is its answer, not ours.
                let _ = stdin.write_all(Self::server_url(registry).as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
            let mut out = Vec::new();
            if let Some(stdout) = stdout.as_mut() {
                let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
                stdout.take(bound).read_to_end(&mut out).await?;
            }
            if out.len() > limit {
                return Ok((None, out));
            }
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((Some(status), out))
        };
        let (status, out) = match tokio::time::timeout(self.settings.timeout, run).await {
            Err(_) => {
                return Err(CredentialError::HelperTimeout {
                    helper,
                    registry: registry.to_owned(),
                    timeout: self.settings.timeout,
                });
            }
            Ok(result) => result.map_err(io)?,
        };
        let Some(status) = status else {
            return Err(CredentialError::HelperOutputTooLarge {
                helper,
                registry: registry.to_owned(),
                limit,
            });
        };
        if !status.success() {
            if contains(&out, b"credentials not found") {
                return Ok(None);
            }
            return Err(CredentialError::HelperFailed {
                helper,
                registry: registry.to_owned(),
                status: status.to_string(),
            });
        }
        self.parse_output(registry, &out)
    }

    /// Parses what `get` printed on success: [`Credentials::basic`] from `Username` and
    /// `Secret`, [`Credentials::identity_token`] when `Username` is `<token>`, `None` when
    /// `Secret` is empty.
    pub fn parse_output(
        &self,
        registry: &str,
        output: &[u8],
    ) -> Result<Option<Credentials>, CredentialError> {
        let fail = |reason: String| CredentialError::HelperOutput {
            helper: self.program(),
            registry: registry.to_owned(),
            reason,
        };
        if output.trim_ascii_start().first() != Some(&b'{') {
            return Err(fail("not a JSON object".into()));
        }
        // serde_json messages can quote values; report only where the JSON breaks.
        let answer: Answer = serde_json::from_slice(output).map_err(|e| {
            fail(format!(
                "not JSON with Username and Secret ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if answer.secret.is_empty() {
            return Ok(None);
        }
        if answer.username == TOKEN_USERNAME {
            return Ok(Some(Credentials::identity_token(answer.secret)));
        }
        Ok(Some(Credentials::basic(answer.username, answer.secret)))
    }

    fn locate(&self, registry: &str) -> Result<PathBuf, CredentialError> {
        if self.name.is_empty() || self.name.contains('/') || self.name.contains('\0') {
            return Err(CredentialError::InvalidHelperName {
                name: self.name.clone(),
                registry: registry.to_owned(),
            });
        }
        let program = self.program();
        let dirs = self.settings.dirs();
        dirs.iter()
            .map(|dir| dir.join(&program))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| CredentialError::HelperNotFound {
                helper: program.clone(),
                registry: registry.to_owned(),
                searched: std::env::join_paths(&dirs)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            })
    }
}

impl CredentialSource for CredentialHelper {
    fn credentials<'a>(
        &'a self,
        registry: &'a str,
        _repository: &'a Repository,
    ) -> BoxFuture<'a, Result<Option<Credentials>, CredentialError>> {
        Box::pin(self.get(registry))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Writes `docker-credential-<name>` with `script` as its body into `dir`.
    fn script(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(format!("{PREFIX}{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn helper(dir: &Path, name: &str) -> CredentialHelper {
        CredentialHelper::new(name).settings(
            HelperSettings::default()
                .search_path([dir])
                .timeout(Duration::from_secs(5)),
        )
    }

    #[tokio::test]
    async fn the_protocol_get() {
        let dir = tempfile::tempdir().unwrap();
        // Answers for the server URL read from stdin, as real helpers do.
        script(
            dir.path(),
            "good",
            r#"read url
case "$1:$url" in
  get:registry.example) echo '{"ServerURL":"registry.example","Username":"bob","Secret":"s3cret-pw"}' ;;
  get:https://index.docker.io/v1/) echo '{"ServerURL":"x","Username":"<token>","Secret":"id-token-secret"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac"#,
        );
        let h = helper(dir.path(), "good");
        assert_eq!(
            h.get("registry.example").await.unwrap(),
            Some(Credentials::basic("bob", "s3cret-pw"))
        );
        assert_eq!(
            h.get("registry-1.docker.io").await.unwrap(),
            Some(Credentials::identity_token("id-token-secret"))
        );
        assert_eq!(h.get("other.example").await.unwrap(), None);
        assert!(!format!("{h:?}").contains("secret"));
    }

    #[tokio::test]
    async fn failures_are_typed_and_quote_no_output() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "fails", "echo 'leaked-secret boom'; exit 3");
        script(
            dir.path(),
            "garbage",
            "echo '{\"Username\": 7, \"Secret\": \"leaked-secret\"'",
        );
        script(dir.path(), "huge", "yes leaked-secret | head -c 200000");
        script(dir.path(), "hangs", "exec sleep 30");
        let mut short = helper(dir.path(), "hangs");
        short.settings = short.settings.timeout(Duration::from_millis(200));
        let cases = [
            (
                helper(dir.path(), "fails").get("r.example").await,
                "HelperFailed",
            ),
            (
                helper(dir.path(), "garbage").get("r.example").await,
                "HelperOutput",
            ),
            (
                helper(dir.path(), "huge").get("r.example").await,
                "HelperOutputTooLarge",
            ),
            (short.get("r.example").await, "HelperTimeout"),
            (
                helper(dir.path(), "absent").get("r.example").await,
                "HelperNotFound",
            ),
            (
                helper(dir.path(), "../fails").get("r.example").await,
                "InvalidHelperName",
            ),
        ];
        for (result, variant) in cases {
            let err = result.unwrap_err();
            let debug = format!("{err:?}");
            let shown = err.to_string();
            assert!(debug.starts_with(variant), "{variant}: {debug}");
            assert!(shown.contains("r.example"), "{shown}");
            assert!(
                shown.contains("docker-credential-") || variant == "InvalidHelperName",
                "{shown}"
            );
            assert!(
                !shown.contains("leaked") && !debug.contains("leaked"),
                "{debug}"
            );
        }
    }

    #[test]
    fn output_parsing() {
        let h = CredentialHelper::new("x");
        assert_eq!(
            h.parse_output("r", br#"{"ServerURL":"r","Username":"u","Secret":""}"#)
                .unwrap(),
            None
        );
        for bad in [&b""[..], b"null", b"[]", b"{\"Secret\":1}", b"\xff"] {
            assert!(h.parse_output("r", bad).is_err());
        }
    }
}
