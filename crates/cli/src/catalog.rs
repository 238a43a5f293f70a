//! `ocipull catalog REGISTRY`: the registry's repositories (distribution-spec "Listing
//! Repositories", `GET /v2/_catalog`, every page), one per line.

use std::io::Write as _;

use crate::connect::{ConnectArgs, client_for, fail, print_json};

/// A repository name for the client, which is bound to one: the catalog is registry-wide,
/// so it plays no part but its pull scope in a token request.
const PLACEHOLDER_REPOSITORY: &str = "catalog";

/// Arguments of `ocipull catalog`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The registry: `host[:port]`, e.g. `localhost:5000`.
    #[arg(value_name = "REGISTRY")]
    registry: String,
    /// Print `{"repositories": [...]}` instead of one name per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs `ocipull catalog`.
pub async fn run(args: Args) -> crate::CmdResult {
    let registry = args.registry.trim_end_matches('/');
    let reference = format!("{registry}/{PLACEHOLDER_REPOSITORY}")
        .parse::<ocipull_spec::Reference>()
        .ok()
        .filter(|r| r.registry() == registry)
        .ok_or_else(|| {
            format!(
                "{:?} is not a registry; give host[:port], e.g. localhost:5000",
                args.registry
            )
        })?;
    let client = client_for(&args.connect, &reference, true)?;
    let repositories = client.catalog().await.map_err(|e| {
        if e.status().map(|s| s.as_u16()) == Some(404) {
            format!("{registry}: the registry offers no catalog (404 for /v2/_catalog); list one repository's tags with `ocipull tags` instead").into()
        } else {
            fail(e)
        }
    })?;
    if args.json {
        let names: Vec<String> = repositories.iter().map(ToString::to_string).collect();
        return print_json(&serde_json::json!({ "repositories": names }));
    }
    let mut out = std::io::stdout().lock();
    for r in repositories {
        writeln!(out, "{r}")?;
    }
    Ok(())
}
