//! `ocipull tags` (filled by its issue).

/// Arguments of `ocipull tags`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ocipull tags`.
pub async fn run(_args: Args) -> crate::CmdResult {
    Err("not implemented yet".into())
}
