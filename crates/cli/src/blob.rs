//! `ocipull blob REFERENCE@DIGEST [-o FILE]`: one blob, verified against its digest
//! (distribution-spec "Pulling blobs"), to stdout or a file.
//!
//! To stdout, bytes go out as they arrive and a digest mismatch ends the command with an
//! error (exit 1) after them. With `-o`, nothing appears at FILE until the whole blob is
//! verified: it goes to a temporary file beside FILE, is flushed to disk and renamed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt as _;

use crate::connect::{ConnectArgs, client_for, fail_for, parse_reference};

/// Arguments of `ocipull blob`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The blob: `[registry/]repository@sha256:…` (a tag in it is ignored).
    #[arg(value_name = "REFERENCE@DIGEST")]
    reference: String,
    /// Write the blob to FILE (atomically, once verified) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs `ocipull blob`.
pub async fn run(args: Args) -> crate::CmdResult {
    let reference = parse_reference(&args.reference)?;
    let Some(digest) = reference.digest().cloned() else {
        return Err(format!(
            "{}: no digest; name the blob as {}@sha256:…",
            args.reference,
            reference.repository()
        )
        .into());
    };
    let what = format!(
        "{}/{}@{digest}",
        reference.registry(),
        reference.repository()
    );
    let client = client_for(&args.connect, &reference, true)?;
    let descriptor = client
        .blob_head(&digest)
        .await
        .map_err(|e| fail_for(&what, e))?;
    let stream = client
        .blob(&descriptor)
        .await
        .map_err(|e| fail_for(&what, e))?;
    let mut reader = stream.into_reader();
    let mut buf = vec![0u8; 256 * 1024];
    let read_err = |e: std::io::Error| format!("{what}: {}", crate::connect::one_line(&e));
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            loop {
                let n = reader.read(&mut buf).await.map_err(read_err)?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n])?;
            }
            out.flush()?;
        }
        Some(path) => {
            let mut tmp = temp_beside(path)?;
            let write_err = |e: std::io::Error| format!("{}: {e}", tmp_name(path));
            loop {
                let n = reader.read(&mut buf).await.map_err(read_err)?;
                if n == 0 {
                    break;
                }
                tmp.write_all(&buf[..n]).map_err(write_err)?;
            }
            tmp.as_file().sync_all().map_err(write_err)?;
            tmp.persist(path)
                .map_err(|e| format!("{}: {}", path.display(), e.error))?;
            eprintln!(
                "{what}: {} bytes written to {}",
                descriptor.size,
                path.display()
            );
        }
    }
    Ok(())
}

fn tmp_name(path: &Path) -> String {
    format!("temporary file for {}", path.display())
}

/// A temporary file in FILE's directory, with the mode a new file gets (0666 less the
/// umask; tempfile's own 0600 would survive the rename).
fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, crate::connect::Failure> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ocipull-blob-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
        .tempfile_in(&dir)
        .map_err(|e| format!("{}: cannot create a temporary file: {e}", dir.display()).into())
}
