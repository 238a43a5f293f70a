//! `ocipull tags REFERENCE`: the repository's tags, one per line.

use std::io::Write as _;

use crate::connect::{ConnectArgs, client_for, fail, parse_reference};

/// Arguments of `ocipull tags`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository, as an image reference (a tag or digest in it is ignored).
    #[arg(value_name = "REFERENCE")]
    reference: String,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs `ocipull tags`.
pub async fn run(args: Args) -> crate::CmdResult {
    let reference = parse_reference(&args.reference)?;
    let client = client_for(&args.connect, &reference, true)?;
    let tags = client.tags().await.map_err(fail)?;
    let mut out = std::io::stdout().lock();
    for tag in tags {
        writeln!(out, "{tag}")?;
    }
    Ok(())
}
