//! podman and buildah with private storage.
//!
//! Every instance has its own temporary directory holding the image store
//! (`--root`), the run root (`--runroot`), podman's `--tmpdir`, and empty or
//! permissive configuration: no registries to search, a signature policy
//! that accepts anything, an empty `containers.conf`. Storage uses the `vfs`
//! driver, which needs no mounts. Plain HTTP registries are reached with
//! `--tls-verify=false`; for HTTPS, [`Podman::pull`] takes a `--cert-dir`.
//!
//! [`Podman::unprivileged`] runs podman as another (non-root) user through
//! `runuser`, rootless, with everything owned by that user.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::command::{self, CommandError};

/// A private store and configuration shared by podman and buildah.
#[derive(Debug)]
struct Store {
    dir: TempDir,
    user: Option<String>,
}

impl Store {
    fn new(prefix: &str, user: Option<&str>) -> io::Result<Store> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let p = dir.path();
        for sub in ["root", "runroot", "tmp", "libpod", "config", "run"] {
            std::fs::create_dir(p.join(sub))?;
        }
        std::fs::write(
            p.join("registries.conf"),
            "unqualified-search-registries = []\n",
        )?;
        std::fs::write(
            p.join("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )?;
        std::fs::write(p.join("containers.conf"), "")?;
        // containers/storage wants a driver and both roots in its file even
        // when the command line names them.
        std::fs::write(
            p.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
                p.join("runroot").display(),
                p.join("root").display()
            ),
        )?;
        if let Some(user) = user {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
            command::run(Command::new("chown").arg("-R").arg(user).arg(p))
                .map_err(io::Error::other)?;
        }
        Ok(Store {
            dir,
            user: user.map(str::to_owned),
        })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `bin` with the private environment and the storage flags.
    fn command(&self, bin: &Path) -> Command {
        let p = self.path();
        let mut command = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", p)
            .env("TMPDIR", p.join("tmp"))
            .env("XDG_RUNTIME_DIR", p.join("run"))
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("CONTAINERS_CONF", p.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", p.join("storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", p.join("registries.conf"))
            .current_dir(p)
            .arg("--root")
            .arg(p.join("root"))
            .arg("--runroot")
            .arg(p.join("runroot"))
            .arg("--storage-driver")
            .arg("vfs");
        command
    }
}

/// podman with a private image store.
#[derive(Debug)]
pub struct Podman {
    bin: PathBuf,
    store: Store,
}

impl Podman {
    /// Rootful podman at `bin` (see [`crate::require`]).
    pub fn new(bin: impl Into<PathBuf>) -> io::Result<Podman> {
        Ok(Podman {
            bin: bin.into(),
            store: Store::new("ocipull-podman-", None)?,
        })
    }

    /// podman run as `user` (rootless), e.g. `ocipull-ci`, which must be
    /// able to read whatever it is asked to pull.
    pub fn unprivileged(bin: impl Into<PathBuf>, user: &str) -> io::Result<Podman> {
        Ok(Podman {
            bin: bin.into(),
            store: Store::new("ocipull-podman-", Some(user))?,
        })
    }

    /// A `podman` command with the private store and configuration; add the
    /// subcommand.
    pub fn command(&self) -> Command {
        let mut command = self.store.command(&self.bin);
        let p = self.store.path();
        command
            .arg("--tmpdir")
            .arg(p.join("libpod"))
            .arg("--cgroup-manager")
            .arg("cgroupfs")
            .arg("--events-backend")
            .arg("file");
        command
    }

    /// Runs `podman <args>`; an error carries the command line and output.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<Output, CommandError> {
        command::run(self.command().args(args))
    }

    /// `podman pull` of `image` (`HOST/NAME:TAG`, or a transport such as
    /// `oci:DIR:TAG`): `--tls-verify=false` when `cert_dir` is `None`,
    /// `--cert-dir` otherwise.
    pub fn pull(&self, image: &str, cert_dir: Option<&Path>) -> Result<Output, CommandError> {
        self.pull_with(image, cert_dir, &[])
    }

    /// [`Podman::pull`] with more flags before the image, e.g. `--creds NAME:PASSWORD`.
    pub fn pull_with(
        &self,
        image: &str,
        cert_dir: Option<&Path>,
        extra: &[&str],
    ) -> Result<Output, CommandError> {
        let policy = self.policy_arg();
        let mut args: Vec<OsString> = vec!["pull".into(), "--quiet".into(), policy];
        args.extend(extra.iter().map(OsString::from));
        if !image.starts_with("oci:") && !image.starts_with("oci-archive:") {
            match cert_dir {
                Some(dir) => {
                    let mut arg = OsString::from("--cert-dir=");
                    arg.push(dir);
                    args.push(arg);
                }
                None => args.push("--tls-verify=false".into()),
            }
        }
        args.push(image.into());
        self.run(&args)
    }

    /// The image's digest and `RepoDigests`, from `podman image inspect`.
    pub fn digests(&self, image: &str) -> Result<(String, Vec<String>), CommandError> {
        let output = self.run(&["image", "inspect", image])?;
        let parsed: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| CommandError {
                command: format!("podman image inspect {image}"),
                status: Some(output.status),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: format!("output is not JSON: {e}"),
            })?;
        let image = &parsed[0];
        let digest = image["Digest"].as_str().unwrap_or_default().to_owned();
        let repo_digests = image["RepoDigests"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok((digest, repo_digests))
    }

    /// `podman save --format <format> -o <dest> <image>`: `oci-dir` writes a
    /// layout directory, `oci-archive` a tar of one.
    pub fn save(&self, format: &str, dest: &Path, image: &str) -> Result<Output, CommandError> {
        let mut args: Vec<OsString> = vec!["save".into(), "--format".into(), format.into()];
        args.push("-o".into());
        args.push(dest.into());
        args.push(image.into());
        self.run(&args)
    }

    fn policy_arg(&self) -> OsString {
        let mut arg = OsString::from("--signature-policy=");
        arg.push(self.store.path().join("policy.json"));
        arg
    }
}

impl Drop for Podman {
    /// Rootless podman leaves a pause process holding its user namespace;
    /// it is ended by the PID podman recorded in its `--tmpdir`.
    fn drop(&mut self) {
        if self.store.user.is_none() {
            return;
        }
        let pid_file = self.store.path().join("libpod").join("pause.pid");
        let Ok(pid) = std::fs::read_to_string(pid_file) else {
            return;
        };
        let pid = pid.trim();
        if pid.parse::<u32>().is_ok_and(|pid| pid > 1) {
            let _ = Command::new("kill")
                .args(["-KILL", pid])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// buildah with a private image store.
#[derive(Debug)]
pub struct Buildah {
    bin: PathBuf,
    store: Store,
}

impl Buildah {
    /// Rootful buildah at `bin` (see [`crate::require`]).
    pub fn new(bin: impl Into<PathBuf>) -> io::Result<Buildah> {
        Ok(Buildah {
            bin: bin.into(),
            store: Store::new("ocipull-buildah-", None)?,
        })
    }

    /// A `buildah` command with the private store and configuration.
    pub fn command(&self) -> Command {
        self.store.command(&self.bin)
    }

    /// Runs `buildah <args>`, returning trimmed stdout.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<String, CommandError> {
        let output = command::run(self.command().args(args))?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Builds an image from scratch holding `files` (path in the image,
    /// contents), labelled `label=value`, and commits it to the OCI layout
    /// `dir` as `tag`. Needs no network. Returns the manifest digest (as
    /// `index.json` names it).
    pub fn commit_scratch_to_layout(
        &self,
        files: &[(&str, &[u8])],
        label: (&str, &str),
        dir: &Path,
        tag: &str,
    ) -> Result<String, CommandError> {
        let policy = {
            let mut arg = OsString::from("--signature-policy=");
            arg.push(self.store.path().join("policy.json"));
            arg
        };
        let container = self.run(&[OsString::from("from"), policy.clone(), "scratch".into()])?;
        let result = (|| {
            let staging = self.store.path().join("tmp").join("files");
            for (path, contents) in files {
                let local = staging.join(path.trim_start_matches('/'));
                std::fs::create_dir_all(local.parent().expect("a file path"))
                    .and_then(|()| std::fs::write(&local, contents))
                    .map_err(|e| CommandError {
                        command: format!("write {}", local.display()),
                        status: None,
                        stdout: String::new(),
                        stderr: e.to_string(),
                    })?;
                self.run(&[
                    OsString::from("copy"),
                    container.clone().into(),
                    local.into(),
                    (*path).into(),
                ])?;
            }
            self.run(&[
                "config",
                "--label",
                &format!("{}={}", label.0, label.1),
                &container,
            ])?;
            let mut dest = OsString::from("oci:");
            dest.push(dir);
            dest.push(format!(":{tag}"));
            self.run(&[
                OsString::from("commit"),
                policy.clone(),
                container.clone().into(),
                dest,
            ])?;
            // buildah 1.28 has no --digestfile: the digest is in index.json.
            layout_entry(dir, tag).map_err(|why| CommandError {
                command: format!("read {}/index.json", dir.display()),
                status: None,
                stdout: String::new(),
                stderr: why,
            })
        })();
        let _ = self.run(&["rm", &container]);
        result
    }
}

/// The digest `dir/index.json` names for `tag`.
fn layout_entry(dir: &Path, tag: &str) -> Result<String, String> {
    let bytes = std::fs::read(dir.join("index.json")).map_err(|e| e.to_string())?;
    let index: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .and_then(|m| m["digest"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("no entry for {tag}"))
}
