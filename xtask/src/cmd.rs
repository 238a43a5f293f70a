//! Running external commands: print the command line, run it, fail loudly.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// `cargo` as invoked by the user (`cargo xtask` sets `CARGO`), so nested runs
/// use the same toolchain.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The command line as a shell would show it, for logs and error messages.
/// A full path to `cargo` is shortened to `cargo`.
pub fn display(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let mut line = if program.file_stem() == Some(OsStr::new("cargo")) {
        String::from("cargo")
    } else {
        program.display().to_string()
    };
    for arg in command.get_args() {
        let _ = write!(line, " {}", arg.to_string_lossy());
    }
    line
}

/// Prints `$ <command line>`, runs the command with inherited stdio and
/// returns an error naming the command unless it exits successfully.
pub fn run(mut command: Command) -> crate::Result {
    let line = display(&command);
    println!("$ {line}");
    let status = command
        .status()
        .map_err(|error| format!("`{line}` could not start: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{line}` failed ({status})").into())
    }
}

/// Like [`run`], but passes each stdout line to `on_line` after echoing it.
pub fn run_observed(mut command: Command, mut on_line: impl FnMut(&str)) -> crate::Result {
    let line = display(&command);
    println!("$ {line}");
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("`{line}` could not start: {error}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    for output in BufReader::new(stdout).lines() {
        let output = output.map_err(|error| format!("`{line}`: reading output: {error}"))?;
        println!("{output}");
        on_line(&output);
    }
    let status = child
        .wait()
        .map_err(|error| format!("`{line}`: waiting: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{line}` failed ({status})").into())
    }
}
