//! `cargo xtask demo`: an end-to-end demonstration of a pull.
//!
//! Runs the `demo` example of the `ocipull-tests` package (the one package that depends on
//! both the client and the server, so xtask itself stays std-only): it builds a sample
//! image index in memory, serves it from `ocipull-server` on a loopback port with token
//! auth, CDN redirects and two injected faults, pulls it with `ocipull-client` into
//! `target/demo/layout`, verifies the layout and prints what happened. Needs nothing but
//! cargo.

use std::path::{Path, PathBuf};

use crate::cmd;

/// Where the demo writes its layout, relative to the workspace root.
const LAYOUT_DIR: &str = "target/demo/layout";

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Runs the demo. Extra arguments are refused rather than ignored.
pub fn run(args: &[String]) -> crate::Result {
    if let Some(extra) = args.first() {
        return Err(format!("demo takes no arguments, got `{extra}`").into());
    }
    let root = workspace_root();
    let layout = root.join(LAYOUT_DIR);
    let mut command = cmd::cargo();
    command
        .current_dir(&root)
        .args([
            "run",
            "--quiet",
            "--package",
            "ocipull-tests",
            "--example",
            "demo",
            "--",
        ])
        .arg(&layout);
    cmd::run(command)?;
    println!("\nThe pulled layout is in {}.", layout.display());
    Ok(())
}
