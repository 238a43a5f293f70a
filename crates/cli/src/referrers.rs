//! `ocipull referrers REFERENCE`: the manifests whose `subject` is the referenced manifest
//! (distribution-spec "Listing Referrers", with the "Referrers Tag Schema" fallback).

use std::io::Write as _;

use crate::connect::{ConnectArgs, client_for, fail_for, parse_reference, print_json};

/// Arguments of `ocipull referrers`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The subject: `[registry/]repository[:tag][@digest]` (a tag is resolved to its
    /// digest first).
    #[arg(value_name = "REFERENCE")]
    reference: String,
    /// Only referrers of this artifact type.
    #[arg(long, value_name = "TYPE")]
    artifact_type: Option<String>,
    /// Print the referrers index as JSON instead of one line per referrer.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs `ocipull referrers`.
pub async fn run(args: Args) -> crate::CmdResult {
    let reference = parse_reference(&args.reference)?;
    let client = client_for(&args.connect, &reference, true)?;
    let what = reference.to_string();
    let digest = match reference.digest() {
        Some(d) => d.clone(),
        None => {
            client
                .head(&reference)
                .await
                .map_err(|e| fail_for(&what, e))?
                .digest
        }
    };
    let index = client
        .referrers(&digest, args.artifact_type.as_deref())
        .await
        .map_err(|e| fail_for(&format!("{}@{digest}", reference.repository()), e))?;
    if args.json {
        return print_json(&serde_json::to_value(&index)?);
    }
    let mut out = std::io::stdout().lock();
    for d in &index.manifests {
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            d.digest,
            d.artifact_type.as_deref().unwrap_or("-"),
            d.media_type,
            d.size
        )?;
    }
    Ok(())
}
