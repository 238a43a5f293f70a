//! `ocipull serve` (filled by its issue).

/// Arguments of `ocipull serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ocipull serve`.
pub async fn run(_args: Args) -> crate::CmdResult {
    Err("not implemented yet".into())
}
