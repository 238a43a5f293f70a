//! `ocipull pull` (filled by its issue).

/// Arguments of `ocipull pull`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ocipull pull`.
pub async fn run(_args: Args) -> crate::CmdResult {
    Err("not implemented yet".into())
}
