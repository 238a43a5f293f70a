//! umoci as a reader of OCI image layouts, optionally as an unprivileged
//! user (see [`crate::UNPRIVILEGED_USER`]) so that file modes matter.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::command::{self, CommandError};

/// The umoci at a path, run as root or as another user.
#[derive(Debug, Clone)]
pub struct Umoci {
    bin: PathBuf,
    user: Option<String>,
}

impl Umoci {
    /// umoci at `bin` (see [`crate::require`]), run as the current user.
    pub fn new(bin: impl Into<PathBuf>) -> Umoci {
        Umoci {
            bin: bin.into(),
            user: None,
        }
    }

    /// umoci run as `user` through `runuser`.
    pub fn as_user(bin: impl Into<PathBuf>, user: &str) -> Umoci {
        Umoci {
            bin: bin.into(),
            user: Some(user.to_owned()),
        }
    }

    /// A `umoci` command with an empty environment; add the subcommand.
    pub fn command(&self) -> Command {
        let mut command = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        command
            .env_clear()
            .env("PATH", crate::tools::SBIN_PATH)
            .env("HOME", "/nonexistent");
        command
    }

    /// Runs `umoci <args>`; an error carries the command line and output.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<Output, CommandError> {
        command::run(self.command().args(args))
    }

    /// `umoci ls --layout DIR`: the tags, one per line.
    pub fn ls(&self, layout: &Path) -> Result<Vec<String>, CommandError> {
        let output = self.run(&["ls".as_ref(), "--layout".as_ref(), layout.as_os_str()])?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// `umoci stat --json --image DIR:TAG`, parsed (the image's history).
    pub fn stat(&self, layout: &Path, tag: &str) -> Result<serde_json::Value, CommandError> {
        let image = format!("{}:{tag}", layout.display());
        let output = self.run(&["stat", "--json", "--image", &image])?;
        serde_json::from_slice(&output.stdout).map_err(|e| CommandError {
            command: format!("umoci stat --json --image {image}"),
            status: Some(output.status),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: format!("output is not JSON: {e}"),
        })
    }

    /// `umoci unpack --rootless --image DIR:TAG BUNDLE`: the runtime bundle
    /// (`config.json`, `rootfs/`) of the image. `bundle` must not exist and
    /// its parent must be writable by the user umoci runs as.
    pub fn unpack(&self, layout: &Path, tag: &str, bundle: &Path) -> Result<Output, CommandError> {
        let image = format!("{}:{tag}", layout.display());
        self.run(&[
            "unpack".as_ref(),
            "--rootless".as_ref(),
            "--image".as_ref(),
            image.as_ref(),
            bundle.as_os_str(),
        ])
    }
}
