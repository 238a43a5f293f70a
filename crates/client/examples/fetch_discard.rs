//! Fetch + verify into a discarding sink: the library-level program that
//! `cargo xtask bench` measures against the `oci-client` crate doing the same.
//!
//! ```text
//! fetch_discard [--insecure-http] [--jobs N] REGISTRY/REPOSITORY:TAG
//! fetch_discard [--insecure-http] --manifests FILE REGISTRY/REPOSITORY
//! ```
//!
//! The first form reads the image manifest, then streams every layer through
//! [`Client::blob`] (which checks size and digest as the bytes arrive), `--jobs`
//! at a time, keeping nothing; it prints `bytes=<layer bytes received>`.
//! The second form reads each manifest whose digest is a line of FILE, one after
//! the other through one client, and prints `manifests=<count>`.

use std::process::ExitCode;

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use ocipull_client::{Client, DEFAULT_JOBS, Scheme};
use ocipull_spec::{Digest, Reference};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fetch_discard: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result {
    let mut scheme = Scheme::Https;
    let mut jobs = DEFAULT_JOBS;
    let mut manifests = None;
    let mut reference = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--insecure-http" => scheme = Scheme::Http,
            "--jobs" => jobs = args.next().ok_or("--jobs needs a number")?.parse()?,
            "--manifests" => manifests = Some(args.next().ok_or("--manifests needs a file")?),
            _ if reference.is_none() => reference = Some(arg.parse::<Reference>()?),
            _ => return Err(format!("unexpected argument {arg:?}").into()),
        }
    }
    let reference = reference.ok_or("no reference given")?;
    let client = Client::builder_for(&reference).scheme(scheme).build()?;
    match manifests {
        Some(file) => read_all(&client, &file).await,
        None => fetch_layers(&client, &reference, jobs).await,
    }
}

async fn fetch_layers(client: &Client, reference: &Reference, jobs: usize) -> Result {
    let manifest = client.read(reference).await?;
    let image = manifest
        .as_image()
        .ok_or("the reference names an index, not an image")?;
    let bytes = stream::iter(&image.layers)
        .map(|layer| async move {
            let mut blob = client.blob(layer).await?;
            let mut bytes = 0;
            while let Some(chunk) = blob.try_next().await? {
                bytes += chunk.len() as u64;
            }
            Ok::<u64, ocipull_client::Error>(bytes)
        })
        .buffer_unordered(jobs)
        .try_fold(0, |total, bytes| async move { Ok(total + bytes) })
        .await?;
    println!("bytes={bytes}");
    Ok(())
}

async fn read_all(client: &Client, file: &str) -> Result {
    let digests = tokio::fs::read_to_string(file).await?;
    let mut count = 0;
    for line in digests.lines().filter(|line| !line.is_empty()) {
        let digest: Digest = line.parse()?;
        client.read(&digest).await?;
        count += 1;
    }
    println!("manifests={count}");
    Ok(())
}
