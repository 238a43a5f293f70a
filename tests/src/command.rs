//! Running a peer program and turning a failure into an error that shows the
//! command line and everything it printed.

use std::process::{Command, ExitStatus, Output, Stdio};

/// A peer program that could not start or exited unsuccessfully.
///
/// # Security
///
/// The message includes the full command line, which may hold test
/// credentials (`--dest-creds`). The harness only ever passes throwaway ones.
#[derive(Debug)]
pub struct CommandError {
    /// The command line, space separated.
    pub command: String,
    /// The exit status, `None` when the program did not start.
    pub status: Option<ExitStatus>,
    /// Everything the program printed to stdout, lossily decoded.
    pub stdout: String,
    /// Everything the program printed to stderr (or why it did not start).
    pub stderr: String,
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "`{}` failed ({status})", self.command)?,
            None => write!(f, "`{}` did not start", self.command)?,
        }
        if !self.stderr.trim().is_empty() {
            write!(f, "\nstderr:\n{}", self.stderr.trim_end())?;
        }
        if !self.stdout.trim().is_empty() {
            write!(f, "\nstdout:\n{}", self.stdout.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for CommandError {}

/// The command line of `command`, for messages.
pub(crate) fn display(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` to completion with no stdin, capturing its output.
pub(crate) fn run(command: &mut Command) -> Result<Output, CommandError> {
    let line = display(command);
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| CommandError {
            command: line.clone(),
            status: None,
            stdout: String::new(),
            stderr: error.to_string(),
        })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(CommandError {
            command: line,
            status: Some(output.status),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}
