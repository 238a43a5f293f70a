//! `ocipull inspect REFERENCE`: a manifest or index, and its digest.

use std::io::Write as _;

use crate::connect::{ConnectArgs, client_for, fail_for, parse_reference, print_json};

/// Arguments of `ocipull inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `[registry/]repository[:tag][@digest]`.
    #[arg(value_name = "REFERENCE")]
    reference: String,
    /// Print only the manifest's bytes exactly as the registry sent them.
    #[arg(long, conflicts_with = "json")]
    raw: bool,
    /// Print one line of JSON: `{"reference", "digest", "mediaType", "size", "manifest"}`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs `ocipull inspect`.
pub async fn run(args: Args) -> crate::CmdResult {
    let reference = parse_reference(&args.reference)?;
    let client = client_for(&args.connect, &reference, true)?;
    // The reference's tag checked by its digest, or `latest` when it names neither.
    let manifest = client
        .read(&reference)
        .await
        .map_err(|e| fail_for(&reference.to_string(), e))?;
    let mut out = std::io::stdout().lock();
    if args.raw {
        out.write_all(manifest.bytes())?;
        return Ok(());
    }
    // Pretty-printed for reading; the digest is of the bytes as received (see --raw).
    let value: serde_json::Value = serde_json::from_slice(manifest.bytes())?;
    if args.json {
        drop(out);
        return print_json(&serde_json::json!({
            "reference": reference.to_string(),
            "digest": manifest.digest().to_string(),
            "mediaType": manifest.media_type(),
            "size": manifest.bytes().len(),
            "manifest": value,
        }));
    }
    writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    writeln!(out, "Media type: {}", manifest.media_type())?;
    writeln!(out, "Digest: {}", manifest.digest())?;
    Ok(())
}
