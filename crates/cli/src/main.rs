//! `ocipull`: pull images from OCI registries into image layouts, and serve layouts.
#![forbid(unsafe_code)]

mod blob;
mod catalog;
mod completions;
mod config;
mod connect;
mod digest;
mod inspect;
mod mirrors;
mod pull;
mod referrers;
mod serve;
mod size;
mod tags;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Pull images from OCI registries, and serve OCI image layouts.
#[derive(Debug, Parser)]
#[command(name = "ocipull", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pull an image or index into an OCI image layout directory.
    Pull(pull::Args),
    /// Print a manifest or index and its digest.
    Inspect(inspect::Args),
    /// List a repository's tags, one per line.
    Tags(tags::Args),
    /// Print the digest of a manifest or index (a HEAD request).
    Digest(digest::Args),
    /// Print the image configuration of an image (of --platform, for an index).
    Config(config::Args),
    /// Download one blob, verified, to stdout or a file.
    Blob(blob::Args),
    /// List the manifests that refer to a manifest (signatures, SBOMs, …).
    Referrers(referrers::Args),
    /// List a registry's repositories, one per line.
    Catalog(catalog::Args),
    /// Print a shell completion script.
    Completions(completions::Args),
    /// Serve OCI image layout directories over HTTP as a pull-only registry.
    Serve(serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ocipull: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Pull(args) => pull::run(args).await,
            Command::Inspect(args) => inspect::run(args).await,
            Command::Tags(args) => tags::run(args).await,
            Command::Digest(args) => digest::run(args).await,
            Command::Config(args) => config::run(args).await,
            Command::Blob(args) => blob::run(args).await,
            Command::Referrers(args) => referrers::run(args).await,
            Command::Catalog(args) => catalog::run(args).await,
            Command::Completions(args) => completions::run(args),
            Command::Serve(args) => serve::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            let mut line = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                line.push_str(": ");
                line.push_str(&s.to_string());
                source = s.source();
            }
            eprintln!("ocipull: {line}");
            ExitCode::FAILURE
        }
    }
}

/// What every subcommand returns.
type CmdResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
