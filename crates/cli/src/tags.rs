//! `ocipull tags REFERENCE`: the repository's tags, one per line.

use std::io::Write as _;

use crate::connect::{ConnectArgs, client_for, fail_for, parse_reference, print_json};

/// Arguments of `ocipull tags`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository, as an image reference (a tag or digest in it is ignored).
    #[arg(value_name = "REFERENCE")]
    reference: String,
    /// Print `{"repository": …, "tags": [...]}` instead of one tag per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs `ocipull tags`.
pub async fn run(args: Args) -> crate::CmdResult {
    let reference = parse_reference(&args.reference)?;
    let client = client_for(&args.connect, &reference, true)?;
    let what = format!("{}/{}", reference.registry(), reference.repository());
    let tags = client.tags().await.map_err(|e| fail_for(&what, e))?;
    if args.json {
        let names: Vec<String> = tags.iter().map(ToString::to_string).collect();
        return print_json(&serde_json::json!({ "repository": what, "tags": names }));
    }
    let mut out = std::io::stdout().lock();
    for tag in tags {
        writeln!(out, "{tag}")?;
    }
    Ok(())
}
