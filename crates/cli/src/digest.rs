//! `ocipull digest REFERENCE`: the digest of a manifest, from a `HEAD` request
//! (distribution-spec "Pulling manifests"; the `Docker-Content-Digest` header).

use crate::connect::{ConnectArgs, client_for, fail_for, parse_reference};

/// Arguments of `ocipull digest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `[registry/]repository[:tag][@digest]`.
    #[arg(value_name = "REFERENCE")]
    reference: String,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs `ocipull digest`.
pub async fn run(args: Args) -> crate::CmdResult {
    let reference = parse_reference(&args.reference)?;
    let client = client_for(&args.connect, &reference, true)?;
    let descriptor = client
        .head(&reference)
        .await
        .map_err(|e| fail_for(&reference.to_string(), e))?;
    println!("{}", descriptor.digest);
    Ok(())
}
