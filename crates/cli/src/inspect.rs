//! `ocipull inspect` (filled by its issue).

/// Arguments of `ocipull inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ocipull inspect`.
pub async fn run(_args: Args) -> crate::CmdResult {
    Err("not implemented yet".into())
}
